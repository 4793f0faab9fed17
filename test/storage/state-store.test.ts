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
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { closeQuietly, followCommitCause, LmdbStateStore } from "../../src/storage/lmdb-state-store.js";
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

function openLmdb(dir: string, failAt?: number, remapEveryCommits?: number): {
  store: LmdbStateStore; reopen(): Promise<LmdbStateStore> } {
  let commits = 0;
  const commitFault = failAt === undefined ? undefined
    : () => (++commits >= failAt ? new Error("injected disk error") : undefined);
  const store = LmdbStateStore.open(dir, { commitFault, remapEveryCommits });
  return {
    store,
    reopen: async () => {
      await store.close();
      return LmdbStateStore.open(dir, { remapEveryCommits });
    },
  };
}

stateStoreContract("LmdbStateStore", {
  open: () => openLmdb(dirs.make("raftmarket-state-")),
  openFailing: (failAt) => openLmdb(dirs.make("raftmarket-state-"), failAt),
});

// The environment closed and opened again after every commit, whenever it is idle: the
// contract holds across it, whatever the test does between and around commits.
stateStoreContract("LmdbStateStore, environment reopened after every commit", {
  open: () => openLmdb(dirs.make("raftmarket-state-"), undefined, 1),
  openFailing: (failAt) => openLmdb(dirs.make("raftmarket-state-"), failAt, 1),
});

