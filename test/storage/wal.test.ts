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
import {
  decodeEntries,
  encodeCompactRecord,
  findNextValidRecord,
  firstNonZeroByte,
  scanSegment,
  trailingZeroBytes,
} from "../../src/storage/wal.js";
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

/**
 * Opens without preallocation, so that a segment file ends where its records do: the damage
 * below is placed by file length. "WAL preallocation" tests the same rules with it.
 */
function openWal(dir: string, options: Partial<FileStorageOptions> = {}): FileStorage {
  return FileStorage.open(dir, { segmentPreallocBytes: 0, ...options });
}

/** Opens, runs `body`, syncs and closes. */
function write(dir: string, body: (log: FileStorage) => void,
  options: Partial<FileStorageOptions> = {}): void {
  const log = openWal(dir, options);
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
    openWal(dir).close();
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
      const log = openWal(copy);
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
    const log = openWal(dir);
    expect(log.recovery.tornTail).to.equal(null);
    expect(log.entries(1, 11)).to.deep.equal([...makeEntries(1, 8, 1), ...makeEntries(9, 10, 2)]);
    log.close();
  });

  it("treats a checksum failure in the final record as a torn tail, as etcd does", () => {
    const { dir, lastRecordOffset } = smallWal();
    flipBit(lastWalFile(dir), lastRecordOffset + 20);
    const log = openWal(dir);
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
    const empty = openWal(dirs.make());
    expect([empty.firstIndex(), empty.lastIndex()]).to.deep.equal([1, 0]);
    expect(empty.recovery.segmentCount).to.equal(0);
    empty.close();
    const missing = path.join(dirs.make(), "nested", "wal");
    const created = openWal(missing);
    expect(fs.existsSync(missing)).to.equal(true);
    created.close();
  });

  it("removes a zero-length last segment: a crash right after creating it", () => {
    const lone = dirs.make();
    fs.writeFileSync(path.join(lone, "wal-0000000001-0000000000000001.log"), "");
    const fresh = openWal(lone);
    expect(fresh.recovery.emptySegmentRemoved).to.equal("wal-0000000001-0000000000000001.log");
    expect(fresh.lastIndex()).to.equal(0);
    fresh.close();

    const { dir } = smallWal();
    fs.writeFileSync(path.join(dir, "wal-0000000002-0000000000000010.log"), "");
    write(dir, (log) => {
      expect(log.recovery.emptySegmentRemoved).to.equal("wal-0000000002-0000000000000010.log");
      log.append(makeEntries(10, 11, 1));
    });
    const log = openWal(dir);
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
        log.setHardState({ term: round, vote: null, commit: round });
        expected = [...expected.slice(0, indexFirst - 1), ...batch];
      }, options);
    }
    const files = walFiles(dir);
    expect(files.length).to.be.greaterThan(5);
    const log = openWal(dir, options);
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
    const log = openWal(dir, options);
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
    const log = openWal(dir, { segmentBytesMax });
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
    const reopened = openWal(dir, { segmentBytesMax });
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

    const log = openWal(dir, options);
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
      byteHigh: lastRecordOffset + 3, wholeFile: false });
    // The partial header's high length bytes are zeros: counted as the zeros at the end.
    expect(report.removed[0]!.unreadableBytes + report.removed[0]!.zeroBytes).to.equal(3);
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

