/**
 * The marketplace state machine: every replica applies the same committed commands at the same
 * log indexes and so reaches the same state and returns the same results (DESIGN.md §1).
 * Nothing here reads a clock or a random source: the only time is the leader's `timeMs`
 * inside each command, and it serves only to expire sessions.
 *
 * The records live in a StateStore (storage/state-store.ts): LMDB on a node, the in-memory twin
 * in tests. The heap holds the items (a mirror kept in sku order, for searches) and a few
 * counters; orders and sessions are read from the store when needed. Tables:
 *
 *   meta          "market" -> MarketMeta (applied index, clock, counts, digest, config);
 *                 "raft" -> whatever the driver stores with the same transaction
 *   items         sku -> Item
 *   orders        log index -> Order (every order ever placed)
 *   sessions      sequence number -> Session (without its requestId: stored-records.ts)
 *   sessionQueue  sequence number -> requestId, oldest first: expiry and eviction take the head
 *
 * and, in the heap, a SessionIndex from requestId to sequence (session-index.ts says why the
 * sessions are keyed by sequence), rebuilt from sessionQueue when a market opens.
 *
 * applyBatch() is the one way state changes: all its entries in one store write, so the store
 * holds the state after a whole batch or before it, and its appliedIndex says which. Each
 * command:
 *   1. is validated again (a log entry is input too); an invalid one is rejected and changes
 *      nothing but appliedIndex;
 *   2. advances the log clock to max(clock, timeMs) and expires sessions by it;
 *   3. answers a known requestId from the session table (or with requestIdConflict);
 *   4. otherwise executes, and its result, success or rejection, is recorded.
 */
import { assert, assertNever, InvariantError } from "./assert.js";
import { canonicalJson, sha256Hex } from "./canonical.js";
import { Catalogue, type SearchQuery } from "./catalogue.js";
import type {
  AddStockCommand,
  BuyCommand,
  CancelCommand,
  CreateItemCommand,
  MarketCommand,
  MarketResult,
} from "./commands.js";
import { defaultMarketConfig, validateMarketConfig, type MarketConfig } from "./config.js";
import { encodeConfig, orderJson } from "./encoding.js";
import {
  decodeMarketSnapshot,
  encodeMarketSnapshot,
  encodeMarketSnapshotAsync,
  MarketSnapshotError,
  marketSnapshotFormat,
  type MarketSnapshotSource,
} from "./market-snapshot.js";
import {
  marketLimits,
  orderIdForIndex,
  type Item,
  type Order,
  type OrderLine,
  type OrderLineRequest,
} from "./model.js";
import * as results from "./results.js";
import {
  marketStoreFormat,
  marketStoreFormatV2,
  packOrder,
  packSession,
  unpackOrder,
  unpackSession,
} from "./stored-records.js";
import { commandDigest, type Session } from "./sessions.js";
import { SessionIndex } from "./session-index.js";
import {
  MarketSnapshotDecoder,
  type MarketSnapshotRecord,
} from "./market-snapshot-stream.js";
import { itemHash, orderHash, recordHash, sessionHash, SessionRing, SetDigest } from "./state-digest.js";
import { validateCommand } from "./validate.js";
import { MemoryStateStore } from "./memory-state-store.js";
import {
  StateStoreError,
  type StateKey,
  type StateStore,
  type StateView,
  type StateWriter,
} from "./state-store.js";

/** Sizes for metrics and status pages. */
export interface MarketStats {
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly itemCount: number;
  readonly orderCount: number;
  readonly sessionCount: number;
}

/** The market's scalars, stored under meta "market" with every batch. */
interface MarketMeta extends MarketStats {
  readonly format: string;
  readonly config: MarketConfig;
  /** The next sequence number of sessionQueue, and the oldest still held. */
  readonly sessionTail: number;
  readonly sessionHead: number;
  /** SetDigest of every record (state-digest.ts), hex. */
  readonly recordDigest: string;
}

/** What restore and a snapshot install hand the market they wrote (its constructor). */
interface LoadedState {
  readonly items: readonly Item[];
  readonly sessions: SessionIndex;
}

/** What checkSnapshot and restore require of a snapshot beyond being well formed. */
export interface SnapshotExpectations {
  /** The index its state must be at. */
  readonly index?: number;
  /** Take a v1 snapshot of an earlier version (migrating a local folder only). */
  readonly acceptV1?: boolean;
}

