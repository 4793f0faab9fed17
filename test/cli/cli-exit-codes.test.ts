/**
 * market-cli's exit codes as a user meets them, on a real cluster. Goal: with every node up,
 * `cluster status` and a purchase exit 0; with one node down of three, `cluster status` exits 2
 * and names the node, while a purchase still exits 0 (a majority commits); with two down, no
 * quorum: a purchase exits 2 and says "reached 1 of 3 nodes (.. refused the connection); a
 * majority of 2 is needed", and `cluster status` exits 2; bad usage exits 128 and names an
 * unknown option. Method: LocalCluster (three market-node processes on free loopback ports,
 * stopped in the after hook), the bin run as a child process with the cluster file, nodes
 * stopped with SIGKILL, and every wait for the cluster polled under a generous bound.
 */
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { waitFor } from "../cluster/helpers.js";
import { spawnCli, type CliRun } from "./cli-process.js";

describe("market-cli exit codes on a 3-process cluster", function () {
  this.timeout(90_000);
  let cluster: LocalCluster;

  function cli(...argv: string[]): Promise<CliRun> {
    return spawnCli(["--config", cluster.configPath, ...argv]);
  }

  before(async () => {
    cluster = await LocalCluster.start();
    await cluster.waitForLeader(30_000);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("0 all healthy, 2 with one node down (writes still commit), 2 without a quorum, " +
    "128 on bad usage", async () => {
    const created = await cli("item", "create", "--sku", "mug", "--name", "Mug", "--area",
      "Home", "--price-cents", "500", "--stock", "10");
    expect(created.code, created.stderr).to.equal(0);
    // Every node answers once it has applied the entry; until then status may lag, not fail.
    const healthy = await waitFor(async () => {
      const run = await cli("cluster", "status");
      return run.code === 0 ? run : undefined;
    }, "cluster status to exit 0", 30_000);
    expect(healthy.stdout.trimEnd().split("\n")).to.have.length(4);
    expect(healthy.stderr).to.equal("");

    // One follower down: status names it and exits 2; the majority still sells.
    const leader = await cluster.waitForLeader();
    const [first, second] = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    await cluster.kill(first!);
    const oneDown = await cli("cluster", "status");
    expect(oneDown.code).to.equal(2);
    expect(oneDown.stderr).to.match(new RegExp(`^error: reached 2 of 3 nodes \\(${first} ` +
      "refused the connection\\); n\\d leads at term \\d+\\n$"));
    const bought = await cli("buy", "--item", "mug");
    expect(bought.code, bought.stderr).to.equal(0);

    // Two down: the survivor steps down (CheckQuorum) and nothing can commit.
    await cluster.kill(second!);
    await waitFor(async () => {
      const status = (await cluster.statuses()).get(leader);
      return status !== undefined && status.role !== "leader" ? true : undefined;
    }, `${leader} stepping down without a quorum`, 30_000);
    const noQuorum = await cli("buy", "--item", "mug");
    expect(noQuorum.code).to.equal(2);
    const refused = [first, second].sort().join(", ");
    expect(noQuorum.stderr).to.equal(`error: reached 1 of 3 nodes (${refused} refused the ` +
      "connection); a majority of 2 is needed\n");
    const status = await cli("cluster", "status");
    expect(status.code).to.equal(2);
    expect(status.stderr).to.include("a majority of 2 is needed");

    const usage = await cli("buy", "--itme", "mug");
    expect(usage.code).to.equal(128);
    expect(usage.stderr).to.match(/^error: unknown option '--itme'/);
  });
});
