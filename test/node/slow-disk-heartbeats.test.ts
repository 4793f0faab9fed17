/**
 * A disk that stalls for longer than an election timeout must not cost the cluster its leader
 * while every process runs and every message arrives. Three production RaftServers under the
 * simulator's virtual time (ServerCluster), with fsyncs that take up to 600 ms of it against an
 * election timeout of 150 ms: the leader's heartbeats must not wait for its own fsync, nor the
 * followers' answers for theirs (RaftNode.takeEarlyMessages, RaftServer.sendEarlyWhileBusy), or
 * the followers campaign, or the leader steps down through CheckQuorum. Writes keep committing,
 * slowly, and acknowledgements still wait for the fsync (the simulator's checks cover that).
 * A disk that hangs for good is another matter: its node falls silent after a bound, and the
 * cluster elects a leader whose disk works. A member added while the leader's pass waits for its
 * disk is reached at once too: its address is known from the moment the change is accepted.
 */
import { expect } from "chai";
import type { MarketRequest } from "../../src/market/index.js";
import { SeededRng } from "../../src/raft/index.js";
import { ServerCluster, type ServerSimNode } from "../../src/sim/server-cluster.js";
import { simAddressOf } from "../../src/sim/server-membership.js";
import { SimClock } from "../../src/sim/sim-clock.js";
import { SimNetwork } from "../../src/sim/sim-network.js";

const ids = ["n1", "n2", "n3"];
const tickIntervalMs = 10;
const electionTimeoutTicks = 15;

/**
 * `withAddresses`: the nodes reach only the peers their address books hold, as over HTTP
 * (SimTransport.peers), and refuse senders they hold no address for.
 */
function startCluster(seed: number, withAddresses = false):
  { clock: SimClock; cluster: ServerCluster; network: SimNetwork } {
  const clock = new SimClock();
  const rng = new SeededRng(seed);
  const network = new SimNetwork(clock, new SeededRng(seed + 1), { dropRate: 0,
    duplicateRate: 0, latencyMsMin: 0, latencyMsMax: 1 });
  const cluster = new ServerCluster({ ids, clock, network, rng, tickIntervalMs,
    raft: { electionTimeoutTicks, heartbeatIntervalTicks: 2 },
    snapshot: { entriesBetweenSnapshots: 1_000_000, trailingEntries: 1000 },
    ...(withAddresses ? { addressOf: simAddressOf, learnsUnknownPeers: false } : {}),
    onUnexpectedFatal: (node, error) => {
      throw new Error(`${node.id} stopped: ${error.message}`);
    } });
  for (const id of ids) cluster.start(id);
  return { clock, cluster, network };
}

async function electLeader(clock: SimClock, cluster: ServerCluster): Promise<ServerSimNode> {
  await clock.runUntil(clock.nowMs() + 5000, () => cluster.leader() !== null);
  const leader = cluster.leader();
  expect(leader, "a leader within 5 s").to.not.equal(null);
  return leader!;
}

/**
 * Writes through the leader, one at a time, for `durationMs` of virtual time with the given
 * nodes' fsyncs taking up to `fsyncMsMax`; returns the terms seen and the writes applied.
 */
async function writeWithSlowDisks(seed: number, slow: (leader: string) => readonly string[],
  fsyncMsMax: number, durationMs: number): Promise<{ leaderId: string; terms: Set<number>;
    leaders: Set<string>; applied: number; campaigns: string[] }> {
  const { clock, cluster } = startCluster(seed);
  const leader = await electLeader(clock, cluster);
  const eventsBefore = new Map([...cluster.nodes.values()].map((node) =>
    [node.id, node.server!.raftEvents(0, 1000).events.at(-1)?.seq ?? 0]));
  const create: MarketRequest = { kind: "createItem", requestId: "create", sku: "w", name: "w",
    area: "a", priceCents: 1, stock: 1_000_000 };
  let created: string | null = null;
  void leader.server!.submit(create).then((outcome) => {
    created = outcome.kind;
  });
  await clock.runUntil(clock.nowMs() + 5000, () => created !== null);
  expect(created).to.equal("applied");
  for (const id of slow(leader.id)) cluster.node(id).logFaults.fsyncMsMax = fsyncMsMax;
  const terms = new Set<number>();
  const leaders = new Set<string>();
  let applied = 0;
  let k = 0;
  const endMs = clock.nowMs() + durationMs;
  const writeNext = (): void => {
    if (clock.nowMs() >= endMs) return;
    const request: MarketRequest = { kind: "buy", requestId: `buy-${k++}`,
      lines: [{ sku: "w", qty: 1 }] };
    void leader.server!.submit(request).then((outcome) => {
      if (outcome.kind === "applied") applied++;
      clock.schedule(null, 5, writeNext);
    });
  };
  writeNext();
  const watch = (): void => {
    for (const node of cluster.nodes.values()) {
      const brief = node.server?.brief();
      if (brief === undefined) continue;
      terms.add(brief.term);
      if (brief.role === "leader") leaders.add(node.id);
    }
    if (clock.nowMs() < endMs) clock.schedule(null, tickIntervalMs, watch);
  };
  watch();
  await clock.runUntil(endMs);
  // Pre-votes move no term: the events show them, and CheckQuorum step-downs.
  const campaigns = [...cluster.nodes.values()].flatMap((node) =>
    node.server!.raftEvents(eventsBefore.get(node.id)!, 1000).events
      .filter((event) => event.kind === "campaignStarted" ||
        (event.kind === "roleChanged" && event.reason === "checkQuorum"))
      .map((event) => `${node.id}: ${event.message}`));
  return { leaderId: leader.id, terms, leaders, applied, campaigns };
}

