/**
 * `npm run verify -- FILE`: checks any history in the format of DESIGN.md §4 (history.jsonl
 * from a chaos run, the simulator, or another tool) and prints each item's verdict. Bad input
 * is one line on stderr and exit status 2, never a stack trace: the user of this tool may be
 * checking a file some other program wrote.
 *
 * The whole command is runVerifyCli, with its output streams passed in, so that tests run it
 * in-process; main.ts only wires it to the process.
 */
import { parseArgs } from "node:util";
import { pairOperations, readHistory, HistoryError } from "./history.js";
import { partitionBySku } from "./item-ops.js";
import {
  checkItem, configurationsMaxPerItemDefault, stepsMaxPerItemDefault, type ItemVerdict,
} from "./linearizability.js";
import { formatItemVerdict } from "./report.js";

export const verifyUsage = `Usage: npm run verify -- [options] FILE

Checks that a history is linearizable, item by item. FILE holds one JSON object per line,
Jepsen style (DESIGN.md §4): {"index","process","type":"invoke"|"ok"|"fail"|"info",
"f":"create"|"add"|"buy"|"cancel"|"read","value":{...},"time"}. ok happened, fail did not (a
buy refused with insufficient_stock, an add or buy refused with not_found and a create refused
with conflict are checked as observations of the stock), info may or may not have happened.

For each item it prints the verdict; for an item that is not linearizable, the first operation
that could not be placed, the states the item could be in just before, and the end of the
longest linearization found.

Options:
  --initial SKU=STOCK        the item exists with STOCK before the history starts (repeatable;
                             other items start absent)
  --steps-max N              search steps per item before giving up
                             (default ${stepsMaxPerItemDefault})
  --configurations-max N     configurations kept per item after each return
                             (default ${configurationsMaxPerItemDefault})
  --json                     print the verdicts as JSON
  -h, --help                 print this text

Exit status: 0 linearizable, 1 not linearizable, 2 unknown (a search gave up: the reason is
printed) or bad input (an unreadable file, a malformed line, an operation the checker does not
model, a bad option).
`;

export interface CliOutput {
  readonly out: (text: string) => void;
  readonly error: (text: string) => void;
}

/** Bad input: printed as one line, exit status 2. */
class UsageError extends Error {}

interface VerifyArguments {
  readonly file: string;
  readonly initialStocks: Record<string, number>;
  readonly stepsMax: number;
  readonly configurationsMax: number;
  readonly json: boolean;
}

/** Runs the command; returns the exit status. */
export function runVerifyCli(argv: readonly string[], output: CliOutput): 0 | 1 | 2 {
  try {
    if (argv.includes("--help") || argv.includes("-h")) {
      output.out(verifyUsage);
      return 0;
    }
    return verify(parseVerifyArguments(argv), output);
  } catch (error) {
    const message = error instanceof UsageError || error instanceof HistoryError
      ? error.message : describeUnexpected(error);
    output.error(`verify: ${message}\n`);
    return 2;
  }
}

function parseVerifyArguments(argv: readonly string[]): VerifyArguments {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {
      "initial": { type: "string", multiple: true },
      "steps-max": { type: "string" },
      "configurations-max": { type: "string" },
      "json": { type: "boolean" },
    } });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(`expected one history file, got ${positionals.length} (see --help)`);
  }
  const initialStocks: Record<string, number> = {};
  for (const entry of values.initial ?? []) {
    const match = /^(.+)=(\d+)$/.exec(entry);
    if (match === null) throw new UsageError(`--initial ${entry}: expected SKU=STOCK`);
    initialStocks[match[1]!] = positiveInteger(`--initial ${match[1]}`, match[2]!, 0);
  }
  return {
    file: positionals[0]!,
    initialStocks,
    stepsMax: values["steps-max"] === undefined ? stepsMaxPerItemDefault
      : positiveInteger("--steps-max", values["steps-max"], 1),
    configurationsMax: values["configurations-max"] === undefined
      ? configurationsMaxPerItemDefault
      : positiveInteger("--configurations-max", values["configurations-max"], 1),
    json: values.json ?? false,
  };
}

function positiveInteger(name: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`${name}: expected an integer >= ${minimum}, got ${text}`);
  }
  return value;
}

function verify(args: VerifyArguments, output: CliOutput): 0 | 1 | 2 {
  const history = readHistoryOrExplain(args.file);
  const bySku = partitionBySku(pairOperations(history));
  const verdicts: { verdict: ItemVerdict; elapsedMs: number }[] = [];
  for (const sku of [...bySku.keys()].sort()) {
    const startMs = performance.now();
    const verdict = checkItem(sku, bySku.get(sku) ?? [], args.initialStocks[sku] ?? null,
      args.stepsMax, args.configurationsMax);
    verdicts.push({ verdict, elapsedMs: performance.now() - startMs });
  }
  const all = verdicts.map(({ verdict }) => verdict.linearizable);
  const overall = all.includes(false) ? false : all.includes("unknown") ? "unknown" : true;
  const totalMs = verdicts.reduce((sum, { elapsedMs }) => sum + elapsedMs, 0);
  if (args.json) {
    output.out(JSON.stringify({ file: args.file, linearizable: overall, events: history.length,
      elapsedMs: Math.round(totalMs), items: verdicts.map(({ verdict, elapsedMs }) =>
        ({ ...verdict, elapsedMs: Math.round(elapsedMs) })) }, null, 2) + "\n");
  } else {
    const lines = [`${args.file}: ${history.length} events, ${verdicts.length} item(s), ` +
      `checked in ${seconds(totalMs)}`];
    for (const { verdict, elapsedMs } of verdicts) {
      const [head, ...rest] = formatItemVerdict(verdict);
      lines.push(`${head} (${seconds(elapsedMs)})`, ...rest);
    }
    lines.push(`verdict: ${overall === true ? "linearizable"
      : overall === false ? "NOT LINEARIZABLE" : "UNKNOWN (see the reasons above)"}`);
    output.out(lines.join("\n") + "\n");
  }
  return overall === true ? 0 : overall === false ? 1 : 2;
}

function readHistoryOrExplain(file: string): ReturnType<typeof readHistory> {
  try {
    return readHistory(file);
  } catch (error) {
    if (error instanceof HistoryError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory"
      : code === "EACCES" ? "permission denied" : (error as Error).message;
    throw new UsageError(`cannot read ${file}: ${why}`);
  }
}

function describeUnexpected(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `unexpected error (a bug in the checker; please report it with the file): ${message}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
