/**
 * Message economy: an election costs a bounded number of vote messages; proposals made together
 * go out as one append per follower, not one append per proposal; and an idle leader sends one
 * heartbeat per follower per heartbeat interval, with no appends and no elections. Method: a
 * SimCluster over a reliable network; messages are counted as they go on the wire, through the
 * cluster's sentCount() and an onSend observer hook that also sees each message's target and
 * entries. Each bound is compared with what an unbatched or chattier implementation would send.
 */
import { expect } from "chai";
import type { NodeId, RaftMessage } from "../../src/raft/index.js";
import type { SimCluster } from "../../src/sim/cluster.js";
import { addObserver, electionTimeoutTicks, makeCluster, waitForLeader } from "./helpers.js";

const T = electionTimeoutTicks;

const voteTypes = ["preVote", "preVoteResponse", "requestVote", "requestVoteResponse"] as const;

function voteMessageCount(cluster: SimCluster): number {
  return voteTypes.reduce((sum, type) => sum + cluster.sentCount(type), 0);
}

/** Records every message put on the wire from now on. */
function recordSent(cluster: SimCluster): RaftMessage[] {
  const sent: RaftMessage[] = [];
  addObserver(cluster, { onSend: (_node, message) => sent.push(message) });
  return sent;
}

function countByTarget(messages: readonly RaftMessage[], type: RaftMessage["type"]):
  Map<NodeId, number> {
  const counts = new Map<NodeId, number>();
  for (const message of messages) {
    if (message.type === type) counts.set(message.to, (counts.get(message.to) ?? 0) + 1);
  }
  return counts;
}

describe("raft message counts", () => {
  it("elects a leader with a bounded number of vote messages", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const cluster = makeCluster(3, seed);
      waitForLeader(cluster, 2 * T);
      // One campaign costs a pre-vote and a vote round: 4 messages per peer. Allow for two
      // nodes campaigning at once, and nothing more.
      const votes = voteMessageCount(cluster);
      expect(votes, `seed ${seed}`).to.be.at.least(4 * 2);
      expect(votes, `seed ${seed}`).to.be.at.most(2 * 4 * 2);
      // Each request got exactly one answer.
      expect(cluster.sentCount("preVoteResponse")).to.equal(cluster.sentCount("preVote"));
      expect(cluster.sentCount("requestVoteResponse")).to.equal(cluster.sentCount("requestVote"));
    }
  });

  it("re-elects after a leader crash with a bounded number of vote messages", () => {
    const cluster = makeCluster(5, 3);
    const leader = waitForLeader(cluster, 2 * T);
    cluster.crash(leader.id);
    cluster.resetSentCounts();
    waitForLeader(cluster, 4 * T, cluster.ids.filter((id) => id !== leader.id));
    // Requests also go to the crashed node, which never answers: 4 peers per campaign, two
    // rounds, and at most two campaigns.
    expect(voteMessageCount(cluster)).to.be.within(4 + 3 + 4 + 3, 2 * (4 + 3 + 4 + 3));
  });

  it("sends no vote messages while a healthy leader leads", () => {
    const cluster = makeCluster(5, 4);
    waitForLeader(cluster, 2 * T);
    cluster.resetSentCounts();
    cluster.tick(30 * T);
    expect(voteMessageCount(cluster)).to.equal(0);
  });

  it("sends proposals made together as one append per follower", () => {
    const cluster = makeCluster(3, 5);
    const leader = waitForLeader(cluster, 2 * T);
    const sent = recordSent(cluster);
    for (let k = 0; k < 10; k++) expect(leader.raft.propose(`v${k}`).kind).to.equal("accepted");
    cluster.stabilize();
    const withEntries = sent.filter((m) => m.type === "append" && m.entries.length > 0);
    expect(withEntries.map((m) => m.to).sort()).to.deep.equal(
      cluster.ids.filter((id) => id !== leader.id).sort());
    for (const message of withEntries) {
      expect(message.type === "append" && message.entries.map((entry) => entry.data))
        .to.deep.equal(Array.from({ length: 10 }, (_, k) => `v${k}`));
    }
    // Besides the batch, at most one empty append per follower, announcing the commit.
    for (const [to, count] of countByTarget(sent, "append")) {
      expect(count, `appends to ${to}`).to.be.at.most(2);
    }
    expect(cluster.appliedCount(leader.raft.status().lastLogIndex, "v9")).to.equal(3);
  });

  it("counter-check: proposals made one stabilize apart go out one append each", () => {
    // Shows that the batching above comes from proposing together, not from the harness.
    const cluster = makeCluster(3, 5);
    const leader = waitForLeader(cluster, 2 * T);
    const sent = recordSent(cluster);
    for (let k = 0; k < 10; k++) {
      leader.raft.propose(`v${k}`);
      cluster.stabilize();
    }
    const withEntries = sent.filter((m) => m.type === "append" && m.entries.length > 0);
    expect(withEntries).to.have.length(2 * 10);
  });

  for (const heartbeatIntervalTicks of [1, 3]) {
    it(`sends N / ${heartbeatIntervalTicks} heartbeats per follower over N idle ticks, ` +
      "and no appends", () => {
      const cluster = makeCluster(3, 6, { config: { heartbeatIntervalTicks } });
      const leader = waitForLeader(cluster, 2 * T);
      cluster.tick(T);
      const sent = recordSent(cluster);
      const idleTicks = 30 * T;
      cluster.tick(idleTicks);
      const heartbeats = countByTarget(sent, "heartbeat");
      const expected = idleTicks / heartbeatIntervalTicks;
      for (const id of cluster.ids.filter((id) => id !== leader.id)) {
        expect(heartbeats.get(id) ?? 0, `heartbeats to ${id}`)
          .to.be.within(expected - 1, expected + 1);
      }
      expect(countByTarget(sent, "heartbeatResponse").get(leader.id) ?? 0)
        .to.be.within(2 * (expected - 1), 2 * (expected + 1));
      expect(sent.filter((m) => m.type === "append")).to.deep.equal([]);
      expect(sent.filter((m) => m.type !== "heartbeat" && m.type !== "heartbeatResponse"))
        .to.deep.equal([]);
    });
  }
});
