import * as fs from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { assert, snapshotText, type MemberRecord, type SnapshotMeta } from "../raft/index.js";
import { assertSnapshotNotOlder } from "./memory-storage.js";
import {
  CorruptionError, StorageError, type Snapshot, type SnapshotChoice, type SnapshotStore,
} from "./storage.js";
import {
  ensureDirectory,
  fileCall,
  fsyncDirectory,
  fsyncDirectoryAsync,
  readDirectory,
  writeAllSync,
} from "./wal-segment.js";

/**
 * FileSnapshotStore: one file per snapshot, `snapshot-<index>-<term>.snap` (zero-padded), in a
 * directory of its own.
 *
 * File format: [magic "RMSNAP01"][crc32 u32 LE][meta length u32 LE][data length u32 LE]
 * [meta JSON][data UTF-8]; the CRC covers every byte after itself, so the lengths, the meta and
 * the data are all verified before anything is believed.
 *
 * save() is atomic: write `<name>.tmp`, fsync it, rename it over the final name, fsync the
 * directory. A crash before the rename leaves a .tmp that is ignored (and deleted by the next
 * open or save), so the previous snapshot stays the latest; after the directory fsync the new
 * one is. Then snapshots beyond the newest `snapshotsKept` are deleted.
 *
 * When the newest snapshot fails verification, latest() throws CorruptionError naming it. It
 * does not quietly fall back to an older snapshot: the log may already be compacted past that
 * one, and a state machine restored from it would silently miss entries. latestConsistentWith()
 * falls back only when that cannot happen — the log still holds every entry after the older
 * snapshot — and says that it did.
 */

export interface FileSnapshotStoreOptions {
  /** Verified snapshots kept on disk: the newest, and older ones to fall back on. */
  readonly snapshotsKept: number;
  /** The largest snapshot data, in UTF-8 bytes. */
  readonly snapshotBytesMax: number;
}

export const defaultFileSnapshotStoreOptions: FileSnapshotStoreOptions = {
  snapshotsKept: 2,
  snapshotBytesMax: 512 * 1024 * 1024,
};

const magic = Buffer.from("RMSNAP01", "ascii");
const headerBytes = magic.length + 12;
const metaBytesMax = 1024 * 1024;
const snapshotNamePattern = /^snapshot-(\d{16})-(\d{16})\.snap$/;

interface SnapshotFile {
  readonly name: string;
  readonly index: number;
  readonly term: number;
}

export function snapshotFileName(index: number, term: number): string {
  return `snapshot-${String(index).padStart(16, "0")}-${String(term).padStart(16, "0")}.snap`;
}

/** The bytes of a snapshot file, in one Buffer (save(), and the reference for saveAsync). */
export function encodeSnapshotFile(snapshot: Snapshot): Buffer {
  const data = snapshotText(snapshot.data);
  const dataBytes = Buffer.byteLength(data);
  const head = encodeSnapshotHead(snapshot.meta, dataBytes);
  const file = Buffer.allocUnsafe(head.length + dataBytes);
  head.copy(file, 0);
  file.write(data, head.length, "utf8");
  file.writeUInt32LE(crc32(file.subarray(magic.length + 4)), magic.length);
  return file;
}

/** [magic][crc32, left 0][meta length][data length][meta JSON]: the file up to its data. */
function encodeSnapshotHead(snapshotMeta: SnapshotMeta, dataBytes: number): Buffer {
  const { index, term, voters, learners, votersOutgoing, members } = snapshotMeta;
  const meta = Buffer.from(JSON.stringify({ index, term, voters,
    ...(learners === undefined ? {} : { learners }),
    ...(votersOutgoing === undefined ? {} : { votersOutgoing }),
    ...(members === undefined ? {} : { members }) }), "utf8");
  const head = Buffer.alloc(headerBytes + meta.length);
  magic.copy(head, 0);
  head.writeUInt32LE(meta.length, magic.length + 4);
  head.writeUInt32LE(dataBytes, magic.length + 8);
  meta.copy(head, headerBytes);
  return head;
}

