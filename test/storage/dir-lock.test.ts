/**
 * The data folder lock: one process per folder, a crashed holder's lock taken over, a live
 * holder's refused with a message that names it. Liveness is injected where the real answer
 * (is that pid a market-node?) cannot be staged in a unit test.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  acquireDirLock, DirLockedError, isLiveNodeProcess, lockFileName, readLockPid,
} from "../../src/storage/dir-lock.js";
import { TempDirs } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

describe("data folder lock", () => {
  it("writes this process's pid, and release removes the file", () => {
    const dir = path.join(dirs.make(), "data", "n1");
    const lock = acquireDirLock(dir);
    expect(readLockPid(dir)).to.equal(process.pid);
    lock.release();
    lock.release();
    expect(fs.existsSync(path.join(dir, lockFileName))).to.equal(false);
  });

  it("refuses a folder held by a live node, naming its pid, and leaves the lock alone", () => {
    const dir = dirs.make();
    fs.writeFileSync(path.join(dir, lockFileName), "424242\n");
    expect(() => acquireDirLock(dir, (pid) => pid === 424242))
      .to.throw(DirLockedError, /in use by process 424242/);
    expect(readLockPid(dir)).to.equal(424242);
  });

  it("takes over a lock whose holder is gone (a crash), or is garbage", () => {
    for (const content of ["424242\n", "not a pid"]) {
      const dir = dirs.make();
      fs.writeFileSync(path.join(dir, lockFileName), content);
      const lock = acquireDirLock(dir, () => false);
      expect(readLockPid(dir)).to.equal(process.pid);
      lock.release();
    }
  });

  it("does not release a lock another process has since taken", () => {
    const dir = dirs.make();
    const lock = acquireDirLock(dir);
    fs.writeFileSync(path.join(dir, lockFileName), "424242\n");
    lock.release();
    expect(readLockPid(dir)).to.equal(424242);
  });

  it("tells a live market-node from a dead pid and from another live program", () => {
    // This test process is alive but is not a market-node.
    expect(isLiveNodeProcess(process.pid)).to.equal(!fs.existsSync("/proc/self/cmdline"));
    expect(isLiveNodeProcess(2 ** 22 + 12_345)).to.equal(false);
  });
});
