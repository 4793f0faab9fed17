import {
  assert, assertNever, InvariantError, type Entry, type HardState, type Rng, type SnapshotMeta,
} from "../raft/index.js";
import { EntryLog } from "./entry-log.js";
import {
  CorruptionError,
  StorageError,
  type DurableLog,
  type Snapshot,
  type SnapshotChoice,
  type SnapshotStore,
} from "./storage.js";

/**
 * The in-memory DurableLog for tests and the simulator. It keeps two states: the live one every
 * read sees, and the synced one a crash leaves behind. Writes go to the live state at once and
 * queue as pending writes; sync() replays the queue onto the synced state, which costs
 * O(entries written), so the simulator pays nothing like serialization per step.
 *
 * crash(rng) models a process killed between syncs, as a write-ahead log would be left: the
 * pending writes reached the disk in order (each entry, then the hard state, as buffered), the
 * crash cut that sequence at a random point, and the last write before the cut may be torn —
 * a torn write is simply absent, because FileStorage's recovery truncates a torn tail.
 */

export interface MemoryStorageOptions {
  /** The largest entry data, in UTF-16 code units here (FileStorage counts UTF-8 bytes). */
  readonly entryBytesMax: number;
  /** Writes (entries, hard states, compactions) buffered between syncs. */
  readonly pendingWritesMax: number;
}

export const defaultMemoryStorageOptions: MemoryStorageOptions = {
  entryBytesMax: 16 * 1024 * 1024,
  pendingWritesMax: 1024 * 1024,
};

type PendingWrite =
  | { readonly kind: "entries"; readonly entries: readonly Entry[] }
  | { readonly kind: "hardState"; readonly state: HardState }
  | { readonly kind: "compact"; readonly index: number }
  | { readonly kind: "reset"; readonly index: number };

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

export class MemoryStorage implements DurableLog {
  private readonly options: MemoryStorageOptions;
  private live: EntryLog;
  private liveHardState: HardState;
  private synced: EntryLog;
  private syncedHardState: HardState;
  private pending: PendingWrite[] = [];
  // Invariant: pendingWriteCount counts each pending entry and each other pending write once.
  private pendingWriteCount = 0;
  private state: "open" | "closed" | "crashed" = "open";
  /**
   * Entries a fault damaged on the disk (damageEntry): their bytes changed after they were
   * written, as a latent sector error or a flipped bit does. verify() finds them, as
   * FileStorage's per-record checksum finds them when it opens the log.
   */
  private readonly damaged = new Set<number>();

  constructor(options: Partial<MemoryStorageOptions> = {}, initial?: {
    readonly log: EntryLog;
    readonly hardState: HardState;
  }) {
    this.options = { ...defaultMemoryStorageOptions, ...options };
    assert(this.options.entryBytesMax > 0 && this.options.pendingWritesMax > 0,
      "memory storage bounds must be positive");
    this.live = initial?.log.clone() ?? new EntryLog();
    this.liveHardState = initial?.hardState ?? emptyHardState;
    this.synced = initial?.log.clone() ?? new EntryLog();
    this.syncedHardState = this.liveHardState;
  }

  firstIndex(): number {
    this.assertOpen();
    return this.live.firstIndex();
  }

  lastIndex(): number {
    this.assertOpen();
    return this.live.lastIndex();
  }

  entries(indexLow: number, indexHigh: number): readonly Entry[] {
    this.assertOpen();
    return this.live.slice(indexLow, indexHigh);
  }

  append(entries: readonly Entry[]): void {
    this.assertOpen();
    if (entries.length === 0) return;
    for (const entry of entries) {
      if (entry.data.length > this.options.entryBytesMax) {
        throw new StorageError(`entry ${entry.index} holds ${entry.data.length} bytes, more ` +
          `than entryBytesMax ${this.options.entryBytesMax}`);
      }
    }
    this.reservePending(entries.length);
    this.live.append(entries);
    // A copy: the caller may reuse its array, and a crash replays exactly what was appended.
    this.pending.push({ kind: "entries", entries: entries.slice() });
  }

  compactTo(index: number): void {
    this.assertOpen();
    assert(Number.isSafeInteger(index) && index >= 0, `bad compaction index ${index}`);
    if (index <= this.live.compactedIndex) return;
    this.reservePending(1);
    this.live.compactTo(index);
    this.pending.push({ kind: "compact", index });
  }

  resetTo(index: number, term: number): void {
    this.assertOpen();
    assertResetTo(index, term, this.live.compactedIndex);
    this.reservePending(1);
    this.live.reset(index);
    this.pending.push({ kind: "reset", index });
  }

  hardState(): HardState {
    this.assertOpen();
    return this.liveHardState;
  }

  setHardState(state: HardState): void {
    this.assertOpen();
    assertHardState(state);
    assertHardStateFollows(this.liveHardState, state);
    this.reservePending(1);
    this.liveHardState = { term: state.term, vote: state.vote, commit: state.commit };
    this.pending.push({ kind: "hardState", state: this.liveHardState });
  }

