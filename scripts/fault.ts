/**
 * `npm run fault -- [--config FILE] <command>`: process faults on a running cluster, the
 * companion of `npm run partition`. kill, pause and resume signal the node's process, found by
 * the pid in its data folder's LOCK file, so they work however the node was started; restart
 * asks the `npm run cluster` launcher that owns the cluster (its control socket) to start the
 * node again. Each command prints what it did, and repeating one is harmless: killing a node
 * that is down, or resuming one that runs, says so and succeeds. Pausing or resuming a node that
 * is down is an error. Errors are one line on stderr and exit 1.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command } from "commander";
import {
  addedNodesCachePath, AdminCluster, NodeRequestError, runOperatorScript, ScriptError,
  type NodeStatusBody,
} from "../src/cluster/admin-cluster.js";
import { loadClusterConfig } from "../src/cluster/cluster-config.js";
import { askLauncher, NoLauncherError } from "../src/launcher/launcher-control.js";
import { isHolderLive, liveLockHolder, readLock } from "../src/storage/dir-lock.js";

/** Bound on the wait for a killed process to disappear, or a restarted node to answer. */
const waitBoundMs = 20_000;

type ProcessState = "running" | "paused" | "down";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What the script learned of a node added with member add, kept for when it is down. */
interface AddedNode {
  readonly dataDir: string;
  readonly argv: readonly string[];
  /** Node's own options (its heap flags, a loader); absent in what an earlier version kept. */
  readonly execArgv?: readonly string[];
}

class FaultCluster extends AdminCluster {
  /** Where this cluster's added nodes' folders and command lines are remembered. */
  private get cachePath(): string {
    return addedNodesCachePath(this.config.path);
  }

  private readCache(): Record<string, AddedNode> {
    try {
      return JSON.parse(readFileSync(this.cachePath, "utf8")) as Record<string, AddedNode>;
    } catch {
      return {};
    }
  }

  /**
   * A node's data folder: the cluster file's, or, for a node added with member add, what it
   * says on GET /admin/node (remembered, so that a node that is down can still be found).
   */
  async dataDirOf(id: string): Promise<string> {
    this.requireNode(id);
    const own = this.config.nodes.find((node) => node.id === id);
    if (own !== undefined) return own.dataDir;
    return (await this.addedNode(id)).dataDir;
  }

  async addedNode(id: string): Promise<AddedNode> {
    try {
      const body = (await this.request(id, "GET", "/admin/node")).body as Partial<AddedNode>;
      if (typeof body.dataDir === "string" && Array.isArray(body.argv)) {
        const cache = this.readCache();
        cache[id] = { dataDir: body.dataDir, argv: body.argv.map(String),
          execArgv: Array.isArray(body.execArgv) ? body.execArgv.map(String) : [] };
        writeFileSync(this.cachePath, JSON.stringify(cache));
        return cache[id]!;
      }
    } catch (error) {
      if (!(error instanceof NodeRequestError)) throw error;
    }
    const cached = this.readCache()[id];
    if (cached === undefined) {
      throw new ScriptError(`${id} was added with member add and does not answer, and this ` +
        "script has not seen it run: its data folder is unknown here");
    }
    return cached;
  }

  isAdded(id: string): boolean {
    return this.added.has(id);
  }

  /** The pid of the node's live process, or null when it is down. */
  async pidOf(id: string): Promise<number | null> {
    return liveLockHolder(await this.dataDirOf(id));
  }

  /** `node`, or the current leader's id for "leader". */
  async resolve(node: string): Promise<string> {
    if (node !== "leader") {
      this.requireNode(node);
      return node;
    }
    const leader = await this.findLeader();
    console.log(`The leader is ${leader}.`);
    return leader;
  }
}

/** For a live pid: "paused" if stopped (state T in /proc), else "running"; null: "down". */
function processState(pid: number | null): ProcessState {
  if (pid === null) return "down";
  try {
    // The state follows the parenthesised command name: "123 (node) T ...".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "T" || state === "t") return "paused";
    if (state === "Z" || state === "X") return "down";
    return "running";
  } catch {
    // No /proc: the pid was found live, and whether it is stopped cannot be told.
    return "running";
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ScriptError(code === "EPERM"
      ? `not allowed to signal process ${pid} (it belongs to another user)`
      : `could not send ${name} to process ${pid} (${code ?? String(error)})`);
  }
}

