/**
 * The orders retained for getOrder and cancel, oldest first. The book is bounded: adding an
 * order beyond ordersMax forgets the oldest one (MarketConfig.ordersMax says why). Orders are
 * frozen records; a cancellation replaces the record, keeping its place in the book.
 */
import { assert } from "./assert.js";
import { encodeOrder } from "./encoding.js";
import { orderIdForIndex, type Order } from "./model.js";
import { DigestedMap, type SetDigest } from "./state-digest.js";

export class OrderBook {
  /**
   * Invariants: Map insertion order is creation order, which is increasing `index`;
   * size <= ordersMax; each key is orderIdForIndex(order.index).
   */
  private readonly orders: DigestedMap<Order>;
  private newestIndex = 0;

  /** Every change to the orders is reflected in `digest` (see state-digest.ts). */
  constructor(readonly ordersMax: number, digest: SetDigest) {
    assert(Number.isSafeInteger(ordersMax) && ordersMax >= 1, "orderBook: bad ordersMax");
    this.orders = new DigestedMap(digest, "order", encodeOrder);
  }

  /** Brings the state digest up to date with every change so far (see state-digest.ts). */
  flushDigest(): void {
    this.orders.flush();
  }

  get size(): number {
    return this.orders.size;
  }

  get(orderId: string): Order | undefined {
    return this.orders.get(orderId);
  }

  /** Adds a new order, newer than every order in the book, forgetting the oldest if full. */
  add(order: Order): void {
    assert(order.index > this.newestIndex, "orderBook: orders are added in index order");
    assert(order.orderId === orderIdForIndex(order.index), "orderBook: orderId != o-<index>");
    this.newestIndex = order.index;
    while (this.orders.size >= this.ordersMax) {
      const oldest = this.orders.firstKey();
      assert(oldest !== undefined, "orderBook: full but empty");
      this.orders.delete(oldest);
    }
    this.orders.set(order.orderId, freezeOrder(order));
  }

  /** Replaces an order with a new version of itself (a cancellation). */
  replace(order: Order): Order {
    const previous = this.orders.get(order.orderId);
    assert(previous !== undefined, `orderBook: replacing unknown order ${order.orderId}`);
    assert(previous.index === order.index, "orderBook: an order keeps its index");
    const frozen = freezeOrder(order);
    this.orders.set(order.orderId, frozen);
    return frozen;
  }

  /** Every retained order in index order: the canonical order of a snapshot. */
  list(): Order[] {
    return [...this.orders.values()];
  }
}

/** Freezes an order and its lines, so that no holder of it can change it. */
export function freezeOrder(order: Order): Order {
  if (Object.isFrozen(order)) return order;
  const lines = Object.freeze(order.lines.map((line) => Object.freeze({ ...line })));
  return Object.freeze({ ...order, lines });
}