/** Code units of snapshot data that saveAsync encodes between two turns of the loop. */
export const snapshotSliceUnitsDefault = 1024 * 1024;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The UTF-8 bytes of `data`, encoded `sliceUnits` UTF-16 code units at a time with `pause()`
 * in between: tens of megabytes encoded at once hold the loop for tens of milliseconds. A
 * slice never ends between the two halves of a surrogate pair, which would encode each half as
 * U+FFFD; so the chunks, concatenated, are exactly Buffer.from(data, "utf8").
 */
export async function encodeSnapshotDataAsync(data: string, pause: () => Promise<void>,
  sliceUnits = snapshotSliceUnitsDefault): Promise<Buffer[]> {
  if (!(Number.isSafeInteger(sliceUnits) && sliceUnits >= 2)) {
    throw new StorageError("sliceUnits must be an integer >= 2");
  }
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length;) {
    let end = Math.min(start + sliceUnits, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    assert(end > start, "a slice of snapshot data is never empty");
    if (start > 0) await pause();
    chunks.push(Buffer.from(data.slice(start, end), "utf8"));
    start = end;
  }
  return chunks;
}

/** Verifies and decodes a snapshot file; throws CorruptionError naming `file`. */
export function decodeSnapshotFile(bytes: Buffer, file: string): Snapshot {
  const corrupt = (offset: number, reason: string) => new CorruptionError(file, offset, reason);
  if (bytes.length < headerBytes || !bytes.subarray(0, magic.length).equals(magic)) {
    throw corrupt(0, "not a snapshot file (bad magic or too short)");
  }
  const crcStored = bytes.readUInt32LE(magic.length);
  if (crc32(bytes.subarray(magic.length + 4)) !== crcStored) {
    throw corrupt(magic.length, "snapshot checksum mismatch");
  }
  const metaBytes = bytes.readUInt32LE(magic.length + 4);
  const dataBytes = bytes.readUInt32LE(magic.length + 8);
  if (metaBytes > metaBytesMax || headerBytes + metaBytes + dataBytes !== bytes.length) {
    throw corrupt(magic.length + 4, "snapshot lengths disagree with the file size");
  }
  const meta = parseMeta(bytes.toString("utf8", headerBytes, headerBytes + metaBytes));
  if (meta === null) throw corrupt(headerBytes, "undecodable snapshot meta");
  return { meta, data: bytes.toString("utf8", headerBytes + metaBytes) };
}

function isMemberRecord(value: unknown): value is MemberRecord {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.id === "string" && typeof record.incarnation === "string" &&
    Number.isSafeInteger(record.index);
}

function parseMeta(text: string): SnapshotMeta | null {
  try {
    const value = JSON.parse(text) as Partial<SnapshotMeta>;
    const { index, term, voters, learners, votersOutgoing, members } = value;
    const ids = (list: unknown): boolean => Array.isArray(list) &&
      list.every((id) => typeof id === "string");
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term) || !ids(voters)) return null;
    if (learners !== undefined && !ids(learners)) return null;
    if (votersOutgoing !== undefined && !ids(votersOutgoing)) return null;
    if (members !== undefined && (!Array.isArray(members) || !members.every(isMemberRecord))) {
      return null;
    }
    return { index: index!, term: term!, voters: voters!,
      ...(learners === undefined ? {} : { learners }),
      ...(votersOutgoing === undefined ? {} : { votersOutgoing }),
      ...(members === undefined ? {} : { members }) };
  } catch {
    return null;
  }
}

export class FileSnapshotStore implements SnapshotStore {
  private readonly options: FileSnapshotStoreOptions;

  /** Opens (creating if needed) the store in `dir`, deleting leftover .tmp files. */
  constructor(readonly dir: string, options: Partial<FileSnapshotStoreOptions> = {}) {
    this.options = { ...defaultFileSnapshotStoreOptions, ...options };
    const { snapshotsKept, snapshotBytesMax } = this.options;
    if (!(Number.isSafeInteger(snapshotsKept) && snapshotsKept >= 1)) {
      throw new StorageError("snapshotsKept must be an integer >= 1");
    }
    if (!(Number.isSafeInteger(snapshotBytesMax) && snapshotBytesMax <= 0xffff_ffff)) {
      throw new StorageError("snapshotBytesMax must be an integer below 4 GiB");
    }
    ensureDirectory(dir);
    this.removeTemporaryFiles();
  }

