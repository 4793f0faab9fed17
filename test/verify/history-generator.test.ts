/**
 * The generator of large histories (src/verify/history-generator.ts) and the checkers on a
 * mid-sized one. Goal: what the generator writes is a well-formed history with every outcome
 * the checkers handle, linearizable by construction and consistent with the store's final
 * stocks, and the same for a seed; its corrupted variant is refuted at the corrupted read.
 * Method: generate 3,000 operations on 2 items with 8 clients and 5% unanswered, run the
 * linearizability and invariant checkers, then corrupt a read at 80% of the history. The
 * 50,000-operation figure is measured by scripts/bench-verify.ts, not here (too slow for
 * `npm test`).
 */
import { expect } from "chai";
import { pairOperations } from "../../src/verify/history.js";
import { corruptRead, generateHistory } from "../../src/verify/history-generator.js";
import { checkInvariants } from "../../src/verify/invariants.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";

const options = {
  operationCount: 3_000, itemCount: 2, unansweredRate: 0.05, processCount: 8, seed: 7,
};

describe("verify: generated histories", () => {
  const generated = generateHistory(options);

  it("produces every outcome, paired correctly, the same for a seed", () => {
    const operations = pairOperations(generated.ops);
    expect(operations).to.have.length(options.operationCount);
    const outcomes = new Set(operations.map((operation) =>
      `${operation.type}:${operation.completion === null ? "none" : operation.value.error ?? ""}`));
    for (const outcome of ["ok:", "fail:insufficient_stock", "fail:not_found", "fail:conflict",
      "fail:unavailable", "info:timeout", "info:none"]) {
      expect(outcomes, outcome).to.include(outcome);
    }
    expect(new Set(operations.map((operation) => operation.f)))
      .to.have.all.keys("create", "add", "buy", "cancel", "read");
    expect(generateHistory(options).ops).to.deep.equal(generated.ops);
  });

  it("is linearizable, and the final stocks satisfy the invariants", () => {
    const result = checkLinearizability(generated.ops);
    expect(result.items.map((item) => [item.sku, item.linearizable]))
      .to.deep.equal([["item-0", true], ["item-1", true]]);
    const finalReads = [...generated.finalStocks].map(([sku, stock]) =>
      ({ node: "n1", sku, stock }));
    const invariants = checkInvariants({ history: generated.ops, finalReads, replicas: [] });
    expect(invariants.violations).to.deep.equal([]);
  });

  it("refutes the corrupted variant at the corrupted read", () => {
    const { ops, corrupted } = corruptRead(generated.ops, 0.8);
    const result = checkLinearizability(ops);
    const item = result.items.find((verdict) => verdict.sku === corrupted.value.sku);
    expect(item?.linearizable).to.equal(false);
    if (item?.linearizable !== false) return;
    expect(item.explanation.blockedOperation.completeIndex).to.equal(corrupted.index);
    expect(result.items.filter((verdict) => verdict.linearizable === true)).to.have.length(1);
  });
});
