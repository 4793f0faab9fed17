/**
 * Snapshot data on demand (snapshot-supply.ts). A driver whose state machine lives in a
 * database compacts at its checkpoints with the snapshot's metadata only, and the core keeps no
 * snapshot data. Goal: when a follower needs compacted entries, the leader asks for a snapshot
 * (Ready.snapshotWanted) in every Ready until the driver offers one, sends that follower
 * nothing meanwhile, refuses an offer that compaction has passed, streams an accepted one in
 * chunks like any other, and drops the data once no follower needs it. Method: a simulated
 * 3-node cluster whose nodes compact meta-only (SnapshotPolicy.onDemand) with a SafetyMonitor
 * on; the cluster's own answers to asks are switched off, so each test decides when and what
 * the driver offers. Time is tick().
 */
import { expect } from "chai";
import { makeRaftConfig, RaftNode, SeededRng, type Snapshot } from "../../src/raft/index.js";
import { SimCluster, nodeIds, toyStateSnapshot, type SimNode } from "../../src/sim/cluster.js";
import {
  addObserver, countMessages, electionTimeoutTicks, expectSameApplied, SafetyMonitor,
  waitForLeader,
} from "./helpers.js";

function onDemandCluster(seed: number): SimCluster {
  const cluster = new SimCluster({
    ids: nodeIds(3), seed,
    // Tiny chunks: a transfer takes several round trips.
    config: { snapshotChunkBytes: 64 },
    network: { dropRate: 0, duplicateRate: 0, delayTicksMax: 0 },
    snapshots: { entriesBetweenSnapshots: 5, trailingEntries: 0,
      onDemand: { offerDelayTicksMax: 0, askIgnoreRate: 0 } },
  });
  cluster.snapshotAsksAnswered = false;
  return cluster;
}

/** A snapshot of `node`'s toy state machine at `index` (at most its applied index). */
function toySnapshotAt(node: SimNode, index: number): Snapshot {
  const applied = node.applied.slice(0, index);
  return {
    meta: { index, term: applied[index - 1]!.term, voters: node.raft.status().voters },
    data: toyStateSnapshot(applied),
  };
}

interface Lagging {
  readonly cluster: SimCluster;
  readonly leader: SimNode;
  readonly lagging: SimNode;
  /** The snapshotWanted of each of the leader's Readies from the heal on. */
  readonly asks: ({ readonly indexMin: number } | null)[];
}

/**
 * Elects a leader, cuts one follower off while 60 entries commit (the leader compacts past
 * it, meta-only), then heals and ticks until the leader asks for a snapshot.
 */
function laggingFollower(seed: number): Lagging {
  const cluster = onDemandCluster(seed);
  new SafetyMonitor(cluster);
  const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
  const lagging = cluster.node(cluster.ids.find((id) => id !== leader.id)!);
  cluster.isolate(lagging.id);
  for (let k = 0; k < 60; k++) {
    cluster.propose(`w${k}`);
    cluster.tick();
  }
  expect(leader.raft.compactedIndex(), "the leader compacted past the cut-off follower")
    .to.be.greaterThan(lagging.lastApplied());
  expect(leader.raft.heldSnapshotIndex(), "meta-only compaction holds no data").to.equal(null);
  const asks: Lagging["asks"] = [];
  addObserver(cluster, {
    onReady(node, ready) {
      if (node === leader) asks.push(ready.snapshotWanted);
    },
  });
  cluster.heal();
  expect(cluster.tickUntil(() => asks.some((ask) => ask !== null), electionTimeoutTicks))
    .to.equal(true);
  return { cluster, leader, lagging, asks };
}

