import * as fs from "node:fs";
import * as path from "node:path";
import { assert, InvariantError, type Entry, type HardState } from "../raft/index.js";
import type { EntryLog } from "./entry-log.js";
import { FsyncPlacement } from "./fsync-placement.js";
import { assertHardState, assertHardStateFollows, assertResetTo } from "./memory-storage.js";
import { CorruptionError, StorageError, type DurableLog } from "./storage.js";
import {
  encodeCompactRecord,
  encodeEntriesRecords,
  encodeHardStateRecord,
  encodeResetRecord,
  encodeSegmentHeaderRecord,
  walFormatVersion,
} from "./wal.js";
import {
  entriesRecordOverheadBytes,
  resolveFileStorageOptions,
  type FileStorageOptions,
} from "./file-storage-options.js";
import { replayWal, type ReplayedSegment, type ReplayResult } from "./wal-replay.js";
import {
  ensureDirectory,
  fdatasyncAsync,
  fileCall,
  fsyncDirectory,
  fsyncDirectoryAsync,
  listSegments,
  openAsync,
  preallocateAsync,
  preallocateSync,
  segmentFileName,
  trimSegmentAsync,
  trimSegmentSync,
  truncateFile,
  writeAllSync,
} from "./wal-segment.js";

export { defaultFileStorageOptions, type FileStorageOptions } from "./file-storage-options.js";

/**
 * FileStorage: the DurableLog as a segmented write-ahead log in one directory (record format in
 * wal.ts, recovery in wal-replay.ts).
 *
 * Group commit: append(), setHardState(), compactTo() and resetTo() only encode records into a
 * bounded buffer. sync() writes the whole buffer with one write and one fdatasync, however many entries
 * it holds, so the driver pays one disk flush per loop iteration. syncAsync() does the same
 * with the fdatasync (and any file creation) on the thread pool, or, with inlineFsyncMsMax set
 * (off by default), the fdatasync inline while the disk is fast (fsync-placement.ts). Entries go
 * into the stream
 * before the hard state that refers to them, in the order the calls were made.
 *
 * Segments rotate lazily: a flush that finds the active segment at or past segmentBytesMax
 * first creates a new one (and fsyncs the directory), so a segment overshoots the bound by at
 * most one flush, and every segment but the last was completely synced before its successor
 * existed — which is why only the last segment can have a torn tail. The active segment is
 * preallocated (segmentPreallocBytes of zeros past its records, so a flush changes no file
 * size); it is cut back to its records, durably, before its successor is created, so only the
 * last segment ends in zeros, and replay reads them as its end. Each new segment starts
 * with a header record holding the log's state at that point, so deleting older segments loses
 * no hard state and no compaction point.
 *
 * Compaction deletes whole segments, oldest first, once every entry they hold is at or below a
 * compaction point that is already synced, and never the active one.
 *
 * Memory: after open() the live entries (those after the compaction point) stay in memory for
 * entries(); compaction bounds them, as it bounds the disk.
 */

/** Callbacks for the node to log what the store decides on its own. */
export interface FileStorageHooks {
  /** An inline fdatasync took `durationMs`: the next ones run on the pool for a while. */
  readonly onSlowInlineFsync?: (durationMs: number, options: FileStorageOptions) => void;
  /**
   * The clock, in ms, that times fdatasyncs (storage has none of its own: the node passes
   * performance.now). Without one, every fdatasync of syncAsync() runs on the thread pool, as
   * a slow disk could not be noticed.
   */
  readonly nowMs?: () => number;
}

/** What open() found and fixed, for the node to log. */
export interface RecoverySummary {
  readonly dir: string;
  readonly segmentCount: number;
  readonly recordCount: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly hardState: HardState;
  /** A torn final record, truncated away: it was never synced, so never acknowledged.
   * `zeroBytes` of the bytes removed were zeros at the end of the file (preallocated). */
  readonly tornTail: { readonly file: string; readonly offset: number;
    readonly bytesRemoved: number; readonly zeroBytes: number; readonly reason: string } | null;
  /** The last segment's records end before the file does: the rest is preallocated zeros
   * (wal-segment.ts preallocateSync), read as the log's end. A lost final block of synced
   * records would read the same way, as in etcd; this says where the records end. */
  readonly preallocated: { readonly file: string; readonly recordBytes: number;
    readonly fileBytes: number } | null;
  /** A last segment left with no records (a crash right after it was created), deleted. */
  readonly emptySegmentRemoved: string | null;
}