/** One committed entry for applyBatch: `data` null for an entry with no market command. */
export interface MarketEntry {
  readonly index: number;
  /** The entry's data as encodeCommand wrote it; or a command already parsed (tests). */
  readonly data: string | MarketCommand | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const metaKey = "market";
const raftMetaKey = "raft";
/**
 * Present while a streamed install (MarketSnapshotInstall) is under way: its first write
 * empties the store and sets it, its last writes the meta and removes it. A store that holds
 * it was cut short mid-install and holds no state at any index.
 */
const installingKey = "installing";

/** What the installing marker holds: the index being installed. */
export interface InstallMarker {
  readonly index: number | null;
  /** The driver's meta the install stores last (to redo it after a crash). */
  readonly raftMeta?: unknown;
}

/** The store holds a snapshot install that was cut short: no state at any index. */
export class MarketInstallInterruptedError extends Error {
  override readonly name = "MarketInstallInterruptedError";
}

export class MarketStateMachine {
  readonly config: MarketConfig;
  private readonly store: StateStore;
  /** The items, as in the store after the last write: a mirror for searches and buys. */
  private readonly catalogue = new Catalogue();
  /** Kept in step with every record by each write (state-digest.ts). */
  private readonly digest: SetDigest;
  private meta: Mutable<MarketMeta>;
  /** The writer of the batch being applied; null between batches. */
  private writer: StateWriter | null = null;
  /** Set when a batch threw: the mirror and counters may no longer match the store. */
  private broken: Error | null = null;
  /** canonicalJson of the config (frozen, so made once), for stateHash(). */
  private configJson: string | null = null;
  /** stateHash() at meta.appliedIndex, or null when it must be recomputed. */
  private hashCache: string | null = null;
  /**
   * The session at the head of sessionQueue (sequence meta.sessionHead), once read; null when
   * it must be read again. Every apply checks the head for expiry, and at capacity every new
   * session drops it: without this, each buy read the head twice or three times from the store
   * (a queue entry and a session each time). Only dropOldestSession moves the head.
   */
  private headSession: { readonly sequence: number; readonly session: Session } | null = null;
  /** recordHash of each item as stored, by sku: a buy replaces its item's record. */
  private readonly itemHashes = new Map<string, bigint>();
  /** recordHash and recordedAtMs of each session recorded since the market opened. */
  private readonly sessionRing: SessionRing;
  /**
   * The last order putOrder wrote, with its orderJson: the buy's session, recorded next,
   * holds the same order in its result, and so hashes the same text again.
   */
  private lastOrder: { readonly order: Order; readonly json: string } | null = null;
  /** requestId -> sequence of every session held, as sessionQueue says (session-index.ts). */
  private readonly sessionIndex: SessionIndex;

  /**
   * Opens the market held in `store`, or starts an empty one with `config` when the store is
   * empty. A store that already holds a market keeps the config it was created with; asking for
   * a different one is an error, not a silent change (every replica must use the same).
   */
  constructor(config: Partial<MarketConfig> = {}, store: StateStore = new MemoryStateStore(),
    /**
     * The items and the session index, when the caller just wrote them (restore, a snapshot
     * install): a view sees only commits, and reading the queue key by key instead held the
     * loop for 250-380 ms at 100,000 sessions (`npm run bench -- big-state`). Without them the
     * market reads both from a view: at open, nothing is pending. Indexing 100,000 sessions so
     * takes 150-250 ms of a node's start (the same benchmark's reopen and restart).
     */
    loaded?: LoadedState) {
    this.store = store;
    const marker = MarketStateMachine.interruptedInstall(store);
    if (marker !== null) {
      throw new MarketInstallInterruptedError("the state store holds a snapshot install cut " +
        `short (of the state at index ${marker.index ?? "?"}): it holds no whole state`);
    }
    const stored = store.get("meta", metaKey) as MarketMeta | undefined;
    if (stored === undefined) {
      this.config = Object.freeze({ ...defaultMarketConfig, ...config });
      validateMarketConfig(this.config);
      this.meta = {
        format: marketStoreFormat, config: this.config, appliedIndex: 0, clockMs: 0,
        itemCount: 0, orderCount: 0, sessionCount: 0, sessionTail: 0, sessionHead: 0,
        recordDigest: new SetDigest().hex(),
      };
      this.digest = new SetDigest();
      this.sessionIndex = new SessionIndex();
      this.sessionRing = new SessionRing(this.config.sessionsMax, 0);
      // Stored at once, so that the store says which config it was made with from the start.
      const meta = { ...this.meta };
      store.write((writer) => writer.put("meta", metaKey, meta));
      return;
    }
    if (stored.format !== marketStoreFormat && stored.format !== marketStoreFormatV2
      && stored.format !== marketSnapshotFormat) {
      throw new MarketSnapshotError(`the state store holds market format ${String(stored.format)}, ` +
        `this version reads ${marketStoreFormat} (and migrates ${marketStoreFormatV2} and ` +
        `${marketSnapshotFormat})`);
    }
    this.config = Object.freeze({ ...stored.config });
    validateMarketConfig(this.config);
    for (const key of Object.keys(config) as (keyof MarketConfig)[]) {
      if (config[key] !== this.config[key]) {
        throw new MarketSnapshotError(`the state store holds a market with ${key} ` +
          `${this.config[key]}, not ${String(config[key])}`);
      }
    }
    this.meta = { ...stored, format: marketStoreFormat, config: this.config };
    this.digest = SetDigest.fromHex(stored.recordDigest);
    this.sessionRing = new SessionRing(this.config.sessionsMax, stored.sessionTail);
    if (loaded !== undefined) {
      for (const item of loaded.items) this.catalogue.insert(Object.freeze({ ...item }));
      this.sessionIndex = loaded.sessions;
    } else {
      // A view sees only what is committed: opened on writes still pending, the market would
      // index another state's sessions and apply a retry of this one's again.
      assert(store.pendingWrites() === 0,
        "market: opened on a store with writes not yet committed (await committed() first)");
      const view = store.view();
      try {
        for (const { value } of view.range("items")) this.catalogue.insert(value as Item);
        this.sessionIndex = MarketStateMachine.indexSessions(view, this.meta);
      } finally {
        view.close();
      }
    }
    assert(this.catalogue.size === this.meta.itemCount, "market: item count out of step");
    assert(this.sessionIndex.size === this.meta.sessionCount, "market: session count out of step");
    // A store of an earlier version keyed its sessions by requestId: once it has passed the
    // checks above, they move to their sequence numbers, in one write that also records this
    // format, so that an earlier version then refuses the store. Its records stay as they are:
    // objects (marketSnapshotFormat) are still read, and packed records are written from the
    // next write on (stored-records.ts).
    if (stored.format !== marketStoreFormat) MarketStateMachine.rekeySessions(store, this.meta);
  }