  latest(): Snapshot | null {
    const newest = this.files()[0];
    return newest === undefined ? null : this.load(newest);
  }

  /**
   * The newest snapshot that the log, starting at `logFirstIndex`, can continue from. When the
   * newest one is corrupt, an older verified one is used only if the log still holds every
   * entry after it (logFirstIndex <= its index + 1); otherwise this throws the CorruptionError.
   */
  latestConsistentWith(logFirstIndex: number): SnapshotChoice {
    let skipped: CorruptionError | null = null;
    const corrupt: SnapshotFile[] = [];
    for (const file of this.files()) {
      if (skipped !== null && logFirstIndex > file.index + 1) {
        throw refuseFallback(skipped, logFirstIndex, file.index);
      }
      try {
        const snapshot = this.load(file);
        if (skipped === null) requireNoGap(snapshot.meta.index, logFirstIndex);
        this.setAside(corrupt);
        return { snapshot, skippedCorrupt: skipped };
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        skipped ??= error;
        corrupt.push(file);
      }
    }
    // No snapshot at all is the snapshot at index 0: fine while the log starts at 1.
    if (skipped !== null && logFirstIndex > 1) throw refuseFallback(skipped, logFirstIndex, 0);
    requireNoGap(0, logFirstIndex);
    this.setAside(corrupt);
    return { snapshot: null, skippedCorrupt: skipped };
  }

  /**
   * Renames snapshots that failed verification to `<name>.corrupt`, kept for inspection but no
   * longer a snapshot: later saves must compare against good ones only (a corrupt newest one
   * would make every lower save look "older" and fail), and the kept count must not spend
   * itself on them.
   */
  private setAside(files: readonly SnapshotFile[]): void {
    if (files.length === 0) return;
    fileCall(`set aside a corrupt snapshot in ${this.dir}`, () => {
      for (const file of files) {
        const from = path.join(this.dir, file.name);
        fs.renameSync(from, `${from}.corrupt`);
      }
      fsyncDirectory(this.dir);
    });
  }

  save(snapshot: Snapshot): void {
    const { final, temporary } = this.prepareSave(snapshot);
    this.checkDataBytes(snapshot, Buffer.byteLength(snapshotText(snapshot.data)));
    const bytes = encodeSnapshotFile(snapshot);
    fileCall(`save ${final}`, () => {
      const fd = fs.openSync(temporary, "w");
      try {
        writeAllSync(fd, bytes, 0);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temporary, final);
      fsyncDirectory(this.dir);
    });
    this.removeOlderThanKept();
  }

