/**
 * Runs server-simulator seeds in worker processes, one seed at a time per worker, so that
 * `npm run sim` uses every core: seeds share nothing, and each is deterministic on its own, so
 * where a seed runs changes nothing in it. Processes, not worker threads: on this 2-core machine
 * two worker threads ran 10 seeds/s against 14 for one thread (they share the process's garbage
 * collector helpers), while two processes ran 24. Seeds are handed out in ascending order; after a
 * failure no new seed starts, and the ones already running finish, so the failure reported is
 * the lowest failing seed of those handed out, whatever the timing (every lower seed ran).
 */
import { availableParallelism } from "node:os";
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runServerSimulation, type ServerSimResult } from "./server-simulator.js";

/** What a seed's run sends back: the result without its history (large, and not needed). */
export type SeedSummary = Omit<ServerSimResult, "history"> & { readonly ms: number };

export interface SeedRunSettings {
  readonly nodeCount: number | undefined;
  readonly faultMs: number;
  /** Whether to send the trace of a passing seed too (--trace). */
  readonly keepTrace: boolean;
  /** Membership changes in the schedule of every seed (--membership). */
  readonly membership?: boolean;
  /**
   * Without `membership`: the seeds divisible by this run with membership changes too
   * (--membership-every; 0 or absent: none). By the seed's number, so that `--seed S --seeds 1`
   * replays a failing seed as it ran.
   */
  readonly membershipEvery?: number;
  /** With membership: HttpTransport's rule for unknown senders (--refuse-unknown-peers). */
  readonly refuseUnknownPeers?: boolean;
}

export async function runSeed(seed: number, settings: SeedRunSettings): Promise<SeedSummary> {
  const startedMs = performance.now();
  const { history: _history, ...result } = await runServerSimulation({ seed,
    nodeCount: settings.nodeCount, faultMs: settings.faultMs,
    membership: settings.membership === true || withMembershipChanges(seed, settings),
    refuseUnknownPeers: settings.refuseUnknownPeers === true });
  const trace = result.ok && !settings.keepTrace ? [] : result.trace;
  return { ...result, trace, ms: performance.now() - startedMs };
}

/**
 * One seed in ten runs with membership changes by default: `npm run sim` then covers the
 * driver's membership code (learners joining, removals, lost disks replaced) on every run, for
 * about a fifth more time (such a seed costs about three plain ones).
 */
export const defaultMembershipEvery = 10;

/** Whether seed `seed` runs with membership changes under `membershipEvery`. */
export function withMembershipChanges(seed: number, settings: SeedRunSettings): boolean {
  const every = settings.membershipEvery ?? 0;
  return every > 0 && seed % every === 0;
}

export interface SeedPoolOptions {
  readonly firstSeed: number;
  /** Seeds firstSeed .. endSeed - 1 (Infinity: until the deadline). */
  readonly endSeed: number;
  /** performance.now() after which no seed starts (null: none). */
  readonly deadlineMs: number | null;
  /** Worker processes; 1 runs the seeds in this process. */
  readonly jobs: number;
  readonly settings: SeedRunSettings;
  /** Called in this thread after each seed, in completion order. */
  readonly onResult: (summary: SeedSummary) => void;
}

/** The default --jobs: one per core. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

interface SeedRequest { readonly seed: number; readonly settings: SeedRunSettings }
type WorkerReply =
  | { readonly kind: "result"; readonly summary: SeedSummary }
  | { readonly kind: "error"; readonly seed: number; readonly message: string };

/** Runs the seeds; resolves with the lowest failing seed's summary, or null when all passed. */
export async function runSeedPool(options: SeedPoolOptions): Promise<SeedSummary | null> {
  let nextSeed = options.firstSeed;
  let failure: SeedSummary | null = null;
  const takeSeed = (): number | null => {
    if (failure !== null || nextSeed >= options.endSeed) return null;
    if (options.deadlineMs !== null && performance.now() >= options.deadlineMs) return null;
    return nextSeed++;
  };
  const record = (summary: SeedSummary): void => {
    if (!summary.ok && (failure === null || summary.seed < failure.seed)) failure = summary;
    options.onResult(summary);
  };
  if (options.jobs <= 1) {
    for (let seed = takeSeed(); seed !== null; seed = takeSeed()) {
      record(await runSeed(seed, options.settings));
    }
    return failure;
  }
  const workers = Array.from({ length: options.jobs }, () => new Promise<void>((resolve, reject) => {
    const worker = startWorker();
    let busy = false;
    const feed = (): void => {
      const seed = takeSeed();
      if (seed === null) {
        busy = false;
        worker.disconnect();
        return;
      }
      busy = true;
      worker.send({ seed, settings: options.settings } satisfies SeedRequest);
    };
    worker.on("message", (reply: WorkerReply) => {
      if (reply.kind === "error") {
        worker.kill();
        reject(new Error(`seed ${reply.seed}: the simulator itself failed: ${reply.message}`));
        return;
      }
      record(reply.summary);
      feed();
    });
    worker.on("error", reject);
    worker.on("exit", (code, signal) => {
      if (busy) reject(new Error(`a simulator worker exited (${signal ?? `code ${code}`})`));
      else resolve();
    });
    feed();
  }));
  await Promise.all(workers);
  return failure;
}

/**
 * A worker process running this module: the compiled one as it is, the TypeScript source with
 * tsx's loader (inherited through execArgv under the tsx command or mocha, added when the
 * parent registered tsx through its API, as bin/run-entry.js does).
 */
function startWorker(): ChildProcess {
  const modulePath = fileURLToPath(import.meta.url);
  const hasLoader = process.execArgv.some((arg) => arg.includes("tsx"));
  const execArgv = modulePath.endsWith(".ts") && !hasLoader
    ? [...process.execArgv, "--import", "tsx"] : process.execArgv;
  return fork(modulePath, [], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

// In a worker process (started by fork, so it has an IPC channel): run the seeds it is sent.
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on("message", (request: SeedRequest) => {
    runSeed(request.seed, request.settings).then(
      (summary) => process.send!({ kind: "result", summary } satisfies WorkerReply),
      (error: unknown) => process.send!({ kind: "error", seed: request.seed,
        message: (error as Error)?.stack ?? String(error) } satisfies WorkerReply));
  });
}
