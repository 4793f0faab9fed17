/**
 * Protocol violations: the core must survive any value a peer puts in a well-formed message.
 * A peer that lost its disk, was restored from an old copy, runs a buggy build or is hostile can
 * acknowledge indexes we never sent, tell us to commit past our log, or act as a second leader
 * of our term. None of that is our bug, so none of it may reach an InvariantError: the core
 * drops the message (or its impossible part), reports it in Ready.violations, and keeps going.
 *
 * Method: each test builds one RaftNode from a hand-written log, puts it in the role it needs
 * (a leader wins by hand-delivered votes), steps one impossible message into it, and checks
 * three things: step() did not throw, the next Ready reports the violation with its reason, and
 * the state stays sane (commit <= last index, every follower's match <= last index < next,
 * the expected role and term). The two regressions from the hostile test come first. A seeded
 * fuzz test at the end steps a few thousand random hostile messages into each role.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  RaftNode,
  SeededRng,
  violationsPerReadyMax,
  type Entry,
  type NodeId,
  type ProtocolViolation,
  type RaftInitialState,
  type RaftMessage,
  type Ready,
  type Snapshot,
  type ViolationReason,
} from "../../src/raft/index.js";

const voters = ["n1", "n2", "n3"];

function entry(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, kind: "normal", data };
}

function logOfTerms(terms: readonly number[]): Entry[] {
  return terms.map((term, k) => entry(k + 1, term));
}

function restored(term: number, entries: readonly Entry[], commit = 0,
  snapshot: Snapshot | null = null): RaftInitialState {
  return { hardState: { term, vote: null, commit }, snapshot, entries };
}

function newNode(initial: RaftInitialState = restored(0, []), id: NodeId = "n1"): RaftNode {
  return new RaftNode(makeRaftConfig({ id, voters }), new SeededRng(7), initial);
}

/** Runs the driver once: the Ready is persisted, sent and applied. */
function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

/** Makes n1 the leader of term `term` + 1 by hand-delivered (pre-)votes from n2. */
function makeLeader(initial: RaftInitialState): RaftNode {
  const node = newNode(initial);
  const term = initial.hardState.term + 1;
  node.campaign();
  node.step({ type: "preVoteResponse", from: "n2", to: "n1", term, granted: true });
  node.step({ type: "requestVoteResponse", from: "n2", to: "n1", term, granted: true });
  expect(node.role).to.equal("leader");
  drain(node);
  return node;
}

/** Steps `m` (it must not throw) and returns the violations of the next Ready. */
function stepAndDrain(node: RaftNode, m: RaftMessage):
  { ready: Ready; violations: ProtocolViolation[] } {
  expect(() => node.step(m)).not.to.throw();
  const ready = drain(node);
  return { ready, violations: [...ready.violations] };
}

function expectViolation(violations: readonly ProtocolViolation[], from: NodeId,
  type: RaftMessage["type"], reason: ViolationReason): void {
  expect(violations.map((v) => ({ from: v.from, type: v.type, reason: v.reason })))
    .to.deep.include({ from, type, reason });
}

/** commit <= last index; on a leader, match <= last index and match < next <= last index + 1. */
function expectSane(node: RaftNode): void {
  const status = node.status();
  expect(status.commitIndex).to.be.at.most(status.lastLogIndex);
  expect(status.appliedIndex).to.be.at.most(status.commitIndex);
  for (const [id, progress] of Object.entries(status.progress)) {
    expect(progress.match, `match of ${id}`).to.be.at.most(status.lastLogIndex);
    expect(progress.next, `next of ${id}`).to.be.above(progress.match);
    expect(progress.next, `next of ${id}`).to.be.at.most(status.lastLogIndex + 1);
  }
}

/** expectSane without chai, for the fuzz loop's speed. */
function isSane(node: RaftNode): boolean {
  const status = node.status();
  const last = status.lastLogIndex;
  return status.commitIndex <= last && status.appliedIndex <= status.commitIndex &&
    Object.values(status.progress).every((p) => p.match <= last && p.match < p.next &&
      p.next <= last + 1);
}

function appendResponse(fields: { from?: NodeId; term: number; success: boolean; index: number;
  hintIndex?: number; hintTerm?: number }): RaftMessage {
  return { type: "appendResponse", from: fields.from ?? "n2", to: "n1", term: fields.term,
    success: fields.success, index: fields.index, hintIndex: fields.hintIndex ?? 0,
    hintTerm: fields.hintTerm ?? 0 };
}

