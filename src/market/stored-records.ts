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
 *   session  [digest, recordedAtMs, index, result]  (key: its sequence number; the requestId
 *            is in sessionQueue at the same key)
 *            where an order result is [order index, packed order], the packed order's
 *            requestId 0 when it is the session's own; any other result stays an object.
 *
 * A record that does not fit the packed form exactly (an orderId or a total that the rules
 * would not derive, a line with other fields) is stored as the object itself, so unpacking
 * always gives back the record that was stored. Objects are what earlier versions stored, and
 * they are still read: a store of such a version opens with its values as they were (its
 * sessions are moved to their sequence numbers and its meta says marketStoreFormat at once,
 * market-state-machine.ts, so that an earlier version refuses it).
 *
 * A value the checksum passed but that is not a record (a bug, or a foreign writer) is refused
 * with a StateStoreError, as a damaged value is: the node stops rather than serve it. Objects
 * are checked as a snapshot's records are (market-snapshot.ts).
 *
 * The records themselves do not change: the state digest, snapshots and the API see objects,
 * built with their fields in the order the market builds them.
 */
import { isFieldProblem, readOrder, readSession } from "./market-snapshot.js";
import { orderIdForIndex, type Order, type OrderLine, type OrderStatus } from "./model.js";
import * as results from "./results.js";
import type { Session } from "./sessions.js";
import { StateStoreError } from "./state-store.js";

/**
 * The format a market's store meta records: packed records, sessions keyed by sequence
 * (session-index.ts). A store of marketStoreFormatV2 (packed, sessions keyed by requestId) or of
 * marketSnapshotFormat (objects, sessions keyed by requestId), as earlier versions wrote them,
 * is still opened: its sessions are moved to their sequence numbers first.
 */
export const marketStoreFormat = "raftmarket.market.v3.sequenced";
export const marketStoreFormatV2 = "raftmarket.market.v2.packed";

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
    const order = readOrder(value, "order");
    refuseIf(isFieldProblem(order) || order.index !== index, () => `stored order ${index} is ` +
      `not an order${isFieldProblem(order) ? ` (${order.field} ${order.message})` : ""}`);
    return results.freezeOrder(order as Order);
  }
  const [requestIdField, statusCode] = value as unknown[];
  const requestId = requestIdField === 0 ? sessionRequestId : requestIdField;
  const status = Number.isInteger(statusCode) ? statusCodes[statusCode as number] : undefined;
  const lineFields = value.length - 2;
  refuseIf(typeof requestId !== "string" || status === undefined || lineFields <= 0
    || lineFields % lineFieldCount !== 0, () => `stored order ${index} is malformed`);
  const lines: OrderLine[] = [];
  let totalCents = 0;
  for (let at = 2; at < value.length; at += lineFieldCount) {
    const sku: unknown = value[at];
    const qty: unknown = value[at + 1];
    const priceCents: unknown = value[at + 2];
    if (!(typeof sku === "string" && typeof qty === "number"
      && typeof priceCents === "number")) {
      throw refusal(`stored order ${index} has a malformed line`);
    }
    lines.push({ sku, qty, priceCents });
    totalCents += qty * priceCents;
  }
  return results.freezeOrder({ orderId: orderIdForIndex(index), requestId: requestId as string,
    lines, status: status!, totalCents, index });
}

/** The value to store for `session` (at its sequence number). */
export function packSession(session: Session): unknown {
  if (Object.keys(session).length !== sessionFieldCount) return session;
  const { result } = session;
  const packedResult = result.ok && result.kind === "order"
    ? [result.order.index, packOrder(result.order, session.requestId)]
    : result;
  return [session.digest, session.recordedAtMs, session.index, packedResult];
}

/** The session of `requestId` stored as `value` (packSession's, or an object). */
export function unpackSession(value: unknown, requestId: string): Session {
  if (!Array.isArray(value)) return checkedSession(value, requestId);
  const [digest, recordedAtMs, index, packedResult] = value as unknown[];
  refuseIf(value.length !== 4 || typeof digest !== "string" || typeof recordedAtMs !== "number"
    || typeof index !== "number", () => `stored session ${requestId} is malformed`);
  if (!Array.isArray(packedResult)) {
    // Item results and refusals are stored as they are: checked whole, as an object session.
    return checkedSession({ requestId, digest, recordedAtMs, index, result: packedResult },
      requestId);
  }
  const [orderIndex, packedOrder] = packedResult as unknown[];
  refuseIf(packedResult.length !== 2 || !Number.isSafeInteger(orderIndex),
    () => `stored session ${requestId} has a malformed result`);
  const result = results.orderResult(unpackOrder(packedOrder, orderIndex as number, requestId));
  return Object.freeze({ requestId, digest: digest as string,
    recordedAtMs: recordedAtMs as number, index: index as number, result });
}

function checkedSession(value: unknown, requestId: string): Session {
  const session = readSession(value, "session");
  refuseIf(isFieldProblem(session) || session.requestId !== requestId, () => `stored session ` +
    `${requestId} is not a session${isFieldProblem(session)
      ? ` (${session.field} ${session.message})` : ""}`);
  const checked = session as Session;
  return Object.freeze({ ...checked, result: results.freezeResult(checked.result) });
}

/** Whether unpacking order's packed form gives back exactly `order`. */
function packable(order: Order): boolean {
  if (Object.keys(order).length !== orderFieldCount || order.lines.length === 0
    || typeof order.requestId !== "string" || order.orderId !== orderIdForIndex(order.index)
    || !statusCodes.includes(order.status)) return false;
  let totalCents = 0;
  for (const line of order.lines) {
    if (Object.keys(line).length !== lineFieldCount || typeof line.sku !== "string"
      || typeof line.qty !== "number" || typeof line.priceCents !== "number") return false;
    totalCents += line.qty * line.priceCents;
  }
  return totalCents === order.totalCents;
}

function refuseIf(condition: boolean, message: () => string): void {
  if (condition) throw refusal(message());
}

function refusal(message: string): StateStoreError {
  return new StateStoreError(`market: ${message}`);
}
