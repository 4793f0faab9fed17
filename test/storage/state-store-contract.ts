/**
 * The StateStore contract suite (STYLE.md §6): MemoryStateStore and LmdbStateStore run the same
 * tests, so the simulator's twin and the node's LMDB store cannot drift apart on what
 * state-store.ts promises. Method: each test opens a fresh store through the given factory and
 * drives it through the interface only. Several tests queue writes without awaiting them, so a
 * store that commits later (LMDB) is read while its writes are still pending; `reopen` closes
 * the store and opens what it left behind, as a restart would. Stores that can be made to fail
 * (a factory with openFailing) also show what a failed commit leaves.
 */
import { expect } from "chai";
import {
  compareKeys,
  StateStoreError,
  type StateKey,
  type StateStore,
  type StateTable,
  type StateView,
} from "../../src/storage/state-store.js";

export interface OpenedStateStore {
  readonly store: StateStore;
  /** Closes `store` and opens what it left behind, as a restart would. */
  reopen(): Promise<StateStore>;
}

export interface StateStoreFactory {
  /** A fresh, empty store. */
  open(): OpenedStateStore;
  /** A fresh store whose commits fail from the `failAt`-th write() on (1-based), if it can. */
  openFailing?(failAt: number): OpenedStateStore;
}

/** Every entry of `table`, in key order, as [key, value] pairs. */
export function entriesOf(view: StateView, table: StateTable,
  bounds?: { start?: StateKey; end?: StateKey }): [StateKey, unknown][] {
  return [...view.range(table, bounds)].map(({ key, value }) => [key, value]);
}

/** The committed state of `table` through a view that is closed again. */
export async function committedEntries(store: StateStore, table: StateTable):
  Promise<[StateKey, unknown][]> {
  await store.committed();
  const view = store.view();
  try {
    return entriesOf(view, table);
  } finally {
    view.close();
  }
}