  /**
   * Moves every session from its requestId to its sequence number (the layout of
   * marketStoreFormat), in one write with the meta. A queue entry without its session is a
   * damaged store: refused, as a damaged value is.
   */
  private static rekeySessions(store: StateStore, meta: MarketMeta): void {
    store.write((writer) => {
      for (let sequence = meta.sessionHead; sequence < meta.sessionTail; sequence++) {
        const requestId = writer.get("sessionQueue", sequence);
        const value = typeof requestId === "string" ? writer.get("sessions", requestId) : undefined;
        if (value === undefined) {
          throw new StateStoreError(`market: the store's session ${sequence} ` +
            `(${String(requestId)}) is missing`);
        }
        writer.remove("sessions", requestId as string);
        writer.put("sessions", sequence, value);
      }
      writer.put("meta", metaKey, { ...meta });
    });
  }

  /**
   * The session index of sessionQueue, which both layouts share, read in one pass over a view:
   * its keys must run from sessionHead to sessionTail, each holding a requestId held nowhere
   * else in it, and the meta's count must match. Anything else is a damaged store.
   */
  private static indexSessions(view: StateView, meta: MarketMeta): SessionIndex {
    if (meta.sessionTail - meta.sessionHead !== meta.sessionCount) {
      throw new StateStoreError(`market: the store's meta counts ${meta.sessionCount} ` +
        `sessions from ${meta.sessionHead} to ${meta.sessionTail}`);
    }
    const index = new SessionIndex();
    let expected = meta.sessionHead;
    for (const { key, value } of view.range("sessionQueue")) {
      if (key !== expected || typeof value !== "string" || expected >= meta.sessionTail) {
        throw new StateStoreError(`market: the store's session queue holds ` +
          `${JSON.stringify(key)} -> ${JSON.stringify(value)} where the meta expects ` +
          `${expected < meta.sessionTail ? `${expected} -> a requestId` : "no more"}`);
      }
      // Only an id that shares a hash with an earlier one has a candidate to check.
      const earlier = index.candidate(value);
      if (earlier !== undefined && view.get("sessionQueue", earlier) === value) {
        throw new StateStoreError(`market: the store's session queue holds ${JSON.stringify(value)} ` +
          `at ${earlier} and ${expected}`);
      }
      index.add(value, expected++);
    }
    if (expected !== meta.sessionTail) {
      throw new StateStoreError(`market: the store's session queue ends at ${expected}, ` +
        `the meta says ${meta.sessionTail}`);
    }
    return index;
  }

  /**
   * The applied index that the market meta in `store` records (0 when it holds no market yet),
   * read through another view of a store: the simulator's, of what is flushed.
   */
  static appliedIndexIn(store: { get: StateStore["get"] }): number {
    return (store.get("meta", metaKey) as MarketMeta | undefined)?.appliedIndex ?? 0;
  }

  /** The marker of a streamed install cut short (MarketSnapshotInstall), or null. */
  static interruptedInstall(store: { get: StateStore["get"] }): InstallMarker | null {
    return (store.get("meta", installingKey) as InstallMarker | undefined) ?? null;
  }

  /** The index of the last log entry applied (0 before any). */
  get appliedIndex(): number {
    return this.meta.appliedIndex;
  }

  /** What the driver stored with the last batch (applyBatch's raftMeta), if anything. */
  raftMeta(): unknown {
    return this.store.get("meta", raftMetaKey);
  }

