/**
 * The marketplace state machine: every replica applies the same committed commands at the same
 * log indexes and so reaches the same state and returns the same results (DESIGN.md §1).
 * Nothing here reads a clock or a random source: the only time is the leader's `timeMs`
 * inside each command, and it serves only to expire sessions.
 *
 * apply() is the one way state changes. Each call:
 *   1. validates the command again (a log entry is input too: an older or buggy proposer
 *      could have written anything); an invalid one is rejected and changes nothing but
 *      appliedIndex;
 *   2. advances the log clock to max(clock, timeMs) and expires sessions by it;
 *   3. answers a known requestId from the session table (or with requestIdConflict);
 *   4. otherwise executes the command and records its result, success or rejection.
 *
 * Queries (searchItems, getItem, getOrder, listAreas) only read; they return frozen records.
 */
import { assert, assertNever } from "./assert.js";
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
import { encodeConfig } from "./encoding.js";
import {
  decodeMarketSnapshot,
  encodeMarketSnapshot,
  MarketSnapshotError,
  marketSnapshotFormat,
  type MarketSnapshotState,
} from "./market-snapshot.js";
import {
  marketLimits,
  orderIdForIndex,
  type Item,
  type Order,
  type OrderLine,
  type OrderLineRequest,
} from "./model.js";
import { OrderBook } from "./order-book.js";
import * as results from "./results.js";
import { commandDigest, SessionTable } from "./sessions.js";
import { SetDigest } from "./state-digest.js";
import { validateCommand } from "./validate.js";

/** Sizes for metrics and status pages. */
export interface MarketStats {
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly itemCount: number;
  readonly orderCount: number;
  readonly sessionCount: number;
}

export class MarketStateMachine {
  readonly config: MarketConfig;
  /** Kept in step with every item, order and session by the tables below. */
  private readonly records = new SetDigest();
  private readonly catalogue = new Catalogue(this.records);
  private readonly orders: OrderBook;
  private readonly sessions: SessionTable;
  /** The index of the last entry applied. Invariant: increases with every apply. */
  private appliedIndexValue = 0;
  /** The log clock: the highest timeMs applied. Invariant: never decreases. */
  private clockMs = 0;
  /** stateHash() at appliedIndexValue, or null when it must be recomputed. */
  private hashCache: string | null = null;

  constructor(config: Partial<MarketConfig> = {}) {
    this.config = Object.freeze({ ...defaultMarketConfig, ...config });
    validateMarketConfig(this.config);
    this.orders = new OrderBook(this.config.ordersMax, this.records);
    this.sessions = new SessionTable(this.config.sessionsMax, this.config.sessionTtlMs,
      this.records);
  }

  /** The index of the last log entry applied (0 before any). */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /**
   * Applies the command of the committed entry at `index`. Indexes must increase from call to
   * call (they may skip entries that carry no command); anything else is a driver bug.
   */
  apply(command: MarketCommand, index: number): MarketResult {
    this.advanceAppliedIndex(index);
    const checked = validateCommand(command);
    if (!checked.ok) return results.invalidCommand(checked.field, checked.message);
    const valid = checked.command;
    this.clockMs = Math.max(this.clockMs, valid.timeMs);
    this.sessions.expire(this.clockMs);
    const digest = commandDigest(valid);
    const previous = this.sessions.lookup(valid.requestId);
    if (previous !== undefined) {
      return previous.digest === digest ? previous.result
        : results.requestIdConflict(valid.requestId);
    }
    const result = this.execute(valid, index);
    this.sessions.record({
      requestId: valid.requestId, digest, recordedAtMs: this.clockMs, index, result,
    });
    return this.sessions.lookup(valid.requestId)!.result;
  }

