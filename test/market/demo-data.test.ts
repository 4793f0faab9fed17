/**
 * The demo catalogue behind `--demo-data`. Method: validate every entry as a createItem
 * request, load it into a market, and check its size, its areas, that every item can be
 * bought, and that loading it twice is harmless (deduplicated within the session TTL,
 * alreadyExists after it).
 */
import { expect } from "chai";
import {
  demoCatalogue,
  demoRequests,
  validateRequest,
} from "../../src/market/index.js";
import { expectItem, expectOrder, LogFeeder, newMarket } from "./helpers.js";

describe("market demo data", () => {
  it("is a dozen valid items across three or four areas", () => {
    expect(demoCatalogue.length).to.be.within(10, 14);
    const areas = new Set(demoCatalogue.map((item) => item.area));
    expect(areas.size).to.be.within(3, 4);
    expect(new Set(demoCatalogue.map((item) => item.sku)).size).to.equal(demoCatalogue.length);
    for (const request of demoRequests()) {
      expect(validateRequest(request), request.requestId).to.deep.equal({ ok: true, request });
    }
  });

  it("loads, sells, and loads again without harm", () => {
    const market = newMarket({ sessionTtlMs: 60_000 });
    const log = new LogFeeder(market);
    for (const request of demoRequests()) expectItem(log.apply(request));
    expect(market.searchItems()).to.have.length(demoCatalogue.length);
    expect(market.listAreas()).to.have.length(new Set(demoCatalogue.map((i) => i.area)).size);
    const lines = demoCatalogue.map((item) => ({ sku: item.sku, qty: 1 }));
    expectOrder(log.apply({ kind: "buy", requestId: "demo-buy", lines }));
    const hash = market.stateHash();
    // Within the TTL a second load is a retry: same results, nothing applied.
    for (const request of demoRequests()) expectItem(log.apply(request));
    expect(market.searchItems()[0]!.stock).to.equal(demoCatalogue.slice().sort((a, b) =>
      (a.sku < b.sku ? -1 : 1))[0]!.stock - 1);
    log.advance(60_000);
    for (const request of demoRequests()) {
      expect(log.apply(request)).to.include({ ok: false, error: "alreadyExists" });
    }
    expect(market.stateHash()).to.not.equal(hash);
  });
});
