/**
 * The linearizability checker on hand-made histories. Goal: show that the WGL search accepts
 * concurrent histories that have some valid order, rejects the anomalies a broken replicated
 * store produces (a stale read, an oversell, a lost write, a double apply), treats info
 * operations as possibly applied, keeps each sku's verdict independent, and gives up with
 * "unknown" rather than hanging. Method: each history is written event by event with
 * HistoryBuilder (a recorder with a fake clock), checked, and the verdict and, for the
 * non-linearizable ones, the operation named in the explanation are asserted.
 */
import { expect } from "chai";
import { checkLinearizability, type ItemVerdict } from "../../src/verify/linearizability.js";
import { UnsupportedOperationError } from "../../src/verify/item-ops.js";
import { checkInvariants } from "../../src/verify/invariants.js";
import { created, HistoryBuilder } from "./helpers.js";

function verdictOf(builder: HistoryBuilder, sku = "a"): ItemVerdict {
  const item = checkLinearizability(builder.ops()).items.find((verdict) => verdict.sku === sku);
  if (item === undefined) throw new Error(`no verdict for ${sku}`);
  return item;
}

function blockedOf(verdict: ItemVerdict): { f: string; index: number } {
  if (verdict.linearizable !== false) throw new Error("expected a non-linearizable verdict");
  return verdict.explanation.blockedOperation;
}

/** Buy 2 and add 3 overlap each other and a read, on stock 5. */
function concurrentHistory(readStock: number): HistoryBuilder {
  return created("a", 5)
    .invoke(1, "buy", { sku: "a", qty: 2 })
    .invoke(2, "add", { sku: "a", qty: 3 })
    .invoke(3, "read", { sku: "a" })
    .ok(3, { stock: readStock })
    .ok(1, { orderId: "o-1" })
    .ok(2)
    .done(4, "read", { sku: "a" }, { stock: 6 });
}

