/**
 * ProgressTracker on its own. Goal: the quorum arithmetic Raft relies on, over both majorities
 * while joint and never over learners: the commit index a quorum holds (Figure 2), a quorum
 * active (CheckQuorum) or acknowledging a read (ReadIndex), the tally of votes (§5.2); and a
 * member added unheard counts as silent until it answers.
 */
import { expect } from "chai";
import type { ConfState } from "../../src/raft/conf-state.js";
import { ProgressTracker } from "../../src/raft/tracker.js";

const limits = { inflightAppendsMax: 4, inflightBytesMax: 1 << 20, electionTimeoutTicks: 10 };
const joint: ConfState = { voters: ["n1", "n2", "n3"], learners: ["n6"],
  votersOutgoing: ["n1", "n4", "n5"] };

function trackerWithMatches(conf: ConfState, matches: Record<string, number>): ProgressTracker {
  const tracker = new ProgressTracker(conf, limits);
  for (const [id, match] of Object.entries(matches)) tracker.add(id, 1, true).maybeUpdate(match);
  return tracker;
}

describe("raft: ProgressTracker", () => {
  it("commits what a majority of each side holds while joint, learners not counted", () => {
    // Incoming n1..n3: a majority holds 7 (n1 9, n2 7). Outgoing n1, n4, n5: 5 (n1 9, n4 5).
    const tracker = trackerWithMatches(joint,
      { n1: 9, n2: 7, n3: 2, n4: 5, n5: 1, n6: 100 });
    expect(tracker.committedIndex()).to.equal(5);
    tracker.get("n5")!.maybeUpdate(8);
    expect(tracker.committedIndex()).to.equal(7);
    // Out of the joint configuration: the incoming side alone.
    tracker.setQuorumConf({ voters: ["n1", "n2", "n3"], learners: ["n6"], votersOutgoing: [] });
    expect(tracker.committedIndex()).to.equal(7);
    expect(tracker.voterIds).to.deep.equal(["n1", "n2", "n3"]);
    expect(tracker.isVoter("n6")).to.equal(false);
  });

  it("tells a quorum active, or acknowledging, only with a majority of each side", () => {
    const tracker = trackerWithMatches(joint, { n1: 0, n2: 0, n3: 0, n4: 0, n5: 0, n6: 0 });
    tracker.resetRecentActive("n1");
    tracker.get("n2")!.markActive();
    tracker.get("n6")!.markActive();
    expect(tracker.quorumActive()).to.equal(false);
    tracker.get("n4")!.markActive();
    expect(tracker.quorumActive()).to.equal(true);
    tracker.resetRecentActive("n1");
    expect(tracker.quorumActive()).to.equal(false);
    expect(tracker.isQuorum(new Set(["n1", "n2", "n6"]))).to.equal(false);
    expect(tracker.isQuorum(new Set(["n1", "n2", "n5"]))).to.equal(true);
  });

  it("tallies votes over the voters only, and resets them", () => {
    const tracker = new ProgressTracker(joint, limits);
    tracker.recordVote("n1", true);
    tracker.recordVote("n6", true);
    tracker.recordVote("n2", true);
    expect(tracker.tallyVotes().result).to.equal("pending");
    tracker.recordVote("n4", false);
    tracker.recordVote("n5", false);
    expect(tracker.tallyVotes()).to.deep.equal({ result: "lost", granted: 3 });
    expect(tracker.grantedVoters()).to.deep.equal(["n1", "n2", "n6"]);
    tracker.resetVotes();
    expect(tracker.tallyVotes()).to.deep.equal({ result: "pending", granted: 0 });
    expect(tracker.quorum()).to.equal(2);
  });

  it("adds a member unheard as silent for an election timeout, and removes it", () => {
    const tracker = new ProgressTracker(joint, limits);
    expect(tracker.add("n6", 12, false).ticksSinceActive).to.equal(10);
    expect(tracker.add("n2", 12, true).ticksSinceActive).to.equal(0);
    tracker.tickSilence();
    expect([...tracker.values()].map((progress) => progress.ticksSinceActive))
      .to.deep.equal([11, 1]);
    expect(tracker.get("n6")!.next).to.equal(12);
    expect(tracker.remove("n6")?.next).to.equal(12);
    expect([...tracker.ids()]).to.deep.equal(["n2"]);
    tracker.clearProgress();
    expect(tracker.has("n2")).to.equal(false);
  });
});
