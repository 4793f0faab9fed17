/**
 * Closed-loop purchases from a process of their own, for a benchmark whose own process does
 * other work while it measures. `npm run bench -- dashboard` serves the live view from its
 * process (as the launcher does under `npm run cluster`) and drives chromium from it: clients
 * on that event loop would wait behind the frames it builds and the DevTools traffic it reads,
 * a wait that the cluster does not cause. Clients are other processes; so are these.
 * The child still shares the machine's CPU with everything else, as clients on this machine
 * would.
 *
 * The parent forks this file (under tsx, whose loader the child inherits through execArgv) and
 * sends it one job at a time; the child answers each with its LoadResult, or with why it
 * failed. The child exits when told to, and when its parent goes (the IPC channel closes), so
 * it never outlives a benchmark.
 */
import { fork, type ChildProcess } from "node:child_process";
import type http from "node:http";
import { fileURLToPath } from "node:url";
import { loadClusterConfig } from "../src/cluster/cluster-config.js";
import { clusterClientAgent } from "../src/cluster/cluster-tls.js";
import { closedLoop, requestStatus } from "./bench-load.js";
import type { LoadResult } from "./bench-stats.js";

/**
 * One run of purchases: client c buys one unit (qty 1) of `sku` from nodeUrls[c mod n], in a
 * closed loop for `seconds`; only 201 counts as success, and a request unanswered within
 * `timeoutMs` counts as status 0.
 */
export interface PurchaseJob {
  readonly clients: number;
  readonly seconds: number;
  readonly nodeUrls: readonly string[];
  readonly sku: string;
  /**
   * Request ids are `${requestIdPrefix}-${c}-${k}` (client c, its k-th request). Give each job
   * its own prefix: the market answers a reused requestId with its first result, buying nothing.
   */
  readonly requestIdPrefix: string;
  readonly timeoutMs: number;
}

type ToChild = { readonly kind: "run"; readonly job: PurchaseJob } | { readonly kind: "stop" };

type FromChild = { readonly kind: "result"; readonly result: LoadResult } |
  { readonly kind: "failed"; readonly message: string };

/** How long stop() waits for the child to exit before it kills it. */
const stopWaitMs = 5000;

/** The parent's handle on a load process. */
export class LoadProcess {
  private pending: { resolve: (result: LoadResult) => void; reject: (error: Error) => void } |
    null = null;
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (message: FromChild) => {
      if (message.kind === "failed") this.settle(new Error(`load process: ${message.message}`));
      else this.settle(message.result);
    });
    // A failed fork, or a send on a channel that closed meanwhile.
    child.on("error", (error) => this.settle(new Error(`load process: ${error.message}`)));
    child.on("exit", (code, signal) => {
      this.exited = true;
      this.settle(new Error(`load process exited (${signal ?? `code ${String(code)}`})`));
    });
  }

  /** Forks the load process for the cluster whose config file is `configPath`. */
  static start(configPath: string): LoadProcess {
    // "advanced": the result's Map of errors by status crosses the channel as a Map.
    const child = fork(fileURLToPath(import.meta.url), ["--child", configPath],
      { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
    return new LoadProcess(child);
  }

  /** The child's process id (its CPU is the clients'). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Runs `job` in the child. Rejects when a job is already running, when the child has gone
   * (or goes before it answers), and when the job failed there.
   */
  run(job: PurchaseJob): Promise<LoadResult> {
    if (this.exited || !this.child.connected) {
      return Promise.reject(new Error("load process has exited"));
    }
    if (this.pending !== null) return Promise.reject(new Error("load process is busy"));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send({ kind: "run", job } satisfies ToChild, (error) => {
        if (error !== null) this.settle(new Error(`load process: ${error.message}`));
      });
    });
  }

  /**
   * Stops the child and waits for it to exit: it is killed if it has not exited within
   * stopWaitMs. A job still running is dropped, and its run() rejects.
   */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    if (this.child.connected) this.child.send({ kind: "stop" } satisfies ToChild, () => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), stopWaitMs);
    await exited;
    clearTimeout(timer);
  }

  private settle(outcome: LoadResult | Error): void {
    const pending = this.pending;
    this.pending = null;
    if (pending === null) return;
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}

/** The child: runs jobs until told to stop or its parent goes. */
function serveJobs(configPath: string): void {
  const agent: http.Agent = clusterClientAgent(loadClusterConfig(configPath), { maxSockets: 256 });
  const reply = (message: FromChild): void => {
    process.send?.(message);
  };
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message: ToChild) => {
    if (message.kind === "stop") {
      agent.destroy();
      process.exit(0);
    }
    const { job } = message;
    closedLoop(job.clients, job.seconds, 201, (client, k) =>
      requestStatus(agent, "POST", `${job.nodeUrls[client % job.nodeUrls.length]!}/v1/orders`,
        { requestId: `${job.requestIdPrefix}-${client}-${k}`,
          lines: [{ sku: job.sku, qty: 1 }] }, job.timeoutMs))
      .then((result) => reply({ kind: "result", result }),
        (error: unknown) => reply({ kind: "failed", message: String(error) }));
  });
}

if (process.argv[2] === "--child" && process.argv[3] !== undefined) serveJobs(process.argv[3]);
