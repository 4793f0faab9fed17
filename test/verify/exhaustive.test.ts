/**
 * The linearizability checker against the definition. Goal: on small histories with every kind
 * of operation and outcome the checker models (ok, refused with each observing error, refused
 * for no leader, info writes applied or not, invocations never completed), the checker's
 * verdict is exactly that of a brute-force search, both when the history is linearizable
 * (completeness: no false alarm) and when it is not (soundness: no false pass). Method: from a
 * seeded SeededRng, build a run of 7 operations with random overlapping intervals, pick a
 * linearization point inside each interval (an info write's anywhere after its call, or none;
 * quantities 1 to 3, initial stocks 0 to 3), answer each operation as a correct store would at
 * that point, then corrupt one answer in half of the runs. The brute force, written here from the definition and sharing no code with the
 * checker, tries every order of every subset of the info writes that respects real time
 * (a before b whenever a returned before b was called). The stock bounds that let the checker
 * refute an impossible observation without a search (stock-bounds.ts) are checked on the same
 * runs: in an uncorrupted run, every operation was answered by a correct store, so none may
 * fall outside them.
 */
import { expect } from "chai";
import { SeededRng } from "../../src/raft/rng.js";
import {
  pairOperations, type HistoryOp, type OpFunction, type OpValue,
} from "../../src/verify/history.js";
import { definiteStepOf, infoKindOf, type InfoKind } from "../../src/verify/item-model.js";
import { partitionBySku } from "../../src/verify/item-ops.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";
import { outOfBounds, StockBoundsIndex } from "../../src/verify/stock-bounds.js";

type Stock = number | null;

interface SmallOp {
  readonly f: Exclude<OpFunction, "cancel">;
  /** create: the initial stock; add, buy: the quantity. */
  readonly qty: number;
  readonly callTime: number;
  /** The completion's time; null when the operation never completes. */
  readonly completeTime: number | null;
  outcome: "ok" | "fail" | "info";
  /** The completion's value beyond the invocation's. */
  result: OpValue;
}

/** The state after `op` from `state`, or undefined if the model refuses it there. */
function transition(op: SmallOp, state: Stock): Stock | undefined {
  const observed = op.result.stock;
  if (op.outcome === "fail") {
    const error = op.result.error;
    if (op.f === "buy" && error === "insufficient_stock") {
      const available = op.result.available;
      return state !== null && state < op.qty &&
        (available === undefined || available === state) ? state : undefined;
    }
    if (error === "not_found") return state === null ? state : undefined;
    if (op.f === "create" && error === "conflict") return state !== null ? state : undefined;
    throw new Error("dropped operations are filtered out first");
  }
  const checked = op.outcome === "ok";
  switch (op.f) {
    case "create":
      return state === null ? op.qty : undefined;
    case "add":
      if (state === null) return undefined;
      return !checked || observed === undefined || observed === state + op.qty
        ? state + op.qty : undefined;
    case "buy":
      return state !== null && state >= op.qty ? state - op.qty : undefined;
    case "read":
      return !checked || observed === state ? state : undefined;
  }
}

/** Whether an operation constrains anything at all. */
function matters(op: SmallOp): boolean {
  if (op.outcome === "info") return op.f !== "read";
  if (op.outcome === "ok") return true;
  const error = op.result.error;
  return (op.f === "buy" && error === "insufficient_stock") ||
    ((op.f === "buy" || op.f === "add") && error === "not_found") ||
    (op.f === "create" && error === "conflict");
}

/** The definition: some order of all definite operations and some info writes, legal. */
function bruteForceLinearizable(ops: readonly SmallOp[]): boolean {
  const relevant = ops.filter(matters);
  const returnOf = (op: SmallOp): number =>
    op.outcome === "info" || op.completeTime === null ? Infinity : op.completeTime;
  const definiteMask = relevant.reduce((mask, op, i) =>
    op.outcome === "info" ? mask : mask | (1 << i), 0);
  const failed = new Set<string>();
  const search = (placed: number, state: Stock): boolean => {
    if ((placed & definiteMask) === definiteMask) return true;
    const key = `${placed}:${state}`;
    if (failed.has(key)) return false;
    for (const [i, op] of relevant.entries()) {
      if ((placed & (1 << i)) !== 0) continue;
      const mustPrecede = relevant.some((other, j) => j !== i && (placed & (1 << j)) === 0 &&
        returnOf(other) < op.callTime);
      if (mustPrecede) continue;
      const next = transition(op, state);
      if (next !== undefined && search(placed | (1 << i), next)) return true;
    }
    failed.add(key);
    return false;
  };
  return search(0, null);
}

const functions = ["create", "add", "buy", "read"] as const;

/** A run of a correct store: random intervals, a point in each, answers from that order. */
function correctRun(rng: SeededRng, count: number): SmallOp[] {
  const planned = Array.from({ length: count }, (_, k) => {
    const f = k === 0 ? "create" : functions[rng.nextInt(functions.length)]!;
    const callTime = rng.nextInt(1000);
    const unanswered = rng.nextInt(10) < 3;
    const length = 1 + rng.nextInt(300);
    const completeTime = unanswered && rng.nextInt(2) === 0 ? null : callTime + length;
    // The effect: inside the interval; for an unanswered one, anywhere after the call, or none.
    const point = !unanswered ? callTime + rng.nextFloat() * length
      : rng.nextInt(2) === 0 ? null : callTime + rng.nextFloat() * 1000;
    const op: SmallOp = { f, qty: f === "create" ? rng.nextInt(4) : 1 + rng.nextInt(3),
      callTime, completeTime, outcome: unanswered ? "info" : "ok", result: {} };
    return { op, point, noLeader: !unanswered && rng.nextInt(10) === 0 };
  });
  let stock: Stock = null;
  const byPoint = planned.filter((entry) => entry.point !== null && !entry.noLeader)
    .sort((a, b) => a.point! - b.point!);
  for (const { op } of byPoint) {
    const answer = storeAnswer(rng, op, stock);
    stock = answer.after;
    if (op.outcome !== "info") {
      Object.assign(op, { outcome: answer.outcome, result: answer.result });
    }
  }
  for (const { op, noLeader } of planned) {
    if (noLeader) Object.assign(op, { outcome: "fail", result: { error: "no_leader" } });
    if (op.outcome === "info") op.result = { error: "timeout" };
  }
  return planned.map(({ op }) => op);
}

