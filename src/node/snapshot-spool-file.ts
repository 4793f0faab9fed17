/**
 * The file side of snapshot spools (snapshot-spool.ts): a snapshot's text spooled to a file in
 * the node's data folder and read back by offset, so that a state of hundreds of megabytes
 * never sits in the heap nor in one string. File wiring only: the simulator's nodes, which have
 * no data folder, spool in memory (MemorySnapshotSpool).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SnapshotData } from "../raft/index.js";
import type { SnapshotSpool } from "./snapshot-spool.js";

/** A follower spools the snapshot it receives here (in dataDir), and installs from here. */
export const receivingFile = "snapshot-receiving";
export const installingFile = "snapshot-installing";

/** Closes the descriptor of a spool file nothing refers to any more. */
const descriptors = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed.
  }
});

/**
 * An open spool file, shared by its spool and the data read from it: the descriptor is closed
 * when neither is referred to any more (the core dropped the snapshot), or by close().
 */
export class SpoolFile {
  private closed = false;
  /** Settles when every write issued so far has (writes go to the thread pool). */
  private writes: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  /** `file`: the path, while the file has one; null once unlinked. */
  constructor(readonly fd: number, public file: string | null) {
    descriptors.register(this, fd, this);
  }

  /**
   * Writes `bytes` at `position` on the thread pool: a writeSync of a large file can block
   * for tens of milliseconds once the kernel throttles dirty pages. See drained().
   */
  writeAt(bytes: Buffer, position: number): void {
    const written = new Promise<void>((resolve) => {
      fs.write(this.fd, bytes, 0, bytes.length, position, (error, count) => {
        if (error !== null) this.failure ??= error;
        else if (count !== bytes.length) this.failure ??= new Error("short write to a spool file");
        resolve();
      });
    });
    this.writes = this.writes.then(() => written);
  }

  /** Resolves once every write issued so far is done; rejects if one failed. */
  async drained(): Promise<void> {
    await this.writes;
    if (this.failure !== null) throw this.failure;
  }

  /** Makes the file's bytes durable, on the thread pool (a long fsync off the loop). */
  async sync(): Promise<void> {
    await this.drained();
    await new Promise<void>((resolve, reject) => {
      fs.fdatasync(this.fd, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  /** Renames the file (it keeps its descriptor). */
  moveTo(target: string): void {
    if (this.file === null) throw new Error("an unlinked spool file cannot move");
    fs.renameSync(this.file, target);
    this.file = target;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    descriptors.unregister(this);
    fs.closeSync(this.fd);
  }
}

/** Snapshot data read from a spool file by offset (ASCII text: one byte a unit). */
export class FileSnapshotData implements SnapshotData {
  constructor(readonly spoolFile: SpoolFile, readonly length: number) {}

  slice(start: number, end: number): string {
    if (!(start >= 0 && start <= end && end <= this.length)) {
      throw new RangeError(`snapshot slice [${start}, ${end}) of ${this.length}`);
    }
    const buffer = Buffer.allocUnsafe(end - start);
    let done = 0;
    while (done < buffer.length) {
      const read = fs.readSync(this.spoolFile.fd, buffer, done, buffer.length - done, start + done);
      if (read === 0) throw new Error(`snapshot file ends at ${start + done}, not ${end}`);
      done += read;
    }
    return buffer.toString("latin1");
  }
}

export class FileSnapshotSpool implements SnapshotSpool {
  length = 0;
  private readonly spoolFile: SpoolFile;

  /**
   * A spool at `file`, emptied first. With `keep` false the file is unlinked at once: it lives
   * as long as its descriptor, and a crash leaves nothing behind.
   */
  constructor(file: string, keep: boolean) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, "w+");
    if (!keep) fs.unlinkSync(file);
    this.spoolFile = new SpoolFile(fd, keep ? file : null);
  }

  write(chunk: string): void {
    this.spoolFile.writeAt(Buffer.from(chunk, "latin1"), this.length);
    this.length += chunk.length;
  }

  /** Resolves once what was written can be read back (data()). */
  drained(): Promise<void> {
    return this.spoolFile.drained();
  }

  /** The data written: read it only once drained() resolved. */
  data(): SnapshotData {
    return new FileSnapshotData(this.spoolFile, this.length);
  }
}
