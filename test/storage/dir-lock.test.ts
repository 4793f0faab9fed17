/**
 * The data folder lock: one process per folder, a crashed holder's lock taken over, a live
 * holder's refused with a message that names it, and a reused pid told from the holder by its
 * start time. Liveness is injected where the real answer cannot be staged in a unit test; the
 * real one is checked against this test process itself.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  acquireDirLock, DirLockedError, isHolderLive, liveLockHolder, lockFileName, processStartTime,
  readLock, readLockPid,
} from "../../src/storage/dir-lock.js";
import { TempDirs } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());
const hasProc = fs.existsSync("/proc/self/stat");

describe("data folder lock", () => {
  it("writes this process's pid and start time, and release removes the file", () => {
    const dir = path.join(dirs.make(), "data", "n1");
    const lock = acquireDirLock(dir);
    expect(readLock(dir)).to.deep.equal({ pid: process.pid,
      startTime: processStartTime(process.pid) });
    expect(liveLockHolder(dir)).to.equal(process.pid);
    expect(fs.readdirSync(dir)).to.deep.equal([lockFileName]);
    lock.release();
    lock.release();
    expect(fs.existsSync(path.join(dir, lockFileName))).to.equal(false);
  });

  it("refuses a folder held by a live node, naming its pid, and leaves the lock alone", () => {
    const dir = dirs.make();
    fs.writeFileSync(path.join(dir, lockFileName), "424242 99\n");
    expect(() => acquireDirLock(dir, (holder) => holder.pid === 424242))
      .to.throw(DirLockedError, /in use by process 424242/);
    expect(readLockPid(dir)).to.equal(424242);
    expect(fs.readdirSync(dir)).to.deep.equal([lockFileName]);
  });

  it("takes over a lock whose holder is gone (a crash), or that is garbage or empty", () => {
    for (const content of ["424242 99\n", "not a pid", ""]) {
      const dir = dirs.make();
      fs.writeFileSync(path.join(dir, lockFileName), content);
      const lock = acquireDirLock(dir, () => false);
      expect(readLockPid(dir), JSON.stringify(content)).to.equal(process.pid);
      lock.release();
    }
  });

  it("does not release a lock another process has since taken", () => {
    const dir = dirs.make();
    const lock = acquireDirLock(dir);
    fs.writeFileSync(path.join(dir, lockFileName), "424242 99\n");
    lock.release();
    expect(readLockPid(dir)).to.equal(424242);
  });

  it("tells the holder from a reused pid by its start time, and a dead pid from both", () => {
    const startTime = processStartTime(process.pid);
    expect(startTime !== null).to.equal(hasProc);
    expect(isHolderLive({ pid: process.pid, startTime })).to.equal(true);
    if (hasProc) {
      // This pid, but a process that started at another time: the pid was reused.
      expect(isHolderLive({ pid: process.pid, startTime: `${startTime}0` })).to.equal(false);
      // No start time recorded: only a market-node counts, and this test process is not one.
      expect(isHolderLive({ pid: process.pid, startTime: null })).to.equal(false);
    }
    expect(isHolderLive({ pid: 2 ** 22 + 12_345, startTime: null })).to.equal(false);
  });
});
