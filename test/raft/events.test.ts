/**
 * Ready.events (src/raft/events.ts): what the core did, for the driver's log. A single RaftNode
 * fed hand-made messages shows each vote refusal with its reason; a SimCluster shows an
 * election and a CheckQuorum step-down as their nodes report them. Events are a record only:
 * the tests also check that the messages sent are the ones the rules call for.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  RaftNode,
  SeededRng,
  type NodeId,
  type RaftEvent,
  type RaftInitialState,
  type Ready,
} from "../../src/raft/index.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";

const voters = ["n1", "n2", "n3"];

function newNode(initial?: RaftInitialState): RaftNode {
  return new RaftNode(makeRaftConfig({ id: "n1", voters }), new SeededRng(7), initial);
}

function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

/** A cluster whose nodes' events are collected, per node, in order. */
function watchedCluster(size: number): { cluster: SimCluster; events: Map<NodeId, RaftEvent[]> } {
  const cluster = new SimCluster({ ids: nodeIds(size), seed: 3 });
  const events = new Map<NodeId, RaftEvent[]>();
  cluster.observer = {
    onReady: (node, ready) => {
      events.set(node.id, [...(events.get(node.id) ?? []), ...ready.events]);
    },
  };
  return { cluster, events };
}

describe("Raft events (Ready.events)", () => {
  it("a vote refused because the candidate's log is behind says so, with both logs", () => {
    const node = newNode({ hardState: { term: 2, vote: null, commit: 0 }, snapshot: null,
      entries: [{ index: 1, term: 1, kind: "normal", data: "a" },
        { index: 2, term: 2, kind: "normal", data: "b" }] });
    drain(node);
    node.step({ type: "requestVote", from: "n2", to: "n1", term: 3, lastLogIndex: 5,
      lastLogTerm: 1, transfer: false });
    const ready = drain(node);
    expect(ready.messages).to.deep.equal([{ type: "requestVoteResponse", from: "n1", to: "n2",
      term: 3, granted: false }]);
    expect(ready.events).to.deep.include({ kind: "voteRefused", term: 3, index: 2,
      candidate: "n2", preVote: false, reason: "logBehind",
      detail: "candidate's log (term 1, index 5) is behind ours (term 2, index 2)" });
    // The higher term made it a follower of term 3 first, with that reason.
    expect(ready.events[0]).to.deep.include({ kind: "roleChanged", from: "follower",
      to: "follower", term: 3, reason: "higherTerm" });
  });

  it("a second vote in one term is refused as alreadyVoted, naming the first", () => {
    const node = newNode({ hardState: { term: 4, vote: "n2", commit: 0 }, snapshot: null,
      entries: [] });
    drain(node);
    node.step({ type: "requestVote", from: "n3", to: "n1", term: 4, lastLogIndex: 0,
      lastLogTerm: 0, transfer: false });
    expect(drain(node).events).to.deep.equal([{ kind: "voteRefused", term: 4, index: 0,
      candidate: "n3", preVote: false, reason: "alreadyVoted", detail: "voted for n2 in term 4" }]);
  });

  it("a pre-vote while the leader is heard from is ignored as leaderAlive, and a stale one " +
    "refused as termStale", () => {
    const node = newNode();
    node.step({ type: "heartbeat", from: "n2", to: "n1", term: 5, commit: 0, readId: null });
    drain(node);
    node.step({ type: "preVote", from: "n3", to: "n1", term: 6, lastLogIndex: 0, lastLogTerm: 0 });
    const alive = drain(node);
    expect(alive.messages, "ignored: no answer").to.deep.equal([]);
    expect(alive.events).to.have.length(1);
    expect(alive.events[0]).to.include({ kind: "voteRefused", candidate: "n3", preVote: true,
      reason: "leaderAlive", term: 5 });
    expect((alive.events[0] as { detail: string }).detail).to.match(/heard from leader n2 0 ticks ago/);
    node.step({ type: "preVote", from: "n3", to: "n1", term: 2, lastLogIndex: 0, lastLogTerm: 0 });
    expect(drain(node).events).to.deep.equal([{ kind: "voteRefused", term: 5, index: 0,
      candidate: "n3", preVote: true, reason: "termStale",
      detail: "request for term 2, ours is 5" }]);
  });

  it("an election: the campaign, the votes as they come, the win and who voted", () => {
    const { cluster, events } = watchedCluster(3);
    cluster.node("n1").raft.campaign();
    cluster.stabilize();
    expect(cluster.leader()?.id).to.equal("n1");
    const kinds = (events.get("n1") ?? []).map((event) => event.kind);
    expect(kinds.slice(0, 3)).to.deep.equal(["roleChanged", "campaignStarted", "voteReceived"]);
    const n1 = events.get("n1")!;
    expect(n1).to.deep.include({ kind: "campaignStarted", term: 1, index: 0, preVote: true,
      cause: "electionTimeout", lastLogTerm: 0 });
    expect(n1).to.deep.include({ kind: "roleChanged", term: 1, index: 0, from: "preCandidate",
      to: "candidate", leaderId: null, reason: "electionTimeout" });
    expect(n1).to.deep.include({ kind: "roleChanged", term: 1, index: 1, from: "candidate",
      to: "leader", leaderId: "n1", reason: "electionWon" });
    const elected = n1.find((event) => event.kind === "leaderElected");
    expect(elected).to.include({ term: 1 });
    expect((elected as { votes: readonly string[] }).votes).to.include("n1").and.have.length(2);
    for (const follower of ["n2", "n3"]) {
      const granted = (events.get(follower) ?? []).filter((event) => event.kind === "voteGranted");
      expect(granted.map((event) => (event as { preVote: boolean }).preVote), follower)
        .to.deep.equal([true, false]);
      // A pre-vote is for the term the candidate would campaign in, past the voter's own.
      expect(granted.map((event) => [event.term, (event as { candidateTerm: number })
        .candidateTerm]), follower).to.deep.equal([[0, 1], [1, 1]]);
    }
  });

  it("an isolated leader steps down by CheckQuorum, and says why", () => {
    const { cluster, events } = watchedCluster(3);
    cluster.node("n1").raft.campaign();
    cluster.stabilize();
    events.clear();
    cluster.isolate("n1");
    cluster.tick(30);
    const stepDown = (events.get("n1") ?? []).find((event) => event.kind === "roleChanged");
    expect(stepDown).to.deep.include({ kind: "roleChanged", term: 1, from: "leader",
      to: "follower", leaderId: null, reason: "checkQuorum" });
  });

  it("a follower that drops a divergent suffix reports how many entries, from which index", () => {
    const node = newNode({ hardState: { term: 2, vote: null, commit: 1 }, snapshot: null,
      entries: [{ index: 1, term: 1, kind: "normal", data: "a" },
        { index: 2, term: 2, kind: "normal", data: "b" },
        { index: 3, term: 2, kind: "normal", data: "c" }] });
    drain(node);
    node.step({ type: "append", from: "n2", to: "n1", term: 3, prevLogIndex: 1, prevLogTerm: 1,
      entries: [{ index: 2, term: 3, kind: "normal", data: "x" }], leaderCommit: 1 });
    const ready = drain(node);
    expect(ready.events).to.deep.include({ kind: "logTruncated", term: 3, index: 2,
      fromIndex: 2, count: 2, leaderId: "n2" });
    expect(ready.entries.map((entry) => entry.data)).to.deep.equal(["x"]);
  });
});
