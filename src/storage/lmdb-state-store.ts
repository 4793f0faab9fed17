/**
 * The StateStore (state-store.ts) on LMDB, through lmdb-js: one environment in the store's
 * folder (data.mdb, lock.mdb), one named database per table of stateTables.
 *
 * Why asynchronous commits. A synchronous LMDB commit (transactionSync) fsyncs on the main
 * thread, about 0.5-0.65 ms per write here, which the Raft loop cannot spare; noSync is cheap
 * but a power loss can then leave the B-tree torn, which the contract forbids. lmdb-js's
 * asynchronous transactions commit on its own write thread with overlappingSync (its default
 * outside Windows). As strace shows here, each commit writes its pages and a meta page flagged
 * "not synced", then fdatasyncs, then writes the meta of the synced commit through LMDB's
 * O_DSYNC handle; on open after a reboot (another boot_id) LMDB passes over a meta flagged
 * "not synced" (mdb_pick_meta). So a killed process keeps every commit, and a power loss falls
 * back to a whole, synced, earlier one.
 *
 * Why an overlay. The contract makes a write() visible to get() as soon as write() returns, but
 * its LMDB transaction commits later. Each write() therefore builds a layer (per table, key ->
 * value or removal, and whether the write cleared everything) and queues one lmdb-js
 * transaction that applies exactly that layer. Reads go from the newest layer to the oldest,
 * then to the database; a cleared layer hides everything below it. A layer is dropped when its
 * commit resolves; lmdb-js resolves commits in order and resets its read transaction first,
 * so the database then shows what the layer showed.
 *
 * Why writes are grouped. Each LMDB commit costs an fsync on lmdb's thread, which competes with
 * the write-ahead log's own fsync on every loop pass. The log is the source of truth and the
 * database may lag it (state-store.ts), so, as etcd batches its bbolt commits, writes within
 * commitIntervalMs of each other share one layer and one commit: atomic together, as each
 * was alone. committed(), flushed() and close() commit the open layer at once.
 *
 * Why the environment can be opened again now and then, and why it is not by default. LMDB
 * reads pages through its map, and the kernel counts every mapped page as the node's resident
 * memory until the map goes. Orders are appended: each leaf page at the end of the table is
 * read while it fills and then never again, yet stays mapped, so a node's RSS grows by the
 * whole file (105 MiB at 1,000,000 orders; issue 10 bounds RSS at 250 MiB, which a node
 * without the reopen passes by up to 43 MiB there: the README, resident memory). With
 * remapEveryCommits set, every so many commits, when nothing is in flight (no commit queued or
 * unsynced, no view open), the store closes the environment and opens it again: the pages stay
 * in the page cache, and only those read again are mapped again. It runs in an event-loop turn
 * of its own (setImmediate) after lmdb-js's flush: close and open then complete within that
 * turn's microtasks (about 10 ms at a million orders), so no other code sees the store without
 * an environment; an invariant says so. It was on by default (every 200 commits) until
 * 2026-11-29, when lmdb-js's free-list failure (`Invalid null txn id`, `mdb_page_alloc error`,
 * a commit failing with MDB_NOTFOUND, the node stopping) was seen only with it on: in
 * `npm run bench -- dashboard` one node of the three stopped so in each of 4 runs with it, 83 to
 * about 220 s in, and in none of 3 runs of 390 s without it, nor in the 1,000,000-order memory
 * benchmark without it. Whether it causes the failure or only makes it likelier is not known
 * (the README's known problem). A node's RSS without it is in the README (`npm run bench --
 * memory`).
 *
 * Each layer's transaction is an LMDB child transaction (lmdb-js childTransaction): lmdb-js
 * puts several queued transactions into one LMDB commit (those queued when its write thread
 * starts, and those queued while it runs), and a write that failed halfway must not leave half
 * of itself in that commit. Once one write fails, the later ones apply nothing, so the database
 * holds exactly the writes before the failure. That holds too when LMDB fails a commit after its
 * transactions ran, which this thread hears of only after the next commit's transactions may
 * have run: each layer's commit is numbered, the number of the last one is stored beside the
 * tables (store-commits), and a transaction that does not find its predecessor's applies nothing
 * and fails the store.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ABORT, open, type Database, type RootDatabase } from "lmdb";
import { assert } from "../raft/index.js";
import {
  checkKey,
  StateStoreError,
  stateTables,
  type StateKey,
  type StateStore,
  type StateTable,
  type StateView,
  type StateWriter,
} from "./state-store.js";
import { decodeStateValue, encodeStateValue } from "./state-value-codec.js";

export interface LmdbStateStoreOptions {
  /** How long a write may wait for others to share its commit (default 50 ms). */
  readonly commitIntervalMs?: number;
  /** Changes in one layer before it is committed without waiting (default 20,000). */
  readonly layerChangesMax?: number;
  /**
   * Fault injection for tests: called as each write's transaction starts on the write path;
   * an Error it returns fails that commit as a disk error would.
   */
  readonly commitFault?: () => Error | undefined;
  /**
   * Fault injection for tests: when it returns true for a layer's commit number, that layer's
   * transaction is aborted as if LMDB had lost it, and the store is not told.
   */
  readonly loseCommit?: (sequence: number) => boolean;
  /**
   * Commits after which the environment is closed and opened again, once nothing is in flight,
   * to let go of the pages it mapped (default 0: never; the class comment says why).
   */
  readonly remapEveryCommits?: number;
}