  sync(): void {
    this.assertOpen();
    for (const write of this.pending) this.applyToSynced(write);
    this.pending = [];
    this.pendingWriteCount = 0;
  }

  /**
   * A fault: flips a character of the durable entry at `index` (nothing must be buffered: the
   * disk of a stopped node). Returns false when no such entry is held.
   */
  damageEntry(index: number): boolean {
    this.assertOpen();
    assert(this.pending.length === 0, "damageEntry with writes buffered");
    const entry = this.synced.entryAt(index);
    if (entry === undefined) return false;
    const flipped = entry.data.length === 0 ? "\u0001"
      : String.fromCharCode(entry.data.charCodeAt(0) ^ 1) + entry.data.slice(1);
    const damaged = { ...entry, data: flipped };
    this.synced.replaceAt(index, damaged);
    this.live.replaceAt(index, damaged);
    this.damaged.add(index);
    return true;
  }

  // The synced state, what the last sync made durable, for the simulator's check of what a
  // node's messages promise. A crash keeps it and replays some of the pending writes on it.

  /** The synced hard state. */
  durableHardState(): HardState {
    return this.syncedHardState;
  }

  /** The term of the synced entry at `index`; undefined when none is synced there. */
  durableEntryTerm(index: number): number | undefined {
    return this.synced.entryAt(index)?.term;
  }

  /** The last index the synced log covers, its compaction point included. */
  durableLastIndex(): number {
    return this.synced.lastIndex();
  }

  /** The term of the live entry at `index`, undefined when none is held there. */
  liveEntryTerm(index: number): number | undefined {
    return this.live.entryAt(index)?.term;
  }

  /**
   * What opening a FileStorage checks: every record held reads back as written. Throws
   * CorruptionError naming the first damaged entry still held (a compaction may have dropped
   * the damage).
   */
  verify(): void {
    this.assertOpen();
    for (const index of [...this.damaged].sort((a, b) => a - b)) {
      // Not held any more: a later write at that index would be sound.
      if (index < this.live.firstIndex() || index > this.live.lastIndex()) {
        this.damaged.delete(index);
        continue;
      }
      throw new CorruptionError("memory:wal", index, `checksum mismatch in entry ${index}`);
    }
  }

  /**
   * How many writes are buffered now. syncThrough(mark) later makes exactly those durable, as
   * FileStorage's sync covers what was buffered when its turn came, not what came during it.
   */
  pendingMark(): number {
    return this.pending.length;
  }

  /** Makes the first `mark` buffered writes durable (mark: an earlier pendingMark()). */
  syncThrough(mark: number): void {
    this.assertOpen();
    assert(Number.isInteger(mark) && mark >= 0 && mark <= this.pending.length,
      `syncThrough(${mark}) with ${this.pending.length} writes buffered`);
    for (const write of this.pending.slice(0, mark)) {
      this.applyToSynced(write);
      this.pendingWriteCount -= write.kind === "entries" ? write.entries.length : 1;
    }
    this.pending = this.pending.slice(mark);
  }

