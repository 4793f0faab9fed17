/**
 * The merge of the nodes' Raft events for the chaos report (raft-event-collector.ts). Goal:
 * elections are counted once per term whoever reports them; the leader/term track says which
 * node led in which term over time, ending a leadership at its step-down, its leader's death or
 * a newer leader; a restarted node's events (seq from 1 again) are read from its start and a
 * page fetched before the restart is dropped; the node lanes show roles, down and paused; and
 * memory stays within the limits. Method: synthetic pages of events, times in milliseconds.
 */
import { expect } from "chai";
import { RaftEventCollector } from "../../src/cluster/raft-event-collector.js";
import type { RaftEventPage, RaftEventRecord } from "../../src/node/raft-event-log.js";
import type { Role } from "../../src/raft/index.js";

/** An event as the test writes it: the ring adds seq, node and message. */
type EventBody = RaftEventRecord extends infer E
  ? E extends unknown ? Omit<E, "seq" | "node" | "message"> : never : never;

/** Builds one node's pages: seq numbers follow on, as the node's ring assigns them. */
class NodeEvents {
  private seq = 0;
  constructor(readonly node: string) {}

  page(...events: EventBody[]): RaftEventPage {
    const records = events.map((event) => ({ ...event, seq: ++this.seq, node: this.node,
      message: event.kind } as RaftEventRecord));
    return { node: this.node, events: records, lastSeq: this.seq, missed: 0 };
  }

  restart(): void {
    this.seq = 0;
  }
}

function role(timeMs: number, term: number, from: Role, to: Role, leaderId: string | null = null,
  reason: "electionWon" | "higherTerm" | "checkQuorum" | "electionTimeout" | "leaderOfTerm" =
  "electionWon"): EventBody {
  return { kind: "roleChanged", timeMs, term, index: 0, from, to, leaderId, reason };
}

function campaign(timeMs: number, term: number, preVote: boolean): EventBody {
  return { kind: "campaignStarted", timeMs, term, index: 0, preVote, cause: "electionTimeout",
    lastLogTerm: term - 1 };
}

function elected(timeMs: number, term: number): EventBody {
  return { kind: "leaderElected", timeMs, term, index: 0, votes: ["n1", "n2"] };
}

