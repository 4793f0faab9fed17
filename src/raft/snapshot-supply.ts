import { assert } from "./assert.js";
import type { NodeId, Snapshot } from "./messages.js";
import type { Progress } from "./progress.js";
import type { LeaderHost } from "./leader-host.js";

/**
 * Where the snapshot a leader streams to a lagging follower (§7) comes from, and when its data
 * leaves memory. A driver that keeps its state machine in a database compacts at its own
 * checkpoints with the metadata only: the snapshot of a large state machine is too big to keep
 * in the heap between transfers. The core then holds no data, and when a follower needs
 * entries that are compacted it asks (Ready.snapshotWanted) until the driver offers a snapshot
 * (RaftNode.offerSnapshot); it drops that data again once no follower needs it. A driver that
 * compacts with the data (compact(snapshot) with `data`) keeps the earlier behaviour: the core
 * holds the newest such snapshot until a newer one replaces it, and never asks.
 */

export type OfferSnapshotResult =
  /** Held until no follower needs it; transfers start with the next append attempt. */
  | { readonly kind: "accepted" }
  /** Compaction has moved past it: a follower needs entries after `indexMin`. The ask stays
   * (Ready.snapshotWanted); offer a newer snapshot. */
  | { readonly kind: "stale"; readonly indexMin: number }
  /** No follower waits for a snapshot, or this node already holds one that will do. */
  | { readonly kind: "notWanted" };

/**
 * The snapshot this node can start a transfer with: one at or above the compaction point, so
 * that the follower can continue from the log after it; null when the driver must provide one.
 */
export function snapshotToSend(raft: LeaderHost): Snapshot | null {
  const snapshot = raft.snapshot;
  return snapshot !== null && snapshot.meta.index >= raft.log.compacted() ? snapshot : null;
}

/**
 * A follower that cannot be served from the log: the entry before its next is compacted, and
 * no transfer is under way. Only followers heard from within an election timeout count (as in
 * compactIndexFor): building a snapshot for a dead one would cost the driver for nothing.
 */
function waitsForSnapshot(raft: LeaderHost, progress: Progress): boolean {
  return progress.state !== "snapshot" &&
    progress.ticksSinceActive < raft.config.electionTimeoutTicks &&
    raft.log.term(progress.next - 1) === null;
}

/** Leader: the followers that wait for a snapshot (see waitsForSnapshot). */
export function followersWaitingForSnapshot(raft: LeaderHost): NodeId[] {
  if (raft.role !== "leader") return [];
  return [...raft.tracker.entries()].filter(([id, progress]) =>
    id !== raft.id && waitsForSnapshot(raft, progress)).map(([id]) => id);
}

/**
 * Leader: whether any follower waits for a snapshot. Asked at every hasReady and Ready: a
 * loop, not the list followersWaitingForSnapshot builds.
 */
function anyFollowerWaitsForSnapshot(raft: LeaderHost): boolean {
  if (raft.role !== "leader") return false;
  for (const [id, progress] of raft.tracker.entries()) {
    if (id !== raft.id && waitsForSnapshot(raft, progress)) return true;
  }
  return false;
}

/**
 * Leader: the lowest index a snapshot must have to serve the followers that wait for one
 * (the compaction point), or null when none waits or the data held will do.
 */
export function snapshotWanted(raft: LeaderHost): number | null {
  if (raft.role !== "leader" || snapshotToSend(raft) !== null) return null;
  return anyFollowerWaitsForSnapshot(raft) ? raft.log.compacted() : null;
}

/**
 * Takes `snapshot` from the driver in answer to an ask. The caller then starts the transfers.
 * The snapshot is the driver's own data, so a disagreement with the log is our bug (asserted,
 * as compact does); a snapshot that compaction has since passed is an expected race.
 */
export function acceptOfferedSnapshot(raft: LeaderHost, snapshot: Snapshot): OfferSnapshotResult {
  const { index, term } = snapshot.meta;
  assert(index <= raft.log.applied, `offered snapshot at ${index} beyond applied ` +
    `${raft.log.applied}`);
  const indexMin = raft.log.compacted();
  if (index < indexMin) {
    return snapshotWanted(raft) === null ? { kind: "notWanted" } : { kind: "stale", indexMin };
  }
  assert(raft.log.term(index) === term, `offered snapshot term ${term} disagrees with the log`);
  if (snapshotWanted(raft) === null) return { kind: "notWanted" };
  raft.snapshot = snapshot;
  raft.snapshotKept = false;
  return { kind: "accepted" };
}

/**
 * Drops the snapshot data held on demand once nothing needs it: no transfer streams it and no
 * follower waits for one (or compaction has passed it, so that no new transfer could use it).
 * A transfer keeps its own reference until it ends; the meta stays in the log either way.
 */
export function maybeReleaseSnapshot(raft: LeaderHost): void {
  const snapshot = raft.snapshot;
  if (snapshot === null || raft.snapshotKept) return;
  for (const progress of raft.tracker.values()) {
    if (progress.snapshotTransfer?.snapshot === snapshot) return;
  }
  if (snapshot.meta.index >= raft.log.compacted() && anyFollowerWaitsForSnapshot(raft)) {
    return;
  }
  raft.snapshot = null;
}
