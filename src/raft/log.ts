import { assert, InvariantError } from "./assert.js";
import { entrySizeBytes, type Entry, type SnapshotMeta } from "./messages.js";

/**
 * The replicated log as the core sees it: every entry after the compaction point, held in
 * memory, with a marker for the tail that the driver has not yet persisted.
 *
 *   compactedIndex   unstableFrom                lastIndex
 *        |  stable (on disk) | unstable (in the next Ready) |
 *
 * Entries at or below compactedIndex live only in a snapshot; the log remembers the term at
 * compactedIndex itself, for the log-matching check of the next entry. It may keep a trailing
 * window of entries below the newest snapshot, so that slightly slow followers catch up from
 * the log instead of a snapshot.
 *
 * Invariants: entries[k].index === compactedIndex + 1 + k; terms never decrease along the log;
 * compactedIndex < unstableFrom <= lastIndex + 1; compactedIndex <= applied <= committed <=
 * lastIndex.
 */
export class RaftLog {
  private compactedIndex: number;
  private compactedTerm: number;
  private entries: Entry[];
  /** The first index not yet on stable storage. */
  private unstableFrom: number;
  /** Invariant: applied <= committed <= lastIndex(). */
  committed: number;
  /** Invariant: applied <= committed. Advanced only when the driver says it applied. */
  applied: number;
  /**
   * Set when the stored log no longer matches this one at its start: the driver must reset
   * its log store to begin after this point before it appends anything (Ready.logStart).
   */
  pendingLogStart: { index: number; term: number } | null = null;