  /**
   * Applies committed entries, in one store write: their indexes must increase from entry to
   * entry and from call to call (they may skip entries), anything else is a driver bug.
   * `raftMeta`, when given, is stored in the same write (the driver's term, voters, members at
   * the last index), so that the store never holds one without the other. An exception leaves
   * this machine unusable: the driver stops the node, and a restart reopens the store, which
   * holds the state before the batch.
   */
  applyBatch(entries: readonly MarketEntry[], raftMeta?: unknown): (MarketResult | null)[] {
    if (this.broken !== null) throw this.broken;
    // Checked before anything changes, so a driver bug caught here leaves the machine usable.
    let previousIndex = this.meta.appliedIndex;
    for (const { index } of entries) {
      if (!(Number.isSafeInteger(index) && index > previousIndex)) {
        throw new InvariantError(`market: apply at index ${index} after ${previousIndex}`);
      }
      previousIndex = index;
    }
    const answers: (MarketResult | null)[] = [];
    try {
      this.store.write((writer) => {
        this.writer = writer;
        for (const entry of entries) {
          this.advanceIndex(entry.index);
          answers.push(entry.data === null ? null : this.applyData(entry.data, entry.index));
        }
        assert(this.sessionIndex.size === this.meta.sessionCount,
          "market: session index out of step with the session table");
        this.meta.recordDigest = this.digest.hex();
        writer.put("meta", metaKey, { ...this.meta });
        if (raftMeta !== undefined) writer.put("meta", raftMetaKey, raftMeta);
      });
    } catch (error) {
      this.broken = error as Error;
      throw error;
    } finally {
      this.writer = null;
    }
    return answers;
  }

  /**
   * Applies one command at `index` (a batch of one). It is validated like any entry, whatever
   * its static type says.
   */
  apply(command: MarketCommand, index: number): MarketResult {
    return this.applyBatch([{ index, data: command }])[0]!;
  }

  /** Applies a log entry's data as written by encodeCommand (a batch of one). */
  applyEncoded(data: string, index: number): MarketResult {
    return this.applyBatch([{ index, data }])[0]!;
  }

  /** Records that entries up to `index` carried no market command (a batch of one). */
  advanceAppliedIndex(index: number): void {
    this.applyBatch([{ index, data: null }]);
  }

  private advanceIndex(index: number): void {
    this.meta.appliedIndex = index;
    this.hashCache = null;
  }

  /**
   * Data that is not JSON is rejected as invalidCommand (field "entry") like any other invalid
   * command, so a corrupt proposal gives the same answer on every replica instead of stopping
   * them all.
   */
  private applyData(data: string | MarketCommand, index: number): MarketResult {
    let parsed: unknown = data;
    if (typeof data === "string") {
      try {
        parsed = JSON.parse(data);
      } catch {
        return results.invalidCommand("entry", "is not JSON");
      }
    }
    const checked = validateCommand(parsed);
    if (!checked.ok) return results.invalidCommand(checked.field, checked.message);
    const valid = checked.command;
    this.meta.clockMs = Math.max(this.meta.clockMs, valid.timeMs);
    this.expireSessions();
    const digest = commandDigest(valid);
    const previous = this.findSession(valid.requestId);
    if (previous !== undefined) {
      return previous.digest === digest ? previous.result
        : results.requestIdConflict(valid.requestId);
    }
    const result = this.execute(valid, index);
    this.recordSession({
      requestId: valid.requestId, digest, recordedAtMs: this.meta.clockMs, index, result,
    });
    return result;
  }

  /** The session recorded for `requestId`, if one is held. */
  private findSession(requestId: string): Session | undefined {
    const sequence = this.sessionIndex.candidate(requestId);
    if (sequence === undefined || this.w().get("sessionQueue", sequence) !== requestId) {
      return undefined;
    }
    return unpackSession(this.storedSession(sequence, requestId), requestId);
  }

  /** The stored value of the session at `sequence`: a queue entry without one is damage. */
  private storedSession(sequence: number, requestId: string): unknown {
    const stored = this.w().get("sessions", sequence);
    if (stored === undefined) {
      throw new StateStoreError(`market: the store's session ${sequence} (${requestId}) is missing`);
    }
    return stored;
  }

  private w(): StateWriter {
    assert(this.writer !== null, "market: a change outside applyBatch");
    return this.writer;
  }

  // --- Records: every change goes through these, which keep the digest and counts in step ---

  /** `item` is the caller's fresh object: frozen as it is, not copied. */
  private putItem(item: Item, previous: Item | undefined): Item {
    const frozen = Object.freeze(item);
    if (previous !== undefined) {
      this.digest.remove(this.itemHashes.get(previous.sku) ?? itemHash(previous));
    }
    const hash = itemHash(frozen);
    this.digest.add(hash);
    this.itemHashes.set(frozen.sku, hash);
    this.w().put("items", frozen.sku, frozen);
    if (previous === undefined) {
      this.catalogue.insert(frozen);
      this.meta.itemCount++;
    } else {
      this.catalogue.replace(frozen);
    }
    return frozen;
  }

  /** `order` is the caller's fresh object (its lines fresh or frozen): frozen as it is. */
  private putOrder(order: Order, previous: Order | undefined): Order {
    const frozen = results.freezeOwnOrder(order);
    if (previous !== undefined) this.digest.remove(orderHash(previous));
    else this.meta.orderCount++;
    const json = orderJson(frozen);
    this.lastOrder = { order: frozen, json };
    this.digest.add(recordHash("order", json));
    this.w().put("orders", frozen.index, packOrder(frozen));
    return frozen;
  }

