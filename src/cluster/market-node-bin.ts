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

/** How far up from this module the package root may be: src/cluster/, dist/src/cluster/. */
const levelsMax = 4;

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
