/**
 * The write-ahead log under damage: what FileStorage.open() accepts, truncates, or refuses, and
 * what repairWal() removes. The rule under test (wal-replay.ts): a record in the LAST segment
 * that fails verification with nothing verifiable after it is a torn tail, truncated because it
 * was never acknowledged; any other failure is corruption, reported with the file and byte
 * offset, and the directory is left exactly as it was. Method: build a WAL through FileStorage,
 * locate its records with the codec's own scanner, then damage copies of it byte by byte —
 * truncation at every offset of the last record, bit flips in payloads and length fields,
 * zero-length and missing segments — and reopen each copy. Segment rotation, deletion by
 * compaction and the disk bound run with segments of a few hundred bytes.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { FileStorage, type FileStorageOptions } from "../../src/storage/file-storage.js";
import { CorruptionError } from "../../src/storage/storage.js";
import { decodeEntries, scanSegment } from "../../src/storage/wal.js";
import { describeRepair, repairWal } from "../../src/storage/wal-repair.js";
import { makeEntries } from "./contract.js";
import {
  copyDirectory,
  directoryBytes,
  directoryContents,
  fileBytes,
  flipBit,
  lastWalFile,
  TempDirs,
  truncate,
  walFiles,
} from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** Opens, runs `body`, syncs and closes. */
function write(dir: string, body: (log: FileStorage) => void,
  options: Partial<FileStorageOptions> = {}): void {
  const log = FileStorage.open(dir, options);
  body(log);
  log.sync();
  log.close();
}

/** A one-segment WAL: [header, entries 1..5, hard state, entries 6..8, entries 9]. */
function smallWal(): { dir: string; lastRecordOffset: number } {
  const dir = dirs.make();
  write(dir, (log) => {
    log.append(makeEntries(1, 5, 1));
    log.setHardState({ term: 1, vote: "n1", commit: 5 });
  });
  write(dir, (log) => log.append(makeEntries(6, 8, 1)));
  const lastRecordOffset = fileBytes(lastWalFile(dir));
  write(dir, (log) => log.append(makeEntries(9, 9, 1)));
  return { dir, lastRecordOffset };
}

function recordOffsets(file: string): number[] {
  return scanSegment(fs.readFileSync(file)).records.map((record) => record.offset);
}