  /**
   * Rebuilds the log from what the driver persisted: the newest snapshot (if any) and the
   * stored entries. Stored entries that overlap the snapshot are kept only if they agree with
   * it at its index; a node that crashed between saving a snapshot from the leader and
   * resetting its log would otherwise keep entries of another history.
   */
  constructor(snapshot: SnapshotMeta | null, stored: readonly Entry[], committed: number) {
    const snapshotIndex = snapshot?.index ?? 0;
    const snapshotTerm = snapshot?.term ?? 0;
    let kept = [...stored];
    const first = kept[0];
    const atSnapshot = kept[snapshotIndex - (first?.index ?? 0)];
    if (first === undefined || kept[kept.length - 1]!.index <= snapshotIndex ||
      (first.index <= snapshotIndex && atSnapshot?.term !== snapshotTerm)) {
      kept = [];
    }
    if (kept.length > 0 && kept[0]!.index <= snapshotIndex) {
      // The log agrees with the snapshot and reaches below it: keep that trailing window.
      const base = kept.shift()!;
      this.compactedIndex = base.index;
      this.compactedTerm = base.term;
    } else {
      this.compactedIndex = snapshotIndex;
      this.compactedTerm = snapshotTerm;
    }
    assert(kept.length === 0 || kept[0]!.index === this.compactedIndex + 1,
      `stored log starts at ${kept[0]?.index}, after a gap from the snapshot at ${snapshotIndex}`);
    this.entries = kept;
    this.entries.forEach((entry, k) => {
      assert(entry.index === this.compactedIndex + 1 + k, "restored entries must be contiguous");
      const previousTerm = k === 0 ? this.compactedTerm : this.entries[k - 1]!.term;
      assert(entry.term >= previousTerm, "restored entry terms must not decrease");
    });
    this.unstableFrom = this.lastIndex() + 1;
    if (kept.length === 0 && snapshot !== null) {
      // Any stored entries were discarded (below the snapshot, or of another history): the
      // store must start after the snapshot too, or its next append would leave a gap.
      this.pendingLogStart = { index: this.compactedIndex, term: this.compactedTerm };
    }
    this.applied = snapshotIndex;
    this.committed = Math.max(committed, snapshotIndex);
    assert(this.committed <= this.lastIndex(),
      `restored commit index ${this.committed} beyond the log's last index ${this.lastIndex()}`);
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The index the driver has made durable: entries at or below it survive a crash. */
  stableIndex(): number {
    return this.unstableFrom - 1;
  }

  /** The term of the entry at `index`, or null when the log does not hold it (compacted or
   * beyond the end). Index 0 is the empty prefix, with term 0. */
  term(index: number): number | null {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return null;
    return this.entries[index - this.compactedIndex - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /**
   * §5.4.1: a candidate's log is at least as up-to-date as ours if its last term is higher, or
   * the last terms are equal and its log is at least as long. The term is compared first.
   */
  isUpToDate(lastLogIndex: number, lastLogTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastLogTerm > ourLastTerm || (lastLogTerm === ourLastTerm && lastLogIndex >= this.lastIndex());
  }

  /** Entries in [indexLow, indexHigh), cut short at `bytesMax` (but at least one entry). */
  slice(indexLow: number, indexHigh: number, bytesMax = Infinity): Entry[] {
    // Hot: as `if`s rather than asserts, which would format their messages at every call;
    // written as negations of the invariants, so that NaN and undefined fail them as before.
    if (!(indexLow >= this.firstIndex())) {
      throw new InvariantError(`slice below the first index: ${indexLow}`);
    }
    if (!(indexHigh <= this.lastIndex() + 1)) {
      throw new InvariantError(`slice beyond the last index: ${indexHigh}`);
    }
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = indexLow; index < indexHigh; index++) {
      const entry = this.entries[index - this.compactedIndex - 1]!;
      bytes += entrySizeBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  /** The leader appends its own new entries. */
  append(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, "leader appends at the end of its log");
    assert(entry.term >= this.lastTerm(), "entry terms never decrease");
    this.entries.push(entry);
  }

  /**
   * §5.3: the first index in `incoming` whose term differs from ours, or that we do not hold;
   * 0 when we already hold every incoming entry. Matching entries are never truncated, so a
   * delayed or duplicated append cannot remove entries already acknowledged.
   */
  findConflict(incoming: readonly Entry[]): number {
    for (const entry of incoming) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast log repair (etcd's findConflictByTerm): the largest index at or below `index` whose term
   * is at most `term`, with that term. Every entry in between has a greater term, so it cannot
   * match an entry of term `term` or lower, and a whole term is skipped per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let probe = Math.min(index, this.lastIndex());
    for (; probe > this.compactedIndex; probe--) {
      const probeTerm = this.term(probe)!;
      if (probeTerm <= term) return { index: probe, term: probeTerm };
    }
    // At or below the compaction point we know only the term at that point. If even that is
    // too high, the answer lies below it, in the snapshot: say so with term 0 (unknown).
    if (probe === this.compactedIndex && this.compactedTerm <= term) {
      return { index: probe, term: this.compactedTerm };
    }
    return { index: Math.max(0, this.compactedIndex - 1), term: 0 };
  }

  /**
   * Appends a follower's incoming entries, truncating our conflicting suffix from the first
   * mismatch. Committed entries never conflict with a legitimate leader (Leader Completeness).
   */
  /** Returns the first index it wrote (0: it held every entry already). */
  appendFromLeader(incoming: readonly Entry[]): number {
    const conflict = this.findConflict(incoming);
    if (conflict === 0) return 0;
    if (!(conflict > this.committed)) {
      throw new InvariantError(`conflict at ${conflict} is at or below commit ${this.committed}`);
    }
    const first = incoming[0]!;
    const newEntries = incoming.slice(conflict - first.index);
    this.entries.length = conflict - this.compactedIndex - 1;
    for (const entry of newEntries) this.append(entry);
    // The truncated suffix may have been stable; the storage must rewrite from the conflict.
    this.unstableFrom = Math.min(this.unstableFrom, conflict);
    return conflict;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (!(index <= this.lastIndex())) {
      throw new InvariantError(`commit ${index} beyond last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** Entries the driver must persist before sending the messages of the same Ready. */
  unstableEntries(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) return [];
    return this.slice(this.unstableFrom, this.lastIndex() + 1);
  }

  /**
   * The driver persisted entries up to `index` (with term `term`). If the log was truncated
   * meanwhile, the entry at `index` has another term or is gone, and nothing becomes stable:
   * by the Log Matching Property an equal (index, term) means an equal prefix.
   */
  stableTo(index: number, term: number): void {
    if (this.matchTerm(index, term) && index >= this.unstableFrom) this.unstableFrom = index + 1;
  }

  /** Committed entries not yet handed to the driver, at most `countMax`, from `after` + 1. */
  committedEntriesAfter(after: number, countMax: number): Entry[] {
    const high = Math.min(this.committed, after + countMax);
    if (high <= after) return [];
    return this.slice(after + 1, high + 1);
  }

  appliedTo(index: number): void {
    if (!(index <= this.committed)) {
      throw new InvariantError(`applied ${index} beyond commit ${this.committed}`);
    }
    // A snapshot installed while a Ready was out moved applied past that Ready's entries.
    this.applied = Math.max(this.applied, index);
  }

  /** The index at or below which entries live only in a snapshot. */
  compacted(): number {
    return this.compactedIndex;
  }

  /**
   * Drops entries at or below `index`, which a snapshot now covers. Only applied (and so
   * persisted) entries can be compacted.
   */
  compactTo(index: number): void {
    if (index <= this.compactedIndex) return;
    assert(index <= this.applied, `compacting to ${index} past applied ${this.applied}`);
    assert(index < this.unstableFrom, `compacting unpersisted entries up to ${index}`);
    this.compactedTerm = this.term(index)!;
    this.entries.splice(0, index - this.compactedIndex);
    this.compactedIndex = index;
  }

  /**
   * Replaces the whole log with a snapshot from the leader (§7): everything up to meta.index
   * is committed and applied by installing it. The driver persists the snapshot and resets its
   * log store before it persists anything appended after this.
   */
  restore(meta: SnapshotMeta): void {
    assert(meta.index > this.committed, "a snapshot at or below commit is never installed");
    this.entries = [];
    this.compactedIndex = meta.index;
    this.compactedTerm = meta.term;
    this.unstableFrom = meta.index + 1;
    this.committed = meta.index;
    this.applied = meta.index;
    this.pendingLogStart = { index: meta.index, term: meta.term };
  }
}
