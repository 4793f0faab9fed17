/**
 * Snapshots, restore and the state hash. Method: build a state with items, confirmed and
 * cancelled orders and live sessions; restore it and check that the restored machine gives the
 * same bytes and hash, answers queries the same, and behaves the same as the original when
 * both are fed the same further log (retries deduplicated from restored sessions, conflicts,
 * session expiry, new orders). The hash is incremental, so it is compared with the hash a
 * restore computes from scratch after records were replaced, expired and evicted. Then check
 * that the hash separates different states, and that restore refuses malformed snapshots with
 * an error naming what is wrong.
 */
import { expect } from "chai";
import {
  encodeMarketSnapshotAsync,
  MarketSnapshotError,
  canonicalJson,
  MarketStateMachine,
  type MarketRequest,
} from "../../src/market/index.js";
import {
  addStock,
  buy,
  cancel,
  createItem,
  expectOrder,
  LogFeeder,
  newMarket,
} from "./helpers.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";

/** A market with two items, a confirmed and a cancelled order, and four sessions. */
function populated(store = new MemoryStateStore()): { market: MarketStateMachine;
  log: LogFeeder } {
  const market = new MarketStateMachine({ sessionTtlMs: 10_000, sessionsMax: 50 }, store);
  const log = new LogFeeder(market);
  log.apply(createItem("apple-1kg", 10, { area: "Fruit", requestId: "c1" }));
  log.apply(createItem("bread", 4, { area: "Bakery", requestId: "c2" }));
  log.advance(3_000);
  const kept = expectOrder(log.apply(buy([{ sku: "apple-1kg", qty: 2 }], "b1")));
  const gone = expectOrder(log.apply(buy([{ sku: "bread", qty: 1 }], "b2")));
  log.apply(cancel(gone.orderId, "x1"));
  expect(kept.status).to.equal("confirmed");
  return { market, log };
}

/** Feeds the same requests to two machines at the same indexes and times; checks results. */
function feedBoth(a: MarketStateMachine, b: MarketStateMachine, from: LogFeeder,
  steps: readonly { request: MarketRequest; advanceMs: number }[]): void {
  const log = new LogFeeder([a, b]);
  log.index = from.index;
  log.timeMs = from.timeMs;
  for (const step of steps) {
    log.advance(step.advanceMs);
    log.apply(step.request);
    expect(a.stateHash()).to.equal(b.stateHash());
  }
}

