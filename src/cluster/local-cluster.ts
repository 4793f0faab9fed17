/**
 * A real cluster of market-node child processes on 127.0.0.1, for the multi-process tests, the
 * benchmarks and chaos runs: free ports, a temporary cluster file and data folders, and process
 * faults (SIGKILL, SIGSTOP/SIGCONT, restart). stop() always ends every process it started.
 * With `tls`, it makes development certificates in the temporary folder and runs the cluster
 * with TLS on (HTTPS client API, mutual TLS between peers).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { httpRequest } from "../wire/http-request.js";
import { loadClusterConfig, type ClusterConfigFile } from "./cluster-config.js";
import { clusterClientAgent, nodeClientUrl, readClusterCa } from "./cluster-tls.js";
import { writeDevCerts } from "./dev-certs.js";
import { distinctFreePort } from "./free-port.js";
import { marketNodeArgs } from "./market-node-bin.js";

export { freePort } from "./free-port.js";

export interface LocalClusterOptions {
  readonly nodeCount?: number;
  readonly timing?: ClusterConfigFile["timing"];
  readonly snapshot?: ClusterConfigFile["snapshot"];
  /**
   * Where node output goes: "ignore" (default: only the last lines of each node are kept, for
   * exits()), "inherit", or a line handler.
   */
  readonly output?: "ignore" | "inherit" | ((id: string, line: string) => void);
  readonly logLevel?: string;
  /** The nodes start() starts; the others wait for startNode(). Default: all. */
  readonly initialNodes?: readonly string[];
  /** TLS on: certificates made in the temporary folder. Default false (plain HTTP). */
  readonly tls?: boolean;
}

/** A node process that ended (LocalCluster.exits()). */
export interface NodeExit {
  readonly id: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** How long the process had run. */
  readonly afterMs: number;
  readonly lastOutput: readonly string[];
}

/** An exit as a benchmark prints it: how the node ended, then its last lines, indented. */
export function describeNodeExit(exit: NodeExit): string {
  const how = exit.signal !== null ? `was killed by ${exit.signal}`
    : `exited with code ${exit.code}`;
  const lines = exit.lastOutput.length === 0 ? "  (no output kept)"
    : exit.lastOutput.map((line) => `  | ${line}`).join("\n");
  return `raftmarket node ${exit.id} ${how} after ${(exit.afterMs / 1000).toFixed(1)} s; ` +
    `its last output:\n${lines}`;
}

/** How many of its last output lines a node's exit keeps, and how long each may be. */
const outputTailLinesMax = 40;
const outputLineUnitsMax = 2000;

export interface LocalNode {
  readonly id: string;
  readonly url: string;
  process: ChildProcess | null;
  /** A node that is not in the cluster file: it starts with market-node --join. */
  readonly join?: LocalJoin;
}

/** How a node added later (member add) starts: market-node --join. */
export interface LocalJoin {
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  /** The client URL of the member it asks. */
  joinUrl: string;
}

/**
 * A cluster file for `nodeCount` nodes on free loopback ports, in a new temporary folder (data
 * under it): for LocalCluster, and for tests that start the cluster another way (the launcher).
 * The caller removes `root`.
 */
