/**
 * The per-item view of a history: each operation touches exactly one sku, so a history splits
 * into independent sub-histories, one per sku (linearizability is compositional: a history is
 * linearizable iff each object's sub-history is; Herlihy & Wing 1990, §3.3).
 *
 * The chaos workload issues single-line buys only. A multi-line buy is all-or-nothing across
 * several skus, so it would couple their sub-histories; the checkers reject it (UnsupportedOp)
 * rather than check it wrongly.
 *
 * A cancel restocks its order's qty once: cancelling an already cancelled order changes nothing
 * (the state machine returns it unchanged). The per-item model has no order book, so it relies
 * on the workload's rules, and checks them here: each cancel names the orderId of an ok buy of
 * the same sku and qty that completed before the cancel was invoked, and no order is cancelled
 * twice. A history that breaks them is rejected (UnsupportedOperationError), not checked wrongly.
 */
import { HistoryError, type OpFunction, type PairedOperation } from "./history.js";

/** A history the checkers cannot check (a multi-line buy, a missing sku or qty). */
export class UnsupportedOperationError extends HistoryError {}

/** One operation reduced to what the per-item model needs. */
export interface ItemOperation {
  readonly sku: string;
  readonly f: OpFunction;
  /** add/buy/cancel: the quantity; create: the initial stock. 0 for reads. */
  readonly qty: number;
  /** read ok: the stock read (null: absent); add ok: the stock after, if reported. */
  readonly observedStock: number | null | undefined;
  readonly source: PairedOperation;
}

/** Reduces an operation to one sku. Throws UnsupportedOperationError with the event index. */
export function itemOperationOf(operation: PairedOperation): ItemOperation {
  const where = `operation ${operation.invoke.index} (process ${operation.process}, ` +
    `${operation.f})`;
  const value = operation.value;
  let sku = value.sku;
  let qty = 0;
  if (operation.f === "buy" && value.lines !== undefined) {
    if (value.lines.length !== 1) {
      throw new UnsupportedOperationError(`${where}: buy has ${value.lines.length} lines; the ` +
        "checkers model single-line buys only (the chaos workload issues no other)");
    }
    const line = value.lines[0];
    sku = line?.sku;
    qty = line?.qty ?? Number.NaN;
  } else if (operation.f === "add" || operation.f === "buy" || operation.f === "cancel") {
    qty = value.qty ?? Number.NaN;
  } else if (operation.f === "create") {
    qty = typeof value.stock === "number" ? value.stock : Number.NaN;
  }
  if (typeof sku !== "string") throw new UnsupportedOperationError(`${where}: no sku`);
  if (operation.f === "cancel" && typeof value.orderId !== "string") {
    throw new UnsupportedOperationError(`${where}: cancel needs the orderId it cancels`);
  }
  if (!Number.isSafeInteger(qty) || qty < 0) {
    throw new UnsupportedOperationError(`${where}: quantity must be a non-negative integer`);
  }
  return { sku, f: operation.f, qty, observedStock: observedStockOf(operation), source: operation };
}

function observedStockOf(operation: PairedOperation): number | null | undefined {
  if (operation.type !== "ok") return undefined;
  if (operation.f === "read") {
    const stock = operation.completion?.value.stock;
    if (stock === null || typeof stock === "number") return stock;
    throw new UnsupportedOperationError(
      `operation ${operation.invoke.index}: an ok read needs value.stock (a number or null)`);
  }
  if (operation.f === "add") {
    const stock = operation.completion?.value.stock;
    return typeof stock === "number" ? stock : undefined;
  }
  return undefined;
}

/** Groups operations by sku, keeping invocation order within each group. */
export function partitionBySku(operations: readonly PairedOperation[]):
  Map<string, ItemOperation[]> {
  const bySku = new Map<string, ItemOperation[]>();
  const items = operations.map(itemOperationOf);
  const acknowledgedBuys = new Map<string, { item: ItemOperation; completedAt: number }>();
  for (const [k, operation] of operations.entries()) {
    const item = items[k]!;
    const orderId = operation.completion?.value.orderId;
    if (operation.f === "buy" && operation.type === "ok" && typeof orderId === "string") {
      acknowledgedBuys.set(orderId, { item, completedAt: operation.completion!.index });
    }
  }
  const cancelled = new Set<string>();
  for (const [k, operation] of operations.entries()) {
    const itemOperation = items[k]!;
    if (operation.f === "cancel") {
      const orderId = operation.value.orderId as string;
      const where = `operation ${operation.invoke.index}: cancel of ${orderId}`;
      if (cancelled.has(orderId)) {
        throw new UnsupportedOperationError(`${where}: the order is cancelled twice; the ` +
          "checkers model one cancel per order");
      }
      cancelled.add(orderId);
      const buy = acknowledgedBuys.get(orderId);
      if (buy === undefined || buy.completedAt > operation.invoke.index) {
        throw new UnsupportedOperationError(`${where}: the checkers model cancels of orders ` +
          "whose buy was acknowledged before the cancel was invoked");
      }
      if (buy.item.sku !== itemOperation.sku || buy.item.qty !== itemOperation.qty) {
        throw new UnsupportedOperationError(`${where}: sku and qty must be those of its buy ` +
          `(${buy.item.sku} × ${buy.item.qty})`);
      }
    }
    const group = bySku.get(itemOperation.sku);
    if (group === undefined) bySku.set(itemOperation.sku, [itemOperation]);
    else group.push(itemOperation);
  }
  return bySku;
}
