/**
 * The storage contract suites (STYLE.md §6): every DurableLog and every SnapshotStore runs the
 * same tests, so the simulator's MemoryStorage and the node's FileStorage cannot drift apart.
 * Method: each test opens a fresh store through the given factory and drives it through the
 * interface only. `reopen` models a restart: the store is dropped (a crash for MemoryStorage,
 * close() for FileStorage) and opened again, and must show everything that was synced. A final
 * randomized test runs a seeded sequence of appends, truncations, compactions, resets and
 * reopens against a plain array model.
 */
import { expect } from "chai";
import { InvariantError, SeededRng, type Entry, type HardState } from "../../src/raft/index.js";
import {
  StorageError,
  type DurableLog,
  type Snapshot,
  type SnapshotStore,
} from "../../src/storage/storage.js";

/** Factories must build stores that refuse entries with more data than this. */
export const contractEntryBytesMax = 4096;

/** Entries [indexFirst, indexLast] of `term`, with data that names them. */
export function makeEntries(indexFirst: number, indexLast: number, term: number,
  dataBytes = 16): Entry[] {
  const entries: Entry[] = [];
  for (let index = indexFirst; index <= indexLast; index++) {
    const data = `e${index}t${term}:`.padEnd(dataBytes, "x");
    entries.push({ index, term, kind: index % 7 === 0 ? "config" : "normal", data });
  }
  return entries;
}

export function runDurableLogContract(name: string, open: () => DurableLog,
  reopen?: (log: DurableLog) => DurableLog): void {
  describe(`DurableLog contract: ${name}`, () => {
    let log: DurableLog;
    beforeEach(() => {
      log = open();
    });
    afterEach(() => {
      try {
        log.close();
      } catch {
        // Already closed or crashed by the test.
      }
    });

    it("starts empty: firstIndex 1, lastIndex 0, the zero hard state", () => {
      expect(log.firstIndex()).to.equal(1);
      expect(log.lastIndex()).to.equal(0);
      expect(log.entries(1, 1)).to.deep.equal([]);
      expect(log.hardState()).to.deep.equal({ term: 0, vote: null, commit: 0 });
    });

    it("reads back appended entries in [indexLow, indexHigh)", () => {
      const entries = makeEntries(1, 5, 1);
      log.append(entries);
      expect(log.lastIndex()).to.equal(5);
      expect(log.entries(1, 6)).to.deep.equal(entries);
      expect(log.entries(2, 4)).to.deep.equal(entries.slice(1, 3));
      expect(log.entries(3, 3)).to.deep.equal([]);
    });

    it("throws StorageError for a range it does not hold", () => {
      log.append(makeEntries(1, 5, 1));
      expect(() => log.entries(1, 7)).to.throw(StorageError);
      expect(() => log.entries(0, 2)).to.throw(StorageError);
      expect(() => log.entries(4, 3)).to.throw(StorageError);
    });

    it("replaces the suffix from a truncating append's first index", () => {
      log.append(makeEntries(1, 5, 1));
      const replacement = makeEntries(3, 4, 2);
      log.append(replacement);
      expect(log.lastIndex()).to.equal(4);
      expect(log.entries(1, 5)).to.deep.equal([...makeEntries(1, 2, 1), ...replacement]);
    });

    it("treats an append that leaves a gap or lowers the term as a bug", () => {
      log.append(makeEntries(1, 3, 2));
      expect(() => log.append(makeEntries(5, 6, 2))).to.throw(InvariantError);
      expect(() => log.append(makeEntries(4, 4, 1))).to.throw(InvariantError);
      expect(log.lastIndex()).to.equal(3);
    });

    it("refuses an entry larger than its bound with StorageError, taking nothing", () => {
      log.append(makeEntries(1, 2, 1));
      const batch = [...makeEntries(3, 3, 1), ...makeEntries(4, 4, 1, contractEntryBytesMax + 1)];
      expect(() => log.append(batch)).to.throw(StorageError);
      expect(log.lastIndex()).to.equal(2);
      log.append(makeEntries(3, 3, 1, contractEntryBytesMax));
      expect(log.lastIndex()).to.equal(3);
    });

    it("round-trips the hard state", () => {
      const state: HardState = { term: 7, vote: "n2", commit: 3 };
      log.setHardState(state);
      expect(log.hardState()).to.deep.equal(state);
      log.setHardState({ term: 8, vote: null, commit: 3 });
      expect(log.hardState()).to.deep.equal({ term: 8, vote: null, commit: 3 });
    });

    it("treats a hard state that takes back a term, a vote or a commit as a bug", () => {
      log.setHardState({ term: 5, vote: "n2", commit: 4 });
      for (const [bad, reason] of [
        [{ term: 4, vote: null, commit: 4 }, /term 4 after term 5/],
        [{ term: 5, vote: "n3", commit: 4 }, /vote n3 after a vote for n2 in term 5/],
        [{ term: 5, vote: null, commit: 4 }, /vote null after a vote for n2/],
        [{ term: 6, vote: "n1", commit: 3 }, /commit 3 after commit 4/],
      ] as const) {
        expect(() => log.setHardState(bad), JSON.stringify(bad)).to.throw(InvariantError, reason);
      }
      expect(log.hardState()).to.deep.equal({ term: 5, vote: "n2", commit: 4 });
      // What Raft does write: the same vote again, a vote in a later term, a later commit.
      log.setHardState({ term: 5, vote: "n2", commit: 6 });
      log.setHardState({ term: 6, vote: null, commit: 6 });
      log.setHardState({ term: 6, vote: "n3", commit: 7 });
      expect(log.hardState()).to.deep.equal({ term: 6, vote: "n3", commit: 7 });
    });

    it("compacts a prefix; entries() on the compacted range throws StorageError", () => {
      log.append(makeEntries(1, 10, 1));
      log.compactTo(4);
      expect(log.firstIndex()).to.equal(5);
      expect(log.lastIndex()).to.equal(10);
      expect(log.entries(5, 11)).to.deep.equal(makeEntries(5, 10, 1));
      expect(() => log.entries(4, 6)).to.throw(StorageError);
      log.compactTo(2); // Already compacted: a no-op.
      expect(log.firstIndex()).to.equal(5);
    });

    it("compacting past the last index empties the log; appends continue after it", () => {
      log.append(makeEntries(1, 5, 1));
      log.compactTo(20);
      expect(log.firstIndex()).to.equal(21);
      expect(log.lastIndex()).to.equal(20);
      expect(() => log.append(makeEntries(15, 15, 1))).to.throw(InvariantError);
      log.append(makeEntries(21, 22, 3));
      expect(log.entries(21, 23)).to.deep.equal(makeEntries(21, 22, 3));
    });

    it("resetTo discards every entry and restarts the log after the index", () => {
      log.append(makeEntries(1, 10, 1));
      log.resetTo(6, 1);
      expect(log.firstIndex()).to.equal(7);
      expect(log.lastIndex()).to.equal(6);
      expect(() => log.entries(6, 7)).to.throw(StorageError);
      log.append(makeEntries(7, 8, 2));
      expect(log.entries(7, 9)).to.deep.equal(makeEntries(7, 8, 2));
      expect(() => log.resetTo(3, 1)).to.throw(InvariantError);
    });

    it("accepts sync() and syncAsync() with nothing buffered", async () => {
      log.sync();
      await log.syncAsync();
      expect(log.lastIndex()).to.equal(0);
    });

    if (reopen === undefined) return;
    runReopenContract(() => log, (next) => {
      log = next;
    }, reopen);
  });
}