function expectCorruption(dir: string, file: string, offset: number, reason?: RegExp): void {
  const before = directoryContents(dir);
  let caught: unknown = null;
  try {
    FileStorage.open(dir).close();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(CorruptionError);
  const corruption = caught as CorruptionError;
  expect(corruption.file).to.equal(file);
  expect(corruption.offset).to.equal(offset);
  expect(corruption.message).to.include(file).and.include(`byte ${offset}`);
  if (reason !== undefined) expect(corruption.reason).to.match(reason);
  expect(directoryContents(dir), "open() never repairs").to.deep.equal(before);
}

describe("WAL recovery", () => {
  it("truncates a torn last record cut at any byte, recovering to the record before", () => {
    const { dir, lastRecordOffset } = smallWal();
    const recordEnd = fileBytes(lastWalFile(dir));
    for (let cut = lastRecordOffset; cut < recordEnd; cut++) {
      const copy = copyDirectory(dir, dirs);
      truncate(lastWalFile(copy), cut);
      const log = FileStorage.open(copy);
      expect(log.lastIndex(), `cut at ${cut}`).to.equal(8);
      expect(log.entries(1, 9)).to.deep.equal(makeEntries(1, 8, 1));
      expect(log.hardState().commit).to.equal(5);
      const torn = log.recovery.tornTail;
      if (cut === lastRecordOffset) expect(torn, "a clean cut is no tear").to.equal(null);
      else {
        expect(torn).to.deep.include({ offset: lastRecordOffset,
          bytesRemoved: cut - lastRecordOffset });
      }
      expect(fileBytes(lastWalFile(copy))).to.equal(lastRecordOffset);
      log.close();
    }
  });

  it("appends after a truncated tail and reads it all back", () => {
    const { dir, lastRecordOffset } = smallWal();
    truncate(lastWalFile(dir), lastRecordOffset + 5);
    write(dir, (log) => log.append(makeEntries(9, 10, 2)));
    const log = FileStorage.open(dir);
    expect(log.recovery.tornTail).to.equal(null);
    expect(log.entries(1, 11)).to.deep.equal([...makeEntries(1, 8, 1), ...makeEntries(9, 10, 2)]);
    log.close();
  });

  it("treats a checksum failure in the final record as a torn tail, as etcd does", () => {
    const { dir, lastRecordOffset } = smallWal();
    flipBit(lastWalFile(dir), lastRecordOffset + 20);
    const log = FileStorage.open(dir);
    expect(log.lastIndex()).to.equal(8);
    expect(log.recovery.tornTail).to.deep.include({ offset: lastRecordOffset });
    expect(log.recovery.tornTail!.reason).to.match(/checksum/);
    log.close();
  });

  it("refuses a bit flip in the middle of a non-final record, naming file and offset", () => {
    const { dir } = smallWal();
    const file = lastWalFile(dir);
    const offsets = recordOffsets(file); // header, 1..5, hard state, 6..8, 9
    for (const position of [1, 2, 3]) {
      const copy = copyDirectory(dir, dirs);
      const copyFile = lastWalFile(copy);
      const middle = Math.floor((offsets[position]! + offsets[position + 1]!) / 2);
      flipBit(copyFile, middle, 3);
      expectCorruption(copy, copyFile, offsets[position]!, /checksum.*not a torn tail/);
    }
  });

  it("refuses a damaged length field that a valid record follows", () => {
    const { dir } = smallWal();
    const file = lastWalFile(dir);
    const offsets = recordOffsets(file);
    flipBit(file, offsets[1]! + 2, 4); // The length grows past the end of the file.
    expectCorruption(dir, file, offsets[1]!, /past the end.*not a torn tail/);
  });

  it("refuses any failure in a segment that is not the last, even its final record", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200 };
    for (let k = 1; k <= 12; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const files = walFiles(dir);
    expect(files.length).to.be.greaterThan(2);
    const second = path.join(dir, files[1]!);
    const offsets = recordOffsets(second);
    truncate(second, fileBytes(second) - 1);
    expectCorruption(dir, second, offsets[offsets.length - 1]!, /past the end/);
  });

  it("opens an empty or missing directory as an empty log", () => {
    const empty = FileStorage.open(dirs.make());
    expect([empty.firstIndex(), empty.lastIndex()]).to.deep.equal([1, 0]);
    expect(empty.recovery.segmentCount).to.equal(0);
    empty.close();
    const missing = path.join(dirs.make(), "nested", "wal");
    const created = FileStorage.open(missing);
    expect(fs.existsSync(missing)).to.equal(true);
    created.close();
  });

  it("removes a zero-length last segment: a crash right after creating it", () => {
    const lone = dirs.make();
    fs.writeFileSync(path.join(lone, "wal-0000000001-0000000000000001.log"), "");
    const fresh = FileStorage.open(lone);
    expect(fresh.recovery.emptySegmentRemoved).to.equal("wal-0000000001-0000000000000001.log");
    expect(fresh.lastIndex()).to.equal(0);
    fresh.close();

    const { dir } = smallWal();
    fs.writeFileSync(path.join(dir, "wal-0000000002-0000000000000010.log"), "");
    write(dir, (log) => {
      expect(log.recovery.emptySegmentRemoved).to.equal("wal-0000000002-0000000000000010.log");
      log.append(makeEntries(10, 11, 1));
    });
    const log = FileStorage.open(dir);
    expect(log.entries(1, 12)).to.deep.equal(makeEntries(1, 11, 1));
    log.close();
  });

  it("refuses a zero-length segment before the last, or a lone one that is not the first", () => {
    const { dir } = smallWal();
    const middle = path.join(dir, "wal-0000000002-0000000000000010.log");
    fs.writeFileSync(middle, "");
    write(copyDirectory(dir, dirs), () => undefined); // Sanity: as the last one it is fine.
    const after = dirs.make();
    write(after, (log) => log.append(makeEntries(1, 1, 1)));
    fs.renameSync(lastWalFile(after), path.join(dir, "wal-0000000003-0000000000000010.log"));
    expectCorruption(dir, middle, 0, /empty but later segments exist/);

    const lone = dirs.make();
    const file = path.join(lone, "wal-0000000005-0000000000000100.log");
    fs.writeFileSync(file, "");
    expectCorruption(lone, path.join(lone, "wal-0000000005-0000000000000100.log"), 0,
      /no segment holds a record/);
  });

  it("refuses a missing segment: a jump in the sequence or a hole before the first", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 150 };
    for (let k = 1; k <= 10; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const files = walFiles(dir);
    const gap = copyDirectory(dir, dirs);
    fs.unlinkSync(path.join(gap, files[1]!));
    expectCorruption(gap, path.join(gap, files[2]!), 0, /sequence jumps/);
    const head = copyDirectory(dir, dirs);
    fs.unlinkSync(path.join(head, files[0]!));
    expectCorruption(head, path.join(head, files[1]!), 0, /missing/);
  });
});

