/**
 * The end-of-run invariants and the report. Goal: conservation accepts exactly the final stocks
 * that some choice of the info operations explains, oversell, negative stock, missing orders
 * and replica divergence are each detected and named, and the report exits 1 on any
 * violation. Method: small hand-made histories with ok, fail and info adds and buys, checked
 * against final reads at and just outside both ends of the allowed range, and hand-written
 * replica statuses.
 */
import { expect } from "chai";
import {
  checkInvariants, convergenceViolations, type FinalRead,
} from "../../src/verify/invariants.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";
import { buildReport, exitCodeFor, formatReport } from "../../src/verify/report.js";
import { created } from "./helpers.js";

/** Stock 10; ok add 5, info add 3, ok buy 4, info buy 2, failed buy 50: final in [9, 14]. */
function mixedHistory(): ReturnType<typeof created> {
  return created("a", 10)
    .done(1, "add", { sku: "a", qty: 5 })
    .invoke(2, "add", { sku: "a", qty: 3 }).info(2, { error: "timeout" })
    .done(3, "buy", { sku: "a", qty: 4 }, { orderId: "o-4" })
    .invoke(4, "buy", { sku: "a", qty: 2 }).info(4)
    .invoke(5, "buy", { sku: "a", qty: 50 }).fail(5, { error: "insufficient_stock" });
}

const replicasAgreeing = [
  { node: "n1", appliedIndex: 40, stateHash: "h" },
  { node: "n2", appliedIndex: 40, stateHash: "h" },
];

function kindsFor(final: number | null, reads?: FinalRead[]): string[] {
  const result = checkInvariants({
    history: mixedHistory().ops(),
    finalReads: reads ?? [{ node: "n1", sku: "a", stock: final }],
    replicas: replicasAgreeing,
  });
  return result.violations.map((violation) => violation.kind);
}

describe("verify: invariants", () => {
  it("accounts for ok, info and fail operations", () => {
    const result = checkInvariants({
      history: mixedHistory().ops(), finalReads: [{ node: "n1", sku: "a", stock: 12 }],
      replicas: replicasAgreeing,
    });
    expect(result.ok).to.equal(true);
    expect(result.items[0]).to.include({ initial: 10, addedOk: 5, addedInfo: 3, soldOk: 4,
      soldInfo: 2, final: 12, expectedLow: 9, expectedHigh: 14 });
  });

  it("accepts the ends of the conservation range and rejects just outside", () => {
    expect(kindsFor(9)).to.deep.equal([]);
    expect(kindsFor(14)).to.deep.equal([]);
    expect(kindsFor(8)).to.deep.equal(["conservation"]);
    expect(kindsFor(15)).to.deep.equal(["conservation"]);
    expect(kindsFor(null)).to.deep.equal(["conservation"]);
  });

  it("flags negative stock and final reads that differ between nodes", () => {
    expect(kindsFor(-1)).to.include("negativeStock");
    expect(kindsFor(0, [
      { node: "n1", sku: "a", stock: 12 }, { node: "n2", sku: "a", stock: 11 },
    ])).to.deep.equal(["finalReadsDiffer"]);
  });

  it("flags an item that appears without a create", () => {
    const result = checkInvariants({ history: [], replicas: [],
      finalReads: [{ node: "n1", sku: "ghost", stock: 1 }] });
    expect(result.violations.map((violation) => violation.kind)).to.deep.equal(["conservation"]);
    const given = checkInvariants({ history: [], replicas: [], initialStocks: { ghost: 1 },
      finalReads: [{ node: "n1", sku: "ghost", stock: 1 }] });
    expect(given.ok).to.equal(true);
  });

  it("finds every acknowledged order, or names the missing one", () => {
    const base = { history: mixedHistory().ops(), replicas: replicasAgreeing,
      finalReads: [{ node: "n1", sku: "a", stock: 11 }] };
    expect(checkInvariants({ ...base, ordersFound: ["o-4", "o-9"] }).ok).to.equal(true);
    const missing = checkInvariants({ ...base, ordersFound: [] });
    expect(missing.violations).to.deep.equal([{ kind: "missingOrder", orderId: "o-4",
      index: 6 }]);
  });

  describe("with cancels", () => {
    /** Stock 10; ok buy 4 (o-1), ok buy 1 (o-2), ok buy 2 (o-3); o-1 cancelled ok, o-2 info. */
    function withCancels(): ReturnType<typeof created> {
      return created("a", 10)
        .done(1, "buy", { sku: "a", qty: 4 }, { orderId: "o-1" })
        .done(2, "buy", { sku: "a", qty: 1 }, { orderId: "o-2" })
        .done(3, "buy", { sku: "a", qty: 2 }, { orderId: "o-3" })
        .done(4, "cancel", { sku: "a", qty: 4, orderId: "o-1" })
        .invoke(5, "cancel", { sku: "a", qty: 1, orderId: "o-2" }).info(5);
    }
    const check = (final: number, orderStatuses?: Record<string, "confirmed" | "cancelled">) =>
      checkInvariants({ history: withCancels().ops(), replicas: replicasAgreeing,
        finalReads: [{ node: "n1", sku: "a", stock: final }], orderStatuses,
        ordersFound: orderStatuses === undefined ? undefined : Object.keys(orderStatuses) });

    it("conserves stock: initial + added - sold + cancelled, info cancels either way", () => {
      const result = check(7);
      expect(result.ok).to.equal(true);
      expect(result.items[0]).to.include({ cancelledOk: 4, cancelledInfo: 1, expectedLow: 7,
        expectedHigh: 8 });
      expect(check(8).ok).to.equal(true);
    });

    it("flags a lost cancel and a cancel applied twice", () => {
      expect(check(3).violations.map((violation) => violation.kind))
        .to.deep.equal(["conservation"]);
      expect(check(12).violations.map((violation) => violation.kind))
        .to.deep.equal(["conservation"]);
    });

    it("checks each order's final status against its cancel", () => {
      expect(check(7, { "o-1": "cancelled", "o-2": "confirmed", "o-3": "confirmed" }).ok)
        .to.equal(true);
      expect(check(8, { "o-1": "cancelled", "o-2": "cancelled", "o-3": "confirmed" }).ok)
        .to.equal(true);
      const wrong = check(7, { "o-1": "confirmed", "o-2": "confirmed", "o-3": "cancelled" });
      expect(wrong.violations).to.deep.equal([
        { kind: "orderStatus", orderId: "o-1", found: "confirmed",
          expected: "cancelled (a cancel that ended ok)" },
        { kind: "orderStatus", orderId: "o-3", found: "cancelled",
          expected: "confirmed (no cancel)" },
      ]);
    });
  });

  it("detects a convergence mismatch and replicas left behind", () => {
    expect(convergenceViolations(replicasAgreeing)).to.deep.equal([]);
    const diverged = convergenceViolations([
      { node: "n1", appliedIndex: 40, stateHash: "h" },
      { node: "n2", appliedIndex: 40, stateHash: "x" },
    ]);
    expect(diverged.map((violation) => violation.kind)).to.deep.equal(["divergence"]);
    const behind = convergenceViolations([
      { node: "n1", appliedIndex: 40, stateHash: "h" },
      { node: "n2", appliedIndex: 39, stateHash: "g" },
    ]);
    expect(behind.map((violation) => violation.kind)).to.deep.equal(["notConverged"]);
  });
});

