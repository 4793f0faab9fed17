/**
 * The snapshot format: canonical JSON (canonical.ts) of the whole replicated state, so that
 * equal states give equal bytes.
 *
 *   {"appliedIndex", "clockMs", "config", "format", "items", "orders", "sessions"}
 *
 * items are in sku order, orders in index order, sessions oldest first (their FIFO order,
 * which expiry and eviction depend on). Decoding checks every field and the invariants that
 * tie them together, and throws MarketSnapshotError naming the first bad field: a snapshot
 * comes from another replica or from disk, and a corrupt one must stop the node, not seed it
 * with a state no replica ever had.
 */
import { marketErrorCodes, type MarketRejection, type MarketResult } from "./commands.js";
import { marketConfigProblems, type MarketConfig } from "./config.js";
import { encodeConfig, encodeItem, encodeOrder, encodeSession } from "./encoding.js";
import {
  fieldPath,
  fieldProblem,
  isRecord,
  ownField,
  readInteger,
  readText,
  type FieldProblem,
  type JsonRecord,
  type TextRule,
} from "./fields.js";
import { marketLimits, orderIdForIndex, type Item, type Order, type OrderLine } from "./model.js";
import type { Session } from "./sessions.js";
import { integerRanges, readItem, textRules } from "./validate.js";

/**
 * v2: the config has no ordersMax, since the market keeps every order (issue 10). v1 snapshots,
 * saved by earlier versions, are still read (their ordersMax ignored), to migrate a data folder.
 */
export const marketSnapshotFormat = "raftmarket.market.v2";
const marketSnapshotFormatV1 = "raftmarket.market.v1";

export interface MarketSnapshotState {
  /** The format the state was read from; encoding always writes marketSnapshotFormat. */
  readonly format?: string;
  readonly config: MarketConfig;
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly items: readonly Item[];
  readonly orders: readonly Order[];
  readonly sessions: readonly Session[];
}

export class MarketSnapshotError extends Error {
  override readonly name = "MarketSnapshotError";
}

/** Canonical JSON of the state; the encoders write keys in sorted order (encoding.ts). */
export function encodeMarketSnapshot(state: MarketSnapshotState): string {
  return JSON.stringify({
    appliedIndex: state.appliedIndex,
    clockMs: state.clockMs,
    config: encodeConfig(state.config),
    format: marketSnapshotFormat,
    items: state.items.map(encodeItem),
    orders: state.orders.map(encodeOrder),
    sessions: state.sessions.map(encodeSession),
  });
}

/** The state as record streams, for encoding from a database read without arrays of it. */
export interface MarketSnapshotSource {
  readonly config: MarketConfig;
  readonly appliedIndex: number;
  readonly clockMs: number;
  /** In sku order. */
  readonly items: Iterable<Item>;
  /** In index order. */
  readonly orders: Iterable<Order>;
  /** Oldest first. */
  readonly sessions: Iterable<Session>;
  /** How many records each stream holds: the streamed format (v3) writes them first. */
  readonly counts?: { readonly items: number; readonly orders: number; readonly sessions: number };
}

/**
 * encodeMarketSnapshot, byte for byte, built a slice of records at a time with `pause()` in
 * between, so that a node keeps sending heartbeats while it serializes tens of megabytes. The
 * source must not change meanwhile: MarketStateMachine.snapshotSource reads a database view
 * (MVCC), so the state machine may go on applying.
 */
export async function encodeMarketSnapshotAsync(source: MarketSnapshotSource,
  pause: () => Promise<void>, recordsPerSlice = 2000): Promise<string> {
  const head = JSON.stringify({ appliedIndex: source.appliedIndex, clockMs: source.clockMs,
    config: encodeConfig(source.config), format: marketSnapshotFormat });
  const parts = [head.slice(0, -1)];
  const sections: [string, Iterable<unknown>, (record: never) => object][] = [
    ["items", source.items, encodeItem as (record: never) => object],
    ["orders", source.orders, encodeOrder as (record: never) => object],
    ["sessions", source.sessions, encodeSession as (record: never) => object],
  ];
  for (const [name, records, encode] of sections) {
    parts.push(`,"${name}":[`);
    let count = 0;
    for (const record of records) {
      if (count > 0) parts.push(",");
      parts.push(JSON.stringify(encode(record as never)));
      if (++count % recordsPerSlice === 0) await pause();
    }
    parts.push("]");
  }
  parts.push("}");
  // One long step is left (about 60 ms for 20 MiB on a shared VM): a flat string needs the
  // whole text in fresh memory. Avoiding it takes carrying the data as chunks, not one string.
  return parts.join("");
}

