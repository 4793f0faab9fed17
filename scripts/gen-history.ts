/**
 * `npx tsx scripts/gen-history.ts --ops 50000 --items 3 --info 0.05 [--seed S]
 *   [--processes P] [--corrupt FRACTION] > history.jsonl`
 * Writes a large history in the format of DESIGN.md §4, linearizable by construction (a
 * simulated concurrent execution against a correct store: src/verify/history-generator.ts),
 * for measuring the checker: `npm run verify -- history.jsonl`. With --corrupt, one ok read at
 * that fraction of the history reports an impossible stock, so the history is not
 * linearizable and the checker must say so and name that read.
 */
import { Command, InvalidArgumentError } from "commander";
import { formatHistory } from "../src/verify/history.js";
import { corruptRead, generateHistory } from "../src/verify/history-generator.js";

function number(name: string, min: number, max: number, integer: boolean) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max ||
      (integer && !Number.isSafeInteger(value))) {
      throw new InvalidArgumentError(`${name} must be ${integer ? "an integer" : "a number"} ` +
        `in [${min}, ${max}]`);
    }
    return value;
  };
}

const program = new Command("gen-history")
  .description("Generate a linearizable (or, with --corrupt, a non-linearizable) history")
  .option("--ops <n>", "operations to invoke", number("ops", 1, 10_000_000, true), 50_000)
  .option("--items <n>", "items (skus)", number("items", 1, 10_000, true), 3)
  .option("--info <rate>", "fraction of operations left unanswered", number("info", 0, 1, false),
    0.05)
  .option("--processes <n>", "concurrent clients", number("processes", 1, 1000, true), 10)
  .option("--seed <n>", "PRNG seed", number("seed", 0, 2 ** 32 - 1, true), 1)
  .option("--corrupt <fraction>", "corrupt the ok read at this fraction of the ok reads",
    number("corrupt", 0, 1, false))
  .parse();

const options = program.opts<{ ops: number; items: number; info: number; processes: number;
  seed: number; corrupt?: number }>();
const generated = generateHistory({ operationCount: options.ops, itemCount: options.items,
  unansweredRate: options.info, processCount: options.processes, seed: options.seed });
let ops = generated.ops;
if (options.corrupt !== undefined) {
  const corruption = corruptRead(ops, options.corrupt);
  ops = corruption.ops;
  process.stderr.write(`corrupted: the ok read completing at index ${corruption.corrupted.index} ` +
    `(sku ${corruption.corrupted.value.sku}) now reports stock 1000000\n`);
}
process.stdout.write(formatHistory(ops));
process.stderr.write(`${ops.length} events, ${options.ops} operations on ${options.items} ` +
  `item(s), ${Math.round(options.info * 100)}% unanswered, seed ${options.seed}\n`);
