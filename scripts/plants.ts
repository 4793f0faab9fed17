/**
 * `npm run plants [-- NAME...] [--seeds N]`: plants each known bug in the production code, one
 * at a time, runs the server simulator (`npm run sim -- --seeds N`) against it, and reverts it,
 * then prints which seed caught each. Issue 11 asks that every one of these be caught within
 * 2,000 seeds; a plant the simulator does not catch makes the run exit 1.
 *
 * A plant is a few exact text edits. Each must find its text exactly once, or the plant has
 * rotted (the code moved): it is refused with the file and the text, exit 2. The edits are
 * reverted by the reverse replacement, never by git, so uncommitted work elsewhere is safe; a
 * marker file names the plant in place, so that a run killed half-way is noticed by the next
 * one (`npm run plants -- --revert NAME` takes it out).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { plants, type Edit, type Plant } from "./plant-list.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const markerFile = path.join(root, ".plant-in-place");

class RottenPlant extends Error {}

function replaceOnce(edit: Edit, from: string, to: string, plant: string): void {
  const file = path.join(root, edit.file);
  const text = readFileSync(file, "utf8");
  const count = text.split(from).length - 1;
  if (count !== 1) {
    throw new RottenPlant(`plant ${plant}: ${edit.file} holds the text to replace ${count} ` +
      `times, not once (the code moved; update scripts/plants.ts):\n${from}`);
  }
  writeFileSync(file, text.replace(from, () => to));
}

function apply(plant: Plant): void {
  writeFileSync(markerFile, `${plant.name}\n`);
  const done: Edit[] = [];
  try {
    for (const edit of plant.edits) {
      replaceOnce(edit, edit.from, edit.to, plant.name);
      done.push(edit);
    }
  } catch (error) {
    for (const edit of done.reverse()) replaceOnce(edit, edit.to, edit.from, plant.name);
    rmSync(markerFile, { force: true });
    throw error;
  }
}

function revert(plant: Plant): void {
  for (const edit of [...plant.edits].reverse()) replaceOnce(edit, edit.to, edit.from, plant.name);
  rmSync(markerFile, { force: true });
}

interface SimOutcome {
  readonly caughtSeed: number | null;
  readonly violation: string | null;
  /** Set when the simulator neither passed nor reported a seed: it could not run. */
  readonly crash: string | null;
}

/** Runs the simulator on the planted code; the first failing seed it reports, if any. */
function runSim(seeds: number, onProgress: (line: string) => void): Promise<SimOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv,
      path.join(root, "src/sim/main.ts"), "--seeds", String(seeds)],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      output += text;
      for (const line of text.split("\n")) if (line.startsWith("  ...")) onProgress(line.trim());
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (code) => {
      const failed = /^FAIL seed=(\d+): (.*)$/m.exec(output);
      const passed = code === 0 && /^\d+ server seeds passed/m.test(output);
      resolve({ caughtSeed: failed === null ? null : Number(failed[1]),
        violation: failed?.[2] ?? null,
        crash: failed !== null || passed ? null : output.trim().split("\n").slice(-15)
          .map((line) => line.length > 300 ? `${line.slice(0, 300)}...` : line).join("\n") });
    });
  });
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`must be an integer >= 1, got "${value}"`);
  }
  return parsed;
}

const program = new Command()
  .name("plants")
  .description("Plant each known bug in turn, run the server simulator against it, revert it, " +
    "and report the seed that caught it. Exit 0: all caught; 1: one was not; 2: a plant no " +
    "longer applies, or one is still in place from a run that was killed.")
  .argument("[names...]", `plants to run (default: all): ${plants.map((p) => p.name).join(", ")}`)
  .option("--seeds <count>", "seeds to run against each plant", positiveInteger, 2000)
  .option("--list", "list the plants and exit")
  .option("--revert <name>", "take out a plant left in place by a killed run, and exit")
  .showHelpAfterError()
  .parse();

const options = program.opts<{ seeds: number; list?: boolean; revert?: string }>();
const byName = new Map(plants.map((plant) => [plant.name, plant]));

if (options.list === true) {
  for (const plant of plants) console.log(`${plant.name.padEnd(24)} ${plant.bug}`);
  process.exit(0);
}
if (options.revert !== undefined) {
  const plant = byName.get(options.revert);
  if (plant === undefined) {
    console.error(`error: no plant named ${options.revert}; see --list`);
    process.exit(128);
  }
  try {
    revert(plant);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(2);
  }
  console.log(`reverted ${plant.name}`);
  process.exit(0);
}
if (existsSync(markerFile)) {
  const left = readFileSync(markerFile, "utf8").trim();
  console.error(`error: plant ${left} is still in place from an earlier run that was stopped; ` +
    `take it out first: npm run plants -- --revert ${left}`);
  process.exit(2);
}
const unknown = program.args.filter((name) => !byName.has(name));
if (unknown.length > 0) program.error(`no plant named ${unknown.join(", ")}; see --list`);
const chosen = program.args.length === 0 ? plants : program.args.map((name) => byName.get(name)!);

let current: Plant | null = null;
const revertCurrent = (): void => {
  if (current !== null) revert(current);
  current = null;
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    revertCurrent();
    process.exit(130);
  });
}

const rows: string[] = [];
let missed = 0;
for (const plant of chosen) {
  console.log(`planting ${plant.name}: ${plant.bug}`);
  try {
    apply(plant);
  } catch (error) {
    if (!(error instanceof RottenPlant)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(2);
  }
  current = plant;
  const startedMs = performance.now();
  let outcome: SimOutcome;
  try {
    outcome = await runSim(options.seeds, (line) => console.log(`  ${line}`));
  } finally {
    revertCurrent();
  }
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
  if (outcome.crash !== null) {
    console.error(`error: with ${plant.name} in place the simulator did not run:\n${outcome.crash}`);
    process.exit(2);
  }
  if (outcome.caughtSeed === null) {
    missed++;
    rows.push(`${plant.name.padEnd(24)} NOT CAUGHT in ${options.seeds} seeds (${seconds} s)`);
  } else {
    rows.push(`${plant.name.padEnd(24)} caught by seed ${outcome.caughtSeed} (${seconds} s): ` +
      `${outcome.violation!.slice(0, 140)}`);
  }
  console.log(`  ${rows[rows.length - 1]}`);
}
console.log(`\n${rows.join("\n")}`);
process.exit(missed === 0 ? 0 : 1);
