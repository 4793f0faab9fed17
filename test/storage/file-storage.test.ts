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
import { FileStorage } from "../../src/storage/file-storage.js";
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

function fileStorageContract(name: string, segmentBytesMax?: number): void {
  const dirOf = new Map<DurableLog, string>();
  const open = (dir: string): FileStorage => {
    const log = FileStorage.open(dir, { entryBytesMax: contractEntryBytesMax,
      ...(segmentBytesMax === undefined ? {} : { segmentBytesMax }) });
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
