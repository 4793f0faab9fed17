import { assert, type Entry } from "../raft/index.js";
import { StorageError } from "./storage.js";

/**
 * The entries after a compaction point, contiguous, in memory. MemoryStorage keeps two of these
 * (what the process sees and what a crash would leave), FileStorage one (the live log it
 * replayed on open), and WAL replay builds one record by record.
 *
 * Entries at or below `compactedIndex` are gone; dropping a prefix moves `offset` instead of
 * copying the array, and the array is re-based only once half of it is dead, so that compacting
 * a long log often costs O(1) amortized per dropped entry.
 */
export class EntryLog {
  private held: Entry[] = [];
  // Invariant: held[offset + k].index === compacted + 1 + k, and offset <= held.length.
  private offset = 0;
  private compacted: number;

  constructor(compactedIndex = 0) {
    assert(Number.isSafeInteger(compactedIndex) && compactedIndex >= 0,
      `compacted index must be a non-negative integer, got ${compactedIndex}`);
    this.compacted = compactedIndex;
  }

  /** Entries at or below this index are covered by a snapshot and are no longer held. */
  get compactedIndex(): number {
    return this.compacted;
  }

  firstIndex(): number {
    return this.compacted + 1;
  }

  lastIndex(): number {
    return this.compacted + this.held.length - this.offset;
  }

  /** The entry at `index`, or undefined when it is not held. */
  entryAt(index: number): Entry | undefined {
    if (index <= this.compacted || index > this.lastIndex()) return undefined;
    return this.held[this.offset + index - this.compacted - 1];
  }

  /** Replaces the held entry at `index` by `entry` (the same index): a fault model's damage. */
  replaceAt(index: number, entry: Entry): void {
    assert(entry.index === index && this.entryAt(index) !== undefined,
      `replaceAt(${index}): not held, or the entry is for another index`);
    this.held[this.offset + index - this.compacted - 1] = entry;
  }

  /** Entries in [indexLow, indexHigh), a fresh array. Throws StorageError when not held. */
  slice(indexLow: number, indexHigh: number): Entry[] {
    if (!(Number.isSafeInteger(indexLow) && Number.isSafeInteger(indexHigh))) {
      throw new StorageError(`entries [${indexLow}, ${indexHigh}): indexes must be integers`);
    }
    if (indexLow > indexHigh) {
      throw new StorageError(`entries [${indexLow}, ${indexHigh}): the range is reversed`);
    }
    if (indexLow < this.firstIndex()) {
      throw new StorageError(`entries [${indexLow}, ${indexHigh}): compacted, the log starts ` +
        `at ${this.firstIndex()}`);
    }
    if (indexHigh > this.lastIndex() + 1) {
      throw new StorageError(`entries [${indexLow}, ${indexHigh}): past the last index ` +
        `${this.lastIndex()}`);
    }
    const start = this.offset + indexLow - this.compacted - 1;
    return this.held.slice(start, start + indexHigh - indexLow);
  }

  /**
   * Why appending `entries` would break the log's shape, or null when it is fine: the batch must
   * be contiguous, start after the compaction point and at most one past the last index, and
   * keep terms non-decreasing (a Raft log never has a term go down, §5.3). The live stores assert
   * this is null (a violation is the caller's bug); WAL replay reports it as corruption.
   */
  appendProblem(entries: readonly Entry[]): string | null {
    const first = entries[0];
    if (first === undefined) return null;
    if (first.index <= this.compacted) {
      return `append at ${first.index} is at or below the compaction point ${this.compacted}`;
    }
    if (first.index > this.lastIndex() + 1) {
      return `append at ${first.index} leaves a gap after the last index ${this.lastIndex()}`;
    }
    let termPrevious = this.entryAt(first.index - 1)?.term ?? 0;
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k]!;
      if (entry.index !== first.index + k) return `entries not contiguous at ${entry.index}`;
      if (!Number.isSafeInteger(entry.term) || entry.term < termPrevious) {
        return `term ${entry.term} at index ${entry.index} is below the previous term ` +
          `${termPrevious}`;
      }
      termPrevious = entry.term;
    }
    return null;
  }

  /** Truncates any suffix from the batch's first index on, then appends the batch. */
  append(entries: readonly Entry[]): void {
    const problem = this.appendProblem(entries);
    assert(problem === null, problem ?? "");
    const first = entries[0];
    if (first === undefined) return;
    this.held.length = this.offset + first.index - this.compacted - 1;
    for (const entry of entries) this.held.push(entry);
  }

  /**
   * Drops entries at or below `index`. Past the last index the log becomes empty and the next
   * append starts at index + 1 (a follower that installed a snapshot beyond its log). Returns
   * whether anything changed: compacting to an index already compacted is a no-op.
   */
  compactTo(index: number): boolean {
    assert(Number.isSafeInteger(index) && index >= 0, `bad compaction index ${index}`);
    if (index <= this.compacted) return false;
    if (index >= this.lastIndex()) {
      this.held = [];
      this.offset = 0;
    } else {
      this.offset += index - this.compacted;
      // Re-base once half of the array is dead, so memory stays within twice the live log.
      if (this.offset > 1024 && this.offset * 2 > this.held.length) {
        this.held = this.held.slice(this.offset);
        this.offset = 0;
      }
    }
    this.compacted = index;
    return true;
  }

  /** Discards every entry; the log restarts after `index`, which may be below the compaction
   * point only in WAL replay's provisional start (the caller checks). */
  reset(index: number): void {
    assert(Number.isSafeInteger(index) && index >= 0, `bad reset index ${index}`);
    this.held = [];
    this.offset = 0;
    this.compacted = index;
  }

  clone(): EntryLog {
    const copy = new EntryLog(this.compacted);
    copy.held = this.held.slice(this.offset);
    return copy;
  }
}