  private recordSession(session: Session): void {
    while (this.meta.sessionCount >= this.config.sessionsMax) this.dropOldestSession();
    // Written out rather than spread (at every apply): the fields of Session, in its order.
    const frozen: Session = Object.freeze({ requestId: session.requestId, digest: session.digest,
      recordedAtMs: session.recordedAtMs, index: session.index,
      result: results.freezeResult(session.result) });
    const { result } = frozen;
    const resultOrderJson = result.ok && result.kind === "order"
      && this.lastOrder?.order === result.order ? this.lastOrder.json : undefined;
    this.lastOrder = null;
    const hash = sessionHash(frozen, resultOrderJson);
    this.digest.add(hash);
    this.sessionRing.set(this.meta.sessionTail, hash, frozen.recordedAtMs, this.meta.sessionHead);
    this.w().put("sessions", this.meta.sessionTail, packSession(frozen));
    this.w().put("sessionQueue", this.meta.sessionTail, frozen.requestId);
    this.sessionIndex.add(frozen.requestId, this.meta.sessionTail);
    this.meta.sessionTail++;
    this.meta.sessionCount++;
  }

  /**
   * Forgets every session that has expired at the log clock. Bounded by the table's size;
   * stops at the first session still alive, since the sessions after it were recorded no
   * earlier (sessions.ts).
   */
  private expireSessions(): void {
    while (this.meta.sessionCount > 0) {
      const head = this.meta.sessionHead;
      const recordedAtMs = this.sessionRing.holds(head) ? this.sessionRing.recordedAt(head)
        : this.oldestSession().recordedAtMs;
      if (recordedAtMs + this.config.sessionTtlMs > this.meta.clockMs) return;
      this.dropOldestSession();
    }
  }

  /** The session at the head of the queue, read from the store (once). */
  private oldestSession(): Session {
    const sequence = this.meta.sessionHead;
    if (this.headSession?.sequence === sequence) return this.headSession.session;
    const requestId = this.queuedRequestId(sequence);
    const session = unpackSession(this.storedSession(sequence, requestId), requestId);
    this.headSession = { sequence, session };
    return session;
  }

  private queuedRequestId(sequence: number): string {
    const requestId = this.w().get("sessionQueue", sequence);
    if (typeof requestId !== "string") {
      throw new StateStoreError(`market: the store's session queue has no requestId at ${sequence}`);
    }
    return requestId;
  }

  /**
   * Drops the session at the head of the queue. One recorded since the market opened is not
   * read from the store: the ring holds its hash, and the queue its requestId.
   */
  private dropOldestSession(): void {
    const head = this.meta.sessionHead;
    let requestId: string;
    if (this.sessionRing.holds(head)) {
      requestId = this.queuedRequestId(head);
      this.digest.remove(this.sessionRing.hash(head));
    } else {
      const session = this.oldestSession();
      requestId = session.requestId;
      this.digest.remove(sessionHash(session));
    }
    this.w().remove("sessions", head);
    this.w().remove("sessionQueue", head);
    this.sessionIndex.delete(requestId, head);
    this.meta.sessionHead++;
    this.meta.sessionCount--;
    this.headSession = null;
  }

  // --- Commands ---------------------------------------------------------------------------

  private execute(command: MarketCommand, index: number): MarketResult {
    switch (command.kind) {
      case "createItem": return this.executeCreateItem(command);
      case "addStock": return this.executeAddStock(command);
      case "buy": return this.executeBuy(command, index);
      case "cancel": return this.executeCancel(command);
      default: return assertNever(command, "command kind");
    }
  }

  private executeCreateItem(command: CreateItemCommand): MarketResult {
    if (this.catalogue.get(command.sku) !== undefined) return results.alreadyExists(command.sku);
    if (this.catalogue.size >= this.config.itemsMax) {
      return results.limitExceeded("items", this.config.itemsMax,
        `the catalogue already holds its maximum of ${this.config.itemsMax} items`);
    }
    const { sku, name, area, priceCents, stock } = command;
    return results.itemResult(this.putItem({ sku, name, area, priceCents, stock }, undefined));
  }

  private executeAddStock(command: AddStockCommand): MarketResult {
    const item = this.catalogue.get(command.sku);
    if (item === undefined) return results.itemNotFound(command.sku);
    if (item.stock + command.qty > marketLimits.stockMax) {
      return results.limitExceeded("qty", marketLimits.stockMax,
        `stock of ${item.sku} would exceed ${marketLimits.stockMax}`);
    }
    return results.itemResult(this.putItem({ ...item, stock: item.stock + command.qty }, item));
  }

  /**
   * All or nothing: every line is checked against the stock before any stock changes, so a
   * rejected buy leaves no trace but its session. Lines of one sku are summed first; the
   * first line (in request order) that cannot be served decides the rejection.
   */
  private executeBuy(command: BuyCommand, index: number): MarketResult {
    const priced: OrderLine[] = [];
    for (const line of mergeLines(command.lines)) {
      const item = this.catalogue.get(line.sku);
      if (item === undefined) return results.itemNotFound(line.sku);
      if (item.stock < line.qty) return results.insufficientStock(item, line.qty);
      priced.push({ sku: line.sku, qty: line.qty, priceCents: item.priceCents });
    }
    let totalCents = 0;
    for (const line of priced) {
      const item = this.catalogue.get(line.sku)!;
      assert(item.stock >= line.qty, "buy: stock checked above");
      this.putItem({ ...item, stock: item.stock - line.qty }, item);
      totalCents += line.qty * line.priceCents;
    }
    assert(Number.isSafeInteger(totalCents), "buy: limits keep totals safe integers");
    const order = this.putOrder({
      orderId: orderIdForIndex(index), requestId: command.requestId, lines: priced,
      status: "confirmed", totalCents, index,
    }, undefined);
    return results.orderResult(order);
  }

