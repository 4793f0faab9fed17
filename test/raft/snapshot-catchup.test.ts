/**
 * A follower far behind catches up by snapshot while the leader keeps writing and keeps taking
 * snapshots. Goal: the leader does not compact away the entries right after a snapshot it is
 * streaming to a live follower, so one transfer is enough; without that rule, with no trailing
 * entries and a transfer slower than the snapshot interval, every finished install found the
 * next entry compacted and started a newer, larger snapshot, for ever. Also: a follower that
 * goes silent mid-transfer stops holding compaction back after an election timeout. Method: a
 * simulated 3-node cluster (SafetyMonitor on), tiny snapshot chunks and one tick of network
 * delay so that a transfer spans hundreds of ticks, one proposal per tick throughout.
 */
import { expect } from "chai";
import { SimCluster, nodeIds } from "../../src/sim/cluster.js";
import { countMessages, electionTimeoutTicks, SafetyMonitor, waitForLeader } from "./helpers.js";

function slowSnapshotCluster(seed: number): SimCluster {
  return new SimCluster({
    ids: nodeIds(3), seed,
    config: { snapshotChunkBytes: 64 },
    network: { dropRate: 0, duplicateRate: 0, delayTicksMax: 1 },
    snapshots: { entriesBetweenSnapshots: 5, trailingEntries: 0 },
  });
}

/** Proposes one entry per tick at the leader for `ticks` ticks, or until `until` holds. */
function writeWhile(cluster: SimCluster, ticks: number, until: () => boolean = () => false,
  tag = "w"): boolean {
  for (let k = 0; k < ticks; k++) {
    if (until()) return true;
    cluster.propose(`${tag}${k}`);
    cluster.tick();
  }
  return until();
}

describe("snapshot catch-up under load", () => {
  for (const seed of [1, 2, 3]) {
    it(`one transfer brings a lagging follower level while the leader writes (seed ${seed})`,
      () => {
        const cluster = slowSnapshotCluster(seed);
        new SafetyMonitor(cluster);
        const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
        const lagging = cluster.ids.find((id) => id !== leader.id)!;
        cluster.isolate(lagging);
        writeWhile(cluster, 150);
        expect(leader.raft.compactedIndex(), "the leader compacted past the lagging node")
          .to.be.greaterThan(cluster.node(lagging).lastApplied());
        const transfers = countMessages(cluster,
          (message) => message.type === "snapshot" && message.to === lagging &&
            message.offset === 0);
        cluster.heal();
        const level = (): boolean => cluster.node(lagging).lastApplied() >=
          leader.raft.status().commitIndex - 5;
        expect(writeWhile(cluster, 3000, level, "x"), "the lagging node caught up under load")
          .to.equal(true);
        // A resend of the first chunk after a lost answer also has offset 0; a new snapshot
        // per loop would be dozens.
        expect(transfers.count).to.be.at.most(2);
      });
  }

  it("a follower silent for an election timeout no longer holds compaction back", () => {
    const cluster = slowSnapshotCluster(4);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const lagging = cluster.ids.find((id) => id !== leader.id)!;
    cluster.isolate(lagging);
    writeWhile(cluster, 150);
    cluster.heal();
    // Let the transfer start, then lose the follower mid-way.
    expect(cluster.tickUntil(() => leader.raft.status().progress[lagging]?.state === "snapshot",
      100)).to.equal(true);
    cluster.tick(3);
    const held = leader.raft.compactIndexFor(leader.raft.status().commitIndex, 0);
    expect(held, "compaction held at the transfer's snapshot")
      .to.be.lessThan(leader.raft.status().commitIndex);
    cluster.crash(lagging);
    writeWhile(cluster, 2 * electionTimeoutTicks + 2);
    const commit = leader.raft.status().commitIndex;
    expect(leader.raft.compactIndexFor(commit, 0)).to.equal(commit);
  });
});
