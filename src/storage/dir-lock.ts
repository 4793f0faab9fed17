/**
 * One process per data folder. Two market-node processes appending to one write-ahead log
 * would interleave records and break the log's every guarantee, so a node takes the folder's
 * LOCK file (its pid, created exclusively) before it opens anything, and gives it back when it
 * stops. A lock left behind by a crash (SIGKILL, power loss) names a process that is gone, or
 * one that is not a market-node (its pid reused); either is taken over. The pid in the file also
 * lets the process-fault script (scripts/fault.ts) find the node to signal.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";
import { StorageError } from "./storage.js";

export const lockFileName = "LOCK";

/** The data folder is held by another live process. */
export class DirLockedError extends StorageError {
  override readonly name = "DirLockedError";
  constructor(readonly dir: string, readonly pid: number) {
    super(`the data folder ${dir} is in use by process ${pid} (see ${path.join(dir,
      lockFileName)}); stop that node first, or delete the file if that process is not a ` +
      "market-node");
  }
}

export interface DirLock {
  readonly dir: string;
  readonly pid: number;
  /** Removes the LOCK file if it is still ours. Idempotent. */
  release(): void;
}

/** The pid written in `dir`'s LOCK file, or null if there is none (or it is unreadable). */
export function readLockPid(dir: string): number | null {
  let text: string;
  try {
    text = readFileSync(path.join(dir, lockFileName), "utf8");
  } catch {
    return null;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * Whether `pid` is a live market-node process. Where /proc exists (Linux) its command line must
 * name market-node, which tells a reused pid from the node; elsewhere any live process counts.
 */
export function isLiveNodeProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's; ESRCH: gone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("market-node");
  } catch {
    return true;
  }
}

/**
 * Takes `dir`'s lock for this process, creating the folder if needed. Throws DirLockedError if a
 * live market-node holds it. `isLive` is for tests.
 */
export function acquireDirLock(dir: string,
  isLive: (pid: number) => boolean = isLiveNodeProcess): DirLock {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, lockFileName);
  const pid = process.pid;
  // Two tries: the second follows the removal of a stale lock. Exclusive creation makes two
  // processes racing for one folder safe: exactly one creates the file.
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readLockPid(dir);
      if (holder !== null && holder !== pid && isLive(holder)) {
        throw new DirLockedError(dir, holder);
      }
      unlinkSync(file);
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      dir, pid,
      release(): void {
        if (released) return;
        released = true;
        if (readLockPid(dir) === pid) unlinkSync(file);
      },
    };
  }
  throw new StorageError(`could not take the lock ${file}: another process keeps replacing it`);
}
