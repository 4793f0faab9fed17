/**
 * Network partitions, planned and applied. Goal: planPartition gives every node the complete
 * rule set a command calls for (cuts in both directions on both ends, delays on every link of
 * one node), rejects commands that do not fit the cluster, and the partition script, run as a
 * user runs it against three real market-node processes, produces what Raft promises: an
 * isolated leader steps down (CheckQuorum) while the majority elects a new one and keeps
 * committing, the isolated node refuses writes, and after `heal` every replica converges;
 * `show` draws who reaches whom, and `delay` warns when its round trip reaches the election
 * timeout of the cluster file. Method: pure calls for the plans; for the cluster, LocalCluster on 127.0.0.1 with free ports
 * and the script as a child process, with every wait polled under a bound and the cluster
 * stopped in an after hook.
 */
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import {
  bridgeLayout,
  connectivityMatrix,
  delayWarning,
  describePartition,
  parseDurationMs,
  planPartition,
  PartitionError,
  type PartitionCommand,
} from "../../src/cluster/partitions.js";
import type { LinkRule } from "../../src/transport/faulty-transport.js";
import { runTsScript, waitFor, waitForConvergence, type ScriptRun } from "./helpers.js";

const three = ["n1", "n2", "n3"];
const five = ["n1", "n2", "n3", "n4", "n5"];

/** The pairs {a, b} (a before b in `nodes`) whose link is cut in both directions on both ends. */
function cutPairs(plan: Map<string, LinkRule[]>, nodes: readonly string[]): string[] {
  const pairs: string[] = [];
  for (const [k, first] of nodes.entries()) {
    for (const second of nodes.slice(k + 1)) {
      const holds = (node: string, from: string, to: string): boolean => (plan.get(node) ?? [])
        .some((rule) => rule.from === from && rule.to === to && rule.drop === true);
      const ends = [first, second].flatMap((node) =>
        [holds(node, first, second), holds(node, second, first)]);
      if (ends.every(Boolean)) pairs.push(`${first}-${second}`);
      else expect(ends.some(Boolean), `${first}-${second} is cut on one end only`).to.equal(false);
    }
  }
  return pairs;
}

