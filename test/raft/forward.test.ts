/**
 * Proposal forwarding (thesis §6.2; etcd's MsgProp): a follower hands client proposals to the
 * leader it knows inside the Raft traffic, and the leader appends them as its own, in its term.
 * Nothing is answered, so what matters is where they end up: committed and applied everywhere
 * through a live leader, and dropped (never appended) by a node that does not lead, by a leader
 * handing over leadership, by one over its uncommitted bound, and when they carry a stale term.
 * Method: a SimCluster with a SafetyMonitor; the drops are checked by stepping the message into
 * the node directly and comparing its log before and after.
 */
import { expect } from "chai";
import type { ProposeRequest } from "../../src/raft/index.js";
import { SimCluster, nodeIds, type SimNode } from "../../src/sim/cluster.js";
import { electionTimeoutTicks, SafetyMonitor, waitForLeader } from "./helpers.js";

function cluster3(seed: number, config = {}): SimCluster {
  const cluster = new SimCluster({ ids: nodeIds(3), seed, config });
  new SafetyMonitor(cluster);
  return cluster;
}

function proposeMessage(from: SimNode, to: SimNode, data: string[], term?: number): ProposeRequest {
  return { type: "propose", from: from.id, to: to.id, term: term ?? from.raft.status().term, data };
}

describe("proposal forwarding", () => {
  it("a follower's proposals are appended by the leader in its term and applied everywhere", () => {
    const cluster = cluster3(1);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const follower = cluster.upNodes().find((node) => node !== leader)!;
    expect(follower.raft.forward(["a", "b"])).to.deep.equal({ kind: "forwarded",
      leaderId: leader.id });
    cluster.tick(5);
    for (const node of cluster.upNodes()) {
      const applied = node.applied.filter((entry) => entry.data === "a" || entry.data === "b");
      expect(applied.map((entry) => [entry.data, entry.term]), node.id).to.deep.equal([
        ["a", leader.raft.status().term], ["b", leader.raft.status().term]]);
    }
  });

  it("forwardMessage() hands the propose back instead of queueing it for the next Ready", () => {
    const cluster = cluster3(4);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const follower = cluster.upNodes().find((node) => node !== leader)!;
    cluster.tick(5);
    const result = follower.raft.forwardMessage(["c"]);
    expect(result).to.deep.equal({ kind: "forwarded", leaderId: leader.id,
      message: proposeMessage(follower, leader, ["c"]) });
    const queued = follower.raft.hasReady() ? follower.raft.ready().messages : [];
    expect(queued.filter((message) => message.type === "propose")).to.deep.equal([]);
    expect(leader.raft.forwardMessage(["x"])).to.deep.equal({ kind: "isLeader" });
  });

  it("forward() tells a leader to propose itself, and a node with no leader that it has none", () => {
    const cluster = cluster3(2);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    expect(leader.raft.forward(["x"])).to.deep.equal({ kind: "isLeader" });
    // Everyone cut off from everyone: a follower times out and campaigns, without success.
    for (const id of cluster.ids) cluster.isolate(id);
    const other = cluster.upNodes().find((node) => node !== leader)!;
    expect(cluster.tickUntil(() => other.raft.status().role !== "follower",
      50 * electionTimeoutTicks)).to.equal(true);
    expect(other.raft.status().role).to.equal("preCandidate");
    expect(other.raft.forward(["x"])).to.deep.equal({ kind: "noLeader" });
  });

  it("is dropped by a node that does not lead, and when it carries a stale term", () => {
    const cluster = cluster3(3);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const [first, second] = cluster.upNodes().filter((node) => node !== leader) as
      [SimNode, SimNode];
    const lastOf = (node: SimNode): number => node.raft.status().lastLogIndex;
    const followerLast = lastOf(second);
    second.raft.step(proposeMessage(first, second, ["lost"]));
    expect(lastOf(second)).to.equal(followerLast);
    const leaderLast = lastOf(leader);
    leader.raft.step(proposeMessage(first, leader, ["stale"], leader.raft.status().term - 1));
    expect(lastOf(leader)).to.equal(leaderLast);
    leader.raft.step(proposeMessage(first, leader, ["fresh"]));
    expect(lastOf(leader)).to.equal(leaderLast + 1);
  });

  it("is dropped by a leader handing over leadership, or at its uncommitted bound", () => {
    const cluster = cluster3(4, { uncommittedEntriesMax: 3 });
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const [first, second] = cluster.upNodes().filter((node) => node !== leader) as
      [SimNode, SimNode];
    // The followers stop answering, so nothing commits and the tail grows to its bound.
    cluster.isolate(first.id);
    cluster.isolate(second.id);
    const committed = leader.raft.status().commitIndex;
    // The prefix that fits under the bound is taken, in order; then nothing more.
    leader.raft.step(proposeMessage(first, leader, ["1", "2"]));
    leader.raft.step(proposeMessage(first, leader, ["3", "4"]));
    leader.raft.step(proposeMessage(first, leader, ["5"]));
    expect(leader.raft.status().lastLogIndex - committed).to.equal(3);
    expect(leader.raft.entries(committed + 1, committed + 4).map((entry) => entry.data))
      .to.deep.equal(["1", "2", "3"]);
    cluster.heal();
    cluster.tick(3);
    expect(leader.raft.transferLeadership(first.id).kind).to.equal("started");
    const last = leader.raft.status().lastLogIndex;
    leader.raft.step(proposeMessage(second, leader, ["during transfer"]));
    expect(leader.raft.status().lastLogIndex).to.equal(last);
  });
});
