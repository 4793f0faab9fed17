/**
 * How a market node is started (market-node-bin.ts). Goal: the launchers (`npm run cluster`,
 * LocalCluster) and `npm run node` give Node the same flags, which bound a node's memory
 * (issue 10), and those flags are ones this Node accepts. Method: package.json's script read as
 * text; Node started with the flags and an empty program.
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

  it("the launchers start the bin with those flags first", () => {
    expect(marketNodeArgs()).to.deep.equal([...marketNodeFlags, marketNodeBin()]);
  });

  it("this Node accepts every flag", () => {
    const result = spawnSync(process.execPath, [...marketNodeFlags, "-e", ""],
      { encoding: "utf8" });
    expect(result.stderr).to.equal("");
    expect(result.status).to.equal(0);
  });
});