export function stateStoreContract(name: string, factory: StateStoreFactory): void {
  describe(`StateStore contract: ${name}`, () => {
    let opened: OpenedStateStore;
    let store: StateStore;
    /** Every store a test opened, closed after it (closing twice is harmless). */
    const toClose: StateStore[] = [];
    const open = (): void => {
      opened = factory.open();
      store = opened.store;
      toClose.push(store);
    };
    const reopen = async (): Promise<StateStore> => {
      const reopened = await opened.reopen();
      toClose.push(reopened);
      return reopened;
    };
    beforeEach(open);
    afterEach(async () => {
      for (const each of toClose.splice(0)) await each.close();
    });

    it("shows a write to get() as soon as write() returns", () => {
      store.write((writer) => {
        writer.put("items", "sku-1", { stock: 3 });
        expect(writer.get("items", "sku-1")).to.deep.equal({ stock: 3 });
      });
      expect(store.get("items", "sku-1")).to.deep.equal({ stock: 3 });
      expect(store.get("items", "sku-2")).to.equal(undefined);
      expect(store.get("orders", "sku-1"), "tables are separate").to.equal(undefined);
    });

    it("keeps plain data as it was written", async () => {
      const values: unknown[] = [
        { nested: { list: [1, -2, 3.5, "x"], flag: true, none: null } },
        "ünïcødé 😀", 0, -1.25, 2 ** 53 - 1, true, false, null, [], {}, "",
        // Lone surrogates, which a command's text may hold: replicas that reopened must read
        // exactly what the others hold in memory.
        "x\uD800", { name: "\uDC00y\uD83D" },
      ];
      store.write((writer) => values.forEach((value, index) => writer.put("items", index, value)));
      const reopened = await reopen();
      values.forEach((value, index) => {
        expect(reopened.get("items", index), `value ${index}`).to.deep.equal(value);
      });
    });

    it("applies nothing of a write whose body throws", async () => {
      store.write((writer) => writer.put("items", "kept", 1));
      const pending = store.pendingWrites();
      expect(() => store.write((writer) => {
        writer.put("items", "lost", 2);
        writer.remove("items", "kept");
        writer.clearAll();
        writer.put("orders", 1, "lost too");
        throw new Error("body failed");
      })).to.throw("body failed");
      expect(store.pendingWrites(), "nothing queued").to.equal(pending);
      expect(store.get("items", "kept")).to.equal(1);
      expect(store.get("items", "lost")).to.equal(undefined);
      expect(store.get("orders", 1)).to.equal(undefined);
      const reopened = await reopen();
      expect(reopened.get("items", "kept")).to.equal(1);
      expect(reopened.get("items", "lost")).to.equal(undefined);
      expect(reopened.get("orders", 1)).to.equal(undefined);
    });

    it("removes a key, and removing an absent key does nothing", async () => {
      store.write((writer) => {
        writer.put("orders", 1, "a");
        writer.put("orders", 2, "b");
      });
      store.write((writer) => {
        writer.remove("orders", 1);
        writer.remove("orders", 99);
        expect(writer.get("orders", 1)).to.equal(undefined);
      });
      expect(store.get("orders", 1)).to.equal(undefined);
      expect(await committedEntries(store, "orders")).to.deep.equal([[2, "b"]]);
    });

    it("clearAll empties every table and forgets the write's earlier changes", async () => {
      store.write((writer) => {
        writer.put("items", "old", 1);
        writer.put("sessions", "s", 2);
      });
      store.write((writer) => {
        writer.put("items", "before-clear", 3);
        writer.remove("items", "old");
        writer.clearAll();
        expect(writer.get("items", "old")).to.equal(undefined);
        expect(writer.get("items", "before-clear")).to.equal(undefined);
        writer.put("meta", "applied", 10);
      });
      expect(store.get("items", "old")).to.equal(undefined);
      expect(store.get("items", "before-clear")).to.equal(undefined);
      expect(store.get("sessions", "s")).to.equal(undefined);
      expect(store.get("meta", "applied")).to.equal(10);
      expect(await committedEntries(store, "items")).to.deep.equal([]);
      const reopened = await reopen();
      expect(reopened.get("sessions", "s")).to.equal(undefined);
      expect(reopened.get("meta", "applied")).to.equal(10);
    });

    it("reads its own writes across many writes not yet committed", async () => {
      const writeCount = 60;
      for (let index = 1; index <= writeCount; index++) {
        store.write((writer) => {
          const count = (writer.get("meta", "count") as number | undefined) ?? 0;
          expect(count, "each write sees every earlier one").to.equal(index - 1);
          if (index === 30) writer.clearAll();
          writer.put("meta", "count", count + 1);
          writer.put("orders", index, { index });
          if (index % 3 === 0) writer.remove("orders", index - 1);
        });
      }
      expect(store.pendingWrites()).to.be.within(0, writeCount);
      expect(store.get("meta", "count")).to.equal(writeCount);
      expect(store.get("orders", 29), "cleared by write 30").to.equal(undefined);
      expect(store.get("orders", 31)).to.deep.equal({ index: 31 });
      expect(store.get("orders", 32), "removed by write 33").to.equal(undefined);
      await store.committed();
      expect(store.pendingWrites()).to.equal(0);
      expect(store.get("meta", "count"), "still there once committed").to.equal(writeCount);
      expect(store.get("orders", 29)).to.equal(undefined);
      const keys = (await committedEntries(store, "orders")).map(([key]) => key);
      expect(keys[0]).to.equal(30);
      expect(keys).to.have.length(writeCount - 30 + 1 - 10);
    });

    it("shows committed writes to a view taken after committed()", async () => {
      store.write((writer) => writer.put("items", "a", 1));
      store.write((writer) => writer.put("items", "b", 2));
      await store.committed();
      const view = store.view();
      expect(view.get("items", "a")).to.equal(1);
      expect(entriesOf(view, "items")).to.deep.equal([["a", 1], ["b", 2]]);
      view.close();
      expect(() => view.get("items", "a")).to.throw(StateStoreError);
    });

    it("keeps a view unchanged while later writes commit (MVCC)", async () => {
      store.write((writer) => {
        writer.put("items", "a", 1);
        writer.put("items", "b", 2);
      });
      await store.committed();
      const view = store.view();
      store.write((writer) => {
        writer.put("items", "a", 10);
        writer.remove("items", "b");
        writer.put("items", "c", 3);
      });
      store.write((writer) => writer.clearAll());
      store.write((writer) => writer.put("items", "d", 4));
      await store.committed();
      expect(view.get("items", "a")).to.equal(1);
      expect(entriesOf(view, "items")).to.deep.equal([["a", 1], ["b", 2]]);
      expect(await committedEntries(store, "items")).to.deep.equal([["d", 4]]);
      view.close();
    });

    it("keeps each of several views as it was taken, whichever closes first", async () => {
      store.write((writer) => writer.put("items", "a", 1));
      await store.committed();
      const first = store.view();
      const closedAtOnce = store.view();
      closedAtOnce.close();
      store.write((writer) => writer.put("items", "a", 2));
      await store.committed();
      const second = store.view();
      first.close();
      store.write((writer) => writer.put("items", "a", 3));
      await store.committed();
      expect(second.get("items", "a")).to.equal(2);
      expect(entriesOf(second, "items")).to.deep.equal([["a", 2]]);
      second.close();
      expect(await committedEntries(store, "items")).to.deep.equal([["a", 3]]);
    });

    it("ranges over number keys in numeric order", async () => {
      const keys = [100, 2, 10, 1, 0, 2 ** 40, 99];
      store.write((writer) => keys.forEach((key) => writer.put("orders", key, key)));
      const sorted = [...keys].sort((a, b) => a - b);
      expect((await committedEntries(store, "orders")).map(([key]) => key)).to.deep.equal(sorted);
    });

    it("ranges over string keys in UTF-8 byte order", async () => {
      // U+FFFD sorts before U+1F600 by UTF-8 bytes but after it by UTF-16 code units.
      const keys = ["b", "a", "ab", "A", "é", "z", "\uFFFD", "😀", "a\u0001", "10", "9"];
      store.write((writer) => keys.forEach((key) => writer.put("sessions", key, key)));
      const sorted = [...keys].sort(compareKeys);
      expect(sorted.indexOf("\uFFFD")).to.be.below(sorted.indexOf("😀"));
      expect((await committedEntries(store, "sessions")).map(([key]) => key))
        .to.deep.equal(sorted);
    });

    it("ranges from start (included) to end (excluded), lazily", async () => {
      store.write((writer) => {
        for (let key = 1; key <= 100; key++) writer.put("orders", key, key * 2);
        for (const key of ["a", "b", "c", "d"]) writer.put("sessions", key, key);
      });
      await store.committed();
      const view = store.view();
      const keysOf = (table: StateTable, bounds: { start?: StateKey; end?: StateKey }) =>
        entriesOf(view, table, bounds).map(([key]) => key);
      expect(keysOf("orders", { start: 10, end: 14 })).to.deep.equal([10, 11, 12, 13]);
      expect(keysOf("orders", { start: 98 })).to.deep.equal([98, 99, 100]);
      expect(keysOf("orders", { end: 3 })).to.deep.equal([1, 2]);
      expect(keysOf("orders", { start: 50, end: 50 })).to.deep.equal([]);
      expect(keysOf("sessions", { start: "b", end: "d" })).to.deep.equal(["b", "c"]);
      expect(keysOf("sessions", { start: "bb" })).to.deep.equal(["c", "d"]);
      const iterator = view.range("orders");
      expect(iterator.next().value).to.deep.equal({ key: 1, value: 2 });
      expect(iterator.next().value).to.deep.equal({ key: 2, value: 4 });
      iterator.return?.();
      view.close();
    });

    it("keeps every table across close and reopen", async () => {
      store.write((writer) => {
        writer.put("meta", "applied", 7);
        writer.put("items", "sku", { stock: 5 });
        writer.put("orders", 3, { sku: "sku" });
        writer.put("sessions", "client", { seq: 2 });
        writer.put("sessionQueue", 1, "client");
      });
      store.write((writer) => writer.remove("orders", 3));
      const reopened = await reopen();
      expect(reopened.get("meta", "applied")).to.equal(7);
      expect(reopened.get("items", "sku")).to.deep.equal({ stock: 5 });
      expect(reopened.get("orders", 3)).to.equal(undefined);
      expect(reopened.get("sessions", "client")).to.deep.equal({ seq: 2 });
      expect(reopened.get("sessionQueue", 1)).to.equal("client");
      expect(reopened.pendingWrites()).to.equal(0);
    });

    it("refuses keys the contract does not allow", () => {
      for (const key of [-1, 1.5, Number.NaN, "", "x".repeat(501)]) {
        expect(() => store.write((writer) => writer.put("items", key, 1)), String(key))
          .to.throw(StateStoreError);
        expect(() => store.write((writer) => writer.remove("items", key)), String(key))
          .to.throw(StateStoreError);
      }
      expect(store.pendingWrites()).to.equal(0);
    });

    it("throws and rejects after close()", async () => {
      store.write((writer) => writer.put("items", "a", 1));
      await store.close();
      expect(() => store.get("items", "a")).to.throw(StateStoreError);
      expect(() => store.write((writer) => writer.put("items", "b", 2))).to.throw(StateStoreError);
      expect(() => store.view()).to.throw(StateStoreError);
      await expectRejection(store.committed());
      await expectRejection(store.flushed());
    });

    if (factory.openFailing !== undefined) {
      const openFailing = factory.openFailing;
      it("after a failed commit, rejects committed() and flushed(), refuses writes", async () => {
        opened = openFailing(3);
        store = opened.store;
        toClose.push(store);
        store.write((writer) => writer.put("orders", 1, "one"));
        await store.committed();
        // Writes that share a commit (within the commit interval) commit together.
        store.write((writer) => writer.put("orders", 2, "two"));
        store.write((writer) => writer.put("orders", 3, "three"));
        await store.committed();
        // Three commits queued in one event turn: the third attempt fails, so the next must
        // not commit either.
        store.write((writer) => writer.put("orders", 4, "four"));
        void store.committed().catch(() => {});
        store.write((writer) => writer.put("orders", 5, "five"));
        const error = await expectRejection(store.committed());
        expect(store.failed()?.message).to.equal(error.message);
        expect((await expectRejection(store.flushed())).message).to.equal(error.message);
        expect(() => store.write((writer) => writer.put("orders", 6, "six")))
          .to.throw(StateStoreError, error.message);
        const reopened = await reopen();
        const view = reopened.view();
        expect(entriesOf(view, "orders"), "the writes before the failure, whole")
          .to.deep.equal([[1, "one"], [2, "two"], [3, "three"]]);
        view.close();
      });
    }
  });
}

async function expectRejection(promise: Promise<unknown>): Promise<StateStoreError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(StateStoreError);
    return error as StateStoreError;
  }
  throw new Error("expected a rejection");
}
