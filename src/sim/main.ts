/**
 * `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--fault-ms MS] [--jobs J]`: runs N seeded
 * simulations of production RaftServers (server-simulator.ts) starting at seed S, on J worker
 * processes (default one per core), prints seeds
 * per second, and on a violation prints the seed, the command that reproduces it and the
 * trace, then exits 1. `--core [--ticks T] [--snapshots-on-demand] [--plant BUG]` runs the
 * model simulator of the core (simulator.ts) instead. `--minutes M` runs fresh seeds until M
 * minutes have passed. `--membership` adds configuration changes (servers: an operator's,
 * server-membership.ts; `--refuse-unknown-peers` models HttpTransport's rule for senders it has
 * no address for).
 */
import { Command, InvalidArgumentError } from "commander";
import type { SimPlant } from "./cluster.js";
import { defaultSimTicks, runSimulation, type SimResult } from "./simulator.js";
import { defaultServerSimFaultMs } from "./server-simulator.js";
import { defaultJobs, defaultMembershipEvery, runSeedPool, type SeedSummary } from "./seed-pool.js";

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
  .description("Deterministic simulator: seeded fault schedules checked for safety and " +
    "liveness. By default it runs production RaftServers (src/node/) with the market, under " +
    "virtual time, a simulated network and simulated disks, clients calling them as the HTTP " +
    "API does, and checks the client history; --core runs the model of the driver around the " +
    "Raft core instead (faster; it also loses and repairs disks).")
  .option("--seeds <count>", "how many seeds to run", positiveInteger("--seeds"), 100)
  .option("--seed <seed>", "the first seed (a failing seed reruns alone with --seeds 1)",
    positiveInteger("--seed", 0), 1)
  .option("--nodes <count>", "cluster size, 3 or 5 (default: chosen by each seed)", nodeCount)
  .option("--minutes <minutes>", "run fresh seeds from --seed until this many minutes have " +
    "passed (instead of --seeds)", positiveInteger("--minutes"))
  .option("--jobs <count>", "worker processes running seeds side by side (servers; default: " +
    "one per core)", positiveInteger("--jobs"), defaultJobs())
  .option("--trace", "print the trace of every seed, not only of failures", false)
  .option("--fault-ms <ms>", "virtual milliseconds of faults per seed (servers)",
    positiveInteger("--fault-ms"), defaultServerSimFaultMs)
  .option("--core", "run the model simulator of the core instead of production servers", false)
  .option("--ticks <ticks>", "with --core: ticks of faults per seed before healing",
    positiveInteger("--ticks"), defaultSimTicks)
  .option("--snapshots-on-demand", "with --core: nodes compact with the snapshot's meta only " +
    "and build the data when their leader asks (Ready.snapshotWanted)", false)
  .option("--membership", "configuration changes among the faults: servers: learners added " +
    "(new ids joining with empty disks) and promoted, followers and leaders removed, voters " +
    "replaced, disks lost and their nodes replaced; with --core: 5 nodes, 3 voting at first, " +
    "learners added and promoted, members removed, voters replaced", false)
  .option("--membership-every <n>", "servers: without --membership, every seed divisible by n " +
    "runs with configuration changes too, so that a plain run covers them (0: none)",
    positiveInteger("--membership-every", 0), defaultMembershipEvery)
  .option("--refuse-unknown-peers", "servers with --membership: a node refuses messages from a " +
    "member it has no address for, as HttpTransport does today, instead of learning the sender " +
    "as etcd's transport does (a node that fell behind while members were added then never " +
    "catches up)", false)
  .option("--plant <bug>", "with --core: plant a known bug to see the checker catch it: " +
    "rejoinWithoutCheck (a node with a lost disk rejoins without asking its peers) or " +
    "repairWithoutFence (a node whose log lost synced entries takes part again)", plantName)
  .showHelpAfterError()
  .parse();

const options = program.opts<{ seeds: number; seed: number; nodes?: number; ticks: number;
  trace: boolean; plant?: SimPlant; snapshotsOnDemand: boolean; core: boolean;
  faultMs: number; minutes?: number; jobs: number; membership: boolean;
  membershipEvery: number; refuseUnknownPeers: boolean }>();

const coreOnly = ["ticks", "snapshotsOnDemand", "plant"] as const;
if (options.core && program.getOptionValueSource("membershipEvery") === "cli") {
  program.error("--membership-every applies to the server simulator, not to --core");
}
const misplaced = coreOnly.filter((name) => program.getOptionValueSource(name) === "cli");
if (!options.core && misplaced.length > 0) {
  program.error(`--${misplaced[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to ` +
    "the model simulator only: add --core");
}
if (options.core && program.getOptionValueSource("faultMs") === "cli") {
  program.error("--fault-ms applies to the server simulator, not to --core (use --ticks)");
}
if (options.refuseUnknownPeers && (options.core || !options.membership)) {
  program.error("--refuse-unknown-peers applies to the server simulator with --membership");
}
if (options.core && program.getOptionValueSource("jobs") === "cli") {
  program.error("--jobs applies to the server simulator, not to --core");
}

if (!options.core) {
  await runServerSeeds();
  process.exit(0);
}

/**
 * Seeds of production RaftServers (server-simulator.ts) on --jobs worker processes
 * (seed-pool.ts). (Runs interleaved in one thread were measured slower, 3.5 against 7.5 seeds/s:
 * a simulated event costs its work, not a wait.)
 */
