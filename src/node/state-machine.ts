import type { SnapshotData, SnapshotMeta, SnapshotReceiver } from "../raft/index.js";
import type { SnapshotSpool } from "./snapshot-spool.js";

/**
 * The StateMachine seam: what the driver's loop (raft-server.ts) and its concern modules need
 * from the replicated application, as hashicorp's FSM is what its Raft needs (Apply, Snapshot,
 * Restore). The market is one implementation (market-adapter.ts); the driver applies committed
 * entries through this interface only, and asks nothing else of the application's state.
 *
 * Contract, which every implementation keeps and the driver relies on:
 *   - deterministic: the same entries from the same state give the same state and results on
 *     every replica (same log, same stateHash at the same appliedIndex);
 *   - the state and the Raft meta at its applied index are stored together, in one write of
 *     the node's state database (NodeStores.state), so that a restart finds one with the other
 *     and the core starts from that meta (the database is the snapshot, as etcd's bbolt is);
 *   - it never runs ahead of the log's synced entries: the driver applies committed entries only.
 * Opening one from the stores (restore, and the redo of an install a crash cut short) is the
 * implementation's own function: openMarketAdapter for the market.
 */
export interface StateMachine<Result> {
  /** The index of the last entry applied (0 before any). Invariant: at most the commit index. */
  readonly appliedIndex: number;

  /**
   * The Raft meta stored with the state at appliedIndex (the core's starting point), or null
   * when the state holds none (a new node). Throws StateBehindLogError when the two disagree.
   */
  storedMeta(): SnapshotMeta | null;

  /**
   * Applies committed entries in one write of the database, storing `meta` (the Raft meta at
   * the last of them) in the same write. Indexes increase within and across calls (they may
   * skip entries). Returns one result per entry, null for an entry with no command. An
   * exception leaves the machine unusable: the driver stops the node, and a restart reopens
   * the database, which holds the state before the batch.
   */
  applyBatch(entries: readonly CommittedEntry[], meta: SnapshotMeta): readonly (Result | null)[];

  /** A digest of the whole state at appliedIndex: equal on replicas at equal applied index. */
  stateHash(): string;

  /**
   * The key of the client request an entry's data carries (a write without its time), or null:
   * a follower matches the writes it forwarded to the entries it applies by it (forwarding.ts).
   */
  requestKeyOf(data: string): string | null;

  /**
   * A read of the state as of the database's last commit (an MVCC view, so applying goes on),
   * with the Raft meta stored beside it, for a follower behind the compacted log. Throws when
   * the database holds no Raft meta at its applied index. Close it after.
   */
  openSnapshot(): SnapshotSource;

  /**
   * A receiver for a leader's snapshot (the core's SnapshotReceiver): each chunk checked as it
   * arrives and written to `spool`, so that a snapshot this machine cannot read is refused
   * chunk by chunk, and one it can read is whole and checked when the last chunk comes.
   */
  snapshotReceiver(meta: SnapshotMeta, spool: SnapshotSpool): SnapshotReceiver;

  /**
   * Replaces the whole state with a snapshot's (checked as it arrived), a bounded write at a
   * time (SnapshotInstall.step), storing `meta` with the last write. A crash midway leaves the
   * database marked, and the implementation's opener redoes the install from the spooled file.
   */
  beginInstall(data: SnapshotData, meta: SnapshotMeta): SnapshotInstall;
}

/** A committed entry as the state machine sees it. */
export interface CommittedEntry {
  readonly index: number;
  /**
   * The command the entry carries, or null for one that carries none for the state machine:
   * a new leader's empty entry, a member publication (members.ts), a configuration change.
   */
  readonly data: string | null;
}

/** An open read of the state for a snapshot (StateMachine.openSnapshot). */
export interface SnapshotSource {
  /** The Raft meta at the state's applied index. */
  readonly meta: SnapshotMeta;
  /**
   * Encodes the state as chunks passed to `write`, awaiting `pause()` between slices; resolves
   * with the length of the text.
   */
  encode(write: (chunk: string) => void, pause: () => Promise<void>): Promise<number>;
  /** Releases the view. */
  close(): void;
}

/** A snapshot install under way (StateMachine.beginInstall). */
export interface SnapshotInstall {
  /**
   * Does one bounded write; true once the whole state is installed, and the state machine
   * then holds it (appliedIndex is the snapshot's index).
   */
  step(): boolean;
}

/** The state database is behind the start of the log: entries between them are lost. */
export class StateBehindLogError extends Error {
  override readonly name = "StateBehindLogError";
}
