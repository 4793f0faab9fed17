/**
 * The paper's Figure 8 (§5.4.2): a leader must not commit an entry from an earlier term by
 * counting replicas, because a later leader may still overwrite it; only once an entry of its
 * own term is stored on a majority are the earlier entries committed, indirectly. Method: first
 * the figure itself, step by step on five nodes S1..S5 = n1..n5, with explicit campaign() calls
 * and stabilize() but no ticks (so no timer fires on its own), crashes, and links cut at chosen
 * moments; the classic configuration (no PreVote, no CheckQuorum) so that votes depend on logs
 * and terms alone; and one entry per append, so that the leader can replicate an old entry
 * without its new one. Then the classic lab's randomized TestFigure8 and TestFigure8Unreliable:
 * many rounds of proposals, leader crashes or disconnections and restarts, over a reliable and
 * an unreliable network (drops, duplicates, delays), checking after every round that all
 * applied sequences are prefixes of each other, with a SafetyMonitor watching every apply.
 */
import { expect } from "chai";
import { SeededRng, type NodeId } from "../../src/raft/index.js";
import { reliableNetwork, type SimCluster, type SimNode } from "../../src/sim/cluster.js";
import {
  addObserver,
  commitOne,
  electionTimeoutTicks,
  expectAppliedPrefixes,
  expectSameApplied,
  expectSameLogs,
  makeCluster,
  SafetyMonitor,
} from "./helpers.js";

const T = electionTimeoutTicks;

/** Makes `id` campaign until it leads, at most `attemptsMax` times; returns whether it won. */
function tryElect(cluster: SimCluster, id: NodeId, attemptsMax = 3): boolean {
  const node = cluster.node(id);
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    node.raft.campaign();
    cluster.stabilize();
    if (node.raft.status().role === "leader") return true;
  }
  return false;
}

function elect(cluster: SimCluster, id: NodeId): SimNode {
  expect(tryElect(cluster, id), `${id} should win an election`).to.equal(true);
  return cluster.node(id);
}

function cutBothWays(cluster: SimCluster, a: NodeId, b: NodeId): void {
  cluster.cutLink(a, b);
  cluster.cutLink(b, a);
}

/** The ids of live nodes holding an entry of term `term` at `index`. */
function holders(cluster: SimCluster, index: number, term: number): NodeId[] {
  return cluster.upNodes().filter((node) => node.raft.termAt(index) === term).map((n) => n.id);
}

/**
 * Figure 8 (a) to (c): returns a cluster where S1 leads term 3 and its term-1 entry "X" at
 * index 2 is on S1, S2 and S3, a majority. `replicateNewEntry` says whether S3 also receives
 * S1's term-3 no-op at index 3 (Figure 8 (e)) or not (Figure 8 (c)).
 */
function buildFigure8(replicateNewEntry: boolean): { cluster: SimCluster; monitor: SafetyMonitor } {
  const cluster = makeCluster(5, 81, {
    config: { preVote: false, checkQuorum: false, entriesPerAppendMax: 1 },
  });
  const monitor = new SafetyMonitor(cluster);
  elect(cluster, "n1");
  expect(cluster.appliedCount(1, "")).to.equal(5);

  // (a) S1 leads term 1 and gets "X" at index 2 to S2 only.
  for (const to of ["n3", "n4", "n5"]) cluster.cutLink("n1", to);
  expect(cluster.propose("X")).to.equal(2);
  cluster.stabilize();
  expect(holders(cluster, 2, 1)).to.deep.equal(["n1", "n2"]);
  cluster.heal();

  // (b) S1 crashes; S5 wins term 2 with votes from S3 and S4 (S2's log is more up to date and
  // refuses), and writes its no-op at index 2 to its own disk only, then crashes.
  cluster.crash("n1");
  cluster.droppedTypes.add("append");
  const s5 = elect(cluster, "n5");
  expect(s5.raft.status().term).to.equal(2);
  expect(s5.disk.entries.map((entry) => entry.term)).to.deep.equal([1, 2]);
  cluster.crash("n5");
  cluster.heal();

  // (c) S1 restarts and wins term 3 with S2 and S3; S4 is out of reach. S1 repairs S3 by
  // sending "X"; unless `replicateNewEntry`, the link to S3 is cut once S3 stored "X", so that
  // S3 never receives S1's term-3 no-op.
  cluster.restart("n1");
  cutBothWays(cluster, "n1", "n4");
  let cutDone = replicateNewEntry;
  addObserver(cluster, {
    onReady(node, ready) {
      if (!cutDone && node.id === "n3" && ready.entries.some((entry) => entry.index === 2)) {
        cluster.cutLink("n1", "n3");
        cutDone = true;
      }
    },
  });
  const s1 = elect(cluster, "n1");
  expect(s1.raft.status().term).to.equal(3);
  expect(cutDone).to.equal(true);
  cluster.heal();
  return { cluster, monitor };
}

