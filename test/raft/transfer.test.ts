/**
 * Leadership transfer (Ongaro's thesis §3.10): the leader stops taking proposals, brings the
 * target's log up to date, and sends it TimeoutNow; the target campaigns at once, in the next
 * term, with a vote request that voters honour even inside their leader lease. A transfer that
 * does not finish within an election timeout is abandoned. The tests run a SimCluster
 * (src/sim/cluster.ts) on a reliable simulated network; time passes only through tick(), so
 * "quickly" is counted in ticks, and the ones that need no timeout at all run with none.
 */
import { expect } from "chai";
import type { NodeId, RaftConfig, RaftMessage, RaftNode } from "../../src/raft/index.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";

const electionTimeoutTicks = 10;

function newCluster(size = 3, config: Partial<RaftConfig> = {}): SimCluster {
  return new SimCluster({ ids: nodeIds(size), seed: 9, config });
}

function electLeader(cluster: SimCluster, id: NodeId): void {
  cluster.node(id).raft.campaign();
  cluster.stabilize();
  expect(cluster.leader()?.id).to.equal(id);
}

function recordSends(cluster: SimCluster): RaftMessage[] {
  const sent: RaftMessage[] = [];
  cluster.observer = { onSend: (_node, message) => sent.push(message) };
  return sent;
}

function raftOf(cluster: SimCluster, id: NodeId): RaftNode {
  return cluster.node(id).raft;
}

describe("leadership transfer (thesis §3.10)", () => {
  it("hands leadership to an up-to-date follower in the next term, without any tick", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    cluster.propose("a");
    cluster.stabilize();
    const sent = recordSends(cluster);
    expect(raftOf(cluster, "n1").transferLeadership("n2")).to.deep.equal({ kind: "started" });
    cluster.stabilize();
    expect(cluster.leaders().map((node) => node.id)).to.deep.equal(["n2"]);
    for (const id of ["n1", "n2", "n3"]) {
      expect(raftOf(cluster, id).status(), id).to.include({ term: 2, leaderId: "n2" });
    }
    // TimeoutNow goes straight out, and the vote requests are marked as a transfer so that
    // n3, inside its lease from n1, still answers them.
    expect(sent.filter((m) => m.type === "timeoutNow").map((m) => [m.from, m.to]))
      .to.deep.equal([["n1", "n2"]]);
    expect(sent.filter((m) => m.type === "requestVote").map((m) => m.type === "requestVote" &&
      m.transfer)).to.deep.equal([true, true]);
    expect(sent.some((m) => m.type === "preVote")).to.equal(false);
    // The new leader commits its no-op, and the old entries with it, on every node.
    const index = cluster.propose("b")!;
    cluster.stabilize();
    expect(cluster.appliedCount(index, "b")).to.equal(3);
  });

  it("first catches up a follower that was down since before the election", () => {
    const cluster = newCluster();
    cluster.crash("n3");
    electLeader(cluster, "n1");
    for (const data of ["a", "b", "c"]) cluster.propose(data);
    cluster.stabilize();
    cluster.restart("n3");
    expect(raftOf(cluster, "n3").status().lastLogIndex).to.equal(0);
    expect(raftOf(cluster, "n1").transferLeadership("n3")).to.deep.equal({ kind: "started" });
    const done = cluster.tickUntil(() => cluster.leader()?.id === "n3", electionTimeoutTicks);
    expect(done, "n3 leads within an election timeout").to.equal(true);
    expect(raftOf(cluster, "n3").status()).to.include({ term: 2, lastLogIndex: 5 });
  });

  it("first catches up a follower that missed entries while partitioned", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    cluster.isolate("n3");
    for (const data of ["a", "b", "c"]) cluster.propose(data);
    cluster.stabilize();
    cluster.heal();
    cluster.tick(2);
    expect(raftOf(cluster, "n1").transferLeadership("n3")).to.deep.equal({ kind: "started" });
    const done = cluster.tickUntil(() => cluster.leader()?.id === "n3", electionTimeoutTicks);
    const progress = raftOf(cluster, "n1").status().progress["n3"];
    expect(done, `n3 leads within an election timeout; n1's progress for n3 is ` +
      `${JSON.stringify(progress)}, n3's last index ${raftOf(cluster, "n3").status()
        .lastLogIndex}`).to.equal(true);
    expect(raftOf(cluster, "n3").status()).to.include({ term: 2, lastLogIndex: 5 });
  });

  it("refuses proposals while a transfer is under way", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    cluster.isolate("n3");
    const leader = raftOf(cluster, "n1");
    expect(leader.propose("before")).to.include({ kind: "accepted" });
    cluster.stabilize();
    leader.transferLeadership("n3");
    expect(leader.propose("during")).to.deep.equal({ kind: "transferring", leaderIdHint: "n3" });
    const last = leader.status().lastLogIndex;
    cluster.tick(3);
    expect(leader.propose("during")).to.deep.equal({ kind: "transferring", leaderIdHint: "n3" });
    expect(leader.status().lastLogIndex).to.equal(last);
  });

  it("abandons a transfer to an unreachable node after an election timeout", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    cluster.tick(4);
    cluster.isolate("n3");
    const leader = raftOf(cluster, "n1");
    expect(leader.transferLeadership("n3")).to.deep.equal({ kind: "started" });
    cluster.tick(electionTimeoutTicks - 1);
    expect(leader.propose("x").kind).to.equal("transferring");
    cluster.tick(1);
    expect(leader.propose("x").kind).to.equal("accepted");
    expect(cluster.leaders().map((node) => node.id)).to.deep.equal(["n1"]);
    expect(leader.status().term).to.equal(1);
    cluster.stabilize();
    expect(cluster.node("n2").applied.map((entry) => entry.data)).to.deep.equal(["", "x"]);
  });

  it("refuses a transfer to a node outside the cluster", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    expect(raftOf(cluster, "n1").transferLeadership("n9")).to.deep.equal(
      { kind: "unknownTarget" });
    expect(raftOf(cluster, "n1").propose("x").kind).to.equal("accepted");
  });

  it("answers alreadyLeader for a transfer to the leader itself", () => {
    const cluster = newCluster();
    electLeader(cluster, "n1");
    expect(raftOf(cluster, "n1").transferLeadership("n1")).to.deep.equal(
      { kind: "alreadyLeader" });
    expect(raftOf(cluster, "n1").propose("x").kind).to.equal("accepted");
  });

  it("answers notLeader with the leader it knows on a follower", () => {
    const cluster = newCluster();
    expect(raftOf(cluster, "n2").transferLeadership("n3")).to.deep.equal(
      { kind: "notLeader", leaderIdHint: null });
    electLeader(cluster, "n1");
    expect(raftOf(cluster, "n2").transferLeadership("n3")).to.deep.equal(
      { kind: "notLeader", leaderIdHint: "n1" });
    cluster.stabilize();
    expect(cluster.leader()?.id).to.equal("n1");
  });
});
