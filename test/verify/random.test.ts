/**
 * Randomized check of the checkers. Goal: every history that a correct store could produce is
 * accepted, and one corrupted read is caught. Method: from a seeded SeededRng, run a random
 * sequential workload (creates, adds, buys, cancels of acknowledged buys invoked after those
 * completed, reads on two skus, some operations ending in info
 * whether or not they took effect) against the per-item model, giving operation i the
 * linearization point 100 * i. Each operation's interval is then widened around its point by
 * random amounts on both sides, so that neighbours overlap but every interval still contains
 * its point; the events sorted by time form a concurrent history that is linearizable by
 * construction. The checker must accept it, and the invariants must hold against the true
 * final stocks. Then one ok read is corrupted to an impossible stock and the checker must
 * reject that read's sku.
 */
import { expect } from "chai";
import { SeededRng } from "../../src/raft/rng.js";
import type {
  CompletionType, HistoryOp, OpFunction, OpValue,
} from "../../src/verify/history.js";
import { checkInvariants } from "../../src/verify/invariants.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";

interface PlannedOp {
  readonly f: OpFunction;
  readonly invokeValue: OpValue;
  readonly completion: { type: CompletionType; value: OpValue } | null;
  readonly invokeTime: number;
  readonly completeTime: number;
}

const skus = ["a", "b"];

/** An ok buy that may be cancelled, and the position of its linearization point. */
interface CancellableBuy {
  readonly sku: string;
  readonly qty: number;
  readonly orderId: string;
  readonly position: number;
}

/**
 * Operations at least this many positions apart never overlap (intervals are at most 402 wide,
 * points 100 apart): a cancel this far after its buy is invoked after the buy completed.
 */
const cancelDistance = 5;

/** One random operation applied to `stocks`, the sequential model, at `position`. */
function randomOperation(rng: SeededRng, stocks: Map<string, number>,
  buys: CancellableBuy[], position: number): Omit<PlannedOp, "invokeTime" | "completeTime"> {
  const sku = skus[rng.nextInt(skus.length)] ?? "a";
  const stock = stocks.get(sku) ?? 0;
  const qty = 1 + rng.nextInt(3);
  const unknown = rng.nextInt(10) === 0;
  const kind = rng.nextInt(4);
  const ready = buys.findIndex((buy) => buy.position <= position - cancelDistance);
  if (kind === 3 && ready >= 0) {
    const [buy] = buys.splice(ready, 1) as [CancellableBuy];
    const effect = !unknown || rng.nextInt(2) === 0;
    if (effect) stocks.set(buy.sku, (stocks.get(buy.sku) ?? 0) + buy.qty);
    return { f: "cancel", invokeValue: { sku: buy.sku, qty: buy.qty, orderId: buy.orderId },
      completion: unknown ? unknownCompletion(rng) : { type: "ok", value: {} } };
  }
  if (kind === 0) {
    const effect = !unknown || rng.nextInt(2) === 0;
    if (effect) stocks.set(sku, stock + qty);
    return { f: "add", invokeValue: { sku, qty }, completion: unknown
      ? unknownCompletion(rng) : { type: "ok", value: { stock: stock + qty } } };
  }
  if (kind === 1) {
    const possible = stock >= qty;
    const effect = possible && (!unknown || rng.nextInt(2) === 0);
    if (effect) stocks.set(sku, stock - qty);
    const orderId = `o-${position}`;
    if (effect && !unknown) buys.push({ sku, qty, orderId, position });
    const completion = unknown ? unknownCompletion(rng) : possible
      ? { type: "ok" as const, value: { orderId } }
      : { type: "fail" as const, value: { error: "insufficient_stock" } };
    return { f: "buy", invokeValue: { sku, qty }, completion };
  }
  return { f: "read", invokeValue: { sku }, completion: unknown
    ? unknownCompletion(rng) : { type: "ok", value: { stock } } };
}

function unknownCompletion(rng: SeededRng): PlannedOp["completion"] {
  return rng.nextInt(2) === 0 ? null : { type: "info", value: { error: "timeout" } };
}

/** A concurrent history linearizable by construction, and the true final stocks. */
function generate(seed: number, operationCount: number):
  { ops: HistoryOp[]; finals: Map<string, number> } {
  const rng = new SeededRng(seed);
  const stocks = new Map<string, number>();
  const planned: PlannedOp[] = [];
  const widen = (point: number): { invokeTime: number; completeTime: number } => ({
    invokeTime: point - 1 - rng.nextInt(200), completeTime: point + 1 + rng.nextInt(200),
  });
  for (const sku of skus) {
    const stock = rng.nextInt(4);
    stocks.set(sku, stock);
    planned.push({ f: "create", invokeValue: { sku, stock },
      completion: { type: "ok", value: {} }, ...widen(100 * planned.length) });
  }
  const buys: CancellableBuy[] = [];
  while (planned.length < operationCount) {
    const operation = randomOperation(rng, stocks, buys, planned.length);
    planned.push({ ...operation, ...widen(100 * planned.length) });
  }
  return { ops: toEvents(planned), finals: stocks };
}

/** One process per operation; events sorted by time, indexed in that order. */
function toEvents(planned: readonly PlannedOp[]): HistoryOp[] {
  const events: Omit<HistoryOp, "index">[] = [];
  planned.forEach((operation, process) => {
    events.push({ process, type: "invoke", f: operation.f, value: operation.invokeValue,
      time: operation.invokeTime });
    if (operation.completion === null) return;
    events.push({ process, type: operation.completion.type, f: operation.f,
      value: { ...operation.invokeValue, ...operation.completion.value },
      time: operation.completeTime });
  });
  events.sort((a, b) => a.time - b.time || (a.type === "invoke" ? 1 : -1));
  const start = events[0]?.time ?? 0;
  return events.map((event, index) => ({ ...event, index, time: event.time - start }));
}

describe("verify: randomized histories", () => {
  const seeds = Array.from({ length: 40 }, (_, seed) => seed + 1);

  it("accepts concurrent histories built from sequential runs, and their invariants hold", () => {
    for (const seed of seeds) {
      const { ops, finals } = generate(seed, 80);
      const result = checkLinearizability(ops);
      expect(result.linearizable, `seed=${seed}`).to.equal(true);
      const finalReads = [...finals].map(([sku, stock]) => ({ node: "n1", sku, stock }));
      const invariants = checkInvariants({ history: ops, finalReads, replicas: [] });
      expect(invariants.violations, `seed=${seed}`).to.deep.equal([]);
    }
  });

  it("rejects the same histories with one read corrupted", () => {
    for (const seed of seeds) {
      const { ops } = generate(seed, 80);
      const rng = new SeededRng(seed * 7919);
      const reads = ops.filter((op) => op.f === "read" && op.type === "ok");
      const target = reads[rng.nextInt(reads.length)];
      if (target === undefined) throw new Error(`seed=${seed}: no ok read`);
      const corrupted = ops.map((op) => op !== target ? op
        : { ...op, value: { ...op.value, stock: 1000 + rng.nextInt(5) } });
      const result = checkLinearizability(corrupted);
      const verdict = result.items.find((item) => item.sku === target.value.sku);
      expect(verdict?.linearizable, `seed=${seed}`).to.equal(false);
      if (verdict?.linearizable !== false) continue;
      expect(verdict.explanation.blockedOperation.completeIndex, `seed=${seed}`)
        .to.equal(target.index);
    }
  });
});