/** remapEveryCommits when not given: never (the class comment says why). */
const remapEveryCommitsDefault = 0;

/** How long close() waits for lmdb-js's close after a failed commit (see close()). */
const closeAfterFailureWaitMs = 1000;

/** A value written but not yet committed; `bytes` is what the commit will store. */
interface PendingValue {
  readonly value: unknown;
  readonly bytes: Buffer;
}

/** The changes of one write(). A null change removes the key. */
interface Layer {
  readonly changes: Map<StateTable, Map<StateKey, PendingValue | null>>;
  /** clearAll() was called: nothing below this layer shows through. */
  cleared: boolean;
  /** Changes noted, for the bound on a layer's size. */
  changeCount: number;
}

/**
 * The address space reserved for the map, not memory: LMDB grows the file only as pages are
 * used. Reserved once so that the map never has to grow. lmdb-js grows a full map by mapping
 * the file again, and keeps the older, smaller maps for buffers it may have handed out; the
 * kernel counts a page once per map that touched it, so a node that had grown its database
 * from nothing showed 247 MiB of mapped pages for a 100 MiB file (200,000 orders), against
 * 98 MiB with one map (tmp experiment: /proc/self/smaps of a market applying 200,000 buys).
 */
const mapBytes = 2 ** 36;

type Table = Database<Buffer, StateKey>;
/** The number of the last layer committed (commitSequenceKey), beside the state tables. */
type CommitsTable = Database<number, string>;
const commitsTableName = "store-commits";
const commitSequenceKey = "last";
type ReadTransaction = ReturnType<RootDatabase["useReadTransaction"]>;

/**
 * getBinaryFast inside a given read transaction: lmdb-js takes the options (read.js) but its
 * typings leave them out. The bytes are valid until the next read, so decode them at once.
 */
function getBinaryFastIn(table: Table, key: StateKey, transaction: ReadTransaction):
  Buffer | undefined {
  const getFast = table.getBinaryFast as (key: StateKey,
    options: { transaction: ReadTransaction }) => Buffer | undefined;
  return getFast.call(table, key, { transaction });
}

export class LmdbStateStore implements StateStore {
  /** Names the database in errors: where a damaged value or a failed commit was found. */
  readonly file: string;
  /**
   * Writes not yet committed, oldest first. Invariant: in write() order; each but `open` is
   * queued for commit once; `open`, when not null, is the last.
   */
  private readonly layers: Layer[] = [];
  /** The layer later writes join until its commit is queued. */
  private open: Layer | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  /** Settles (never rejects) when the commit of the last write() called so far settles. */
  private lastCommit: Promise<void> = Promise.resolve();
  private failure: StateStoreError | null = null;
  private closed = false;
  /** Commits queued, and the last of them known synced: equal when lmdb-js has none in flight. */
  private commitsQueued = 0;
  private commitsFlushed = 0;
  /** Commits resolved since the environment was opened. */
  private commitsSinceOpen = 0;
  private viewsOpen = 0;
  private remapScheduled = false;
  /** Settles when a close-and-open in progress has ended; null when none is. */
  private remapping: Promise<void> | null = null;
  /** A close-and-open failed: the store has no environment, and every read says so. */
  private environmentLost = false;
  private remapCount = 0;

  /**
   * The number of the last layer given a commit: layer n's transaction checks that the
   * database holds layer n - 1 (applyLayer). From the database at open.
   */
  private commitSequence: number;
  private commits: CommitsTable;