export function describeRecovery(summary: RecoverySummary): string {
  const { segmentCount, recordCount, firstIndex, lastIndex, hardState } = summary;
  const parts = [`recovered ${recordCount} records from ${segmentCount} segments: entries ` +
    `${firstIndex}..${lastIndex}, term ${hardState.term}, commit ${hardState.commit}`];
  const torn = summary.tornTail;
  if (torn !== null) {
    const zeros = torn.zeroBytes === 0 ? "" : `, ${torn.zeroBytes} of them zeros at the end`;
    parts.push(`truncated a torn tail of ${torn.bytesRemoved} bytes${zeros} at byte ` +
      `${torn.offset} of ${torn.file} (${torn.reason})`);
  }
  const preallocated = summary.preallocated;
  if (preallocated !== null) {
    parts.push(`the records of ${preallocated.file} end at byte ${preallocated.recordBytes} ` +
      `of ${preallocated.fileBytes} (the rest preallocated)`);
  }
  if (summary.emptySegmentRemoved !== null) {
    parts.push(`removed the empty segment ${summary.emptySegmentRemoved}`);
  }
  return parts.join("; ");
}

export interface FileStorageStats {
  readonly bytesWritten: number;
  readonly syncCount: number;
  /** syncAsync() fdatasyncs run inline, and on the thread pool (fsync-placement.ts). */
  readonly inlineFsyncs: number;
  readonly poolFsyncs: number;
  /** Inline fdatasyncs slower than inlineFsyncMsMax: each sent the next ones to the pool. */
  readonly slowInlineFsyncs: number;
  readonly segmentsCreated: number;
  readonly segmentsRemoved: number;
  readonly segmentCount: number;
  /** The bytes of the segments now on disk. */
  readonly segmentBytes: number;
}

interface Segment {
  readonly name: string;
  readonly sequence: number;
  readonly nextIndex: number;
  bytes: number;
  indexMax: number;
}

/** The state the records written so far describe: what a new segment's header records. */
interface FlushedState {
  readonly nextIndex: number;
  readonly compactedIndex: number;
  readonly hardState: HardState;
}

/** One flush, planned synchronously, then done by sync() or syncAsync(). */
interface FlushPlan {
  /** A segment to create first; the buffer then starts with its header. */
  readonly newSegment: Segment | null;
  readonly buffer: Buffer;
  readonly position: number;
  readonly indexMax: number;
  /** The compaction point that is durable once this flush is: segments below it can go. */
  readonly compactedIndex: number;
}

export class FileStorage implements DurableLog {
  private readonly log: EntryLog;
  private liveHardState: HardState;
  // Invariant: segments are in sequence order; when activeFd is set, it is the last one's.
  private readonly segments: Segment[];
  private activeFd: number | null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingIndexMax = 0;
  private flushed: FlushedState;
  // After a failed write or fsync the page cache can no longer be trusted (PostgreSQL's
  // "fsyncgate"): the store refuses everything and the node must restart and recover.
  private failure: StorageError | null = null;
  private closed = false;
  private asyncSyncsInFlight = 0;
  private asyncChain: Promise<void> = Promise.resolve();
  private counters = { bytesWritten: 0, syncCount: 0, segmentsCreated: 0, segmentsRemoved: 0,
    inlineFsyncs: 0, poolFsyncs: 0 };
  private readonly fsyncPlacement: FsyncPlacement;
  /** Times fdatasyncs for fsyncPlacement. */
  private readonly nowMs: () => number;

