/**
 * Paper tests: one test per rule of the Raft paper (Figure 2 and §5), in the manner of etcd's
 * raft_paper_test.go. Each test builds a single RaftNode from makeRaftConfig and a SeededRng,
 * often restored from a hand-written log, feeds it hand-made messages through step(), and
 * inspects what comes out of ready(): the messages it would send, the hard state and entries it
 * asks the driver to persist, and the committed entries it hands over for applying. Only the
 * log-repair test wires three nodes together, through a loop that delivers every message at
 * once. Where a rule is about durability, the test checks that a message that depends on state
 * is in the same Ready as that state: the driver persists a Ready before sending its messages.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  mayPrecedePersist,
  RaftNode,
  SeededRng,
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type Entry,
  type NodeId,
  type RaftConfig,
  type RaftInitialState,
  type RaftMessage,
  type Ready,
} from "../../src/raft/index.js";

const voters3 = ["n1", "n2", "n3"];
const voters5 = ["n1", "n2", "n3", "n4", "n5"];
const electionTimeoutTicks = 10;

interface NodeOptions {
  readonly id?: NodeId;
  readonly voters?: readonly NodeId[];
  readonly overrides?: Partial<RaftConfig>;
  readonly initial?: RaftInitialState;
  readonly seed?: number;
}

function newNode(options: NodeOptions = {}): RaftNode {
  const config = makeRaftConfig(
    { id: options.id ?? "n1", voters: options.voters ?? voters3 },
    options.overrides ?? {},
  );
  return new RaftNode(config, new SeededRng(options.seed ?? 1), options.initial);
}

/** A log of the given terms, one entry per term, from index 1; data names the position. */
function logOfTerms(terms: readonly number[]): Entry[] {
  return terms.map((term, k) => entry(k + 1, term, `e${k + 1}`));
}

function entry(index: number, term: number, data = ""): Entry {
  return { index, term, kind: "normal", data };
}

/** What a node restarts from after persisting `entries` and this hard state. */
function restored(term: number, entries: readonly Entry[], commit = 0,
  vote: NodeId | null = null): RaftInitialState {
  return { hardState: { term, vote, commit }, snapshot: null, entries };
}

/** Runs the driver once: takes the Ready, treats it as persisted, sent and applied. */
function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

function append(fields: {
  from?: NodeId; to?: NodeId; term: number; prevLogIndex: number; prevLogTerm: number;
  entries?: readonly Entry[]; leaderCommit?: number;
}): AppendEntriesRequest {
  return {
    type: "append", from: fields.from ?? "n2", to: fields.to ?? "n1", term: fields.term,
    prevLogIndex: fields.prevLogIndex, prevLogTerm: fields.prevLogTerm,
    entries: fields.entries ?? [], leaderCommit: fields.leaderCommit ?? 0,
  };
}

function voteRequest(from: NodeId, term: number, lastLogIndex: number, lastLogTerm: number,
  to: NodeId = "n1"): RaftMessage {
  return { type: "requestVote", from, to, term, lastLogIndex, lastLogTerm, transfer: false };
}

function voteResponse(from: NodeId, term: number, granted: boolean, to: NodeId = "n1"):
  RaftMessage {
  return { type: "requestVoteResponse", from, to, term, granted };
}

function appendAck(from: NodeId, term: number, index: number): AppendEntriesResponse {
  return { type: "appendResponse", from, to: "n1", term, success: true, index, hintIndex: 0,
    hintTerm: 0 };
}

/**
 * Makes n1 the leader of term `term + 1` over `initial` (PreVote off, so the campaign bumps
 * the term at once), with a grant from n2, and drains the Ready that carries the no-op.
 */
function electedLeader(options: NodeOptions = {}): { node: RaftNode; ready: Ready } {
  const node = newNode({ ...options, overrides: { preVote: false, ...options.overrides } });
  node.campaign();
  drain(node);
  const term = node.status().term;
  node.step(voteResponse("n2", term, true));
  if ((options.voters ?? voters3).length > 3) node.step(voteResponse("n3", term, true));
  expect(node.status().role).to.equal("leader");
  return { node, ready: drain(node) };
}

