/**
 * How the market stores orders and sessions (src/market/stored-records.ts). Method: pack and
 * unpack records of every shape the market makes; and feed one log to a market whose store
 * holds the objects an earlier version wrote, and to one that packs. Checks: unpacking gives
 * back the stored record, fields in the market's order; a record that does not fit the packed
 * form is stored whole; packed values are much smaller than the objects; a store of objects
 * still opens, answers and hashes as a packed one; a malformed value is refused, not served.
 */
import { expect } from "chai";
import { MarketStateMachine, type MarketResult } from "../../src/market/index.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";
import type { Order } from "../../src/market/model.js";
import type { Session } from "../../src/market/sessions.js";
import {
  packOrder,
  packSession,
  unpackOrder,
  unpackSession,
} from "../../src/market/stored-records.js";
import { addStock, buy, createItem, LogFeeder } from "./helpers.js";

const requestId = "6f1c2b1e-4f7a-4c55-9a43-2f0e8d1c9b7a";

function order(overrides: Partial<Order> = {}): Order {
  return {
    orderId: "o-41", requestId, lines: [{ sku: "sku-1", qty: 2, priceCents: 150 },
      { sku: "sku-9", qty: 1, priceCents: 7 }],
    status: "confirmed", totalCents: 307, index: 41, ...overrides,
  };
}

function session(result: MarketResult): Session {
  return { requestId, digest: "ab".repeat(32), recordedAtMs: 1_700_000_000_123, index: 41,
    result };
}

/** As the store keeps a value: its JSON text, read back. */
function stored(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe("stored market records", () => {
  it("unpacks a packed order to the order, its fields in the market's order", () => {
    for (const original of [order(), order({ status: "cancelled" }),
      order({ lines: [{ sku: "x", qty: 1_000_000, priceCents: 10_000_000 }],
        totalCents: 10_000_000_000_000 })]) {
      const packed = stored(packOrder(original));
      expect(packed).to.be.an("array");
      const back = unpackOrder(packed, original.index);
      expect(back).to.deep.equal(original);
      expect(JSON.stringify(back)).to.equal(JSON.stringify(original));
      expect(Object.isFrozen(back) && Object.isFrozen(back.lines[0])).to.equal(true);
    }
  });

  it("stores whole an order that the packed form would not give back", () => {
    for (const odd of [order({ orderId: "legacy-7" }), order({ totalCents: 306 }),
      { ...order(), extra: 1 } as Order, order({ lines: [] , totalCents: 0 })]) {
      const value = packOrder(odd);
      expect(value).to.equal(odd);
      expect(unpackOrder(stored(value), odd.index)).to.deep.equal(odd);
    }
  });

  it("unpacks a session with its order result, another order's, an item's or a refusal", () => {
    const results: MarketResult[] = [
      { ok: true, kind: "order", order: order() },
      { ok: true, kind: "order", order: order({ requestId: "someone-else", index: 7,
        orderId: "o-7", status: "cancelled" }) },
      { ok: true, kind: "item", item: { sku: "a", name: "A", area: "x", priceCents: 1,
        stock: 2 } },
      { ok: false, error: "insufficientStock", sku: "a", available: 0, requested: 1,
        message: "only 0 of a in stock, 1 requested" },
    ];
    for (const result of results) {
      const original = session(result);
      const back = unpackSession(stored(packSession(original)), requestId);
      expect(back).to.deep.equal(original);
      expect(JSON.stringify(back)).to.equal(JSON.stringify(original));
    }
  });

  it("packs an order and a session in well under half the bytes of the objects", () => {
    const placed = order({ lines: [{ sku: "sku-1", qty: 1, priceCents: 150 }], totalCents: 150 });
    const placedSession = session({ ok: true, kind: "order", order: placed });
    expect(JSON.stringify(packOrder(placed)).length)
      .to.be.below(JSON.stringify(placed).length * 0.45);
    expect(JSON.stringify(packSession(placedSession)).length)
      .to.be.below(JSON.stringify(placedSession).length * 0.45);
  });

  it("refuses a malformed stored value rather than serve it", () => {
    expect(() => unpackOrder(["r", 2, "sku", 1, 1], 3)).to.throw(/stored order 3 is malformed/);
    expect(() => unpackOrder(["r", 0, "sku", 1], 3)).to.throw(/malformed/);
    expect(() => unpackOrder(["r", 0, "sku", "1", 1], 3)).to.throw(/malformed line/);
    expect(() => unpackOrder("text", 3)).to.throw(/neither packed nor an object/);
    expect(() => unpackSession(["d", 1, 2], "q")).to.throw(/stored session q is malformed/);
    expect(() => unpackSession(["d", 1, 2, [5]], "q")).to.throw(/malformed result/);
    expect(() => unpackSession(undefined, "q")).to.throw(/neither packed nor an object/);
  });

  it("opens a store of objects, as an earlier version wrote it, and goes on alike", () => {
    // Both markets apply one log; then the first store's packed values are rewritten as the
    // objects they stand for, and the market reopened on it, as after an upgrade.
    const stores = [new MemoryStateStore(), new MemoryStateStore()];
    const markets = stores.map((store) => new MarketStateMachine({ sessionsMax: 3 }, store));
    const log = new LogFeeder(markets);
    log.apply(createItem("a", 10));
    const retried = buy([{ sku: "a", qty: 2 }], "kept");
    log.apply(retried);
    for (let n = 0; n < 3; n++) log.apply(buy([{ sku: "a", qty: 1 }]));
    const legacy = stores[0]!;
    const view = legacy.view();
    const rewrites: [string, string | number, unknown][] = [];
    for (const { key, value } of view.range("orders")) {
      rewrites.push(["orders", key, unpackOrder(value, key as number)]);
    }
    for (const { key, value } of view.range("sessions")) {
      rewrites.push(["sessions", key, unpackSession(value, key as string)]);
    }
    view.close();
    legacy.write((writer) => {
      for (const [table, key, value] of rewrites) {
        writer.put(table as "orders" | "sessions", key, value);
      }
    });
    expect(rewrites.some(([, , value]) => Array.isArray(value))).to.equal(false);
    const reopened = new MarketStateMachine({ sessionsMax: 3 }, legacy);
    const both = new LogFeeder([reopened, markets[1]!]);
    both.index = log.index;
    both.timeMs = log.timeMs;
    expect(reopened.stateHash()).to.equal(markets[1]!.stateHash());
    expect(reopened.getOrder("o-2")).to.deep.equal(markets[1]!.getOrder("o-2"));
    both.apply(addStock("a", 5));
    both.apply(buy([{ sku: "a", qty: 1 }]));
    expect(reopened.snapshot()).to.equal(markets[1]!.snapshot());
    expect(reopened.stateHash()).to.equal(markets[1]!.stateHash());
  });
});
