import * as fs from "node:fs";
import * as path from "node:path";
import {
  checkRecordAt,
  decodeHardState,
  entriesPayloadRange,
  findNextValidRecord,
  trailingZeroBytes,
  RecordType,
} from "./wal.js";
import { replayWal, type ReplayProblem } from "./wal-replay.js";
import { fileCall, fsyncDirectory, listSegments } from "./wal-segment.js";

/**
 * repairWal(dir): the explicit, operator-run way past a CorruptionError (`market-node --repair`).
 * It truncates the WAL just after the last good record before the first problem: the segment
 * with the problem is cut at the problem's offset (deleted when nothing good is left in it), and
 * every later segment is deleted. The report says exactly what went: each file and byte range,
 * the entry indexes of the records in those bytes that still verify, and how many bytes could
 * not be read at all. FileStorage.open() never calls this: dropping acknowledged entries is a
 * decision for a person, who may prefer to restore the node from its peers instead.
 */

export interface RemovedBytes {
  readonly file: string;
  /** [byteLow, byteHigh): from the cut to the old end of the file. */
  readonly byteLow: number;
  readonly byteHigh: number;
  readonly wholeFile: boolean;
  /** Index ranges [indexFirst, indexLast] of the entry records in the removed bytes that still
   * verified; later records may repeat indexes that earlier ones held (a truncating append). */
  readonly entryIndexRanges: readonly { readonly indexFirst: number; readonly indexLast: number }[];
  /** Hard-state records among the removed bytes. */
  readonly hardStateRecords: number;
  /** The highest commit index among those hard states (0 when none). */
  readonly hardStateCommitMax: number;
  /** Removed bytes that are not a verifiable record: the damage itself. */
  readonly unreadableBytes: number;
  /** Zeros at the end of the file, after the last verifiable record or unreadable byte: in
   * the last segment, space FileStorage preallocated and never wrote. */
  readonly zeroBytes: number;
}

export interface RepairReport {
  readonly dir: string;
  /** The problem the repair cut at, or null when the WAL was sound. */
  readonly problem: { readonly file: string; readonly offset: number;
    readonly reason: string } | null;
  readonly removed: readonly RemovedBytes[];
  /** A problem truncation cannot fix (a segment missing from the middle): open() still throws. */
  readonly unresolved: string | null;
  /** Consequences the operator must know about, such as a lost hard state. */
  readonly warnings: readonly string[];
  /** The log's last index after the repair, and the highest commit index any verifiable
   * hard-state record held before it (kept or removed). */
  readonly lastIndexKept: number;
  readonly commitIndexRecorded: number;
  /**
   * Set when the cut was at corruption, not at a torn tail: the removed records had been
   * synced, so the node may have acknowledged them (entries to a leader, a vote to a
   * candidate). Such a node must not vote or acknowledge as its old self again (the caller
   * fences its identity). A torn tail was never synced, so never promised.
   */
  readonly acknowledgedMayBeLost: boolean;
}

