/**
 * RaftNode.takeEarlyMessages: while the driver persists a Ready, the messages that promise
 * nothing about this node's durable state (mayPrecedePersist: heartbeats and their answers,
 * appends, forwarded proposals) may leave at once; acknowledgements and votes stay queued, in
 * order, for the next Ready, whose persist they follow (thesis §3.8: a server persists its term,
 * vote and entries before it answers on them).
 */
import { expect } from "chai";
import {
  makeRaftConfig, mayPrecedePersist, RaftNode, SeededRng, type RaftMessage,
} from "../../src/raft/index.js";

function follower(): RaftNode {
  return new RaftNode(makeRaftConfig({ id: "n2", voters: ["n1", "n2", "n3"] }),
    new SeededRng(1));
}

const append = (term: number, index: number): RaftMessage => ({ type: "append", from: "n1",
  to: "n2", term, prevLogIndex: index - 1, prevLogTerm: index === 1 ? 0 : term,
  entries: [{ index, term, kind: "normal", data: `e${index}` }], leaderCommit: 0 });
const heartbeat = (term: number, readId: number | null): RaftMessage => ({ type: "heartbeat",
  from: "n1", to: "n2", term, commit: 0, readId });

describe("RaftNode.takeEarlyMessages (sending beside a pending persist)", () => {
  it("hands out a heartbeat's answer while the Ready holding the entries is being persisted, " +
    "and keeps their acknowledgement for the next Ready", () => {
    const node = follower();
    node.step(append(1, 1));
    const first = node.ready();
    expect(first.mustSync).to.equal(true);
    expect(first.messages.map((message) => message.type)).to.deep.equal(["appendResponse"]);
    // The fsync of `first` is running; the leader appends again and sends a heartbeat.
    node.step(append(1, 2));
    node.step(heartbeat(1, 7));
    const early = node.takeEarlyMessages();
    expect(early).to.deep.equal([{ type: "heartbeatResponse", from: "n2", to: "n1", term: 1,
      readId: 7 }]);
    expect(node.takeEarlyMessages()).to.deep.equal([]);
    node.advance();
    const second = node.ready();
    expect(second.messages.map((message) => message.type)).to.deep.equal(["appendResponse"]);
    expect(second.entries.map((entry) => entry.index)).to.deep.equal([2]);
  });

  it("never hands out a vote: it waits for the persist of the term and vote it grants", () => {
    const node = follower();
    node.step(append(1, 1));
    node.ready();
    node.step({ type: "requestVote", from: "n3", to: "n2", term: 3, lastLogIndex: 5,
      lastLogTerm: 2, transfer: true });
    expect(node.takeEarlyMessages()).to.deep.equal([]);
    node.advance();
    const next = node.ready();
    expect(next.messages.some((message) => message.type === "requestVoteResponse" &&
      message.granted)).to.equal(true);
    expect(next.hardState?.vote).to.equal("n3");
  });

  it("classifies what may precede a persist: never an acknowledgement or a vote", () => {
    const early = ["append", "heartbeat", "heartbeatResponse", "propose"];
    // A vote request too: a candidate counts its own vote before it is durable.
    const late = ["appendResponse", "requestVoteResponse", "preVoteResponse", "requestVote",
      "preVote", "timeoutNow", "snapshot", "readIndex", "readIndexResponse"];
    const verdict = (type: string): boolean =>
      mayPrecedePersist({ type } as unknown as RaftMessage);
    expect(early.filter((type) => !verdict(type))).to.deep.equal([]);
    expect(late.filter(verdict)).to.deep.equal([]);
  });

  it("holds back a lone voter's appends to its learner until its new term is durable", () => {
    // n1 is the only voter, n2 its learner: n1 elects itself without waiting for anyone. Were
    // its appends at the new term seen before that term is on disk, a crash would let it be
    // elected in the same term again and append other entries at the same indexes.
    const initial = { hardState: { term: 1, vote: "n1", commit: 1 }, entries: [],
      snapshot: { meta: { index: 1, term: 1, voters: ["n1"], learners: ["n2"] } } };
    const node = new RaftNode(makeRaftConfig({ id: "n1", voters: ["n1"] }), new SeededRng(1),
      initial);
    node.campaign();
    expect(node.role).to.equal("leader");
    node.propose("Y");
    const ready = node.ready();
    expect(ready.hardState?.term).to.equal(2);
    const toLearner = ready.messages.filter((message) => message.to === "n2");
    expect(toLearner.map((message) => message.type)).to.include("append");
    expect(toLearner.filter((message) => node.maySendBeforePersist(message))).to.deep.equal([]);
    node.tick();
    node.tick();
    expect(node.takeEarlyMessages()).to.deep.equal([]);
    node.advance();
    // Term 2 is durable now: its heartbeats may leave before a persist.
    let early: RaftMessage[] = [];
    for (let tick = 0; tick < 20 && early.length === 0; tick++) {
      node.tick();
      early = node.takeEarlyMessages();
    }
    expect(early).to.not.deep.equal([]);
    expect(new Set(early.map((message) => `${message.type} to ${message.to} in term ` +
      `${message.term}`))).to.deep.equal(new Set(["heartbeat to n2 in term 2"]));
  });
});