function append(fields: { from?: NodeId; term: number; prevLogIndex: number;
  prevLogTerm: number; entries?: readonly Entry[]; leaderCommit?: number }): RaftMessage {
  return { type: "append", from: fields.from ?? "n2", to: "n1", term: fields.term,
    prevLogIndex: fields.prevLogIndex, prevLogTerm: fields.prevLogTerm,
    entries: fields.entries ?? [], leaderCommit: fields.leaderCommit ?? 0 };
}

function heartbeat(term: number, commit: number, from: NodeId = "n2"): RaftMessage {
  return { type: "heartbeat", from, to: "n1", term, commit, readId: null };
}

describe("protocol violations: the leader", () => {
  it("keeps leading when a follower acknowledges an index past its last (regression)", () => {
    // The follower answered `success, index: commit` for an append below its commit, and its
    // commit was past this new leader's log: the leader set next past its log and asserted
    // "a compacted log always has a snapshot covering it" on the next send.
    const leader = makeLeader(restored(1, logOfTerms([1, 1])));
    const lastIndex = leader.status().lastLogIndex;
    const { violations } = stepAndDrain(leader,
      appendResponse({ term: 2, success: true, index: 323 }));
    expectViolation(violations, "n2", "appendResponse", "ackBeyondLog");
    expect(leader.role).to.equal("leader");
    expect(leader.status().progress["n2"]!.match).to.be.below(lastIndex + 1);
    expectSane(leader);
    // The next heartbeat round, its answers, a proposal: nothing asserts, no snapshot goes out.
    const sent: RaftMessage[] = [];
    leader.tick();
    leader.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 2, readId: null });
    leader.step({ type: "heartbeatResponse", from: "n3", to: "n1", term: 2, readId: null });
    expect(leader.propose("x").kind).to.equal("accepted");
    sent.push(...drain(leader).messages);
    expect(sent.filter((m) => m.type === "snapshot")).to.deep.equal([]);
    expect(sent.some((m) => m.type === "append" && m.to === "n2")).to.equal(true);
    expect(leader.role).to.equal("leader");
    expectSane(leader);
  });

  it("ignores rejections that name an index it never sent or a hint past it", () => {
    const leader = makeLeader(restored(1, logOfTerms([1, 1])));
    // Where the leader replicates from; hearing from n2 at all may mark it active.
    const replication = (): unknown => {
      const { match, next, state, inflight } = leader.status().progress["n2"]!;
      return { match, next, state, inflight };
    };
    const before = replication();
    const lastIndex = leader.status().lastLogIndex;
    const nonsense = [
      appendResponse({ term: 2, success: false, index: lastIndex + 5, hintIndex: 1 }),
      appendResponse({ term: 2, success: false, index: 1, hintIndex: 2, hintTerm: 1 }),
      appendResponse({ term: 2, success: false, index: lastIndex, hintIndex: 1, hintTerm: 9 }),
    ];
    for (const m of nonsense) {
      const { violations } = stepAndDrain(leader, m);
      expectViolation(violations, "n2", "appendResponse", "rejectInvalid");
      expect(replication()).to.deep.equal(before);
    }
    expect(leader.role).to.equal("leader");
    expectSane(leader);
  });

  it("steps down on a second leader of its own term, and follows neither leader of it", () => {
    // Election Safety broken by someone else (leader.ts stepDownToRival says why).
    const leader = makeLeader(restored(1, logOfTerms([1])));
    const rivalAppend = append({ from: "n3", term: 2, prevLogIndex: 1, prevLogTerm: 1,
      entries: [entry(2, 2)] });
    const { ready, violations } = stepAndDrain(leader, rivalAppend);
    expectViolation(violations, "n3", "append", "twoLeaders");
    const status = leader.status();
    expect([status.role, status.term, status.leaderId]).to.deep.equal(["follower", 2, null]);
    expect(ready.messages.some((m) => m.type === "appendResponse")).to.equal(false);
    // The rival's entries of our term would match ours by term: never taken.
    const again = stepAndDrain(leader, rivalAppend);
    expectViolation(again.violations, "n3", "append", "twoLeaders");
    expect(again.ready.messages.some((m) => m.type === "appendResponse")).to.equal(false);
    expect(leader.status().leaderId).to.equal(null);
    expectSane(leader);
  });

  it("steps down on a heartbeat or a snapshot chunk from a rival of its term", () => {
    for (const m of [heartbeat(2, 0, "n3"), snapshotChunk({ term: 2, index: 9, term9: 1 })]) {
      const leader = makeLeader(restored(1, logOfTerms([1])));
      const { violations } = stepAndDrain(leader, { ...m, from: "n3" });
      expectViolation(violations, "n3", m.type, "twoLeaders");
      expect([leader.role, leader.leaderId]).to.deep.equal(["follower", null]);
      expectSane(leader);
    }
  });

  it("ignores a heartbeat answer for a ReadIndex round it never started", () => {
    const leader = makeLeader(restored(1, logOfTerms([1])));
    const { violations } = stepAndDrain(leader,
      { type: "heartbeatResponse", from: "n2", to: "n1", term: 2, readId: 99 });
    expectViolation(violations, "n2", "heartbeatResponse", "readIdUnknown");
    expect(leader.role).to.equal("leader");
  });

  it("ignores a snapshot answer that asks for an offset outside the snapshot", () => {
    const snapshot: Snapshot = { meta: { index: 5, term: 1, voters }, data: "0123456789" };
    const leader = makeLeader(restored(1, [], 5, snapshot));
    // n2 has nothing: it rejects the probe, and the leader starts streaming the snapshot.
    leader.step(appendResponse({ term: 2, success: false, index: 5, hintIndex: 0 }));
    const chunks = drain(leader).messages.filter((m) => m.type === "snapshot" && m.to === "n2");
    expect(chunks).to.have.length(1);
    for (const nextOffset of [11, 1e6]) {
      const { ready, violations } = stepAndDrain(leader, { type: "snapshotResponse", from: "n2",
        to: "n1", term: 2, snapshotIndex: 5, offset: 0, nextOffset, installed: false });
      expectViolation(violations, "n2", "snapshotResponse", "snapshotResponseInvalid");
      expect(ready.messages.filter((m) => m.type === "snapshot")).to.deep.equal([]);
    }
    const { violations } = stepAndDrain(leader, { type: "snapshotResponse", from: "n2",
      to: "n1", term: 2, snapshotIndex: 5, offset: 0, nextOffset: -3, installed: false });
    expectViolation(violations, "n2", "snapshotResponse", "valueOutOfRange");
    expect(leader.role).to.equal("leader");
    expect(leader.status().progress["n2"]!.state).to.equal("snapshot");
  });
});

