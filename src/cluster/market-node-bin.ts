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
 * Node's flags for a market node. V8's young generation grows to two semi-spaces of 16 MiB
 * each by default, and a node under load keeps them resident: 32 MiB of its RSS, which issue 10
 * bounds at 250 MiB with a million orders. 8 MiB semi-spaces gave 95-98 MiB of anonymous memory
 * per node instead of 108-118 (60,000 orders, then 64 clients for 15 s); the scavenges are more
 * frequent but each copies only the survivors, so the CPU is about the same
 * (.scratch A/B in the commit that set this). `npm run node` passes the same flags.
 */
export const marketNodeFlags: readonly string[] = ["--max-semi-space-size=8"];

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
