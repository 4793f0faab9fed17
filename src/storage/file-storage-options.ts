import { StorageError } from "./storage.js";
import { recordHeaderBytes, recordPayloadBytesLimit } from "./wal.js";

/** FileStorage's bounds, and their validation (STYLE.md §4: every value and relationship). */

export interface FileStorageOptions {
  /** A flush that finds the active segment this large starts a new one first. */
  readonly segmentBytesMax: number;
  /**
   * A new segment file is sized to this many bytes when it is created (sparse: no disk is used
   * until written), so that appends inside it change no file size and each fdatasync is
   * cheaper (wal-segment.ts preallocateSync). 0 turns it off. The active segment is cut back
   * to its records before the next one is created.
   */
  readonly segmentPreallocBytes: number;
  /** The largest entry data, in UTF-8 bytes; a larger entry is refused with StorageError. */
  readonly entryBytesMax: number;
  /** Encoded bytes buffered between syncs; appending more throws StorageError. */
  readonly pendingBytesMax: number;
  /**
   * syncAsync() runs its fdatasync inline while the disk syncs within this long; 0 (the
   * default) puts every fdatasync on the thread pool (fsync-placement.ts: why it is off). At
   * most inlineFsyncMsLimit.
   */
  readonly inlineFsyncMsMax: number;
  /** After a slower inline fdatasync, how long the following ones run on the thread pool. */
  readonly poolFsyncHoldMs: number;
}

export const defaultFileStorageOptions: FileStorageOptions = {
  segmentBytesMax: 64 * 1024 * 1024,
  segmentPreallocBytes: 64 * 1024 * 1024,
  entryBytesMax: 16 * 1024 * 1024,
  pendingBytesMax: 64 * 1024 * 1024,
  inlineFsyncMsMax: 0,
  poolFsyncHoldMs: 10_000,
};

/**
 * inlineFsyncMsMax's upper bound: an inline fdatasync stalls the event loop, and issue 10 allows
 * no loop stall over 50 ms.
 */
export const inlineFsyncMsLimit = 50;

/** segmentPreallocBytes's upper bound: a sparse file costs no disk, but open() reads the
 * last segment whole, preallocated zeros included. */
export const segmentPreallocBytesLimit = 256 * 1024 * 1024;

/** The least value of each option: inlineFsyncMsMax and segmentPreallocBytes may be 0 (off). */
const optionLeast: Readonly<Record<keyof FileStorageOptions, number>> = {
  segmentBytesMax: 1, segmentPreallocBytes: 0, entryBytesMax: 1, pendingBytesMax: 1,
  inlineFsyncMsMax: 0,
  poolFsyncHoldMs: 1,
};

/** An entries record's payload beyond one entry's data: the batch and entry headers. */
export const entriesRecordOverheadBytes = 12 + 13;

/** The options with defaults filled in; throws StorageError naming every bad value. */
export function resolveFileStorageOptions(options: Partial<FileStorageOptions>):
  FileStorageOptions {
  const resolved = { ...defaultFileStorageOptions, ...options };
  const { entryBytesMax, pendingBytesMax } = resolved;
  const problems: string[] = [];
  for (const [name, value] of Object.entries(resolved)) {
    const least = optionLeast[name as keyof FileStorageOptions];
    if (!Number.isSafeInteger(value) || value < least) problems.push(`${name} must be >= ${least}`);
  }
  if (resolved.inlineFsyncMsMax > inlineFsyncMsLimit) {
    problems.push(`inlineFsyncMsMax must be at most ${inlineFsyncMsLimit}`);
  }
  if (resolved.segmentPreallocBytes > segmentPreallocBytesLimit) {
    problems.push(`segmentPreallocBytes must be at most ${segmentPreallocBytesLimit}`);
  }
  if (entryBytesMax + entriesRecordOverheadBytes > recordPayloadBytesLimit) {
    problems.push(`entryBytesMax must be at most ${recordPayloadBytesLimit -
      entriesRecordOverheadBytes}`);
  }
  if (pendingBytesMax < entryBytesMax + entriesRecordOverheadBytes + recordHeaderBytes) {
    problems.push("pendingBytesMax must hold at least one entry of entryBytesMax");
  }
  if (problems.length > 0) {
    throw new StorageError(`bad FileStorage options: ${problems.join("; ")}`);
  }
  return resolved;
}