  /**
   * Restocks every line of a confirmed order, exactly once: the order becomes cancelled, and
   * cancelling a cancelled order (under another requestId) returns it unchanged and restocks
   * nothing. A restock that would take an item above stockMax is refused as a whole.
   */
  private executeCancel(command: CancelCommand): MarketResult {
    const order = this.readOrder(command.orderId, this.w());
    if (order === undefined) return results.orderNotFound(command.orderId);
    if (order.status === "cancelled") return results.orderResult(order);
    for (const line of order.lines) {
      const item = this.catalogue.get(line.sku);
      assert(item !== undefined, "cancel: items are never removed");
      if (item.stock + line.qty > marketLimits.stockMax) {
        return results.limitExceeded("stock", marketLimits.stockMax,
          `restocking ${item.sku} would exceed ${marketLimits.stockMax}`);
      }
    }
    for (const line of order.lines) {
      const item = this.catalogue.get(line.sku)!;
      this.putItem({ ...item, stock: item.stock + line.qty }, item);
    }
    return results.orderResult(this.putOrder({ ...order, status: "cancelled" }, order));
  }

  private readOrder(orderId: string, reader: { get: StateStore["get"] }): Order | undefined {
    const match = /^o-([1-9][0-9]{0,15})$/.exec(orderId);
    if (match === null) return undefined;
    const index = Number(match[1]);
    if (!Number.isSafeInteger(index) || orderIdForIndex(index) !== orderId) return undefined;
    const stored = reader.get("orders", index);
    return stored === undefined ? undefined : unpackOrder(stored, index);
  }

  // --- Queries ----------------------------------------------------------------------------

  /** Items matching every filter of `query`, in sku order (code units), at most its limit. */
  searchItems(query: SearchQuery = {}): Item[] {
    this.checkUsable();
    return this.catalogue.search(query);
  }

  getItem(sku: string): Item | undefined {
    this.checkUsable();
    return this.catalogue.get(sku);
  }

  /** Any order ever placed. */
  getOrder(orderId: string): Order | undefined {
    this.checkUsable();
    return this.readOrder(orderId, this.store);
  }

  /** The areas that hold at least one item, sorted. */
  listAreas(): string[] {
    this.checkUsable();
    return this.catalogue.areas();
  }

  /**
   * After a batch threw, the mirror and counters may show changes the store dropped: answer
   * nothing from them (the driver stops the node; a restart reads the store).
   */
  private checkUsable(): void {
    if (this.broken !== null) throw this.broken;
  }

  stats(): MarketStats {
    const { appliedIndex, clockMs, itemCount, orderCount, sessionCount } = this.meta;
    return { appliedIndex, clockMs, itemCount, orderCount, sessionCount };
  }

  /**
   * A sha256 hex digest of the whole state at appliedIndex: two replicas at one appliedIndex
   * have the same stateHash, and different states have different ones. It hashes the scalar
   * fields with the digest of every record, which each write keeps up to date (one small hash
   * per record changed), rather than the whole state.
   */
  stateHash(): string {
    this.checkUsable();
    if (this.hashCache === null) {
      const { appliedIndex, clockMs, itemCount, orderCount, sessionCount } = this.meta;
      // canonicalJson of { appliedIndex, clockMs, config, format, itemCount, orderCount,
      // recordDigest, sessionCount }, written out in that (canonical) order: the simulator
      // asks every replica's hash after each apply, and an object with a nested config to
      // encode member by member each time was 1% of a seed's time (test/market/random.test.ts
      // checks it against canonicalJson of that object).
      this.configJson ??= canonicalJson(encodeConfig(this.config));
      this.hashCache = sha256Hex(`{"appliedIndex":${canonicalJson(appliedIndex)},` +
        `"clockMs":${canonicalJson(clockMs)},"config":${this.configJson},` +
        `"format":${canonicalJson(marketSnapshotFormat)},` +
        `"itemCount":${canonicalJson(itemCount)},"orderCount":${canonicalJson(orderCount)},` +
        `"recordDigest":${canonicalJson(this.digest.hex())},` +
        `"sessionCount":${canonicalJson(sessionCount)}}`);
    }
    return this.hashCache;
  }

  // --- Snapshots --------------------------------------------------------------------------