/** Parses and checks a snapshot; throws MarketSnapshotError on anything malformed. */
export function decodeMarketSnapshot(data: string): MarketSnapshotState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (error) {
    throw new MarketSnapshotError(`market snapshot is not JSON: ${(error as Error).message}`);
  }
  const state = readSnapshot(parsed);
  if ("ok" in state) {
    throw new MarketSnapshotError(`market snapshot: ${state.field} ${state.message}`);
  }
  return state;
}

const anyIndex = { min: 0, max: Number.MAX_SAFE_INTEGER };
const digestRule: TextRule = {
  lengthMin: 64, lengthMax: 64, pattern: /^[0-9a-f]+$/, patternHint: "lowercase hex",
};
/** Messages and field paths in stored rejections: any printable text. */
const looseTextRule: TextRule = { lengthMin: 0, lengthMax: 2000 };
/** A line merges the lines of one sku in a request. */
const mergedQty = { min: 1, max: marketLimits.buyQtyMax * marketLimits.linesPerOrderMax };

function readSnapshot(value: unknown): MarketSnapshotState | FieldProblem {
  if (!isRecord(value)) return fieldProblem("snapshot", "must be a JSON object");
  const format = ownField(value, "format");
  if (format !== marketSnapshotFormat && format !== marketSnapshotFormatV1) {
    return fieldProblem("format", `must be ${marketSnapshotFormat}`);
  }
  const config = readConfig(ownField(value, "config"), format === marketSnapshotFormatV1);
  if ("ok" in config) return config;
  const appliedIndex = readInteger(value, "appliedIndex", "", anyIndex);
  if (typeof appliedIndex !== "number") return appliedIndex;
  const clockMs = readInteger(value, "clockMs", "", integerRanges.timeMs);
  if (typeof clockMs !== "number") return clockMs;
  const items = readArray(value, "items", config.itemsMax, readItemAt);
  if (!Array.isArray(items)) return items;
  const orders = readArray(value, "orders", Number.MAX_SAFE_INTEGER, readOrder);
  if (!Array.isArray(orders)) return orders;
  const sessions = readArray(value, "sessions", config.sessionsMax, readSession);
  if (!Array.isArray(sessions)) return sessions;
  const state = { format, config, appliedIndex, clockMs, items, orders, sessions };
  return checkItemOrder(items) ?? checkOrders(state) ?? checkSessions(state) ?? state;
}

/** A v1 config also has ordersMax, which no longer means anything: checked, then dropped. */
export function readConfig(value: unknown, v1: boolean): MarketConfig | FieldProblem {
  if (!isRecord(value)) return fieldProblem("config", "must be an object");
  const config = {
    sessionsMax: ownField(value, "sessionsMax"),
    sessionTtlMs: ownField(value, "sessionTtlMs"),
    itemsMax: ownField(value, "itemsMax"),
  } as MarketConfig;
  const keys = Object.keys(value).sort().join(",");
  const expected = v1 ? "itemsMax,ordersMax,sessionTtlMs,sessionsMax" : "itemsMax,sessionTtlMs,sessionsMax";
  if (keys !== expected) return fieldProblem("config", `must have exactly the keys ${expected}`);
  const problems = marketConfigProblems(config);
  return problems.length === 0 ? config : fieldProblem("config", problems.join("; "));
}

/** Reads the array `key` of at most `lengthMax` elements, each with `readElement`. */
function readArray<T>(
  record: JsonRecord,
  key: string,
  lengthMax: number,
  readElement: (element: unknown, path: string) => T | FieldProblem,
): T[] | FieldProblem {
  const value = ownField(record, key);
  if (!Array.isArray(value)) return fieldProblem(key, "must be an array");
  if (value.length > lengthMax) return fieldProblem(key, `has more than ${lengthMax} elements`);
  const elements: T[] = [];
  for (let k = 0; k < value.length; k++) {
    const element = readElement(value[k], `${key}[${k}]`);
    if (isFieldProblem(element)) return element;
    elements.push(element);
  }
  return elements;
}