  private constructor(
    readonly dir: string,
    private readonly options: FileStorageOptions,
    replay: ReplayResult,
    segments: Segment[],
    readonly recovery: RecoverySummary,
    private readonly hooks: FileStorageHooks,
  ) {
    this.fsyncPlacement = new FsyncPlacement(
      hooks.nowMs === undefined ? 0 : options.inlineFsyncMsMax, options.poolFsyncHoldMs);
    this.nowMs = hooks.nowMs ?? (() => 0);
    this.log = replay.log;
    this.liveHardState = replay.hardState;
    this.segments = segments;
    const active = segments[segments.length - 1];
    this.activeFd = active === undefined ? null
      : fileCall(`open ${active.name}`, () => {
        const fd = fs.openSync(path.join(dir, active.name), "r+");
        try {
          preallocateSync(fd, options.segmentPreallocBytes);
        } catch (error) {
          fs.closeSync(fd);
          throw error;
        }
        return fd;
      });
    this.flushed = { nextIndex: this.log.lastIndex() + 1,
      compactedIndex: this.log.compactedIndex, hardState: this.liveHardState };
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers it: every record of every segment
   * is verified, a torn tail of the last segment is truncated, and anything else wrong throws
   * CorruptionError naming the file and byte offset; repairWal() is the explicit way past that.
   */
  static open(dir: string, options: Partial<FileStorageOptions> = {},
    hooks: FileStorageHooks = {}): FileStorage {
    const resolved = resolveFileStorageOptions(options);
    ensureDirectory(dir);
    const replay = replayWal(dir, listSegments(dir));
    if (replay.problem !== null) {
      const { file, offset, reason } = replay.problem;
      throw new CorruptionError(path.join(dir, file), offset, reason);
    }
    const segments: Segment[] = replay.segments.map((segment: ReplayedSegment) => ({
      name: segment.name, sequence: segment.sequence, nextIndex: segment.nextIndex,
      bytes: segment.bytes, indexMax: segment.indexMax }));
    let tornTail: RecoverySummary["tornTail"] = null;
    let preallocated: RecoverySummary["preallocated"] = null;
    const last = replay.segments.at(-1);
    if (replay.tornTail !== null) {
      truncateFile(path.join(dir, last!.name), last!.bytes);
      tornTail = { file: last!.name, offset: last!.bytes,
        bytesRemoved: last!.fileBytes - last!.bytes, zeroBytes: last!.zeroBytes,
        reason: replay.tornTail.reason };
    } else if (last !== undefined && last.bytes > 0 && last.fileBytes > last.bytes) {
      preallocated = { file: last.name, recordBytes: last.bytes, fileBytes: last.fileBytes };
    }
    let emptySegmentRemoved: string | null = null;
    if (segments.length > 0 && segments[segments.length - 1]!.bytes === 0) {
      emptySegmentRemoved = segments.pop()!.name;
      fileCall(`remove ${emptySegmentRemoved}`, () => {
        fs.unlinkSync(path.join(dir, emptySegmentRemoved!));
        fsyncDirectory(dir);
      });
    }
    const recovery: RecoverySummary = { dir, segmentCount: segments.length,
      recordCount: replay.recordCount, firstIndex: replay.log.firstIndex(),
      lastIndex: replay.log.lastIndex(), hardState: replay.hardState, tornTail, preallocated,
      emptySegmentRemoved };
    return new FileStorage(dir, resolved, replay, segments, recovery, hooks);
  }

  firstIndex(): number {
    this.assertUsable();
    return this.log.firstIndex();
  }

  lastIndex(): number {
    this.assertUsable();
    return this.log.lastIndex();
  }

  entries(indexLow: number, indexHigh: number): readonly Entry[] {
    this.assertUsable();
    return this.log.slice(indexLow, indexHigh);
  }

  append(entries: readonly Entry[]): void {
    this.assertUsable();
    if (entries.length === 0) return;
    const problem = this.log.appendProblem(entries);
    assert(problem === null, problem ?? "");
    // Encoding first: an entry too large throws before anything changes.
    const records = encodeEntriesRecords(entries,
      this.options.entryBytesMax + entriesRecordOverheadBytes);
    this.buffer(records);
    this.log.append(entries);
    this.pendingIndexMax = Math.max(this.pendingIndexMax, entries[entries.length - 1]!.index);
  }

  compactTo(index: number): void {
    this.assertUsable();
    assert(Number.isSafeInteger(index) && index >= 0, `bad compaction index ${index}`);
    if (index <= this.log.compactedIndex) return;
    this.buffer([encodeCompactRecord(index)]);
    this.log.compactTo(index);
  }

  resetTo(index: number, term: number): void {
    this.assertUsable();
    assertResetTo(index, term, this.log.compactedIndex);
    this.buffer([encodeResetRecord(index, term)]);
    this.log.reset(index);
  }

  hardState(): HardState {
    this.assertUsable();
    return this.liveHardState;
  }

  setHardState(state: HardState): void {
    this.assertUsable();
    assertHardState(state);
    assertHardStateFollows(this.liveHardState, state);
    const copy = { term: state.term, vote: state.vote, commit: state.commit };
    this.buffer([encodeHardStateRecord(copy)]);
    this.liveHardState = copy;
  }

  sync(): void {
    this.assertUsable();
    assert(this.asyncSyncsInFlight === 0, "sync() while a syncAsync() is in flight");
    if (this.pending.length === 0) return;
    const plan = this.planFlush();
    this.failOnError(() => {
      let fd = this.activeFd;
      if (plan.newSegment !== null) {
        if (this.activeFd !== null) trimSegmentSync(this.activeFd, this.segments.at(-1)!.bytes);
        fd = fs.openSync(path.join(this.dir, plan.newSegment.name), "wx");
        preallocateSync(fd, this.options.segmentPreallocBytes);
        fsyncDirectory(this.dir);
      }
      writeAllSync(fd!, plan.buffer, plan.position);
      fs.fdatasyncSync(fd!);
      this.commitFlush(plan, fd!);
      const removed = this.takeCompactedSegments(plan.compactedIndex);
      if (removed.length === 0) return;
      for (const segment of removed) fs.unlinkSync(path.join(this.dir, segment.name));
      fsyncDirectory(this.dir);
    });
  }

  syncAsync(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.assertUsable();
    this.asyncSyncsInFlight++;
    // With none in flight, the write and the fdatasync start now, not in a later microtask: the
    // driver applies committed entries after this call returns, and the fsync should not wait
    // for that apply (it runs beside a pool fsync; an inline one is over by then). (When the
    // count drops to 0 the chain has settled: see its `finally`.)
    const run = this.asyncSyncsInFlight === 1 ? this.syncAsyncOnce()
      : this.asyncChain.then(() => this.syncAsyncOnce());
    this.asyncChain = run.catch(() => undefined);
    return run.finally(() => {
      this.asyncSyncsInFlight--;
    });
  }

  close(): void {
    assert(!this.closed, "FileStorage closed twice");
    assert(this.asyncSyncsInFlight === 0, "close() while a syncAsync() is in flight");
    this.closed = true;
    if (this.activeFd !== null) fs.closeSync(this.activeFd);
    this.activeFd = null;
  }

  stats(): FileStorageStats {
    return { ...this.counters, slowInlineFsyncs: this.fsyncPlacement.slowInlineCount,
      segmentCount: this.segments.length,
      segmentBytes: this.segments.reduce((sum, segment) => sum + segment.bytes, 0) };
  }

  private async syncAsyncOnce(): Promise<void> {
    this.assertUsable();
    if (this.pending.length === 0) return;
    const plan = this.planFlush();
    try {
      let fd = this.activeFd;
      if (plan.newSegment !== null) {
        if (this.activeFd !== null) {
          await trimSegmentAsync(this.activeFd, this.segments.at(-1)!.bytes);
        }
        fd = await openAsync(path.join(this.dir, plan.newSegment.name), "wx");
        await preallocateAsync(fd, this.options.segmentPreallocBytes);
        await fsyncDirectoryAsync(this.dir);
      }
      // The write only copies into the page cache (microseconds, even for a large batch): on
      // this thread it saves a round trip through the thread pool, which under load costs
      // more than the copy. The fdatasync waits for the disk: on the pool, or inline while the
      // disk is fast when inlineFsyncMsMax is set (fsync-placement.ts).
      writeAllSync(fd!, plan.buffer, plan.position);
      const pooled = this.fdatasyncPlaced(fd!);
      if (pooled !== undefined) await pooled;
      this.commitFlush(plan, fd!);
      const removed = this.takeCompactedSegments(plan.compactedIndex);
      if (removed.length === 0) return;
      for (const segment of removed) await fs.promises.unlink(path.join(this.dir, segment.name));
      await fsyncDirectoryAsync(this.dir);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** The fdatasync of syncAsync: inline (returns undefined once done) or on the pool. */
  private fdatasyncPlaced(fd: number): Promise<void> | undefined {
    if (this.fsyncPlacement.neverInline) {
      // The default: nothing to time, no promise added to the flush.
      this.counters.poolFsyncs++;
      return fdatasyncAsync(fd);
    }
    const startedMs = this.nowMs();
    if (!this.fsyncPlacement.inline(startedMs)) {
      this.counters.poolFsyncs++;
      return fdatasyncAsync(fd).then(() => {
        const endedMs = this.nowMs();
        this.fsyncPlacement.notePool(endedMs - startedMs, endedMs);
      });
    }
    fs.fdatasyncSync(fd);
    this.counters.inlineFsyncs++;
    const endedMs = this.nowMs();
    if (this.fsyncPlacement.noteInline(endedMs - startedMs, endedMs)) {
      try {
        this.hooks.onSlowInlineFsync?.(endedMs - startedMs, this.options);
      } catch {
        // A report that fails must not fail a flush that is durable.
      }
    }
    return undefined;
  }

  /** Takes the buffer, deciding whether a new segment comes first. No I/O. */
  private planFlush(): FlushPlan {
    const active = this.activeFd === null ? undefined : this.segments.at(-1);
    const newSegment = active === undefined || active.bytes >= this.options.segmentBytesMax
      ? this.nextSegment() : null;
    const chunks = newSegment === null ? this.pending
      : [this.segmentHeaderRecord(newSegment), ...this.pending];
    const plan: FlushPlan = { newSegment, buffer: Buffer.concat(chunks),
      position: newSegment === null ? active!.bytes : 0, indexMax: this.pendingIndexMax,
      compactedIndex: this.log.compactedIndex };
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingIndexMax = 0;
    this.flushed = { nextIndex: this.log.lastIndex() + 1,
      compactedIndex: this.log.compactedIndex, hardState: this.liveHardState };
    return plan;
  }

  /** The segment after the last one; it starts where the records flushed so far leave off. */
  private nextSegment(): Segment {
    const sequence = (this.segments.at(-1)?.sequence ?? 0) + 1;
    const nextIndex = this.flushed.nextIndex;
    return { name: segmentFileName(sequence, nextIndex), sequence, nextIndex, bytes: 0,
      indexMax: nextIndex - 1 };
  }

  private segmentHeaderRecord(segment: Segment): Buffer {
    const { compactedIndex, hardState } = this.flushed;
    assert(segment.nextIndex === this.flushed.nextIndex, "a header describes the flushed state");
    return encodeSegmentHeaderRecord({ version: walFormatVersion, sequence: segment.sequence,
      nextIndex: segment.nextIndex, compactedIndex, hardState });
  }

  /** The flush is durable: record it in the segment index. */
  private commitFlush(plan: FlushPlan, fd: number): void {
    if (plan.newSegment !== null) {
      if (this.activeFd !== null) fs.closeSync(this.activeFd);
      this.activeFd = fd;
      this.segments.push(plan.newSegment);
      this.counters.segmentsCreated++;
    }
    const active = this.segments[this.segments.length - 1]!;
    assert(active.bytes === plan.position, "a flush must land at the end of the segment");
    active.bytes += plan.buffer.length;
    active.indexMax = Math.max(active.indexMax, plan.indexMax);
    this.counters.bytesWritten += plan.buffer.length;
    this.counters.syncCount++;
  }

  /** Removes from the index the oldest segments holding only entries at or below `index`. */
  private takeCompactedSegments(index: number): Segment[] {
    let count = 0;
    // Never the active segment, and only a prefix: replay needs the survivors contiguous.
    while (count < this.segments.length - 1 && this.segments[count]!.indexMax <= index) count++;
    this.counters.segmentsRemoved += count;
    return this.segments.splice(0, count);
  }

  private buffer(records: readonly Buffer[]): void {
    const bytes = records.reduce((sum, record) => sum + record.length, 0);
    if (this.pendingBytes + bytes > this.options.pendingBytesMax) {
      throw new StorageError(`${this.pendingBytes + bytes} bytes buffered would exceed ` +
        `pendingBytesMax ${this.options.pendingBytesMax}: call sync()`);
    }
    for (const record of records) this.pending.push(record);
    this.pendingBytes += bytes;
  }

  private failOnError(work: () => void): void {
    try {
      work();
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Marks the store failed for good; a broken invariant stays a bug and is not wrapped. */
  private fail(error: unknown): Error {
    if (error instanceof InvariantError) return error;
    this.failure ??= new StorageError(`write-ahead log in ${this.dir} failed, restart to ` +
      `recover: ${(error as Error).message}`, { cause: error });
    return this.failure;
  }

  private assertUsable(): void {
    assert(!this.closed, "FileStorage used after close()");
    if (this.failure !== null) throw this.failure;
  }
}
