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
 * --heap-growing-percent=100: after each full GC, V8 sets the next one's limit at the live heap
 * times a growing factor that it picks from how fast it collects against how fast the program
 * allocates, between 1.1 and 4 (Node's heap limit on 64 bits allows the 4); a node under load
 * allocates fast, and one with 15-20 MiB live held 54-66 MiB of old generation. The flag fixes
 * the factor at 2, as Go's default GOGC (100) does; V8 still grows the limit by at least its
 * minimum step (8 MiB). The price is more full collections, and it is not nil. Measured on
 * 2026-11-29, on one 3-node cluster with 500,000 orders whose nodes were restarted with each
 * setting in turn (runs interleaved, 20 s each, two per setting; a scratch script, not kept):
 *
 *   setting            anonymous MiB  64 clients (purchases/s, µs CPU each)  64 linearizable reads
 *   V8's own           85-107         2,510-3,122 / 509-640                  5,724-7,484/s
 *   growing 100%       68-70          2,722-2,905 / 554-594                  6,862-7,191/s
 *   growing 25%        58-63          2,295-2,342 / 700-711                  5,379-5,992/s
 *
 * So 25% cost about a fifth of the write rate (it had looked free at 50,000 and 300,000 orders
 * without restarts); 100% read 1% fewer purchases/s and 4% more CPU per purchase on average,
 * inside the runs' noise of about 10%. 16 MiB semi-spaces with 50% did no better (76-79 MiB).
 *
 * `npm run node` passes the same flags (a test holds package.json to this list).
 */
export const marketNodeFlags: readonly string[] = ["--max-semi-space-size=8",
  "--heap-growing-percent=100"];

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