  private constructor(
    private env: RootDatabase,
    private tables: ReadonlyMap<StateTable, Table>,
    private readonly dir: string,
    file: string,
    private readonly options: LmdbStateStoreOptions,
  ) {
    this.file = file;
    this.commits = openCommits(env);
    this.commitSequence = this.commits.get(commitSequenceKey) ?? 0;
    assert(Number.isSafeInteger(this.commitSequence) && this.commitSequence >= 0,
      `state store ${file}: stored commit number ${String(this.commitSequence)}`);
  }

  /** Opens (creating if need be) the store in `dir`. Throws StateStoreError if it cannot. */
  static open(dir: string, options: LmdbStateStoreOptions = {}): LmdbStateStore {
    // A negative count would reopen after every commit, a fraction after the next whole one.
    const remapEvery = options.remapEveryCommits ?? remapEveryCommitsDefault;
    assert(Number.isSafeInteger(remapEvery) && remapEvery >= 0,
      `remapEveryCommits must be a whole number of commits, 0 or more (got ${remapEvery})`);
    const file = path.join(dir, "data.mdb");
    let env: RootDatabase | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true });
      checkLmdbHeader(file);
      env = openEnvironment(dir);
      return new LmdbStateStore(env, openTables(env), dir, file, options);
    } catch (error) {
      closeQuietly(env);
      throw new StateStoreError(`cannot open state store ${file}: ${oneLine(error)}`);
    }
  }

  /** Times the environment was closed and opened again (remapEveryCommits). */
  get remaps(): number {
    return this.remapCount;
  }

  get(table: StateTable, key: StateKey): unknown {
    this.checkOpen();
    checkKey(key);
    return this.readLayers(this.layers.length, table, key);
  }

  write(body: (writer: StateWriter) => void): void {
    this.checkOpen();
    if (this.failure !== null) throw this.failure;
    const layer: Layer = { changes: new Map(), cleared: false, changeCount: 0 };
    const below = this.layers.length;
    const read = (table: StateTable, key: StateKey): unknown => {
      checkKey(key);
      const change = layer.changes.get(table)?.get(key);
      if (change !== undefined) return change?.value;
      return layer.cleared ? undefined : this.readLayers(below, table, key);
    };
    const note = (table: StateTable, key: StateKey, change: PendingValue | null): void => {
      checkKey(key);
      assert(this.tables.has(table), `unknown state table ${table}`);
      let changes = layer.changes.get(table);
      if (changes === undefined) layer.changes.set(table, changes = new Map());
      changes.set(key, change);
      layer.changeCount++;
    };
    body({
      get: read,
      // Encoding here, not at commit, so a value that cannot be encoded throws out of write()
      // with nothing queued.
      put: (table, key, value) => note(table, key, { value, bytes: encodeStateValue(table, key,
        value) }),
      remove: (table, key) => note(table, key, null),
      clearAll: () => {
        layer.changes.clear();
        layer.cleared = true;
      },
    });
    // Only a body that returned joins the open layer: one that threw leaves no trace.
    const open = this.open;
    if (open === null) {
      this.open = layer;
      this.layers.push(layer);
      this.commitTimer = setTimeout(() => this.commitOpen(), this.options.commitIntervalMs ?? 50);
    } else {
      mergeLayer(open, layer);
    }
    if (this.open!.changeCount >= (this.options.layerChangesMax ?? 20_000)) this.commitOpen();
  }

  /** Queues the open layer's commit. */
  private commitOpen(): void {
    const layer = this.open;
    // With no environment (a failed reopen), the layer stays: the failure is reported instead.
    if (layer === null || this.environmentLost) return;
    this.open = null;
    if (this.commitTimer !== null) clearTimeout(this.commitTimer);
    this.commitTimer = null;
    assert(this.remapping === null, "state store: a commit queued while the environment is closed");
    const sequence = this.commitSequence + 1;
    const commit = this.env.childTransaction(() => this.applyLayer(layer, sequence));
    this.commitSequence = sequence;
    this.commitsQueued++;
    // This commit's own batch: lmdb-js wrote its instructions just now, and `flushed` then
    // follows that batch's sync, which lmdb-js resolves once the batch's worker has returned.
    // (A later batch may report synced before an earlier batch's worker is done: counted per
    // commit, not by the latest.)
    void this.env.flushed.then(() => {
      this.commitsFlushed++;
      this.maybeRemap();
    }, () => { /* a failed sync fails a commit, which reports it */ });
    this.lastCommit = commit.then(() => this.dropCommitted(layer),
      (error: unknown) => this.noteCommitFailure(error));
  }

  /**
   * A commit rejected: the store has failed. LMDB's own cause goes to the failure reported,
   * which may be an earlier one: when LMDB fails a commit, the next commit's transactions can
   * run first and fail the store with "did not land" (applyLayer), and the cause belongs there.
   */
  private noteCommitFailure(error: unknown): void {
    const failure = this.failure ?? this.commitError(error);
    this.failure = failure;
    followCommitCause(error, (cause) => {
      if (!failure.message.includes(cause)) failure.message += ` (LMDB: ${cause})`;
    });
  }

  committed(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    this.commitOpen();
    return this.lastCommit.then(() => this.checkNotFailed());
  }

  failed(): Error | null {
    return this.failure;
  }

  async flushed(): Promise<void> {
    await this.committed();
    // lmdb-js's flushed covers every commit resolved so far: with overlappingSync, the commit
    // resolves when it is visible, and flushed when its pages and meta page are synced.
    await this.env.flushed;
    this.checkNotFailed();
  }

  pendingWrites(): number {
    return this.layers.length;
  }

  view(): StateView {
    this.checkOpen();
    assert(this.remapping === null, "state store: a view opened while the environment is closed");
    if (this.environmentLost) throw this.failure!;
    const transaction = this.env.useReadTransaction();
    this.viewsOpen++;
    let open = true;
    const check = (): void => {
      if (!open) throw new StateStoreError("state view is closed");
    };
    return {
      get: (table, key) => {
        check();
        checkKey(key);
        const bytes = getBinaryFastIn(this.table(table), key, transaction);
        return bytes === undefined ? undefined : this.decode(table, key, bytes);
      },
      range: (table, bounds = {}) => {
        check();
        if (bounds.start !== undefined) checkKey(bounds.start);
        if (bounds.end !== undefined) checkKey(bounds.end);
        return this.rangeEntries(table, { transaction, start: bounds.start, end: bounds.end },
          () => open);
      },
      close: () => {
        if (!open) return;
        open = false;
        transaction.done();
        this.viewsOpen--;
        this.maybeRemap();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitOpen();
    this.closed = true;
    // Every commit settles, a failed one too (lastCommit never rejects).
    await this.lastCommit;
    await this.remapping;
    if (this.environmentLost) return;
    const closing = this.env.close();
    if (this.failure === null) {
      await closing;
      return;
    }
    // After a failed commit, lmdb-js's close waits for flushes that never come (it settles its
    // flush promises on success only): bounded, so that stopping a failed node cannot hang.
    // The environment then stays mapped, its file open, until the process exits (a node stops
    // after a failure); opening the folder again in the same process works.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([closing.catch(() => undefined), new Promise((resolve) => {
        timer = setTimeout(resolve, closeAfterFailureWaitMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The value at `key` as the layers [0, layerCount) and the database show it. */
  private readLayers(layerCount: number, table: StateTable, key: StateKey): unknown {
    for (let index = layerCount - 1; index >= 0; index--) {
      const layer = this.layers[index]!;
      const change = layer.changes.get(table)?.get(key);
      if (change !== undefined) return change?.value;
      if (layer.cleared) return undefined;
    }
    assert(this.remapping === null, "state store: a read while the environment is closed");
    if (this.environmentLost) throw this.failure!;
    const bytes = this.table(table).getBinaryFast(key);
    return bytes === undefined ? undefined : this.decode(table, key, bytes);
  }

  /**
   * A view's range. Checked before each step, not after: once the view is closed, its
   * transaction may be gone (a reopen frees it), and lmdb-js's cursor must not touch it.
   */
  private *rangeEntries(table: StateTable,
    options: { transaction: ReadTransaction; start: StateKey | undefined;
      end: StateKey | undefined },
    isOpen: () => boolean): IterableIterator<{ readonly key: StateKey; readonly value: unknown }> {
    const entries = this.table(table).getRange(options)[Symbol.iterator]();
    let finished = false;
    try {
      for (;;) {
        if (!isOpen()) throw new StateStoreError("state view is closed");
        const next = entries.next();
        if (next.done === true) {
          finished = true;
          return;
        }
        yield { key: next.value.key, value: this.decode(table, next.value.key, next.value.value) };
      }
    } finally {
      // Stopped early: lmdb-js closes its cursor, while the view's transaction is still there.
      if (!finished && isOpen()) entries.return?.();
    }
  }

  /** Runs on the main thread inside lmdb-js's write transaction, when the write's turn comes. */
  private applyLayer(layer: Layer, sequence: number): typeof ABORT | undefined {
    // After a failed write, later writes must not commit: the database would skip one.
    if (this.failure !== null) throw this.failure;
    try {
      const fault = this.options.commitFault?.();
      if (fault !== undefined) throw fault;
      // The same rule when LMDB failed a commit after its transactions ran: lmdb-js's writer
      // lets the next commit's transactions run before this thread hears of the failure, and
      // without this check that next layer would commit on a database that lacks the failed one.
      const last = this.commits.get(commitSequenceKey) ?? 0;
      if (last !== sequence - 1) {
        throw new StateStoreError(`state store ${this.file}: commit ${sequence} found the ` +
          `database at commit ${last}, not ${sequence - 1}: an earlier commit did not land`);
      }
      if (this.options.loseCommit?.(sequence) === true) return ABORT;
      this.commits.putSync(commitSequenceKey, sequence);
      if (layer.cleared) for (const table of this.tables.values()) table.clearSync();
      for (const [name, changes] of layer.changes) {
        const table = this.table(name);
        for (const [key, change] of changes) {
          if (change === null) table.removeSync(key);
          else table.putSync(key, change.bytes);
        }
      }
      return undefined;
    } catch (error) {
      // Set now, not when the commit rejects: writes batched after this one run first.
      this.failure ??= this.commitError(error);
      throw error;
    }
  }

  private dropCommitted(layer: Layer): void {
    // lmdb-js resolves commits in queue order, so the committed layer is the oldest.
    assert(this.layers[0] === layer, "state store commits resolve in write() order");
    this.layers.shift();
    this.commitsSinceOpen++;
    this.maybeRemap();
  }

  /** Schedules a close-and-open when one is due; it happens only if nothing is in flight then. */
  private maybeRemap(): void {
    const every = this.options.remapEveryCommits ?? remapEveryCommitsDefault;
    if (every === 0 || this.commitsSinceOpen < every || this.remapScheduled
      || this.remapping !== null || !this.idle()) return;
    this.remapScheduled = true;
    // A turn of its own: it starts with no other code's microtasks queued, and close and open
    // complete within its own (the class comment).
    setImmediate(() => {
      this.remapScheduled = false;
      if (this.idle() && this.remapping === null) this.remap();
    });
  }

  /** Nothing for lmdb-js to do and nothing reading from it: every commit synced, no view. */
  private idle(): boolean {
    const queuedLayers = this.layers.length - (this.open === null ? 0 : 1);
    return !this.closed && this.failure === null && queuedLayers === 0 && this.viewsOpen === 0
      && this.commitsFlushed === this.commitsQueued;
  }

  private remap(): void {
    let closed: Promise<void>;
    try {
      closed = this.env.close();
    } catch (error) {
      closed = Promise.reject(error);
    }
    this.remapping = closed.then(() => {
      const env = openEnvironment(this.dir);
      try {
        this.tables = openTables(env);
        this.commits = openCommits(env);
      } catch (error) {
        closeQuietly(env);
        throw error;
      }
      this.env = env;
      this.commitsSinceOpen = 0;
      this.remapCount++;
    }).catch((error: unknown) => {
      // The database can no longer be read: as after a failed commit, every later write and
      // read says so, and the node stops.
      this.environmentLost = true;
      this.failure ??= new StateStoreError(`state store ${this.file}: cannot open it again: ` +
        oneLine(error));
    }).finally(() => {
      this.remapping = null;
    });
  }

  private decode(table: StateTable, key: StateKey, bytes: Uint8Array): unknown {
    const decoded = decodeStateValue(table, key, bytes);
    if (!decoded.ok) {
      throw new StateStoreError(`damaged state store ${this.file}: ${decoded.failure} in table `
        + `${table} at key ${JSON.stringify(key)}`);
    }
    return decoded.value;
  }

  private table(name: StateTable): Table {
    const table = this.tables.get(name);
    assert(table !== undefined, `unknown state table ${name}`);
    return table;
  }

  private commitError(error: unknown): StateStoreError {
    if (error instanceof StateStoreError) return error;
    return new StateStoreError(`state store ${this.file}: commit failed: ${oneLine(error)}`);
  }

  private checkNotFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): StateStoreError {
    return new StateStoreError(`state store ${this.file} is closed`);
  }
}

/**
 * lmdb-js rejects every write of a failed commit with a bare "Commit failed (see commitError
 * for details)", and then rejects that error's `commitError`, a promise no one else holds, with
 * LMDB's own error (MDB_NOTFOUND in a free-list bug, say). Left alone, that second rejection is
 * unhandled and crashes the node with lmdb-js's words; followed, it tells `report` the cause.
 */
export function followCommitCause(error: unknown, report: (cause: string) => void): void {
  const cause = typeof error === "object" && error !== null
    ? (error as { commitError?: unknown }).commitError : undefined;
  if (cause instanceof Promise) {
    cause.then(() => undefined, (inner: unknown) => report(oneLine(inner)))
      .catch(() => undefined);
  }
}

/**
 * Closes an environment that failed to open its tables, best effort: the open's own error is
 * the one reported, and a close that throws or rejects must neither replace it nor become an
 * unhandled rejection, which would crash the node with lmdb-js's words instead of ours.
 */
export function closeQuietly(env: RootDatabase | undefined): void {
  try {
    env?.close().catch(() => undefined);
  } catch {
    // Already reported by the caller's error.
  }
}

/**
 * eventTurnBatching off: with it on, lmdb-js opens a batch of its own at each event turn's
 * first write, whose promise nothing holds; when that commit fails, the promise is rejected
 * unhandled and crashes the node in lmdb-js's words ("Commit failed (see commitError for
 * details)") before the store reports its failure, which names the file and the cause. Off,
 * lmdb-js starts a commit at the next setImmediate (commitDelay 0), or at once when more than a
 * few writes wait, and writes queued while it runs join it: `npm run bench -- state-store`
 * read 59,600-62,400 writes/s off against 54,500-58,000 on.
 */
function openEnvironment(dir: string): RootDatabase {
  return open({ path: dir, mapSize: mapBytes, eventTurnBatching: false });
}

function openCommits(env: RootDatabase): CommitsTable {
  return env.openDB<number, string>(commitsTableName, {});
}

function openTables(env: RootDatabase): Map<StateTable, Table> {
  return new Map(stateTables.map((table) =>
    [table, env.openDB<Buffer, StateKey>(table, { encoding: "binary" })]));
}

/** Adds the changes of `later` (a write that returned) to `open`, as if written after them. */
function mergeLayer(open: Layer, later: Layer): void {
  if (later.cleared) {
    open.changes.clear();
    open.cleared = true;
    open.changeCount = 0;
  }
  for (const [table, changes] of later.changes) {
    let merged = open.changes.get(table);
    if (merged === undefined) open.changes.set(table, merged = new Map());
    for (const [key, change] of changes) merged.set(key, change);
  }
  open.changeCount += later.changeCount;
}

/**
 * LMDB's meta pages (pages 0 and 1) start, after the page header, with this number. The header
 * of the LMDB that lmdb-js 3 builds (mdb.master3) is 24 bytes, as read from files it wrote.
 */
const lmdbMagic = 0xbeefc0de;
const lmdbMetaMagicOffset = 24;
const lmdbPageBytesChoices = [4096, 8192, 16384, 32768, 65536];

/**
 * Refuses an existing data.mdb that has no LMDB meta page. lmdb-js 3.4.4 does not report such
 * a file: it crashes the process (SIGSEGV, seen here on a file of 0x5a bytes). A file with a
 * sound meta page but damaged pages beyond it is LMDB's to judge, and LMDB trusts its pages.
 */
function checkLmdbHeader(file: string): void {
  let handle: number;
  try {
    handle = fs.openSync(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // a new store
    throw error;
  }
  try {
    const fileBytes = fs.fstatSync(handle).size;
    if (fileBytes === 0) return; // LMDB initializes an empty file as a new database
    const header = Buffer.alloc(lmdbMetaMagicOffset + 4);
    const metaOffsets = [0, ...lmdbPageBytesChoices];
    const hasMeta = metaOffsets.some((offset) => {
      const bytesRead = fs.readSync(handle, header, 0, header.length, offset);
      return bytesRead === header.length
        && header.readUInt32LE(lmdbMetaMagicOffset) === lmdbMagic;
    });
    if (!hasMeta) throw new Error(`not an LMDB database (no meta page in ${fileBytes} bytes)`);
  } finally {
    fs.closeSync(handle);
  }
}

/** An error's message on one line, for a user-facing message with no stack. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, " ").trim();
}
