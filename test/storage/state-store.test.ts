/**
 * The StateStore implementations: both run the contract suite (state-store-contract.ts), and
 * each is tested where it differs. MemoryStateStore's crash(keep) must leave what a crash
 * would: the flushed state plus the first `keep` later writes, each whole. LmdbStateStore is
 * SIGKILLed for real: a child process (fixtures/state-store-writer.ts) writes forever and
 * prints what it has flushed; after a few prints the test kills it at once, reopens the store
 * and checks that the state is that of one whole write, at least as new as the last flushed
 * one, over several rounds that continue the same database. A value damaged on disk (one byte
 * flipped in data.mdb, found by its bytes) must be refused with an error naming the file, and
 * so must a folder that holds no LMDB database.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { LmdbStateStore } from "../../src/storage/lmdb-state-store.js";
import { MemoryStateStore } from "../../src/storage/memory-state-store.js";
import { StateStoreError } from "../../src/storage/state-store.js";
import { committedEntries, stateStoreContract } from "./state-store-contract.js";
import { runAndKillAfterLines, TempDirs } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

stateStoreContract("MemoryStateStore", {
  open: () => {
    const store = new MemoryStateStore();
    return {
      store,
      // Everything written survives a clean close: crash() keeping every write.
      reopen: async () => {
        await store.close();
        return store.crash(Number.MAX_SAFE_INTEGER);
      },
    };
  },
});

function openLmdb(dir: string, failAt?: number): { store: LmdbStateStore;
  reopen(): Promise<LmdbStateStore> } {
  let commits = 0;
  const commitFault = failAt === undefined ? undefined
    : () => (++commits >= failAt ? new Error("injected disk error") : undefined);
  const store = LmdbStateStore.open(dir, { commitFault });
  return {
    store,
    reopen: async () => {
      await store.close();
      return LmdbStateStore.open(dir);
    },
  };
}

stateStoreContract("LmdbStateStore", {
  open: () => openLmdb(dirs.make("raftmarket-state-")),
  openFailing: (failAt) => openLmdb(dirs.make("raftmarket-state-"), failAt),
});

describe("MemoryStateStore crash(keep)", () => {
  it("leaves the flushed state and the first `keep` later writes, each whole", async () => {
    for (let keep = 0; keep <= 4; keep++) {
      const store = new MemoryStateStore();
      store.write((writer) => writer.put("meta", "n", 1));
      await store.flushed();
      for (let n = 2; n <= 4; n++) {
        store.write((writer) => {
          if (n === 3) writer.clearAll();
          writer.put("meta", "n", n);
          writer.put("orders", n, n);
        });
      }
      expect(store.unflushedWrites()).to.equal(3);
      const crashed = store.crash(keep);
      const n = Math.min(1 + keep, 4);
      expect(crashed.get("meta", "n"), `keep ${keep}`).to.equal(n);
      // Write 3 cleared everything, so order 2 is there only between writes 2 and 3.
      expect(crashed.get("orders", 2)).to.equal(n === 2 ? 2 : undefined);
      expect(crashed.get("orders", 3)).to.equal(n >= 3 ? 3 : undefined);
      expect(crashed.get("orders", 4)).to.equal(n >= 4 ? 4 : undefined);
      expect(() => store.get("meta", "n"), "the crashed store is closed").to.throw(StateStoreError);
      await crashed.close();
    }
  });
});

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures",
  "state-store-writer.ts");
/** fixtures/state-store-writer.ts keeps items 0..(n % itemsCycle). */
const itemsCycle = 50;

/** Runs the writer until it has printed `flushesBeforeKill` flushes; the last one flushed. */
function runAndKill(dir: string, flushesBeforeKill: number, timeoutMs: number): Promise<number> {
  return runAndKillAfterLines(writer, [dir], flushesBeforeKill, timeoutMs);
}

describe("LmdbStateStore under SIGKILL", () => {
  it("reopens whole, with at least every flushed write", async function () {
    this.timeout(60_000);
    const dir = dirs.make("raftmarket-state-");
    let previous = 0;
    for (const [round, flushesBeforeKill] of [3, 7, 2, 11].entries()) {
      const flushed = await runAndKill(dir, flushesBeforeKill, 20_000);
      expect(flushed, `round ${round}`).to.be.above(previous);
      const store = LmdbStateStore.open(dir);
      const n = store.get("meta", "n") as number;
      expect(n, `round ${round}: n covers the last flushed write`).to.be.at.least(flushed);
      const items = await committedEntries(store, "items");
      const expected = Array.from({ length: (n % itemsCycle) + 1 }, (_, key) => [key, { n }]);
      expect(items, `round ${round}: the items of write ${n}, whole`).to.deep.equal(expected);
      await store.close();
      previous = n;
    }
  });
});

describe("LmdbStateStore on a damaged or foreign folder", () => {
  it("refuses a value with a flipped byte, naming the file, table and key", async () => {
    const dir = dirs.make("raftmarket-state-");
    const marker = "distinctive-value-7f3a9c";
    const store = LmdbStateStore.open(dir);
    store.write((writer) => {
      writer.put("orders", 41, { note: "a neighbour" });
      writer.put("orders", 42, { note: marker });
    });
    await store.close();
    const file = path.join(dir, "data.mdb");
    const bytes = fs.readFileSync(file);
    const needle = Buffer.from(marker);
    let flipped = 0;
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
      bytes[at + 5]! ^= 0x01;
      flipped++;
    }
    expect(flipped, "the value is in the file").to.be.at.least(1);
    fs.writeFileSync(file, bytes);

    const reopened = LmdbStateStore.open(dir);
    const pattern = new RegExp(`${file.replace(/[.\\/]/g, "\\$&")}.*orders.*42`);
    expect(() => reopened.get("orders", 42)).to.throw(StateStoreError, pattern);
    expect(reopened.get("orders", 41)).to.deep.equal({ note: "a neighbour" });
    const view = reopened.view();
    expect(() => [...view.range("orders")]).to.throw(StateStoreError, pattern);
    view.close();
    await reopened.close();
  });

  it("refuses a folder whose data.mdb is not an LMDB database, in one line", () => {
    const dir = dirs.make("raftmarket-state-");
    fs.writeFileSync(path.join(dir, "data.mdb"), Buffer.alloc(64 * 1024, 0x5a));
    expect(() => LmdbStateStore.open(dir)).to.throw(StateStoreError, /data\.mdb/)
      .with.property("message").that.does.not.include("\n");
  });

  it("refuses a path that is a file, not a folder", () => {
    const dir = dirs.make("raftmarket-state-");
    const file = path.join(dir, "not-a-folder");
    fs.writeFileSync(file, "x");
    expect(() => LmdbStateStore.open(file)).to.throw(StateStoreError, /not-a-folder/);
  });
});