  /**
   * The state as of the store's last commit, read from a view (MVCC), as record streams for
   * encodeMarketSnapshotAsync; with the meta the driver stored beside it. Close the view after.
   */
  static snapshotSource(view: StateView): { source: MarketSnapshotSource; raftMeta: unknown } {
    const meta = view.get("meta", metaKey) as MarketMeta | undefined;
    const emptyConfig = { ...defaultMarketConfig };
    // A store not yet opened by this version keys its sessions by requestId.
    const keyedBySequence = meta === undefined || meta.format === marketStoreFormat;
    const source: MarketSnapshotSource = {
      counts: { items: meta?.itemCount ?? 0, orders: meta?.orderCount ?? 0,
        sessions: meta?.sessionCount ?? 0 },
      config: meta?.config ?? emptyConfig,
      appliedIndex: meta?.appliedIndex ?? 0,
      clockMs: meta?.clockMs ?? 0,
      items: mapEntries(view.range("items"), (_sku, value) => value as Item),
      orders: mapEntries(view.range("orders"), (key, value) => unpackOrder(value, key as number)),
      sessions: mapEntries(view.range("sessionQueue"), (sequence, requestId) =>
        unpackSession(view.get("sessions", keyedBySequence ? sequence : requestId as string),
          requestId as string)),
    };
    return { source, raftMeta: view.get("meta", raftMetaKey) };
  }

  /** The whole replicated state as canonical JSON, as of the store's last commit. */
  snapshot(): string {
    const view = this.store.view();
    try {
      const { source } = MarketStateMachine.snapshotSource(view);
      return encodeMarketSnapshot({ ...source, items: [...source.items],
        orders: [...source.orders], sessions: [...source.sessions] });
    } finally {
      view.close();
    }
  }

  /** snapshot(), a slice at a time with `pause()` between slices. */
  async snapshotAsync(pause: () => Promise<void>): Promise<string> {
    const view = this.store.view();
    try {
      return await encodeMarketSnapshotAsync(MarketStateMachine.snapshotSource(view).source, pause);
    } finally {
      view.close();
    }
  }

  /**
   * Throws MarketSnapshotError unless `data` is a snapshot restore() would take with the same
   * expectations: in the current format (a v1 snapshot of an earlier version only when
   * `acceptV1`, for migrating a local folder: its orders were kept under other rules), in
   * canonical form, and at `index` when given (a snapshot's data must be the state at its meta's
   * index, or the node would skip entries or apply them twice).
   */
  static checkSnapshot(data: string, expected: SnapshotExpectations = {}): void {
    MarketStateMachine.decodeChecked(data, expected);
  }

  private static decodeChecked(data: string, expected: SnapshotExpectations):
    ReturnType<typeof decodeMarketSnapshot> {
    const state = decodeMarketSnapshot(data);
    if (state.format !== marketSnapshotFormat && expected.acceptV1 !== true) {
      throw new MarketSnapshotError(`market snapshot format ${String(state.format)} is not ` +
        marketSnapshotFormat);
    }
    if (expected.index !== undefined && state.appliedIndex !== expected.index) {
      throw new MarketSnapshotError(`market snapshot holds the state at index ` +
        `${state.appliedIndex}, not at ${expected.index}`);
    }
    if (state.format === marketSnapshotFormat && encodeMarketSnapshot(state) !== data) {
      throw new MarketSnapshotError("market snapshot is not in canonical form");
    }
    return state;
  }

  /**
   * Replaces the contents of `store` with the state in snapshot() output, with the config it
   * carries, in one write that also stores `raftMeta`. Throws MarketSnapshotError if the data
   * is malformed or misses `expected` (checkSnapshot); the store is then unchanged.
   */
  static restore(data: string, store: StateStore = new MemoryStateStore(),
    raftMeta?: unknown, expected: SnapshotExpectations = {}): MarketStateMachine {
    const state = MarketStateMachine.decodeChecked(data, expected);
    const digest = new SetDigest();
    const sessions = new SessionIndex();
    store.write((writer) => {
      writer.clearAll();
      for (const item of state.items) {
        writer.put("items", item.sku, Object.freeze({ ...item }));
        digest.add(itemHash(item));
      }
      for (const order of state.orders) {
        writer.put("orders", order.index, packOrder(order));
        digest.add(orderHash(order));
      }
      state.sessions.forEach((session, sequence) => {
        writer.put("sessions", sequence, packSession(session));
        writer.put("sessionQueue", sequence, session.requestId);
        sessions.add(session.requestId, sequence);
        digest.add(sessionHash(session));
      });
      const meta: MarketMeta = {
        format: marketStoreFormat, config: state.config, appliedIndex: state.appliedIndex,
        clockMs: state.clockMs, itemCount: state.items.length, orderCount: state.orders.length,
        sessionCount: state.sessions.length, sessionTail: state.sessions.length, sessionHead: 0,
        recordDigest: digest.hex(),
      };
      writer.put("meta", metaKey, meta);
      if (raftMeta !== undefined) writer.put("meta", raftMetaKey, raftMeta);
    });
    return new MarketStateMachine({}, store, { items: state.items, sessions });
  }
}

/**
 * Installs a v3 snapshot (market-snapshot-stream.ts) into a store a bounded write at a time,
 * reading its text a chunk at a time from `nextChunk` (null once it is all read), so that no
 * step holds the loop long or the heap holds more than a write's records. step() does one
 * write; the driver yields between steps. Crash safety: the first write empties the store and
 * sets the installing marker, the records follow in writes of about `recordsPerWrite`, and the
 * last write stores the market's meta and the driver's `raftMeta` and removes the marker. A
 * store cut short at any point holds the marker and no meta, which MarketStateMachine refuses
 * to open (interruptedInstall): it never claims an applied index it does not hold. The digest
 * is summed as the records are written. The text must be well formed; it is checked again as
 * it is read, and a problem throws MarketSnapshotError with the store left marked.
 */
export class MarketSnapshotInstall {
  private readonly decoder: MarketSnapshotDecoder;
  private readonly digest = new SetDigest();
  private readonly items: Item[] = [];
  private readonly sessions = new SessionIndex();
  private sessionSequence = 0;
  private started = false;
  private done: MarketStateMachine | null = null;
  /** Records decoded and not yet written. */
  private readonly batch: MarketSnapshotRecord[] = [];
  private sourceDone = false;

