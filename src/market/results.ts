/**
 * Builders for every MarketResult, so that each rejection has one wording and one shape.
 * Results are frozen: one is handed to the caller and kept in the session table, and a caller
 * that changed it would otherwise change what a retry returns.
 */
import type { MarketRejection, MarketResult } from "./commands.js";
import type { Item, Order } from "./model.js";

export function itemResult(item: Item): MarketResult {
  return Object.freeze({ ok: true, kind: "item", item: Object.freeze({ ...item }) });
}

export function orderResult(order: Order): MarketResult {
  return Object.freeze({ ok: true, kind: "order", order: freezeOrder(order) });
}

export function invalidCommand(field: string, message: string): MarketRejection {
  return Object.freeze({ ok: false, error: "invalidCommand", field, message });
}

export function itemNotFound(sku: string): MarketRejection {
  return Object.freeze({
    ok: false, error: "notFound", resource: "item", sku, message: `no item with sku ${sku}`,
  });
}

export function orderNotFound(orderId: string): MarketRejection {
  return Object.freeze({
    ok: false, error: "notFound", resource: "order", orderId,
    message: `no order ${orderId}`,
  });
}

export function alreadyExists(sku: string): MarketRejection {
  return Object.freeze({
    ok: false, error: "alreadyExists", sku, message: `an item with sku ${sku} already exists`,
  });
}

export function insufficientStock(item: Item, requested: number): MarketRejection {
  return Object.freeze({
    ok: false, error: "insufficientStock", sku: item.sku, available: item.stock, requested,
    message: `only ${item.stock} of ${item.sku} in stock, ${requested} requested`,
  });
}

export function requestIdConflict(requestId: string): MarketRejection {
  return Object.freeze({
    ok: false, error: "requestIdConflict", requestId,
    message: `requestId ${requestId} was already used for a different request`,
  });
}

export function limitExceeded(field: string, limit: number, message: string): MarketRejection {
  return Object.freeze({ ok: false, error: "limitExceeded", field, limit, message });
}

/** Freezes a result and everything in it (results restored from a snapshot are not frozen). */
export function freezeResult(result: MarketResult): MarketResult {
  if (!result.ok) return Object.freeze({ ...result });
  return result.kind === "item" ? itemResult(result.item) : orderResult(result.order);
}

/** Freezes an order and its lines, so that no holder of it can change it. */
export function freezeOrder(order: Order): Order {
  if (Object.isFrozen(order)) return order;
  const lines = Object.freeze(order.lines.map((line) => Object.freeze({ ...line })));
  return Object.freeze({ ...order, lines });
}

/**
 * freezeOrder for an order its caller just built and holds alone (its lines may be shared
 * only if frozen already): frozen as it is, not copied. The market stores an order at every
 * buy and cancel on every replica, and the two spreads were 1% of a simulated seed's CPU.
 */
export function freezeOwnOrder(order: Order): Order {
  for (const line of order.lines) Object.freeze(line);
  Object.freeze(order.lines);
  return Object.freeze(order);
}