function runReopenContract(current: () => DurableLog, replace: (log: DurableLog) => void,
  reopen: (log: DurableLog) => DurableLog): void {
  const restart = (): DurableLog => {
    const next = reopen(current());
    replace(next);
    return next;
  };

  it("after a restart, holds everything synced and at most the unsynced rest", () => {
    const state = { term: 3, vote: "n1", commit: 9 };
    current().append(makeEntries(1, 10, 3));
    current().setHardState(state);
    current().sync();
    current().append(makeEntries(11, 12, 3));
    const log = restart();
    expect(log.hardState()).to.deep.equal(state);
    expect(log.lastIndex()).to.be.within(10, 12);
    expect(log.entries(1, 11)).to.deep.equal(makeEntries(1, 10, 3));
  });

  it("after a restart, shows a synced truncating append, compaction and reset", () => {
    current().append(makeEntries(1, 10, 1));
    current().append(makeEntries(6, 8, 2));
    current().compactTo(3);
    current().sync();
    let log = restart();
    expect([log.firstIndex(), log.lastIndex()]).to.deep.equal([4, 8]);
    expect(log.entries(4, 9)).to.deep.equal([...makeEntries(4, 5, 1), ...makeEntries(6, 8, 2)]);
    log.resetTo(12, 2);
    log.append(makeEntries(13, 14, 3));
    log.sync();
    log = restart();
    expect([log.firstIndex(), log.lastIndex()]).to.deep.equal([13, 14]);
    expect(log.entries(13, 15)).to.deep.equal(makeEntries(13, 14, 3));
  });

  it("after a restart, holds what syncAsync() made durable", async () => {
    current().append(makeEntries(1, 3, 1));
    const first = current().syncAsync();
    current().append(makeEntries(4, 6, 1));
    current().setHardState({ term: 1, vote: null, commit: 6 });
    await Promise.all([first, current().syncAsync()]);
    const log = restart();
    expect(log.entries(1, 7)).to.deep.equal(makeEntries(1, 6, 1));
    expect(log.hardState().commit).to.equal(6);
  });

  it("matches an array model through a seeded run of writes, syncs and restarts", () => {
    const rng = new SeededRng(2024);
    const model = { entries: [] as Entry[], compacted: 0, term: 1, hardState: { term: 0,
      vote: null as string | null, commit: 0 } };
    let log = current();
    for (let step = 0; step < 300; step++) {
      applyRandomWrite(log, model, rng);
      if (rng.nextInt(4) !== 0) continue;
      log.sync();
      if (rng.nextInt(5) === 0) log = restart();
      expect(log.firstIndex(), `step ${step}`).to.equal(model.compacted + 1);
      expect(log.lastIndex(), `step ${step}`).to.equal(model.compacted + model.entries.length);
      expect(log.entries(log.firstIndex(), log.lastIndex() + 1)).to.deep.equal(model.entries);
      expect(log.hardState()).to.deep.equal(model.hardState);
    }
  });
}

