/**
 * Shared helpers for the market tests: a LogFeeder plays the part of Raft and the driver,
 * handing the same requests to one or more replicas at increasing log indexes with a leader
 * clock the test controls, and checks that every replica returns the same result.
 */
import { expect } from "chai";
import {
  commandFromRequest,
  encodeMarketSnapshotStream,
  MarketStateMachine,
  type MarketConfig,
  type MarketRequest,
  type MarketResult,
} from "../../src/market/index.js";
import type { StateStore } from "../../src/market/state-store.js";

export const startTimeMs = 1_700_000_000_000;

export class LogFeeder {
  index = 0;
  timeMs = startTimeMs;
  readonly replicas: MarketStateMachine[];

  constructor(replicas: MarketStateMachine[] | MarketStateMachine) {
    this.replicas = Array.isArray(replicas) ? replicas : [replicas];
  }

  /** Appends `request` to the log at the next index, stamped with the current leader time. */
  apply(request: MarketRequest): MarketResult {
    this.index++;
    const command = commandFromRequest(request, this.timeMs);
    const results = this.replicas.map((replica) => replica.apply(command, this.index));
    for (const result of results.slice(1)) expect(result).to.deep.equal(results[0]);
    return results[0]!;
  }

  /** Moves the leader clock (which may move back, as across a failover). */
  advance(deltaMs: number): void {
    this.timeMs += deltaMs;
  }
}

export function newMarket(config: Partial<MarketConfig> = {}): MarketStateMachine {
  return new MarketStateMachine(config);
}

let requestCounter = 0;

/** A requestId no other test uses. */
export function freshRequestId(): string {
  requestCounter++;
  return `r-${requestCounter}`;
}

export function createItem(
  sku: string,
  stock: number,
  overrides: Partial<{ name: string; area: string; priceCents: number; requestId: string }> = {},
): MarketRequest {
  return {
    kind: "createItem", requestId: overrides.requestId ?? freshRequestId(), sku,
    name: overrides.name ?? `Item ${sku}`, area: overrides.area ?? "General",
    priceCents: overrides.priceCents ?? 100, stock,
  };
}

export function addStock(sku: string, qty: number, requestId = freshRequestId()): MarketRequest {
  return { kind: "addStock", requestId, sku, qty };
}

export function buy(
  lines: readonly { sku: string; qty: number }[],
  requestId = freshRequestId(),
): MarketRequest {
  return { kind: "buy", requestId, lines };
}

export function cancel(orderId: string, requestId = freshRequestId()): MarketRequest {
  return { kind: "cancel", requestId, orderId };
}

/** The result's item, failing the test if the result is anything else. */
export function expectItem(result: MarketResult) {
  if (!(result.ok && result.kind === "item")) {
    expect.fail(`expected an item, got ${JSON.stringify(result)}`);
  }
  return result.item;
}

/** The result's order, failing the test if the result is anything else. */
export function expectOrder(result: MarketResult) {
  if (!(result.ok && result.kind === "order")) {
    expect.fail(`expected an order, got ${JSON.stringify(result)}`);
  }
  return result.order;
}

/** Stock of `sku`, failing the test if there is no such item. */
export function stockOf(market: MarketStateMachine, sku: string): number {
  const item = market.getItem(sku);
  if (item === undefined) expect.fail(`no item ${sku}`);
  return item.stock;
}

/** The chunks of a snapshot stream (format v3) of `store`'s committed state. */
export async function snapshotStreamText(store: StateStore): Promise<string[]> {
  const view = store.view();
  const text: string[] = [];
  try {
    await encodeMarketSnapshotStream(MarketStateMachine.snapshotSource(view).source,
      (chunk) => text.push(chunk), () => Promise.resolve());
  } finally {
    view.close();
  }
  return text;
}