  syncAsync(): Promise<void> {
    try {
      this.sync();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  close(): void {
    this.assertOpen();
    this.state = "closed";
  }

  /**
   * The storage a restarted process would see after a crash now: everything synced, then a
   * random prefix of the pending writes, of which the last may be torn (and so absent). This
   * store is dead afterwards; any use of it throws InvariantError, which catches a simulator
   * that keeps talking to a crashed node's disk.
   */
  crash(rng: Rng): MemoryStorage {
    this.assertOpen();
    let keptCount = rng.nextInt(this.pendingWriteCount + 1);
    if (keptCount > 0 && rng.nextFloat() < 0.5) keptCount -= 1; // The last kept write tore.
    this.state = "crashed";
    const log = this.synced;
    let hardState = this.syncedHardState;
    for (const write of this.pending) {
      if (keptCount === 0) break;
      if (write.kind === "entries") {
        const kept = write.entries.slice(0, keptCount);
        keptCount -= kept.length;
        log.append(kept);
      } else {
        keptCount -= 1;
        if (write.kind === "hardState") hardState = write.state;
        else if (write.kind === "compact") log.compactTo(write.index);
        else log.reset(write.index);
      }
    }
    const next = new MemoryStorage(this.options, { log, hardState });
    // The damage is on the disk: it survives a crash, unless the entry was never kept.
    for (const index of this.damaged) next.damaged.add(index);
    return next;
  }

  private applyToSynced(write: PendingWrite): void {
    switch (write.kind) {
      case "entries":
        this.synced.append(write.entries);
        return;
      case "hardState":
        this.syncedHardState = write.state;
        return;
      case "compact":
        this.synced.compactTo(write.index);
        return;
      case "reset":
        this.synced.reset(write.index);
        return;
      default:
        assertNever(write, "pending write");
    }
  }

  private reservePending(writeCount: number): void {
    if (this.pendingWriteCount + writeCount > this.options.pendingWritesMax) {
      throw new StorageError(`more than pendingWritesMax ${this.options.pendingWritesMax} ` +
        "writes buffered: call sync()");
    }
    this.pendingWriteCount += writeCount;
  }

  private assertOpen(): void {
    // Checked at every call: an `if`, so that no message is formatted while it holds.
    if (this.state !== "open") {
      throw new InvariantError(`memory storage used after it was ${this.state}`);
    }
  }
}

/** A hard state's fields are non-negative integers and a vote is a node id or null. */
export function assertHardState(state: HardState): void {
  assert(Number.isSafeInteger(state.term) && state.term >= 0, `bad term ${state.term}`);
  assert(Number.isSafeInteger(state.commit) && state.commit >= 0, `bad commit ${state.commit}`);
  assert(state.vote === null || typeof state.vote === "string", "vote must be a node id or null");
}

/**
 * A new hard state never takes back what the one before it set (Figure 2): the term only grows
 * (currentTerm "increases monotonically"); a vote cast in a term stays for that term, neither
 * changed nor withdrawn (votedFor, at most one vote per term: §5.2, Election Safety); the commit
 * index never falls (a committed entry stays committed, §5.4; this core's RaftLog only raises
 * it). Checked against the store's live hard state where it is written, so a core bug that
 * would let a node vote twice or forget a commit stops the node instead of being written.
 */
export function assertHardStateFollows(previous: HardState, next: HardState): void {
  if (next.term < previous.term) {
    assert(false, `hard state term ${next.term} after term ${previous.term}`);
  }
  if (next.term === previous.term && previous.vote !== null && next.vote !== previous.vote) {
    assert(false, `hard state vote ${String(next.vote)} after a vote for ${previous.vote} in ` +
      `term ${next.term}`);
  }
  if (next.commit < previous.commit) {
    assert(false, `hard state commit ${next.commit} after commit ${previous.commit}`);
  }
}

/** A reset never moves the log's start back past a compaction, which a held snapshot covers. */
export function assertResetTo(index: number, term: number, compactedIndex: number): void {
  assert(Number.isSafeInteger(term) && term >= 0, `bad reset term ${term}`);
  assert(Number.isSafeInteger(index) && index >= compactedIndex,
    `reset to ${index} is below the compaction point ${compactedIndex}`);
}

export interface MemorySnapshotStoreOptions {
  /** The largest snapshot data, in UTF-16 code units. */
  readonly snapshotBytesMax: number;
}

/**
 * The in-memory SnapshotStore. save() is atomic and durable when it returns (FileSnapshotStore
 * fsyncs before it does), so a crash keeps the latest snapshot: the simulator may share one
 * store across a node's restarts.
 */
export class MemorySnapshotStore implements SnapshotStore {
  private newest: Snapshot | null = null;
  private readonly snapshotBytesMax: number;

  constructor(options: Partial<MemorySnapshotStoreOptions> = {}) {
    this.snapshotBytesMax = options.snapshotBytesMax ?? 512 * 1024 * 1024;
  }

  latest(): Snapshot | null {
    return this.newest;
  }

  saveAsync(snapshot: Snapshot): Promise<void> {
    return Promise.resolve().then(() => this.save(snapshot));
  }

  /** Memory is never corrupt: always the newest. */
  latestConsistentWith(): SnapshotChoice {
    return { snapshot: this.newest, skippedCorrupt: null };
  }

  save(snapshot: Snapshot): void {
    assertSnapshotNotOlder(snapshot, this.newest?.meta.index ?? null);
    if (snapshot.data.length > this.snapshotBytesMax) {
      throw new StorageError(`snapshot at ${snapshot.meta.index} holds ${snapshot.data.length} ` +
        `bytes, more than snapshotBytesMax ${this.snapshotBytesMax}`);
    }
    this.newest = {
      // Every field of the meta is kept: the configuration (learners, the voters being left
      // while joint) is part of what a snapshot is (dropping them once lost a configuration
      // change: npm run sim -- --core --membership --seed 187).
      meta: copyMeta(snapshot.meta),
      data: snapshot.data,
    };
  }
}

/** Snapshots only move forward: saving one older than the latest is the caller's bug. */
export function assertSnapshotNotOlder(snapshot: Snapshot, latestIndex: number | null): void {
  const { index, term } = snapshot.meta;
  assert(Number.isSafeInteger(index) && index >= 0 && Number.isSafeInteger(term) && term >= 0,
    `bad snapshot meta ${index}/${term}`);
  if (latestIndex === null) return;
  assert(index >= latestIndex, `snapshot at ${index} is older than the latest at ${latestIndex}`);
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  return { index: meta.index, term: meta.term, voters: meta.voters.slice(),
    ...(meta.learners === undefined ? {} : { learners: meta.learners.slice() }),
    ...(meta.votersOutgoing === undefined ? {} : { votersOutgoing: meta.votersOutgoing.slice() }),
    ...(meta.members === undefined ? {} : { members: meta.members.map((member) => ({ ...member })) }) };
}
