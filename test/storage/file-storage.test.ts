/**
 * FileStorage and FileSnapshotStore: the storage contract suites (with default segments and
 * with tiny segments, so that rotation and segment deletion run under the same tests), then
 * what only a file store has: group commit (one write and one fdatasync per sync, however many
 * entries, counted on the real node:fs calls), the bounds, the recovery summary, and the
 * refusal to go on after a failed fsync. Method: real files in fresh temporary directories,
 * removed after each suite.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import {
  FileStorage,
  type FileStorageHooks,
  type FileStorageOptions,
} from "../../src/storage/file-storage.js";
import { FileSnapshotStore } from "../../src/storage/snapshot-store.js";
import { StorageError, type DurableLog } from "../../src/storage/storage.js";
import {
  contractEntryBytesMax,
  makeEntries,
  runDurableLogContract,
  runSnapshotStoreContract,
} from "./contract.js";
import { TempDirs, walFiles, withFsCalls } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

function fileStorageContract(name: string, segmentBytesMax?: number,
  hooks?: FileStorageHooks, options: Partial<FileStorageOptions> = {}): void {
  const dirOf = new Map<DurableLog, string>();
  const open = (dir: string): FileStorage => {
    const log = FileStorage.open(dir, { entryBytesMax: contractEntryBytesMax,
      ...(segmentBytesMax === undefined ? {} : { segmentBytesMax }), ...options }, hooks);
    dirOf.set(log, dir);
    return log;
  };
  runDurableLogContract(name, () => open(dirs.make()), (log) => {
    log.close();
    return open(dirOf.get(log)!);
  });
}

fileStorageContract("FileStorage");
fileStorageContract("FileStorage, 128-byte segments", 128);
fileStorageContract("FileStorage, fdatasync inline (a clock given)", undefined,
  { nowMs: () => 0 }, { inlineFsyncMsMax: 5 });

runSnapshotStoreContract("FileSnapshotStore", () => new FileSnapshotStore(dirs.make()),
  (store) => new FileSnapshotStore((store as FileSnapshotStore).dir));

describe("FileStorage", () => {
  let dir: string;
  let log: FileStorage;
  beforeEach(() => {
    dir = dirs.make();
    log = FileStorage.open(dir);
  });
  afterEach(() => {
    try {
      log.close();
    } catch {
      // Closed by the test.
    }
  });

  it("group commit: one write and one fdatasync per sync, however many entries", () => {
    log.append(makeEntries(1, 1, 1));
    log.sync(); // Creates the first segment.
    for (const batchSize of [1, 16, 64]) {
      const indexFirst = log.lastIndex() + 1;
      for (let k = 0; k < batchSize; k++) {
        log.append(makeEntries(indexFirst + k, indexFirst + k, 1));
      }
      log.setHardState({ term: 1, vote: "n1", commit: indexFirst });
      const [writes, fdatasyncs] = withFsCalls("writeSync", (writeCalls) =>
        withFsCalls("fdatasyncSync", (syncCalls) => {
          log.sync();
          return [writeCalls.count, syncCalls.count];
        }));
      expect([writes, fdatasyncs], `batch of ${batchSize}`).to.deep.equal([1, 1]);
    }
    withFsCalls("fdatasyncSync", (calls) => {
      log.sync();
      expect(calls.count, "nothing buffered, nothing to flush").to.equal(0);
    });
  });

  it("refuses to buffer more than pendingBytesMax until sync()", () => {
    log.close();
    log = FileStorage.open(dir, { entryBytesMax: 1000, pendingBytesMax: 2000 });
    log.append(makeEntries(1, 1, 1, 1000));
    expect(() => log.append(makeEntries(2, 2, 1, 1000))).to.throw(StorageError, /pendingBytesMax/);
    log.sync();
    log.append(makeEntries(2, 2, 1, 1000));
    expect(log.lastIndex()).to.equal(2);
  });

  it("measures entry size in UTF-8 bytes", () => {
    log.close();
    log = FileStorage.open(dir, { entryBytesMax: 10 });
    const wide = { index: 1, term: 1, kind: "normal" as const, data: "ééééé" }; // 10 bytes
    log.append([wide]);
    expect(() => log.append([{ ...wide, index: 2, data: "éééééé" }])).to.throw(StorageError);
  });

  it("rejects bad options with a StorageError that names them", () => {
    expect(() => FileStorage.open(dirs.make(), { segmentBytesMax: 0 }))
      .to.throw(StorageError, /segmentBytesMax/);
    expect(() => FileStorage.open(dirs.make(), { entryBytesMax: 100, pendingBytesMax: 50 }))
      .to.throw(StorageError, /pendingBytesMax/);
    expect(() => FileStorage.open(dirs.make(), { inlineFsyncMsMax: -1 }))
      .to.throw(StorageError, /inlineFsyncMsMax must be >= 0/);
    expect(() => FileStorage.open(dirs.make(), { poolFsyncHoldMs: 0 }))
      .to.throw(StorageError, /poolFsyncHoldMs must be >= 1/);
    FileStorage.open(dirs.make(), { inlineFsyncMsMax: 0 }).close();
  });

  it("reports what it recovered", () => {
    log.append(makeEntries(1, 4, 2));
    log.setHardState({ term: 2, vote: "n1", commit: 4 });
    log.sync();
    log.close();
    log = FileStorage.open(dir);
    expect(log.recovery).to.deep.include({ segmentCount: 1, recordCount: 3, firstIndex: 1,
      lastIndex: 4, tornTail: null, emptySegmentRemoved: null });
    expect(log.recovery.hardState).to.deep.equal({ term: 2, vote: "n1", commit: 4 });
  });

  it("serializes concurrent syncAsync() calls into ordered flushes", async () => {
    const syncs: Promise<void>[] = [];
    for (let k = 1; k <= 20; k++) {
      log.append(makeEntries(k, k, 1));
      syncs.push(log.syncAsync());
    }
    await Promise.all(syncs);
    log.close();
    log = FileStorage.open(dir);
    expect(log.entries(1, 21)).to.deep.equal(makeEntries(1, 20, 1));
  });

  it("starts a syncAsync() flush at once when none is in flight: later records wait for the next",
    async () => {
      // The driver applies committed entries while this fsync runs; the flush must not be
      // planned a microtask later, after whatever the caller buffers meanwhile.
      log.append(makeEntries(1, 1, 1));
      const first = log.syncAsync();
      log.append(makeEntries(2, 2, 1));
      await first;
      log.close();
      log = FileStorage.open(dir);
      expect(log.lastIndex()).to.equal(1);
    });

  it("refuses every call after a failed fdatasync: the node must restart", () => {
    log.append(makeEntries(1, 2, 1));
    log.sync();
    log.append(makeEntries(3, 3, 1));
    withFsCalls("fdatasyncSync", () => {
      expect(() => log.sync()).to.throw(StorageError, /restart/);
    }, () => {
      throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    });
    expect(() => log.lastIndex()).to.throw(StorageError, /restart/);
    expect(() => log.append(makeEntries(4, 4, 1))).to.throw(StorageError, /restart/);
    log.close();
    log = FileStorage.open(dir);
    expect(log.lastIndex()).to.be.within(2, 3);
  });

  describe("syncAsync()'s fdatasync: inline while the disk is fast (fsync-placement.ts)", () => {
    let clockMs: number;
    let slow: number[];
    /** The log reopened on the test clock, its first entry and segment already written. */
    const openTimed = (options: { inlineFsyncMsMax?: number } = {}): FileStorage => {
      log.append(makeEntries(1, 1, 1));
      log.sync();
      log.close();
      return FileStorage.open(dir, { inlineFsyncMsMax: 5, poolFsyncHoldMs: 10_000, ...options },
        { nowMs: () => clockMs, onSlowInlineFsync: (durationMs) => slow.push(durationMs) });
    };
    /**
     * syncAsync() of one more entry, its fdatasync taking `fsyncMs` on the test clock: how many
     * fdatasyncs it started inline and on the pool before it returned (a pool one starts at
     * once too), and its promise.
     */
    const syncTaking = (fsyncMs: number):
      { inline: number; pool: number; done: Promise<void> } => {
      const index = log.lastIndex() + 1;
      log.append(makeEntries(index, index, 1));
      const originalSync = fs.fdatasyncSync;
      const original = fs.fdatasync;
      return withFsCalls("fdatasync", (poolCalls) => withFsCalls("fdatasyncSync", (calls) => {
        const done = log.syncAsync();
        return { inline: calls.count, pool: poolCalls.count, done };
      }, (fd) => {
        clockMs += fsyncMs;
        originalSync(fd as number);
      }), (fd, callback) => {
        original(fd as number, (error) => {
          clockMs += fsyncMs;
          (callback as (error: Error | null) => void)(error);
        });
      });
    };
    beforeEach(() => {
      clockMs = 1_000;
      slow = [];
    });

    it("runs it inline, before syncAsync() returns, while each takes at most inlineFsyncMsMax",
      async () => {
        log = openTimed();
        for (const fsyncMs of [0, 1, 5, 2]) {
          const { inline, pool, done } = syncTaking(fsyncMs);
          expect([inline, pool], `fdatasync of ${fsyncMs} ms`).to.deep.equal([1, 0]);
          await done;
        }
        expect(log.stats()).to.deep.include({ inlineFsyncs: 4, poolFsyncs: 0,
          slowInlineFsyncs: 0 });
        expect(slow).to.deep.equal([]);
      });

    it("after a slower one, sends them to the pool for poolFsyncHoldMs, then tries inline again",
      async () => {
        log = openTimed();
        let sync = syncTaking(6);
        expect([sync.inline, sync.pool]).to.deep.equal([1, 0]);
        await sync.done;
        expect(slow).to.deep.equal([6]);
        // The hold runs from the slow fdatasync's end, at 1_006 ms: until 11_006.
        for (const waitedMs of [1, 9_998]) {
          clockMs += waitedMs;
          sync = syncTaking(0);
          expect([sync.inline, sync.pool], `${waitedMs} ms later`).to.deep.equal([0, 1]);
          await sync.done;
        }
        clockMs += 1;
        sync = syncTaking(0);
        expect([sync.inline, sync.pool], "at the end of the hold").to.deep.equal([1, 0]);
        await sync.done;
        expect(log.stats()).to.deep.include({ inlineFsyncs: 2, poolFsyncs: 2,
          slowInlineFsyncs: 1 });
        log.close();
        log = FileStorage.open(dir);
        expect(log.entries(1, 6)).to.deep.equal(makeEntries(1, 5, 1));
      });

    it("keeps them on the pool while pool fdatasyncs are slow too: no second stall", async () => {
      log = openTimed();
      await syncTaking(50).done;
      // Slow on the pool as well, until 30 s: each slow one extends the hold from its end.
      let lastSlowEndMs = clockMs;
      for (let k = 0; k < 6; k++) {
        clockMs += 5_000;
        const fsyncMs = clockMs < 30_000 ? 20 : 0;
        const sync = syncTaking(fsyncMs);
        expect([sync.inline, sync.pool], `at ${clockMs} ms`).to.deep.equal([0, 1]);
        await sync.done;
        if (fsyncMs > 0) lastSlowEndMs = clockMs;
      }
      // Fast pool fdatasyncs since then do not shorten the hold from the last slow one.
      clockMs = lastSlowEndMs + 10_000 - 1;
      let sync = syncTaking(0);
      expect([sync.inline, sync.pool]).to.deep.equal([0, 1]);
      await sync.done;
      clockMs = lastSlowEndMs + 10_000;
      sync = syncTaking(0);
      expect([sync.inline, sync.pool]).to.deep.equal([1, 0]);
      await sync.done;
      expect(slow).to.deep.equal([50]);
    });

    it("by default, and without a clock, runs every one on the pool", async () => {
      log.append(makeEntries(1, 1, 1));
      log.sync();
      log.close();
      log = FileStorage.open(dir, {}, { nowMs: () => clockMs });
      let sync = syncTaking(0);
      expect([sync.inline, sync.pool], "default inlineFsyncMsMax").to.deep.equal([0, 1]);
      await sync.done;
      log.close();
      // Without a clock a slow disk could not be noticed, whatever the option says.
      log = FileStorage.open(dir, { inlineFsyncMsMax: 5 });
      sync = syncTaking(0);
      expect([sync.inline, sync.pool], "no clock").to.deep.equal([0, 1]);
      await sync.done;
    });

    it("with inlineFsyncMsMax 0, runs every one on the pool", async () => {
      log = openTimed({ inlineFsyncMsMax: 0 });
      for (let k = 0; k < 3; k++) {
        const { inline, pool, done } = syncTaking(0);
        expect([inline, pool]).to.deep.equal([0, 1]);
        await done;
      }
      expect(log.stats()).to.deep.include({ inlineFsyncs: 0, poolFsyncs: 3 });
    });

    it("fails the store when an inline fdatasync fails: the node must restart", async () => {
      log = openTimed();
      log.append(makeEntries(2, 2, 1));
      const failed = withFsCalls("fdatasyncSync", () => log.syncAsync(), () => {
        throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
      });
      let error: unknown = null;
      await failed.catch((caught: unknown) => {
        error = caught;
      });
      expect(error).to.be.instanceOf(StorageError);
      expect((error as Error).message).to.match(/restart/);
      expect(() => log.lastIndex()).to.throw(StorageError, /restart/);
      // The failed flush counted nothing as durable, and was no slow fdatasync.
      expect(log.stats()).to.deep.include({ syncCount: 0, inlineFsyncs: 0 });
      expect(slow).to.deep.equal([]);
    });
  });

  it("rotates and deletes compacted segments through syncAsync() too", async () => {
    log.close();
    log = FileStorage.open(dir, { segmentBytesMax: 256 });
    for (let round = 0; round < 60; round++) {
      const indexFirst = log.lastIndex() + 1;
      log.append(makeEntries(indexFirst, indexFirst + 2, 1, 30));
      log.compactTo(Math.max(0, log.lastIndex() - 10));
      await log.syncAsync();
    }
    const stats = log.stats();
    expect(stats.segmentsCreated).to.be.greaterThan(20);
    expect(stats.segmentsRemoved).to.be.greaterThan(15);
    expect(walFiles(dir)).to.have.length(stats.segmentCount);
    log.close();
    log = FileStorage.open(dir, { segmentBytesMax: 256 });
    expect([log.firstIndex(), log.lastIndex()]).to.deep.equal([171, 180]);
    expect(log.entries(171, 181)).to.deep.equal(makeEntries(171, 180, 1, 30));
  });

  it("starts a new segment only when a flush finds the active one full", () => {
    log.close();
    log = FileStorage.open(dir, { segmentBytesMax: 300 });
    for (let k = 1; k <= 40; k++) {
      log.append(makeEntries(k, k, 1, 20));
      log.sync();
    }
    const files = walFiles(dir);
    expect(files.length).to.be.greaterThan(5);
    for (const file of files.slice(0, -1)) {
      // Full at most by one flush: one entries record of 20 data bytes is 54 bytes.
      expect(fs.statSync(`${dir}/${file}`).size).to.be.within(300, 300 + 54);
    }
    expect(log.stats().segmentCount).to.equal(files.length);
  });
});
