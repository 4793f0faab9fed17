/**
 * Leader election at the cluster level (§5.2, with PreVote and CheckQuorum from the thesis,
 * §9.6 and §6.2): a cluster elects exactly one leader that every node follows, elects a new one
 * when the leader is lost, elects none without a quorum (and, under PreVote, does not inflate
 * terms while it waits), and keeps at most one leader per term through many random
 * disconnections. Method: a deterministic SimCluster over a reliable network, driven by tick();
 * a SafetyMonitor records the sender of every append and heartbeat as the leader of its term and
 * fails the test if two nodes ever lead one term. Every wait is bounded in ticks, as a multiple
 * of the election timeout T.
 */
import { expect } from "chai";
import { SeededRng, type NodeId } from "../../src/raft/index.js";
import type { SimCluster } from "../../src/sim/cluster.js";
import { electionTimeoutTicks, makeCluster, SafetyMonitor, waitForLeader } from "./helpers.js";

const T = electionTimeoutTicks;

function terms(cluster: SimCluster): number[] {
  return cluster.upNodes().map((node) => node.raft.status().term);
}

function maxTerm(cluster: SimCluster): number {
  return Math.max(...[...cluster.nodes.values()].map((node) => node.raft.status().term));
}

describe("raft election", () => {
  describe("initial election", () => {
    for (const count of [3, 5]) {
      it(`elects exactly one leader that all ${count} nodes follow within 2T ticks`, () => {
        for (let seed = 1; seed <= 10; seed++) {
          const cluster = makeCluster(count, seed);
          const monitor = new SafetyMonitor(cluster);
          // The first timeout fires by tick 2T - 1, and a reliable network finishes the
          // (pre-)vote rounds within that tick: one timeout should be enough.
          const leader = waitForLeader(cluster, 2 * T);
          const status = leader.raft.status();
          expect(status.term, `seed ${seed}`).to.be.at.least(1);
          expect(terms(cluster), `seed ${seed}`).to.deep.equal(Array(count).fill(status.term));
          monitor.checkLeaders();
        }
      });
    }

    it("keeps the same leader and term while nothing fails", () => {
      const cluster = makeCluster(3, 7);
      const monitor = new SafetyMonitor(cluster);
      const leader = waitForLeader(cluster, 2 * T);
      const term = leader.raft.status().term;
      for (let tick = 0; tick < 20 * T; tick++) {
        cluster.tick();
        monitor.checkLeaders();
        expect(cluster.leaders().map((node) => node.id)).to.deep.equal([leader.id]);
        expect(terms(cluster)).to.deep.equal([term, term, term]);
      }
    });
  });

  describe("re-election", () => {
    it("elects a new leader in a higher term after the leader crashes", () => {
      const cluster = makeCluster(3, 11);
      const monitor = new SafetyMonitor(cluster);
      const first = waitForLeader(cluster, 2 * T);
      const firstTerm = first.raft.status().term;
      cluster.crash(first.id);
      // Followers wait out the lease (T) and then a randomized timeout below 2T.
      const others = cluster.ids.filter((id) => id !== first.id);
      const second = waitForLeader(cluster, 4 * T, others);
      expect(second.id).to.not.equal(first.id);
      expect(second.raft.status().term).to.be.greaterThan(firstTerm);
      monitor.checkLeaders();

      // The old leader comes back as a follower of the new one, without an election.
      cluster.restart(first.id);
      const secondTerm = second.raft.status().term;
      expect(waitForLeader(cluster, 2 * T).id).to.equal(second.id);
      expect(terms(cluster)).to.deep.equal([secondTerm, secondTerm, secondTerm]);
    });

    it("elects a new leader when the leader is isolated, and the old one steps down", () => {
      const cluster = makeCluster(5, 12);
      const monitor = new SafetyMonitor(cluster);
      const first = waitForLeader(cluster, 2 * T);
      cluster.isolate(first.id);
      const others = cluster.ids.filter((id) => id !== first.id);
      const second = waitForLeader(cluster, 4 * T, others);
      expect(second.raft.status().term).to.be.greaterThan(first.raft.status().term);
      // CheckQuorum: a leader that hears from no majority for T ticks steps down (within 2T,
      // since the check runs every T ticks).
      const steppedDown = cluster.tickUntil(() => first.raft.status().role !== "leader", 2 * T);
      expect(steppedDown, "the isolated leader still leads").to.equal(true);
      monitor.checkLeaders();

      // PreVote: the old leader's failed campaigns did not raise its term, and on rejoining it
      // follows the new leader instead of deposing it.
      const secondTerm = second.raft.status().term;
      expect(first.raft.status().term).to.be.lessThan(secondTerm);
      cluster.heal();
      expect(waitForLeader(cluster, 2 * T).id).to.equal(second.id);
      expect(second.raft.status().term).to.equal(secondTerm);
    });
  });

  describe("no quorum", () => {
    it("elects no leader while 2 of 3 nodes are down, and does not inflate terms", () => {
      const cluster = makeCluster(3, 21);
      const monitor = new SafetyMonitor(cluster);
      const leader = waitForLeader(cluster, 2 * T);
      const follower = cluster.ids.find((id) => id !== leader.id)!;
      const survivor = cluster.node(cluster.ids.find((id) => id !== leader.id && id !== follower)!);
      const term = survivor.raft.status().term;
      cluster.crash(leader.id);
      cluster.crash(follower);
      let campaigned = false;
      for (let tick = 0; tick < 20 * T; tick++) {
        cluster.tick();
        monitor.checkLeaders();
        expect(cluster.leaders(), `tick ${tick}`).to.deep.equal([]);
        if (survivor.raft.status().role === "preCandidate") campaigned = true;
      }
      // It campaigned, but PreVote never let it bump its term.
      expect(campaigned).to.equal(true);
      expect(survivor.raft.status().term).to.equal(term);

      cluster.restart(follower);
      const next = waitForLeader(cluster, 4 * T, [survivor.id, follower]);
      expect(next.raft.status().term).to.be.greaterThan(term);
    });

    it("counter-check: without PreVote the same node's term does grow", () => {
      // Shows that the term assertion above can fail: plain Raft increments the term at each
      // election timeout, even when no election can succeed.
      const cluster = makeCluster(3, 21, { config: { preVote: false } });
      const leader = waitForLeader(cluster, 2 * T);
      const others = cluster.ids.filter((id) => id !== leader.id);
      const survivor = cluster.node(others[1]!);
      const term = survivor.raft.status().term;
      cluster.crash(leader.id);
      cluster.crash(others[0]!);
      cluster.tick(20 * T);
      expect(cluster.leaders()).to.deep.equal([]);
      expect(survivor.raft.status().term).to.be.greaterThan(term + 5);
    });

    it("elects no leader while 5 nodes are split 2/2/1; the leader steps down", () => {
      const cluster = makeCluster(5, 22);
      const monitor = new SafetyMonitor(cluster);
      waitForLeader(cluster, 2 * T);
      const termBefore = maxTerm(cluster);
      cluster.partition(["n1", "n2"], ["n3", "n4"], ["n5"]);
      // Whoever led steps down within 2T (CheckQuorum); after that nobody may lead.
      cluster.tick(2 * T);
      for (let tick = 0; tick < 20 * T; tick++) {
        cluster.tick();
        monitor.checkLeaders();
        expect(cluster.leaders(), `tick ${tick}`).to.deep.equal([]);
      }
      expect(maxTerm(cluster)).to.equal(termBefore);

      cluster.heal();
      const leader = waitForLeader(cluster, 4 * T);
      expect(leader.raft.status().term).to.be.greaterThan(termBefore);
    });
  });

  it("keeps one leader per term through many random disconnections among 7 nodes", () => {
    const cluster = makeCluster(7, 31);
    const monitor = new SafetyMonitor(cluster);
    const rng = new SeededRng(31);
    waitForLeader(cluster, 2 * T);
    let withQuorumCount = 0;
    let withoutQuorumCount = 0;
    for (let step = 0; step < 30; step++) {
      cluster.heal();
      // Disconnect 0 to 4 nodes, each from everyone: with 4 gone, no group holds a majority.
      const disconnectedCount = rng.nextInt(5);
      const disconnected = new Set<NodeId>();
      while (disconnected.size < disconnectedCount) {
        disconnected.add(cluster.ids[rng.nextInt(cluster.ids.length)]!);
      }
      for (const id of disconnected) cluster.isolate(id);
      const connected = cluster.ids.filter((id) => !disconnected.has(id));

      if (connected.length >= 4) {
        withQuorumCount++;
        waitForLeader(cluster, 10 * T, connected);
      } else {
        withoutQuorumCount++;
        cluster.tick(2 * T);
        for (let tick = 0; tick < 2 * T; tick++) {
          cluster.tick();
          monitor.checkLeaders();
          expect(cluster.leaders(), `step ${step}, tick ${tick}`).to.deep.equal([]);
        }
      }
      monitor.checkLeaders();
      cluster.tick(rng.nextInt(2 * T));
      monitor.checkLeaders();
    }
    // The seed exercises both branches, and the cluster really changed leaders along the way.
    expect(withQuorumCount).to.be.greaterThan(0);
    expect(withoutQuorumCount).to.be.greaterThan(0);
    expect(monitor.leaderByTerm.size).to.be.greaterThan(3);
  });
});
