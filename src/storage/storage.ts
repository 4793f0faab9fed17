import type { Entry, HardState, Snapshot } from "../raft/index.js";

/**
 * The persistence seams (hashicorp/raft's LogStore, StableStore, SnapshotStore). Each has an
 * in-memory implementation for tests and the simulator (memory-storage.ts) and a real one
 * (file-storage.ts, snapshot-store.ts), and one contract suite runs against both.
 *
 * Writes are buffered; nothing is durable until sync() returns. One sync() covers every write
 * since the last one, so the driver pays one fdatasync per loop iteration however many entries
 * that iteration produced (group commit). Within a sync, entries are made durable before the
 * hard state, so a hard state on disk never refers to entries that are not.
 */

export interface LogStore {
  /** The index of the first entry held; lastIndex() + 1 when the log is empty. */
  firstIndex(): number;
  /** The index of the last entry held, or firstIndex() - 1 when empty. */
  lastIndex(): number;
  /** Entries in [indexLow, indexHigh). Throws StorageError when the range is not held. */
  entries(indexLow: number, indexHigh: number): readonly Entry[];
  /**
   * Appends contiguous entries. The first entry's index truncates any stored suffix from that
   * index on (a follower overwriting conflicting entries), and must be at most lastIndex() + 1.
   * A batch that breaks the log's shape (a gap, an index at or below the compaction point, a
   * term going down) is the caller's bug: it throws InvariantError. An entry whose data is
   * larger than the store's bound throws StorageError, and then nothing of the batch is taken.
   */
  append(entries: readonly Entry[]): void;
  /**
   * Entries at or below `index` are covered by a snapshot and are discarded: afterwards
   * firstIndex() is max(firstIndex(), index + 1), and entries() below it throws. The bytes may
   * linger (a file store deletes whole segments only, after the compaction is synced), but they
   * are never read again. When `index` >= lastIndex() the log becomes empty and the next append
   * starts at index + 1: a follower that installed a snapshot beyond its log. Compacting to an
   * index already compacted is a no-op. Buffered like any write: a crash before sync() may
   * forget it, which only leaves more entries than needed.
   */
  compactTo(index: number): void;
}

export interface StableStore {
  hardState(): HardState;
  /**
   * A state that takes back the last one (a lower term, a vote changed or withdrawn within its
   * term, a lower commit: assertHardStateFollows) is the caller's bug: InvariantError, nothing
   * written.
   */
  setHardState(state: HardState): void;
}

/** The write-ahead log: entries and hard state in one stream, synced together. */
export interface DurableLog extends LogStore, StableStore {
  /**
   * Discards every entry and restarts the log just after `index` (whose term is `term`): used
   * when a follower installs a snapshot from the leader. Afterwards firstIndex() is index + 1
   * and lastIndex() is index. Buffered like any write; durable after sync().
   */
  resetTo(index: number, term: number): void;
  /** Makes every buffered write durable: one fdatasync for all of them. */
  sync(): void;
  /**
   * sync() off the event loop, for the node driver: the buffered writes are taken when the
   * returned promise's turn comes, and calls run one after another, never interleaved. Do not
   * call sync() while one is pending.
   */
  syncAsync(): Promise<void>;
  /** Releases the store. Writes not yet synced are dropped, as a crash would drop them. */
  close(): void;
}

/**
 * A snapshot: the state machine's bytes as of `meta.index` (applied index, client sessions and
 * all), with the configuration at that point. The core's own type, re-exported here.
 */
export type { Snapshot } from "../raft/index.js";

/** What latestConsistentWith() returns: the snapshot, and whether it had to fall back. */
export interface SnapshotChoice {
  readonly snapshot: Snapshot | null;
  /** Set when the newest snapshot failed verification and an older one was used. */
  readonly skippedCorrupt: CorruptionError | null;
}

export interface SnapshotStore {
  /** The newest complete snapshot, verified, or null when there is none. */
  latest(): Snapshot | null;
  /**
   * The newest verified snapshot that a log starting at `logFirstIndex` continues: an older one
   * stands in for a corrupt newest one only if the log holds every entry after it; otherwise
   * this throws the CorruptionError.
   */
  latestConsistentWith(logFirstIndex: number): SnapshotChoice;
  /** Stores `snapshot` atomically: after a crash either the old or the new one is latest. */
  save(snapshot: Snapshot): void;
  /**
   * save(), with the writes and fsyncs off the event loop, and the encoding and checksum done a
   * slice at a time between turns of it, so that a snapshot of tens of megabytes never holds the
   * loop long enough to delay a heartbeat. One at a time: no other save may start before it
   * settles.
   */
  saveAsync(snapshot: Snapshot): Promise<void>;
}

/** A storage problem the node cannot work around: corruption, a bad path, a full disk. */
export class StorageError extends Error {
  override readonly name: string = "StorageError";
}

/** Data on disk that fails verification. Names the file and byte offset. */
export class CorruptionError extends StorageError {
  override readonly name = "CorruptionError";
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corrupt ${/\.snap(\.tmp)?$/.test(file) ? "snapshot" : "write-ahead log"}: ${file} ` +
      `at byte ${offset}: ${reason}`);
  }
}
