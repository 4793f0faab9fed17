/**
 * `npm run cluster [-- --config FILE] [--demo-data]`: starts one market-node child process per
 * node of the cluster file, prefixes each line of their output with the node's id, and stops
 * them all on Ctrl-C (SIGINT) or SIGTERM, the learners added from its live view included
 * (launcher-processes.ts). It remembers those learners (launcher-record.ts) and starts them
 * again on its next run, until they are removed from the cluster. With --demo-data it loads
 * the demo catalogue once a leader is up (fixed requestIds make a reload harmless). Its control
 * socket (launcher-control.ts) lets the process-fault script start a killed node again; the
 * launcher keeps running while nodes are down by signal, and exits once every node has exited
 * by itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { demoRequests } from "../market/index.js";
import { httpRequest } from "../wire/http-request.js";
import { ClusterConfigError, loadClusterConfig, type ClusterConfig } from "../cluster/cluster-config.js";
import { dataDirIsPristine } from "../storage/index.js";
import { clusterClientAgent, nodeClientUrl } from "../cluster/cluster-tls.js";
import { serveLauncherControl } from "./launcher-control.js";
import { parseFrameMs, parsePort } from "./launcher-options.js";
import {
  fenceOf,
  joinArgs,
  newNodeControl,
  processControl,
  type JoiningNode,
  type ProcessTable,
} from "./launcher-processes.js";
import { openLauncherRecord, planRecordedNodes, type LauncherRecord } from "./launcher-record.js";
import { marketNodeArgs } from "../cluster/market-node-bin.js";
import { clusterWatcherDefaults } from "../dashboard/cluster-watcher.js";
import { serveLauncherDashboard, type LauncherDashboard } from "../dashboard/launcher-dashboard.js";

const colors = [36, 33, 35, 32, 34, 31, 96, 93, 95];
const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

function prefixFor(id: string, k: number): string {
  const label = `[${id}]`.padEnd(6);
  return useColor ? `\u001b[${colors[k % colors.length]}m${label}\u001b[0m` : label;
}

function startNode(config: ClusterConfig, id: string, k: number, extraArgs: string[]): ChildProcess {
  const child = spawn(process.execPath,
    [...marketNodeArgs(), "--config", config.path, "--id", id, ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  const prefix = prefixFor(id, k);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => console.log(`${prefix} ${line}`));
  }
  return child;
}

async function loadDemoData(config: ClusterConfig, deadlineMs: number): Promise<void> {
  const urls = config.nodes.map((node) => nodeClientUrl(config, node));
  const agent = clusterClientAgent(config);
  for (const request of demoRequests()) {
    const { kind: _kind, ...body } = request as { kind: string } & Record<string, unknown>;
    for (let attempt = 0; ; attempt++) {
      const url = urls[attempt % urls.length]!;
      const answer = await httpRequest({ method: "POST", url: `${url}/v1/items`, agent,
        timeoutMs: 5000, headers: { "content-type": "application/json" },
        body: JSON.stringify(body) }).then((response) => response.status, () => 0);
      if (answer === 201 || answer === 409) break;
      if (Date.now() > deadlineMs) throw new Error("no leader accepted the demo data in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  console.log(`[cluster] demo data loaded: ${demoRequests().length} items ` +
    `(try: npx market-cli search, npx market-cli buy --item apple-1kg)`);
}

/**
 * Puts the nodes added from the page in earlier runs (launcher-record.ts) among the launcher's
 * nodes, saying in one line each that it starts again or why it does not; answers their ids.
 */
function adoptRecordedNodes(config: ClusterConfig, record: LauncherRecord, newCluster: boolean,
  table: Pick<ProcessTable, "children" | "joining">): string[] {
  const ids: string[] = [];
  for (const plan of planRecordedNodes(config, record.nodes(), newCluster)) {
    const { node } = plan;
    if (plan.kind === "skip") {
      console.log(`[cluster] not starting ${node.id}, a node added earlier from the page: ` +
        plan.reason);
      if (plan.forget) record.forget(node.id);
      continue;
    }
    table.joining.set(node.id, node);
    table.children.set(node.id, null);
    ids.push(node.id);
    console.log(`[cluster] starting ${node.id}, a node added earlier from the page (peer ` +
      `${node.peerUrl}, client ${node.clientUrl}, data ${node.dataDir}; recorded in ` +
      `${record.file})`);
  }
  return ids;
}

