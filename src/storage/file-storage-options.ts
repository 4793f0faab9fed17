import { StorageError } from "./storage.js";
import { recordHeaderBytes, recordPayloadBytesLimit } from "./wal.js";

/** FileStorage's bounds, and their validation (STYLE.md §4: every value and relationship). */

export interface FileStorageOptions {
  /** A flush that finds the active segment this large starts a new one first. */
  readonly segmentBytesMax: number;
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

/** The least value of each option: inlineFsyncMsMax alone may be 0 (never inline). */
const optionLeast: Readonly<Record<keyof FileStorageOptions, number>> = {
  segmentBytesMax: 1, entryBytesMax: 1, pendingBytesMax: 1, inlineFsyncMsMax: 0,
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
