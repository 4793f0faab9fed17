/**
 * `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--ticks T] [--snapshots-on-demand]`:
 * runs N seeded simulations starting at seed S, prints seeds per second, and on a violation
 * prints the seed, the command that reproduces it and the trace, then exits 1.
 */
import { Command, InvalidArgumentError } from "commander";
import type { SimPlant } from "./cluster.js";
import { defaultSimTicks, runSimulation, type SimResult } from "./simulator.js";
import { defaultServerSimFaultMs, runServerSimulation } from "./server-simulator.js";

function positiveInteger(name: string, min = 1) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${value}"`);
    }
    return parsed;
  };
}

function plantName(value: string): SimPlant {
  if (value !== "rejoinWithoutCheck" && value !== "repairWithoutFence") {
    throw new InvalidArgumentError("--plant must be rejoinWithoutCheck or repairWithoutFence");
  }
  return value;
}

function nodeCount(value: string): number {
  if (value !== "3" && value !== "5") throw new InvalidArgumentError("--nodes must be 3 or 5");
  return Number(value);
}

const program = new Command()
  .name("sim")
  .description("Deterministic Raft simulator: seeded fault schedules checked for safety and " +
    "liveness.")
  .option("--seeds <count>", "how many seeds to run", positiveInteger("--seeds"), 100)
  .option("--seed <seed>", "the first seed (a failing seed reruns alone with --seeds 1)",
    positiveInteger("--seed", 0), 1)
  .option("--nodes <count>", "cluster size, 3 or 5 (default: chosen by each seed)", nodeCount)
  .option("--ticks <ticks>", "ticks of faults per seed before healing",
    positiveInteger("--ticks"), defaultSimTicks)
  .option("--snapshots-on-demand", "nodes compact with the snapshot's meta only and build " +
    "the data when their leader asks (Ready.snapshotWanted)", false)
  .option("--trace", "print the trace of every seed, not only of failures", false)
  .option("--server", "run production RaftServers (src/node/) with the market, under virtual " +
    "time, a simulated network and simulated disks, with clients through NodeService, and " +
    "check the client history (linearizability, acknowledged orders, exactly-once)", false)
  .option("--fault-ms <ms>", "with --server: virtual milliseconds of faults per seed",
    positiveInteger("--fault-ms"), defaultServerSimFaultMs)
  .option("--plant <bug>", "plant a known bug to see the checker catch it: rejoinWithoutCheck " +
    "(a node with a lost disk rejoins without asking its peers) or repairWithoutFence (a node " +
    "whose log lost synced entries takes part again)", plantName)
  .showHelpAfterError()
  .parse();

const options = program.opts<{ seeds: number; seed: number; nodes?: number; ticks: number;
  trace: boolean; plant?: SimPlant; snapshotsOnDemand: boolean; server: boolean;
  faultMs: number }>();

if (options.server) {
  await runServerSeeds();
  process.exit(0);
}

/** `--server`: seeds of production RaftServers (server-simulator.ts). */
async function runServerSeeds(): Promise<void> {
  const startedMs = performance.now();
  let lastProgressMs = startedMs;
  const totals = { ok: 0, fail: 0, info: 0, events: 0, crashes: 0, fsyncFailures: 0 };
  for (let k = 0; k < options.seeds; k++) {
    const seed = options.seed + k;
    const result = await runServerSimulation({ seed, nodeCount: options.nodes,
      faultMs: options.faultMs });
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += result.stats[key];
    if (options.trace) console.log(result.trace.join("\n"));
    if (!result.ok) {
      const nodes = options.nodes === undefined ? "" : ` --nodes ${options.nodes}`;
      console.error(`\nFAIL seed=${seed}: ${result.violation}`);
      console.error(`reproduce with: npm run sim -- --server --seed ${seed} --seeds 1 ` +
        `--fault-ms ${options.faultMs}${nodes} --trace`);
      console.error("trace (last events):");
      console.error(result.trace.map((line) => `  ${line}`).join("\n"));
      process.exit(1);
    }
    const nowMs = performance.now();
    if (nowMs - lastProgressMs > 5000) {
      lastProgressMs = nowMs;
      console.error(`  ... ${k + 1}/${options.seeds} seeds, ` +
        `${((k + 1) / ((nowMs - startedMs) / 1000)).toFixed(1)} seeds/s`);
    }
  }
  const seconds = (performance.now() - startedMs) / 1000;
  console.log(`${options.seeds} server seeds passed (seeds ${options.seed}..` +
    `${options.seed + options.seeds - 1}, ${options.faultMs} ms of faults each) in ` +
    `${seconds.toFixed(1)} s: ${(options.seeds / seconds).toFixed(1)} seeds/s; client ` +
    `operations ok ${totals.ok}, fail ${totals.fail}, info ${totals.info}; ${totals.crashes} ` +
    `crashes, ${totals.fsyncFailures} failed fsyncs, ${totals.events} events`);
}

function reproduceCommand(result: SimResult): string {
  const nodes = options.nodes === undefined ? "" : ` --nodes ${options.nodes}`;
  const plant = options.plant === undefined ? "" : ` --plant ${options.plant}`;
  const onDemand = options.snapshotsOnDemand ? " --snapshots-on-demand" : "";
  return `npm run sim -- --seed ${result.seed} --seeds 1 --ticks ${options.ticks}${nodes}` +
    `${plant}${onDemand} --trace`;
}

const startedMs = performance.now();
let lastProgressMs = startedMs;
let committedTotal = 0;
let snapshotChunksTotal = 0;
const offersTotal = new Map<string, number>();
for (let k = 0; k < options.seeds; k++) {
  const seed = options.seed + k;
  const result = runSimulation({ seed, nodeCount: options.nodes, ticks: options.ticks,
    plant: options.plant, snapshotsOnDemand: options.snapshotsOnDemand });
  committedTotal += result.stats.committed;
  snapshotChunksTotal += result.stats.snapshotChunks;
  for (const [kind, count] of Object.entries(result.stats.snapshotOffers)) {
    offersTotal.set(kind, (offersTotal.get(kind) ?? 0) + count);
  }
  if (options.trace) console.log(result.trace.join("\n"));
  if (!result.ok) {
    console.error(`\nFAIL seed=${seed}: ${result.violation}`);
    console.error(`reproduce with: ${reproduceCommand(result)}`);
    console.error("trace (last events):");
    console.error(result.trace.map((line) => `  ${line}`).join("\n"));
    process.exit(1);
  }
  const nowMs = performance.now();
  if (nowMs - lastProgressMs > 5000) {
    lastProgressMs = nowMs;
    console.error(`  ... ${k + 1}/${options.seeds} seeds`);
  }
}
const seconds = (performance.now() - startedMs) / 1000;
console.log(`${options.seeds} seeds passed (seeds ${options.seed}..${options.seed + options.seeds - 1}` +
  `, ${options.ticks} ticks each) in ${seconds.toFixed(1)} s: ` +
  `${(options.seeds / seconds).toFixed(1)} seeds/s, ${committedTotal} entries committed, ` +
  `${snapshotChunksTotal} snapshot chunks sent`);
if (options.snapshotsOnDemand) {
  console.log(`snapshots offered on demand: ${[...offersTotal].map(([kind, count]) =>
    `${count} ${kind}`).join(", ")}`);
}
