/**
 * One process per data folder. Two market-node processes appending to one write-ahead log
 * would interleave records and break the log's every guarantee, so a node takes the folder's
 * LOCK file before it opens anything, and gives it back when it stops. The file names its
 * holder by pid and by start time (/proc/<pid>/stat, Linux): a lock left behind by a crash
 * (SIGKILL, power loss) names a process that is gone, or a pid since reused by a process with
 * another start time, and is taken over. The same record lets the process-fault script
 * (scripts/fault.ts) find the node to signal without hitting an unrelated process.
 *
 * Races: the lock is written whole to a private file and hard-linked into place, which either
 * creates LOCK with its full content or fails because LOCK exists, so no process ever reads a
 * half-written lock. A stale lock is moved aside under a private name and checked to be the one
 * judged stale before it is removed, so two processes taking over at once cannot remove each
 * other's fresh lock.
 */
import {
  closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { StorageError } from "./storage.js";

export const lockFileName = "LOCK";

/** Who holds a lock: a pid, and the process's start time when the platform tells it. */
export interface LockHolder {
  readonly pid: number;
  /** Clock ticks after boot (field 22 of /proc/<pid>/stat); null where unknown. */
  readonly startTime: string | null;
}

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

/** A process's start time from /proc, or null where there is no /proc or no such process. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name start at field 3; the start time is 22.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function parseLock(text: string): LockHolder | null {
  const [pidText, startTime] = text.trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? "", 10);
  if (!Number.isInteger(pid) || pid <= 0 || String(pid) !== pidText) return null;
  return { pid, startTime: startTime === undefined || startTime === "-" ? null : startTime };
}

/** The holder named in `dir`'s LOCK file, or null if there is none (or it is unreadable). */
export function readLock(dir: string): LockHolder | null {
  try {
    return parseLock(readFileSync(path.join(dir, lockFileName), "utf8"));
  } catch {
    return null;
  }
}

/** The pid in `dir`'s LOCK file, live or not; null if there is none. */
export function readLockPid(dir: string): number | null {
  return readLock(dir)?.pid ?? null;
}

/**
 * Whether the lock's holder still runs: the pid is alive and, where /proc tells, has the start
 * time the lock recorded (a reused pid does not). Without a recorded start time, a live process
 * counts only if its command line names market-node.
 */
export function isHolderLive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's; ESRCH: gone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const startTime = processStartTime(holder.pid);
  if (holder.startTime !== null && startTime !== null) return startTime === holder.startTime;
  try {
    return readFileSync(`/proc/${holder.pid}/cmdline`, "utf8").includes("market-node");
  } catch {
    return true;
  }
}

/** The pid of the live process holding `dir`'s lock, or null when no live process holds it. */
export function liveLockHolder(dir: string): number | null {
  const holder = readLock(dir);
  return holder !== null && isHolderLive(holder) ? holder.pid : null;
}

/** Creates `file` with `content` only if it does not exist; false if it does. */
function createWhole(file: string, content: string): boolean {
  const privateFile = `${file}.${process.pid}.tmp`;
  writeFileSync(privateFile, content);
  try {
    linkSync(privateFile, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw error;
    // A file system without hard links: exclusive creation, written at once.
    return createExclusive(file, content);
  } finally {
    unlinkSync(privateFile);
  }
}

function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes `file` if it still holds `judged` (the content found stale); puts back anything else
 * that took its place meanwhile.
 */
function removeIfUnchanged(file: string, judged: string): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = readFileSync(aside, "utf8");
  if (moved !== judged) {
    // A fresh lock replaced the stale one between our read and the rename: restore it.
    try {
      linkSync(aside, file);
    } catch {
      // Another lock is already in place; ours to lose either way.
    }
  }
  unlinkSync(aside);
}

/**
 * Takes `dir`'s lock for this process, creating the folder if needed. Throws DirLockedError if a
 * live process holds it. `isLive` is for tests.
 */
export function acquireDirLock(dir: string,
  isLive: (holder: LockHolder) => boolean = isHolderLive): DirLock {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, lockFileName);
  const pid = process.pid;
  const content = `${pid} ${processStartTime(pid) ?? "-"}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createWhole(file, content)) {
      let released = false;
      return {
        dir, pid,
        release(): void {
          if (released) return;
          released = true;
          try {
            if (readFileSync(file, "utf8") === content) unlinkSync(file);
          } catch {
            // Already gone.
          }
        },
      };
    }
    let found: string;
    try {
      found = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const holder = parseLock(found);
    if (holder !== null && holder.pid !== pid && isLive(holder)) {
      throw new DirLockedError(dir, holder.pid);
    }
    removeIfUnchanged(file, found);
  }
  throw new StorageError(`could not take the lock ${file}: other processes keep replacing it`);
}