describe("WAL preallocation", () => {
  const preallocBytes = 8192;

  /** The offsets where each record starts and where the last one ends, read by the scanner. */
  function recordBounds(file: string): { offsets: number[]; end: number } {
    const scan = scanSegment(fs.readFileSync(file));
    return { offsets: scan.records.map((record) => record.offset), end: scan.goodBytes };
  }

  /** smallWal() written with preallocation: its one segment ends in zeros. */
  function preallocatedWal(): { dir: string; file: string; lastRecordOffset: number;
    recordsEnd: number } {
    const dir = dirs.make();
    const options = { segmentPreallocBytes: preallocBytes };
    write(dir, (log) => {
      log.append(makeEntries(1, 5, 1));
      log.setHardState({ term: 1, vote: "n1", commit: 5 });
    }, options);
    write(dir, (log) => log.append(makeEntries(6, 8, 1)), options);
    write(dir, (log) => log.append(makeEntries(9, 9, 1)), options);
    const file = lastWalFile(dir);
    const { offsets, end } = recordBounds(file);
    return { dir, file, lastRecordOffset: offsets.at(-1)!, recordsEnd: end };
  }

  function zero(file: string, from: number, to: number): void {
    const bytes = fs.readFileSync(file);
    bytes.fill(0, from, to);
    fs.writeFileSync(file, bytes);
  }

  it("sizes the active segment ahead, reads its zeros as its end and appends there", () => {
    const { dir, file, recordsEnd } = preallocatedWal();
    expect(fileBytes(file)).to.equal(preallocBytes);
    const log = FileStorage.open(dir, { segmentPreallocBytes: preallocBytes });
    expect(log.recovery.tornTail, "preallocated zeros are no tear").to.equal(null);
    expect(log.entries(1, 10)).to.deep.equal(makeEntries(1, 9, 1));
    expect(log.stats().segmentBytes).to.equal(recordsEnd);
    log.close();
    // A store opened without preallocation reads and appends the same way.
    write(dir, (reopened) => reopened.append(makeEntries(10, 10, 2)), { segmentPreallocBytes: 0 });
    expect(fileBytes(file)).to.equal(preallocBytes);
    const again = openWal(dir);
    expect(again.entries(1, 11)).to.deep.equal([...makeEntries(1, 9, 1), ...makeEntries(10, 10, 2)]);
    again.close();
    // An older segment file, shorter than the option, is extended when it is opened.
    const short = dirs.make();
    write(short, (older) => older.append(makeEntries(1, 3, 1)), { segmentPreallocBytes: 0 });
    FileStorage.open(short, { segmentPreallocBytes: preallocBytes }).close();
    expect(fileBytes(lastWalFile(short))).to.equal(preallocBytes);
  });

  it("cuts each segment back to its records before it creates the next", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200, segmentPreallocBytes: preallocBytes };
    for (let k = 1; k <= 12; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const files = walFiles(dir).map((name) => path.join(dir, name));
    expect(files.length).to.be.greaterThan(2);
    for (const file of files.slice(0, -1)) {
      expect(fileBytes(file), file).to.equal(recordBounds(file).end);
    }
    expect(fileBytes(files.at(-1)!)).to.equal(preallocBytes);
    const log = openWal(dir, options);
    expect(log.entries(1, 13)).to.deep.equal(makeEntries(1, 12, 1));
    log.close();
  });

  it("rotates the same way through syncAsync", async () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200, segmentPreallocBytes: preallocBytes };
    const log = FileStorage.open(dir, options);
    for (let k = 1; k <= 12; k++) {
      log.append(makeEntries(k, k, 1));
      await log.syncAsync();
    }
    log.close();
    const files = walFiles(dir).map((name) => path.join(dir, name));
    expect(files.length).to.be.greaterThan(2);
    for (const file of files.slice(0, -1)) {
      expect(fileBytes(file), file).to.equal(recordBounds(file).end);
    }
    expect(fileBytes(files.at(-1)!)).to.equal(preallocBytes);
    const reopened = openWal(dir);
    expect(reopened.entries(1, 13)).to.deep.equal(makeEntries(1, 12, 1));
    reopened.close();
  });

  it("treats a last record torn inside the zeros as a torn tail, and one that never landed " +
    "as nothing", () => {
    const torn = preallocatedWal();
    zero(torn.file, torn.lastRecordOffset + 12, torn.recordsEnd);
    const log = openWal(torn.dir);
    expect(log.lastIndex()).to.equal(8);
    expect(log.recovery.tornTail).to.deep.include({ offset: torn.lastRecordOffset });
    log.close();

    const lost = preallocatedWal();
    zero(lost.file, lost.lastRecordOffset, lost.recordsEnd);
    const reopened = openWal(lost.dir);
    expect(reopened.lastIndex()).to.equal(8);
    expect(reopened.recovery.tornTail).to.equal(null);
    reopened.close();
  });

  it("reads a last record torn at any byte inside the zeros as torn, recovering the rest", () => {
    const { dir, lastRecordOffset, recordsEnd } = preallocatedWal();
    for (let cut = lastRecordOffset; cut < recordsEnd; cut++) {
      const copy = copyDirectory(dir, dirs);
      zero(lastWalFile(copy), cut, recordsEnd);
      const log = FileStorage.open(copy, { segmentPreallocBytes: preallocBytes });
      expect(log.entries(1, log.lastIndex() + 1), `zeros from ${cut}`)
        .to.deep.equal(makeEntries(1, 8, 1));
      const torn = log.recovery.tornTail;
      if (torn !== null) expect(torn.offset).to.equal(lastRecordOffset);
      log.close();
      expect(fileBytes(lastWalFile(copy))).to.equal(preallocBytes);
    }
  });

  it("refuses a record zeroed out in the middle of the segment", () => {
    const { dir, file } = preallocatedWal();
    const { offsets } = recordBounds(file);
    zero(file, offsets[1]!, offsets[2]!);
    expectCorruption(dir, file, offsets[1]!, /not a torn tail/);
  });

  it("still refuses a flipped byte in a record that valid records follow", () => {
    const { dir, file } = preallocatedWal();
    const { offsets } = recordBounds(file);
    flipBit(file, offsets[1]! + 15);
    expectCorruption(dir, file, offsets[1]!, /checksum.*not a torn tail/);
  });

  it("cuts garbage written into the zeros as a torn tail, keeping every record", () => {
    const { dir, file, recordsEnd } = preallocatedWal();
    flipBit(file, recordsEnd + 100);
    const log = openWal(dir);
    expect(log.entries(1, 10)).to.deep.equal(makeEntries(1, 9, 1));
    expect(log.recovery.tornTail).to.deep.include({ offset: recordsEnd });
    log.close();
  });

  it("refuses zeros at the end of a segment before the last", () => {
    const dir = dirs.make();
    const options = { segmentBytesMax: 200, segmentPreallocBytes: 0 };
    for (let k = 1; k <= 12; k++) write(dir, (log) => log.append(makeEntries(k, k, 1)), options);
    const second = path.join(dir, walFiles(dir)[1]!);
    const end = fileBytes(second);
    truncate(second, end + 100);
    expectCorruption(dir, second, end, /zeros from byte/);
  });

  it("removes a preallocated last segment whose header never landed", () => {
    const { dir, file, recordsEnd } = preallocatedWal();
    truncate(file, recordsEnd); // What rotation does before it creates the next segment.
    const name = "wal-0000000002-0000000000000010.log";
    fs.writeFileSync(path.join(dir, name), Buffer.alloc(preallocBytes));
    const log = openWal(dir);
    expect(log.recovery.emptySegmentRemoved).to.equal(name);
    expect(log.entries(1, 10)).to.deep.equal(makeEntries(1, 9, 1));
    log.close();
  });

  it("repairs a preallocated segment and reports no zeros as damage", () => {
    const { dir, file, recordsEnd } = preallocatedWal();
    const { offsets } = recordBounds(file);
    flipBit(file, offsets[1]! + 15);
    const report = repairWal(dir);
    expect(report.removed).to.have.length(1);
    expect(report.removed[0]).to.deep.include({ byteLow: offsets[1], byteHigh: preallocBytes,
      unreadableBytes: offsets[2]! - offsets[1]!, zeroBytes: preallocBytes - recordsEnd });
    expect(describeRepair(report)).to.include(`${preallocBytes - recordsEnd} zero bytes at the end`);
    expect(fileBytes(file)).to.equal(offsets[1]);
    const sound = preallocatedWal();
    expect(repairWal(sound.dir)).to.deep.include({ problem: null, removed: [] });
    expect(fileBytes(sound.file)).to.equal(preallocBytes);
  });

  it("finds a record after a long run of zeros, and counts zeros at the end", () => {
    const record = encodeCompactRecord(7);
    const gapBytes = 200 * 1024 + 3;
    const bytes = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.alloc(gapBytes), record,
      Buffer.alloc(70 * 1024)]);
    expect(findNextValidRecord(bytes, 0)).to.equal(3 + gapBytes);
    expect(findNextValidRecord(bytes, 3 + gapBytes)).to.equal(null);
    expect(firstNonZeroByte(bytes, 3)).to.equal(3 + gapBytes);
    const recordEnd = 3 + gapBytes + record.length;
    expect(trailingZeroBytes(bytes, recordEnd)).to.equal(70 * 1024);
    // Literal zeros: the record's own u64 ends in seven (repairWal stops at records first).
    expect(trailingZeroBytes(bytes, 0)).to.equal(70 * 1024 + 7);
    expect(trailingZeroBytes(bytes, bytes.length - 10)).to.equal(10);
    expect(trailingZeroBytes(Buffer.alloc(5), 0)).to.equal(5);
    expect(scanSegment(bytes).failure).to.deep.include({ offset: 0, nextValidOffset: 3 + gapBytes,
      zeroTail: false });
  });
});
