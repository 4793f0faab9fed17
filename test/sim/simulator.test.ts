/**
 * The deterministic simulator in CI. A few hundred seeded fault schedules run the real core
 * under drops, duplicates, delays, partitions, crashes (some in the middle of a persist) and
 * restarts, and the safety checker watches every step; after healing each run must make
 * progress. Seeds that once found a bug stay here as regressions, each with what it caught.
 * `npm run sim -- --core --seeds 2000` is the longer run; this keeps `npm test` within seconds.
 */
import { expect } from "chai";
import { SafetyChecker } from "../../src/sim/checker.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";
import { runSimulation } from "../../src/sim/simulator.js";

const regressionSeeds: readonly { seed: number; caught: string }[] = [
  { seed: 9, caught: "an append lost in replicate state was never resent without a new proposal" },
  { seed: 2927, caught: "checker: a later persisted term subsumes an earlier vote in one Ready" },
  { seed: 2, caught: "planted bug: a leader committing an earlier-term entry by counting" },
  { seed: 13, caught: "planted bug: a vote check that compares only the last index" },
  { seed: 499, caught: "a restart after a crash mid-install left the log store with a gap" },
  { seed: 7467, caught: "duplicated snapshot chunks and answers multiplied without bound" },
  { seed: 4378, caught: "simulator: a crash armed before the final heal fired after it" },
  { seed: 80, caught: "a node with a lost disk bootstrapped beside a peer cut off since birth " +
    "('no history' is not a new cluster unless the operator says so)" },
  { seed: 2613419681, caught: "a crash kept a Ready's entries of a new term but not its hard " +
    "state, and the restarted node campaigned below its log's last term" },
];

/**
 * Issue 9's data loss, planted one at a time (cluster.ts SimPlant): each seed fails with its
 * plant, caught by the named check, and passes without it. They were found by running
 * `npm run sim -- --core --seeds 1000 --plant <bug>`. Counted seed by seed over seeds 1..1000
 * (runSimulation; the CLI stops at the first failure), since news of a commit goes unanswered
 * (AppendEntriesRequest.commitOnly, which changed every seed's schedule): with
 * rejoinWithoutCheck 121 seeds fail (113 of them on leader completeness), with
 * repairWithoutFence 107 (102); without a plant, none, over 1,299 lost disks.
 */
const plantedSeeds = [
  { plant: "rejoinWithoutCheck", seed: 5, check: /leader completeness/ },
  { plant: "rejoinWithoutCheck", seed: 14, check: /election safety/ },
  { plant: "repairWithoutFence", seed: 3, check: /leader completeness/ },
] as const;

