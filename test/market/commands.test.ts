/**
 * Every command and every rejection of the market state machine, one at a time. Method: a
 * single replica fed through a LogFeeder (increasing indexes, a leader clock the test sets);
 * each test applies a few commands and checks the result value and the state the queries show
 * afterwards, including that a rejection leaves the state as it was.
 */
import { expect } from "chai";
import {
  commandFromRequest,
  encodeCommand,
  InvariantError,
  type MarketCommand,
} from "../../src/market/index.js";
import {
  addStock,
  buy,
  cancel,
  createItem,
  expectItem,
  expectOrder,
  LogFeeder,
  newMarket,
  stockOf,
} from "./helpers.js";

describe("market commands", () => {
  describe("createItem", () => {
    it("creates an item and answers with it", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      const result = log.apply(createItem("apple-1kg", 10,
        { name: "Apples", area: "Fruit", priceCents: 349 }));
      const item = expectItem(result);
      expect(item).to.deep.equal({
        sku: "apple-1kg", name: "Apples", area: "Fruit", priceCents: 349, stock: 10,
      });
      expect(market.getItem("apple-1kg")).to.deep.equal(item);
      expect(market.appliedIndex).to.equal(1);
    });

    it("rejects a duplicate sku as alreadyExists and keeps the first item", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("apple-1kg", 10));
      const result = log.apply(createItem("apple-1kg", 99, { name: "Other" }));
      expect(result).to.include({ ok: false, error: "alreadyExists", sku: "apple-1kg" });
      expect(market.getItem("apple-1kg")).to.include({ stock: 10, name: "Item apple-1kg" });
    });

    it("rejects an item beyond itemsMax as limitExceeded", () => {
      const market = newMarket({ itemsMax: 2 });
      const log = new LogFeeder(market);
      log.apply(createItem("a", 1));
      log.apply(createItem("b", 1));
      const result = log.apply(createItem("c", 1));
      expect(result).to.include({ ok: false, error: "limitExceeded", field: "items", limit: 2 });
      expect(market.getItem("c")).to.equal(undefined);
    });
  });

  describe("addStock", () => {
    it("adds to the stock and answers with the item", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("milk-1l", 5));
      expect(expectItem(log.apply(addStock("milk-1l", 7))).stock).to.equal(12);
      expect(stockOf(market, "milk-1l")).to.equal(12);
    });

    it("rejects an unknown sku as notFound", () => {
      const log = new LogFeeder(newMarket());
      expect(log.apply(addStock("ghost", 1))).to.include({
        ok: false, error: "notFound", resource: "item", sku: "ghost",
      });
    });

    it("rejects stock above stockMax as limitExceeded, leaving the stock", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("bulk", 999_999_999));
      expect(log.apply(addStock("bulk", 2))).to.include({
        ok: false, error: "limitExceeded", field: "qty", limit: 1_000_000_000,
      });
      expect(expectItem(log.apply(addStock("bulk", 1))).stock).to.equal(1_000_000_000);
    });
  });

  describe("buy", () => {
    it("takes the stock and creates a confirmed order named after its index", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("apple-1kg", 10, { priceCents: 349 }));
      const order = expectOrder(log.apply(buy([{ sku: "apple-1kg", qty: 3 }], "buy-1")));
      expect(order).to.deep.equal({
        orderId: "o-2", requestId: "buy-1", status: "confirmed", totalCents: 1047, index: 2,
        lines: [{ sku: "apple-1kg", qty: 3, priceCents: 349 }],
      });
      expect(stockOf(market, "apple-1kg")).to.equal(7);
      expect(market.getOrder("o-2")).to.deep.equal(order);
    });

    it("sells the last unit, then rejects with insufficientStock and available 0", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("rare", 1));
      expectOrder(log.apply(buy([{ sku: "rare", qty: 1 }])));
      expect(log.apply(buy([{ sku: "rare", qty: 1 }]))).to.include({
        ok: false, error: "insufficientStock", sku: "rare", available: 0, requested: 1,
      });
      expect(stockOf(market, "rare")).to.equal(0);
    });

    it("rejects an unknown sku as notFound and creates no order", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      expect(log.apply(buy([{ sku: "ghost", qty: 1 }]))).to.include({
        ok: false, error: "notFound", resource: "item", sku: "ghost",
      });
      expect(market.getOrder("o-1")).to.equal(undefined);
      expect(market.stats().orderCount).to.equal(0);
    });
  });

  describe("cancel", () => {
    it("restocks every line and marks the order cancelled", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("a", 5));
      log.apply(createItem("b", 5));
      const order = expectOrder(log.apply(buy([{ sku: "a", qty: 2 }, { sku: "b", qty: 3 }])));
      const cancelled = expectOrder(log.apply(cancel(order.orderId)));
      expect(cancelled).to.deep.equal({ ...order, status: "cancelled" });
      expect([stockOf(market, "a"), stockOf(market, "b")]).to.deep.equal([5, 5]);
      expect(market.getOrder(order.orderId)?.status).to.equal("cancelled");
    });

    it("restocks exactly once: a second cancel returns the cancelled order unchanged", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("a", 5));
      const order = expectOrder(log.apply(buy([{ sku: "a", qty: 2 }])));
      const first = expectOrder(log.apply(cancel(order.orderId)));
      const second = expectOrder(log.apply(cancel(order.orderId)));
      expect(second).to.deep.equal(first);
      expect(stockOf(market, "a")).to.equal(5);
    });

    it("rejects an unknown order as notFound", () => {
      const log = new LogFeeder(newMarket());
      expect(log.apply(cancel("o-42"))).to.include({
        ok: false, error: "notFound", resource: "order", orderId: "o-42",
      });
    });

    it("keeps every order ever placed, and refuses ids that only look like one", () => {
      const market = newMarket({ sessionsMax: 2 });
      const log = new LogFeeder(market);
      log.apply(createItem("a", 1000));
      const orders = Array.from({ length: 300 },
        () => expectOrder(log.apply(buy([{ sku: "a", qty: 1 }]))));
      expect(market.getOrder(orders[0]!.orderId)).to.deep.equal(orders[0]);
      expect(market.getOrder(orders[299]!.orderId)).to.deep.equal(orders[299]);
      expect(log.apply(cancel(orders[0]!.orderId))).to.include({ ok: true });
      expect(stockOf(market, "a")).to.equal(701);
      const index = orders[1]!.index;
      for (const lookalike of [`o-0${index}`, `o-${index} `, `O-${index}`, "o-", "o-0",
        `o-${index}.0`, "o-99999999999999999999"]) {
        expect(market.getOrder(lookalike), lookalike).to.equal(undefined);
      }
      expect(market.stats().orderCount).to.equal(300);
    });

    it("refuses a restock above stockMax as limitExceeded and keeps the order", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("a", 999_999_999));
      const order = expectOrder(log.apply(buy([{ sku: "a", qty: 10 }])));
      log.apply(addStock("a", 11));
      expect(log.apply(cancel(order.orderId))).to.include({
        ok: false, error: "limitExceeded", field: "stock",
      });
      expect(market.getOrder(order.orderId)?.status).to.equal("confirmed");
      expect(stockOf(market, "a")).to.equal(1_000_000_000);
    });
  });

  describe("apply", () => {
    it("rejects an invalid command as invalidCommand without changing state", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("a", 5));
      const before = market.snapshot();
      const bad = { kind: "addStock", requestId: "x", sku: "a", qty: -3, timeMs: 1 };
      const result = market.apply(bad as MarketCommand, 2);
      expect(result).to.deep.include({ ok: false, error: "invalidCommand", field: "qty" });
      expect(market.appliedIndex).to.equal(2);
      expect(market.snapshot()).to.equal(before.replace('"appliedIndex":1', '"appliedIndex":2'));
    });

    it("applies encoded log entries, and rejects one that is not JSON", () => {
      const market = newMarket();
      const command = commandFromRequest(createItem("a", 5), 1_000);
      expect(expectItem(market.applyEncoded(encodeCommand(command), 1)).sku).to.equal("a");
      expect(market.applyEncoded("{not json", 2)).to.include({
        ok: false, error: "invalidCommand", field: "entry",
      });
      expect(market.applyEncoded("[]", 3)).to.include({ error: "invalidCommand", field: "body" });
      expect(market.appliedIndex).to.equal(3);
    });

    it("asserts that indexes increase", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      log.apply(createItem("a", 5));
      const command = { ...createItem("b", 1), timeMs: 1 } as MarketCommand;
      expect(() => market.apply(command, 1)).to.throw(InvariantError);
      expect(() => market.apply(command, 0.5)).to.throw(InvariantError);
      market.advanceAppliedIndex(5);
      expect(() => market.apply(command, 5)).to.throw(InvariantError);
      expect(expectItem(market.apply(command, 7)).sku).to.equal("b");
    });

    it("returns frozen results and records, so callers cannot change the state", () => {
      const market = newMarket();
      const log = new LogFeeder(market);
      const result = log.apply(createItem("a", 5));
      const item = expectItem(result);
      expect(Object.isFrozen(result) && Object.isFrozen(item)).to.equal(true);
      expect(() => { (item as { stock: number }).stock = 1_000; }).to.throw(TypeError);
      const order = expectOrder(log.apply(buy([{ sku: "a", qty: 1 }])));
      expect(Object.isFrozen(order.lines) && Object.isFrozen(order.lines[0])).to.equal(true);
      expect(Object.isFrozen(market.getItem("a"))).to.equal(true);
    });
  });
});
