/**
 * `npx tsx scripts/bench-verify.ts [--ops 50000] [--items 3] [--info 0.05] [--processes 10]
 *   [--seed 1] [--corrupt 0.9]`
 * How long the linearizability checker takes on a large generated history (linearizable by
 * construction, src/verify/history-generator.ts) and on its corrupted variant (one ok read at
 * the --corrupt fraction reports an impossible stock), with each item's verdict and steps.
 * Exits 1 if a verdict is not the expected one (true for the history, false for the variant on
 * the corrupted item): a wrong or undecided verdict is a failure of the checker, not a figure.
 */
import { Command, InvalidArgumentError } from "commander";
import { corruptRead, generateHistory } from "../src/verify/history-generator.js";
import type { HistoryOp } from "../src/verify/history.js";
import { checkLinearizability, type ItemVerdict } from "../src/verify/linearizability.js";

function number(name: string, min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}]`);
    }
    return value;
  };
}

const options = new Command("bench-verify")
  .option("--ops <n>", "operations", number("ops", 1, 10_000_000), 50_000)
  .option("--items <n>", "items", number("items", 1, 10_000), 3)
  .option("--info <rate>", "fraction unanswered", number("info", 0, 1), 0.05)
  .option("--processes <n>", "concurrent clients", number("processes", 1, 1000), 10)
  .option("--seed <n>", "PRNG seed", number("seed", 0, 2 ** 32 - 1), 1)
  .option("--corrupt <fraction>", "where to corrupt a read", number("corrupt", 0, 1), 0.9)
  .parse()
  .opts<{ ops: number; items: number; info: number; processes: number; seed: number;
    corrupt: number }>();

function timed(label: string, ops: readonly HistoryOp[]): readonly ItemVerdict[] {
  const startMs = performance.now();
  const result = checkLinearizability(ops);
  const elapsedMs = performance.now() - startMs;
  console.log(`${label}: ${result.linearizable} in ${(elapsedMs / 1000).toFixed(2)} s`);
  for (const item of result.items) {
    const detail = item.linearizable === "unknown" ? ` (${item.reason})`
      : item.linearizable === false ? ` (blocked: index ${item.explanation.blockedOperation.index})`
        : "";
    console.log(`  ${item.sku}: ${item.linearizable}, ${item.operationCount} ops, ` +
      `${item.steps} steps${detail}`);
  }
  return result.items;
}

const generateStartMs = performance.now();
const { ops } = generateHistory({ operationCount: options.ops, itemCount: options.items,
  unansweredRate: options.info, processCount: options.processes, seed: options.seed });
console.log(`generated ${options.ops} operations (${ops.length} events) on ${options.items} ` +
  `item(s), ${options.info * 100}% unanswered, ${options.processes} clients, seed ` +
  `${options.seed}, in ${((performance.now() - generateStartMs) / 1000).toFixed(2)} s`);
const items = timed("linearizable history", ops);
const { ops: corruptedOps, corrupted } = corruptRead(ops, options.corrupt);
console.log(`corrupted: the ok read completing at index ${corrupted.index} ` +
  `(${corrupted.value.sku}) now reports stock 1000000`);
const corruptedItems = timed("corrupted history", corruptedOps);
const expected = items.every((item) => item.linearizable === true) &&
  corruptedItems.find((item) => item.sku === corrupted.value.sku)?.linearizable === false;
if (!expected) console.log("UNEXPECTED VERDICT");
process.exitCode = expected ? 0 : 1;