/** A problem, as opposed to a value read; a stored rejection also has ok: false, but an error. */
export function isFieldProblem(value: unknown): value is FieldProblem {
  return isRecord(value) && value.ok === false && typeof value.field === "string" &&
    !Object.hasOwn(value, "error");
}

export function readItemAt(value: unknown, path: string): Item | FieldProblem {
  return isRecord(value) ? readItem(value, path) : fieldProblem(path, "must be an object");
}

export function readOrder(value: unknown, path: string): Order | FieldProblem {
  if (!isRecord(value)) return fieldProblem(path, "must be an object");
  const orderId = readText(value, "orderId", path, textRules.orderId);
  if (typeof orderId !== "string") return orderId;
  const requestId = readText(value, "requestId", path, textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const index = readInteger(value, "index", path, { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (typeof index !== "number") return index;
  if (orderId !== orderIdForIndex(index)) {
    return fieldProblem(fieldPath(path, "orderId"), `must be ${orderIdForIndex(index)}`);
  }
  const status = ownField(value, "status");
  if (status !== "confirmed" && status !== "cancelled") {
    return fieldProblem(fieldPath(path, "status"), "must be confirmed or cancelled");
  }
  const lines = readArray(value, "lines", marketLimits.linesPerOrderMax,
    (line, linePath) => readOrderLine(line, `${path}.${linePath}`));
  if (!Array.isArray(lines)) return lines;
  if (lines.length === 0) return fieldProblem(fieldPath(path, "lines"), "must not be empty");
  const totalCents = readInteger(value, "totalCents", path, anyIndex);
  if (typeof totalCents !== "number") return totalCents;
  const sum = lines.reduce((total, line) => total + line.qty * line.priceCents, 0);
  if (totalCents !== sum) {
    return fieldProblem(fieldPath(path, "totalCents"), `must be the sum of the lines, ${sum}`);
  }
  return { orderId, requestId, lines, status, totalCents, index };
}

function readOrderLine(value: unknown, path: string): OrderLine | FieldProblem {
  if (!isRecord(value)) return fieldProblem(path, "must be an object");
  const sku = readText(value, "sku", path, textRules.sku);
  if (typeof sku !== "string") return sku;
  const qty = readInteger(value, "qty", path, mergedQty);
  if (typeof qty !== "number") return qty;
  const priceCents = readInteger(value, "priceCents", path, integerRanges.priceCents);
  if (typeof priceCents !== "number") return priceCents;
  return { sku, qty, priceCents };
}

export function readSession(value: unknown, path: string): Session | FieldProblem {
  if (!isRecord(value)) return fieldProblem(path, "must be an object");
  const requestId = readText(value, "requestId", path, textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const digest = readText(value, "digest", path, digestRule);
  if (typeof digest !== "string") return digest;
  const recordedAtMs = readInteger(value, "recordedAtMs", path, integerRanges.timeMs);
  if (typeof recordedAtMs !== "number") return recordedAtMs;
  const index = readInteger(value, "index", path, { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (typeof index !== "number") return index;
  const result = readResult(ownField(value, "result"), fieldPath(path, "result"));
  if (isFieldProblem(result)) return result;
  return { requestId, digest, recordedAtMs, index, result };
}

function readResult(value: unknown, path: string): MarketResult | FieldProblem {
  if (!isRecord(value)) return fieldProblem(path, "must be an object");
  const ok = ownField(value, "ok");
  if (ok === false) return readRejection(value, path);
  const kind = ownField(value, "kind");
  if (ok !== true || (kind !== "item" && kind !== "order")) {
    return fieldProblem(path, "must be {ok: true, kind: item|order, ...} or {ok: false, ...}");
  }
  const record = ownField(value, kind);
  const read = kind === "item" ? readItemAt(record, fieldPath(path, "item"))
    : readOrder(record, fieldPath(path, "order"));
  if (isFieldProblem(read)) return read;
  return kind === "item" ? { ok, kind, item: read as Item } : { ok, kind, order: read as Order };
}

/** A stored rejection: its code and the details that code carries. */
function readRejection(value: JsonRecord, path: string): MarketRejection | FieldProblem {
  const error = ownField(value, "error");
  const message = readText(value, "message", path, looseTextRule);
  if (typeof message !== "string") return message;
  const text = (key: string, rule: TextRule): string | FieldProblem =>
    readText(value, key, path, rule);
  const count = (key: string): number | FieldProblem => readInteger(value, key, path, anyIndex);
  switch (error) {
    case "invalidCommand": {
      const field = text("field", looseTextRule);
      return typeof field === "string" ? { ok: false, error, field, message } : field;
    }
    case "limitExceeded": {
      const field = text("field", looseTextRule);
      if (typeof field !== "string") return field;
      const limit = count("limit");
      return typeof limit === "number" ? { ok: false, error, field, limit, message } : limit;
    }
    case "notFound": return readNotFound(value, path, message);
    case "alreadyExists": {
      const sku = text("sku", textRules.sku);
      return typeof sku === "string" ? { ok: false, error, sku, message } : sku;
    }
    case "insufficientStock": {
      const sku = text("sku", textRules.sku);
      if (typeof sku !== "string") return sku;
      const available = count("available");
      if (typeof available !== "number") return available;
      const requested = count("requested");
      if (typeof requested !== "number") return requested;
      return { ok: false, error, sku, available, requested, message };
    }
    case "requestIdConflict": {
      const requestId = text("requestId", textRules.requestId);
      return typeof requestId === "string" ? { ok: false, error, requestId, message } : requestId;
    }
    default:
      return fieldProblem(fieldPath(path, "error"),
        `must be one of ${marketErrorCodes.join(", ")}`);
  }
}

function readNotFound(value: JsonRecord, path: string, message: string):
  MarketRejection | FieldProblem {
  const resource = ownField(value, "resource");
  if (resource === "item") {
    const sku = readText(value, "sku", path, textRules.sku);
    if (typeof sku !== "string") return sku;
    return { ok: false, error: "notFound", resource, sku, message };
  }
  if (resource === "order") {
    const orderId = readText(value, "orderId", path, textRules.orderId);
    if (typeof orderId !== "string") return orderId;
    return { ok: false, error: "notFound", resource, orderId, message };
  }
  return fieldProblem(fieldPath(path, "resource"), "must be item or order");
}

/** Items are in strictly increasing sku order (so no sku appears twice). */
function checkItemOrder(items: readonly Item[]): FieldProblem | null {
  for (let k = 1; k < items.length; k++) {
    if (!(items[k - 1]!.sku < items[k]!.sku)) {
      return fieldProblem(`items[${k}].sku`, "must be greater than the previous sku");
    }
  }
  return null;
}

/** Orders are in increasing index order, not after appliedIndex, and name known skus once. */
function checkOrders(state: MarketSnapshotState): FieldProblem | null {
  const skus = new Set(state.items.map((item) => item.sku));
  let previousIndex = 0;
  for (const [k, order] of state.orders.entries()) {
    if (order.index <= previousIndex || order.index > state.appliedIndex) {
      return fieldProblem(`orders[${k}].index`,
        "must increase along the orders and not exceed appliedIndex");
    }
    previousIndex = order.index;
    const lineSkus = new Set<string>();
    for (const [j, line] of order.lines.entries()) {
      if (!skus.has(line.sku) || lineSkus.has(line.sku)) {
        return fieldProblem(`orders[${k}].lines[${j}].sku`, "must be a known sku, once per order");
      }
      lineSkus.add(line.sku);
    }
  }
  return null;
}

/** Sessions are oldest first: index increasing, recordedAtMs never decreasing, both bounded. */
function checkSessions(state: MarketSnapshotState): FieldProblem | null {
  const requestIds = new Set<string>();
  let previous = { index: 0, recordedAtMs: 0 };
  for (const [k, session] of state.sessions.entries()) {
    if (session.index <= previous.index || session.index > state.appliedIndex) {
      return fieldProblem(`sessions[${k}].index`,
        "must increase along the sessions and not exceed appliedIndex");
    }
    if (session.recordedAtMs < previous.recordedAtMs || session.recordedAtMs > state.clockMs) {
      return fieldProblem(`sessions[${k}].recordedAtMs`,
        "must not decrease along the sessions nor exceed clockMs");
    }
    if (requestIds.has(session.requestId)) {
      return fieldProblem(`sessions[${k}].requestId`, "must not repeat");
    }
    requestIds.add(session.requestId);
    previous = session;
  }
  return null;
}
