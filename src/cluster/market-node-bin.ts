/**
 * Where the market-node bin of this package is, for the launchers that start nodes
 * (`npm run cluster`, LocalCluster). Starting a node through the bin rather than through tsx
 * runs the compiled dist/ when it is up to date, so a node starts in plain Node, and the
 * source through tsx otherwise (bin/run-entry.js): the same rule as `npx market-node`.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const binPath = path.join("bin", "market-node.js");

/**
 * Node's flags for a market node; issue 10 bounds a node's RSS at 250 MiB with a million orders.
 *
 * --max-semi-space-size=8: V8's young generation grows to two semi-spaces of 16 MiB each by
 * default, and a node under load keeps them resident. 8 MiB semi-spaces gave 95-98 MiB of
 * anonymous memory per node instead of 108-118 (60,000 orders, then 64 clients for 15 s); the
 * scavenges are more frequent but each copies only the survivors, so the CPU is about the same.
 *
 * --heap-growing-percent=25: after each full GC V8 lets the old generation grow to a multiple of
 * what survived, up to 4x for a small heap that allocates fast, as a node under load does; so
 * a node whose live heap is 15-20 MiB held 54-66 MiB of old generation. With 25 the next full GC
 * comes at 1.25x (or V8's minimum step), as Go's GOGC does it with a fixed 100%. Measured on
 * 2026-11-29 (.scratch/ab20.sh: 3-node cluster, 50,000 orders, then 64 clients for 20 s,
 * interleaved): anonymous memory per node after the load 51-54 MiB instead of 89-95; purchases/s
 * 3,102-3,393 over 6 runs against 2,988-3,410 over 9 without, and the nodes' CPU per purchase
 * 470-490 µs against 461-516: level within the noise.
 *
 * `npm run node` passes the same flags (a test holds package.json to this list).
 */
export const marketNodeFlags: readonly string[] = ["--max-semi-space-size=8",
  "--heap-growing-percent=25"];

/** How far up from this module the package root may be: src/cluster/, dist/src/cluster/. */
const levelsMax = 4;

/** The arguments to Node that start a market node: its flags, then the bin. */
export function marketNodeArgs(): string[] {
  return [...marketNodeFlags, marketNodeBin()];
}

/** The absolute path of bin/market-node.js, from this module in src/ or in dist/src/. */
export function marketNodeBin(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < levelsMax; level++) {
    dir = path.dirname(dir);
    const candidate = path.join(dir, binPath);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${binPath} not found above ${fileURLToPath(import.meta.url)}`);
}
