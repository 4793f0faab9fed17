/**
 * How the market stores orders and sessions (src/market/stored-records.ts). Method: pack and
 * unpack records of every shape the market makes; and feed one log to a market whose store
 * holds the objects an earlier version wrote, and to one that packs. Checks: unpacking gives
 * back the stored record, fields in the market's order; a record that does not fit the packed
 * form is stored whole; packed values are much smaller than the objects; a store of objects
 * still opens, answers and hashes as a packed one; a malformed value is refused, not served.
 */
import { expect } from "chai";
import {
  installMarketSnapshot,
  MarketStateMachine,
  marketSnapshotFormat,
  type MarketResult,
} from "../../src/market/index.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";
import type { Order } from "../../src/market/model.js";
import type { Session } from "../../src/market/sessions.js";
import { StateStoreError, type StateStore } from "../../src/market/state-store.js";
import {
  marketStoreFormat,
  marketStoreFormatV2,
  packOrder,
  packSession,
  unpackOrder,
  unpackSession,
} from "../../src/market/stored-records.js";
import { LmdbStateStore } from "../../src/storage/lmdb-state-store.js";
import { TempDirs } from "../storage/helpers.js";
import { addStock, buy, cancel, createItem, LogFeeder, snapshotStreamText } from "./helpers.js";

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
  const dirs = new TempDirs();
  after(() => dirs.cleanup());

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

  it("stores whole an order the packed form would not give back; reads it as a snapshot's", () => {
    // Not made by the market (whose orders all pack): an extra field, which reading drops as
    // a snapshot's reader does; an orderId, total or lines no rule allows, refused when read.
    const extra = { ...order(), extra: 1 } as Order;
    expect(packOrder(extra)).to.equal(extra);
    expect(unpackOrder(stored(extra), 41)).to.deep.equal(order());
    for (const odd of [order({ orderId: "legacy-7" }), order({ totalCents: 306 }),
      order({ lines: [], totalCents: 0 })]) {
      expect(packOrder(odd)).to.equal(odd);
      expect(() => unpackOrder(stored(odd), odd.index)).to.throw(StateStoreError,
        /stored order 41 is not an order/);
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

  it("refuses a malformed stored value, packed or an object, rather than serve it", () => {
    const refusals: [() => unknown, RegExp][] = [
      [() => unpackOrder(["r", 2, "sku", 1, 1], 3), /stored order 3 is malformed/],
      [() => unpackOrder(["r", "1", "sku", 1, 1], 3), /stored order 3 is malformed/],
      [() => unpackOrder(["r", 0, "sku", 1], 3), /malformed/],
      [() => unpackOrder(["r", 0, "sku", "1", 1], 3), /malformed line/],
      [() => unpackOrder("text", 3), /stored order 3 is not an order/],
      [() => unpackOrder({ lines: [] }, 3), /stored order 3 is not an order/],
      [() => unpackOrder(stored(order()), 42), /stored order 42 is not an order/],
      [() => unpackSession(["d", 1, 2], "q"), /stored session q is malformed/],
      [() => unpackSession(["d", 1, 2, [5]], "q"), /malformed result/],
      [() => unpackSession(["d", 1, 2, {}], "q"), /stored session q is not a session/],
      [() => unpackSession(undefined, "q"), /stored session q is not a session/],
      [() => unpackSession({}, "q"), /stored session q is not a session/],
      [() => unpackSession(stored(session({ ok: true, kind: "order", order: order() })), "other"),
        /stored session other is not a session/],
    ];
    for (const [unpack, message] of refusals) {
      expect(unpack).to.throw(StateStoreError, message);
    }
  });

  it("is what the market writes, by apply, by restore and by a snapshot install", async () => {
    const own = new MemoryStateStore();
    const market = new MarketStateMachine({}, own);
    const log = new LogFeeder(market);
    log.apply(createItem("a", 10));
    log.apply(buy([{ sku: "a", qty: 2 }, { sku: "a", qty: 1 }]));
    log.apply(cancel("o-2"));
    log.apply(buy([{ sku: "a", qty: 99 }]));
    const text = await snapshotStreamText(own);
    const restoredStore = new MemoryStateStore();
    const installedStore = new MemoryStateStore();
    const copies = [
      MarketStateMachine.restore(market.snapshot(), restoredStore),
      installMarketSnapshot(installedStore, text, undefined, { index: market.appliedIndex }),
    ];
    for (const copy of copies) expect(copy.stateHash()).to.equal(market.stateHash());
    for (const store of [own, restoredStore, installedStore]) {
      const records = store.view();
      try {
        // One order (cancelled: status 1), four sessions (create, buy, cancel, refused buy).
        const orders = [...records.range("orders")].map(({ value }) => value);
        expect(orders).to.have.length(1);
        expect(orders[0]).to.be.an("array").that.includes(1);
        const sessions = [...records.range("sessions")].map(({ value }) => value);
        expect(sessions).to.have.length(4);
        for (const value of sessions) expect(value).to.be.an("array");
        expect(records.get("meta", "market")).to.include({ format: marketStoreFormat });
      } finally {
        records.close();
      }
    }
  });

  it("opens a store of objects, as an earlier version wrote it, and goes on alike", async () => {
    // Both markets apply one log; then the first store's values are rewritten as the objects
    // the earlier version stored (the records themselves, as JSON) and its meta given that
    // version's format, and the market reopened on it from LMDB, as after an upgrade.
    const dir = dirs.make("raftmarket-stored-");
    const legacy = LmdbStateStore.open(dir);
    const markets = [new MarketStateMachine({}, legacy), new MarketStateMachine({},
      new MemoryStateStore())];
    const log = new LogFeeder(markets);
    log.apply(createItem("a", 10));
    log.apply(buy([{ sku: "a", qty: 2 }], "kept"));
    for (let n = 0; n < 3; n++) log.apply(buy([{ sku: "a", qty: 1 }]));
    await legacy.committed();
    const view = legacy.view();
    const rewrites: ["orders" | "sessions", string | number, unknown][] = [];
    for (const { key, value } of view.range("orders")) {
      expect(value).to.be.an("array");
      rewrites.push(["orders", key, stored(markets[1]!.getOrder(`o-${key}`))]);
    }
    // That version kept each session under its requestId.
    const sessionKeys: number[] = [];
    for (const { key, value: requestId } of view.range("sessionQueue")) {
      const value = view.get("sessions", key);
      expect(value).to.be.an("array");
      sessionKeys.push(key as number);
      rewrites.push(["sessions", requestId as string,
        stored(unpackSession(value, requestId as string))]);
    }
    const meta = view.get("meta", "market") as object;
    view.close();
    legacy.write((writer) => {
      for (const key of sessionKeys) writer.remove("sessions", key);
      for (const [table, key, value] of rewrites) writer.put(table, key, value);
      writer.put("meta", "market", { ...meta, format: marketSnapshotFormat });
    });
    await legacy.close();
    const reopenedStore = LmdbStateStore.open(dir);
    try {
      const reopened = new MarketStateMachine({}, reopenedStore);
      // Its sessions were moved at open, and its meta says so at once.
      expect(reopenedStore.get("meta", "market")).to.include({ format: marketStoreFormat });
      expect(reopened.stateHash()).to.equal(markets[1]!.stateHash());
      expect(JSON.stringify(reopened.getOrder("o-3"))).to.equal(
        JSON.stringify(markets[1]!.getOrder("o-3")));
      const both = new LogFeeder([reopened, markets[1]!]);
      both.index = log.index;
      both.timeMs = log.timeMs;
      // A retry answered from an object session, and more writes beside the objects.
      const retry = both.apply(buy([{ sku: "a", qty: 2 }], "kept"));
      expect(retry).to.deep.include({ ok: true, kind: "order" });
      expect(JSON.stringify(retry)).to.equal(JSON.stringify({ ok: true, kind: "order",
        order: markets[1]!.getOrder("o-2") }));
      both.apply(addStock("a", 5));
      both.apply(buy([{ sku: "a", qty: 1 }]));
      await reopenedStore.committed();
      expect(reopened.snapshot()).to.equal(markets[1]!.snapshot());
      expect(reopened.stateHash()).to.equal(markets[1]!.stateHash());
      expect(reopenedStore.get("meta", "market")).to.include({ format: marketStoreFormat });
    } finally {
      await reopenedStore.close();
    }
  });

  it("moves the sessions of a store of the previous version to their sequence numbers", async () => {
    // A store as the previous version (marketStoreFormatV2) left it: packed records, each
    // session under its requestId, some already forgotten (sessionsMax 3), so that the queue
    // does not start at 0. Reopened, it answers retries and goes on as a market that never
    // moved, and an earlier version would refuse it (its meta names the new format).
    const dir = dirs.make("raftmarket-v2-");
    const previous = LmdbStateStore.open(dir);
    const config = { sessionsMax: 3 };
    const markets = [new MarketStateMachine(config, previous),
      new MarketStateMachine(config, new MemoryStateStore())];
    const log = new LogFeeder(markets);
    log.apply(createItem("a", 10));
    for (const id of ["r1", "r2", "r3", "r4"]) log.apply(buy([{ sku: "a", qty: 1 }], id));
    await previous.committed();
    const queue: [number, string][] = [];
    const view = previous.view();
    for (const { key, value } of view.range("sessionQueue")) {
      queue.push([key as number, value as string]);
    }
    const values = queue.map(([key]) => view.get("sessions", key));
    const meta = view.get("meta", "market") as object;
    view.close();
    expect(queue.map(([key]) => key)).to.deep.equal([2, 3, 4]);
    previous.write((writer) => {
      queue.forEach(([key, id], at) => {
        writer.remove("sessions", key);
        writer.put("sessions", id, values[at]);
      });
      writer.put("meta", "market", { ...meta, format: marketStoreFormatV2 });
    });
    await previous.close();
    const reopenedStore = LmdbStateStore.open(dir);
    try {
      // A snapshot read from the store before this version opens it (in the old layout).
      expect(await installedHash(reopenedStore)).to.equal(markets[1]!.stateHash());
      const reopened = new MarketStateMachine({}, reopenedStore);
      expect(reopenedStore.get("meta", "market")).to.include({ format: marketStoreFormat });
      await reopenedStore.committed();
      // ... and after (in the new one).
      expect(await installedHash(reopenedStore)).to.equal(markets[1]!.stateHash());
      const both = new LogFeeder([reopened, markets[1]!]);
      both.index = log.index;
      both.timeMs = log.timeMs;
      const retry = both.apply(buy([{ sku: "a", qty: 1 }], "r4"));
      expect(JSON.stringify(retry)).to.equal(JSON.stringify({ ok: true, kind: "order",
        order: markets[1]!.getOrder("o-5") }));
      // r1 was forgotten: applied again, as a new request, it pushes r2 out; r5 pushes r3.
      for (const id of ["r1", "r5"]) both.apply(buy([{ sku: "a", qty: 1 }], id));
      await reopenedStore.committed();
      expect(reopened.snapshot()).to.equal(markets[1]!.snapshot());
      expect(reopened.stateHash()).to.equal(markets[1]!.stateHash());
      const after = reopenedStore.view();
      try {
        expect([...after.range("sessions")].map(({ key }) => key)).to.deep.equal([4, 5, 6]);
      } finally {
        after.close();
      }
    } finally {
      await reopenedStore.close();
    }
  });

  it("moves them again after a crash that lost the move, and refuses a queue without its session",
    async () => {
      const store = new MemoryStateStore();
      const market = new MarketStateMachine({}, store);
      const log = new LogFeeder(market);
      log.apply(createItem("a", 10));
      for (const id of ["r1", "r2"]) log.apply(buy([{ sku: "a", qty: 1 }], id));
      const hash = market.stateHash();
      const snapshot = market.snapshot();
      // Back to the previous version's layout, made durable.
      const queue = [0, 1, 2].map((key) => [key, store.get("sessionQueue", key)] as const);
      store.write((writer) => {
        for (const [key, id] of queue) {
          writer.put("sessions", id as string, store.get("sessions", key));
          writer.remove("sessions", key);
        }
        writer.put("meta", "market", { ...store.get("meta", "market") as object,
          format: marketStoreFormatV2 });
      });
      await store.flushed();
      new MarketStateMachine({}, store);
      const crashed = store.crash(0);
      expect(crashed.get("meta", "market")).to.include({ format: marketStoreFormatV2 });
      expect(crashed.get("sessions", "r1")).to.not.equal(undefined);
      const reopened = new MarketStateMachine({}, crashed);
      expect(crashed.get("meta", "market")).to.include({ format: marketStoreFormat });
      expect(reopened.stateHash()).to.equal(hash);
      expect(reopened.snapshot()).to.equal(snapshot);
      // A previous version's store whose queue names a session it lacks: refused, unchanged.
      const damaged = new MemoryStateStore();
      new LogFeeder(new MarketStateMachine({}, damaged)).apply(createItem("b", 1, { requestId: "c1" }));
      damaged.write((writer) => {
        writer.remove("sessions", 0);
        writer.put("meta", "market", { ...damaged.get("meta", "market") as object,
          format: marketStoreFormatV2 });
      });
      expect(() => new MarketStateMachine({}, damaged)).to.throw(StateStoreError,
        /session 0 \(c1\) is missing/);
      expect(damaged.get("meta", "market")).to.include({ format: marketStoreFormatV2 });
    });
});

/** The stateHash of the market that a snapshot stream of `store` installs. */
async function installedHash(store: StateStore): Promise<string> {
  return installMarketSnapshot(new MemoryStateStore(), await snapshotStreamText(store)).stateHash();
}