  constructor(private readonly store: StateStore, private readonly nextChunk: () => string | null,
    private readonly raftMeta?: unknown, private readonly expected: SnapshotExpectations = {},
    private readonly recordsPerWrite = 5000) {
    this.decoder = new MarketSnapshotDecoder({ index: expected.index });
  }

  /** Does one write; returns true once the install is complete (then market()). */
  step(): boolean {
    if (this.done !== null) return true;
    if (!this.started) {
      this.started = true;
      const marker: InstallMarker = { index: this.expected.index ?? null,
        ...(this.raftMeta === undefined ? {} : { raftMeta: this.raftMeta }) };
      this.store.write((writer) => {
        writer.clearAll();
        writer.put("meta", installingKey, marker);
      });
      return false;
    }
    while (this.batch.length < this.recordsPerWrite && !this.sourceDone) {
      const chunk = this.nextChunk();
      if (chunk === null) {
        this.decoder.end();
        this.sourceDone = true;
      } else {
        this.decoder.push(chunk, (record) => this.batch.push(record));
      }
    }
    if (this.batch.length >= this.recordsPerWrite) {
      this.writeBatch(this.batch.splice(0, this.recordsPerWrite), false);
      return false;
    }
    this.writeBatch(this.batch.splice(0), true);
    return true;
  }

  market(): MarketStateMachine {
    assert(this.done !== null, "market: the install is not complete");
    return this.done;
  }

  private writeBatch(batch: readonly MarketSnapshotRecord[], last: boolean): void {
    this.store.write((writer) => {
      for (const record of batch) {
        switch (record.kind) {
          case "item":
            writer.put("items", record.item.sku, Object.freeze({ ...record.item }));
            this.digest.add(itemHash(record.item));
            this.items.push(record.item);
            break;
          case "order":
            writer.put("orders", record.order.index, packOrder(record.order));
            this.digest.add(orderHash(record.order));
            break;
          case "session":
            writer.put("sessions", this.sessionSequence, packSession(record.session));
            writer.put("sessionQueue", this.sessionSequence, record.session.requestId);
            this.sessions.add(record.session.requestId, this.sessionSequence++);
            this.digest.add(sessionHash(record.session));
            break;
          default:
            assertNever(record, "snapshot record");
        }
      }
      if (!last) return;
      const header = this.decoder.header!;
      const meta: MarketMeta = {
        format: marketStoreFormat, config: header.config, appliedIndex: header.appliedIndex,
        clockMs: header.clockMs, itemCount: header.itemCount, orderCount: header.orderCount,
        sessionCount: header.sessionCount, sessionTail: header.sessionCount, sessionHead: 0,
        recordDigest: this.digest.hex(),
      };
      writer.put("meta", metaKey, meta);
      if (this.raftMeta !== undefined) writer.put("meta", raftMetaKey, this.raftMeta);
      writer.remove("meta", installingKey);
    });
    if (last) {
      this.done = new MarketStateMachine({}, this.store, { items: this.items,
        sessions: this.sessions });
    }
  }
}

/** Installs a v3 snapshot at once (MarketSnapshotInstall without pauses): tests, small states. */
export function installMarketSnapshot(store: StateStore, chunks: Iterable<string>,
  raftMeta?: unknown, expected: SnapshotExpectations = {}): MarketStateMachine {
  const iterator = chunks[Symbol.iterator]();
  const install = new MarketSnapshotInstall(store, () => {
    const next = iterator.next();
    return next.done === true ? null : next.value;
  }, raftMeta, expected);
  while (!install.step()) { /* one write a step */ }
  return install.market();
}

function* mapEntries<T>(entries: Iterable<{ readonly key: StateKey; readonly value: unknown }>,
  read: (key: StateKey, value: unknown) => T): IterableIterator<T> {
  for (const entry of entries) yield read(entry.key, entry.value);
}

/** Sums the lines of each sku, keeping the order in which skus first appear. */
function mergeLines(lines: readonly OrderLineRequest[]): OrderLineRequest[] {
  const qtyBySku = new Map<string, number>();
  for (const line of lines) qtyBySku.set(line.sku, (qtyBySku.get(line.sku) ?? 0) + line.qty);
  return [...qtyBySku].map(([sku, qty]) => ({ sku, qty }));
}
