import { assert } from "./assert.js";
import { entrySizeBytes, type Entry, type SnapshotMeta } from "./messages.js";

/**
 * The replicated log as the core sees it: every entry after the snapshot point, held in memory,
 * with a marker for the tail that the driver has not yet persisted.
 *
 *   snapshotIndex   unstableFrom                lastIndex
 *        |  stable (on disk) | unstable (in the next Ready) |
 *
 * Invariants: entries[k].index === snapshotIndex + 1 + k; terms never decrease along the log;
 * snapshotIndex < unstableFrom <= lastIndex + 1; committed <= lastIndex.
 */
export class RaftLog {
  private snapshotIndex: number;
  private snapshotTerm: number;
  private entries: Entry[];
  /** The first index not yet on stable storage. */
  private unstableFrom: number;
  /** Invariant: snapshotIndex <= committed <= lastIndex(). */
  committed: number;
  /** Invariant: applied <= committed. Advanced only when the driver says it applied. */
  applied: number;

  constructor(snapshot: SnapshotMeta | null, entries: readonly Entry[], committed: number) {
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotTerm = snapshot?.term ?? 0;
    this.entries = [...entries];
    this.entries.forEach((entry, k) => {
      assert(entry.index === this.snapshotIndex + 1 + k, "restored entries must be contiguous");
      const previousTerm = k === 0 ? this.snapshotTerm : this.entries[k - 1]!.term;
      assert(entry.term >= previousTerm, "restored entry terms must not decrease");
    });
    this.unstableFrom = this.lastIndex() + 1;
    assert(committed <= this.lastIndex(), "restored commit index beyond the log");
    this.committed = Math.max(committed, this.snapshotIndex);
    this.applied = this.snapshotIndex;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
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
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return null;
    return this.entries[index - this.snapshotIndex - 1]!.term;
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
    assert(indexLow >= this.firstIndex(), `slice below the first index: ${indexLow}`);
    assert(indexHigh <= this.lastIndex() + 1, `slice beyond the last index: ${indexHigh}`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = indexLow; index < indexHigh; index++) {
      const entry = this.entries[index - this.snapshotIndex - 1]!;
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
    for (; probe > this.snapshotIndex; probe--) {
      const probeTerm = this.term(probe)!;
      if (probeTerm <= term) return { index: probe, term: probeTerm };
    }
    // At or below the snapshot we know only the snapshot's own term.
    if (probe === this.snapshotIndex && this.snapshotTerm <= term) {
      return { index: probe, term: this.snapshotTerm };
    }
    return { index: probe, term: 0 };
  }

  /**
   * Appends a follower's incoming entries, truncating our conflicting suffix from the first
   * mismatch. Committed entries never conflict with a legitimate leader (Leader Completeness).
   */
  appendFromLeader(incoming: readonly Entry[]): void {
    const conflict = this.findConflict(incoming);
    if (conflict === 0) return;
    assert(conflict > this.committed, `conflict at ${conflict} is at or below commit ${this.committed}`);
    const first = incoming[0]!;
    const newEntries = incoming.slice(conflict - first.index);
    this.entries.length = conflict - this.snapshotIndex - 1;
    for (const entry of newEntries) this.append(entry);
    // The truncated suffix may have been stable; the storage must rewrite from the conflict.
    this.unstableFrom = Math.min(this.unstableFrom, conflict);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
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
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    assert(index >= this.applied, "applied index never goes backwards");
    this.applied = index;
  }
}
