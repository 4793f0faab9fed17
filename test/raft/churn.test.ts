/**
 * Churn (the classic lab's TestReliableChurn and TestUnreliableChurn): while clients keep
 * proposing, nodes crash, restart and are partitioned at random. Safety must hold throughout,
 * and once every fault is repaired the cluster must converge: every node applies the same
 * sequence, every value applied anywhere is in it exactly once, and a final proposal commits
 * everywhere. Method: a SimCluster driven tick by tick, with every fault and every client
 * choice drawn from one SeededRng, so each run is reproducible from its seed; a SafetyMonitor
 * fails the test at the first index applied with two different entries or the first term with
 * two leaders.
 */
import { expect } from "chai";
import { SeededRng, type NodeId, type Rng } from "../../src/raft/index.js";
import { reliableNetwork, type NetworkFaults, type SimCluster } from "../../src/sim/cluster.js";
import {
  commitOne,
  expectAppliedPrefixes,
  type ClusterOptions,
  expectSameApplied,
  expectSameLogs,
  makeCluster,
  SafetyMonitor,
} from "./helpers.js";

/** Splits the ids into two random groups (one of them possibly empty, which heals). */
function randomPartition(cluster: SimCluster, rng: Rng): void {
  const left: NodeId[] = [];
  const right: NodeId[] = [];
  for (const id of cluster.ids) (rng.nextFloat() < 0.5 ? left : right).push(id);
  cluster.heal();
  cluster.partition(left, right);
}

/** One random fault, or none: crash, restart, partition or heal. */
function maybeInjectFault(cluster: SimCluster, rng: Rng): string | null {
  const roll = rng.nextFloat();
  const up = cluster.upNodes();
  const down = cluster.ids.filter((id) => !cluster.node(id).up);
  if (roll < 0.04 && up.length > 0) {
    cluster.crash(up[rng.nextInt(up.length)]!.id);
    return "crash";
  }
  if (roll < 0.10 && down.length > 0) {
    cluster.restart(down[rng.nextInt(down.length)]!);
    return "restart";
  }
  if (roll < 0.13) {
    randomPartition(cluster, rng);
    return "partition";
  }
  if (roll < 0.16) {
    cluster.heal();
    return "heal";
  }
  return null;
}

function runChurn(seed: number, options: ClusterOptions): void {
  const cluster = makeCluster(5, seed, options);
  const monitor = new SafetyMonitor(cluster);
  const rng = new SeededRng(seed);
  const faults = new Map<string, number>();
  let proposedCount = 0;
  for (let tick = 0; tick < 600; tick++) {
    // Clients: up to three proposals per tick, each value unique.
    const leader = cluster.leader();
    const proposalCount = leader === null ? 0 : rng.nextInt(4);
    for (let k = 0; k < proposalCount; k++) {
      if (leader!.raft.propose(`c${tick}-${k}`).kind === "accepted") proposedCount++;
    }
    const fault = maybeInjectFault(cluster, rng);
    if (fault !== null) faults.set(fault, (faults.get(fault) ?? 0) + 1);
    cluster.tick();
    monitor.checkLeaders();
    expectAppliedPrefixes(cluster.nodes.values());
  }

  // Repair everything and let the cluster converge.
  cluster.network = reliableNetwork;
  cluster.heal();
  for (const id of cluster.ids) cluster.restart(id);
  commitOne(cluster, "final", 5);
  expectSameApplied(cluster);
  expectSameLogs(cluster);

  // Every value applied anywhere, at any time, is in the final sequence, exactly once.
  const finalData = cluster.node("n1").applied.map((entry) => entry.data);
  const clientData = finalData.filter((data) => data.startsWith("c"));
  expect(new Set(clientData).size, "a value applied twice").to.equal(clientData.length);
  for (const [index, entry] of monitor.appliedByIndex) {
    expect(finalData[index - 1], `index ${index}`).to.equal(entry.data);
  }

  // The run really churned and really made progress.
  for (const kind of ["crash", "restart", "partition", "heal"]) {
    expect(faults.get(kind) ?? 0, `${kind} faults`).to.be.greaterThan(5);
  }
  expect(clientData.length, `committed of ${proposedCount} proposed`).to.be.greaterThan(20);
}

const unreliableNetwork: NetworkFaults = { dropRate: 0.1, duplicateRate: 0.05, delayTicksMax: 3 };

describe("raft churn", () => {
  for (const seed of [91, 92, 93]) {
    it(`converges after crashes, restarts and partitions (reliable network, seed ${seed})`, () => {
      runChurn(seed, { network: reliableNetwork });
    });
  }

  for (const seed of [94, 95, 96]) {
    it(`converges after crashes, restarts and partitions (unreliable network, seed ${seed})`,
      () => {
        runChurn(seed, { network: unreliableNetwork });
      });
  }

  // One entry per append: repair takes many round trips, each append covers only part of a
  // follower's conflicting suffix, and commit indexes run ahead of what one append carries.
  for (const seed of [97, 98]) {
    it(`converges with one entry per append (unreliable network, seed ${seed})`, () => {
      runChurn(seed, { network: unreliableNetwork, config: { entriesPerAppendMax: 1 } });
    });
  }
});