function storeAnswer(rng: SeededRng, op: SmallOp, stock: Stock):
  { after: Stock; outcome: "ok" | "fail"; result: OpValue } {
  const refused = (error: string, extra: OpValue = {}) =>
    ({ after: stock, outcome: "fail" as const, result: { error, ...extra } });
  switch (op.f) {
    case "create":
      return stock === null ? { after: op.qty, outcome: "ok", result: {} } : refused("conflict");
    case "add":
      if (stock === null) return refused("not_found");
      return { after: stock + op.qty, outcome: "ok",
        result: rng.nextInt(2) === 0 ? { stock: stock + op.qty } : {} };
    case "buy":
      if (stock === null) return refused("not_found");
      if (stock < op.qty) {
        return refused("insufficient_stock", rng.nextInt(2) === 0 ? { available: stock } : {});
      }
      return { after: stock - op.qty, outcome: "ok", result: {} };
    case "read":
      return { after: stock, outcome: "ok", result: { stock } };
  }
}

/** Changes one answered operation's answer to something a correct store might not give. */
function corruptOne(rng: SeededRng, ops: SmallOp[]): void {
  const answered = ops.filter((op) => op.outcome !== "info" && op.result.error !== "no_leader");
  if (answered.length === 0) return;
  const op = answered[rng.nextInt(answered.length)]!;
  if (op.f === "read") {
    const stock = op.result.stock;
    op.result = { stock: stock === null ? 0 : rng.nextInt(3) === 0 ? null : (stock ?? 0) + 1 };
  } else if (op.f === "buy" && op.outcome === "ok") {
    op.outcome = "fail";
    op.result = { error: rng.nextInt(2) === 0 ? "insufficient_stock" : "not_found" };
  } else if (op.f === "add" && op.outcome === "ok") {
    op.result = { stock: ((op.result.stock as number | undefined) ?? 0) + 1 };
  } else {
    op.outcome = "ok";
    op.result = {};
  }
}

/** One process per operation; events sorted by time (ties: completions first). */
function toHistory(ops: readonly SmallOp[]): HistoryOp[] {
  const events: Omit<HistoryOp, "index">[] = [];
  ops.forEach((op, process) => {
    const value: OpValue = op.f === "create" ? { sku: "a", stock: op.qty }
      : op.f === "read" ? { sku: "a" } : { sku: "a", qty: op.qty };
    events.push({ process, type: "invoke", f: op.f, value, time: op.callTime });
    if (op.completeTime === null) return;
    events.push({ process, type: op.outcome, f: op.f, value: { ...value, ...op.result },
      time: op.completeTime });
  });
  events.sort((a, b) => a.time - b.time || (a.type === "invoke" ? 1 : -1));
  return events.map((event, index) => ({ ...event, index }));
}

describe("verify: the checker agrees with a brute-force search", () => {
  // 20,000 runs, quantities up to 3: a refusal that only an info increase and a larger info
  // buy together explain (seed 14364) needs both; 600 runs of quantities up to 2 missed the
  // bug the server simulator found in info-batches.ts (its seed 25867).
  it("on 20,000 small runs, half of them corrupted", () => {
    const counts = { linearizable: 0, not: 0 };
    for (let seed = 1; seed <= 20000; seed++) {
      const rng = new SeededRng(seed);
      const ops = correctRun(rng, 7);
      if (seed % 2 === 0) corruptOne(rng, ops);
      const history = toHistory(ops);
      // Event order is what the checker sees; the brute force must use the same real time.
      const indexed = ops.map((op, process) => {
        const invoke = history.find((event) =>
          event.process === process && event.type === "invoke");
        const completion = history.find((event) => event.process === process &&
          event.type !== "invoke");
        return { ...op, callTime: invoke!.index, completeTime: completion?.index ?? null };
      });
      const expected = bruteForceLinearizable(indexed);
      const verdict = checkLinearizability(history).linearizable;
      expect(verdict, `seed=${seed} ${JSON.stringify(history)}`).to.equal(expected);
      counts[expected ? "linearizable" : "not"]++;
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(counts.linearizable).to.be.above(150);
    expect(counts.not).to.be.above(100);
  });
});

describe("verify: stock bounds", () => {
  it("never rule out an operation a correct store answered", () => {
    let checked = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const operations = partitionBySku(pairOperations(toHistory(
        correctRun(new SeededRng(seed), 7)))).get("a") ?? [];
      const definite = operations.map(definiteStepOf);
      const kinds: InfoKind[] = [];
      const infoByKind: number[][] = [];
      operations.forEach((operation, position) => {
        const kind = infoKindOf(operation);
        if (kind === null) return;
        kinds.push(kind); // one kind per write: the index does not need them merged
        infoByKind.push([position]);
      });
      const index = new StockBoundsIndex(operations, definite, kinds, infoByKind, null);
      definite.forEach((step, position) => {
        if (step === null) return;
        expect(outOfBounds(step.requirement, index.at(position)), `seed=${seed}`).to.equal(false);
        checked++;
      });
    }
    expect(checked).to.be.above(1000);
  });
});