describe("WAL segments", () => {
  it("rotates at segmentBytesMax and reads records across segment boundaries", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 256 };
    let expected = makeEntries(1, 0, 1);
    for (let round = 1; round <= 30; round++) {
      write(dir, (log) => {
        // Every third round overwrites a suffix that may sit in an earlier segment.
        const indexFirst = round % 3 === 0 ? Math.max(1, log.lastIndex() - 4) : log.lastIndex() + 1;
        const batch = makeEntries(indexFirst, indexFirst + 3, round, 10 + round);
        log.append(batch);
        log.setHardState({ term: round, vote: null, commit: indexFirst });
        expected = [...expected.slice(0, indexFirst - 1), ...batch];
      }, options);
    }
    const files = walFiles(dir);
    expect(files.length).to.be.greaterThan(5);
    const log = FileStorage.open(dir, options);
    expect(log.entries(1, log.lastIndex() + 1)).to.deep.equal(expected);
    expect(log.hardState().term).to.equal(30);
    expect(log.recovery.segmentCount).to.equal(files.length);
    log.close();
  });

  it("deletes whole segments under compaction and replays from a later segment", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200 };
    for (let k = 1; k <= 20; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const lastSegment = walFiles(dir).at(-1)!;
    // A truncating append reaching below the newest segment's first index, then compaction
    // that lets every older segment go: replay must start from the newest alone.
    write(dir, (log) => {
      log.append(makeEntries(18, 25, 2));
      log.compactTo(20);
    }, options);
    write(dir, (log) => log.setHardState({ term: 2, vote: "n1", commit: 25 }), options);
    const log = FileStorage.open(dir, options);
    expect(walFiles(dir)[0]! >= lastSegment).to.equal(true);
    expect([log.firstIndex(), log.lastIndex()]).to.deep.equal([21, 25]);
    expect(log.entries(21, 26)).to.deep.equal(makeEntries(21, 25, 2));
    expect(log.hardState()).to.deep.equal({ term: 2, vote: "n1", commit: 25 });
    log.close();
  });

  it("keeps the disk bounded when compaction follows the log", function () {
    this.timeout(20_000);
    const dir = dirs.make();
    const segmentBytesMax = 16 * 1024;
    const log = FileStorage.open(dir, { segmentBytesMax });
    const windowEntries = 100;
    const entryBytes = 100 + 13; // Data plus the per-entry encoding.
    // The window's entries, the active segment, one segment not yet deletable, one flush.
    const boundBytes = windowEntries * entryBytes + 2 * segmentBytesMax + 20 * entryBytes + 200;
    let bytesMax = 0;
    for (let round = 0; round < 1500; round++) {
      const indexFirst = log.lastIndex() + 1;
      log.append(makeEntries(indexFirst, indexFirst + 9, 1, 100));
      log.setHardState({ term: 1, vote: null, commit: indexFirst + 9 });
      log.compactTo(Math.max(0, log.lastIndex() - windowEntries));
      log.sync();
      bytesMax = Math.max(bytesMax, directoryBytes(dir));
    }
    expect(bytesMax).to.be.below(boundBytes);
    expect(log.stats().segmentsRemoved).to.be.greaterThan(50);
    log.close();
    const reopened = FileStorage.open(dir, { segmentBytesMax });
    expect([reopened.firstIndex(), reopened.lastIndex()]).to.deep.equal([14_901, 15_000]);
    reopened.close();
  });
});

