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

// --- The same encodings as JSON text, written out ---------------------------------------------
//
// The per-record hashes behind stateHash() hash JSON.stringify of the encodings above. Every
// replica hashes an item, an order and a session at each buy (and drops a session), and
// building the object only to have JSON.stringify walk it cost about half of each hash. These
// write the same text directly: test/market/state-digest.test.ts checks each against
// JSON.stringify of its encoding, since a record whose text changed would change stateHash
// (and the digest a store holds) with no change of state.

const jsonText = JSON.stringify;

/** JSON.stringify(encodeItem(item)). */
export function itemJson(item: Item): string {
  return `{"area":${jsonText(item.area)},"name":${jsonText(item.name)},` +
    `"priceCents":${jsonText(item.priceCents)},"sku":${jsonText(item.sku)},` +
    `"stock":${jsonText(item.stock)}}`;
}

/** JSON.stringify(encodeOrder(order)). */
export function orderJson(order: Order): string {
  let lines = "";
  for (const line of order.lines) {
    lines += `${lines === "" ? "" : ","}{"priceCents":${jsonText(line.priceCents)},` +
      `"qty":${jsonText(line.qty)},"sku":${jsonText(line.sku)}}`;
  }
  return `{"index":${jsonText(order.index)},"lines":[${lines}],` +
    `"orderId":${jsonText(order.orderId)},"requestId":${jsonText(order.requestId)},` +
    `"status":${jsonText(order.status)},"totalCents":${jsonText(order.totalCents)}}`;
}

/**
 * JSON.stringify(encodeSession(session)). `resultOrderJson`, when given, must be
 * orderJson(session.result.order): the market has just written it for the order's own hash.
 */
export function sessionJson(session: Session, resultOrderJson?: string): string {
  const { result } = session;
  const resultText = !result.ok ? jsonText(encodeResult(result))
    : result.kind === "item" ? `{"item":${itemJson(result.item)},"kind":"item","ok":true}`
    : `{"kind":"order","ok":true,"order":${resultOrderJson ?? orderJson(result.order)}}`;
  return `{"digest":${jsonText(session.digest)},"index":${jsonText(session.index)},` +
    `"recordedAtMs":${jsonText(session.recordedAtMs)},` +
    `"requestId":${jsonText(session.requestId)},"result":${resultText}}`;
}

export function encodeConfig(config: MarketConfig): object {
  return {
    itemsMax: config.itemsMax, sessionTtlMs: config.sessionTtlMs,
    sessionsMax: config.sessionsMax,
  };
}