describe("market snapshot and stateHash", () => {
  it("round-trips to the same bytes, hash, appliedIndex and query answers", () => {
    const { market } = populated();
    const data = market.snapshot();
    const restored = MarketStateMachine.restore(data);
    expect(restored.snapshot()).to.equal(data);
    expect(restored.stateHash()).to.equal(market.stateHash());
    // The encoders write sorted keys: the snapshot is its own canonical form.
    expect(canonicalJson(JSON.parse(data))).to.equal(data);
    expect(restored.appliedIndex).to.equal(market.appliedIndex);
    expect(restored.stats()).to.deep.equal(market.stats());
    expect(restored.searchItems()).to.deep.equal(market.searchItems());
    expect(restored.listAreas()).to.deep.equal(["Bakery", "Fruit"]);
    expect(restored.getOrder("o-4")).to.deep.equal(market.getOrder("o-4"));
    expect(restored.config).to.deep.equal(market.config);
  });

  it("encodes the same bytes a slice at a time, from a view later applies do not touch",
    async () => {
      const store = new MemoryStateStore();
      const { market, log } = populated(store);
      for (let k = 0; k < 5; k++) log.apply(buy([{ sku: "apple-1kg", qty: 1 }], `more-${k}`));
      const expected = market.snapshot();
      const view = store.view();
      let pauses = 0;
      const encoding = encodeMarketSnapshotAsync(MarketStateMachine.snapshotSource(view).source,
        async () => {
          pauses++;
          // The state machine goes on applying between slices.
          log.apply(addStock("apple-1kg", 1, `during-${pauses}`));
        }, 2);
      expect(await encoding).to.equal(expected);
      view.close();
      expect(pauses).to.be.greaterThan(2);
      expect(market.snapshot()).to.not.equal(expected);
      // An empty state, and slices larger than any section.
      const empty = newMarket();
      expect(await empty.snapshotAsync(async () => {})).to.equal(empty.snapshot());
    });

  it("keeps behaving like the original after restore, sessions included", () => {
    const { market, log } = populated();
    const restored = MarketStateMachine.restore(market.snapshot());
    const retried = buy([{ sku: "apple-1kg", qty: 2 }], "b1");
    feedBoth(market, restored, log, [
      { request: retried, advanceMs: 0 },
      { request: buy([{ sku: "apple-1kg", qty: 5 }], "b1"), advanceMs: 0 },
      { request: cancel("o-4", "x2"), advanceMs: 100 },
      { request: buy([{ sku: "apple-1kg", qty: 1 }, { sku: "bread", qty: 4 }]), advanceMs: 0 },
      // Past the TTL of the first sessions: "b1" now expires, and its retry applies anew.
      { request: retried, advanceMs: 9_900 },
      { request: addStock("bread", 3), advanceMs: 0 },
    ]);
    expect(restored.getItem("apple-1kg")?.stock).to.equal(10 - 2 - 1 - 2);
    expect(restored.snapshot()).to.equal(market.snapshot());
  });

  it("keeps its incremental hash equal to one computed from scratch", () => {
    // Expiry, eviction and replaced items and orders all remove records from the sum.
    const market = newMarket({ sessionsMax: 3, sessionTtlMs: 100 });
    const log = new LogFeeder(market);
    log.apply(createItem("a", 10));
    for (let k = 0; k < 6; k++) {
      log.advance(40);
      const order = expectOrder(log.apply(buy([{ sku: "a", qty: 1 }])));
      if (k % 2 === 0) log.apply(cancel(order.orderId));
      expect(MarketStateMachine.restore(market.snapshot()).stateHash(), `step ${k}`)
        .to.equal(market.stateHash());
    }
    expect(market.stats()).to.include({ orderCount: 6, sessionCount: 3 });
  });

  it("gives equal hashes to replicas that applied the same commands", () => {
    const first = populated().market;
    const second = populated().market;
    expect(first.stateHash()).to.equal(second.stateHash());
    expect(first.snapshot()).to.equal(second.snapshot());
  });

  it("gives different hashes to different states", () => {
    const { market, log } = populated();
    const hashes = new Set([market.stateHash()]);
    log.apply(addStock("bread", 1));
    hashes.add(market.stateHash());
    // Only a session differs: a rejected request is still recorded.
    log.apply(addStock("ghost", 1));
    hashes.add(market.stateHash());
    // Only appliedIndex differs.
    market.advanceAppliedIndex(log.index + 1);
    hashes.add(market.stateHash());
    expect(hashes.size).to.equal(4);
    expect(newMarket().stateHash()).to.not.equal(newMarket({ itemsMax: 7 }).stateHash());
  });

  it("restores the config carried by the snapshot", () => {
    const market = newMarket({ sessionsMax: 3, sessionTtlMs: 42, itemsMax: 5 });
    const restored = MarketStateMachine.restore(market.snapshot());
    expect(restored.config).to.deep.equal({ sessionsMax: 3, sessionTtlMs: 42, itemsMax: 5 });
  });

  describe("refuses a malformed snapshot", () => {
    const good = (): Record<string, unknown> =>
      JSON.parse(populated().market.snapshot()) as Record<string, unknown>;
    const cases: [string, (snapshot: Record<string, unknown>) => unknown, RegExp][] = [
      ["a wrong format", (s) => ({ ...s, format: "v0" }), /format/],
      ["a bad config", (s) => ({ ...s, config: { sessionsMax: 0 } }), /config/],
      ["a negative appliedIndex", (s) => ({ ...s, appliedIndex: -1 }), /appliedIndex/],
      ["an item with a bad stock", (s) => withItem(s, { stock: -1 }), /items\[0\]\.stock/],
      ["an item with no name", (s) => withItem(s, { name: undefined }), /items\[0\]\.name/],
      ["unsorted items", (s) => ({ ...s, items: [...(s.items as unknown[])].reverse() }),
        /items\[1\]\.sku/],
      ["an order with a wrong total", (s) => withOrder(s, { totalCents: 1 }), /totalCents/],
      ["an order with a bad id", (s) => withOrder(s, { orderId: "o-99" }), /orderId/],
      ["an order for an unknown sku",
        (s) => withOrder(s, { lines: [{ sku: "nope", qty: 1, priceCents: 1 }], totalCents: 1 }),
        /lines\[0\]\.sku/],
      ["an order after appliedIndex", (s) => ({ ...s, appliedIndex: 2 }), /orders\[0\]\.index/],
      ["a session with a bad digest", (s) => withSession(s, { digest: "xyz" }), /digest/],
      ["a session with a bad result", (s) => withSession(s, { result: { ok: "yes" } }),
        /sessions\[0\]\.result/],
      ["a rejection with an unknown code",
        (s) => withSession(s, { result: { ok: false, error: "oops", message: "" } }),
        /result\.error/],
      ["sessions out of order",
        (s) => ({ ...s, sessions: [...(s.sessions as unknown[])].reverse() }),
        /sessions\[1\]\.index/],
    ];
    for (const [name, mutate, pattern] of cases) {
      it(`with ${name}`, () => {
        const data = JSON.stringify(mutate(good()));
        expect(() => MarketStateMachine.restore(data)).to.throw(MarketSnapshotError, pattern);
      });
    }

    it("that is not JSON, or not an object", () => {
      expect(() => MarketStateMachine.restore("{nope")).to.throw(MarketSnapshotError, /JSON/);
      expect(() => MarketStateMachine.restore("[]")).to.throw(MarketSnapshotError, /object/);
    });

    it("that is not canonical (reformatted), even with valid content", () => {
      const data = JSON.stringify(good(), null, 2);
      expect(() => MarketStateMachine.restore(data)).to.throw(MarketSnapshotError, /canonical/);
    });
  });
});

function withItem(snapshot: Record<string, unknown>, change: object): unknown {
  const items = snapshot.items as Record<string, unknown>[];
  return { ...snapshot, items: [{ ...items[0], ...change }, ...items.slice(1)] };
}

function withOrder(snapshot: Record<string, unknown>, change: object): unknown {
  const orders = snapshot.orders as Record<string, unknown>[];
  return { ...snapshot, orders: [{ ...orders[0], ...change }, ...orders.slice(1)] };
}

function withSession(snapshot: Record<string, unknown>, change: object): unknown {
  const sessions = snapshot.sessions as Record<string, unknown>[];
  return { ...snapshot, sessions: [{ ...sessions[0], ...change }, ...sessions.slice(1)] };
}
