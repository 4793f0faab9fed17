/**
 * The canonical encoding of every record: plain objects whose keys are written in sorted
 * order (UTF-16 code units, as canonicalJson sorts them), so that the engine's own fast
 * JSON.stringify produces canonical JSON. Snapshots are built from these, and so are the
 * per-record hashes behind stateHash(). test/market/snapshot.test.ts checks that the output
 * equals canonicalJson of itself, which catches a key written out of order here.
 */
import { compareCodeUnits } from "./canonical.js";
import type { MarketResult } from "./commands.js";
import type { MarketConfig } from "./config.js";
import type { Item, Order, OrderLine } from "./model.js";
import type { Session } from "./sessions.js";

export function encodeItem(item: Item): object {
  return {
    area: item.area, name: item.name, priceCents: item.priceCents, sku: item.sku,
    stock: item.stock,
  };
}

function encodeOrderLine(line: OrderLine): object {
  return { priceCents: line.priceCents, qty: line.qty, sku: line.sku };
}

export function encodeOrder(order: Order): object {
  return {
    index: order.index, lines: order.lines.map(encodeOrderLine), orderId: order.orderId,
    requestId: order.requestId, status: order.status, totalCents: order.totalCents,
  };
}

export function encodeResult(result: MarketResult): object {
  if (result.ok) {
    return result.kind === "item"
      ? { item: encodeItem(result.item), kind: result.kind, ok: result.ok }
      : { kind: result.kind, ok: result.ok, order: encodeOrder(result.order) };
  }
  // Rejections are flat records of strings and numbers, of several shapes: sort generically.
  const entries = Object.entries(result).sort(([a], [b]) => compareCodeUnits(a, b));
  return Object.fromEntries(entries);
}

export function encodeSession(session: Session): object {
  return {
    digest: session.digest, index: session.index, recordedAtMs: session.recordedAtMs,
    requestId: session.requestId, result: encodeResult(session.result),
  };
}

export function encodeConfig(config: MarketConfig): object {
  return {
    itemsMax: config.itemsMax, sessionTtlMs: config.sessionTtlMs,
    sessionsMax: config.sessionsMax,
  };
}
