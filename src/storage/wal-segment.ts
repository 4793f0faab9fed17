import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { CorruptionError, StorageError } from "./storage.js";

/**
 * Segment files and the file-system calls around them. A segment is named
 * `wal-<sequence, 10 digits>-<next index at creation, 16 digits>.log`, so that `ls` lists them
 * in order and shows where each starts; the sequence orders them, and a jump in it means a
 * segment is missing. Every call that changes which files exist is followed by an fsync of the
 * directory: creating or deleting a file is durable only once its directory entry is.
 */

export interface SegmentName {
  readonly name: string;
  readonly sequence: number;
  readonly nextIndex: number;
}

const segmentNamePattern = /^wal-(\d{10})-(\d{16})\.log$/;

export function segmentFileName(sequence: number, nextIndex: number): string {
  return `wal-${String(sequence).padStart(10, "0")}-${String(nextIndex).padStart(16, "0")}.log`;
}

export function parseSegmentFileName(name: string): SegmentName | null {
  const match = segmentNamePattern.exec(name);
  if (match === null) return null;
  return { name, sequence: Number(match[1]), nextIndex: Number(match[2]) };
}

/** The segments in `dir`, in sequence order. Other files are not the WAL's and are ignored. */
export function listSegments(dir: string): SegmentName[] {
  const segments = readDirectory(dir)
    .map(parseSegmentFileName)
    .filter((segment): segment is SegmentName => segment !== null)
    .sort((a, b) => a.sequence - b.sequence);
  for (let k = 1; k < segments.length; k++) {
    if (segments[k]!.sequence === segments[k - 1]!.sequence) {
      throw new CorruptionError(path.join(dir, segments[k]!.name), 0,
        `two segments share sequence ${segments[k]!.sequence}`);
    }
  }
  return segments;
}

export function readDirectory(dir: string): string[] {
  return fileCall(`list ${dir}`, () => fs.readdirSync(dir));
}

/** Creates `dir` if it is missing, and makes its creation durable. */
export function ensureDirectory(dir: string): void {
  fileCall(`create ${dir}`, () => {
    if (fs.existsSync(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    fsyncDirectory(path.dirname(path.resolve(dir)));
  });
}

export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function fsyncDirectoryAsync(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Cuts `file` to `bytes` and makes that durable. */
export function truncateFile(file: string, bytes: number): void {
  fileCall(`truncate ${file}`, () => {
    const fd = fs.openSync(file, "r+");
    try {
      fs.ftruncateSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/**
 * Cuts the segment open on `fd` to its records (`bytes`), dropping the space preallocated past
 * them, and makes that durable. FileStorage calls it before it creates the next segment, so
 * that only the last segment ever ends in preallocated zeros (wal-replay.ts relies on it).
 */
export function trimSegmentSync(fd: number, bytes: number): void {
  if (fs.fstatSync(fd).size === bytes) return;
  fs.ftruncateSync(fd, bytes);
  fs.fdatasyncSync(fd);
}

export async function trimSegmentAsync(fd: number, bytes: number): Promise<void> {
  if ((await fstatCallback(fd)).size === bytes) return;
  await ftruncateCallback(fd, bytes);
  await fdatasyncAsync(fd);
}

/**
 * Sizes a new segment file to `bytes` with ftruncate: sparse, so no disk is used until written,
 * but appends inside it change no file size, and fdatasync then has no size to commit to the
 * file system's journal (about 25% cheaper per flush here, on ext4). Nothing to make durable:
 * a crash that loses the size loses only zeros. A no-op for 0 or a file already that large.
 */
export function preallocateSync(fd: number, bytes: number): void {
  if (bytes > 0 && fs.fstatSync(fd).size < bytes) fs.ftruncateSync(fd, bytes);
}

export async function preallocateAsync(fd: number, bytes: number): Promise<void> {
  if (bytes > 0 && (await fstatCallback(fd)).size < bytes) await ftruncateCallback(fd, bytes);
}

/** Writes all of `buffer` at `position`; a short write is retried until done. */
export function writeAllSync(fd: number, buffer: Buffer, position: number): void {
  let written = 0;
  while (written < buffer.length) {
    written += fs.writeSync(fd, buffer, written, buffer.length - written, position + written);
  }
}

const writeCallback = promisify(fs.write);
const openCallback = promisify(fs.open);
const fstatCallback = promisify(fs.fstat);
const ftruncateCallback = promisify(fs.ftruncate);

export async function writeAllAsync(fd: number, buffer: Buffer, position: number):
  Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const result = await writeCallback(fd, buffer, written, buffer.length - written,
      position + written);
    written += result.bytesWritten;
  }
}

/**
 * fs.promises works on FileHandles, which close their descriptor when garbage collected; the
 * WAL keeps one numeric descriptor for both its sync and async paths, so these use the
 * callback API, which runs on the same libuv thread pool.
 */
export const openAsync = (file: string, flags: string): Promise<number> =>
  openCallback(file, flags);
/** fs.fdatasync looked up at each call, so that a test can count the calls (withFsCalls). */
export const fdatasyncAsync = (fd: number): Promise<void> => new Promise((resolve, reject) => {
  fs.fdatasync(fd, (error) => (error === null ? resolve() : reject(error)));
});

/** Runs a file-system call, turning its failure into a StorageError that says what failed. */
export function fileCall<T>(what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
  }
}
