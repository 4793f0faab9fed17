/**
 * The read side: searchItems, getItem, getOrder and listAreas. Method: load a catalogue in a
 * shuffled order, then check filters (text on sku or name ignoring case, area ignoring case,
 * in stock), the stable order by sku (code units, not locale), the limit's default, clamp and
 * bound, and that queries change nothing (the state hash is the same before and after).
 */
import { expect } from "chai";
import { marketLimits, type MarketStateMachine } from "../../src/market/index.js";
import { buy, createItem, LogFeeder, newMarket } from "./helpers.js";

function catalogue(): MarketStateMachine {
  const market = newMarket();
  const log = new LogFeeder(market);
  log.apply(createItem("pasta-500g", 3, { name: "Spaghetti", area: "Pantry" }));
  log.apply(createItem("apple-1kg", 10, { name: "Apples", area: "Fruit & Veg" }));
  log.apply(createItem("Zucchini", 0, { name: "Green zucchini", area: "Fruit & Veg" }));
  log.apply(createItem("milk-1l", 1, { name: "Whole milk", area: "Dairy" }));
  log.apply(createItem("apple-juice", 4, { name: "Cloudy juice", area: "Pantry" }));
  log.apply(buy([{ sku: "milk-1l", qty: 1 }]));
  return market;
}

const skusOf = (items: readonly { sku: string }[]): string[] => items.map((item) => item.sku);

describe("market queries", () => {
  it("lists every item in sku order by code unit (capitals first)", () => {
    expect(skusOf(catalogue().searchItems())).to.deep.equal(
      ["Zucchini", "apple-1kg", "apple-juice", "milk-1l", "pasta-500g"]);
  });

  it("matches text against sku or name, ignoring case", () => {
    const market = catalogue();
    expect(skusOf(market.searchItems({ q: "APPLE" }))).to.deep.equal(["apple-1kg", "apple-juice"]);
    expect(skusOf(market.searchItems({ q: "juice" }))).to.deep.equal(["apple-juice"]);
    expect(skusOf(market.searchItems({ q: "green" }))).to.deep.equal(["Zucchini"]);
    expect(market.searchItems({ q: "nothing-like-this" })).to.deep.equal([]);
  });

  it("filters by area (ignoring case) and by stock, combined with text", () => {
    const market = catalogue();
    expect(skusOf(market.searchItems({ area: "fruit & veg" }))).to.deep.equal(
      ["Zucchini", "apple-1kg"]);
    expect(skusOf(market.searchItems({ inStock: true }))).to.deep.equal(
      ["apple-1kg", "apple-juice", "pasta-500g"]);
    expect(skusOf(market.searchItems({ q: "apple", area: "Pantry", inStock: true })))
      .to.deep.equal(["apple-juice"]);
    expect(market.searchItems({ inStock: false })).to.have.length(5);
  });

  it("applies the limit: default 100, clamped to 1000", () => {
    const market = newMarket();
    const log = new LogFeeder(market);
    for (let k = 0; k < 1_005; k++) log.apply(createItem(`sku-${String(k).padStart(4, "0")}`, 1));
    expect(market.searchItems()).to.have.length(marketLimits.searchLimitDefault);
    expect(market.searchItems({ limit: 3 }).map((item) => item.sku)).to.deep.equal(
      ["sku-0000", "sku-0001", "sku-0002"]);
    expect(market.searchItems({ limit: 5_000 })).to.have.length(marketLimits.searchLimitMax);
  });

  it("gets items and orders by id, and lists areas sorted", () => {
    const market = catalogue();
    expect(market.getItem("apple-1kg")).to.include({ name: "Apples", stock: 10 });
    expect(market.getItem("APPLE-1KG")).to.equal(undefined);
    expect(market.getOrder("o-6")).to.include({ status: "confirmed", totalCents: 100 });
    expect(market.getOrder("o-1")).to.equal(undefined);
    expect(market.listAreas()).to.deep.equal(["Dairy", "Fruit & Veg", "Pantry"]);
    expect(newMarket().listAreas()).to.deep.equal([]);
  });

  it("changes nothing by reading", () => {
    const market = catalogue();
    const hash = market.stateHash();
    market.searchItems({ q: "a", limit: 2 });
    market.getItem("apple-1kg");
    market.getOrder("o-6");
    market.listAreas();
    expect(market.stateHash()).to.equal(hash);
  });
});