export async function writeLocalClusterConfig(options: Pick<LocalClusterOptions,
  "nodeCount" | "timing" | "snapshot" | "tls"> = {}):
  Promise<{ root: string; configPath: string; config: ClusterConfigFile }> {
  const root = mkdtempSync(path.join(tmpdir(), "raftmarket-cluster-"));
  const nodeCount = options.nodeCount ?? 3;
  const nodes = [];
  const taken = new Set<number>();
  for (let k = 1; k <= nodeCount; k++) {
    nodes.push({ id: `n${k}`, host: "127.0.0.1", clientPort: await distinctFreePort(taken),
      peerPort: await distinctFreePort(taken), dataDir: `data/n${k}` });
  }
  let config: ClusterConfigFile = {
    nodes,
    timing: options.timing ?? { tickIntervalMs: 10, heartbeatIntervalTicks: 2,
      electionTimeoutTicks: 15 },
    tokens: { peerToken: "local-peer-token", adminToken: "local-admin-token" },
    snapshot: options.snapshot ?? { entriesBetweenSnapshots: 5000, trailingEntries: 500 },
  };
  if (options.tls === true) {
    const section = await writeDevCerts({ nodes, outDir: path.join(root, "certs"),
      configDir: root });
    config = { ...config, tls: section.tls,
      nodes: nodes.map((node) => ({ ...node, tls: section.nodes[node.id] })) };
  }
  const configPath = path.join(root, "cluster.config.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { root, configPath, config };
}

/**
 * The clusters started and not stopped yet. If this process exits without stopping one (a
 * script that ended on an uncaught error or an unhandled rejection before its `finally` could
 * stop it), its nodes are killed and its folder removed as the process exits: a node left
 * running would go on taking CPU from every later benchmark on the machine, unseen (one session
 * found 18 such nodes, idle, from scratch scripts). Exits by a signal without a handler do not
 * run this; the benchmarks handle SIGINT and SIGTERM themselves.
 */
const unstoppedClusters = new Set<LocalCluster>();
let exitGuardInstalled = false;

function installExitGuard(): void {
  if (exitGuardInstalled) return;
  exitGuardInstalled = true;
  process.on("exit", () => {
    // Never throws: an error here would turn a clean exit into code 1 and skip the other
    // clusters and every later exit listener (playwright's, which closes chromium).
    for (const cluster of unstoppedClusters) {
      try {
        cluster.killNow();
      } catch {
        // The folder may still be written by a node not dead yet: left behind.
      }
    }
  });
}

export class LocalCluster {
  readonly nodes: LocalNode[];
  /** The cluster CA (PEM) when TLS is on, else null: what clients of this cluster trust. */
  readonly ca: string | null;
  /** A keep-alive agent for the nodes' client APIs (https, trusting `ca`, with TLS). */
  readonly agent: http.Agent;
  private stopped = false;
  private readonly nodeExits: NodeExit[] = [];

  private constructor(
    readonly configPath: string,
    readonly config: ClusterConfigFile,
    private readonly root: string,
    private readonly options: LocalClusterOptions,
  ) {
    this.nodes = config.nodes.map((node) => ({ id: node.id, url: nodeClientUrl(config, node),
      process: null }));
    const resolved = loadClusterConfig(configPath);
    this.ca = readClusterCa(resolved);
    this.agent = clusterClientAgent(resolved, { maxSockets: 256 });
  }

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const { root, configPath, config } = await writeLocalClusterConfig(options);
    const cluster = new LocalCluster(configPath, config, root, options);
    installExitGuard();
    unstoppedClusters.add(cluster);
    for (const node of cluster.nodes) {
      // Every folder is new: the cluster is being created (market-node --new-cluster).
      if (options.initialNodes?.includes(node.id) ?? true) {
        cluster.startNode(node.id, { newCluster: true });
      }
    }
    return cluster;
  }

  /**
   * Picks free ports and a data folder for a node that is not in the cluster file, to be added
   * with member add and started with startNode (market-node --join through `joinUrl`).
   */
  async prepareJoiningNode(id: string, joinUrl: string): Promise<LocalJoin> {
    // Not a port of any node of this cluster, down ones included: they start again on theirs.
    const taken = new Set([...this.config.nodes.flatMap((node) => [node.clientPort,
      node.peerPort]), ...this.nodes.flatMap((node) => node.join === undefined ? []
      : [Number(new URL(node.join.peerUrl).port), Number(new URL(node.join.clientUrl).port)])]);
    const clientPort = await distinctFreePort(taken);
    const peerPort = await distinctFreePort(taken);
    const join: LocalJoin = { peerUrl: `http://127.0.0.1:${peerPort}`,
      clientUrl: `http://127.0.0.1:${clientPort}`, dataDir: path.join(this.root, "data", id),
      joinUrl };
    this.nodes.push({ id, url: join.clientUrl, process: null, join });
    return join;
  }

  /** The absolute path of a node's data folder. */
  dataDir(id: string): string {
    const joining = this.nodes.find((candidate) => candidate.id === id)?.join;
    if (joining !== undefined) return joining.dataDir;
    const node = this.config.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return path.resolve(this.root, node.dataDir);
  }

  /** Resolves with the exit code of a node's process once it exits (null: by a signal). */
  exited(id: string): Promise<number | null> {
    const child = this.node(id).process;
    if (child === null) return Promise.resolve(null);
    if (child.exitCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  node(id: string): LocalNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Starts (or restarts) a node's process; its data folder is kept. */
  startNode(id: string, options: { newCluster?: boolean } = {}): void {
    const node = this.node(id);
    if (node.process !== null || this.stopped) return;
    const output = this.options.output ?? "ignore";
    // Unless inherited, output is read: the last lines go to the tail kept for exits().
    const piped = output !== "inherit";
    const join = node.join === undefined ? [] : ["--join", node.join.joinUrl, "--peer-url",
      node.join.peerUrl, "--client-url", node.join.clientUrl, "--data-dir", node.join.dataDir];
    const child = spawn(process.execPath, [...marketNodeArgs(), "--config", this.configPath,
      "--id", id, "--log-level", this.options.logLevel ?? "warn",
      ...(options.newCluster === true ? ["--new-cluster"] : []), ...join],
    { stdio: ["ignore", piped ? "pipe" : output, piped ? "pipe" : output] });
    const tail: string[] = [];
    if (piped) {
      for (const stream of [child.stdout, child.stderr]) {
        let buffered = "";
        stream?.on("data", (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) {
            tail.push(line.length > outputLineUnitsMax
              ? `${line.slice(0, outputLineUnitsMax)} ...` : line);
            if (tail.length > outputTailLinesMax) tail.shift();
            if (typeof output === "function") output(id, line);
          }
        });
      }
    }
    node.process = child;
    const startedMs = performance.now();
    child.on("exit", (code, signal) => {
      if (node.process === child) node.process = null;
      this.nodeExits.push({ id, code, signal, afterMs: performance.now() - startedMs,
        lastOutput: [...tail] });
    });
  }

  /**
   * Every exit of a node process so far, in order, with the last lines it wrote (the last
   * outputTailLinesMax, at the cluster's log level; none with output "inherit"): a benchmark
   * that loses a node can say why.
   */
  exits(): readonly NodeExit[] {
    return this.nodeExits;
  }

  /** Sends `signal` to a node's process (SIGKILL: a crash; SIGSTOP/SIGCONT: a pause). */
  signal(id: string, signal: NodeJS.Signals): void {
    this.node(id).process?.kill(signal);
  }

  /** SIGKILLs a node and waits until its process is gone. */
  async kill(id: string): Promise<void> {
    const child = this.node(id).process;
    if (child === null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  /** The status of every node that answers, keyed by id. */
  async statuses(timeoutMs = 1000): Promise<Map<string, Record<string, unknown>>> {
    const answers = await Promise.all(this.nodes.map(async (node) => {
      try {
        const response = await httpRequest({ method: "GET", url: `${node.url}/v1/cluster/status`,
          agent: this.agent, timeoutMs });
        return response.status === 200
          ? [node.id, JSON.parse(response.body) as Record<string, unknown>] as const : null;
      } catch {
        return null;
      }
    }));
    return new Map(answers.filter((answer) => answer !== null));
  }

  /** Waits until some node reports itself leader; returns its id. */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await this.statuses();
      for (const [id, status] of statuses) {
        if (status.role !== "leader") continue;
        await this.waitForRunningNodes(statuses, Math.min(deadline, Date.now() + 5000));
        return id;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /**
   * A node with an empty folder answers only once it has bootstrapped (it asks its peers
   * first): waits, at most until `deadlineMs`, for every running process to answer, so that a
   * test that faults the leader next finds the others all in the cluster. A paused node never
   * answers; the wait then just ends at the deadline.
   */
  private async waitForRunningNodes(answered: Map<string, unknown>, deadlineMs: number):
    Promise<void> {
    let statuses = answered;
    while (Date.now() < deadlineMs &&
      this.nodes.some((node) => node.process !== null && !statuses.has(node.id))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      statuses = await this.statuses();
    }
  }

  /** Stops every process (SIGKILL) and removes the temporary folder. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const node of this.nodes) {
      node.process?.kill("SIGCONT");
    }
    await Promise.all(this.nodes.map((node) => this.kill(node.id)));
    this.stopped = true;
    unstoppedClusters.delete(this);
    this.agent.destroy();
    rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * Synchronously: SIGKILLs every node process still running and removes the cluster's
   * folder, without waiting for the exits (for the exit guard above: this process is ending).
   */
  killNow(): void {
    this.stopped = true;
    unstoppedClusters.delete(this);
    for (const node of this.nodes) node.process?.kill("SIGKILL");
    rmSync(this.root, { recursive: true, force: true });
  }
}