describe("chaos report: Raft events of every node", () => {
  it("counts each term's election once, whoever reports it", () => {
    const collector = new RaftEventCollector(["n1", "n2"]);
    const n1 = new NodeEvents("n1");
    const n2 = new NodeEvents("n2");
    collector.ingest("n1", 0, n1.page(campaign(10, 1, true), campaign(12, 2, false),
      role(15, 2, "candidate", "leader"), elected(15, 2)));
    collector.ingest("n2", 0, n2.page(role(16, 2, "follower", "follower", "n1", "leaderOfTerm"),
      { kind: "voteRefused", timeMs: 30, term: 2, index: 0, candidate: "n1", preVote: true,
        reason: "leaderAlive", detail: "" }));
    const counts = collector.elections();
    expect(counts).to.deep.include({ leadersElected: 1, campaigns: 1, preVotes: 1,
      firstTerm: 2, lastTerm: 2, byNode: { n1: 1 }, refusals: { leaderAlive: 1 } });
    expect(counts.events).to.include({ roleChanged: 2, campaignStarted: 2, leaderElected: 1 });
  });

  it("tracks who led which term, until a step-down, a kill or a newer leader", () => {
    const collector = new RaftEventCollector(["n1", "n2", "n3"]);
    const [n1, n2, n3] = ["n1", "n2", "n3"].map((node) => new NodeEvents(node)) as
      [NodeEvents, NodeEvents, NodeEvents];
    collector.ingest("n1", 0, n1.page(role(100, 2, "candidate", "leader")));
    // n1 is killed at 300; n2 wins term 3 at 500; n2's own event is never read, but n3 reports
    // it at 520. n2 steps down (CheckQuorum) at 900; n3 leads term 5 from 1000.
    collector.nodeDown("n1", 300);
    collector.ingest("n3", 0, n3.page(role(520, 3, "follower", "follower", "n2", "higherTerm")));
    collector.ingest("n2", 0, n2.page(role(900, 3, "leader", "follower", null, "checkQuorum")));
    collector.ingest("n3", 0, n3.page(role(1000, 5, "candidate", "leader")));
    expect(collector.leaderTrack(2000)).to.deep.equal([
      { node: "n1", term: 2, fromMs: 100, toMs: 300 },
      { node: "n2", term: 3, fromMs: 520, toMs: 900 },
      { node: "n3", term: 5, fromMs: 1000, toMs: 2000 },
    ]);
    expect(collector.elections()).to.include({ leadersElected: 3, checkQuorumStepDowns: 1 });
  });

  it("ends a paused leader's term when a newer leader is elected, not when it pauses", () => {
    const collector = new RaftEventCollector(["n1", "n2"]);
    const n1 = new NodeEvents("n1");
    const n2 = new NodeEvents("n2");
    collector.ingest("n1", 0, n1.page(role(100, 2, "candidate", "leader")));
    collector.nodePaused("n1", 200);
    collector.ingest("n2", 0, n2.page(role(700, 3, "candidate", "leader")));
    collector.nodeResumed("n1", 900);
    collector.ingest("n1", 0, n1.page(role(905, 3, "leader", "follower", "n2", "higherTerm")));
    expect(collector.leaderTrack(1000)).to.deep.equal([
      { node: "n1", term: 2, fromMs: 100, toMs: 700 },
      { node: "n2", term: 3, fromMs: 700, toMs: 1000 },
    ]);
    expect(collector.nodeStates(1000).filter((span) => span.node === "n1")
      .map(({ state, term, fromMs, toMs }) => [state, term, fromMs, toMs])).to.deep.equal([
      ["follower", 0, -Infinity, 100],
      ["leader", 2, 100, 200],
      ["paused", 2, 200, 900],
      ["leader", 2, 900, 905],
      ["follower", 3, 905, 1000],
    ]);
  });

  it("reads a restarted node from its first event, and drops a page from before", () => {
    const collector = new RaftEventCollector(["n1"]);
    const n1 = new NodeEvents("n1");
    collector.ingest("n1", 0, n1.page(campaign(10, 1, true), campaign(11, 1, true),
      campaign(12, 1, true)));
    expect(collector.cursor("n1")).to.deep.equal({ epoch: 0, after: 3 });
    const stale = n1.page(campaign(20, 1, true));
    collector.nodeDown("n1", 30);
    collector.nodeUp("n1", 40);
    expect(collector.cursor("n1")).to.deep.equal({ epoch: 1, after: 0 });
    collector.ingest("n1", 0, stale);
    n1.restart();
    collector.ingest("n1", 1, n1.page(campaign(50, 1, true)));
    expect(collector.elections().preVotes).to.equal(4);
    expect(collector.cursor("n1")).to.deep.equal({ epoch: 1, after: 1 });
    expect(collector.nodeStates(100).map((span) => [span.state, span.fromMs])).to.deep.equal([
      ["follower", -Infinity], ["down", 30], ["follower", 40],
    ]);
  });

  it("notices a restart it was not told of, when the node's seq goes back", () => {
    const collector = new RaftEventCollector(["n1"]);
    const n1 = new NodeEvents("n1");
    collector.ingest("n1", 0, n1.page(campaign(10, 1, true), campaign(11, 1, true)));
    n1.restart();
    collector.ingest("n1", 0, n1.page(campaign(20, 1, true)));
    expect(collector.elections()).to.include({ unannouncedRestarts: 1, preVotes: 2 });
    const { epoch, after } = collector.cursor("n1");
    expect(after).to.equal(0);
    collector.ingest("n1", epoch, { node: "n1", lastSeq: 1, missed: 0, events: [
      { ...campaign(20, 1, true), seq: 1, node: "n1", message: "" } as RaftEventRecord] });
    expect(collector.elections().preVotes).to.equal(3);
  });

  it("keeps its memory within the limits on a long run, counting what it dropped", () => {
    const limits = { stateChangesPerNodeMax: 10, termsMax: 5, rawEventsMax: 7 };
    const collector = new RaftEventCollector(["n1"], limits);
    const n1 = new NodeEvents("n1");
    for (let term = 1; term <= 100; term++) {
      collector.ingest("n1", 0, n1.page(role(term * 10, term, "candidate", "leader"),
        role(term * 10 + 5, term, "leader", "follower", null, "checkQuorum")));
    }
    const counts = collector.elections();
    expect(counts.leadersElected).to.equal(100);
    expect(counts.checkQuorumStepDowns).to.equal(100);
    expect(collector.rawEvents()).to.have.length(7);
    expect(collector.leaderTrack(2000)).to.have.length(5);
    expect(collector.nodeStates(2000).length).to.be.at.most(10);
    expect(counts.dropped).to.equal((200 - 7) + (100 - 5) + (201 - 10));
  });
});
