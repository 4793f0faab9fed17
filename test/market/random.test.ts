/**
 * Invariants under a random workload. Method: a seeded PRNG (the core's SeededRng) draws a few
 * hundred operations: creates (some of taken skus), stock additions, buys of one to four lines
 * (some of unknown skus, some with repeated skus, many beyond the stock), cancels (of live,
 * cancelled and unknown orders), retries of earlier requests and reuses of earlier requestIds
 * with another body; the leader clock moves forward and sometimes back. Replicas A and B apply
 * the whole log; C is restored from B's snapshot half way and applies the rest. After every
 * step: no stock is negative, every replica returned the same result, and per sku
 *   stock = created + added - sold + restocked by cancels,
 * counted from the results of first applications only (a retry must change nothing). At the
 * end the three replicas have equal state hashes, also equal to the hash a restore computes from
 * scratch (the live hashes are incremental). A second configuration uses tiny session and
 * order tables, so that expiry and eviction happen all the time; there retries may apply anew,
 * so it checks non-negative stock and convergence but not the ledger. A failure names its seed.
 */
import { expect } from "chai";
import type {
  MarketConfig,
  MarketRequest,
  MarketResult,
  MarketStateMachine,
} from "../../src/market/index.js";
import {
  canonicalJson,
  MarketStateMachine as Market,
  marketSnapshotFormat,
  sha256Hex,
} from "../../src/market/index.js";
import { encodeConfig } from "../../src/market/encoding.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";
import { SeededRng } from "../../src/raft/rng.js";
import { LogFeeder } from "./helpers.js";

const stepCount = 400;
const skus = ["s0", "s1", "s2", "s3", "s4", "s5"];

interface Ledger {
  readonly units: Map<string, number>;
  /** Orders as last seen in a result, to tell a restocking cancel from an idempotent one. */
  readonly orders: Map<string, { status: string; lines: readonly { sku: string; qty: number }[] }>;
}

class Workload {
  private readonly history: { request: MarketRequest; result: MarketResult }[] = [];
  private counter = 0;

  constructor(private readonly rng: SeededRng, private readonly ledger: Ledger) {}

  /** Draws the next request; `retryOf` is the first result when it is a pure retry. */
  next(): { request: MarketRequest; retryOf: MarketResult | null; conflict: boolean } {
    const roll = this.rng.nextInt(100);
    const previous = this.history[this.rng.nextInt(Math.max(1, this.history.length))];
    if (roll >= 80 && previous !== undefined) {
      if (roll < 92) {
        return { request: previous.request, retryOf: previous.result, conflict: false };
      }
      const other = { ...this.fresh(this.rng.nextInt(80)), requestId: previous.request.requestId };
      // The new body may happen to equal the old one (a cancel of the same order): a retry.
      const same = canonicalJson(other) === canonicalJson(previous.request);
      return { request: other, retryOf: same ? previous.result : null, conflict: !same };
    }
    return { request: this.fresh(roll), retryOf: null, conflict: false };
  }

  record(request: MarketRequest, result: MarketResult): void {
    this.history.push({ request, result });
  }

  private fresh(roll: number): MarketRequest {
    const requestId = `w-${++this.counter}`;
    const sku = this.rng.nextInt(10) === 0 ? "ghost" : skus[this.rng.nextInt(skus.length)]!;
    if (roll < 8) {
      return { kind: "createItem", requestId, sku, name: `Item ${sku}`, area: "A",
        priceCents: 1 + this.rng.nextInt(500), stock: this.rng.nextInt(20) };
    }
    if (roll < 25) return { kind: "addStock", requestId, sku, qty: 1 + this.rng.nextInt(10) };
    if (roll < 65) {
      const lines = Array.from({ length: 1 + this.rng.nextInt(4) }, () => ({
        sku: skus[this.rng.nextInt(skus.length)]!, qty: 1 + this.rng.nextInt(6),
      }));
      return { kind: "buy", requestId, lines: this.rng.nextInt(20) === 0
        ? [...lines, { sku: "ghost", qty: 1 }] : lines };
    }
    const orderIds = [...this.ledger.orders.keys()];
    const orderId = orderIds.length === 0 || this.rng.nextInt(10) === 0 ? "o-999999"
      : orderIds[this.rng.nextInt(orderIds.length)]!;
    return { kind: "cancel", requestId, orderId };
  }
}