async function runServerSeeds(): Promise<void> {
  const startedMs = performance.now();
  const deadlineMs = options.minutes === undefined ? null : startedMs + options.minutes * 60_000;
  const seedEnd = deadlineMs === null ? options.seed + options.seeds : Number.POSITIVE_INFINITY;
  const jobs = deadlineMs === null ? Math.min(options.jobs, options.seeds) : options.jobs;
  let lastProgressMs = startedMs;
  let done = 0;
  let lastSeed = options.seed;
  let slowest = { seed: -1, ms: 0, events: 0 };
  const totals = { ok: 0, fail: 0, info: 0, events: 0, crashes: 0, fsyncFailures: 0,
    membershipChanges: 0 };
  const onResult = (result: SeedSummary): void => {
    done++;
    lastSeed = Math.max(lastSeed, result.seed);
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
      totals[key] += result.stats[key];
    }
    if (result.ms > slowest.ms) slowest = { seed: result.seed, ms: result.ms, events: result.stats.events };
    if (options.trace) console.log(`seed ${result.seed}:\n${result.trace.join("\n")}`);
    const nowMs = performance.now();
    if (nowMs - lastProgressMs > 5000) {
      lastProgressMs = nowMs;
      const left = deadlineMs === null ? `${done}/${options.seeds} seeds`
        : `${done} seeds, ${Math.max(0, (deadlineMs - nowMs) / 1000).toFixed(0)} s left`;
      console.error(`  ... ${left}, ${(done / ((nowMs - startedMs) / 1000)).toFixed(1)} ` +
        `seeds/s; slowest so far: seed ${slowest.seed} (${slowest.ms.toFixed(0)} ms, ` +
        `${slowest.events} events)`);
    }
  };
  const failed = await runSeedPool({ firstSeed: options.seed, endSeed: seedEnd, deadlineMs, jobs,
    settings: { nodeCount: options.nodes, faultMs: options.faultMs, keepTrace: options.trace,
      membership: options.membership, membershipEvery: options.membershipEvery,
      refuseUnknownPeers: options.refuseUnknownPeers },
    onResult });
  if (failed !== null) {
    const nodes = options.nodes === undefined ? "" : ` --nodes ${options.nodes}`;
    const membership = (options.membership ? " --membership" : "") +
      (options.membershipEvery === defaultMembershipEvery ? ""
        : ` --membership-every ${options.membershipEvery}`) +
      (options.refuseUnknownPeers ? " --refuse-unknown-peers" : "");
    console.error(`\nFAIL seed=${failed.seed}: ${failed.violation}`);
    console.error(`reproduce with: npm run sim -- --seed ${failed.seed} --seeds 1 ` +
      `--fault-ms ${options.faultMs}${nodes}${membership} --trace`);
    console.error("trace (last events):");
    console.error(failed.trace.map((line) => `  ${line}`).join("\n"));
    process.exit(1);
  }
  const seconds = (performance.now() - startedMs) / 1000;
  console.log(`${done} server seeds passed (seeds ${options.seed}..${lastSeed}, ` +
    `${options.faultMs} ms of faults each, ${jobs} worker${jobs === 1 ? "" : "s"}) in ` +
    `${seconds.toFixed(1)} s: ${(done / seconds).toFixed(1)} seeds/s; client operations ok ` +
    `${totals.ok}, fail ${totals.fail}, info ${totals.info}; ${totals.crashes} crashes, ` +
    `${totals.fsyncFailures} failed fsyncs, ${totals.events} events` +
    `, ${totals.membershipChanges} membership changes applied` +
    (options.membership || options.membershipEvery === 0 ? ""
      : ` (in the seeds divisible by ${options.membershipEvery})`) +
    "; slowest seed " +
    `${slowest.seed} (${slowest.ms.toFixed(0)} ms)`);
}

function reproduceCommand(result: SimResult): string {
  const nodes = options.nodes === undefined ? "" : ` --nodes ${options.nodes}`;
  const plant = options.plant === undefined ? "" : ` --plant ${options.plant}`;
  const onDemand = (options.snapshotsOnDemand ? " --snapshots-on-demand" : "") +
    (options.membership ? " --membership" : "");
  return `npm run sim -- --core --seed ${result.seed} --seeds 1 --ticks ${options.ticks}${nodes}` +
    `${plant}${onDemand} --trace`;
}

const startedMs = performance.now();
let lastProgressMs = startedMs;
let committedTotal = 0;
let snapshotChunksTotal = 0;
const offersTotal = new Map<string, number>();
const deadlineMs = options.minutes === undefined ? null : startedMs + options.minutes * 60_000;
let seedsRun = 0;
for (let k = 0; deadlineMs === null ? k < options.seeds : performance.now() < deadlineMs; k++) {
  seedsRun = k + 1;
  const seed = options.seed + k;
  const result = runSimulation({ seed, nodeCount: options.nodes, ticks: options.ticks,
    plant: options.plant, snapshotsOnDemand: options.snapshotsOnDemand,
    membership: options.membership });
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
    const left = deadlineMs === null ? `${k + 1}/${options.seeds} seeds`
      : `${k + 1} seeds, ${Math.max(0, (deadlineMs - nowMs) / 1000).toFixed(0)} s left`;
    console.error(`  ... ${left}, ${((k + 1) / ((nowMs - startedMs) / 1000)).toFixed(0)} seeds/s`);
  }
}
const seconds = (performance.now() - startedMs) / 1000;
console.log(`${seedsRun} seeds passed (seeds ${options.seed}..${options.seed + seedsRun - 1}` +
  `, ${options.ticks} ticks each) in ${seconds.toFixed(1)} s: ` +
  `${(seedsRun / seconds).toFixed(1)} seeds/s, ${committedTotal} entries committed, ` +
  `${snapshotChunksTotal} snapshot chunks sent`);
if (options.snapshotsOnDemand) {
  console.log(`snapshots offered on demand: ${[...offersTotal].map(([kind, count]) =>
    `${count} ${kind}`).join(", ")}`);
}