describe("deterministic simulator", () => {
  for (const { seed, caught } of regressionSeeds) {
    it(`passes regression seed ${seed} (${caught})`, () => {
      const result = runSimulation({ seed });
      expect(result.violation, result.trace.join("\n")).to.equal(null);
    });
  }

  it("passes 300 seeds of 3- and 5-node clusters with safety and liveness checked", () => {
    const nodeCounts = new Set<number>();
    let committed = 0;
    for (let seed = 1000; seed < 1300; seed++) {
      const result = runSimulation({ seed });
      if (!result.ok) {
        expect.fail(`seed ${seed}: ${result.violation}\n` +
          `reproduce: npm run sim -- --core --seed ${seed} --seeds 1 --trace`);
      }
      nodeCounts.add(result.stats.nodeCount);
      committed += result.stats.committed;
    }
    expect([...nodeCounts].sort()).to.deep.equal([3, 5]);
    // Faults must not stop the workload: most seeds commit many entries.
    expect(committed).to.be.greaterThan(300 * 10);
  });

  for (const { plant, seed, check } of plantedSeeds) {
    it(`catches the planted ${plant} at seed ${seed} (${String(check)}), and passes without it`,
      () => {
        const planted = runSimulation({ seed, plant });
        expect(planted.violation).to.match(check);
        const real = runSimulation({ seed });
        expect(real.violation, real.trace.join("\n")).to.equal(null);
        expect(real.stats.disksLost, "the seed loses a disk").to.be.greaterThan(0);
      });
  }

  it("loses disks in many seeds, and never loses a committed entry", () => {
    let disksLost = 0;
    for (let seed = 2000; seed < 2150; seed++) {
      const result = runSimulation({ seed });
      expect(result.violation, `seed ${seed}`).to.equal(null);
      disksLost += result.stats.disksLost;
    }
    expect(disksLost).to.be.greaterThan(100);
  });

  it("passes 200 seeds whose nodes compact meta-only and build snapshots when asked", () => {
    const offers = { accepted: 0, stale: 0, notWanted: 0 };
    let chunks = 0;
    for (let seed = 3000; seed < 3200; seed++) {
      const result = runSimulation({ seed, snapshotsOnDemand: true });
      if (!result.ok) {
        expect.fail(`seed ${seed}: ${result.violation}\n` +
          `reproduce: npm run sim -- --core --seed ${seed} --seeds 1 --snapshots-on-demand --trace`);
      }
      for (const kind of ["accepted", "stale", "notWanted"] as const) {
        offers[kind] += result.stats.snapshotOffers[kind];
      }
      chunks += result.stats.snapshotChunks;
    }
    // Every transfer began with an ask: offers were taken, and chunks streamed from them.
    expect(offers.accepted).to.be.greaterThan(100);
    expect(chunks).to.be.greaterThan(offers.accepted);
  });

  it("passes membership changes under every fault (--membership), the seeds that found bugs " +
    "included", () => {
    // 1: learners refused to vote; 4, 18, 138: members not known yet were refused; 86, 494: a
    // node an uncommitted change would remove could not campaign; 187: snapshot stores dropped
    // the learners (two logs diverged at a committed index); 290: quorums followed a stale
    // configuration; 2611409998: the answer to a read forwarded to a leader that a node with a
    // stale configuration followed, arriving once it had moved on, was reported as impossible
    // (from an unknown sender). Then 1..60 fresh.
    const seeds = [1, 4, 18, 86, 138, 187, 290, 494, 2611409998,
      ...Array.from({ length: 60 }, (_, k) => 1000 + k)];
    let changes = 0;
    for (const seed of seeds) {
      const result = runSimulation({ seed, membership: true });
      expect(result.violation, `seed ${seed}: reproduce with npm run sim -- --core --membership ` +
        `--seed ${seed} --seeds 1 --trace\n${result.trace.slice(-30).join("\n")}`).to.equal(null);
      changes += result.trace.filter((line) => / proposes .*: accepted$/.test(line)).length;
    }
    // The schedule does change the configuration (traces keep their last 200 lines only).
    expect(changes).to.be.greaterThan(50);
  });

  it("elects a leader where only a learner holds the log an uncommitted change needs (seed " +
    "2611800386, --membership --snapshots-on-demand)", () => {
    // A liveness stall before the fix (membership.test.ts has the story): no leader after
    // healing, the learner refusing the one candidate and never campaigning itself.
    const result = runSimulation({ seed: 2611800386, membership: true, snapshotsOnDemand: true });
    expect(result.violation, result.trace.slice(-30).join("\n")).to.equal(null);
  });

  it("makes the same run from the same seed", () => {
    const first = runSimulation({ seed: 4242 });
    const second = runSimulation({ seed: 4242 });
    expect(second.trace).to.deep.equal(first.trace);
    expect(second.stats).to.deep.equal(first.stats);
  });

  it("reports a violation when two nodes apply different entries at one index", () => {
    // The checker itself must be able to fail: feed it a forged divergent apply.
    const cluster = new SimCluster({ ids: nodeIds(3), seed: 1 });
    const checker = new SafetyChecker(cluster);
    const entry = { index: 1, term: 1, kind: "normal" as const, data: "a" };
    checker.onApply(cluster.node("n1"), entry);
    expect(() => checker.onApply(cluster.node("n2"), { ...entry, data: "b" }))
      .to.throw(/state machine safety/);
  });

  it("reports a vote granted before it was persisted", () => {
    const cluster = new SimCluster({ ids: nodeIds(3), seed: 1 });
    const checker = new SafetyChecker(cluster);
    const grant = { type: "requestVoteResponse" as const, from: "n1", to: "n2", term: 3,
      granted: true };
    expect(() => checker.onSend(cluster.node("n1"), grant)).to.throw(/durability/);
    cluster.node("n1").disk.write({ softState: null, snapshot: null, logStart: null,
      hardState: { term: 3, vote: "n2", commit: 0 }, entries: [], messages: [],
      committedEntries: [], readStates: [], droppedReads: [], snapshotWanted: null,
      violations: [], events: [], eventsDropped: 0, mustSync: true });
    expect(() => checker.onSend(cluster.node("n1"), grant)).not.to.throw();
  });
});
