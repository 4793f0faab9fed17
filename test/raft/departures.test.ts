/**
 * A removed node learns that its removal committed (src/raft/departures.ts). The leader stops
 * replicating to a node once it applies the change that removes it, and commits and applies
 * that change in one Ready, so without help the removed node holds the change but never learns
 * it committed: it never applies its removal (its driver would stop it) and campaigns on. The
 * leader therefore sends it, for an election timeout, an append that carries the commit of its
 * removal and nothing past it; the node counts in no quorum meanwhile (dissertation §4: a
 * removed server must not disrupt). Each test runs a SimCluster with its safety checker (which
 * also fails on any protocol violation, so the departing node's answers must be dropped
 * quietly); time is tick(), and `stabilize()` alone delivers messages with no time passing.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  type ConfChange,
  type Entry,
  type NodeId,
  type RaftMessage,
} from "../../src/raft/index.js";
import { Departures, departuresMax } from "../../src/raft/departures.js";
import { RaftLog } from "../../src/raft/log.js";
import { SafetyChecker } from "../../src/sim/checker.js";
import { SimCluster } from "../../src/sim/cluster.js";

const electionTimeoutTicks = 10;

interface Watched {
  readonly cluster: SimCluster;
  /** Every message put on the wire, in order. */
  readonly sent: RaftMessage[];
  /** Per node, the committed entries of each Ready it processed, in order. */
  readonly handedOut: Map<NodeId, (readonly Entry[])[]>;
}

/** n1..n3 vote, n4 starts outside; n1 leads with its first entry committed. */
function watchedCluster(entriesPerAppendMax?: number): Watched {
  const cluster = new SimCluster({ ids: ["n1", "n2", "n3", "n4"], voters: ["n1", "n2", "n3"],
    seed: 11, config: { electionTimeoutTicks,
      ...(entriesPerAppendMax === undefined ? {} : { entriesPerAppendMax }) } });
  const checker = new SafetyChecker(cluster);
  const sent: RaftMessage[] = [];
  const handedOut = new Map<NodeId, (readonly Entry[])[]>();
  cluster.observer = {
    onReady: (node, ready) => {
      handedOut.set(node.id, [...(handedOut.get(node.id) ?? []), ready.committedEntries]);
      checker.onReady(node, ready);
    },
    onSend: (node, message) => {
      sent.push(message);
      checker.onSend(node, message);
    },
    onApply: (node, entry) => checker.onApply(node, entry),
  };
  cluster.node("n1").raft.campaign();
  cluster.stabilize();
  expect(cluster.leader()?.id).to.equal("n1");
  return { cluster, sent, handedOut };
}

function change(cluster: SimCluster, confChange: ConfChange): number {
  const result = cluster.node("n1").raft.proposeConfChange(confChange);
  expect(result.kind).to.equal("accepted");
  return (result as { index: number }).index;
}

/** Appends from n1 to `to` among `sent[from..]`; with `commitMin`, those that carry it. */
function appendsTo(sent: readonly RaftMessage[], to: NodeId, from = 0,
  commitMin = 0): RaftMessage[] {
  return sent.slice(from).filter((m) => m.from === "n1" && m.to === to && m.type === "append" &&
    m.leaderCommit >= commitMin);
}

function removed(cluster: SimCluster, id: NodeId, removalIndex: number): void {
  const status = cluster.node(id).raft.status();
  expect(status.commitIndex, `${id} commit`).to.be.at.least(removalIndex);
  expect(status.appliedIndex, `${id} applied`).to.be.at.least(removalIndex);
  expect([...status.voters, ...status.learners], `${id} conf`).to.not.include(id);
}

