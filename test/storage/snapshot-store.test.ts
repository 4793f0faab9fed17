/**
 * FileSnapshotStore atomicity and verification. A crash between writing the temporary file and
 * renaming it must leave the previous snapshot as the latest; a snapshot that fails its
 * checksum is named, never used; an older verified snapshot stands in for a corrupt newest one
 * only while the log still holds every entry after it. Method: the crash is reproduced by
 * leaving the temporary file exactly as save() writes it before the rename (encodeSnapshotFile
 * is the same encoder), and damage by flipping bits and truncating real files.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  encodeSnapshotFile,
  FileSnapshotStore,
  snapshotFileName,
} from "../../src/storage/snapshot-store.js";
import { CorruptionError, StorageError, type Snapshot } from "../../src/storage/storage.js";
import { flipBit, TempDirs, truncate } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const voters = ["n1", "n2", "n3"];
const older: Snapshot = { meta: { index: 100, term: 3, voters }, data: "{\"items\":[1]}" };
const newer: Snapshot = { meta: { index: 200, term: 4, voters }, data: "{\"items\":[1,2]}" };

describe("FileSnapshotStore", () => {
  let dir: string;
  let store: FileSnapshotStore;
  beforeEach(() => {
    dir = dirs.make();
    store = new FileSnapshotStore(dir);
  });

  const newestFile = () => path.join(dir, snapshotFileName(200, 4));

  it("saveAsync writes the same verified file as save, keeps two, refuses an older one", async () => {
    await store.saveAsync(older);
    await store.saveAsync(newer);
    expect(store.latest()).to.deep.equal(newer);
    expect(new FileSnapshotStore(dir).latest()).to.deep.equal(newer);
    expect(fs.readFileSync(newestFile())).to.deep.equal(encodeSnapshotFile(newer));
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".tmp"))).to.deep.equal([]);
    let refused: unknown = null;
    await store.saveAsync(older).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(Error);
    expect(store.latest()).to.deep.equal(newer);
  });

  it("keeps the old snapshot as latest after a crash between write and rename", () => {
    store.save(older);
    const temporary = `${newestFile()}.tmp`;
    fs.writeFileSync(temporary, encodeSnapshotFile(newer));
    expect(store.latest()).to.deep.equal(older);
    const reopened = new FileSnapshotStore(dir);
    expect(fs.existsSync(temporary), "leftover .tmp cleaned on open").to.equal(false);
    expect(reopened.latest()).to.deep.equal(older);
  });

  it("ignores a half-written temporary file", () => {
    store.save(older);
    fs.writeFileSync(`${newestFile()}.tmp`, encodeSnapshotFile(newer).subarray(0, 10));
    expect(store.latest()).to.deep.equal(older);
    store.save(newer); // Overwrites the leftover under the same name.
    expect(store.latest()).to.deep.equal(newer);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".tmp"))).to.deep.equal([]);
  });

  it("keeps only the newest two snapshots", () => {
    for (const index of [10, 20, 30, 40]) {
      store.save({ meta: { index, term: 1, voters }, data: `s${index}` });
    }
    expect(fs.readdirSync(dir).sort()).to.deep.equal([snapshotFileName(30, 1),
      snapshotFileName(40, 1)]);
  });

  it("names a snapshot that fails its checksum, and does not fall back silently", () => {
    store.save(older);
    store.save(newer);
    flipBit(newestFile(), 40);
    expect(() => store.latest()).to.throw(CorruptionError, snapshotFileName(200, 4))
      .with.property("file", newestFile());
  });

  it("detects a truncated snapshot file", () => {
    store.save(newer);
    truncate(newestFile(), fs.statSync(newestFile()).size - 1);
    expect(() => store.latest()).to.throw(CorruptionError);
  });

  it("falls back to an older snapshot only while the log still holds what follows it", () => {
    store.save(older);
    store.save(newer);
    flipBit(newestFile(), 40);
    // The log starts at 101: the older snapshot at 100 plus the log rebuild the same state.
    // The log was compacted past 100: the older snapshot would silently miss entries.
    expect(() => store.latestConsistentWith(150)).to.throw(CorruptionError, /cannot stand in/);
    const choice = store.latestConsistentWith(101);
    expect(choice.snapshot).to.deep.equal(older);
    expect(choice.skippedCorrupt?.file).to.equal(newestFile());
    // The corrupt one is set aside, kept for inspection: saves compare against good ones only.
    expect(fs.existsSync(newestFile())).to.equal(false);
    expect(fs.existsSync(`${newestFile()}.corrupt`)).to.equal(true);
    expect(store.latest()).to.deep.equal(older);
    store.save({ ...newer, meta: { ...newer.meta, index: 150 } });
    expect(store.latest()?.meta.index).to.equal(150);
  });

  it("refuses a log that starts past the entry after its newest snapshot", () => {
    expect(() => store.latestConsistentWith(2)).to.throw(StorageError, /entries 1\.\.1 are missing/);
    store.save(older);
    expect(store.latestConsistentWith(101).snapshot).to.deep.equal(older);
    expect(() => store.latestConsistentWith(120))
      .to.throw(StorageError, /starts at 120 but the newest snapshot ends at 100/);
  });

  it("refuses a snapshot whose name disagrees with its contents", () => {
    store.save(older);
    fs.renameSync(path.join(dir, snapshotFileName(100, 3)), newestFile());
    expect(() => store.latest()).to.throw(CorruptionError, /file name/);
  });
});