describe("raft Figure 8", () => {
  it("does not commit an earlier-term entry stored on a majority, which may be overwritten", () => {
    const { cluster, monitor } = buildFigure8(false);
    const s1 = cluster.node("n1");
    // "X" (term 1) is on S1, S2, S3: a majority, and the leader knows it...
    expect(holders(cluster, 2, 1)).to.deep.equal(["n1", "n2", "n3"]);
    const progress = s1.raft.status().progress;
    expect([progress.n2!.match, progress.n3!.match]).to.deep.equal([3, 2]);
    // ...but it is not of the leader's term (3), so it is not committed (§5.4.2).
    expect(s1.raft.status().commitIndex).to.equal(1);
    expect(cluster.appliedCount(2, "X")).to.equal(0);

    // (d) S1 crashes; S5 restarts and wins term 4 with S3 and S4 (its last term, 2, beats
    // theirs), then overwrites index 2 everywhere with its term-2 no-op.
    cluster.crash("n1");
    cluster.restart("n5");
    const s5 = elect(cluster, "n5");
    expect(s5.raft.status().term).to.equal(4);
    expect(holders(cluster, 2, 2)).to.deep.equal(["n2", "n3", "n4", "n5"]);
    expect(cluster.appliedCount(2, "")).to.equal(4);

    // S1 comes back, loses "X" as well, and everyone agrees.
    cluster.restart("n1");
    commitOne(cluster, "after", 5);
    expect(holders(cluster, 2, 1)).to.deep.equal([]);
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    expect(monitor.appliedByIndex.get(2)?.term).to.equal(2);
  });

  it("commits the earlier entry once an entry of the leader's term is on a majority", () => {
    // Figure 8 (e): S1 gets its term-3 no-op to S2 and S3 before crashing.
    const { cluster, monitor } = buildFigure8(true);
    const s1 = cluster.node("n1");
    expect(s1.raft.status().commitIndex).to.equal(3);
    expect(cluster.appliedCount(2, "X")).to.equal(3);

    // S5 can no longer win: S2 and S3 hold a later last term than S5 does.
    cluster.crash("n1");
    cluster.restart("n5");
    expect(tryElect(cluster, "n5", 5)).to.equal(false);
    expect(cluster.leaders()).to.deep.equal([]);

    cluster.restart("n1");
    commitOne(cluster, "after", 5);
    expect(holders(cluster, 2, 1)).to.deep.equal(["n1", "n2", "n3", "n4", "n5"]);
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    expect(monitor.appliedByIndex.get(2)?.data).to.equal("X");
  });

  it("keeps applied sequences consistent through many leader crashes (TestFigure8)", () => {
    const cluster = makeCluster(5, 82);
    const monitor = new SafetyMonitor(cluster);
    const rng = new SeededRng(82);
    commitOne(cluster, "start", 1);
    let crashCount = 0;
    for (let round = 0; round < 1000; round++) {
      const leader = cluster.leader();
      if (leader !== null) leader.raft.propose(`r${round}`);
      // Mostly less than a heartbeat interval passes; sometimes half an election timeout.
      cluster.tick(rng.nextFloat() < 0.1 ? rng.nextInt(T / 2) : rng.nextInt(2));
      if (leader !== null && leader.up) {
        cluster.crash(leader.id);
        crashCount++;
      }
      const down = cluster.ids.filter((id) => !cluster.node(id).up);
      if (cluster.ids.length - down.length < 3) cluster.restart(down[rng.nextInt(down.length)]!);
      monitor.checkLeaders();
      expectAppliedPrefixes(cluster.nodes.values());
    }
    for (const id of cluster.ids) cluster.restart(id);
    commitOne(cluster, "final", 5);
    expect(crashCount).to.be.greaterThan(30);
    expect(monitor.appliedCount()).to.be.greaterThan(30);
    expectSameApplied(cluster);
    expectSameLogs(cluster);
  });

  it("keeps applied sequences consistent over an unreliable network (TestFigure8Unreliable)",
    () => {
      const cluster = makeCluster(5, 83, {
        network: { dropRate: 0.1, duplicateRate: 0.05, delayTicksMax: 3 },
      });
      const monitor = new SafetyMonitor(cluster);
      const rng = new SeededRng(83);
      commitOne(cluster, "start", 1);
      const disconnected = new Set<NodeId>();
      const applyPartition = (): void => {
        cluster.heal();
        for (const id of disconnected) cluster.isolate(id);
      };
      let disconnectCount = 0;
      for (let round = 0; round < 2000; round++) {
        const leader = cluster.leader();
        if (leader !== null) leader.raft.propose(`r${round}`);
        cluster.tick(rng.nextFloat() < 0.1 ? rng.nextInt(T / 2) : rng.nextInt(2));
        if (leader !== null && !disconnected.has(leader.id) && rng.nextFloat() < 0.5) {
          disconnected.add(leader.id);
          disconnectCount++;
          applyPartition();
        }
        if (cluster.ids.length - disconnected.size < 3) {
          const id = cluster.ids[rng.nextInt(cluster.ids.length)]!;
          disconnected.delete(id);
          applyPartition();
        }
        monitor.checkLeaders();
        expectAppliedPrefixes(cluster.nodes.values());
      }
      disconnected.clear();
      cluster.heal();
      cluster.network = reliableNetwork;
      commitOne(cluster, "final", 5);
      expect(disconnectCount).to.be.greaterThan(20);
      expect(monitor.appliedCount()).to.be.greaterThan(50);
      expectSameApplied(cluster);
      expectSameLogs(cluster);
    });
});
