/**
 * News of a commit (AppendEntriesRequest.commitOnly): after a commit, a leader tells each
 * follower in replicate state with an empty append marked commitOnly, which the follower
 * answers only when it refuses it. A success would only repeat what the answers to the entries
 * already said, and cost a message per follower on every write at one client.
 *
 * Method: one RaftNode as the follower n1 of a leader n2 of term 1, messages stepped in by hand
 * and the answers read from its Ready; a RaftNode leader whose inner core is reached for the
 * probe case; and a three-node SimCluster for the leader's side and for a lost acknowledgement.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  RaftNode,
  SeededRng,
  type Entry,
  type RaftMessage,
  type Ready,
} from "../../src/raft/index.js";
import { sendAppend } from "../../src/raft/leader.js";
import type { Raft } from "../../src/raft/raft.js";
import { addObserver, makeCluster, waitForLeader, electionTimeoutTicks } from "./helpers.js";

function entry(index: number, term: number): Entry {
  return { index, term, kind: "normal", data: `e${index}` };
}

/** n1, a follower of term 1 holding `entries`, none of them committed. */
function follower(entries: readonly Entry[]): RaftNode {
  return new RaftNode(makeRaftConfig({ id: "n1", voters: ["n1", "n2", "n3"] }), new SeededRng(3),
    { hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries });
}

function commitNews(prevLogIndex: number, prevLogTerm: number, leaderCommit: number,
  entries: readonly Entry[] = []): RaftMessage {
  return { type: "append", from: "n2", to: "n1", term: 1, prevLogIndex, prevLogTerm, entries,
    leaderCommit, commitOnly: true };
}

function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

