/**
 * How a market node is started (market-node-bin.ts). Goal: `npm run node` gives Node the
 * flags the launchers give it (marketNodeArgs; test/cluster/multi-process.test.ts checks a real
 * node's command line, test/cli/membership.test.ts a node restarted by `npm run fault`), which
 * bound a node's memory (issue 10), and this Node accepts them.
 * Method: package.json's script read as text; Node started with the flags and an empty program.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { marketNodeArgs, marketNodeBin, marketNodeFlags } from
  "../../src/cluster/market-node-bin.js";

describe("market node flags", () => {
  it("npm run node passes exactly the flags the launchers pass", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as
      { scripts: Record<string, string> };
    expect(pkg.scripts.node).to.equal(`node ${marketNodeFlags.join(" ")} bin/market-node.js`);
  });

  it("the launchers' arguments are those flags, then the bin", () => {
    // launcher.ts (npm run cluster) and LocalCluster both spawn marketNodeArgs().
    expect(marketNodeArgs()).to.deep.equal([...marketNodeFlags, marketNodeBin()]);
  });

  it("this Node accepts every flag", () => {
    // Node refuses an unknown flag with "bad option" and status 9. NODE_OPTIONS emptied: what
    // the caller's environment adds (a debugger, a preload) is not what is checked here.
    const result = spawnSync(process.execPath, [...marketNodeFlags, "-e", ""],
      { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    expect(result.stderr).to.equal("");
    expect(result.status).to.equal(0);
  });
});
