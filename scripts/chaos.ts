/**
 * `npm run chaos -- --duration 60 --clients 10 --nemesis partition,kill,pause --seed S
 *   [--attach --config FILE] [--out DIR] [--strict] [--tls]`
 * A Jepsen-style chaos run (src/cluster/chaos.ts): starts a 3-node LocalCluster, or attaches
 * to a running cluster (partition nemesis only), runs the workload under the nemesis, checks
 * the history, prints the report and exits 1 on any violation.
 */
import { Command, InvalidArgumentError } from "commander";
import { formatReport } from "../src/verify/report.js";
import { parseNemesis, runChaos } from "../src/cluster/chaos.js";
import { chaosCommandDefaults as defaults } from "../src/cluster/chaos-command.js";
import { formatChaosSummary } from "../src/cluster/chaos-summary.js";

function integer(name: string, min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return value;
  };
}

const program = new Command("chaos")
  .description("Jepsen-style chaos run: workload + nemesis, then a linearizability and " +
    "invariant check of the history")
  .option("--duration <seconds>", "workload duration", integer("duration", 1),
    defaults.durationSeconds)
  .option("--clients <n>", "concurrent client processes", integer("clients", 1), defaults.clients)
  .option("--nemesis <list>", "faults: partition,kill,pause,member (or none); member grows " +
    "the cluster to 5 voters, shrinks it to 3 and replaces voters (the leader too) through " +
    "the admin API", defaults.nemesis)
  .option("--seed <n>", "PRNG seed of the workload and the nemesis", integer("seed", 0))
  .option("--attach", "attach to the running cluster of --config (partition nemesis only)")
  .option("--config <file>", "the cluster file, with --attach", defaults.config)
  .option("--out <dir>", "output folder (default: chaos-runs/<time>-seed<S>)")
  .option("--strict", "count an 'unknown' linearizability verdict as a violation")
  .option("--ambiguous-503", "count 503 answers to writes as info instead of fail")
  .option("--rotate <seconds>", "move to fresh skus this often", integer("rotate", 1),
    defaults.rotateSeconds)
  .option("--skus <n>", "skus in use at a time", integer("skus", 1), defaults.skus)
  .option("--timeout <ms>", "per-request timeout (then info)", integer("timeout", 1),
    defaults.timeoutMs)
  .option("--verbose-nodes", "show the nodes' own output (warnings and errors)")
  .option("--tls", "run the runner's own cluster with TLS on (development certificates)")
  .parse();

const opts = program.opts<{
  duration: number; clients: number; nemesis: string; seed?: number; attach?: boolean;
  config: string; out?: string; strict?: boolean; ambiguous503?: boolean; rotate: number;
  skus: number; timeout: number; tls?: boolean; verboseNodes?: boolean;
}>();

async function main(): Promise<number> {
  const nemesis = parseNemesis(opts.nemesis);
  if (opts.attach === true) {
    const unsupported = nemesis.filter((kind) => kind !== "partition");
    if (unsupported.length > 0) {
      console.error(`chaos: with --attach only the partition nemesis is supported (kill and ` +
        `pause need the node processes); remove ${unsupported.join(", ")} from --nemesis`);
      return 2;
    }
  }
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const result = await runChaos({
    durationMs: opts.duration * 1000, clients: opts.clients, nemesis, seed,
    ...(opts.attach === true ? { attachConfig: opts.config } : { tls: opts.tls ?? false }),
    ...(opts.out !== undefined ? { outDir: opts.out } : {}),
    strict: opts.strict ?? false, ambiguous503: opts.ambiguous503 ?? false,
    rotateMs: opts.rotate * 1000, skusPerGeneration: opts.skus, requestTimeoutMs: opts.timeout,
    verboseNodes: opts.verboseNodes ?? false,
  });
  console.log("");
  console.log(formatReport(result.report));
  console.log(formatChaosSummary(result.summary));
  if (result.outDir !== null) {
    console.log(`history, faults, Raft events, report (text, JSON) and timeline (HTML, SVG) ` +
      `written to ${result.outDir}`);
  }
  return result.exitCode;
}

main().then((code) => {
  process.exitCode = code;
}, (error: unknown) => {
  console.error(`chaos: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
});