/** SIGKILLs the node and waits until its process is gone; false if it was already down. */
async function killNode(cluster: FaultCluster, id: string): Promise<boolean> {
  const holder = readLock(await cluster.dataDirOf(id));
  if (holder === null || !isHolderLive(holder)) return false;
  const pid = holder.pid;
  signal(pid, "SIGKILL");
  const deadline = Date.now() + waitBoundMs;
  while (isHolderLive(holder)) {
    if (Date.now() > deadline) throw new ScriptError(`${id} (pid ${pid}) is still alive after SIGKILL`);
    await sleep(20);
  }
  return true;
}

async function kill(cluster: FaultCluster, node: string): Promise<void> {
  const id = await cluster.resolve(node);
  const pid = await cluster.pidOf(id);
  if (!await killNode(cluster, id)) {
    console.log(`${id} is already down; nothing to do.`);
    return;
  }
  console.log(`Killed ${id} (pid ${pid}) with SIGKILL: a crash, with no chance to clean up. ` +
    "What it had fsynced survives; it stays down until `npm run fault -- restart " + `${id}\`.`);
}

async function pause(cluster: FaultCluster, node: string): Promise<void> {
  const id = await cluster.resolve(node);
  const pid = await cluster.pidOf(id);
  if (pid === null) throw new ScriptError(`${id} is down; there is nothing to pause`);
  if (processState(pid) === "paused") {
    console.log(`${id} (pid ${pid}) is already paused; nothing to do.`);
    return;
  }
  signal(pid, "SIGSTOP");
  console.log(`Paused ${id} (pid ${pid}) with SIGSTOP: it keeps its sockets but runs no code, ` +
    `as in a long GC pause. Resume it with \`npm run fault -- resume ${id}\`.`);
}

async function resume(cluster: FaultCluster, node: string): Promise<void> {
  const ids = node === "all" ? cluster.ids : [await cluster.resolve(node)];
  for (const id of ids) {
    const pid = await cluster.pidOf(id);
    if (pid === null) {
      if (node !== "all") throw new ScriptError(`${id} is down; restart it instead`);
      console.log(`${id} is down; nothing to resume.`);
      continue;
    }
    if (processState(pid) !== "paused") {
      console.log(`${id} (pid ${pid}) is not paused; nothing to do.`);
      continue;
    }
    signal(pid, "SIGCONT");
    console.log(`Resumed ${id} (pid ${pid}) with SIGCONT.`);
  }
}

/** Whether a launcher runs this cluster and counts `id` among its nodes. */
async function launcherRuns(cluster: FaultCluster, id: string): Promise<boolean> {
  try {
    const answer = await askLauncher(cluster.config.path, "GET", "/nodes");
    const nodes = Array.isArray(answer.body.nodes) ? answer.body.nodes as { id?: unknown }[] : [];
    return nodes.some((each) => each.id === id);
  } catch (error) {
    if (error instanceof NoLauncherError) return false;
    throw error;
  }
}

async function restart(cluster: FaultCluster, node: string): Promise<void> {
  const id = await cluster.resolve(node);
  // A node added from the launcher's page is the launcher's: it starts it again, as the
  // file's nodes, so that its output stays in the launcher's terminal.
  if (cluster.isAdded(id) && !await launcherRuns(cluster, id)) {
    await restartAdded(cluster, id);
    return;
  }
  // Ask the launcher first, so a cluster without one loses no node to a kill it cannot undo.
  try {
    await askLauncher(cluster.config.path, "GET", "/nodes");
  } catch (error) {
    if (error instanceof NoLauncherError) throw new ScriptError(error.message);
    throw error;
  }
  const pid = await cluster.pidOf(id);
  if (await killNode(cluster, id)) console.log(`Killed ${id} (pid ${pid}) with SIGKILL.`);
  // The launcher may not have reaped the old child yet; it answers 409 until it has.
  const deadline = Date.now() + waitBoundMs;
  let started: number | null = null;
  while (started === null) {
    const answer = await askLauncher(cluster.config.path, "POST",
      `/nodes/${encodeURIComponent(id)}/start`);
    if (answer.status === 200) {
      started = Number(answer.body.pid);
    } else if (Date.now() > deadline || !String(answer.body.error).includes("is running")) {
      throw new ScriptError(`the launcher could not start ${id}: ${String(answer.body.error)}`);
    } else {
      await sleep(50);
    }
  }
  const startedAt = Date.now();
  console.log(`Started ${id} again (pid ${started}); waiting for it to answer...`);
  for (;;) {
    const status = (await cluster.statuses()).get(id);
    if (status != null) {
      console.log(`${id} answers after ${Date.now() - startedAt} ms: ${status.role}, term ` +
        `${status.term}, applied ${status.appliedIndex}.`);
      return;
    }
    if (Date.now() - startedAt > waitBoundMs) {
      throw new ScriptError(`${id} was started but does not answer after ${waitBoundMs} ms; ` +
        "see the launcher's output");
    }
    await sleep(100);
  }
}

