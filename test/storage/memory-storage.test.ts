/**
 * MemoryStorage and MemorySnapshotStore: the storage contract suites, then the crash model the
 * simulator relies on. Method: a crash is taken with many seeds over the same pending writes,
 * and every outcome is checked against the rule — everything synced survives, then a prefix
 * of the pending writes in the order they were buffered (entries, then the hard state), with
 * the last write possibly torn away — and the outcomes must cover both extremes.
 */
import { expect } from "chai";
import { InvariantError, SeededRng } from "../../src/raft/index.js";
import { MemorySnapshotStore, MemoryStorage } from "../../src/storage/memory-storage.js";
import {
  contractEntryBytesMax,
  makeEntries,
  runDurableLogContract,
  runSnapshotStoreContract,
} from "./contract.js";

runDurableLogContract("MemoryStorage",
  () => new MemoryStorage({ entryBytesMax: contractEntryBytesMax }),
  (log) => (log as MemoryStorage).crash(new SeededRng(7)));

runSnapshotStoreContract("MemorySnapshotStore", () => new MemorySnapshotStore(),
  (store) => store);

describe("MemoryStorage crashes", () => {
  function storageWithPendingWrites(): MemoryStorage {
    const storage = new MemoryStorage();
    storage.append(makeEntries(1, 10, 1));
    storage.setHardState({ term: 1, vote: "n1", commit: 5 });
    storage.sync();
    storage.append(makeEntries(8, 15, 2)); // Truncates 8..10, then 8 writes.
    storage.setHardState({ term: 2, vote: "n2", commit: 12 });
    return storage;
  }

  it("keeps everything synced and a prefix of the pending writes, in order", () => {
    const lastIndexes = new Set<number>();
    let newHardStates = 0;
    for (let seed = 0; seed < 400; seed++) {
      const restarted = storageWithPendingWrites().crash(new SeededRng(seed));
      const lastIndex = restarted.lastIndex();
      lastIndexes.add(lastIndex);
      // Nothing kept from the batch leaves the synced log; any kept entry truncated it first.
      const batchKept = restarted.entries(8, 9)[0]!.term === 2;
      const expected = batchKept ? [...makeEntries(1, 7, 1), ...makeEntries(8, lastIndex, 2)]
        : makeEntries(1, 10, 1);
      expect(restarted.entries(1, lastIndex + 1), `seed ${seed}`).to.deep.equal(expected);
      const hardState = restarted.hardState();
      if (hardState.term === 2) {
        newHardStates++;
        // The hard state was buffered after every entry: it survives only with all of them.
        expect(lastIndex, `seed ${seed}`).to.equal(15);
      } else {
        expect(hardState).to.deep.equal({ term: 1, vote: "n1", commit: 5 });
      }
    }
    expect(lastIndexes).to.include(8).and.to.include(15);
    expect(lastIndexes.size).to.be.greaterThan(5);
    expect(newHardStates).to.be.greaterThan(0).and.lessThan(400);
  });

  it("loses nothing when everything was synced", () => {
    const storage = storageWithPendingWrites();
    storage.sync();
    const restarted = storage.crash(new SeededRng(1));
    expect(restarted.lastIndex()).to.equal(15);
    expect(restarted.hardState()).to.deep.equal({ term: 2, vote: "n2", commit: 12 });
  });

  it("replays a compaction or reset only if it survived, after the writes before it", () => {
    for (let seed = 0; seed < 100; seed++) {
      const storage = new MemoryStorage();
      storage.append(makeEntries(1, 10, 1));
      storage.sync();
      storage.compactTo(4);
      storage.append(makeEntries(11, 12, 1));
      storage.resetTo(20, 2);
      const restarted = storage.crash(new SeededRng(seed));
      const range = [restarted.firstIndex(), restarted.lastIndex()];
      expect([[1, 10], [5, 10], [5, 11], [5, 12], [21, 20]], `seed ${seed}`)
        .to.deep.include(range);
    }
  });

  it("refuses any use of the crashed store", () => {
    const storage = storageWithPendingWrites();
    storage.crash(new SeededRng(3));
    expect(() => storage.lastIndex()).to.throw(InvariantError);
    expect(() => storage.sync()).to.throw(InvariantError);
  });
});

describe("MemoryStorage damage (the simulator's flipped bit)", () => {
  function storedLog(): MemoryStorage {
    const storage = new MemoryStorage();
    storage.append(makeEntries(1, 10, 1));
    storage.sync();
    return storage.crash(new SeededRng(1));
  }

  it("finds a damaged record when the log is next checked, as a checksum would", () => {
    const disk = storedLog();
    expect(() => disk.verify()).not.to.throw();
    const before = disk.entries(4, 5)[0]!.data;
    expect(disk.damageEntry(4)).to.equal(true);
    expect(disk.entries(4, 5)[0]!.data).not.to.equal(before);
    expect(() => disk.verify()).to.throw(/checksum mismatch in entry 4/);
    // The damage is on the disk: a crash keeps it.
    expect(() => disk.crash(new SeededRng(2)).verify()).to.throw(/entry 4/);
  });

  it("forgets damage that a compaction dropped", () => {
    const disk = storedLog();
    disk.damageEntry(2);
    disk.compactTo(3);
    disk.sync();
    expect(() => disk.verify()).not.to.throw();
  });

  it("damages only what is on the disk", () => {
    const disk = storedLog();
    expect(disk.damageEntry(11)).to.equal(false);
    disk.append(makeEntries(11, 11, 1));
    expect(() => disk.damageEntry(11)).to.throw(InvariantError);
  });
});