export function repairWal(dir: string): RepairReport {
  const names = listSegments(dir);
  const replay = replayWal(dir, names);
  const unresolved = replay.problem?.kind === "inconsistent" ? replay.problem.reason : null;
  const cut: ReplayProblem | null =
    replay.problem?.kind === "corrupt" ? replay.problem : replay.tornTail;
  const lastIndexKept = replay.log.lastIndex();
  if (cut === null) {
    return { dir, problem: null, removed: [], unresolved, warnings: [], lastIndexKept,
      commitIndexRecorded: replay.hardState.commit, acknowledgedMayBeLost: false };
  }
  const removed: RemovedBytes[] = [];
  for (let position = cut.segmentPosition; position < names.length; position++) {
    const file = names[position]!.name;
    const bytes = fileCall(`read ${file}`, () => fs.readFileSync(path.join(dir, file)));
    const byteLow = position === cut.segmentPosition ? cut.offset : 0;
    removed.push({ file, byteLow, byteHigh: bytes.length, wholeFile: byteLow === 0,
      ...describeBytes(bytes, byteLow) });
  }
  // Newest first, so that a crash part-way leaves a WAL that repairs the same way again.
  fileCall(`repair ${dir}`, () => {
    for (const range of removed.slice().reverse()) {
      const file = path.join(dir, range.file);
      if (range.wholeFile) {
        fs.unlinkSync(file);
        continue;
      }
      const fd = fs.openSync(file, "r+");
      try {
        fs.ftruncateSync(fd, range.byteLow);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    fsyncDirectory(dir);
  });
  const everythingRemoved = cut.segmentPosition === 0 && cut.offset === 0;
  const heldState = replay.recordCount > 0 || names[0]!.sequence > 1;
  const warnings: string[] = everythingRemoved && heldState ? ["every segment was " +
    "removed: the node restarts with an empty log and no hard state (term 0, no vote), so it " +
    "may vote twice in a term; rejoin it to its cluster as a new member"] : [];
  const commitIndexRecorded = Math.max(replay.hardState.commit,
    ...removed.map((range) => range.hardStateCommitMax));
  const acknowledgedMayBeLost = cut.kind !== "torn" &&
    removed.some((range) => range.byteHigh > range.byteLow);
  const lost = lostCommittedRange(lastIndexKept, commitIndexRecorded);
  if (lost !== null) {
    warnings.push(`entries ${lost} were at or below the commit index ${commitIndexRecorded} ` +
      "this node had recorded: they were committed, and this copy of them is gone");
  }
  const problem = { file: cut.file, offset: cut.offset, reason: cut.reason };
  return { dir, problem, removed, unresolved, warnings, lastIndexKept, commitIndexRecorded,
    acknowledgedMayBeLost };
}

/** "a..b": the committed indexes the repaired log no longer holds, or null when none. */
export function lostCommittedRange(lastIndexKept: number, commitIndexRecorded: number):
  string | null {
  return commitIndexRecorded > lastIndexKept
    ? `${lastIndexKept + 1}..${commitIndexRecorded}` : null;
}

/** What the bytes from `offset` on held: verifiable records, unreadable bytes, and the zeros
 * at the end of the file. */
function describeBytes(bytes: Buffer, offset: number):
  Pick<RemovedBytes, "entryIndexRanges" | "hardStateRecords" | "hardStateCommitMax" |
    "unreadableBytes" | "zeroBytes"> {
  const entryIndexRanges: { indexFirst: number; indexLast: number }[] = [];
  let hardStateRecords = 0;
  let hardStateCommitMax = 0;
  let unreadableBytes = 0;
  let at = offset;
  const zeroBytes = trailingZeroBytes(bytes, offset);
  while (at < bytes.length - zeroBytes) {
    const check = checkRecordAt(bytes, at);
    if (!check.ok) {
      const next = findNextValidRecord(bytes, at) ?? bytes.length - zeroBytes;
      unreadableBytes += next - at;
      at = next;
      continue;
    }
    if (check.record.type === RecordType.entries) {
      entryIndexRanges.push(entriesPayloadRange(check.record.payload));
    } else if (check.record.type === RecordType.hardState) {
      hardStateRecords++;
      hardStateCommitMax = Math.max(hardStateCommitMax,
        decodeHardState(check.record.payload).commit);
    }
    at = check.end;
  }
  // A record may itself end in zero bytes (a hard state with no vote): those are its own.
  return { entryIndexRanges, hardStateRecords, hardStateCommitMax, unreadableBytes,
    zeroBytes: bytes.length - Math.max(at, bytes.length - zeroBytes) };
}

/** The report as lines for a person. */
export function describeRepair(report: RepairReport): string {
  if (report.problem === null) {
    return `${report.dir}: nothing to repair` +
      (report.unresolved === null ? "" : `, but: ${report.unresolved}`);
  }
  const { file, offset, reason } = report.problem;
  const lines = [`${report.dir}: cut at byte ${offset} of ${file}: ${reason}`];
  for (const range of report.removed) {
    const entries = range.entryIndexRanges.length === 0 ? "no entries"
      : "entries " + range.entryIndexRanges.map((r) => `${r.indexFirst}..${r.indexLast}`)
        .join(", ");
    lines.push(`  ${range.wholeFile ? "deleted" : "truncated"} ${range.file} bytes ` +
      `[${range.byteLow}, ${range.byteHigh}): ${entries}, ${range.hardStateRecords} hard ` +
      `states, ${range.unreadableBytes} unreadable bytes` + (range.zeroBytes === 0 ? ""
        : `, ${range.zeroBytes} zero bytes at the end`));
  }
  if (report.unresolved !== null) lines.push(`  unresolved: ${report.unresolved}`);
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  return lines.join("\n");
}