/**
 * A node added with member add is not the launcher's: it is started again here, detached, with
 * the command line it ran with (Node's own options, such as the heap flags of marketNodeFlags,
 * then its --join, URLs and folder), its output in a file.
 */
async function restartAdded(cluster: FaultCluster, id: string): Promise<void> {
  const added = await cluster.addedNode(id);
  const pid = await cluster.pidOf(id);
  if (await killNode(cluster, id)) console.log(`Killed ${id} (pid ${pid}) with SIGKILL.`);
  const logFile = path.join(tmpdir(), `raftmarket-${id}-${process.pid}.log`);
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, [...added.execArgv ?? [], ...added.argv.slice(1)],
    { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  closeSync(out);
  console.log(`Started ${id} again (pid ${child.pid}), as it was started: its output goes to ` +
    `${logFile}; waiting for it to answer...`);
  const startedAt = Date.now();
  while (Date.now() - startedAt < waitBoundMs) {
    const answer = (await cluster.statuses()).get(id);
    if (answer != null) {
      console.log(`${id} answers after ${Date.now() - startedAt} ms: ${answer.role}, term ` +
        `${answer.term}, applied ${answer.appliedIndex}.`);
      return;
    }
    await sleep(100);
  }
  throw new ScriptError(`${id} was started but does not answer after ${waitBoundMs} ms; see ` +
    logFile);
}

async function status(cluster: FaultCluster): Promise<void> {
  const statuses = await cluster.statuses();
  const pids = new Map(await Promise.all(cluster.ids.map(async (id) =>
    [id, await cluster.pidOf(id).catch(() => null)] as const)));
  const rows = cluster.ids.map((id) => {
    const pid = pids.get(id) ?? null;
    const state = processState(pid);
    const answer: NodeStatusBody | null | undefined = statuses.get(id);
    const raft = answer == null
      ? (state === "running" ? "not answering" : "-")
      : `${answer.role}, term ${answer.term}, commit ${answer.commitIndex}, applied ` +
        `${answer.appliedIndex}`;
    return [id, pid === null ? "-" : String(pid), state, raft];
  });
  const header = ["node", "pid", "process", "raft"];
  const widths = header.map((title, k) =>
    Math.max(title.length, ...rows.map((row) => row[k]!.length)));
  for (const row of [header, ...rows]) {
    console.log(row.map((cell, k) => k === row.length - 1 ? cell : cell.padEnd(widths[k]!))
      .join("  "));
  }
}

function program(): Command {
  const root = new Command()
    .name("npm run fault --")
    .description("Process faults on a running raftmarket cluster: crash, pause, resume and " +
      "restart nodes. <node> is a node id from the cluster file, or \"leader\" for the current " +
      "leader.")
    .option("--config <file>", "the cluster file", "cluster.config.json");
  // The cluster file's nodes and the members added since (discover).
  const cluster = async (): Promise<FaultCluster> => {
    const found = new FaultCluster(loadClusterConfig(root.opts<{ config: string }>().config));
    await found.discover();
    return found;
  };
  root.command("kill").argument("<node>", "a node id, or leader")
    .description("SIGKILL the node (a crash); it stays down until restarted")
    .action(async (node: string) => kill(await cluster(), node));
  root.command("pause").argument("<node>", "a node id, or leader")
    .description("SIGSTOP the node: frozen, its sockets open, like a long GC pause")
    .action(async (node: string) => pause(await cluster(), node));
  root.command("resume").argument("<node>", "a node id, or all")
    .description("SIGCONT a paused node")
    .action(async (node: string) => resume(await cluster(), node));
  root.command("restart").argument("<node>", "a node id, or leader")
    .description("crash-restart: SIGKILL the node if it runs, then have the npm run cluster " +
      "launcher start it again; waits until it answers")
    .action(async (node: string) => restart(await cluster(), node));
  root.command("status")
    .description("each node's pid, process state (running, paused, down) and Raft role")
    .action(async () => status(await cluster()));
  return root;
}

await runOperatorScript(program());
