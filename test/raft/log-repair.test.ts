/**
 * Log repair (§5.3): a leader forces followers' logs to match its own, replacing conflicting
 * uncommitted entries, and it finds the point of agreement quickly. A partitioned old leader
 * that rejoins has its stale entries replaced and never applies them; and when followers hold
 * 50 conflicting entries, the leader backs up a whole term per round trip (the follower's hint
 * of its last entry at or below the leader's term), so the number of rejected appends stays
 * bounded by the number of conflicting terms, not by the 50 entries. Method: the classic lab's
 * TestRejoin and TestBackup on a SimCluster over a reliable network, with partitions; every
 * appendResponse is watched through the cluster's observer hook to count rejections.
 */
import { expect } from "chai";
import type { NodeId } from "../../src/raft/index.js";
import type { SimCluster } from "../../src/sim/cluster.js";
import {
  addObserver,
  commitOne,
  countMessages,
  electionTimeoutTicks,
  expectSameApplied,
  expectSameLogs,
  logOf,
  makeCluster,
  SafetyMonitor,
  waitForLeader,
} from "./helpers.js";

const T = electionTimeoutTicks;

/** Proposes `count` values at the node `leaderId`, which must still lead. */
function proposeMany(cluster: SimCluster, leaderId: NodeId, prefix: string, count: number): void {
  const leader = cluster.node(leaderId);
  for (let k = 0; k < count; k++) {
    expect(leader.raft.propose(`${prefix}-${k}`).kind, `${leaderId} leads`).to.equal("accepted");
  }
  cluster.stabilize();
}

describe("raft log repair", () => {
  it("replaces a rejoining old leader's uncommitted entries, never applying them", () => {
    const cluster = makeCluster(3, 41);
    new SafetyMonitor(cluster);
    const stale = new Set(["102", "103", "104"]);
    addObserver(cluster, {
      onApply(node, entry) {
        expect(stale.has(entry.data), `${node.id} applied stale "${entry.data}"`).to.equal(false);
      },
    });
    const leader1 = waitForLeader(cluster, 2 * T);
    commitOne(cluster, "101", 3);

    // The leader, cut off, accepts three entries that can never commit.
    cluster.isolate(leader1.id);
    for (const data of stale) expect(leader1.raft.propose(data).kind).to.equal("accepted");
    cluster.stabilize();
    expect(logOf(leader1).map((entry) => entry.data)).to.include.members([...stale]);

    // The other two elect a leader and commit at the same indexes.
    const others = cluster.ids.filter((id) => id !== leader1.id);
    const leader2 = waitForLeader(cluster, 4 * T, others);
    commitOne(cluster, "103b", 2);

    // Now leader2 is cut off and the old leader rejoins the third node. Its log ends in an
    // older term, so only the third node can win, and it overwrites the stale entries.
    cluster.heal();
    cluster.isolate(leader2.id);
    const third = others.find((id) => id !== leader2.id)!;
    const leader3 = waitForLeader(cluster, 6 * T, [leader1.id, third]);
    expect(leader3.id).to.equal(third);
    commitOne(cluster, "104b", 2);

    cluster.heal();
    commitOne(cluster, "105", 3);
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    const data = logOf(leader1).map((entry) => entry.data);
    for (const value of stale) expect(data).to.not.include(value);
    expect(data).to.include.members(["101", "103b", "104b", "105"]);
  });

  it("backs up over 50 conflicting entries with a few rejections per term (TestBackup)", () => {
    const cluster = makeCluster(5, 42);
    new SafetyMonitor(cluster);
    // Rejections of a log mismatch carry the rejected prevLogIndex (> 0); answers to a stale
    // leader's term carry 0 and are not part of log repair.
    const mismatches = countMessages(cluster,
      (message) => message.type === "appendResponse" && !message.success && message.index > 0);
    const rejectionsTo = new Map<NodeId, number>();
    addObserver(cluster, {
      onSend(node, message) {
        if (message.type === "appendResponse" && !message.success && message.index > 0) {
          rejectionsTo.set(node.id, (rejectionsTo.get(node.id) ?? 0) + 1);
        }
      },
    });

    const leader1 = waitForLeader(cluster, 2 * T).id;
    commitOne(cluster, "start", 5);
    const [f1, o1, o2, o3] = cluster.ids.filter((id) => id !== leader1) as [
      NodeId, NodeId, NodeId, NodeId];

    // Phase 1: leader1 and f1 are cut off together; 50 entries reach f1 but cannot commit.
    cluster.partition([leader1, f1], [o1, o2, o3]);
    proposeMany(cluster, leader1, "lost-a", 50);

    // Phase 2: the other three elect a leader and commit 50 entries of a later term.
    const leader2 = waitForLeader(cluster, 6 * T, [o1, o2, o3]).id;
    proposeMany(cluster, leader2, "kept-b", 50);
    const [mate, other] = [o1, o2, o3].filter((id) => id !== leader2) as [NodeId, NodeId];
    expect(cluster.appliedCount(cluster.node(leader2).raft.status().lastLogIndex, "kept-b-49"))
      .to.equal(3);

    // Phase 3: leader2 keeps only `mate`; 50 more entries cannot commit.
    cluster.heal();
    cluster.partition([leader1, f1], [leader2, mate], [other]);
    proposeMany(cluster, leader2, "lost-c", 50);

    // Phase 4: leader1, f1 and `other` form a majority. Only `other` holds the committed
    // "kept-b" entries, so it must win, then repair leader1 and f1 over their 50 "lost-a".
    cluster.heal();
    cluster.partition([leader1, f1, other], [leader2, mate]);
    mismatches.count = 0;
    rejectionsTo.clear();
    expect(waitForLeader(cluster, 10 * T, [leader1, f1, other]).id).to.equal(other);
    proposeMany(cluster, other, "kept-d", 50);
    expect(cluster.appliedCount(cluster.node(other).raft.status().lastLogIndex, "kept-d-49"))
      .to.equal(3);
    // One conflicting term each: a rejection that names it, then a probe that matches.
    expect(rejectionsTo.get(leader1) ?? 0, "rejections by leader1").to.be.at.most(2);
    expect(rejectionsTo.get(f1) ?? 0, "rejections by f1").to.be.at.most(2);
    const phase4Count = mismatches.count;

    // Phase 5: everyone reconnects; leader2 and `mate` lose their 50 "lost-c".
    cluster.heal();
    mismatches.count = 0;
    rejectionsTo.clear();
    commitOne(cluster, "final", 5);
    expect(rejectionsTo.get(leader2) ?? 0, "rejections by leader2").to.be.at.most(2);
    expect(rejectionsTo.get(mate) ?? 0, "rejections by mate").to.be.at.most(2);
    expect(phase4Count + mismatches.count, "log-mismatch rejections in phases 4 and 5")
      .to.be.at.most(8);

    expectSameLogs(cluster);
    expectSameApplied(cluster);
    const data = logOf(cluster.node(leader1)).map((entry) => entry.data);
    expect(data.some((value) => value.startsWith("lost-"))).to.equal(false);
    expect(data.filter((value) => value.startsWith("kept-"))).to.have.length(100);
  });
});
