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
}

export const defaultFileStorageOptions: FileStorageOptions = {
  segmentBytesMax: 64 * 1024 * 1024,
  entryBytesMax: 16 * 1024 * 1024,
  pendingBytesMax: 64 * 1024 * 1024,
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
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`${name} must be >= 1`);
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