describe("verify: report", () => {
  it("passes a clean run with exit code 0", () => {
    const history = mixedHistory().done(6, "read", { sku: "a" }, { stock: 12 });
    const report = buildReport({
      linearizability: checkLinearizability(history.ops()),
      invariants: checkInvariants({ history: history.ops(), replicas: replicasAgreeing,
        finalReads: [{ node: "n1", sku: "a", stock: 12 }] }),
      operationCount: history.ops().length, meta: { seed: 7 },
    });
    expect(exitCodeFor(report)).to.equal(0);
    expect(formatReport(report)).to.contain("PASS").and.contain("seed: 7");
  });

  it("fails a stale read with exit code 1 and names the read in the text", () => {
    const history = created("a", 5)
      .done(1, "buy", { sku: "a", qty: 1 }, { orderId: "o-2" })
      .done(2, "read", { sku: "a" }, { stock: 5 });
    const report = buildReport({
      linearizability: checkLinearizability(history.ops()),
      invariants: checkInvariants({ history: history.ops(), replicas: replicasAgreeing,
        finalReads: [{ node: "n1", sku: "a", stock: 4 }] }),
      operationCount: history.ops().length,
    });
    expect(exitCodeFor(report)).to.equal(1);
    const text = formatReport(report);
    expect(text).to.contain("NOT LINEARIZABLE").and.contain("blocked: ok read");
    expect(JSON.parse(JSON.stringify(report))).to.have.property("ok", false);
  });

  it("treats unknown as a pass unless asked otherwise", () => {
    const unknown = { linearizable: "unknown" as const, items: [] };
    const invariants = checkInvariants({ history: [], finalReads: [], replicas: [] });
    expect(exitCodeFor(buildReport({ linearizability: unknown, invariants,
      operationCount: 0 }))).to.equal(0);
    expect(exitCodeFor(buildReport({ linearizability: unknown, invariants,
      operationCount: 0, unknownIsViolation: true }))).to.equal(1);
  });
});