describe("planPartition", () => {
  it("isolate cuts every link of one node, on both ends", () => {
    const plan = planPartition({ kind: "isolate", node: "n2" }, three);
    expect([...plan.keys()]).to.deep.equal(three);
    expect(cutPairs(plan, three)).to.deep.equal(["n1-n2", "n2-n3"]);
    expect(plan.get("n1")).to.have.length(2);
    expect(plan.get("n2")).to.have.length(4);
  });

  it("split cuts exactly the links between the halves", () => {
    const plan = planPartition({ kind: "split", halves: [["n1", "n4"], ["n2", "n3", "n5"]] },
      five);
    expect(cutPairs(plan, five)).to.deep.equal(["n1-n2", "n1-n3", "n1-n5", "n2-n4", "n3-n4",
      "n4-n5"]);
  });

  const badSplits: { halves: [string[], string[]]; message: RegExp }[] = [
    { halves: [["n1", "n2"], []], message: /at least one node/ },
    { halves: [["n1"], ["n2"]], message: /n3 is in neither/ },
    { halves: [["n1", "n2"], ["n2", "n3"]], message: /n2 is named twice/ },
    { halves: [["n1", "n2"], ["n3", "n7"]], message: /unknown node "n7"/ },
  ];
  for (const { halves, message } of badSplits) {
    it(`split ${halves.map((half) => half.join(",")).join(" ")} is refused: ${message}`, () => {
      expect(() => planPartition({ kind: "split", halves }, three))
        .to.throw(PartitionError, message);
    });
  }

  it("ring on 5 nodes leaves each node its two neighbours only", () => {
    const plan = planPartition({ kind: "ring" }, five);
    expect(cutPairs(plan, five)).to.deep.equal(["n1-n3", "n1-n4", "n2-n4", "n2-n5", "n3-n5"]);
  });

  it("ring on 3 nodes cuts nothing, and says so", () => {
    const plan = planPartition({ kind: "ring" }, three);
    expect([...plan.values()].every((rules) => rules.length === 0)).to.equal(true);
    expect(describePartition({ kind: "ring" }, three)[0]).to.match(/cuts no link/);
  });

  it("bridge joins two halves through the middle node, or the one named", () => {
    expect(bridgeLayout(five)).to.deep.equal({ left: ["n1", "n2"], bridge: "n3",
      right: ["n4", "n5"] });
    expect(cutPairs(planPartition({ kind: "bridge" }, five), five))
      .to.deep.equal(["n1-n4", "n1-n5", "n2-n4", "n2-n5"]);
    expect(cutPairs(planPartition({ kind: "bridge", bridge: "n1" }, three), three))
      .to.deep.equal(["n2-n3"]);
    expect(() => planPartition({ kind: "bridge" }, ["n1", "n2"])).to.throw(PartitionError,
      /at least 3 nodes/);
    expect(() => planPartition({ kind: "bridge", bridge: "n9" }, three)).to.throw(PartitionError,
      /unknown node/);
  });

  it("delay slows every link to and from one node, both ends holding the rule", () => {
    const plan = planPartition({ kind: "delay", node: "n2", delayMs: 80, jitterMs: 8 }, three);
    const slow = { delayMs: 80, jitterMs: 8 };
    expect(plan.get("n1")).to.deep.equal([{ from: "n2", to: "n1", ...slow },
      { from: "n1", to: "n2", ...slow }]);
    expect(plan.get("n2")).to.have.length(4);
    expect(cutPairs(plan, three)).to.deep.equal([]);
    expect(() => planPartition({ kind: "delay", node: "n2", delayMs: -1, jitterMs: 0 }, three))
      .to.throw(PartitionError, /bad delay/);
  });

  it("heal leaves every node with no rule", () => {
    const plan = planPartition({ kind: "heal" }, three);
    expect([...plan]).to.deep.equal(three.map((node) => [node, []]));
  });

  it("is a whole state, not a change: the same command plans the same rules", () => {
    const commands: PartitionCommand[] = [{ kind: "isolate", node: "n1" }, { kind: "ring" },
      { kind: "bridge" }, { kind: "split", halves: [["n1", "n2", "n3"], ["n4", "n5"]] }];
    for (const command of commands) {
      expect(planPartition(command, five)).to.deep.equal(planPartition(command, five));
    }
  });

  it("rejects unknown nodes and bad durations with a readable PartitionError", () => {
    expect(() => planPartition({ kind: "isolate", node: "n4" }, three))
      .to.throw(PartitionError, 'unknown node "n4" (nodes are: n1, n2, n3)');
    expect(parseDurationMs("80ms")).to.equal(80);
    expect(parseDurationMs("1.5s")).to.equal(1500);
    for (const bad of ["80", "fast", "-5ms", "80x"]) {
      expect(() => parseDurationMs(bad)).to.throw(PartitionError, /bad duration/);
    }
  });

  it("describes each node's lost reach in plain sentences", () => {
    expect(describePartition({ kind: "isolate", node: "n1" }, three)).to.deep.equal([
      "n1 is isolated: it can reach no other node and none can reach it; it is a minority " +
        "(1 of 3) and cannot commit.",
      "n1 can no longer reach n2, n3.",
      "n2 can no longer reach n1.",
      "n3 can no longer reach n1.",
    ]);
  });

  it("warns of a delay whose round trip reaches the election timeout, with the arithmetic",
    () => {
      const timing = { tickIntervalMs: 10, electionTimeoutTicks: 15 };
      const delay = (delayMs: number, jitterMs: number) =>
        delayWarning({ kind: "delay", node: "n2", delayMs, jitterMs }, timing);
      expect(delay(80, 8)).to.equal("80 ms each way, up to 88 ms with jitter, makes a round " +
        "trip of up to 176 ms between n2 and the others, more than the 150 ms election timeout " +
        "(15 ticks of 10 ms): votes and CheckQuorum rounds through n2 cannot complete in time, " +
        "so expect elections. Under 75 ms each way, jitter included, slows n2 without that.");
      expect(delay(75, 0)).to.match(
        /^75 ms each way makes a round trip of up to 150 ms .* as long as the 150 ms/);
      expect(delay(70, 5)).to.match(/round trip of up to 150 ms/);
      expect(delay(74, 0)).to.equal(null);
      expect(delay(60, 6)).to.equal(null);
      expect(delayWarning({ kind: "delay", node: "n1", delayMs: 80, jitterMs: 0 },
        { tickIntervalMs: 10, electionTimeoutTicks: 50 })).to.equal(null);
    });

  it("draws who reaches whom from every node's rules, as FaultyTransport applies them", () => {
    const rules = (command: PartitionCommand) => new Map<string, LinkRule[] | null>(
      planPartition(command, three));
    expect(connectivityMatrix(three, rules({ kind: "isolate", node: "n1" }))).to.deep.equal([
      ["-", "cut", "cut"], ["cut", "-", "ok"], ["cut", "ok", "-"]]);
    expect(connectivityMatrix(three, rules({ kind: "delay", node: "n3", delayMs: 80,
      jitterMs: 8 }))).to.deep.equal([
      ["-", "ok", "80-88ms"], ["ok", "-", "80-88ms"], ["80-88ms", "80-88ms", "-"]]);
    // A cut installed on the receiver alone still cuts (incoming drop); a node that did not
    // answer leaves its links unknown unless the other end says they are cut.
    const partial = new Map<string, LinkRule[] | null>([
      ["n1", [{ from: "n2", to: "n1", drop: true }, { from: "n1", to: "*", dropRate: 0.25 }]],
      ["n2", []], ["n3", null]]);
    expect(connectivityMatrix(three, partial)).to.deep.equal([
      ["-", "drop 25%", "?"], ["cut", "-", "?"], ["?", "?", "-"]]);
  });
});