function snapshotChunk(fields: { term: number; index: number; term9: number; offset?: number;
  data?: string; done?: boolean; voters?: readonly NodeId[] }): RaftMessage {
  return { type: "snapshot", from: "n2", to: "n1", term: fields.term,
    meta: { index: fields.index, term: fields.term9, voters: fields.voters ?? voters },
    offset: fields.offset ?? 0, data: fields.data ?? "abc", done: fields.done ?? true };
}

describe("protocol violations: the follower", () => {
  it("does not commit past an empty log on a heartbeat's commit 323 (regression)", () => {
    // A node that lost its disk: its leader still believes it holds 323 entries.
    const follower = newNode(restored(4, []));
    const { ready, violations } = stepAndDrain(follower, heartbeat(4, 323));
    expectViolation(violations, "n2", "heartbeat", "commitBeyondLog");
    expect(follower.status().commitIndex).to.equal(0);
    // It still answers: it does follow this leader, and the leader's reads may need it.
    expect(ready.messages.map((m) => m.type)).to.deep.equal(["heartbeatResponse"]);
    expect([follower.role, follower.leaderId]).to.deep.equal(["follower", "n2"]);
    expectSane(follower);
  });

  it("does not commit up to its own last index: those entries may not be the leader's", () => {
    const follower = newNode(restored(1, logOfTerms([1, 1, 1])));
    const { violations } = stepAndDrain(follower, heartbeat(2, 7));
    expectViolation(violations, "n2", "heartbeat", "commitBeyondLog");
    expect(follower.status().commitIndex).to.equal(0);
    // A commit within the log is taken as before.
    const { violations: none } = stepAndDrain(follower, heartbeat(2, 2));
    expect(none).to.deep.equal([]);
    expect(follower.status().commitIndex).to.equal(2);
  });

  it("takes an append's leaderCommit past its entries only up to the last new entry", () => {
    const follower = newNode(restored(1, logOfTerms([1])));
    const { violations } = stepAndDrain(follower, append({ term: 1, prevLogIndex: 1,
      prevLogTerm: 1, entries: [entry(2, 1)], leaderCommit: 50 }));
    expect(violations).to.deep.equal([]);
    expect(follower.status().commitIndex).to.equal(2);
  });

  it("refuses appends whose entries skip an index, decrease in term, or outrun the term", () => {
    const cases = [
      [entry(2, 1), entry(4, 1)],
      [entry(3, 1)],
      [entry(2, 2), entry(3, 1)],
      [entry(2, 0)],
      [entry(2, 9)],
    ];
    for (const entries of cases) {
      const follower = newNode(restored(1, logOfTerms([1])));
      const { ready, violations } = stepAndDrain(follower,
        append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries, leaderCommit: 3 }));
      expectViolation(violations, "n2", "append", "entriesMalformed");
      expect(ready.entries).to.deep.equal([]);
      expect(follower.status().lastLogIndex).to.equal(1);
      expect(follower.status().commitIndex).to.equal(0);
      expectSane(follower);
    }
  });

  it("refuses an append that contradicts a committed entry", () => {
    const appends = [
      // Entry 2 of term 2 would replace our committed 2/1.
      append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2), entry(3, 2)] }),
      // The leader's entry at our commit index has another term.
      append({ term: 2, prevLogIndex: 3, prevLogTerm: 2, entries: [entry(4, 2)] }),
    ];
    for (const m of appends) {
      const follower = newNode(restored(1, logOfTerms([1, 1, 1]), 3));
      const { ready, violations } = stepAndDrain(follower, m);
      expectViolation(violations, "n2", "append", "conflictBelowCommit");
      expect(ready.entries).to.deep.equal([]);
      expect(follower.entries(1, 4)).to.deep.equal(logOfTerms([1, 1, 1]));
      expectSane(follower);
    }
  });

  it("refuses snapshot chunks with impossible metadata or offsets", () => {
    const chunks: [RaftMessage, ViolationReason][] = [
      [snapshotChunk({ term: 2, index: -1, term9: 1 }), "valueOutOfRange"],
      [snapshotChunk({ term: 2, index: 9, term9: 3 }), "snapshotInvalid"],
      [snapshotChunk({ term: 2, index: 9, term9: 1, voters: [] }), "snapshotInvalid"],
      [snapshotChunk({ term: 2, index: 9, term9: 1, voters: ["n1", "n1"] }), "snapshotInvalid"],
      // A configuration no cluster can be in: a learner that is also a voter.
      [{ ...snapshotChunk({ term: 2, index: 9, term9: 1 }), meta: { index: 9, term: 1, voters,
        learners: ["n2"] } } as RaftMessage, "snapshotInvalid"],
      [snapshotChunk({ term: 2, index: 9, term9: 1, offset: -4 }), "valueOutOfRange"],
      [snapshotChunk({ term: 2, index: 9, term9: 1, offset: Number.MAX_SAFE_INTEGER }),
        "valueOutOfRange"],
      // Our committed entry 2 is of term 1: no leader has a snapshot saying otherwise.
      [snapshotChunk({ term: 2, index: 2, term9: 2 }), "conflictBelowCommit"],
    ];
    for (const [m, reason] of chunks) {
      const follower = newNode(restored(1, logOfTerms([1, 1]), 2));
      const { ready, violations } = stepAndDrain(follower, m);
      expectViolation(violations, "n2", "snapshot", reason);
      expect(ready.snapshot).to.equal(null);
      expect(follower.status().lastLogIndex).to.equal(2);
      expectSane(follower);
    }
  });

  it("refuses a term that jumps toward the largest safe integer (elections would stop)", () => {
    const follower = newNode(restored(1, logOfTerms([1])));
    for (const term of [Number.MAX_SAFE_INTEGER, 2 ** 32 + 2]) {
      const { violations } = stepAndDrain(follower, heartbeat(term, 0, "n2"));
      expectViolation(violations, "n2", "heartbeat", "valueOutOfRange");
      expect(follower.status().term).to.equal(1);
    }
    // A long but honest gap is taken.
    stepAndDrain(follower, heartbeat(1_000_000, 0, "n2"));
    expect(follower.status().term).to.equal(1_000_000);
  });

  it("refuses a whole snapshot the state machine cannot read, keeping its own state", () => {
    const config = makeRaftConfig({ id: "n1", voters }, {
      snapshotProblem: (snapshot) => (snapshot.data === "abc" ? "not a market snapshot" : null),
    });
    const follower = new RaftNode(config, new SeededRng(7), restored(1, logOfTerms([1, 1]), 2));
    const { ready, violations } = stepAndDrain(follower,
      snapshotChunk({ term: 2, index: 9, term9: 1 }));
    expectViolation(violations, "n2", "snapshot", "snapshotInvalid");
    expect(ready.snapshot).to.equal(null);
    // Not answered: the leader's chunk timer paces the retry.
    expect(ready.messages.filter((m) => m.type === "snapshotResponse")).to.deep.equal([]);
    expect(follower.status().lastLogIndex).to.equal(2);
    const good = stepAndDrain(follower, snapshotChunk({ term: 2, index: 9, term9: 1,
      data: "fine" }));
    expect(good.violations).to.deep.equal([]);
    expect(good.ready.snapshot?.meta.index).to.equal(9);
  });

  it("takes the answer to a read forwarded to a leader outside its configuration", () => {
    // A node whose configuration is stale follows n4, a leader added after it (no member
    // entry here), forwards a read to it, and stops following it before the answer arrives:
    // the answer is honest, not an impossible message (sim --core --membership, seed
    // 2611409998, where it was reported as from an unknown sender).
    const forwardToN4 = (context: string): RaftNode => {
      const follower = newNode(restored(1, []));
      follower.step(heartbeat(1, 0, "n4"));
      drain(follower);
      expect(follower.readIndex(context)).to.deep.equal({ kind: "pending" });
      expect(drain(follower).messages).to.deep.include({ type: "readIndex", from: "n1",
        to: "n4", term: 1, context });
      return follower;
    };
    // Its election timer ran out: a pre-candidate of the same term, following no one. (An
    // honest leader's index is at least 1: it commits an entry of its term first, §6.4.)
    const campaigning = forwardToN4("r1");
    for (let tick = 0; tick < 100 && campaigning.role === "follower"; tick++) campaigning.tick();
    drain(campaigning);
    expect([campaigning.role, campaigning.status().term]).to.deep.equal(["preCandidate", 1]);
    const answered = stepAndDrain(campaigning, { type: "readIndexResponse", from: "n4",
      to: "n1", term: 1, context: "r1", index: 1 });
    expect(answered.violations).to.deep.equal([]);
    expect(answered.ready.readStates).to.deep.equal([{ context: "r1", index: 1 }]);
    // It follows the leader of a later term: the answer, of an older term, fails the read at
    // once, so that its client retries.
    const moved = forwardToN4("r2");
    moved.step(heartbeat(2, 0, "n2"));
    drain(moved);
    const stale = stepAndDrain(moved, { type: "readIndexResponse", from: "n4", to: "n1",
      term: 1, context: "r2", index: 1 });
    expect(stale.violations).to.deep.equal([]);
    expect(stale.ready.droppedReads).to.deep.equal(["r2"]);
    // A stranger's answer of a later term fails the read too, without moving the term or
    // unseating the leader followed (§4.2.3: a removed server must not disrupt).
    expect(moved.readIndex("r3")).to.deep.equal({ kind: "pending" });
    drain(moved);
    const later = stepAndDrain(moved, { type: "readIndexResponse", from: "n4", to: "n1",
      term: 9, context: "r3", index: null });
    expect(later.violations).to.deep.equal([]);
    expect(later.ready.droppedReads).to.deep.equal(["r3"]);
    expect([moved.role, moved.status().term, moved.status().leaderId])
      .to.deep.equal(["follower", 2, "n2"]);
  });

  it("fails a forwarded read whose answer has an impossible index", () => {
    for (const index of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      const follower = newNode(restored(1, []));
      const { ready, violations } = stepAndDrain(follower, { type: "readIndexResponse",
        from: "n2", to: "n1", term: 1, context: "r1", index });
      expectViolation(violations, "n2", "readIndexResponse", "readIndexInvalid");
      expect(ready.readStates).to.deep.equal([]);
      expect(ready.droppedReads).to.deep.equal(["r1"]);
    }
  });

  it("refuses an index answered at a term after the one the read was forwarded at", () => {
    // A leader gives an index only at the term of the read it was sent, and a forwarder's
    // term is durable before its read goes out: a later term's answer with an index comes
    // from no honest node, member or not. It is reported, fails the read and moves nothing.
    const forward = (context: string): RaftNode => {
      const follower = newNode(restored(1, []));
      follower.step(heartbeat(1, 0, "n2"));
      drain(follower);
      expect(follower.readIndex(context)).to.deep.equal({ kind: "pending" });
      drain(follower);
      return follower;
    };
    for (const from of ["n2", "n3", "n9"]) {
      const follower = forward("r1");
      const { ready, violations } = stepAndDrain(follower, { type: "readIndexResponse", from,
        to: "n1", term: 5, context: "r1", index: 3 });
      expectViolation(violations, from, "readIndexResponse", "readIndexInvalid");
      expect(ready.readStates).to.deep.equal([]);
      expect(ready.droppedReads).to.deep.equal(["r1"]);
      expect([follower.role, follower.status().term, follower.status().leaderId])
        .to.deep.equal(["follower", 1, "n2"]);
    }
    // Sent to a leader, it does not depose it.
    const leader = makeLeader(restored(1, logOfTerms([1, 1])));
    const leaderTerm = leader.status().term;
    const atLeader = stepAndDrain(leader, { type: "readIndexResponse", from: "n3", to: "n1",
      term: leaderTerm + 3, context: "r9", index: 2 });
    expectViolation(atLeader.violations, "n3", "readIndexResponse", "readIndexInvalid");
    expect([leader.role, leader.status().term]).to.deep.equal(["leader", leaderTerm]);
    // A member's later-term answer without an index is honest (a newer leader turning the
    // read away): the read fails and the term moves, as any later term from a member does.
    const turnedAway = forward("r2");
    const honest = stepAndDrain(turnedAway, { type: "readIndexResponse", from: "n3", to: "n1",
      term: 5, context: "r2", index: null });
    expect(honest.violations).to.deep.equal([]);
    expect(honest.ready.droppedReads).to.deep.equal(["r2"]);
    expect(turnedAway.status().term).to.equal(5);
  });

  it("ignores TimeoutNow from a node other than its leader", () => {
    const follower = newNode(restored(1, logOfTerms([1])));
    drain(follower);
    follower.step(heartbeat(1, 0, "n2"));
    drain(follower);
    const { ready, violations } = stepAndDrain(follower,
      { type: "timeoutNow", from: "n3", to: "n1", term: 1 });
    expectViolation(violations, "n3", "timeoutNow", "timeoutNowNotFromLeader");
    expect([follower.role, follower.status().term]).to.deep.equal(["follower", 1]);
    expect(ready.messages).to.deep.equal([]);
  });
});