interface Model {
  entries: Entry[];
  compacted: number;
  term: number;
  hardState: { term: number; vote: string | null; commit: number };
}

function applyRandomWrite(log: DurableLog, model: Model, rng: SeededRng): void {
  const lastIndex = model.compacted + model.entries.length;
  const choice = rng.nextInt(10);
  if (choice < 6) {
    // Append, truncating a random suffix a third of the time, in a possibly newer term.
    const truncate = model.entries.length > 0 && rng.nextInt(3) === 0;
    const indexFirst = truncate ? lastIndex - rng.nextInt(model.entries.length) : lastIndex + 1;
    if (rng.nextInt(3) === 0) model.term++;
    const batch = makeEntries(indexFirst, indexFirst + rng.nextInt(6), model.term,
      1 + rng.nextInt(40));
    log.append(batch);
    model.entries.length = indexFirst - model.compacted - 1;
    model.entries.push(...batch);
  } else if (choice < 8) {
    // As Raft writes it (assertHardStateFollows): a vote kept for its term, the commit never
    // falling.
    const voted = model.hardState.term === model.term ? model.hardState.vote : null;
    model.hardState = { term: model.term,
      vote: voted ?? (rng.nextInt(2) === 0 ? null : "n3"),
      commit: Math.max(model.hardState.commit, lastIndex) };
    log.setHardState(model.hardState);
  } else if (choice < 9) {
    const index = model.compacted + rng.nextInt(model.entries.length + 3);
    log.compactTo(index);
    if (index > model.compacted) {
      model.entries = model.entries.slice(Math.min(index - model.compacted,
        model.entries.length));
      model.compacted = index;
    }
  } else {
    const index = model.compacted + rng.nextInt(model.entries.length + 3);
    log.resetTo(index, model.term);
    model.entries = [];
    model.compacted = index;
  }
}

const voters = ["n1", "n2", "n3"];

export function runSnapshotStoreContract(name: string, open: () => SnapshotStore,
  reopen?: (store: SnapshotStore) => SnapshotStore): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let store: SnapshotStore;
    beforeEach(() => {
      store = open();
    });

    it("has no snapshot at first", () => {
      expect(store.latest()).to.equal(null);
    });

    it("returns the snapshot it saved, and a newer one replaces it", () => {
      const first: Snapshot = { meta: { index: 10, term: 2, voters }, data: "{\"stock\":1}" };
      store.save(first);
      expect(store.latest()).to.deep.equal(first);
      const second: Snapshot = { meta: { index: 20, term: 3, voters: ["n1"] }, data: "ünï ✓" };
      store.save(second);
      expect(store.latest()).to.deep.equal(second);
    });

    it("treats saving a snapshot older than the latest as a bug", () => {
      store.save({ meta: { index: 10, term: 2, voters }, data: "a" });
      expect(() => store.save({ meta: { index: 9, term: 2, voters }, data: "b" }))
        .to.throw(InvariantError);
    });

    it("round-trips large data", () => {
      const data = "0123456789".repeat(100_000);
      store.save({ meta: { index: 5, term: 1, voters }, data });
      expect(store.latest()!.data).to.equal(data);
    });

    if (reopen === undefined) return;
    it("keeps the latest snapshot across a restart", () => {
      const snapshot: Snapshot = { meta: { index: 30, term: 4, voters }, data: "state" };
      store.save({ meta: { index: 3, term: 1, voters }, data: "old" });
      store.save(snapshot);
      store = reopen(store);
      expect(store.latest()).to.deep.equal(snapshot);
    });
  });
}