describe("raft: news of a commit", () => {
  it("is taken without an answer when the follower holds the entry it names", () => {
    const node = follower([entry(1, 1), entry(2, 1)]);
    node.step(commitNews(2, 1, 2));
    const ready = drain(node);
    expect(ready.messages.filter((m) => m.type === "appendResponse")).to.deep.equal([]);
    expect(ready.violations).to.deep.equal([]);
    expect(node.status().commitIndex).to.equal(2);
    expect(node.status().leaderId).to.equal("n2");
  });

  it("never commits past the entry it names (Figure 2: min(leaderCommit, last new index))",
    () => {
      const node = follower([entry(1, 1), entry(2, 1), entry(3, 1)]);
      node.step(commitNews(2, 1, 3));
      drain(node);
      expect(node.status().commitIndex).to.equal(2);
    });

  it("is answered with a refusal and a hint when the follower lacks the entry it names", () => {
    // The entries before it were lost on the way (or to a restart): the leader must hear of it.
    const node = follower([entry(1, 1)]);
    node.step(commitNews(3, 1, 3));
    const answers = drain(node).messages.filter((m) => m.type === "appendResponse");
    expect(answers).to.have.length(1);
    expect(answers[0]).to.include({ to: "n2", success: false, index: 3, hintIndex: 1 });
    expect(node.status().commitIndex).to.equal(0);
  });

  it("is refused and reported when it carries entries (they would go unanswered)", () => {
    const node = follower([entry(1, 1)]);
    node.step(commitNews(1, 1, 2, [entry(2, 1)]));
    const ready = drain(node);
    expect(ready.violations.map((v) => ({ type: v.type, reason: v.reason })))
      .to.deep.equal([{ type: "append", reason: "entriesMalformed" }]);
    expect(ready.messages).to.deep.equal([]);
    expect(node.status().lastLogIndex).to.equal(1);
  });

  it("is what a leader sends its followers in replicate state after a commit", () => {
    const cluster = makeCluster(3, 11);
    const leader = waitForLeader(cluster, 2 * electionTimeoutTicks);
    cluster.stabilize();
    const sent: RaftMessage[] = [];
    addObserver(cluster, { onSend: (_node, message) => sent.push(message) });
    expect(leader.raft.propose("x").kind).to.equal("accepted");
    cluster.stabilize();
    const news = sent.filter((m) => m.type === "append" && m.commitOnly === true);
    expect(news.map((m) => m.to).sort()).to.deep.equal(
      cluster.ids.filter((id) => id !== leader.id).sort());
    for (const m of news) expect(m.type === "append" && m.entries.length).to.equal(0);
    // Every append that carried entries was answered; the news were not.
    const withEntries = sent.filter((m) => m.type === "append" && m.entries.length > 0);
    expect(sent.filter((m) => m.type === "appendResponse")).to.have.length(withEntries.length);
    for (const node of cluster.upNodes()) {
      expect(node.raft.status().commitIndex).to.equal(leader.raft.status().lastLogIndex);
    }
  });

  it("is a plain, answered append to a follower in probe state (its answer is the probe's)",
    () => {
      const node = new RaftNode(makeRaftConfig({ id: "n1", voters: ["n1", "n2", "n3"] }),
        new SeededRng(5), { hardState: { term: 1, vote: null, commit: 1 }, snapshot: null,
          entries: [entry(1, 1)] });
      node.campaign();
      node.step({ type: "preVoteResponse", from: "n2", to: "n1", term: 2, granted: true });
      node.step({ type: "requestVoteResponse", from: "n2", to: "n1", term: 2, granted: true });
      expect(node.role).to.equal("leader");
      drain(node);
      const last = node.status().lastLogIndex;
      for (const from of ["n2", "n3"]) {
        node.step({ type: "appendResponse", from, to: "n1", term: 2, success: true, index: last,
          hintIndex: 0, hintTerm: 0 });
      }
      drain(node);
      // The core behind the node: n3 falls back to probe (as after a refusal), with nothing
      // new to send, and the leader has news of a commit for both.
      const raft = (node as unknown as { raft: Raft }).raft;
      raft.tracker.get("n3")!.becomeProbe();
      expect(sendAppend(raft, "n2", true, true)).to.equal(true);
      expect(sendAppend(raft, "n3", true, true)).to.equal(true);
      const appends = drain(node).messages.filter((m) => m.type === "append");
      expect(appends.map((m) => ({ to: m.to, entries: m.type === "append" && m.entries.length,
        commitOnly: m.type === "append" && m.commitOnly === true })))
        .to.deep.equal([{ to: "n2", entries: 0, commitOnly: true },
          { to: "n3", entries: 0, commitOnly: false }]);
      // The probe is outstanding until answered: nothing more goes to n3 meanwhile.
      expect(node.status().progress["n3"]!.state).to.equal("probe");
      expect(sendAppend(raft, "n3", true, true)).to.equal(false);
    });

  it("leaves a lost acknowledgement to the next heartbeat's answer to repair", () => {
    // n3's answer to the entry is lost; the entry commits through n2, and n3 gets unanswered
    // news of it. The leader learns n3's match from the append it sends when n3 answers a
    // heartbeat (leader.ts, handleHeartbeatResponse): within a heartbeat interval or two.
    const cluster = makeCluster(3, 11);
    const leader = waitForLeader(cluster, 2 * electionTimeoutTicks);
    cluster.stabilize();
    const slow = cluster.ids.find((id) => id !== leader.id)!;
    cluster.cutLink(slow, leader.id);
    expect(leader.raft.propose("x").kind).to.equal("accepted");
    cluster.stabilize();
    const last = leader.raft.status().lastLogIndex;
    expect(leader.raft.status().commitIndex).to.equal(last);
    expect(leader.raft.status().progress[slow]!.match).to.be.below(last);
    cluster.heal();
    let ticks = 0;
    while (leader.raft.status().progress[slow]!.match < last && ticks < electionTimeoutTicks) {
      cluster.tick(1);
      cluster.stabilize();
      ticks++;
    }
    expect(leader.raft.status().progress[slow]!.match).to.equal(last);
    expect(leader.raft.status().role).to.equal("leader");
    expect(ticks).to.be.below(electionTimeoutTicks);
  });
});
