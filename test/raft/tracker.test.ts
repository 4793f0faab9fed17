/**
 * ProgressTracker on its own. Goal: the quorum arithmetic Raft relies on, over both majorities
 * while joint (§4.1 of the dissertation: a decision needs each side) and never over learners:
 * the commit index a quorum holds (Figure 2), a quorum active (CheckQuorum) or acknowledging a
 * read (ReadIndex), the tally of votes (§5.2); and a member added unheard counts as silent
 * until it answers. The numbers are chosen so that counting one majority over every member,
 * counting the learner, or counting one side only each gives another answer.
 */
import { expect } from "chai";
import type { ConfState } from "../../src/raft/conf-state.js";
import { ProgressTracker } from "../../src/raft/tracker.js";

const limits = { inflightAppendsMax: 4, inflightBytesMax: 1 << 20, electionTimeoutTicks: 10 };
/** Four voters (a majority is 3) and a learner, n6. */
const simple: ConfState = { voters: ["n1", "n2", "n3", "n7"], learners: ["n6"],
  votersOutgoing: [] };
/** Joint: the four above coming in, n1, n4 and n5 (a majority is 2) going out. */
const joint: ConfState = { ...simple, votersOutgoing: ["n1", "n4", "n5"] };
const matches = { n1: 9, n2: 8, n3: 2, n7: 1, n4: 1, n5: 1, n6: 100 };

function tracked(conf: ConfState): ProgressTracker {
  const tracker = new ProgressTracker(conf, limits);
  for (const [id, match] of Object.entries(matches)) tracker.add(id, 1, true).maybeUpdate(match);
  return tracker;
}

describe("raft: ProgressTracker", () => {
  it("commits what a majority of each side holds, learners not counted", () => {
    // Incoming: the third highest of 9, 8, 2, 1 (with the learner's 100 it would be 8).
    expect(tracked(simple).committedIndex()).to.equal(2);
    // Outgoing: the second highest of 9, 1, 1; one majority over all seven members gives 2.
    const tracker = tracked(joint);
    expect(tracker.committedIndex()).to.equal(1);
    tracker.get("n4")!.maybeUpdate(5);
    expect(tracker.committedIndex()).to.equal(2);
    tracker.setQuorumConf(simple);
    tracker.get("n2")!.maybeUpdate(9);
    tracker.get("n3")!.maybeUpdate(9);
    expect(tracker.committedIndex()).to.equal(9);
  });

  it("names the voters of both sides while joint, each once", () => {
    const tracker = tracked(joint);
    expect(tracker.voterIds).to.deep.equal(["n1", "n2", "n3", "n4", "n5", "n7"]);
    expect(tracker.voterCount()).to.equal(6);
    expect(tracker.isVoter("n4")).to.equal(true);
    expect(tracker.isVoter("n6")).to.equal(false);
    expect(tracker.quorum()).to.equal(3);
    tracker.setQuorumConf(simple);
    expect(tracker.isVoter("n4")).to.equal(false);
    expect(tracker.voterCount()).to.equal(4);
  });

  it("tells a quorum active, or acknowledging, only with a majority of each side", () => {
    const tracker = tracked(joint);
    tracker.resetRecentActive("n1");
    for (const id of ["n2", "n6"]) tracker.get(id)!.markActive();
    // n1 and n2 of four incoming voters, and the learner: no majority there.
    expect(tracker.quorumActive()).to.equal(false);
    tracker.get("n3")!.markActive();
    // The incoming majority, but only n1 of the outgoing side.
    expect(tracker.quorumActive()).to.equal(false);
    tracker.get("n5")!.markActive();
    expect(tracker.quorumActive()).to.equal(true);
    tracker.resetRecentActive("n1");
    expect(tracker.quorumActive()).to.equal(false);
    expect(tracker.isQuorum(new Set(["n1", "n2", "n6", "n4"]))).to.equal(false);
    expect(tracker.isQuorum(new Set(["n1", "n2", "n3"]))).to.equal(false);
    expect(tracker.isQuorum(new Set(["n1", "n2", "n3", "n5"]))).to.equal(true);
  });

  it("tallies the voters' answers, a later answer replacing an earlier one", () => {
    const tracker = new ProgressTracker(joint, limits);
    for (const id of ["n1", "n2", "n6"]) tracker.recordVote(id, true);
    tracker.recordVote("n3", false);
    tracker.recordVote("n4", true);
    // Outgoing won (n1, n4), incoming not yet (n1, n2 of four; n6 is a learner).
    expect(tracker.tallyVotes()).to.deep.equal({ result: "pending", granted: 4 });
    tracker.recordVote("n7", false);
    expect(tracker.tallyVotes().result).to.equal("lost");
    tracker.recordVote("n3", true);
    expect(tracker.tallyVotes()).to.deep.equal({ result: "won", granted: 5 });
    expect(tracker.grantedIds()).to.deep.equal(["n1", "n2", "n3", "n4", "n6"]);
    tracker.resetVotes();
    expect(tracker.tallyVotes()).to.deep.equal({ result: "pending", granted: 0 });
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
