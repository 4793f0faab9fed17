/**
 * FileSnapshotStore atomicity and verification. A crash between writing the temporary file and
 * renaming it must leave the previous snapshot as the latest; a snapshot that fails its
 * checksum is named, never used; an older verified snapshot stands in for a corrupt newest one
 * only while the log still holds every entry after it. Method: the crash is reproduced by
 * leaving the temporary file exactly as save() writes it before the rename (encodeSnapshotFile
 * is the same encoder), and damage by flipping bits and truncating real files. saveAsync, which
 * encodes and writes a slice at a time, is held to encodeSnapshotFile's bytes on text full of
 * multi-byte characters and surrogate pairs, cut into slices as small as two code units; its
 * crash point (chunks written, the head with its CRC not yet) is reproduced the same way.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  encodeSnapshotDataAsync,
  encodeSnapshotFile,
  FileSnapshotStore,
  snapshotFileName,
} from "../../src/storage/snapshot-store.js";
import { CorruptionError, StorageError, type Snapshot } from "../../src/storage/storage.js";
import { MemorySnapshotStore } from "../../src/storage/index.js";
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

  it("keeps the whole configuration of the meta: learners and the voters being left", () => {
    const joint: Snapshot = { meta: { index: 300, term: 5, voters: ["n1", "n2", "n4"],
      learners: ["n5"], votersOutgoing: ["n1", "n2", "n3"], members: [] }, data: "{}" };
    store.save(joint);
    expect(new FileSnapshotStore(dir).latest()?.meta).to.deep.equal(joint.meta);
    const memory = new MemorySnapshotStore();
    memory.save(joint);
    expect(memory.latest()?.meta).to.deep.equal(joint.meta);
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

  // Every slice boundary lands somewhere in "é€😀" (2, 3 and 4 UTF-8 bytes; the last a pair).
  const multiByte: Snapshot = { meta: { index: 300, term: 5, voters, members: [] },
    data: JSON.stringify({ items: Array.from({ length: 40 }, (_, k) => `é${k}€😀`) }) };

  it("saveAsync writes encodeSnapshotFile's bytes, whatever the slice size", async () => {
    for (const [sliceUnits, index] of [[2, 301], [3, 302], [7, 303], [1 << 20, 304]] as const) {
      const snapshot = { ...multiByte, meta: { ...multiByte.meta, index } };
      let pauses = 0;
      await store.saveAsync(snapshot, () => {
        pauses += 1;
        return Promise.resolve();
      }, sliceUnits);
      const file = path.join(dir, snapshotFileName(index, 5));
      expect(fs.readFileSync(file), `sliceUnits ${sliceUnits}`)
        .to.deep.equal(encodeSnapshotFile(snapshot));
      expect(new FileSnapshotStore(dir).latest()).to.deep.equal(snapshot);
      // One pause between two slices: a slice may stop one unit short to keep a pair whole.
      const slicesMin = Math.ceil(snapshot.data.length / sliceUnits);
      expect(pauses).to.be.within(slicesMin - 1, Math.ceil(snapshot.data.length / (sliceUnits - 1)));
    }
  });

  it("encodes data in slices that join to its UTF-8 bytes, never splitting a pair", async () => {
    const data = "a😀b😀😀é".repeat(50);
    for (const sliceUnits of [2, 3, 4, 5, 64]) {
      const chunks = await encodeSnapshotDataAsync(data, () => Promise.resolve(), sliceUnits);
      expect(Buffer.concat(chunks)).to.deep.equal(Buffer.from(data, "utf8"));
      for (const chunk of chunks) expect(chunk.includes("\ufffd")).to.equal(false);
    }
    expect(await encodeSnapshotDataAsync("", () => Promise.resolve())).to.deep.equal([]);
  });

  it("keeps the old snapshot after saveAsync crashes before writing the head", async () => {
    await store.saveAsync(older);
    const snapshot = { ...multiByte, meta: { ...multiByte.meta, index: 200, term: 4 } };
    // saveAsync writes the data chunks first and the head (lengths, meta, CRC) last: a crash
    // in between leaves zeros where the head goes, which must read as no snapshot at all.
    const whole = encodeSnapshotFile(snapshot);
    const dataBytes = Buffer.byteLength(snapshot.data as string);
    whole.fill(0, 0, whole.length - dataBytes);
    const temporary = `${newestFile()}.tmp`;
    fs.writeFileSync(temporary, whole);
    expect(store.latest()).to.deep.equal(older);
    expect(new FileSnapshotStore(dir).latest()).to.deep.equal(older);
    expect(fs.existsSync(temporary), "leftover .tmp cleaned on open").to.equal(false);
    fs.writeFileSync(temporary, whole);
    await store.saveAsync(snapshot); // Overwrites the leftover under the same name.
    expect(store.latest()).to.deep.equal(snapshot);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".tmp"))).to.deep.equal([]);
  });

  it("saveAsync refuses data over snapshotBytesMax in UTF-8 bytes, not code units", async () => {
    const small = new FileSnapshotStore(dir, { snapshotBytesMax: 40 });
    const data = "€".repeat(20); // 20 code units, 60 bytes.
    let refused: unknown = null;
    await small.saveAsync({ meta: { index: 1, term: 1, voters }, data })
      .catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(StorageError);
    expect((refused as Error).message).to.match(/60 bytes, more than snapshotBytesMax 40/);
    expect(() => small.save({ meta: { index: 1, term: 1, voters }, data }))
      .to.throw(StorageError, /60 bytes/);
    expect(small.latest()).to.equal(null);
  });
});