  /**
   * save(), with nothing long on the loop: the data is encoded a slice at a time
   * (encodeSnapshotDataAsync), and the CRC is computed and the file written a chunk at a time,
   * each write awaited. The temporary file holds the head with its CRC only once every chunk
   * is written; it is fsynced, renamed and the directory fsynced exactly as in save(), and its
   * bytes are encodeSnapshotFile's.
   */
  async saveAsync(snapshot: Snapshot, pause: () => Promise<void> = yieldToLoop,
    sliceUnits = snapshotSliceUnitsDefault): Promise<void> {
    const { final, temporary } = this.prepareSave(snapshot);
    const chunks = await encodeSnapshotDataAsync(snapshotText(snapshot.data), pause, sliceUnits);
    const dataBytes = chunks.reduce((total, chunk) => total + chunk.length, 0);
    this.checkDataBytes(snapshot, dataBytes);
    const head = encodeSnapshotHead(snapshot.meta, dataBytes);
    try {
      const handle = await fs.promises.open(temporary, "w");
      try {
        let crc = crc32(head.subarray(magic.length + 4));
        let position = head.length;
        for (const chunk of chunks) {
          crc = crc32(chunk, crc);
          await writeAllAt(handle, chunk, position);
          position += chunk.length;
        }
        head.writeUInt32LE(crc, magic.length);
        await writeAllAt(handle, head, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temporary, final);
      await fsyncDirectoryAsync(this.dir);
    } catch (error) {
      throw new StorageError(`save ${final}: ${(error as Error).message}`, { cause: error });
    }
    this.removeOlderThanKept();
  }

  /**
   * The checks and names of a save; removes leftover temporary files. The data's UTF-8 size is
   * checked by the caller (checkDataBytes): measuring it here would hold the loop in saveAsync.
   * UTF-8 never takes fewer bytes than UTF-16 code units, so a string longer than the bound is
   * refused here already.
   */
  private prepareSave(snapshot: Snapshot): { final: string; temporary: string } {
    this.removeTemporaryFiles();
    assertSnapshotNotOlder(snapshot, this.files()[0]?.index ?? null);
    if (snapshot.data.length > this.options.snapshotBytesMax) {
      this.checkDataBytes(snapshot, snapshot.data.length);
    }
    const final = path.join(this.dir, snapshotFileName(snapshot.meta.index, snapshot.meta.term));
    return { final, temporary: `${final}.tmp` };
  }

  private checkDataBytes(snapshot: Snapshot, dataBytes: number): void {
    if (dataBytes <= this.options.snapshotBytesMax) return;
    throw new StorageError(`snapshot at ${snapshot.meta.index} holds ${dataBytes} bytes, ` +
      `more than snapshotBytesMax ${this.options.snapshotBytesMax}`);
  }

  private load(file: SnapshotFile): Snapshot {
    const full = path.join(this.dir, file.name);
    const snapshot = decodeSnapshotFile(fileCall(`read ${full}`, () => fs.readFileSync(full)),
      full);
    if (snapshot.meta.index !== file.index || snapshot.meta.term !== file.term) {
      throw new CorruptionError(full, headerBytes, `meta says ${snapshot.meta.index}/` +
        `${snapshot.meta.term}, the file name ${file.index}/${file.term}`);
    }
    return snapshot;
  }

  /** Snapshot files, newest first. */
  private files(): SnapshotFile[] {
    const files: SnapshotFile[] = [];
    for (const name of readDirectory(this.dir)) {
      const match = snapshotNamePattern.exec(name);
      if (match !== null) files.push({ name, index: Number(match[1]), term: Number(match[2]) });
    }
    return files.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  private removeOlderThanKept(): void {
    const older = this.files().slice(this.options.snapshotsKept);
    if (older.length === 0) return;
    fileCall(`remove old snapshots in ${this.dir}`, () => {
      for (const file of older) fs.unlinkSync(path.join(this.dir, file.name));
      fsyncDirectory(this.dir);
    });
  }

  private removeTemporaryFiles(): void {
    const leftovers = readDirectory(this.dir).filter((name) => name.endsWith(".snap.tmp"));
    if (leftovers.length === 0) return;
    fileCall(`remove leftover snapshot files in ${this.dir}`, () => {
      for (const name of leftovers) fs.unlinkSync(path.join(this.dir, name));
      fsyncDirectory(this.dir);
    });
  }
}

/** Writes all of `buffer` at `position`: a write may take fewer bytes than it was given. */
async function writeAllAt(handle: fs.promises.FileHandle, buffer: Buffer, position: number):
  Promise<void> {
  for (let written = 0; written < buffer.length;) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written,
      position + written);
    assert(bytesWritten > 0, "a file write makes progress");
    written += bytesWritten;
  }
}

function refuseFallback(corrupt: CorruptionError, logFirstIndex: number, olderIndex: number):
  CorruptionError {
  const older = olderIndex === 0 ? "an empty state" : `the older snapshot at ${olderIndex}`;
  return new CorruptionError(corrupt.file, corrupt.offset, `${corrupt.reason}; the log starts ` +
    `at ${logFirstIndex}, so ${older} cannot stand in for it`);
}

/**
 * A log that starts after the entry following the snapshot misses entries: whatever removed
 * them (a snapshot deleted or set aside by hand), restoring would silently lose writes.
 */
function requireNoGap(snapshotIndex: number, logFirstIndex: number): void {
  if (logFirstIndex <= snapshotIndex + 1) return;
  throw new StorageError(`the log starts at ${logFirstIndex} but the newest snapshot ends at ` +
    `${snapshotIndex}: entries ${snapshotIndex + 1}..${logFirstIndex - 1} are missing`);
}