/** The live view; a port in use is a warning, not a reason to keep the nodes down. */
async function startDashboard(config: ClusterConfig, host: string, port: number,
  frameIntervalMs: number, table: ProcessTable): Promise<LauncherDashboard | null> {
  try {
    const dashboard = await serveLauncherDashboard({ config, host, port, frameIntervalMs,
      processes: processControl(config, table), newNodes: newNodeControl(config, table),
      addedNodes: [...table.joining.values()].map((node) => ({ id: node.id,
        url: node.clientUrl })) });
    console.log(`[cluster] dashboard: ${dashboard.url}`);
    return dashboard;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(`[cluster] no dashboard: ${host}:${port} ${code === "EADDRINUSE"
      ? "is in use (pick another with --dashboard-port)" : (error as Error).message}`);
    return null;
  }
}

interface LauncherOptions {
  readonly config: string;
  readonly demoData: boolean;
  readonly logLevel: string;
  readonly dashboard: boolean;
  readonly dashboardPort: number;
  readonly dashboardHost: string;
  readonly dashboardFrameMs: number;
}

/** The command line, and the cluster file it names; a bad file exits 128 with one line. */
function parseCommandLine(): { options: LauncherOptions; config: ClusterConfig } {
  const program = new Command()
    .name("cluster")
    .description("Start every node of a raftmarket cluster file as a child process. While it " +
      "runs, `npm run fault -- restart <node>` starts a stopped node again through its control " +
      "socket.")
    .option("--config <file>", "the cluster file", "cluster.config.json")
    .option("--demo-data", "load a small demo catalogue once a leader is elected", false)
    .option("--log-level <level>", "node log level (trace, debug, info, warn, error)", "info")
    .option("--dashboard-port <port>", "the live view's port (0: any free port)", parsePort, 7080)
    .option("--dashboard-host <host>", "the live view's address (loopback by default: its " +
      "actions can kill nodes)", "127.0.0.1")
    .option("--dashboard-frame-ms <ms>", "milliseconds between the live view's frames, " +
      "100-5000 (fewer frames leave more CPU to the nodes when a browser shares their " +
      "machine; each node's own /ui stays at the default)",
    parseFrameMs, clusterWatcherDefaults.intervalMs)
    .option("--no-dashboard", "serve no live view")
    .showHelpAfterError()
    .parse();
  const options = program.opts<LauncherOptions>();
  try {
    return { options, config: loadClusterConfig(options.config) };
  } catch (error) {
    if (!(error instanceof ClusterConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(128);
  }
}

/**
 * The control socket (launcher-control.ts), through which npm run fault restarts a node of
 * `children`; another launcher of the same cluster file is one line and exit 1.
 */
async function serveControl(config: ClusterConfig, children: Map<string, ChildProcess | null>,
  launch: (id: string) => ChildProcess, stopping: () => boolean,
  fenced: (id: string) => string | null): Promise<{ close(): void }> {
  try {
    return await serveLauncherControl(config.path, {
      nodes: () => [...children].map(([id, child]) => ({ id, pid: child?.pid ?? null })),
      start: async (id) => {
        if (!children.has(id)) return { error: `unknown node "${id}"` };
        if (stopping()) return { error: "the cluster is stopping" };
        const running = children.get(id);
        if (running != null) return { error: `${id} is running (pid ${running.pid})` };
        // As the page's restart does: market-node would refuse the folder anyway, less clearly.
        const fence = fenced(id);
        if (fence !== null) {
          return { error: `${id} will not start again (${fence}): its folder is fenced; ` +
            "add a new member instead" };
        }
        const child = launch(id);
        console.log(`[cluster] ${id} restarted (pid ${child.pid}) on request of npm run fault`);
        return { pid: child.pid ?? 0 };
      },
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const { options, config } = parseCommandLine();
  const children = new Map<string, ChildProcess | null>(config.nodes.map((node) => [node.id, null]));
  const paused = new Set<string>();
  const joining = new Map<string, JoiningNode>();
  const record = openLauncherRecord(config, (line) => console.error(`[cluster] ${line}`));
  let dashboard: LauncherDashboard | null = null;
  let stopping = false;
  // A cluster is being created only when no folder holds anything yet; a node restarted
  // later, or a cluster with one folder wiped, must hear from every peer (node/bootstrap.ts).
  const newCluster = config.nodes.every((node) => dataDirIsPristine(node.dataDir));
  const launch = (id: string, first = false): ChildProcess => {
    // The file's nodes, then the added ones, each with a colour of its own.
    const k = [...children.keys()].indexOf(id);
    const added = joining.get(id);
    const child = startNode(config, id, k, ["--log-level", options.logLevel, "--pretty",
      ...(first && newCluster ? ["--new-cluster"] : []),
      ...(added === undefined ? [] : joinArgs(added))]);
    children.set(id, child);
    dashboard?.watcher.record("process", id, "started", `${id} started (pid ${child.pid})`);
    child.on("exit", (code, signal) => {
      if (children.get(id) === child) children.set(id, null);
      paused.delete(id);
      // An added node removed from the cluster (by any means) has nothing to start next run.
      if (added !== undefined && fenceOf(added.dataDir) !== null) record.forget(id);
      // A removed member fences its folder and exits 0 by itself: not a crash, and it is not
      // started again (restart refuses a fenced folder).
      const fence = signal === null && code === 0 && !stopping
        ? fenceOf(added?.dataDir ?? config.nodes[k]?.dataDir ?? "") : null;
      const how = `${signal ?? `code ${code}`}${fence === null ? ""
        : `: ${fence}; it stays down`}`;
      console.log(`[cluster] ${id} exited (${how})`);
      dashboard?.watcher.record("process", id, "exited", `${id} exited (${how})`);
      if ([...children.values()].some((other) => other !== null)) return;
      if (stopping) process.exit(0);
      // Every node is down. Killed by signals (fault injection), they may be restarted; a
      // node that exited by itself (a startup error) will not come back, so give up.
      if (signal === null) {
        console.log("[cluster] every node has exited");
        process.exit(1);
      }
      console.log("[cluster] every node is down; restart one with npm run fault -- restart " +
        "<node>, or press Ctrl-C");
    });
    return child;
  };
  const control = await serveControl(config, children, launch, () => stopping,
    (id) => fenceOf(joining.get(id)?.dataDir ??
      config.nodes.find((node) => node.id === id)?.dataDir ?? ""));
  console.log(`[cluster] starting ${config.nodes.length} nodes from ${config.path}; ` +
    "Ctrl-C stops them all");
  if (newCluster) console.log("[cluster] every data folder is empty: creating a new cluster");
  const recorded = adoptRecordedNodes(config, record, newCluster, { children, joining });
  if (options.dashboard) {
    dashboard = await startDashboard(config, options.dashboardHost, options.dashboardPort,
      options.dashboardFrameMs, { children, paused, joining, record, launch: (id) => launch(id),
        stopping: () => stopping,
        note: (id, message) => {
          console.log(`[cluster] ${message}`);
          dashboard?.watcher.record("process", id, "retired", message);
        } });
  }
  for (const node of config.nodes) launch(node.id, true);
  for (const id of recorded) launch(id);
  const stopAll = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    control.close();
    void dashboard?.close();
    const running = [...children.values()].filter((child) => child !== null);
    console.log(`[cluster] ${signal}: stopping ${running.length} nodes`);
    if (running.length === 0) process.exit(0);
    for (const child of running) {
      // A paused node must run to handle SIGTERM.
      child.kill("SIGCONT");
      child.kill("SIGTERM");
    }
    // A node that does not stop in time is killed, so Ctrl-C always ends the cluster.
    setTimeout(() => running.forEach((child) => child.kill("SIGKILL")), 5000).unref();
  };
  process.on("SIGINT", () => stopAll("SIGINT"));
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  if (options.demoData) {
    await loadDemoData(config, Date.now() + 30_000).catch((error: Error) =>
      console.error(`[cluster] could not load demo data: ${error.message}`));
  }
}

await main();
