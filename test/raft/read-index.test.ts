/**
 * ReadIndex (Ongaro's thesis §6.4): a linearizable read without a log entry. The leader notes
 * its commit index, confirms with a heartbeat round that a majority still follows it, and only
 * then hands out a ReadState; before its first commit of its term it does not know the latest
 * commit index, and a leader that cannot reach a majority must never answer. The tests run a
 * SimCluster (src/sim/cluster.ts) and record, through its observer hooks, every Ready's
 * readStates and droppedReads and every message sent. Where the order of events is the point,
 * they drive the cluster one step at a time with processReady() and deliverDue(), so that "not
 * before the acknowledgements" is checked at the exact step where it could go wrong.
 */
import { expect } from "chai";
import type {
  HeartbeatRequest,
  NodeId,
  RaftConfig,
  RaftMessage,
  ReadState,
} from "../../src/raft/index.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";

const electionTimeoutTicks = 10;

interface Recording {
  readonly readStates: Map<NodeId, ReadState[]>;
  readonly droppedReads: Map<NodeId, string[]>;
  /** The readStates of each Ready, one array per Ready that had any. */
  readonly readyBatches: ReadState[][];
  readonly sent: RaftMessage[];
}

function record(cluster: SimCluster): Recording {
  const recording: Recording = { readStates: new Map(), droppedReads: new Map(),
    readyBatches: [], sent: [] };
  const push = <T>(map: Map<NodeId, T[]>, id: NodeId, items: readonly T[]): void => {
    map.set(id, [...(map.get(id) ?? []), ...items]);
  };
  cluster.observer = {
    onReady: (node, ready) => {
      push(recording.readStates, node.id, ready.readStates);
      push(recording.droppedReads, node.id, ready.droppedReads);
      if (ready.readStates.length > 0) recording.readyBatches.push([...ready.readStates]);
    },
    onSend: (_node, message) => recording.sent.push(message),
  };
  return recording;
}

function newCluster(size: number, config: Partial<RaftConfig> = {}): SimCluster {
  return new SimCluster({ ids: nodeIds(size), seed: 5, config });
}

function electLeader(cluster: SimCluster, id: NodeId): void {
  cluster.node(id).raft.campaign();
  cluster.stabilize();
  expect(cluster.leader()?.id).to.equal(id);
}

function readStatesOf(recording: Recording, id: NodeId): ReadState[] {
  return recording.readStates.get(id) ?? [];
}

function heartbeatsIn(messages: readonly RaftMessage[]): HeartbeatRequest[] {
  return messages.filter((m): m is HeartbeatRequest => m.type === "heartbeat");
}