/** Updates the expected units per sku from the result of a first application. */
function account(ledger: Ledger, request: MarketRequest, result: MarketResult): void {
  if (!result.ok) return;
  const add = (sku: string, delta: number) =>
    ledger.units.set(sku, (ledger.units.get(sku) ?? 0) + delta);
  if (request.kind === "createItem") add(request.sku, request.stock);
  if (request.kind === "addStock") add(request.sku, request.qty);
  if (result.kind !== "order") return;
  const order = result.order;
  const known = ledger.orders.get(order.orderId);
  if (request.kind === "buy") for (const line of order.lines) add(line.sku, -line.qty);
  if (request.kind === "cancel" && known?.status === "confirmed") {
    for (const line of order.lines) add(line.sku, line.qty);
  }
  ledger.orders.set(order.orderId, { status: order.status, lines: order.lines });
}

function checkInvariants(market: MarketStateMachine, ledger: Ledger | null, context: string) {
  for (const item of market.searchItems({ limit: 1000 })) {
    expect(item.stock, `${context}: stock of ${item.sku}`).to.be.at.least(0);
    if (ledger !== null) {
      expect(item.stock, `${context}: units of ${item.sku}`).to.equal(ledger.units.get(item.sku));
    }
  }
}

/**
 * stateHash() writes its canonical JSON out by hand: it must be canonicalJson of the object
 * it stands for (the record digest as the store's meta holds it after each apply).
 */
function checkStateHash(market: MarketStateMachine, store: MemoryStateStore, context: string) {
  const { appliedIndex, clockMs, itemCount, orderCount, sessionCount } = market.stats();
  const { recordDigest } = store.get("meta", "market") as { recordDigest: string };
  const expected = sha256Hex(canonicalJson({ appliedIndex, clockMs,
    config: encodeConfig(market.config), format: marketSnapshotFormat, itemCount, orderCount,
    recordDigest, sessionCount }));
  expect(market.stateHash(), `${context}: stateHash`).to.equal(expected);
}

function runWorkload(seed: number, config: Partial<MarketConfig>, checkLedger: boolean): void {
  const rng = new SeededRng(seed);
  const ledger: Ledger = { units: new Map(), orders: new Map() };
  const workload = new Workload(rng, ledger);
  const store = new MemoryStateStore();
  const log = new LogFeeder([new Market(config, store), new Market(config)]);
  for (let step = 0; step < stepCount; step++) {
    const context = `seed=${seed} step=${step}`;
    if (step === stepCount / 2) log.replicas.push(Market.restore(log.replicas[1]!.snapshot()));
    log.advance(rng.nextInt(8) === 0 ? -rng.nextInt(500) : rng.nextInt(config.sessionTtlMs
      === undefined ? 50 : 400));
    const { request, retryOf, conflict } = workload.next();
    const result = log.apply(request);
    if (checkLedger && retryOf !== null) expect(result, context).to.deep.equal(retryOf);
    if (checkLedger && conflict) expect(result, context).to.include({ error: "requestIdConflict" });
    if (retryOf === null && !conflict) {
      workload.record(request, result);
      // Without the ledger check this still tracks orders, so that cancels find some.
      account(ledger, request, result);
    }
    checkInvariants(log.replicas[0]!, checkLedger ? ledger : null, context);
    checkStateHash(log.replicas[0]!, store, context);
  }
  const fresh = Market.restore(log.replicas[0]!.snapshot());
  const hashes = [...log.replicas, fresh].map((replica) => replica.stateHash());
  expect(new Set(hashes).size, `seed=${seed}: replicas diverged`).to.equal(1);
  expect(log.replicas[2]!.snapshot()).to.equal(log.replicas[0]!.snapshot());
}

describe("market under a random workload", () => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    it(`keeps stock non-negative, conserves units and converges (seed ${seed})`, () => {
      runWorkload(seed, {}, true);
    });
  }
  for (const seed of [5, 6, 77]) {
    it(`converges with constant session expiry and eviction (seed ${seed})`, () => {
      runWorkload(seed, { sessionsMax: 8, sessionTtlMs: 1_000 }, false);
    });
  }
});
