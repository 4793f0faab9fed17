import * as fs from "node:fs";
import * as path from "node:path";
import { assertNever, type Entry, type HardState } from "../raft/index.js";
import { EntryLog } from "./entry-log.js";
import {
  decodeCompact,
  decodeEntries,
  decodeHardState,
  decodeReset,
  decodeSegmentHeader,
  PayloadError,
  RecordType,
  scanSegment,
  trailingZeroBytes,
  type RawRecord,
  type SegmentHeader,
} from "./wal.js";
import { fileCall, type SegmentName } from "./wal-segment.js";

/**
 * Replays a WAL directory's segments into the log they describe, verifying every record, and
 * stops at the first problem. FileStorage.open() truncates a torn tail and throws on anything
 * else; repairWal() truncates at whatever the problem is. Both read the same verdict here.
 *
 * The last segment may end in zeros: space FileStorage preallocated and has not written yet.
 * They end the segment, and are no problem.
 *
 * What counts as a torn tail: in the LAST segment, a record that fails verification (a partial
 * header, a length past the end of the file, a checksum mismatch) with no verifiable record
 * anywhere after it. That is what a crash in the middle of the last write leaves. A bad
 * checksum on the final record counts too, as in etcd: a torn write can leave a record whose
 * length landed but whose payload did not. Anything else — a failure in an earlier segment, or
 * one followed by a valid record, or records that verify but do not fit together (a gap in
 * indexes or sequences, a segment header that disagrees with the segments before it) — is
 * corruption, because dropping it would drop data that was synced and acknowledged.
 */

export interface ReplayedSegment extends SegmentName {
  /** The verified bytes: the file's length, or where its first problem (or the last
   * segment's preallocated zeros) starts. */
  bytes: number;
  /** The file's length on disk. */
  readonly fileBytes: number;
  /** Zero bytes at the end of the file after its first problem (or its records): 0 when it
   * has none. In the last segment, the space FileStorage preallocated. */
  zeroBytes: number;
  /** The highest entry index the segment holds (nextIndex - 1 when it holds none). */
  indexMax: number;
}

export interface ReplayProblem {
  readonly file: string;
  readonly segmentPosition: number;
  readonly offset: number;
  readonly reason: string;
  /** "torn": a tail to truncate. "corrupt": stop. "inconsistent": the segments verify but do
   * not add up to a log (one is missing); truncation cannot fix it. */
  readonly kind: "torn" | "corrupt" | "inconsistent";
}

export interface ReplayResult {
  readonly log: EntryLog;
  readonly hardState: HardState;
  /** The segments read, up to and including the one with a problem. */
  readonly segments: ReplayedSegment[];
  readonly recordCount: number;
  readonly tornTail: ReplayProblem | null;
  /** A problem that is not a torn tail. */
  readonly problem: ReplayProblem | null;
}

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

export function replayWal(dir: string, names: readonly SegmentName[]): ReplayResult {
  return new WalReplay(dir, names).run();
}

class WalReplay {
  // Null until the first segment header: the log's start comes from it.
  private log: EntryLog | null = null;
  // The compaction point the records declare. Until the end of replay `log` may start later
  // (its first segments were deleted), never earlier.
  private compactedIndex = 0;
  private hardState: HardState = emptyHardState;
  private readonly segments: ReplayedSegment[] = [];
  private recordCount = 0;

  constructor(private readonly dir: string, private readonly names: readonly SegmentName[]) {}

  run(): ReplayResult {
    let problem: ReplayProblem | null = null;
    for (let position = 0; position < this.names.length && problem === null; position++) {
      problem = this.replaySegment(position);
    }
    const tornTail = problem?.kind === "torn" ? problem : null;
    if (problem === null || tornTail !== null) problem = this.finish();
    return {
      log: this.log ?? new EntryLog(),
      hardState: this.hardState,
      segments: this.segments,
      recordCount: this.recordCount,
      tornTail,
      problem,
    };
  }

  private replaySegment(position: number): ReplayProblem | null {
    const name = this.names[position]!;
    const previous = this.names[position - 1];
    const fail = (offset: number, reason: string, kind: ReplayProblem["kind"] = "corrupt") =>
      ({ file: name.name, segmentPosition: position, offset, reason, kind });
    const bytes = fileCall(`read ${name.name}`, () => fs.readFileSync(path.join(this.dir,
      name.name)));
    const segment = { ...name, bytes: bytes.length, fileBytes: bytes.length, zeroBytes: 0,
      indexMax: name.nextIndex - 1 };
    this.segments.push(segment);
    if (previous !== undefined && name.sequence !== previous.sequence + 1) {
      segment.bytes = 0;
      return fail(0, `the sequence jumps from ${previous.sequence} to ${name.sequence}: a ` +
        "segment is missing");
    }
    const scan = scanSegment(bytes);
    for (const [k, record] of scan.records.entries()) {
      const reason = this.applyRecord(record, segment, k === 0);
      if (reason !== null) {
        segment.bytes = record.offset;
        return fail(record.offset, reason);
      }
      this.recordCount++;
    }
    segment.bytes = scan.goodBytes;
    const isLast = position === this.names.length - 1;
    if (scan.failure !== null) {
      const { offset, reason, nextValidOffset, zeroTail } = scan.failure;
      segment.zeroBytes = trailingZeroBytes(bytes, offset);
      // The space FileStorage preallocates past the active segment's records. It trims a
      // segment to its records before creating the next, so only the last one has any.
      if (isLast && zeroTail) return null;
      if (isLast && nextValidOffset === null) return fail(offset, reason, "torn");
      return fail(offset, nextValidOffset === null ? reason : `${reason}; a valid record ` +
        `follows at byte ${nextValidOffset}, so this is not a torn tail`);
    }
    if (bytes.length === 0 && !isLast) {
      return fail(0, "the segment is empty but later segments exist: it lost its records");
    }
    return null;
  }

