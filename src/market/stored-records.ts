/**
 * How the market lays out orders and sessions as state-store values: packed in arrays, not as
 * the objects the API and the snapshots show.
 *
 * Why. LMDB maps every page it reads, and the kernel counts mapped pages as the node's resident
 * memory, so the database's size is close to a node's RSS (issue 10: at most 250 MiB with
 * 1,000,000 orders). As objects, an order took about 176 bytes and a session about 396 (it
 * repeats its order): `npm run bench -- big-state --orders 1000000` built a 220 MiB database.
 * Packed, a value leaves out what its key or its other fields already say:
 *
 *   order    [requestId, status, sku, qty, priceCents, sku, qty, priceCents, ...]
 *            (key: the index; orderId is orderIdForIndex(index); totalCents is the lines' sum;
 *            status 0 is confirmed, 1 cancelled)
 *   session  [digest, recordedAtMs, index, result]  (key: the requestId)
 *            where an order result is [order index, packed order], the packed order's
 *            requestId 0 when it is the session's own; any other result stays an object.
 *
 * A record that does not fit the packed form exactly (an orderId or a total that the rules
 * would not derive, a line with other fields) is stored as the object itself, so unpacking
 * always gives back the record that was stored. Objects are what earlier versions stored, and
 * they are still read: a store written before this change opens as it was.
 *
 * The records themselves do not change: the state digest, snapshots and the API see objects,
 * built with their fields in the order the market builds them.
 */
import { assert } from "./assert.js";
import type { MarketResult } from "./commands.js";
import { orderIdForIndex, type Order, type OrderLine, type OrderStatus } from "./model.js";
import * as results from "./results.js";
import type { Session } from "./sessions.js";

const orderFieldCount = 6; // orderId, requestId, lines, status, totalCents, index
const lineFieldCount = 3; // sku, qty, priceCents
const sessionFieldCount = 5; // requestId, digest, recordedAtMs, index, result
const statusCodes: readonly OrderStatus[] = ["confirmed", "cancelled"];

/** The value to store for `order` (at key order.index). */
export function packOrder(order: Order, sessionRequestId?: string): unknown {
  if (!packable(order)) return order;
  const packed: unknown[] = [order.requestId === sessionRequestId ? 0 : order.requestId,
    statusCodes.indexOf(order.status)];
  for (const line of order.lines) packed.push(line.sku, line.qty, line.priceCents);
  return packed;
}

/** The order stored at `index` as `value` (packOrder's, or an object as stored before). */
export function unpackOrder(value: unknown, index: number, sessionRequestId?: string): Order {
  if (!Array.isArray(value)) {
    assert(isObject(value), `market: stored order ${index} is neither packed nor an object`);
    return results.freezeOrder(value as unknown as Order);
  }
  const [requestIdField, statusCode] = value as unknown[];
  const requestId = requestIdField === 0 ? sessionRequestId : requestIdField;
  const status = statusCodes[statusCode as number];
  const lineFields = value.length - 2;
  assert(typeof requestId === "string" && status !== undefined && lineFields > 0
    && lineFields % lineFieldCount === 0, `market: stored order ${index} is malformed`);
  const lines: OrderLine[] = [];
  let totalCents = 0;
  for (let at = 2; at < value.length; at += lineFieldCount) {
    const sku: unknown = value[at];
    const qty: unknown = value[at + 1];
    const priceCents: unknown = value[at + 2];
    assert(typeof sku === "string" && typeof qty === "number" && typeof priceCents === "number",
      `market: stored order ${index} has a malformed line`);
    lines.push({ sku, qty, priceCents });
    totalCents += qty * priceCents;
  }
  return results.freezeOrder({ orderId: orderIdForIndex(index), requestId, lines, status,
    totalCents, index });
}

/** The value to store for `session` (at key session.requestId). */
export function packSession(session: Session): unknown {
  if (Object.keys(session).length !== sessionFieldCount) return session;
  const { result } = session;
  const packedResult = result.ok && result.kind === "order"
    ? [result.order.index, packOrder(result.order, session.requestId)]
    : result;
  return [session.digest, session.recordedAtMs, session.index, packedResult];
}

/** The session stored at `requestId` as `value` (packSession's, or an object). */
export function unpackSession(value: unknown, requestId: string): Session {
  if (!Array.isArray(value)) {
    assert(isObject(value), `market: stored session ${requestId} is neither packed nor an object`);
    return value as unknown as Session;
  }
  const [digest, recordedAtMs, index, packedResult] = value as unknown[];
  assert(value.length === 4 && typeof digest === "string" && typeof recordedAtMs === "number"
    && typeof index === "number", `market: stored session ${requestId} is malformed`);
  let result: MarketResult;
  if (Array.isArray(packedResult)) {
    const [orderIndex, packedOrder] = packedResult as unknown[];
    assert(packedResult.length === 2 && typeof orderIndex === "number",
      `market: stored session ${requestId} has a malformed result`);
    result = results.orderResult(unpackOrder(packedOrder, orderIndex, requestId));
  } else {
    assert(isObject(packedResult), `market: stored session ${requestId} has no result`);
    result = results.freezeResult(packedResult as unknown as MarketResult);
  }
  return Object.freeze({ requestId, digest, recordedAtMs, index, result });
}

/** Whether unpacking order's packed form gives back exactly `order`. */
function packable(order: Order): boolean {
  if (Object.keys(order).length !== orderFieldCount || order.lines.length === 0
    || order.orderId !== orderIdForIndex(order.index)
    || !statusCodes.includes(order.status)) return false;
  let totalCents = 0;
  for (const line of order.lines) {
    if (Object.keys(line).length !== lineFieldCount) return false;
    totalCents += line.qty * line.priceCents;
  }
  return totalCents === order.totalCents;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