/** One leader and one term over the whole run, no campaign, and at least `appliedMin` writes. */
function expectOneLeaderThroughout(result: Awaited<ReturnType<typeof writeWithSlowDisks>>,
  appliedMin: number): void {
  expect([...result.leaders]).to.deep.equal([result.leaderId]);
  expect(result.terms.size, `terms seen: ${[...result.terms].join(", ")}`).to.equal(1);
  expect(result.campaigns).to.deep.equal([]);
  expect(result.applied).to.be.greaterThan(appliedMin);
}

describe("RaftServer on a disk slower than the election timeout", () => {
  it("gives up its leadership when its own disk hangs: another node leads and commits", async () => {
    const { clock, cluster } = startCluster(11);
    const hung = await electLeader(clock, cluster);
    const term = hung.server!.brief().term;
    hung.logFaults.fsyncMsMax = 1_000_000_000;
    // Something for the hung leader to write: its pass then waits for that fsync for good.
    void hung.server!.submit({ kind: "createItem", requestId: "stuck", sku: "s", name: "s",
      area: "a", priceCents: 1, stock: 1 });
    const other = (): ServerSimNode | undefined => [...cluster.nodes.values()].find((node) =>
      node !== hung && node.server?.brief().role === "leader");
    await clock.runUntil(clock.nowMs() + 5000, () => other() !== undefined);
    const successor = other();
    expect(successor, "another leader within 5 s of the hang").to.not.equal(undefined);
    expect(successor!.server!.brief().term).to.be.greaterThan(term);
    let outcome: string | null = null;
    void successor!.server!.submit({ kind: "createItem", requestId: "after", sku: "t",
      name: "t", area: "a", priceCents: 1, stock: 1 }).then((answer) => {
      outcome = answer.kind;
    });
    await clock.runUntil(clock.nowMs() + 5000, () => outcome !== null);
    expect(outcome).to.equal("applied");
  });

  it("reaches a member added while its pass waits for its disk, before the entry that adds it " +
    "is on that disk", async () => {
    // Heartbeats leave while a pass waits for its fsync (sendEarlyWhileBusy), and the leader's
    // quorums take in the new member as soon as the entry is in its log: its address must be
    // known from the moment the change is accepted (Membership.change), not only once the
    // Ready holding the entry runs, or those heartbeats are unroutable and dropped.
    const { clock, cluster, network } = startCluster(12, true);
    const leader = await electLeader(clock, cluster);
    // A leader takes a configuration change once it has applied an entry of its term.
    let first: string | null = null;
    void leader.server!.submit({ kind: "createItem", requestId: "first", sku: "f", name: "f",
      area: "a", priceCents: 1, stock: 1 }).then((outcome) => {
      first = outcome.kind;
    });
    await clock.runUntil(clock.nowMs() + 5000, () => first !== null);
    expect(first).to.equal("applied");
    leader.logFaults.fsyncMsMax = 1_000_000_000;
    void leader.server!.submit({ kind: "createItem", requestId: "slow", sku: "s", name: "s",
      area: "a", priceCents: 1, stock: 1 });
    await clock.runUntil(clock.nowMs() + 30);
    const droppedBefore = network.dropped;
    const sent: string[] = [];
    network.onSend = (from, message) => {
      if (message.to === "n4") sent.push(`${from}:${message.type}`);
    };
    const address = simAddressOf("n4");
    void leader.server!.changeMembership({ kind: "add", id: "n4", peerUrl: address.peerUrl,
      clientUrl: address.clientUrl, learner: true });
    const entryIndex = leader.server!.status().lastLogIndex;
    await clock.runUntil(clock.nowMs() + 100, () => sent.length > 0);
    expect(leader.disk.log.durableLastIndex(), "the entry is not on the leader's disk yet")
      .to.be.lessThan(entryIndex);
    expect(sent, "the leader's messages to n4").to.include(`${leader.id}:heartbeat`);
    expect(network.dropped - droppedBefore, "messages dropped as unroutable").to.equal(0);
  });

  it("keeps its leader while both followers' fsyncs take up to 600 ms", async () => {
    const result = await writeWithSlowDisks(7, (leader) => ids.filter((id) => id !== leader),
      600, 10_000);
    expectOneLeaderThroughout(result, 10);
  });

  it("keeps its leader while both followers' fsyncs take up to 3 s: only a leader falls " +
    "silent on a disk that seems to hang", async () => {
    const result = await writeWithSlowDisks(7, (leader) => ids.filter((id) => id !== leader),
      3000, 10_000);
    expectOneLeaderThroughout(result, 0);
  });

  it("keeps its leader while the leader's own fsyncs take up to 600 ms", async () => {
    const result = await writeWithSlowDisks(8, (leader) => [leader], 600, 10_000);
    expectOneLeaderThroughout(result, 10);
  });

  it("keeps its leader while every fsync takes up to 600 ms", async () => {
    const result = await writeWithSlowDisks(9, () => ids, 600, 10_000);
    expectOneLeaderThroughout(result, 10);
  });
});
