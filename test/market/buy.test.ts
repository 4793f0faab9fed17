/**
 * Multi-line buys are all or nothing. Method: build a small catalogue, apply buys whose lines
 * fail at the first, a middle or the last line (unknown sku, short stock, or a sku that is
 * short only once its repeated lines are summed), and check that a rejected buy changes no
 * stock and creates no order, that the rejection names the first failing line, and that a
 * successful buy merges repeated skus and totals its lines at their prices.
 */
import { expect } from "chai";
import type { MarketStateMachine } from "../../src/market/index.js";
import { buy, createItem, expectOrder, LogFeeder, newMarket, stockOf } from "./helpers.js";

function catalogue(): { market: MarketStateMachine; log: LogFeeder } {
  const market = newMarket();
  const log = new LogFeeder(market);
  log.apply(createItem("apple", 5, { priceCents: 100 }));
  log.apply(createItem("bread", 2, { priceCents: 250 }));
  log.apply(createItem("cheese", 1, { priceCents: 900 }));
  return { market, log };
}

function stocks(market: MarketStateMachine): number[] {
  return ["apple", "bread", "cheese"].map((sku) => stockOf(market, sku));
}

describe("market buy: all or nothing", () => {
  it("buys every line of a multi-line order and totals it", () => {
    const { market, log } = catalogue();
    const order = expectOrder(log.apply(buy([
      { sku: "apple", qty: 2 }, { sku: "bread", qty: 2 }, { sku: "cheese", qty: 1 },
    ])));
    expect(order.totalCents).to.equal(2 * 100 + 2 * 250 + 900);
    expect(stocks(market)).to.deep.equal([3, 0, 0]);
  });

  for (const [where, lines, expected] of [
    ["first", [{ sku: "apple", qty: 6 }, { sku: "bread", qty: 1 }],
      { error: "insufficientStock", sku: "apple", available: 5, requested: 6 }],
    ["middle", [{ sku: "apple", qty: 1 }, { sku: "bread", qty: 3 }, { sku: "cheese", qty: 1 }],
      { error: "insufficientStock", sku: "bread", available: 2, requested: 3 }],
    ["last", [{ sku: "apple", qty: 1 }, { sku: "bread", qty: 1 }, { sku: "ghost", qty: 1 }],
      { error: "notFound", sku: "ghost" }],
  ] as const) {
    it(`changes nothing when the ${where} line fails, and names that line`, () => {
      const { market, log } = catalogue();
      const before = stocks(market);
      const result = log.apply(buy(lines));
      expect(result).to.include({ ok: false, ...expected });
      expect(stocks(market)).to.deep.equal(before);
      expect(market.stats().orderCount).to.equal(0);
    });
  }

  it("names the first failing line in request order when several fail", () => {
    const { log } = catalogue();
    const result = log.apply(buy([{ sku: "cheese", qty: 2 }, { sku: "apple", qty: 9 }]));
    expect(result).to.include({ error: "insufficientStock", sku: "cheese" });
  });

  it("sums repeated skus before checking: 3 + 3 apples is short of 5", () => {
    const { market, log } = catalogue();
    const result = log.apply(buy([{ sku: "apple", qty: 3 }, { sku: "apple", qty: 3 }]));
    expect(result).to.include({ error: "insufficientStock", available: 5, requested: 6 });
    expect(stockOf(market, "apple")).to.equal(5);
  });

  it("merges repeated skus into one line, in order of first appearance", () => {
    const { market, log } = catalogue();
    const order = expectOrder(log.apply(buy([
      { sku: "bread", qty: 1 }, { sku: "apple", qty: 2 }, { sku: "bread", qty: 1 },
    ])));
    expect(order.lines).to.deep.equal([
      { sku: "bread", qty: 2, priceCents: 250 }, { sku: "apple", qty: 2, priceCents: 100 },
    ]);
    expect(order.totalCents).to.equal(700);
    expect(stocks(market)).to.deep.equal([3, 0, 1]);
  });

  it("restocks merged lines exactly on cancel", () => {
    const { market, log } = catalogue();
    const order = expectOrder(log.apply(buy([
      { sku: "apple", qty: 1 }, { sku: "apple", qty: 4 }, { sku: "cheese", qty: 1 },
    ])));
    expect(stocks(market)).to.deep.equal([0, 2, 0]);
    expectOrder(log.apply({ kind: "cancel", requestId: "c-1", orderId: order.orderId }));
    expect(stocks(market)).to.deep.equal([5, 2, 1]);
  });
});