describe("verify: linearizability of hand-made histories", () => {
  for (const readStock of [5, 3, 8, 6]) {
    it(`accepts overlapping buy/add/read where the read sees ${readStock}`, () => {
      expect(verdictOf(concurrentHistory(readStock)).linearizable).to.equal(true);
    });
  }

  it("rejects a concurrent read of a value no order produces", () => {
    expect(verdictOf(concurrentHistory(4)).linearizable).to.equal(false);
  });

  it("rejects a stale read and names the read", () => {
    const history = created("a", 5)
      .done(1, "buy", { sku: "a", qty: 1 })
      .done(2, "read", { sku: "a" }, { stock: 5 });
    const verdict = verdictOf(history);
    expect(verdict.linearizable).to.equal(false);
    expect(blockedOf(verdict)).to.include({ f: "read", index: 4, process: 2 });
    if (verdict.linearizable !== false) return;
    expect(verdict.explanation.longestPrefix.map((step) => step.operation.f))
      .to.deep.equal(["create", "buy"]);
    expect(verdict.explanation.stateAfterPrefix).to.equal(4);
    expect(verdict.explanation.message).to.contain("read").and.contain("index 4");
  });

  it("rejects an oversell: two concurrent ok buys of the last unit", () => {
    const history = created("a", 1)
      .invoke(1, "buy", { sku: "a", qty: 1 })
      .invoke(2, "buy", { sku: "a", qty: 1 })
      .ok(1, { orderId: "o-1" })
      .ok(2, { orderId: "o-2" });
    expect(verdictOf(history).linearizable).to.equal(false);
    const invariants = checkInvariants({
      history: history.ops(), finalReads: [{ node: "n1", sku: "a", stock: 0 }], replicas: [],
    });
    expect(invariants.violations.map((violation) => violation.kind)).to.include("oversell");
  });

  it("rejects a lost write: an ok add missing from a later read", () => {
    const history = created("a", 5)
      .done(1, "add", { sku: "a", qty: 3 })
      .done(2, "read", { sku: "a" }, { stock: 5 });
    expect(blockedOf(verdictOf(history)).f).to.equal("read");
  });

  it("rejects a double apply: one buy of 1 but the stock drops by 2", () => {
    const history = created("a", 5)
      .done(1, "buy", { sku: "a", qty: 1 })
      .done(2, "read", { sku: "a" }, { stock: 3 });
    expect(blockedOf(verdictOf(history)).f).to.equal("read");
  });

  it("rejects an add whose reported stock after does not match", () => {
    const history = created("a", 5).done(1, "add", { sku: "a", qty: 3 }, { stock: 9 });
    expect(blockedOf(verdictOf(history)).f).to.equal("add");
  });

  it("assumes an info add applied when a later read shows it", () => {
    const history = created("a", 5)
      .invoke(1, "add", { sku: "a", qty: 3 }).info(1, { error: "timeout" })
      .done(2, "read", { sku: "a" }, { stock: 8 });
    expect(verdictOf(history).linearizable).to.equal(true);
  });

  it("assumes an info add not applied when later reads do not show it", () => {
    const history = created("a", 5)
      .invoke(1, "add", { sku: "a", qty: 3 }).info(1)
      .done(2, "read", { sku: "a" }, { stock: 5 })
      .done(3, "read", { sku: "a" }, { stock: 5 });
    expect(verdictOf(history).linearizable).to.equal(true);
  });

  it("lets an info add take effect late, but never un-happen", () => {
    const late = created("a", 5)
      .invoke(1, "add", { sku: "a", qty: 3 }).info(1)
      .done(2, "read", { sku: "a" }, { stock: 5 })
      .done(3, "read", { sku: "a" }, { stock: 8 });
    expect(verdictOf(late).linearizable).to.equal(true);
    const undone = created("a", 5)
      .invoke(1, "add", { sku: "a", qty: 3 }).info(1)
      .done(2, "read", { sku: "a" }, { stock: 8 })
      .done(3, "read", { sku: "a" }, { stock: 5 });
    expect(verdictOf(undone).linearizable).to.equal(false);
  });

  it("treats an invocation with no completion as info", () => {
    const history = created("a", 5)
      .invoke(1, "buy", { sku: "a", qty: 2 })
      .done(2, "read", { sku: "a" }, { stock: 3 });
    expect(verdictOf(history).linearizable).to.equal(true);
  });

  it("drops fail operations: a failed buy did not happen", () => {
    const history = created("a", 1)
      .invoke(1, "buy", { sku: "a", qty: 2 }).fail(1, { error: "insufficient_stock" })
      .invoke(2, "create", { sku: "a", stock: 9 }).fail(2, { error: "conflict" })
      .done(3, "read", { sku: "a" }, { stock: 1 });
    expect(verdictOf(history).linearizable).to.equal(true);
  });

  it("models absence: a read of an uncreated item returns null", () => {
    const before = new HistoryBuilder()
      .done(1, "read", { sku: "a" }, { stock: null })
      .done(0, "create", { sku: "a", stock: 2 });
    expect(verdictOf(before).linearizable).to.equal(true);
    const after = created("a", 2).done(1, "read", { sku: "a" }, { stock: null });
    expect(verdictOf(after).linearizable).to.equal(false);
  });

  it("checks each sku on its own: a violation on one leaves the other linearizable", () => {
    const history = created("a", 5)
      .done(0, "create", { sku: "b", stock: 5 })
      .invoke(1, "buy", { sku: "b", qty: 1 })
      .done(2, "buy", { sku: "a", qty: 1 })
      .done(3, "read", { sku: "a" }, { stock: 5 })
      .ok(1)
      .done(4, "read", { sku: "b" }, { stock: 4 });
    const result = checkLinearizability(history.ops());
    expect(result.linearizable).to.equal(false);
    expect(result.items.map((item) => [item.sku, item.linearizable]))
      .to.deep.equal([["a", false], ["b", true]]);
  });

  it("gives up with unknown on an adversarial history beyond its step budget", () => {
    // 20 concurrent adds and an impossible concurrent read: the search must try every subset
    // of adds before concluding, about 2^20 states.
    const history = created("a", 0);
    for (let process = 1; process <= 20; process++) {
      history.invoke(process, "add", { sku: "a", qty: process });
    }
    history.invoke(99, "read", { sku: "a" }).ok(99, { stock: 1_000_000 });
    for (let process = 1; process <= 20; process++) history.ok(process);
    const result = checkLinearizability(history.ops(), { stepsMaxPerItem: 10_000 });
    expect(result.linearizable).to.equal("unknown");
    const item = result.items[0];
    expect(item?.linearizable).to.equal("unknown");
    if (item?.linearizable === "unknown") expect(item.reason).to.contain("10000 steps");
  });

  it("rejects multi-line buys with a clear message", () => {
    const history = created("a", 5).done(1, "buy", { lines: [
      { sku: "a", qty: 1 }, { sku: "b", qty: 1 },
    ] });
    expect(() => checkLinearizability(history.ops()))
      .to.throw(UnsupportedOperationError, /2 lines.*single-line/);
  });

  describe("cancel", () => {
    /** Stock 5, an acknowledged buy of 2 (o-1), then a cancel of it that ends `type`. */
    function cancelled(type: "ok" | "info"): HistoryBuilder {
      const history = created("a", 5)
        .done(1, "buy", { sku: "a", qty: 2 }, { orderId: "o-1" })
        .invoke(2, "cancel", { sku: "a", qty: 2, orderId: "o-1" });
      return type === "ok" ? history.ok(2) : history.info(2, { error: "timeout" });
    }

    it("restocks: a read after an ok cancel sees the order's qty back", () => {
      expect(verdictOf(cancelled("ok").done(3, "read", { sku: "a" }, { stock: 5 }))
        .linearizable).to.equal(true);
    });

    it("rejects a stale read that misses an acknowledged cancel, naming the read", () => {
      const verdict = verdictOf(cancelled("ok").done(3, "read", { sku: "a" }, { stock: 3 }));
      expect(verdict.linearizable).to.equal(false);
      expect(blockedOf(verdict)).to.include({ f: "read", process: 3 });
    });

    it("rejects a double apply: one cancel of 2 but the stock rises by 4", () => {
      expect(verdictOf(cancelled("ok").done(3, "read", { sku: "a" }, { stock: 7 }))
        .linearizable).to.equal(false);
    });

    it("lets an info cancel have happened, or not", () => {
      for (const stock of [3, 5]) {
        expect(verdictOf(cancelled("info").done(3, "read", { sku: "a" }, { stock }))
          .linearizable, `read ${stock}`).to.equal(true);
      }
    });

    it("refuses cancels outside the workload's rules rather than check them wrongly", () => {
      const refused = (builder: HistoryBuilder, message: RegExp): void => {
        expect(() => checkLinearizability(builder.ops()))
          .to.throw(UnsupportedOperationError, message);
      };
      refused(cancelled("ok").done(3, "cancel", { sku: "a", qty: 2, orderId: "o-1" }),
        /cancel of o-1: the order is cancelled twice/);
      refused(created("a", 5).done(1, "cancel", { sku: "a", qty: 1 }), /needs the orderId/);
      // An order no buy acknowledged, and one whose buy was still running.
      refused(created("a", 5).done(1, "cancel", { sku: "a", qty: 1, orderId: "o-9" }),
        /acknowledged before the cancel/);
      refused(created("a", 5).invoke(1, "buy", { sku: "a", qty: 1 })
        .done(2, "cancel", { sku: "a", qty: 1, orderId: "o-1" }).ok(1, { orderId: "o-1" }),
      /acknowledged before the cancel/);
      refused(created("a", 5).done(1, "buy", { sku: "a", qty: 2 }, { orderId: "o-1" })
        .done(2, "cancel", { sku: "a", qty: 3, orderId: "o-1" }), /those of its buy \(a × 2\)/);
    });
  });

  it("accepts a single-line buy written with lines", () => {
    const history = created("a", 5)
      .done(1, "buy", { lines: [{ sku: "a", qty: 2 }] })
      .done(2, "read", { sku: "a" }, { stock: 3 });
    expect(verdictOf(history).linearizable).to.equal(true);
  });
});
