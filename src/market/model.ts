/**
 * The marketplace's records, in the shapes of the client API contract (DESIGN.md §3), and the
 * bounds on every field. Records held by the state machine are frozen: a change (new stock, a
 * cancellation) replaces the record, so a record handed to a caller or stored as a session's
 * result can never change under it.
 */

/** `item = {sku, name, area, priceCents, stock}`. Invariant: 0 <= stock <= stockMax. */
export interface Item {
  readonly sku: string;
  readonly name: string;
  readonly area: string;
  readonly priceCents: number;
  readonly stock: number;
}

/** One line of an order as a client asks for it. */
export interface OrderLineRequest {
  readonly sku: string;
  readonly qty: number;
}

/**
 * One line of a confirmed order: lines of one sku are merged into one, in the order their sku
 * first appeared in the request, and each carries the unit price at the time of purchase (an
 * extension of the contract's `lines`, so that totalCents can be explained and audited).
 */
export interface OrderLine {
  readonly sku: string;
  readonly qty: number;
  readonly priceCents: number;
}

export type OrderStatus = "confirmed" | "cancelled";

/**
 * `order = {orderId, requestId, lines, status, totalCents, index}`. `index` is the log index
 * of the buy that created it and `orderId` is derived from it (`o-<index>`), so every replica
 * names an order identically. Invariant: totalCents = sum of qty * priceCents over lines.
 */
export interface Order {
  readonly orderId: string;
  readonly requestId: string;
  readonly lines: readonly OrderLine[];
  readonly status: OrderStatus;
  readonly totalCents: number;
  readonly index: number;
}

/**
 * Bounds on every field of every command (STYLE.md §5). They are chosen so that no arithmetic
 * leaves the safe integers: a total is at most linesPerOrderMax * buyQtyMax * priceCentsMax =
 * 1e15 < Number.MAX_SAFE_INTEGER (about 9e15).
 */
export const marketLimits = {
  skuLengthMax: 64,
  nameLengthMax: 200,
  areaLengthMax: 64,
  requestIdLengthMax: 128,
  orderIdLengthMax: 64,
  searchTextLengthMax: 200,
  /** $100,000.00 per unit. */
  priceCentsMax: 10_000_000,
  stockMax: 1_000_000_000,
  /** Units added by one addStock (stock itself never exceeds stockMax). */
  addQtyMax: 1_000_000_000,
  /** Units of one line of a buy. */
  buyQtyMax: 1_000_000,
  linesPerOrderMax: 100,
  searchLimitDefault: 100,
  searchLimitMax: 1000,
} as const;

/** The orderId of the order created by the buy at log index `index`. */
export function orderIdForIndex(index: number): string {
  return `o-${index}`;
}
