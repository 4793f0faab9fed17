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
 * minimum step (8 MiB), and the flag replaces V8's smaller factors for a machine short of
 * memory too. The price is more full collections, and it is not nil. Measured on 2026-11-29 on
 * two 3-node clusters of 500,000 orders, each with V8's own sizing and one or two settings,
 * its nodes restarted with each in turn (runs interleaved, 20 s each, two per setting; a
 * scratch script, not kept), against V8's own sizing on the same cluster:
 *
 *   setting                  anonymous MiB  64 clients: purchases/s, CPU   64 linearizable reads
 *   growing 25% (cluster 1)  58-63 (85-101)  -14%, +23% per purchase        -16%
 *   growing 100% (cluster 2) 68-70 (92-107)  -6%, +8% per purchase          +6%
 *
 * At 16 clients both read level with V8's own (about -2%). 25% had looked free at 50,000 and
 * 300,000 orders on fresh clusters, within those runs' noise of about 10%; 16 MiB semi-spaces
 * with 50% did no better than 100% (76-79 MiB, purchases/s -1% and -31% in its two runs).
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
