/**
 * `cluster events`, `leader transfer` and `cluster watch` as a user meets them, on a real
 * cluster. Goal: the events of a freshly elected cluster include the leader's leaderElected,
 * in time order across nodes, as lines and as JSON lines; `leader transfer --to` a follower
 * exits 0 once that follower leads, which the nodes confirm, and the transfer shows in the
 * events; `cluster watch -w json` prints snapshots of every node until --timeout. Method:
 * LocalCluster (three market-node processes on free loopback ports, stopped in the after
 * hook), the bin run as a child process with the cluster file (whose admin token it reads),
 * every wait for the cluster polled under a generous bound.
 */
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { waitFor } from "../cluster/helpers.js";
import { spawnCli, type CliRun } from "./cli-process.js";

interface EventLine {
  readonly node: string;
  readonly kind: string;
  readonly term: number;
  readonly timeMs: number;
  readonly target?: string;
}

describe("market-cli cluster events, leader transfer and watch on a 3-process cluster",
  function () {
    this.timeout(90_000);
    let cluster: LocalCluster;

    function cli(...argv: string[]): Promise<CliRun> {
      return spawnCli(["--config", cluster.configPath, ...argv]);
    }

    async function events(): Promise<EventLine[]> {
      const run = await cli("-w", "json", "cluster", "events");
      expect(run.code, run.stderr).to.equal(0);
      return run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as EventLine);
    }

    before(async () => {
      cluster = await LocalCluster.start();
      await cluster.waitForLeader(30_000);
    });

    after(async () => {
      await cluster?.stop();
    });

    it("events show the election; a transfer moves the leader and shows in them", async () => {
      const leader = await cluster.waitForLeader();
      const text = await cli("cluster", "events");
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(new RegExp(`^\\S+\\s+${leader}\\s+\\d+\\s+\\d+\\s+` +
        "leaderElected\\s+elected leader of term \\d+ with the votes of", "m"));
      const before = await events();
      expect(before.map(({ timeMs }) => timeMs)).to.deep.equal(
        before.map(({ timeMs }) => timeMs).sort((first, second) => first - second));
      expect(before.some(({ node, kind }) => node === leader && kind === "leaderElected"))
        .to.equal(true);

      const target = cluster.nodes.map((node) => node.id).find((id) => id !== leader)!;
      const transfer = await cli("leader", "transfer", "--to", target);
      expect(transfer.code, transfer.stderr).to.equal(0);
      expect(transfer.stdout).to.match(new RegExp(`^${target} leads at term \\d+ \\(was ` +
        `${leader} at term \\d+\\)\\n$`));
      const statuses = await cluster.statuses();
      expect(statuses.get(target)?.role).to.equal("leader");
      const after = await events();
      expect(after.some(({ node, kind, target: to }) => node === leader &&
        kind === "transferStarted" && to === target)).to.equal(true);
      expect(after.some(({ node, kind }) => node === target && kind === "leaderElected"))
        .to.equal(true);
    });

    it("watch prints every node's status once per refresh until --timeout", async () => {
      await waitFor(async () => (await cluster.statuses()).size === 3 ? true : undefined,
        "every node answering", 30_000);
      const run = await cli("-w", "json", "cluster", "watch", "--interval", "300ms",
        "--timeout", "1500ms");
      expect(run.code, run.stderr).to.equal(0);
      const snapshots = run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as
        { nodes: { id: string; role: string }[] });
      expect(snapshots.length).to.be.within(2, 6);
      const last = snapshots[snapshots.length - 1]!;
      expect(last.nodes.map(({ id }) => id)).to.deep.equal(["n1", "n2", "n3"]);
      expect(last.nodes.filter(({ role }) => role === "leader")).to.have.length(1);
    });
  });