describe("snapshot data on demand", () => {
  it("asks for a snapshot for a lagging follower and sends it nothing until one is offered",
    () => {
      const { cluster, leader, lagging, asks } = laggingFollower(1);
      const toLagging = countMessages(cluster, (message) => message.to === lagging.id &&
        (message.type === "snapshot" || message.type === "append"));
      const readiesBefore = asks.length;
      cluster.tick(3 * electionTimeoutTicks);
      const waiting = asks.slice(readiesBefore);
      expect(waiting.length, "the leader kept working (heartbeats)").to.be.greaterThan(10);
      // Every Ready repeats the ask, at the compaction point; nothing goes to the follower but
      // heartbeats: no chunk, and no append probe that could only be refused.
      expect(waiting.every((ask) => ask?.indexMin === leader.raft.compactedIndex()))
        .to.equal(true);
      expect(toLagging.count).to.equal(0);
      expect(leader.raft.status().progress[lagging.id]?.state).to.equal("probe");
      expect(lagging.lastApplied()).to.be.lessThan(leader.raft.compactedIndex());
    });

  it("streams the offered snapshot in chunks; the follower installs it and catches up", () => {
    const { cluster, leader, lagging, asks } = laggingFollower(2);
    const chunks = countMessages(cluster, (message) => message.type === "snapshot" &&
      message.to === lagging.id);
    const offered = toySnapshotAt(leader, leader.lastApplied());
    expect(leader.raft.offerSnapshot(offered)).to.deep.equal({ kind: "accepted" });
    expect(leader.raft.heldSnapshotIndex()).to.equal(offered.meta.index);
    // The offer starts the transfer at once: its first chunk goes in the next Ready.
    expect(leader.raft.status().progress[lagging.id]?.state).to.equal("snapshot");
    const readiesBefore = asks.length;
    cluster.stabilize();
    expect(asks.slice(readiesBefore).every((ask) => ask === null), "the ask is answered")
      .to.equal(true);
    const commit = (): number => leader.raft.status().commitIndex;
    expect(cluster.tickUntil(() => lagging.lastApplied() === commit(), 200),
      "the follower caught up").to.equal(true);
    // 64-byte chunks of a snapshot of 60-odd entries: many chunks, one transfer.
    expect(chunks.count).to.be.greaterThan(offered.data.length / 64);
    expect(lagging.disk.snapshot?.meta.index).to.equal(offered.meta.index);
    cluster.propose("after");
    cluster.tick(5);
    expectSameApplied(cluster);
  });

  it("releases the data once the transfer is done, keeping only the meta", () => {
    const { cluster, leader, lagging } = laggingFollower(3);
    const offered = toySnapshotAt(leader, leader.lastApplied());
    expect(leader.raft.offerSnapshot(offered).kind).to.equal("accepted");
    expect(leader.raft.status().progress[lagging.id]?.state).to.equal("snapshot");
    // While the transfer runs, compaction keeps the entries after its snapshot (§7).
    const commit = leader.raft.status().commitIndex;
    expect(leader.raft.compactIndexFor(commit, 0)).to.equal(offered.meta.index);
    expect(cluster.tickUntil(
      () => leader.raft.status().progress[lagging.id]?.state !== "snapshot", 200)).to.equal(true);
    expect(lagging.lastApplied()).to.be.at.least(offered.meta.index);
    cluster.tick();
    expect(leader.raft.heldSnapshotIndex(), "released after the transfer").to.equal(null);
    // The meta stays: the log still knows where it starts and with which term.
    expect(leader.raft.termAt(leader.raft.compactedIndex())).to.not.equal(null);
    // The follower's core keeps no copy of the snapshot it installed either.
    expect(lagging.raft.heldSnapshotIndex()).to.equal(null);
  });

  it("refuses an offer that compaction has passed, and keeps asking", () => {
    const { cluster, leader, lagging, asks } = laggingFollower(4);
    const compacted = leader.raft.compactedIndex();
    const chunks = countMessages(cluster, (message) => message.type === "snapshot");
    const stale = toySnapshotAt(leader, compacted - 1);
    expect(leader.raft.offerSnapshot(stale))
      .to.deep.equal({ kind: "stale", indexMin: compacted });
    expect(leader.raft.heldSnapshotIndex()).to.equal(null);
    const readiesBefore = asks.length;
    cluster.tick(2);
    expect(asks.length).to.be.greaterThan(readiesBefore);
    expect(asks.slice(readiesBefore).every((ask) => ask?.indexMin === compacted)).to.equal(true);
    expect(chunks.count).to.equal(0);
    // A snapshot exactly at the compaction point will do.
    expect(leader.raft.offerSnapshot(toySnapshotAt(leader, compacted)).kind).to.equal("accepted");
    expect(cluster.tickUntil(
      () => lagging.lastApplied() === leader.raft.status().commitIndex, 200)).to.equal(true);
  });

  it("keeps asking a driver that does not answer, until it does", () => {
    const { cluster, leader, lagging, asks } = laggingFollower(5);
    const readiesBefore = asks.length;
    cluster.tick(10 * electionTimeoutTicks);
    const unanswered = asks.slice(readiesBefore);
    expect(unanswered.length).to.be.greaterThan(50);
    expect(unanswered.every((ask) => ask !== null)).to.equal(true);
    expect(leader.raft.status().role, "still leading").to.equal("leader");
    cluster.snapshotAsksAnswered = true;
    expect(cluster.tickUntil(
      () => lagging.lastApplied() === leader.raft.status().commitIndex, 200)).to.equal(true);
    expect(leader.raft.heldSnapshotIndex()).to.equal(null);
    expect(cluster.snapshotOfferCounts.get("accepted")).to.equal(1);
  });

  it("answers notWanted when no follower waits, and holds nothing", () => {
    const cluster = onDemandCluster(6);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    for (let k = 0; k < 20; k++) {
      cluster.propose(`w${k}`);
      cluster.tick();
    }
    expect(leader.raft.compactedIndex()).to.be.greaterThan(0);
    const offered = toySnapshotAt(leader, leader.lastApplied());
    expect(leader.raft.offerSnapshot(offered)).to.deep.equal({ kind: "notWanted" });
    expect(leader.raft.heldSnapshotIndex()).to.equal(null);
  });

  it("drops the data of a transfer to a follower silent for an election timeout", () => {
    const { cluster, leader, lagging } = laggingFollower(7);
    expect(leader.raft.offerSnapshot(toySnapshotAt(leader, leader.lastApplied())).kind)
      .to.equal("accepted");
    expect(leader.raft.status().progress[lagging.id]?.state).to.equal("snapshot");
    cluster.crash(lagging.id);
    cluster.tick(electionTimeoutTicks + 1);
    expect(leader.raft.status().progress[lagging.id]?.state).to.equal("probe");
    expect(leader.raft.heldSnapshotIndex()).to.equal(null);
    // Back again, it is asked for anew and caught up.
    cluster.snapshotAsksAnswered = true;
    cluster.restart(lagging.id);
    expect(cluster.tickUntil(
      () => lagging.lastApplied() === leader.raft.status().commitIndex, 300)).to.equal(true);
  });

  it("counts an install answered after the transfer was dropped as a match (a slow install)",
    () => {
      const { cluster, leader, lagging } = laggingFollower(7);
      const snapshot = toySnapshotAt(leader, leader.lastApplied());
      expect(leader.raft.offerSnapshot(snapshot).kind).to.equal("accepted");
      // The follower is silent (installing, say) for an election timeout: the transfer ends.
      cluster.crash(lagging.id);
      cluster.tick(electionTimeoutTicks + 1);
      expect(leader.raft.status().progress[lagging.id]?.state).to.equal("probe");
      const matchBefore = leader.raft.status().progress[lagging.id]?.match;
      expect(matchBefore).to.be.lessThan(snapshot.meta.index);
      const answer = { type: "snapshotResponse" as const, from: lagging.id, to: leader.id,
        term: leader.raft.status().term, snapshotIndex: snapshot.meta.index, offset: 0,
        nextOffset: 0, installed: true };
      // An index past the leader's log is no match: ignored.
      leader.raft.step({ ...answer, snapshotIndex: leader.raft.status().lastLogIndex + 1 });
      expect(leader.raft.status().progress[lagging.id]?.match).to.equal(matchBefore);
      // Then its answer arrives: it holds the snapshot's index, and is sent what follows.
      leader.raft.step(answer);
      expect(leader.raft.status().progress[lagging.id]?.match).to.equal(snapshot.meta.index);
      expect(leader.raft.status().progress[lagging.id]?.next).to.equal(snapshot.meta.index + 1);
    });

  it("counts a late install as a match while a newer transfer goes on, if the log cannot " +
    "serve what follows it", () => {
    const { cluster, leader, lagging } = laggingFollower(9);
    const first = toySnapshotAt(leader, leader.lastApplied());
    expect(leader.raft.offerSnapshot(first).kind).to.equal("accepted");
    cluster.crash(lagging.id);
    cluster.tick(electionTimeoutTicks + 1);
    // More entries, compacted past the first snapshot; the follower is asked anew.
    for (let k = 0; k < 20; k++) {
      cluster.propose(`x${k}`);
      cluster.tick();
    }
    expect(leader.raft.compactedIndex()).to.be.greaterThan(first.meta.index);
    cluster.restart(lagging.id);
    cluster.tick();
    const second = toySnapshotAt(leader, leader.lastApplied());
    const offered = leader.raft.offerSnapshot(second).kind;
    expect(offered).to.equal("accepted");
    const progress = (): { match: number; state: string } | undefined =>
      leader.raft.status().progress[lagging.id];
    if (progress()?.state !== "snapshot") cluster.tickUntil(() => progress()?.state === "snapshot", 50);
    expect(progress()?.state).to.equal("snapshot");
    leader.raft.step({ type: "snapshotResponse", from: lagging.id, to: leader.id,
      term: leader.raft.status().term, snapshotIndex: first.meta.index, offset: 0,
      nextOffset: 0, installed: true });
    expect(progress()?.match).to.equal(first.meta.index);
    expect(progress()?.state, "the newer transfer goes on").to.equal("snapshot");
  });

  it("drops the data when leadership is lost mid-transfer", () => {
    const { cluster, leader, lagging } = laggingFollower(8);
    expect(leader.raft.offerSnapshot(toySnapshotAt(leader, leader.lastApplied())).kind)
      .to.equal("accepted");
    expect(leader.raft.status().progress[lagging.id]?.state).to.equal("snapshot");
    // CheckQuorum: a leader that hears no majority for an election timeout steps down.
    cluster.isolate(leader.id);
    expect(cluster.tickUntil(() => leader.raft.status().role !== "leader",
      3 * electionTimeoutTicks)).to.equal(true);
    cluster.tick();
    expect(leader.raft.heldSnapshotIndex()).to.equal(null);
  });

  it("restarts from a meta-only snapshot, holding no data", () => {
    const config = makeRaftConfig({ id: "n1", voters: ["n1", "n2", "n3"] });
    const node = new RaftNode(config, new SeededRng(1), {
      hardState: { term: 2, vote: "n1", commit: 12 },
      snapshot: { meta: { index: 10, term: 2, voters: ["n1", "n2", "n3"] } },
      entries: [11, 12].map((index) => ({ index, term: 2, kind: "normal" as const, data: "x" })),
    });
    expect(node.compactedIndex()).to.equal(10);
    expect(node.termAt(10)).to.equal(2);
    expect(node.status().appliedIndex).to.equal(10);
    expect(node.heldSnapshotIndex()).to.equal(null);
  });

  it("never asks when the driver compacts with the data (the behaviour before)", () => {
    const cluster = new SimCluster({
      ids: nodeIds(3), seed: 9, config: { snapshotChunkBytes: 64 },
      snapshots: { entriesBetweenSnapshots: 5, trailingEntries: 0 },
    });
    new SafetyMonitor(cluster);
    let asked = 0;
    addObserver(cluster, {
      onReady(_node, ready) {
        if (ready.snapshotWanted !== null) asked++;
      },
    });
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const lagging = cluster.node(cluster.ids.find((id) => id !== leader.id)!);
    cluster.isolate(lagging.id);
    for (let k = 0; k < 60; k++) {
      cluster.propose(`w${k}`);
      cluster.tick();
    }
    expect(leader.raft.heldSnapshotIndex()).to.be.at.least(leader.raft.compactedIndex());
    cluster.heal();
    expect(cluster.tickUntil(
      () => lagging.lastApplied() === leader.raft.status().commitIndex, 300)).to.equal(true);
    expect(asked).to.equal(0);
    // The data stays after the transfer, as before: the driver gave it to keep.
    expect(leader.raft.heldSnapshotIndex()).to.not.equal(null);
  });
});
