/**
 * Validation of untrusted input (validate.ts). Method: start from a valid request of each kind,
 * break one field at a time (missing, wrong type, out of range, too long, bad characters), and
 * check that the answer is `{ok: false}` naming exactly that field, by its path for nested
 * ones (`lines[1].qty`). Valid requests come back as fresh objects with only the known fields.
 */
import { expect } from "chai";
import {
  marketLimits,
  validateAddStockRequest,
  validateBuyRequest,
  validateCancelRequest,
  validateCommand,
  validateCreateItemRequest,
  validateRequest,
  validateSearchQuery,
  type RequestValidation,
} from "../../src/market/index.js";

const goodItem = { requestId: "r-1", sku: "apple-1kg", name: "Apples", area: "Fruit",
  priceCents: 349, stock: 10 };

/** A short test-name description of a bad value. */
function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string" && value.length > 20) return `of ${value.length} characters`;
  return typeof value === "number" ? `= ${value}` : `= ${JSON.stringify(value)}`;
}

function expectProblem(validation: { ok: boolean; message?: string }, field: string): void {
  expect(validation, JSON.stringify(validation)).to.include({ ok: false, field });
  expect(validation.message).to.be.a("string").and.not.equal("");
}

describe("market validate", () => {
  it("accepts valid requests and keeps only the known fields", () => {
    const created = validateCreateItemRequest({ ...goodItem, extra: "dropped" });
    expect(created).to.deep.equal({ ok: true, request: { kind: "createItem", ...goodItem } });
    expect(validateAddStockRequest("apple-1kg", { requestId: "r-2", qty: 5 })).to.deep.equal({
      ok: true, request: { kind: "addStock", requestId: "r-2", sku: "apple-1kg", qty: 5 },
    });
    const lines = [{ sku: "a", qty: 1, note: "x" }];
    expect(validateBuyRequest({ requestId: "r-3", lines })).to.deep.equal({
      ok: true, request: { kind: "buy", requestId: "r-3", lines: [{ sku: "a", qty: 1 }] },
    });
    expect(validateCancelRequest("o-7", { requestId: "r-4" })).to.deep.equal({
      ok: true, request: { kind: "cancel", requestId: "r-4", orderId: "o-7" },
    });
  });

  const itemCases: [string, Record<string, unknown>][] = [
    ["requestId", { requestId: undefined }],
    ["requestId", { requestId: "" }],
    ["requestId", { requestId: "has space" }],
    ["requestId", { requestId: "x".repeat(marketLimits.requestIdLengthMax + 1) }],
    ["sku", { sku: undefined }],
    ["sku", { sku: 42 }],
    ["sku", { sku: "-leading-dash" }],
    ["sku", { sku: "apple/1kg" }],
    ["sku", { sku: "a".repeat(marketLimits.skuLengthMax + 1) }],
    ["name", { name: "" }],
    ["name", { name: " padded" }],
    ["name", { name: "tab\there" }],
    ["name", { name: "n".repeat(marketLimits.nameLengthMax + 1) }],
    ["area", { area: null }],
    ["area", { area: "a".repeat(marketLimits.areaLengthMax + 1) }],
    ["priceCents", { priceCents: -1 }],
    ["priceCents", { priceCents: 1.5 }],
    ["priceCents", { priceCents: "349" }],
    ["priceCents", { priceCents: marketLimits.priceCentsMax + 1 }],
    ["stock", { stock: -1 }],
    ["stock", { stock: marketLimits.stockMax + 1 }],
    ["stock", { stock: Number.NaN }],
    ["stock", { stock: undefined }],
  ];
  for (const [field, change] of itemCases) {
    it(`rejects createItem with ${field} ${describeValue(Object.values(change)[0])}`, () => {
      expectProblem(validateCreateItemRequest({ ...goodItem, ...change }), field);
    });
  }

  it("rejects a body that is not an object", () => {
    for (const body of [null, [], "text", 3]) {
      expectProblem(validateCreateItemRequest(body), "body");
      expectProblem(validateBuyRequest(body), "body");
    }
  });

  it("rejects addStock with a bad sku or qty", () => {
    expectProblem(validateAddStockRequest("bad sku", { requestId: "r", qty: 1 }), "sku");
    expectProblem(validateAddStockRequest("a", { requestId: "r", qty: 0 }), "qty");
    expectProblem(validateAddStockRequest("a", { requestId: "r", qty: -5 }), "qty");
    expectProblem(validateAddStockRequest("a", { requestId: "r", qty: 1e10 }), "qty");
    expectProblem(validateAddStockRequest("a", { requestId: "r" }), "qty");
    expectProblem(validateAddStockRequest("a", { qty: 1 }), "requestId");
  });

  it("rejects buy lines by their path", () => {
    const buy = (lines: unknown): RequestValidation =>
      validateBuyRequest({ requestId: "r", lines });
    expectProblem(buy(undefined), "lines");
    expectProblem(buy("a:1"), "lines");
    expectProblem(buy([]), "lines");
    const many = Array.from({ length: marketLimits.linesPerOrderMax + 1 }, () => ({ sku: "a",
      qty: 1 }));
    expectProblem(buy(many), "lines");
    expectProblem(buy([{ sku: "a", qty: 1 }, "a"]), "lines[1]");
    expectProblem(buy([{ sku: "a", qty: 1 }, { sku: "a", qty: 0 }]), "lines[1].qty");
    expectProblem(buy([{ sku: "a", qty: marketLimits.buyQtyMax + 1 }]), "lines[0].qty");
    expectProblem(buy([{ qty: 1 }]), "lines[0].sku");
    expect(buy(many.slice(1)).ok).to.equal(true);
  });

  it("rejects cancel with a bad orderId", () => {
    expectProblem(validateCancelRequest("", { requestId: "r" }), "orderId");
    expectProblem(validateCancelRequest("o 1", { requestId: "r" }), "orderId");
    expectProblem(validateCancelRequest(undefined, { requestId: "r" }), "orderId");
  });

  it("validates a request's kind, and a command's timeMs", () => {
    expectProblem(validateRequest({ kind: "delete", requestId: "r" }), "kind");
    expectProblem(validateRequest({ requestId: "r" }), "kind");
    const request = { kind: "cancel", requestId: "r", orderId: "o-1" };
    expect(validateRequest(request)).to.deep.equal({ ok: true, request });
    expectProblem(validateCommand(request), "timeMs");
    expectProblem(validateCommand({ ...request, timeMs: -1 }), "timeMs");
    expectProblem(validateCommand({ ...request, timeMs: "now" }), "timeMs");
    expect(validateCommand({ ...request, timeMs: 5 })).to.deep.equal({
      ok: true, command: { ...request, timeMs: 5 },
    });
  });

  it("ignores inherited properties such as __proto__ and constructor", () => {
    const body = JSON.parse('{"__proto__": {"sku": "a"}, "requestId": "r", "qty": 1}') as unknown;
    expectProblem(validateAddStockRequest(undefined, body), "sku");
  });

  describe("search queries", () => {
    it("accepts URL query strings and typed values", () => {
      const query = { q: "  Apple ", area: "Fruit", inStock: "true", limit: "20" };
      expect(validateSearchQuery(query)).to.deep.equal({
        ok: true, query: { q: "Apple", area: "Fruit", inStock: true, limit: 20 },
      });
      expect(validateSearchQuery({ inStock: false, limit: 5 })).to.deep.equal({
        ok: true, query: { inStock: false, limit: 5 },
      });
      expect(validateSearchQuery({ q: "", area: "" })).to.deep.equal({ ok: true, query: {} });
      expect(validateSearchQuery(undefined)).to.deep.equal({ ok: true, query: {} });
    });

    it("rejects each bad parameter by name", () => {
      expectProblem(validateSearchQuery({ limit: "0" }), "limit");
      expectProblem(validateSearchQuery({ limit: "1001" }), "limit");
      expectProblem(validateSearchQuery({ limit: "ten" }), "limit");
      expectProblem(validateSearchQuery({ limit: "1e3" }), "limit");
      expectProblem(validateSearchQuery({ inStock: "yes" }), "inStock");
      expectProblem(validateSearchQuery({ q: "x".repeat(201) }), "q");
      expectProblem(validateSearchQuery({ q: ["a", "b"] }), "q");
      expectProblem(validateSearchQuery({ area: 7 }), "area");
      expectProblem(validateSearchQuery("q=a"), "query");
    });
  });
});