describe("LmdbStateStore reopens its environment", () => {
  /** Turns of the event loop until `done()` holds, at most `turnsMax`. */
  async function turnsUntil(done: () => boolean, turnsMax = 2000): Promise<void> {
    for (let turn = 0; turn < turnsMax && !done(); turn++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  it("refuses a count of commits that is negative or not whole", () => {
    for (const remapEveryCommits of [-1, 2.5, Number.NaN]) {
      expect(() => LmdbStateStore.open(dirs.make("raftmarket-state-"), { remapEveryCommits }))
        .to.throw(/remapEveryCommits must be a whole number of commits/);
    }
  });

  it("not by default, however many commits (the class comment says why)", async () => {
    const store = LmdbStateStore.open(dirs.make("raftmarket-state-"), { commitIntervalMs: 0 });
    try {
      // 201 commits, each flushed, then idle turns: the old default (200) would have reopened.
      for (let n = 1; n <= 201; n++) {
        store.write((writer) => writer.put("orders", n, { n }));
        await store.flushed();
      }
      await turnsUntil(() => false, 20);
      expect(store.remaps).to.equal(0);
      expect(store.get("orders", 201)).to.deep.equal({ n: 201 });
    } finally {
      await store.close();
    }
  });

  it("every remapEveryCommits commits once idle, within one turn, reads and writes going on",
    async () => {
      const dir = dirs.make("raftmarket-state-");
      const store = LmdbStateStore.open(dir, { remapEveryCommits: 3, commitIntervalMs: 0 });
      try {
        for (let n = 1; n <= 2; n++) {
          store.write((writer) => writer.put("orders", n, { n }));
          await store.flushed();
        }
        await turnsUntil(() => false, 20);
        expect(store.remaps, "not before 3 commits").to.equal(0);
        // A view holds the environment: the reopen waits for it to close.
        const view = store.view();
        store.write((writer) => writer.put("orders", 3, { n: 3 }));
        await store.flushed();
        await turnsUntil(() => store.remaps > 0, 50);
        expect(store.remaps, "not while a view is open").to.equal(0);
        expect([...view.range("orders")].map(({ key }) => key)).to.deep.equal([1, 2]);
        view.close();
        // Whatever turn the reopen runs in, it has ended by the next one.
        let sawRemapping = false;
        const probe = setInterval(() => {
          sawRemapping ||= (store as unknown as { remapping: unknown }).remapping !== null;
        }, 0);
        await turnsUntil(() => store.remaps > 0);
        clearInterval(probe);
        expect(store.remaps).to.equal(1);
        expect(sawRemapping, "a reopen seen unfinished between turns").to.equal(false);
        for (let n = 1; n <= 3; n++) expect(store.get("orders", n)).to.deep.equal({ n });
        store.write((writer) => writer.put("orders", 4, { n: 4 }));
        await store.flushed();
        const after = store.view();
        expect([...after.range("orders")].map(({ key }) => key)).to.deep.equal([1, 2, 3, 4]);
        after.close();
      } finally {
        await store.close();
      }
      const reopened = LmdbStateStore.open(dir);
      expect(reopened.get("orders", 4)).to.deep.equal({ n: 4 });
      await reopened.close();
    });

  it("refuses the next step of a range whose view closed, also after a reopen", async () => {
    const store = LmdbStateStore.open(dirs.make("raftmarket-state-"),
      { remapEveryCommits: 1, commitIntervalMs: 0 });
    try {
      store.write((writer) => {
        for (let n = 1; n <= 3; n++) writer.put("orders", n, { n });
      });
      await store.flushed();
      await turnsUntil(() => store.remaps > 0);
      const view = store.view();
      const range = view.range("orders");
      expect(range.next().value).to.deep.equal({ key: 1, value: { n: 1 } });
      view.close();
      store.write((writer) => writer.put("orders", 4, { n: 4 }));
      await store.flushed();
      await turnsUntil(() => store.remaps > 1);
      expect(store.remaps).to.equal(2);
      expect(() => range.next()).to.throw(StateStoreError, /state view is closed/);
      expect(store.get("orders", 4)).to.deep.equal({ n: 4 });
    } finally {
      await store.close();
    }
  });
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

/**
 * The unhandled rejections while `body` runs and two turns of the event loop after it (Node
 * reports one once the microtasks have run).
 */
async function unhandledRejectionsDuring(body: () => void): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on("unhandledRejection", onUnhandled);
  try {
    body();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  return unhandled;
}

describe("closeQuietly (an environment that failed to open its tables)", () => {
  // The open's own error is the one to report: a close that rejects or throws must neither
  // replace it nor surface later as an unhandled rejection (which crashes a node).
  it("swallows a close that rejects, so no unhandled rejection follows", async () => {
    const unhandled = await unhandledRejectionsDuring(() => {
      const env = { close: () => Promise.reject(new Error("close failed")) };
      closeQuietly(env as unknown as Parameters<typeof closeQuietly>[0]);
    });
    expect(unhandled).to.deep.equal([]);
  });

  it("swallows a close that throws, and accepts no environment at all", () => {
    const env = { close: () => { throw new Error("close threw"); } };
    expect(() => closeQuietly(env as unknown as Parameters<typeof closeQuietly>[0])).to.not.throw();
    expect(() => closeQuietly(undefined)).to.not.throw();
  });
});

describe("followCommitCause (lmdb-js's commitError of a failed commit)", () => {
  it("reports LMDB's own error, and leaves no unhandled rejection behind", async () => {
    const reported: string[] = [];
    const unhandled = await unhandledRejectionsDuring(() => {
      // As lmdb-js does: the bare error first, its commitError rejected afterwards.
      let rejectCause: (error: Error) => void = () => undefined;
      const error = Object.assign(new Error("Commit failed (see commitError for details)"), {
        commitError: new Promise((_resolve, reject) => {
          rejectCause = reject;
        }),
      });
      followCommitCause(error, (cause) => reported.push(cause));
      rejectCause(new Error("MDB_NOTFOUND: No matching key/data pair found"));
    });
    expect(unhandled).to.deep.equal([]);
    expect(reported).to.have.length(1);
    expect(reported[0]).to.match(/MDB_NOTFOUND/);
  });

  it("does nothing for an error without a commitError", () => {
    const reported: string[] = [];
    followCommitCause(new Error("plain"), (cause) => reported.push(cause));
    followCommitCause(null, (cause) => reported.push(cause));
    followCommitCause("text", (cause) => reported.push(cause));
    expect(reported).to.deep.equal([]);
  });
});

describe("LmdbStateStore when a commit fails (a file-size limit: ulimit -f)", () => {
  it("reports the failure naming the file and LMDB's cause, leaves no unhandled rejection, and closes", async function () {
    this.timeout(60_000);
    const dir = dirs.make("raftmarket-state-");
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures",
      "state-store-full-disk.ts");
    // 4 MiB: LMDB's file grows past it within a few thousand 1 KB writes, and its commit fails.
    const { stdout, stderr, code } = await new Promise<
      { stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      const child = spawn("bash", ["-c", 'ulimit -f 4096 && exec "$0" --import tsx "$1" "$2"',
        process.execPath, script, dir], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
      child.on("error", reject);
      child.on("exit", (exitCode) => {
        clearTimeout(timer);
        resolve({ stdout: out, stderr: err, code: exitCode });
      });
    });
    expect(code, `${stdout}\n${stderr}`).to.equal(0);
    const report = JSON.parse(stdout.trim()) as
      { failure: string | null; unhandled: string[]; closed: boolean };
    expect(report.failure, stderr).to.include(path.join(dir, "data.mdb"));
    expect(report.failure).to.match(/\(LMDB: .+\)/);
    expect(report.unhandled).to.deep.equal([]);
    expect(report.closed).to.equal(true);
  });
});

describe("LmdbStateStore when a commit is lost without a word (loseCommit)", () => {
  it("stops at a layer lost in the middle of one LMDB commit: the later layers land nowhere",
    async () => {
      const dir = dirs.make("raftmarket-state-");
      // One change a layer: each write() is committed as a layer of its own, all in one turn.
      const store = LmdbStateStore.open(dir, { layerChangesMax: 1, loseCommit: (n) => n === 3 });
      for (let n = 1; n <= 5; n++) store.write((writer) => writer.put("orders", n, { n }));
      await store.committed().catch(() => undefined);
      expect(store.failed()?.message).to.match(/commit 4 found the database at commit 2, not 3/);
      await store.close();
      const reopened = LmdbStateStore.open(dir);
      try {
        expect(await committedEntries(reopened, "orders")).to.deep.equal([[1, { n: 1 }],
          [2, { n: 2 }]]);
      } finally {
        await reopened.close();
      }
    });

  it("adds LMDB's cause to the failure already reported (the next commit may report first)",
    async () => {
      const dir = dirs.make("raftmarket-state-");
      const store = LmdbStateStore.open(dir, { commitIntervalMs: 0, loseCommit: (n) => n === 1 });
      store.write((writer) => writer.put("orders", 1, { n: 1 }));
      await store.committed();
      store.write((writer) => writer.put("orders", 2, { n: 2 }));
      await store.committed().catch(() => undefined);
      const reported = store.failed();
      expect(reported?.message).to.match(/commit 2 found the database at commit 0/);
      // Then lmdb-js's rejection of the failed commit arrives, its cause after it.
      const lmdbError = Object.assign(new Error("Commit failed (see commitError for details)"),
        { commitError: Promise.reject(new Error("MDB_NOTFOUND: No matching key/data pair")) });
      (store as unknown as { noteCommitFailure(error: unknown): void }).noteCommitFailure(lmdbError);
      await new Promise((resolve) => setImmediate(resolve));
      expect(store.failed()).to.equal(reported);
      expect(reported?.message).to.match(/did not land \(LMDB: MDB_NOTFOUND/);
      await store.close();
    });

  it("fails the next commit, which finds the database a commit short, and never skips a write", async () => {
    const dir = dirs.make("raftmarket-state-");
    const store = LmdbStateStore.open(dir, { commitIntervalMs: 0, loseCommit: (n) => n === 2 });
    store.write((writer) => writer.put("orders", 1, { n: 1 }));
    await store.flushed();
    // Commit 2 is aborted inside LMDB, and lmdb-js reports it as done: the store cannot tell.
    store.write((writer) => writer.put("orders", 2, { n: 2 }));
    await store.committed();
    expect(store.failed()).to.equal(null);
    // Commit 3 finds the database at commit 1, so it must not land on it.
    store.write((writer) => writer.put("orders", 3, { n: 3 }));
    let thrown: unknown = null;
    await store.committed().catch((error: unknown) => {
      thrown = error;
    });
    expect(thrown).to.be.instanceOf(StateStoreError);
    expect(store.failed()?.message).to.match(/commit 3 found the database at commit 1, not 2/)
      .and.to.include(path.join(dir, "data.mdb"));
    await store.close();
    const reopened = LmdbStateStore.open(dir);
    try {
      expect(await committedEntries(reopened, "orders")).to.deep.equal([[1, { n: 1 }]]);
      // The numbering goes on from what the database holds.
      reopened.write((writer) => writer.put("orders", 4, { n: 4 }));
      await reopened.flushed();
      expect(reopened.failed()).to.equal(null);
    } finally {
      await reopened.close();
    }
  });
});