describe("repairWal", () => {
  it("cuts at the first bad record, deletes later segments, and reports exactly that", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200 };
    for (let k = 1; k <= 16; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const files = walFiles(dir);
    expect(files.length).to.be.greaterThan(3);
    const damaged = path.join(dir, files[1]!);
    const offsets = recordOffsets(damaged);
    const cut = offsets[2]!;
    const sizes = files.map((file) => fileBytes(path.join(dir, file)));
    // One entry per record: the damaged record holds entry `damagedIndex`.
    const damagedRecord = scanSegment(fs.readFileSync(damaged)).records[2]!;
    const damagedIndex = decodeEntries(damagedRecord.payload)[0]!.index;
    flipBit(damaged, cut + 15);
    expectCorruption(dir, damaged, cut);

    const report = repairWal(dir);
    expect(report.problem).to.deep.include({ file: files[1], offset: cut });
    expect(report.unresolved).to.equal(null);
    // The cut was at corruption: the removed records had been synced, maybe acknowledged.
    expect(report.acknowledgedMayBeLost).to.equal(true);
    expect(report.lastIndexKept).to.equal(damagedIndex - 1);
    expect(report.removed.map((range) => [range.file, range.byteLow, range.byteHigh,
      range.wholeFile])).to.deep.equal([[files[1], cut, sizes[1], false],
      ...files.slice(2).map((file, k) => [file, 0, sizes[k + 2], true])]);
    expect(walFiles(dir)).to.deep.equal(files.slice(0, 2));
    expect(fileBytes(damaged)).to.equal(cut);
    // The damaged record is unreadable; every later entry is listed, one record each.
    expect(report.removed[0]!.unreadableBytes).to.equal(offsets[3]! - cut);
    const reported = report.removed.flatMap((range) => range.entryIndexRanges);
    const expected = [];
    for (let index = damagedIndex + 1; index <= 16; index++) {
      expected.push({ indexFirst: index, indexLast: index });
    }
    expect(reported).to.deep.equal(expected);

    const log = FileStorage.open(dir, options);
    expect(log.lastIndex()).to.equal(damagedIndex - 1);
    expect(log.entries(1, damagedIndex)).to.deep.equal(makeEntries(1, damagedIndex - 1, 1));
    log.close();
  });

  it("removes nothing from a sound WAL and truncates a torn tail like open() would", () => {
    const { dir, lastRecordOffset } = smallWal();
    const before = directoryContents(dir);
    expect(repairWal(dir)).to.deep.include({ problem: null, removed: [] });
    expect(directoryContents(dir)).to.deep.equal(before);
    truncate(lastWalFile(dir), lastRecordOffset + 3);
    const report = repairWal(dir);
    expect(report.removed).to.have.length(1);
    expect(report.removed[0]).to.deep.include({ byteLow: lastRecordOffset,
      byteHigh: lastRecordOffset + 3, unreadableBytes: 3, wholeFile: false });
    expect(fileBytes(lastWalFile(dir))).to.equal(lastRecordOffset);
    // A torn tail was never synced, so never promised to anyone: no fence.
    expect(report.acknowledgedMayBeLost).to.equal(false);
  });

  it("says so when it removes entries at or below the commit index the node recorded", () => {
    const dir = dirs.make();
    write(dir, (log) => {
      log.append(makeEntries(1, 5, 1));
      log.setHardState({ term: 1, vote: "n1", commit: 2 });
    });
    const file = lastWalFile(dir);
    const cut = fileBytes(file);
    write(dir, (log) => {
      log.append(makeEntries(6, 8, 1));
      log.setHardState({ term: 1, vote: "n1", commit: 8 });
    });
    write(dir, (log) => log.append(makeEntries(9, 9, 1)));
    flipBit(file, cut + 15);
    const report = repairWal(dir);
    expect(report).to.deep.include({ lastIndexKept: 5, commitIndexRecorded: 8,
      acknowledgedMayBeLost: true });
    expect(report.warnings.join("\n")).to.match(/entries 6\.\.8 were at or below the commit index 8/);
    expect(describeRepair(report)).to.match(/warning: entries 6\.\.8/);
  });
});