  /** Applies one verified record; returns why it does not fit, or null. */
  private applyRecord(record: RawRecord, segment: ReplayedSegment, isFirst: boolean):
    string | null {
    if (isFirst !== (record.type === RecordType.segmentHeader)) {
      return isFirst ? "the segment does not start with a header record"
        : "a segment header record in the middle of a segment";
    }
    try {
      switch (record.type) {
        case RecordType.segmentHeader:
          return this.applyHeader(decodeSegmentHeader(record.payload), segment);
        case RecordType.entries:
          return this.applyEntries(decodeEntries(record.payload), segment);
        case RecordType.hardState:
          return this.applyHardState(decodeHardState(record.payload));
        case RecordType.compact:
          return this.applyCompact(decodeCompact(record.payload));
        case RecordType.reset:
          return this.applyReset(decodeReset(record.payload).index);
        default:
          return assertNever(record.type, "record type");
      }
    } catch (error) {
      if (error instanceof PayloadError) return `undecodable record: ${error.message}`;
      throw error;
    }
  }

  private applyHeader(header: SegmentHeader, segment: ReplayedSegment): string | null {
    if (header.sequence !== segment.sequence || header.nextIndex !== segment.nextIndex) {
      return `the header says sequence ${header.sequence}, next index ${header.nextIndex}, ` +
        "which disagrees with the file name";
    }
    if (header.compactedIndex >= header.nextIndex) {
      return `the header's compaction point ${header.compactedIndex} is past its log`;
    }
    if (this.log === null) {
      // The oldest segment left: the log starts where it did, or later (see finish()).
      this.log = new EntryLog(header.nextIndex - 1);
      this.compactedIndex = header.compactedIndex;
      this.hardState = header.hardState;
      return null;
    }
    const expected = `next index ${this.log.lastIndex() + 1}, compacted ${this.compactedIndex}`;
    if (header.nextIndex !== this.log.lastIndex() + 1 ||
      header.compactedIndex !== this.compactedIndex ||
      !sameHardState(header.hardState, this.hardState)) {
      return `the header (next index ${header.nextIndex}, compacted ${header.compactedIndex}) ` +
        `disagrees with the segments before it (${expected})`;
    }
    return null;
  }

  private applyEntries(entries: Entry[], segment: ReplayedSegment): string | null {
    const indexFirst = entries[0]!.index;
    const indexLast = entries[entries.length - 1]!.index;
    if (indexFirst <= this.compactedIndex) {
      return `entries from ${indexFirst} at or below the compaction point ${this.compactedIndex}`;
    }
    // A truncating append that reaches below the oldest segment left: the entries it replaces
    // were in deleted segments, which only held compacted entries (finish() checks that).
    if (indexFirst <= this.log!.compactedIndex) this.log = new EntryLog(indexFirst - 1);
    const problem = this.log!.appendProblem(entries);
    if (problem !== null) return problem;
    this.log!.append(entries);
    segment.indexMax = Math.max(segment.indexMax, indexLast);
    return null;
  }

  private applyHardState(state: HardState): string | null {
    if (state.term < this.hardState.term) {
      return `the term goes back from ${this.hardState.term} to ${state.term}`;
    }
    this.hardState = state;
    return null;
  }

  private applyCompact(index: number): string | null {
    if (index < this.compactedIndex) {
      return `the compaction point goes back from ${this.compactedIndex} to ${index}`;
    }
    this.compactedIndex = index;
    if (index > this.log!.compactedIndex) this.log!.compactTo(index);
    return null;
  }

  private applyReset(index: number): string | null {
    if (index < this.compactedIndex) {
      return `a reset to ${index} goes back from the compaction point ${this.compactedIndex}`;
    }
    this.compactedIndex = index;
    this.log!.reset(index);
    return null;
  }

  /** After the last record: the log must reach down to its compaction point. */
  private finish(): ReplayProblem | null {
    const first = this.names[0];
    if (first === undefined) return null;
    const fail = (reason: string): ReplayProblem =>
      ({ file: first.name, segmentPosition: 0, offset: 0, reason, kind: "inconsistent" });
    if (this.log === null) {
      if (first.sequence === 1) return null; // A new WAL whose first write never landed.
      return fail(`no segment holds a record, yet the oldest is number ${first.sequence}: the ` +
        "segments before it, deleted by compaction, were superseded by records now lost");
    }
    if (this.log.compactedIndex > this.compactedIndex) {
      return fail(`entries ${this.compactedIndex + 1} to ${this.log.compactedIndex} are ` +
        "missing: they are neither in a segment nor compacted");
    }
    this.log.compactTo(this.compactedIndex);
    return null;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