describe("ReadIndex (thesis §6.4)", () => {
  it("serves a read only once a heartbeat quorum has confirmed the leader", () => {
    const cluster = newCluster(5);
    electLeader(cluster, "n1");
    const recording = record(cluster);
    const leader = cluster.node("n1");
    expect(leader.raft.readIndex("r1")).to.deep.equal({ kind: "pending" });

    cluster.processReady(leader);
    const heartbeats = heartbeatsIn(recording.sent);
    expect(heartbeats.map((m) => m.to)).to.deep.equal(["n2", "n3", "n4", "n5"]);
    const readId = heartbeats[0]!.readId;
    expect(readId).to.not.equal(null);
    expect(heartbeats.every((m) => m.readId === readId)).to.equal(true);
    cluster.deliverDue();
    // Acknowledgements come back one by one: n1 and n2 are not yet a majority of five.
    cluster.processReady(cluster.node("n2"));
    cluster.deliverDue();
    cluster.processReady(leader);
    expect(readStatesOf(recording, "n1"), "after one ack").to.deep.equal([]);
    cluster.processReady(cluster.node("n3"));
    cluster.deliverDue();
    cluster.processReady(leader);
    expect(readStatesOf(recording, "n1"), "after two acks").to.deep.equal(
      [{ context: "r1", index: 1 }]);
  });

  it("does not serve a read before the leader's first commit in its term", () => {
    const cluster = newCluster(3);
    // The no-op cannot commit while acknowledgements of appends are lost.
    cluster.droppedTypes.add("appendResponse");
    electLeader(cluster, "n1");
    expect(cluster.node("n1").raft.status().commitIndex).to.equal(0);
    const recording = record(cluster);
    expect(cluster.node("n1").raft.readIndex("r1")).to.deep.equal({ kind: "pending" });
    cluster.tick(3);
    expect(readStatesOf(recording, "n1")).to.deep.equal([]);
    // Heartbeats still flow, and are acknowledged, but they confirm no read round.
    expect(heartbeatsIn(recording.sent).length).to.be.at.least(6);
    expect(heartbeatsIn(recording.sent).every((m) => m.readId === null)).to.equal(true);

    cluster.droppedTypes.delete("appendResponse");
    const served = cluster.tickUntil(() => readStatesOf(recording, "n1").length > 0, 5);
    expect(served).to.equal(true);
    expect(cluster.node("n1").raft.status().commitIndex).to.equal(1);
    expect(readStatesOf(recording, "n1")).to.deep.equal([{ context: "r1", index: 1 }]);
  });

  it("never returns a ReadState from a partitioned old leader", () => {
    for (const checkQuorum of [true, false]) {
      const label = `checkQuorum ${checkQuorum}`;
      const cluster = newCluster(3, { checkQuorum });
      electLeader(cluster, "n1");
      const recording = record(cluster);
      cluster.partition(["n1"], ["n2", "n3"]);
      expect(cluster.node("n1").raft.readIndex("stale")).to.deep.equal({ kind: "pending" });
      // The majority elects a new leader and commits a write the old leader never sees.
      const elected = cluster.tickUntil(() => cluster.leaders().some((n) => n.id !== "n1"),
        4 * electionTimeoutTicks);
      expect(elected, label).to.equal(true);
      expect(cluster.propose("w")).to.not.equal(null);
      cluster.tick(2 * electionTimeoutTicks);
      cluster.heal();
      cluster.tick(2 * electionTimeoutTicks);
      expect(readStatesOf(recording, "n1"), label).to.deep.equal([]);
      // The read is failed explicitly, so the client retries elsewhere.
      expect(recording.droppedReads.get("n1"), label).to.deep.equal(["stale"]);
      expect(cluster.node("n1").raft.status().role, label).to.equal("follower");
    }
  });

  it("answers a read forwarded by a follower with the leader's commit index", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    const recording = record(cluster);
    const [leader, follower] = [cluster.node("n1"), cluster.node("n2")];
    // The leader commits index 2, and n2 asks before it has heard about that commit.
    leader.raft.propose("a");
    cluster.processReady(leader);
    cluster.deliverDue();
    cluster.processReady(follower);
    cluster.processReady(cluster.node("n3"));
    cluster.deliverDue();
    expect(leader.raft.status().commitIndex).to.equal(2);
    expect(follower.raft.status().commitIndex).to.equal(1);
    expect(follower.raft.readIndex("f1")).to.deep.equal({ kind: "pending" });
    cluster.stabilize();
    expect(recording.sent.filter((m) => m.type === "readIndex").map((m) => [m.from, m.to]))
      .to.deep.equal([["n2", "n1"]]);
    expect(readStatesOf(recording, "n2")).to.deep.equal([{ context: "f1", index: 2 }]);
    expect(readStatesOf(recording, "n1")).to.deep.equal([]);
  });

  it("refuses a read on a follower that knows no leader", () => {
    const cluster = newCluster(3);
    expect(cluster.node("n2").raft.readIndex("r")).to.deep.equal({ kind: "noLeader" });
  });

  it("drops pending reads, local and forwarded, when the leader steps down", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    const recording = record(cluster);
    // No round can confirm while heartbeat answers are lost.
    cluster.droppedTypes.add("heartbeatResponse");
    cluster.node("n1").raft.readIndex("local");
    cluster.node("n2").raft.readIndex("forwarded");
    cluster.stabilize();
    expect(cluster.node("n1").raft.transferLeadership("n3")).to.deep.equal({ kind: "started" });
    cluster.stabilize();
    expect(cluster.leader()?.id).to.equal("n3");
    cluster.droppedTypes.delete("heartbeatResponse");
    cluster.tick(3);
    expect(recording.droppedReads.get("n1")).to.deep.equal(["local"]);
    expect(recording.droppedReads.get("n2")).to.deep.equal(["forwarded"]);
    for (const id of ["n1", "n2", "n3"]) expect(readStatesOf(recording, id), id).to.deep.equal([]);
  });

  it("confirms many reads that arrive before one Ready with a single heartbeat round", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    const recording = record(cluster);
    const contexts = Array.from({ length: 10 }, (_, k) => `r${k}`);
    for (const context of contexts) cluster.node("n1").raft.readIndex(context);
    cluster.stabilize();
    const heartbeats = heartbeatsIn(recording.sent);
    expect(heartbeats.map((m) => m.to)).to.deep.equal(["n2", "n3"]);
    expect(recording.readyBatches).to.deep.equal(
      [contexts.map((context) => ({ context, index: 1 }))]);
  });

  it("serves a read at once in a single-voter cluster", () => {
    const cluster = newCluster(1);
    electLeader(cluster, "n1");
    const recording = record(cluster);
    cluster.node("n1").raft.readIndex("solo");
    cluster.stabilize();
    expect(recording.sent).to.deep.equal([]);
    expect(readStatesOf(recording, "n1")).to.deep.equal([{ context: "solo", index: 1 }]);
  });
});