describe("protocol violations: any node", () => {
  it("drops messages addressed to another node, from itself, or answers from a stranger", () => {
    const node = newNode(restored(1, []));
    const vote = { type: "requestVote" as const, to: "n1", term: 9, lastLogIndex: 0,
      lastLogTerm: 0, transfer: false };
    const answer = { type: "appendResponse" as const, to: "n1", term: 1, success: true,
      index: 0, hintIndex: 0, hintTerm: 0 };
    const cases: [RaftMessage, NodeId, ViolationReason][] = [
      [{ ...vote, from: "n2", to: "n3" }, "n2", "wrongRecipient"],
      [{ ...answer, from: "n9" }, "n9", "unknownSender"],
      [{ ...vote, from: "n1" }, "n1", "unknownSender"],
    ];
    for (const [m, from, reason] of cases) {
      const { ready, violations } = stepAndDrain(node, m);
      expectViolation(violations, from, m.type, reason);
      expect(ready.messages).to.deep.equal([]);
      expect(node.status().term, "an impossible message never moves the term").to.equal(1);
    }
  });

  it("drops messages with out-of-range terms or an impossible vote request", () => {
    const node = newNode(restored(1, []));
    const cases: [RaftMessage, ViolationReason][] = [
      [heartbeat(-1, 0), "valueOutOfRange"],
      [heartbeat(2.5, 0), "valueOutOfRange"],
      [heartbeat(Number.MAX_SAFE_INTEGER + 1, 0), "valueOutOfRange"],
      [{ type: "requestVote", from: "n2", to: "n1", term: 3, lastLogIndex: 4, lastLogTerm: 7,
        transfer: false }, "voteRequestInvalid"],
    ];
    for (const [m, reason] of cases) {
      const { ready, violations } = stepAndDrain(node, m);
      expectViolation(violations, "n2", m.type, reason);
      expect(ready.messages).to.deep.equal([]);
      expect(node.status().term).to.equal(1);
    }
  });

  it("keeps at most violationsPerReadyMax violations between two Readies", () => {
    const node = newNode(restored(1, []));
    for (let k = 0; k < 10 * violationsPerReadyMax; k++) node.step(heartbeat(-1, 0));
    expect(node.hasReady()).to.equal(true);
    expect(drain(node).violations).to.have.length(violationsPerReadyMax);
    expect(node.hasReady()).to.equal(false);
  });
});