  /**
   * Applies a log entry's data as written by encodeCommand. Data that is not JSON is rejected
   * as invalidCommand (field "entry") like any other invalid command, so a corrupt proposal
   * gives the same answer on every replica instead of stopping them all.
   */
  applyEncoded(data: string, index: number): MarketResult {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.advanceAppliedIndex(index);
      return results.invalidCommand("entry", "is not JSON");
    }
    // apply() validates its argument whatever its static type says.
    return this.apply(parsed as MarketCommand, index);
  }

  /**
   * Records that the entries up to `index` have been applied although they carried no market
   * command (a new leader's no-op, a membership change), so that appliedIndex and stateHash
   * follow the node's applied index. Same ordering rule as apply.
   */
  advanceAppliedIndex(index: number): void {
    assert(Number.isSafeInteger(index) && index > this.appliedIndexValue,
      `market: apply at index ${index} after ${this.appliedIndexValue}`);
    this.appliedIndexValue = index;
    this.hashCache = null;
  }

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
    const item: Item = { sku, name, area, priceCents, stock };
    this.catalogue.insert(item);
    return results.itemResult(item);
  }

  private executeAddStock(command: AddStockCommand): MarketResult {
    const item = this.catalogue.get(command.sku);
    if (item === undefined) return results.itemNotFound(command.sku);
    if (item.stock + command.qty > marketLimits.stockMax) {
      return results.limitExceeded("qty", marketLimits.stockMax,
        `stock of ${item.sku} would exceed ${marketLimits.stockMax}`);
    }
    const updated = this.catalogue.replace({ ...item, stock: item.stock + command.qty });
    return results.itemResult(updated);
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
      this.catalogue.replace({ ...item, stock: item.stock - line.qty });
      totalCents += line.qty * line.priceCents;
    }
    assert(Number.isSafeInteger(totalCents), "buy: limits keep totals safe integers");
    const order: Order = {
      orderId: orderIdForIndex(index), requestId: command.requestId, lines: priced,
      status: "confirmed", totalCents, index,
    };
    this.orders.add(order);
    return results.orderResult(order);
  }

  /**
   * Restocks every line of a confirmed order, exactly once: the order becomes cancelled, and
   * cancelling a cancelled order (under another requestId) returns it unchanged and restocks
   * nothing. A restock that would take an item above stockMax is refused as a whole.
   */
  private executeCancel(command: CancelCommand): MarketResult {
    const order = this.orders.get(command.orderId);
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
      this.catalogue.replace({ ...item, stock: item.stock + line.qty });
    }
    return results.orderResult(this.orders.replace({ ...order, status: "cancelled" }));
  }

  /** Items matching every filter of `query`, in sku order (code units), at most its limit. */
  searchItems(query: SearchQuery = {}): Item[] {
    return this.catalogue.search(query);
  }

  getItem(sku: string): Item | undefined {
    return this.catalogue.get(sku);
  }

  /** The order, if it exists and is still retained (see MarketConfig.ordersMax). */
  getOrder(orderId: string): Order | undefined {
    return this.orders.get(orderId);
  }

  /** The areas that hold at least one item, sorted. */
  listAreas(): string[] {
    return this.catalogue.areas();
  }

  stats(): MarketStats {
    return {
      appliedIndex: this.appliedIndexValue, clockMs: this.clockMs,
      itemCount: this.catalogue.size, orderCount: this.orders.size,
      sessionCount: this.sessions.size,
    };
  }

  /** The whole replicated state as canonical JSON: equal states give equal strings. */
  snapshot(): string {
    return encodeMarketSnapshot(this.captureSnapshotState());
  }

  /**
   * The state at appliedIndex, for encodeMarketSnapshotAsync: cheap (arrays of references to
   * frozen records), and unaffected by anything applied after it.
   */
  captureSnapshotState(): MarketSnapshotState {
    return {
      config: this.config, appliedIndex: this.appliedIndexValue, clockMs: this.clockMs,
      items: this.catalogue.list(), orders: this.orders.list(), sessions: this.sessions.list(),
    };
  }

  /**
   * A sha256 hex digest of the whole state at appliedIndex: two replicas at one appliedIndex
   * have the same stateHash, and different states have different ones. It hashes the scalar
   * fields with the incremental digest of every record (state-digest.ts), rather than the
   * snapshot, which can be tens of megabytes: the cost is one small hash per record changed
   * since the previous call, and nothing when called again at the same appliedIndex.
   */
  stateHash(): string {
    if (this.hashCache === null) {
      this.catalogue.flushDigest();
      this.orders.flushDigest();
      this.sessions.flushDigest();
      const { appliedIndex, clockMs, itemCount, orderCount, sessionCount } = this.stats();
      this.hashCache = sha256Hex(canonicalJson({
        format: marketSnapshotFormat, appliedIndex, clockMs, config: encodeConfig(this.config),
        itemCount, orderCount, sessionCount, recordDigest: this.records.hex(),
      }));
    }
    return this.hashCache;
  }

  /**
   * Rebuilds a state machine from snapshot() output, with the config the snapshot carries.
   * Throws MarketSnapshotError if the data is malformed or not in canonical form.
   */
  static restore(data: string): MarketStateMachine {
    const state = decodeMarketSnapshot(data);
    const machine = new MarketStateMachine(state.config);
    for (const item of state.items) machine.catalogue.insert(item);
    for (const order of state.orders) machine.orders.add(order);
    for (const session of state.sessions) machine.sessions.record(session);
    machine.appliedIndexValue = state.appliedIndex;
    machine.clockMs = state.clockMs;
    if (machine.snapshot() !== data) {
      throw new MarketSnapshotError("market snapshot is not in canonical form");
    }
    return machine;
  }
}

/** Sums the lines of each sku, keeping the order in which skus first appear. */
function mergeLines(lines: readonly OrderLineRequest[]): OrderLineRequest[] {
  const qtyBySku = new Map<string, number>();
  for (const line of lines) qtyBySku.set(line.sku, (qtyBySku.get(line.sku) ?? 0) + line.qty);
  return [...qtyBySku].map(([sku, qty]) => ({ sku, qty }));
}