const partitionScript = fileURLToPath(new URL("../../scripts/partition.ts", import.meta.url));

function runScript(configPath: string, ...args: string[]): Promise<ScriptRun> {
  return runTsScript(partitionScript, ["--config", configPath, ...args]);
}

async function post(url: string, body: unknown, timeoutMs = 12_000):
  Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

describe("npm run partition on a 3-process cluster", function () {
  this.timeout(60_000);
  let cluster: LocalCluster;

  before(async () => {
    cluster = await LocalCluster.start();
    await cluster.waitForLeader(15_000);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("refuses an unknown node with one line and exit code 1", async () => {
    const run = await runScript(cluster.configPath, "isolate", "n9");
    expect(run.code).to.equal(1);
    expect(run.stderr.trim().split("\n")).to.deep.equal(
      ['error: unknown node "n9" (nodes are: n1, n2, n3)']);
  });

  it("isolate <leader>: the majority elects a leader and commits, the old leader steps " +
    "down and refuses writes; heal: the replicas converge", async () => {
    const oldLeader = await cluster.waitForLeader();
    const leaderUrl = cluster.node(oldLeader).url;
    const created = await post(`${leaderUrl}/v1/items`, { requestId: "create-1", sku: "mug",
      name: "Mug", area: "Kitchen", priceCents: 900, stock: 10 });
    expect(created.status).to.equal(201);
    const oldTerm = Number((await cluster.statuses()).get(oldLeader)?.term);

    const isolated = await runScript(cluster.configPath, "isolate", oldLeader);
    expect(isolated.code, isolated.stderr).to.equal(0);
    expect(isolated.stdout).to.include(`${oldLeader} can no longer reach`);
    const answer = await fetch(`${leaderUrl}/admin/faults`, { headers:
      { authorization: `Bearer ${cluster.config.tokens.adminToken}` } });
    expect(await answer.json()).to.deep.equal(
      { rules: planPartition({ kind: "isolate", node: oldLeader }, ["n1", "n2", "n3"])
        .get(oldLeader) });

    // A new leader among the other two, in a later term; the old one no longer leads.
    const newLeader = await waitFor(async () => {
      const statuses = await cluster.statuses();
      const leaders = [...statuses.values()].filter((status) => status.role === "leader");
      const stale = statuses.get(oldLeader);
      if (stale === undefined || stale.role === "leader" || leaders.length !== 1) return undefined;
      const leader = leaders[0]!;
      return Number(leader.term) > oldTerm ? String(leader.id) : undefined;
    }, "a new leader and the old one stepping down", 5000);
    expect(newLeader).to.not.equal(oldLeader);

    // The majority commits, through the new leader and through its follower.
    const majority = cluster.nodes.filter((node) => node.id !== oldLeader);
    for (const [k, node] of majority.entries()) {
      const bought = await post(`${node.url}/v1/orders`,
        { requestId: `buy-${k}`, lines: [{ sku: "mug", qty: 1 }] });
      expect(bought.status, JSON.stringify(bought.body)).to.equal(201);
    }

    // The isolated node cannot commit: an error, never a 201.
    const refused = await post(`${leaderUrl}/v1/orders`,
      { requestId: "buy-isolated", lines: [{ sku: "mug", qty: 1 }] });
    expect(refused.status, JSON.stringify(refused.body)).to.be.oneOf([503, 504]);

    // show draws the cut: the old leader's row reaches no one.
    const shown = await runScript(cluster.configPath, "show");
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout).to.match(new RegExp(`^${oldLeader}(\\s+(-|cut)){3}$`, "m"));

    const healed = await runScript(cluster.configPath, "heal");
    expect(healed.code, healed.stderr).to.equal(0);
    expect(healed.stdout).to.match(/Healed/);
    await waitForConvergence(cluster, 10_000);
    // Two purchases went through the majority; the isolated one, refused outright, never did.
    const item = await fetch(`${majority[0]!.url}/v1/items/mug`);
    expect(((await item.json()) as { item: { stock: number } }).item.stock).to.equal(8);
  });

  it("delay warns, from the cluster file's timing, when its round trip reaches the election " +
    "timeout", async () => {
    const slow = await runScript(cluster.configPath, "delay", "n2", "80ms");
    expect(slow.code, slow.stderr).to.equal(0);
    expect(slow.stdout).to.match(/^Every message to and from n2 is delayed 80 ms/);
    expect(slow.stderr).to.match(new RegExp("^warning: 80 ms each way, up to 88 ms with " +
      "jitter, .* more than the 150 ms election timeout \\(15 ticks of 10 ms\\).* expect " +
      "elections"));
    const mild = await runScript(cluster.configPath, "delay", "n2", "20ms");
    expect(mild).to.deep.include({ code: 0, stderr: "" });
    expect((await runScript(cluster.configPath, "heal")).code).to.equal(0);
  });
});