/** Ticks until the node sends something; returns the number of ticks, or null after `max`. */
function ticksUntilMessages(node: RaftNode, max: number): number | null {
  for (let ticks = 1; ticks <= max; ticks++) {
    node.tick();
    if (drain(node).messages.length > 0) return ticks;
  }
  return null;
}

type MessageOf<T extends RaftMessage["type"]> = RaftMessage & { readonly type: T };

function messagesOfType<T extends RaftMessage["type"]>(ready: Ready, type: T): MessageOf<T>[] {
  return ready.messages.filter((m): m is MessageOf<T> => m.type === type);
}

/**
 * Delivers every message among `nodes` until none is left, persisting each Ready in full
 * before its messages go out. Messages to nodes not in the map are lost.
 */
function exchange(nodes: ReadonlyMap<NodeId, RaftNode>): void {
  for (let round = 0; round < 100; round++) {
    const messages: RaftMessage[] = [];
    for (const node of nodes.values()) {
      if (node.hasReady()) messages.push(...drain(node).messages);
    }
    if (messages.length === 0) return;
    for (const message of messages) nodes.get(message.to)?.step(message);
  }
  expect.fail("the nodes never went quiet");
}

describe("raft paper rules (Figure 2, §5)", () => {
  describe("terms and roles (§5.1)", () => {
    it("starts as a follower in term 0 with no leader and no vote", () => {
      const node = newNode();
      const status = node.status();
      expect(status).to.include({ role: "follower", term: 0, vote: null, leaderId: null });
      expect(status.commitIndex).to.equal(0);
      expect(status.lastLogIndex).to.equal(0);
    });

    it("updates its term and becomes follower on a higher term", () => {
      // A follower learns the term and the leader from a heartbeat.
      const follower = newNode({ initial: restored(1, []) });
      follower.step({ type: "heartbeat", from: "n2", to: "n1", term: 3, commit: 0, readId: null });
      expect(follower.status()).to.include({ role: "follower", term: 3, leaderId: "n2",
        vote: null });

      const candidate = newNode({ overrides: { preVote: false }, initial: restored(1, []) });
      candidate.campaign();
      expect(candidate.status()).to.include({ role: "candidate", term: 2 });
      candidate.step(append({ from: "n3", term: 4, prevLogIndex: 0, prevLogTerm: 0 }));
      expect(candidate.status()).to.include({ role: "follower", term: 4, leaderId: "n3" });

      const { node: leader } = electedLeader({ initial: restored(1, []) });
      leader.step({ type: "appendResponse", from: "n2", to: "n1", term: 7, success: false,
        index: 0, hintIndex: 0, hintTerm: 0 });
      expect(leader.status()).to.include({ role: "follower", term: 7, leaderId: null,
        vote: null });
    });

    it("updates its term on a higher-term vote request even when it refuses the vote", () => {
      const node = newNode({ initial: restored(2, logOfTerms([1, 2])) });
      node.step(voteRequest("n2", 5, 1, 1));
      const ready = drain(node);
      expect(node.status()).to.include({ role: "follower", term: 5, vote: null });
      expect(ready.hardState).to.deep.equal({ term: 5, vote: null, commit: 0 });
      expect(ready.messages).to.deep.equal([voteResponse("n1", 5, false, "n2")]);
    });

    it("rejects AppendEntries from a stale term", () => {
      const node = newNode({ initial: restored(2, logOfTerms([1])) });
      drain(node);
      node.step(append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 1)],
        leaderCommit: 1 }));
      const ready = drain(node);
      // The answer carries our term, so the stale leader learns it has been superseded.
      expect(ready.messages).to.deep.equal([{ type: "appendResponse", from: "n1", to: "n2",
        term: 2, success: false, index: 0, hintIndex: 0, hintTerm: 0 }]);
      expect(ready.entries).to.deep.equal([]);
      expect(node.status()).to.include({ term: 2, leaderId: null, lastLogIndex: 1,
        commitIndex: 0 });
    });

    it("refuses a vote to a candidate of a stale term", () => {
      const node = newNode({ initial: restored(3, []) });
      drain(node);
      node.step(voteRequest("n2", 2, 9, 2));
      const ready = drain(node);
      expect(ready.messages.filter((m) => m.type === "requestVoteResponse" && m.granted))
        .to.deep.equal([]);
      expect(ready.hardState).to.equal(null);
      expect(node.status()).to.include({ term: 3, vote: null });
    });

    it("refuses proposals unless leader and names the leader it knows", () => {
      const node = newNode();
      expect(node.propose("x")).to.deep.equal({ kind: "notLeader", leaderIdHint: null });
      node.step({ type: "heartbeat", from: "n3", to: "n1", term: 1, commit: 0, readId: null });
      expect(node.propose("x")).to.deep.equal({ kind: "notLeader", leaderIdHint: "n3" });
      expect(node.status().lastLogIndex).to.equal(0);
    });
  });

  describe("leader election (§5.2)", () => {
    it("starts an election on timeout: bumps its term, votes for itself, asks every peer", () => {
      const node = newNode({ overrides: { preVote: false },
        initial: restored(2, logOfTerms([1, 2])) });
      drain(node);
      let ready: Ready | null = null;
      for (let ticks = 0; ticks < 2 * electionTimeoutTicks && ready === null; ticks++) {
        node.tick();
        const next = drain(node);
        if (next.messages.length > 0) ready = next;
      }
      expect(ready, "no election within 2T ticks").to.not.equal(null);
      expect(node.status()).to.include({ role: "candidate", term: 3, vote: "n1" });
      // The self-vote is persisted in the same Ready that carries the requests.
      expect(ready!.hardState).to.deep.equal({ term: 3, vote: "n1", commit: 0 });
      expect(ready!.messages).to.deep.equal(["n2", "n3"].map((to) => ({ type: "requestVote",
        from: "n1", to, term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: false })));
    });

    it("becomes leader once a majority grants its vote, and follower once a majority refuses",
      () => {
        const candidate = (): RaftNode => {
          const node = newNode({ voters: voters5, overrides: { preVote: false } });
          node.campaign();
          drain(node);
          return node;
        };
        const winner = candidate();
        winner.step(voteResponse("n2", 1, true));
        expect(winner.status().role, "2 of 5 votes").to.equal("candidate");
        winner.step(voteResponse("n3", 1, false));
        expect(winner.status().role, "2 of 5 votes, 1 refusal").to.equal("candidate");
        winner.step(voteResponse("n4", 1, true));
        expect(winner.status()).to.include({ role: "leader", term: 1, leaderId: "n1" });

        const loser = candidate();
        loser.step(voteResponse("n2", 1, false));
        loser.step(voteResponse("n3", 1, false));
        expect(loser.status().role, "2 of 5 refusals").to.equal("candidate");
        loser.step(voteResponse("n4", 1, false));
        expect(loser.status()).to.include({ role: "follower", term: 1, leaderId: null });
      });

    it("grants at most one vote per term", () => {
      const node = newNode();
      drain(node);
      node.step(voteRequest("n2", 1, 0, 0));
      expect(drain(node).messages).to.deep.equal([voteResponse("n1", 1, true, "n2")]);
      node.step(voteRequest("n3", 1, 0, 0));
      expect(drain(node).messages).to.deep.equal([voteResponse("n1", 1, false, "n3")]);
      // The candidate it voted for may ask again (the first answer may have been lost).
      node.step(voteRequest("n2", 1, 0, 0));
      expect(drain(node).messages).to.deep.equal([voteResponse("n1", 1, true, "n2")]);
      expect(node.status()).to.include({ term: 1, vote: "n2" });
      // A new term frees the vote.
      node.step(voteRequest("n3", 2, 0, 0));
      expect(drain(node).messages).to.deep.equal([voteResponse("n1", 2, true, "n3")]);
    });

    it("remembers its vote across a restart (votedFor is persistent state)", () => {
      const node = newNode({ initial: restored(4, [], 0, "n2") });
      drain(node);
      node.step(voteRequest("n3", 4, 0, 0));
      expect(drain(node).messages).to.deep.equal([voteResponse("n1", 4, false, "n3")]);
      expect(node.status().vote).to.equal("n2");
    });

    it("sends a vote grant in the same Ready as the hard state that records the vote", () => {
      const node = newNode();
      drain(node);
      node.step(voteRequest("n2", 1, 0, 0));
      const ready = node.ready();
      expect(ready.hardState).to.deep.equal({ term: 1, vote: "n2", commit: 0 });
      const grant = ready.messages.find((m) => m.type === "requestVoteResponse");
      expect(grant).to.deep.equal(voteResponse("n1", 1, true, "n2"));
      // The driver may not send it ahead of the fsync of that hard state.
      expect(mayPrecedePersist(grant!)).to.equal(false);
      node.advance();
    });

    it("candidate returns to follower on AppendEntries from a leader of the same term", () => {
      for (const preVote of [false, true]) {
        const node = newNode({ overrides: { preVote }, initial: restored(2, []) });
        node.campaign();
        const term = node.status().term;
        expect(node.status().role).to.equal(preVote ? "preCandidate" : "candidate");
        node.step(append({ from: "n3", term, prevLogIndex: 0, prevLogTerm: 0,
          entries: [entry(1, term)] }));
        expect(node.status(), `preVote ${preVote}`)
          .to.include({ role: "follower", term, leaderId: "n3", lastLogIndex: 1 });
        const acks = messagesOfType(drain(node), "appendResponse");
        expect(acks.map((m) => [m.to, m.success, m.index])).to.deep.equal([["n3", true, 1]]);
      }
    });

    it("candidate starts a new election when its election times out without a winner", () => {
      const node = newNode({ overrides: { preVote: false } });
      node.campaign();
      drain(node);
      expect(node.status().term).to.equal(1);
      const ticks = ticksUntilMessages(node, 2 * electionTimeoutTicks);
      expect(ticks).to.be.within(electionTimeoutTicks, 2 * electionTimeoutTicks - 1);
      expect(node.status()).to.include({ role: "candidate", term: 2, vote: "n1" });
    });

    it("randomizes the election timeout in [T, 2T)", () => {
      const timeouts = new Set<number>();
      for (let seed = 1; seed <= 200; seed++) {
        const node = newNode({ seed });
        drain(node);
        const ticks = ticksUntilMessages(node, 3 * electionTimeoutTicks);
        expect(ticks, `seed ${seed}`).to.be.within(electionTimeoutTicks,
          2 * electionTimeoutTicks - 1);
        timeouts.add(ticks!);
      }
      // Every value in the range turns up, so split votes resolve (§5.2).
      expect([...timeouts].sort((a, b) => a - b)).to.deep.equal(
        Array.from({ length: electionTimeoutTicks }, (_, k) => electionTimeoutTicks + k));
    });

    it("resets its election timer on granting a vote or hearing from the leader", () => {
      const initial = restored(1, []);
      // A twin with the same seed shows when this node would time out left alone.
      const twin = newNode({ initial });
      drain(twin);
      const timeout = ticksUntilMessages(twin, 2 * electionTimeoutTicks)!;
      expect(timeout).to.be.within(electionTimeoutTicks, 2 * electionTimeoutTicks - 1);

      for (const reset of ["vote", "append"] as const) {
        const node = newNode({ initial });
        drain(node);
        expect(ticksUntilMessages(node, timeout - 1)).to.equal(null);
        // Same term, so the randomized timeout is not drawn anew, only the timer restarts.
        node.step(reset === "vote"
          ? voteRequest("n2", 1, 0, 0)
          : append({ term: 1, prevLogIndex: 0, prevLogTerm: 0 }));
        drain(node);
        expect(ticksUntilMessages(node, timeout - 1), reset).to.equal(null);
        expect(ticksUntilMessages(node, 1), reset).to.equal(1);
      }
    });
  });

  describe("who may be elected (§5.4.1)", () => {
    // The voter holds [1, 1, 2]: last term 2, last index 3.
    const voter = (): RaftNode => {
      const node = newNode({ initial: restored(2, logOfTerms([1, 1, 2])) });
      drain(node);
      return node;
    };
    const granted = (node: RaftNode, lastLogIndex: number, lastLogTerm: number): boolean => {
      node.step(voteRequest("n2", 3, lastLogIndex, lastLogTerm));
      const answer = messagesOfType(drain(node), "requestVoteResponse")[0];
      expect(answer, "the voter answers").to.not.equal(undefined);
      return answer!.granted;
    };

    it("refuses a vote to a candidate whose last log term is older even if its log is longer",
      () => {
        expect(granted(voter(), 9, 1)).to.equal(false);
      });

    it("refuses a vote to a candidate with the same last term and a shorter log", () => {
      expect(granted(voter(), 2, 2)).to.equal(false);
    });

    it("grants a vote to a candidate whose log is at least as up-to-date", () => {
      expect(granted(voter(), 3, 2), "same last entry").to.equal(true);
      expect(granted(voter(), 4, 2), "same term, longer").to.equal(true);
      expect(granted(voter(), 1, 3), "newer last term, shorter").to.equal(true);
    });
  });

  describe("log replication (§5.3)", () => {
    it("leader appends a no-op entry when elected", () => {
      const { node, ready } = electedLeader({ initial: restored(1, logOfTerms([1])) });
      expect(ready.entries).to.deep.equal([entry(2, 2, "")]);
      expect(node.status()).to.include({ lastLogIndex: 2, lastLogTerm: 2, commitIndex: 0 });
      expect(messagesOfType(ready, "append").map((m) => ({ to: m.to, prev: m.prevLogIndex,
        prevTerm: m.prevLogTerm, entries: m.entries }))).to.deep.equal(["n2", "n3"].map(
        (to) => ({ to, prev: 1, prevTerm: 1, entries: [entry(2, 2, "")] })));
    });

    it("leader sends a heartbeat to every follower each heartbeat interval", () => {
      const { node } = electedLeader({ overrides: { heartbeatIntervalTicks: 3 } });
      for (let round = 0; round < 3; round++) {
        node.tick();
        node.tick();
        expect(drain(node).messages, `round ${round}: early`).to.deep.equal([]);
        node.tick();
        const heartbeats = messagesOfType(drain(node), "heartbeat");
        expect(heartbeats.map((m) => [m.to, m.term])).to.deep.equal([["n2", 1], ["n3", 1]]);
      }
    });

    it("leader appends a proposal to its log and sends it to every follower", () => {
      const { node } = electedLeader();
      node.step(appendAck("n2", 1, 1));
      node.step(appendAck("n3", 1, 1));
      drain(node);
      const result = node.propose("x");
      expect(result).to.deep.equal({ kind: "accepted", index: 2, term: 1 });
      const ready = drain(node);
      expect(ready.entries).to.deep.equal([entry(2, 1, "x")]);
      expect(messagesOfType(ready, "append")).to.deep.equal(["n2", "n3"].map((to) => append({
        from: "n1", to, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 1, "x")],
        leaderCommit: 1 })));
    });

    it("leader commits an entry once a majority stores it, then tells the followers", () => {
      const { node } = electedLeader({ voters: voters5 });
      for (const id of ["n2", "n3", "n4", "n5"]) node.step(appendAck(id, 1, 1));
      drain(node);
      expect(node.status().commitIndex).to.equal(1);
      node.propose("x");
      drain(node);
      node.step(appendAck("n2", 1, 2));
      expect(node.status().commitIndex, "2 of 5 hold it").to.equal(1);
      node.step(appendAck("n3", 1, 2));
      expect(node.status().commitIndex, "3 of 5 hold it").to.equal(2);
      const ready = drain(node);
      expect(ready.committedEntries).to.deep.equal([entry(2, 1, "x")]);
      expect(ready.hardState).to.deep.include({ commit: 2 });
      // Every follower learns the new commit index from the next append.
      const appends = messagesOfType(ready, "append");
      expect(appends.map((m) => [m.to, m.leaderCommit])).to.deep.equal(
        [["n2", 2], ["n3", 2], ["n4", 2], ["n5", 2]]);
    });

    it("leader counts its own entry toward a majority only once it is persisted", () => {
      const { node } = electedLeader();
      node.step(appendAck("n2", 1, 1));
      node.step(appendAck("n3", 1, 1));
      drain(node);
      node.propose("x");
      const ready = node.ready();
      // The append may go out before the leader's own fsync (thesis §10.2.1) ...
      expect(messagesOfType(ready, "append").every(mayPrecedePersist)).to.equal(true);
      node.step(appendAck("n2", 1, 2));
      // ... but until then the leader's copy does not count: n2 alone is no majority.
      expect(node.status().commitIndex).to.equal(1);
      node.advance();
      expect(node.status().commitIndex).to.equal(2);
    });

    it("follower rejects an append whose previous entry does not match its log", () => {
      const node = newNode({ initial: restored(2, logOfTerms([1, 1, 2])) });
      drain(node);
      const tryAppend = (prevLogIndex: number, prevLogTerm: number): AppendEntriesResponse => {
        node.step(append({ term: 2, prevLogIndex, prevLogTerm, entries: [entry(prevLogIndex + 1,
          2)] }));
        return messagesOfType(drain(node), "appendResponse")[0]!;
      };
      // Missing entry: the hint points at our last entry, so the leader skips back at once.
      expect(tryAppend(5, 2)).to.include({ success: false, index: 5, hintIndex: 3,
        hintTerm: 2 });
      // Term mismatch: the hint skips the whole term-2 suffix.
      expect(tryAppend(3, 1)).to.include({ success: false, index: 3, hintIndex: 2,
        hintTerm: 1 });
      expect(node.entries(1, 4)).to.deep.equal(logOfTerms([1, 1, 2]));
      expect(tryAppend(3, 2)).to.include({ success: true, index: 4 });
    });

    it("follower truncates conflicting entries but never matching ones when an append is " +
      "delayed or duplicated", () => {
      const follower = newNode({ initial: restored(1, logOfTerms([1, 1, 1])) });
      drain(follower);
      follower.step(append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2)] }));
      let ready = drain(follower);
      expect(follower.entries(1, 3)).to.deep.equal([entry(1, 1, "e1"), entry(2, 2)]);
      // The driver rewrites the stored log from the first conflicting index on.
      expect(ready.entries).to.deep.equal([entry(2, 2)]);

      follower.step(append({ term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [entry(3, 2)] }));
      drain(follower);
      // The first append again, late or duplicated: it matches a prefix, so nothing goes.
      follower.step(append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2)] }));
      ready = drain(follower);
      expect(follower.entries(1, 4)).to.deep.equal([entry(1, 1, "e1"), entry(2, 2), entry(3, 2)]);
      expect(ready.entries).to.deep.equal([]);
      expect(messagesOfType(ready, "appendResponse")[0]).to.include({ success: true, index: 2 });
    });

    it("sets commitIndex to min(leaderCommit, index of last new entry)", () => {
      const follower = newNode({ initial: restored(1, logOfTerms([1, 1, 1])) });
      drain(follower);
      // Its entries 2 and 3 are not known to match the leader's: a bare append at 1 may
      // commit only up to 1, whatever leaderCommit says.
      follower.step(append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 3 }));
      expect(follower.status().commitIndex).to.equal(1);
      follower.step(append({ term: 1, prevLogIndex: 1, prevLogTerm: 1,
        entries: [entry(2, 1, "e2")], leaderCommit: 5 }));
      expect(follower.status().commitIndex).to.equal(2);
      follower.step(append({ term: 1, prevLogIndex: 2, prevLogTerm: 1,
        entries: [entry(3, 1, "e3")], leaderCommit: 2 }));
      expect(follower.status().commitIndex).to.equal(2);
      follower.step(append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 3 }));
      expect(follower.status().commitIndex).to.equal(3);
    });

    it("follower hands committed entries to the driver in log order", () => {
      const follower = newNode();
      drain(follower);
      follower.step(append({ term: 1, prevLogIndex: 0, prevLogTerm: 0,
        entries: logOfTerms([1, 1, 1]), leaderCommit: 2 }));
      let ready = drain(follower);
      expect(ready.committedEntries).to.deep.equal(logOfTerms([1, 1]));
      expect(ready.hardState).to.deep.equal({ term: 1, vote: null, commit: 2 });
      follower.step(append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 3 }));
      ready = drain(follower);
      expect(ready.committedEntries).to.deep.equal([entry(3, 1, "e3")]);
      expect(follower.status().appliedIndex).to.equal(3);
    });

    it("sends an append acknowledgement in the same Ready as the entries it acknowledges", () => {
      const follower = newNode();
      drain(follower);
      follower.step(append({ term: 1, prevLogIndex: 0, prevLogTerm: 0,
        entries: logOfTerms([1, 1]) }));
      const ready = follower.ready();
      expect(ready.entries).to.deep.equal(logOfTerms([1, 1]));
      const ack = messagesOfType(ready, "appendResponse")[0]!;
      expect(ack).to.include({ success: true, index: 2 });
      expect(mayPrecedePersist(ack)).to.equal(false);
      follower.advance();
      expect(follower.status().stableIndex).to.equal(2);
    });

    it("leader brings divergent follower logs in line with its own (Figure 7)", () => {
      // Figure 7: the leader's log, a follower missing entries (a), and one with extra entries
      // of terms it led alone (f). The leader is elected in term 8.
      const leaderLog = logOfTerms([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
      const logA = leaderLog.slice(0, 9);
      const logF = logOfTerms([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
      const nodes = new Map<NodeId, RaftNode>([
        ["n1", newNode({ id: "n1", overrides: { preVote: false }, initial: restored(7, leaderLog,
          3) })],
        ["n2", newNode({ id: "n2", initial: restored(7, logA, 3) })],
        ["n3", newNode({ id: "n3", initial: restored(7, logF, 3) })],
      ]);
      nodes.get("n1")!.campaign();
      exchange(nodes);
      expect(nodes.get("n1")!.status()).to.include({ role: "leader", term: 8, commitIndex: 11 });
      const expected = [...leaderLog, entry(11, 8, "")];
      for (const [id, node] of nodes) {
        expect(node.entries(1, node.status().lastLogIndex + 1), id).to.deep.equal(expected);
        expect(node.status().commitIndex, id).to.equal(11);
      }
    });
  });

  describe("safety (§5.4)", () => {
    // n1 holds [1, 2] from terms when it was not leader; it now leads term 3 with a no-op at 3.
    const leaderOverOldEntries = (): RaftNode => {
      const { node } = electedLeader({ initial: restored(2, logOfTerms([1, 2])) });
      expect(node.status()).to.include({ term: 3, lastLogIndex: 3, commitIndex: 0 });
      return node;
    };

    it("leader never commits an entry of an earlier term by counting replicas (Figure 8)", () => {
      const node = leaderOverOldEntries();
      // A majority (n1 and n2) holds index 2, of term 2; the leader must not commit it.
      node.step(appendAck("n2", 3, 2));
      expect(node.status().commitIndex).to.equal(0);
      const ready = drain(node);
      expect(ready.committedEntries).to.deep.equal([]);
      expect(ready.hardState).to.equal(null);
      node.step(appendAck("n3", 3, 2));
      expect(node.status().commitIndex, "all three hold index 2").to.equal(0);
    });

    it("commits entries of earlier terms once an entry of its own term commits", () => {
      const node = leaderOverOldEntries();
      node.step(appendAck("n2", 3, 2));
      drain(node);
      node.step(appendAck("n2", 3, 3));
      expect(node.status().commitIndex).to.equal(3);
      expect(drain(node).committedEntries).to.deep.equal(
        [entry(1, 1, "e1"), entry(2, 2, "e2"), entry(3, 3, "")]);
    });
  });
});