describe("departures: a removed node learns that its removal committed", () => {
  it("a removed follower applies its removal with no other traffic, though the leader " +
    "committed and applied it in one Ready", () => {
    const { cluster, sent, handedOut } = watchedCluster();
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    removed(cluster, "n3", removalIndex);
    // The case that left it behind: the leader handed the change out in the Ready that also
    // first sent its commit, so no append or heartbeat carried that commit to n3 before n1
    // dropped n3's progress; only the departure append did.
    const handed = handedOut.get("n1")!.flat().map((entry) => entry.index);
    expect(handed).to.include(removalIndex);
    const toN3 = sent.filter((m) => m.from === "n1" && m.to === "n3");
    const carrying = toN3.filter((m) => m.type === "append" && m.leaderCommit >= removalIndex);
    expect(carrying, "only the departure append carries the commit").to.have.length(1);
    const heartbeats = toN3.filter((m) => m.type === "heartbeat" && m.commit >= removalIndex);
    expect(heartbeats).to.have.length(0);
  });

  it("a removed learner applies its removal too", () => {
    const { cluster } = watchedCluster();
    change(cluster, { ops: [{ type: "addLearner", id: "n4" }] });
    cluster.stabilize();
    cluster.propose("x");
    cluster.stabilize();
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n4" }] });
    cluster.stabilize();
    removed(cluster, "n4", removalIndex);
  });

  it("a removed node that never got the change receives it, on a later heartbeat round", () => {
    const { cluster, sent } = watchedCluster();
    cluster.cutLink("n1", "n3");
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.propose("after");
    cluster.stabilize();
    expect(cluster.node("n3").raft.status().lastLogIndex).to.be.below(removalIndex);
    cluster.heal();
    const before = sent.length;
    cluster.tick(2);
    removed(cluster, "n3", removalIndex);
    // It is sent up to its removal and no further, and told to commit no further.
    const appends = appendsTo(sent, "n3", before);
    expect(appends).to.not.have.length(0);
    for (const m of appends) {
      if (m.type !== "append") continue;
      expect(m.prevLogIndex + m.entries.length).to.equal(removalIndex);
      expect(m.leaderCommit).to.equal(removalIndex);
    }
    expect(cluster.node("n3").raft.status().lastLogIndex).to.equal(removalIndex);
  });

  it("a removed node whose answers were lost, so that its commit is past the match the " +
    "leader recorded, learns it too", () => {
    const { cluster } = watchedCluster();
    cluster.cutLink("n3", "n1");
    cluster.propose("a");
    cluster.stabilize();
    cluster.propose("b");
    cluster.stabilize();
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    // n3 holds the change and has committed past what n1 knows it holds (1: n3's answers were
    // lost): an append from that match lies below n3's commit, and n3 ignores it (it only says
    // where it is). The commit notice (prev at the change) tells it if it holds the change;
    // its answer, once heard, moves where the next append starts if it does not.
    cluster.heal();
    cluster.tick(2);
    removed(cluster, "n3", removalIndex);
    expect(cluster.node("n3").raft.status().lastLogIndex).to.equal(removalIndex);
  });

  it("a removed node several appends behind is caught up to its removal, one append after " +
    "another, as it answers", () => {
    const { cluster } = watchedCluster(2);
    cluster.cutLink("n1", "n3");
    for (let k = 0; k < 8; k++) cluster.propose(`entry-${k}`);
    cluster.stabilize();
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    expect(cluster.node("n3").raft.status().lastLogIndex).to.be.below(removalIndex - 4);
    cluster.heal();
    cluster.tick(electionTimeoutTicks - 2);
    removed(cluster, "n3", removalIndex);
  });

  it("a removed node cut off for longer than its departure learns it when it is heard again",
    () => {
      const { cluster, sent } = watchedCluster();
      cluster.cutLink("n1", "n3");
      const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
      cluster.stabilize();
      const raft = (cluster.node("n1").raft as unknown as { raft: { departures: Departures } })
        .raft;
      expect(cluster.node("n3").raft.status().lastLogIndex).to.be.below(removalIndex);
      // n3 hears nothing for three election timeouts: its departure lapses, and it campaigns
      // (its pre-votes, cut off here, would be refused: n1 holds its lease).
      cluster.isolate("n3");
      cluster.tick(3 * electionTimeoutTicks);
      expect(raft.departures.has("n3")).to.equal(false);
      // Healed, its next pre-vote tells n1 it still runs: n1 sends it the entries after the
      // last one its pre-vote shows they share, up to its removal, and the commit of that.
      cluster.heal();
      const mark = sent.length;
      cluster.tick(3 * electionTimeoutTicks);
      expect(sent.slice(mark).some((m) => m.from === "n3" && m.type === "preVote")).to.equal(true);
      removed(cluster, "n3", removalIndex);
      expect(cluster.node("n3").raft.status().lastLogIndex).to.equal(removalIndex);
      expect(cluster.leader()?.id).to.equal("n1");
    });

  it("a removed former leader whose log diverged (entries that never committed) learns it " +
    "when it is heard again", () => {
    const { cluster } = watchedCluster();
    cluster.isolate("n1");
    cluster.node("n1").raft.propose("lost-1");
    cluster.node("n1").raft.propose("lost-2");
    cluster.tick(3 * electionTimeoutTicks);
    const leader = cluster.leader();
    expect(leader?.id).to.be.oneOf(["n2", "n3"]);
    const proposed = leader!.raft.proposeConfChange({ ops: [{ type: "remove", id: "n1" }] });
    expect(proposed.kind).to.equal("accepted");
    const removalIndex = (proposed as { index: number }).index;
    cluster.tick(3 * electionTimeoutTicks);
    // n1's last entries are its own, of its old term, where the others have the new leader's.
    const n1 = cluster.node("n1").raft.status();
    expect(n1.lastLogIndex).to.be.at.least(3);
    expect(cluster.node("n1").raft.termAt(3)).to.not.equal(leader!.raft.termAt(3));
    cluster.heal();
    cluster.tick(4 * electionTimeoutTicks);
    removed(cluster, "n1", removalIndex);
    expect(cluster.node("n1").raft.termAt(3)).to.equal(leader!.raft.termAt(3));
  });

  it("a node added back while departing is a member again, not departing", () => {
    const { cluster } = watchedCluster();
    change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    const raft = (cluster.node("n1").raft as unknown as { raft: { departures: Departures } })
      .raft;
    expect(raft.departures.has("n3")).to.equal(true);
    const addIndex = change(cluster, { ops: [{ type: "addLearner", id: "n3" }] });
    expect(raft.departures.has("n3")).to.equal(false);
    cluster.tick(2);
    cluster.stabilize();
    expect(Object.keys(cluster.node("n1").raft.status().progress)).to.include("n3");
    expect(cluster.node("n3").raft.status().appliedIndex).to.be.at.least(addIndex);
  });

  it("a follower removed with the leader (leaving a joint configuration) learns it too, " +
    "before the leader steps down", () => {
    const { cluster } = watchedCluster();
    change(cluster, { ops: [{ type: "addLearner", id: "n4" }] });
    cluster.stabilize();
    cluster.tick(2);
    const jointIndex = change(cluster, { ops: [{ type: "promote", id: "n4" },
      { type: "remove", id: "n1" }, { type: "remove", id: "n3" }] });
    cluster.stabilize();
    // The entry leaving the joint configuration removes n1 and n3 at once; n1 steps down as
    // it applies it, and told n3 first.
    expect(cluster.leader()?.id).to.be.oneOf(["n2", "n4"]);
    removed(cluster, "n3", jointIndex + 1);
    expect(cluster.node("n3").raft.status().votersOutgoing).to.deep.equal([]);
    removed(cluster, "n1", jointIndex + 1);
  });

  it("a departing node counts in no quorum: with the other follower cut off, nothing commits",
    () => {
      const { cluster } = watchedCluster();
      const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
      cluster.stabilize();
      cluster.isolate("n2");
      const committed = cluster.node("n1").raft.status().commitIndex;
      const index = cluster.propose("not-committed")!;
      cluster.tick(electionTimeoutTicks - 1);
      // n3 heard from n1 all along, and answered; its answers moved nothing.
      removed(cluster, "n3", removalIndex);
      const leader = cluster.node("n1").raft.status();
      expect(leader.commitIndex).to.equal(committed);
      expect(leader.commitIndex).to.be.below(index);
      expect(Object.keys(leader.progress)).to.not.include("n3");
      // Nor for CheckQuorum: n1 hears from no voter but itself, and steps down at the first
      // check that n2 was silent through (n2 answered in the window before it was cut off).
      cluster.tick(2 * electionTimeoutTicks);
      expect(cluster.node("n1").raft.status().role).to.not.equal("leader");
      expect(cluster.node("n1").raft.status().commitIndex).to.equal(committed);
    });

  it("is told for an election timeout, then forgotten while it is not heard from", () => {
    const { cluster, sent } = watchedCluster();
    // Both ways: a removed node that is heard from again is told again (the test below).
    cluster.isolate("n3");
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    // The appends that tell it (the one replicating the change while pending does not).
    const telling = (): RaftMessage[] => appendsTo(sent, "n3", 0, removalIndex);
    expect(telling(), "at once").to.have.length(1);
    cluster.tick(electionTimeoutTicks);
    // Once at removal, then on each heartbeat round (one per tick) until the bound.
    expect(telling()).to.have.length(electionTimeoutTicks);
    cluster.tick(3 * electionTimeoutTicks);
    expect(telling()).to.have.length(electionTimeoutTicks);
    expect(cluster.node("n3").raft.status().commitIndex).to.be.below(removalIndex);
  });

  it("is forgotten by a leader that steps down, even if it leads again", () => {
    const { cluster, sent } = watchedCluster();
    // Both ways: a removed node heard from again would be told again.
    cluster.isolate("n3");
    const removalIndex = change(cluster, { ops: [{ type: "remove", id: "n3" }] });
    cluster.stabilize();
    cluster.tick(1);
    expect(appendsTo(sent, "n3", 0, removalIndex)).to.have.length(2);
    expect(cluster.node("n1").raft.transferLeadership("n2").kind).to.equal("started");
    cluster.stabilize();
    expect(cluster.leader()?.id).to.equal("n2");
    const before = sent.length;
    cluster.tick(1);
    // Back to n1 within the bound: as a new leader it departs no one.
    expect(cluster.node("n2").raft.transferLeadership("n1").kind).to.equal("started");
    cluster.stabilize();
    expect(cluster.leader()?.id).to.equal("n1");
    cluster.tick(electionTimeoutTicks);
    expect(appendsTo(sent, "n3", before)).to.have.length(0);
  });

  it("remembers at most departuresMax nodes, the oldest forgotten first", () => {
    const departures = new Departures();
    for (let k = 1; k <= departuresMax + 4; k++) departures.add(`x${k}`, 0, 1);
    expect(departures.size()).to.equal(departuresMax);
    expect(departures.has("x4")).to.equal(false);
    expect(departures.has("x5")).to.equal(true);
    departures.tick(2);
    expect(departures.size()).to.equal(departuresMax);
    departures.tick(2);
    expect(departures.size()).to.equal(0);
  });

  it("sends what the log still holds up to the removal, and the commit notice alone where " +
    "that does not reach the removal", () => {
    const config = makeRaftConfig({ id: "n1", voters: ["n1"] }, { entriesPerAppendMax: 2 });
    const entries: Entry[] = [6, 7, 8, 9].map((index) => ({ index, term: 2, kind: "normal",
      data: "" }));
    const log = new RaftLog({ index: 5, term: 2, voters: ["n1"] }, entries, 9);
    const departures = new Departures();
    departures.add("behind", 3, 8);
    departures.add("ahead", 9, 8);
    departures.add("lagging", 5, 8);
    const notice = (to: string) => ({ type: "append", from: "n1", to, term: 2, prevLogIndex: 8,
      prevLogTerm: 2, entries: [], leaderCommit: 8 });
    expect(departures.appends("n1", 2, log, config)).to.deep.equal([
      notice("behind"),
      { type: "append", from: "n1", to: "ahead", term: 2, prevLogIndex: 9, prevLogTerm: 2,
        entries: [], leaderCommit: 9 },
      { type: "append", from: "n1", to: "lagging", term: 2, prevLogIndex: 5, prevLogTerm: 2,
        entries: entries.slice(0, 2), leaderCommit: 7 },
      notice("lagging"),
    ]);
    // An answer moves where the next append starts, within the log; a bogus one does nothing.
    departures.noteMatch("lagging", 7, log.lastIndex());
    departures.noteMatch("lagging", 99, log.lastIndex());
    departures.noteMatch("lagging", Number.NaN, log.lastIndex());
    expect(departures.appends("n1", 2, log, config, "lagging")).to.deep.equal([
      { type: "append", from: "n1", to: "lagging", term: 2, prevLogIndex: 7, prevLogTerm: 2,
        entries: entries.slice(2, 3), leaderCommit: 8 },
    ]);
  });
});