describe("protocol violations: fuzz", () => {
  /** Values that are wrong in every way a peer can get them wrong, and some right ones. */
  const values = [-1, 0, 1, 2, 3, 4, 5, 6, 50, 323, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 60];

  /** Mostly of the node's own term, so that a leader stays leader long enough to be hit. */
  function randomMessage(rng: SeededRng, currentTerm: number): RaftMessage {
    const v = (): number => values[rng.nextInt(values.length)]!;
    const from = ["n2", "n3", "n2", "n3", "n1", "n9"][rng.nextInt(6)]!;
    const to = rng.nextInt(20) === 0 ? "n2" : "n1";
    const term = rng.nextInt(10) === 0 ? v() : currentTerm + (rng.nextInt(50) === 0 ? 1 : 0);
    const base = { from, to, term };
    const entries = Array.from({ length: rng.nextInt(4) }, () => entry(v(), v()));
    const all: RaftMessage[] = [
      { ...base, type: "requestVote", lastLogIndex: v(), lastLogTerm: v(), transfer: false },
      { ...base, type: "preVote", lastLogIndex: v(), lastLogTerm: v() },
      { ...base, type: "requestVoteResponse", granted: rng.nextInt(2) === 0 },
      { ...base, type: "append", prevLogIndex: v(), prevLogTerm: v(), entries,
        leaderCommit: v() },
      { ...base, type: "appendResponse", success: rng.nextInt(2) === 0, index: v(),
        hintIndex: v(), hintTerm: v() },
      { ...base, type: "heartbeat", commit: v(), readId: rng.nextInt(2) === 0 ? null : v() },
      { ...base, type: "heartbeatResponse", readId: rng.nextInt(2) === 0 ? null : v() },
      { ...base, type: "timeoutNow" },
      { ...base, type: "readIndex", context: "c" },
      { ...base, type: "readIndexResponse", context: "c", index: v() },
      { ...base, type: "propose", data: ["p"] },
      { ...base, type: "snapshot", meta: { index: v(), term: v(), voters }, offset: v(),
        data: "snap", done: rng.nextInt(2) === 0 },
      { ...base, type: "snapshotResponse", snapshotIndex: v(), offset: v(), nextOffset: v(),
        installed: rng.nextInt(2) === 0 },
    ];
    return all[rng.nextInt(all.length)]!;
  }

  it("survives 2000 random impossible messages per starting role, with sane state", () => {
    const snapshot: Snapshot = { meta: { index: 2, term: 1, voters }, data: "0123456789" };
    const starts: [() => RaftNode, boolean][] = [
      [(): RaftNode => makeLeader(restored(1, logOfTerms([1, 1, 1, 1]), 2)), true],
      [(): RaftNode => makeLeader(restored(1, [entry(2, 1), entry(3, 1)], 2, snapshot)), true],
      [(): RaftNode => newNode(restored(2, logOfTerms([1, 1, 2]), 1)), false],
      [(): RaftNode => newNode(restored(2, [])), false],
    ];
    const rng = new SeededRng(2024);
    let violationCount = 0;
    for (const [start, leads] of starts) {
      let node = start();
      for (let k = 0; k < 2000; k++) {
        // A deposed leader is replaced by a fresh one: the leader's side gets most of the hits.
        if (leads && node.role !== "leader") node = start();
        const m = randomMessage(rng, node.status().term);
        try {
          node.step(m);
        } catch (error) {
          expect.fail(`${String(error)} on ${JSON.stringify(m)}`);
        }
        if (rng.nextInt(4) === 0) node.tick();
        if (rng.nextInt(8) === 0 && node.role === "leader") node.propose("x");
        if (node.hasReady()) violationCount += drain(node).violations.length;
        if (!isSane(node)) expectSane(node);
      }
    }
    expect(violationCount).to.be.above(1000);
  });
});
