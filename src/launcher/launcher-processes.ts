/**
 * The launcher's node processes as the live view acts on them: the cluster file's nodes and the
 * learners added from the page (member-add), which run with market-node --join. Kill, restart,
 * pause and resume act on these only: a member added with `market-cli member add` and started
 * by hand is not the launcher's to signal, and is refused with 409 conflict saying so. A node
 * whose data folder is fenced (removed from the cluster) is not started again: market-node
 * would refuse it, and the page would show a restart that did nothing.
 *
 * A removed member stops by itself once it applies its removal, but it may never see that
 * entry: the leader stops replicating to it as soon as the change applies there, and the
 * commit may not have reached it by then. After a removal from the page, the launcher gives
 * its process a grace period, then stops it and fences its folder as the node would have, so
 * that a member removed from the cluster never runs on, nor starts again, under the launcher.
 *
 * The added nodes outlive the launcher: it records each in a file beside the data folders
 * (launcher-record.ts), and its next run starts them again, until they are removed.
 */
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { ApiError } from "../api/api-error.js";
import type {
  NewNodeControl,
  NewNodePlace,
  ProcessControl,
} from "../dashboard/dashboard-actions.js";
import type { ProcessState } from "../dashboard/dashboard-frame.js";
import { dataDirIsPristine, readIdentity, writeIdentity } from "../storage/index.js";
import type { ClusterConfig } from "../cluster/cluster-config.js";
import { distinctFreePort } from "../cluster/free-port.js";

/** A node the launcher added: not in the cluster file, it runs with market-node --join. */
export interface JoiningNode extends NewNodePlace {
  /** Client URLs of the members it asks, in turn, on its first start. */
  readonly joinUrls: readonly string[];
}

/**
 * The nodes added from the page that the next launcher run starts again (launcher-record.ts):
 * each is added when the launcher starts it, and forgotten once it is removed (fenced).
 */
export interface AddedNodes {
  nodes(): JoiningNode[];
  add(node: JoiningNode): void;
  /** Does nothing if `id` is not recorded. */
  forget(id: string): void;
}

/** The launcher's bookkeeping that the process actions read and change. */
export interface ProcessTable {
  /** Every node the launcher runs (the file's, then the added), by id: its process or null. */
  readonly children: Map<string, ChildProcess | null>;
  readonly paused: Set<string>;
  readonly joining: Map<string, JoiningNode>;
  readonly record: AddedNodes;
  /** Starts the node `id` (of the file or joining); its exit sets its entry back to null. */
  launch(id: string): ChildProcess;
  stopping(): boolean;
  /** Says what the launcher did on its own (its output and the timeline). */
  note(id: string, message: string): void;
}

/** How long a removed member may take to stop by itself, at least, and in election timeouts. */
const removalGraceMsMin = 2000;
const removalGraceElectionTimeouts = 10;
/** How long a node asked to stop (SIGTERM) may take before it is killed. */
const stopGraceMs = 5000;

/** Candidate ids tried for a new node: n1, n2, ... up to this. */
const freshIdCandidatesMax = 1000;

/**
 * market-node's options for a joining node, after --config and --id. The same on every start:
 * with a folder it already initialised, market-node restarts from the join record it wrote
 * there and asks no member (cli/market-node.ts settleJoin), so a restart needs no leader.
 */
export function joinArgs(node: JoiningNode): string[] {
  return ["--join", node.joinUrls.join(","), "--peer-url", node.peerUrl, "--client-url",
    node.clientUrl, "--data-dir", node.dataDir];
}

/** The folder of the added nodes' data folders: that of the file's first node's folder. */
export function addedNodesParent(config: { readonly nodes: readonly { dataDir: string }[] }):
  string {
  // Beside the file's first node's folder: data/n1 gives data/n4.
  return path.dirname(config.nodes[0]!.dataDir);
}

/** The data folder of the launcher's node `id` (absolute). */
function dataDirOf(config: ClusterConfig, table: ProcessTable, id: string): string {
  const joining = table.joining.get(id);
  if (joining !== undefined) return joining.dataDir;
  const node = config.nodes.find((candidate) => candidate.id === id);
  if (node === undefined) throw new Error(`the launcher has no node ${id}`);
  return node.dataDir;
}

/** Why the folder will not start again (removed, or fenced by --repair), or null. */
export function fenceOf(dataDir: string): string | null {
  try {
    return readIdentity(dataDir)?.fence?.reason ?? null;
  } catch {
    // An unreadable identity file: market-node says what is wrong when it starts.
    return null;
  }
}

/** The dashboard's kill, restart, pause and resume, on the launcher's own children. */
export function processControl(config: ClusterConfig, table: ProcessTable):
  ProcessControl & { states(): Map<string, { process: ProcessState; pid: number | null }> } {
  const { children, paused } = table;
  const owned = (id: string, verb: string): ChildProcess | null => {
    if (!children.has(id)) {
      throw new ApiError("conflict", `${id} was not started by this launcher (a member added ` +
        `with member add and started by hand): the launcher cannot ${verb} it; use npm run ` +
        `fault -- ${verb} ${id}, or stop it where it runs`, { node: id });
    }
    return children.get(id) ?? null;
  };
  const kill = async (child: ChildProcess | null): Promise<boolean> => {
    if (child === null) return false;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
    return true;
  };
  return {
    states: () => new Map([...children].map(([id, child]) => {
      const process: ProcessState = child === null ? "down" : paused.has(id) ? "paused"
        : "running";
      return [id, { process, pid: child?.pid ?? null }] as const;
    })),
    kill: async (id) => await kill(owned(id, "kill")) ? `killed ${id} with SIGKILL`
      : `${id} is already down`,
    restart: async (id) => {
      const child = owned(id, "restart");
      if (table.stopping()) throw new ApiError("conflict", "the cluster is stopping");
      // Fenced: removed (a running process is about to stop), or cut off by --repair.
      const fence = fenceOf(dataDirOf(config, table, id));
      if (fence !== null) {
        throw new ApiError("conflict", `${id} does not start again: its data folder is fenced ` +
          `(${fence}); add a new learner instead`, { node: id });
      }
      const wasRunning = await kill(child);
      const started = table.launch(id);
      return `${wasRunning ? "restarted" : "started"} ${id} (pid ${started.pid})`;
    },
    pause: async (id) => {
      const child = owned(id, "pause");
      if (child === null) return `${id} is down; there is nothing to pause`;
      child.kill("SIGSTOP");
      paused.add(id);
      return `paused ${id} with SIGSTOP`;
    },
    resume: async (id) => {
      const child = owned(id, "resume");
      if (child === null) return `${id} is down; restart it instead`;
      child.kill("SIGCONT");
      paused.delete(id);
      return `resumed ${id} with SIGCONT`;
    },
    removed: (id, index) => {
      if (!children.has(id)) return "";
      const { tickIntervalMs, electionTimeoutTicks } = config.timing;
      const graceMs = Math.max(removalGraceMsMin,
        removalGraceElectionTimeouts * tickIntervalMs * electionTimeoutTicks);
      retireRemoved(config, table, id, index, graceMs).catch((error: Error) =>
        table.note(id, `could not stop the removed ${id}: ${error.message}`));
      return `the launcher stops it if it still runs in ${graceMs} ms`;
    },
  };
}

/** Resolves true once `child` has exited, or false after `timeoutMs`. */
function exitWithin(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Waits `graceMs` for the removed member `id` to stop by itself; then stops it (SIGTERM, then
 * SIGKILL) and fences its folder as market-node does on its own removal, unless it is fenced.
 */
async function retireRemoved(config: ClusterConfig, table: ProcessTable, id: string,
  index: number, graceMs: number): Promise<void> {
  const child = table.children.get(id) ?? null;
  if (child !== null && !await exitWithin(child, graceMs) && table.children.get(id) === child) {
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    if (!await exitWithin(child, stopGraceMs)) child.kill("SIGKILL");
    table.note(id, `${id} did not stop by itself within ${graceMs} ms of its removal (it had ` +
      "not learned of it): the launcher stopped it");
  }
  const dataDir = dataDirOf(config, table, id);
  const identity = readIdentity(dataDir);
  if (identity !== null && identity.fence === null) {
    writeIdentity(dataDir, { ...identity, fence: { reason: `removed from the cluster at ` +
      `index ${index} (fenced by the launcher)`, at: new Date().toISOString() } });
    table.note(id, `${id}'s data folder is fenced: it does not start again as ${id}`);
  }
  // Removed: the next launcher run has nothing to start for it.
  table.record.forget(id);
}

/**
 * member-add's launcher half: an id never used in this cluster (nor by a folder beside the
 * others), two free loopback ports, a folder beside the cluster file's nodes' folders; then the
 * process, which the table runs from then on like the file's nodes (restart, Ctrl-C).
 */
export function newNodeControl(config: ClusterConfig, table: ProcessTable): NewNodeControl {
  const parent = addedNodesParent(config);
  return {
    async place(used) {
      if (table.stopping()) throw new ApiError("conflict", "the cluster is stopping");
      if (config.tls !== undefined) {
        throw new ApiError("conflict", "the page cannot add a node to a cluster with TLS: a " +
          "joining node has no certificate in the cluster file (market-node --join refuses)");
      }
      const ids = new Set([...used.ids, ...config.nodes.map((node) => node.id),
        ...table.children.keys(), ...table.record.nodes().map((node) => node.id)]);
      let id: string | null = null;
      for (let k = 1; k <= freshIdCandidatesMax && id === null; k++) {
        const candidate = `n${k}`;
        if (!ids.has(candidate) && dataDirIsPristine(path.join(parent, candidate))) id = candidate;
      }
      if (id === null) {
        throw new ApiError("limit_exceeded", `no fresh id among n1..n${freshIdCandidatesMax}`);
      }
      // Not a port of any node of this cluster, down ones included: they start again on
      // theirs; nor of a recorded node whose folder is missing now: it may come back.
      const added = [...table.joining.values(), ...table.record.nodes()];
      const taken = new Set([...used.ports, ...config.nodes.flatMap((node) =>
        [node.clientPort, node.peerPort]), ...added.flatMap((node) =>
        [node.peerUrl, node.clientUrl].map((url) => Number(new URL(url).port)))]);
      const clientPort = await distinctFreePort(taken);
      const peerPort = await distinctFreePort(taken);
      return { id, peerUrl: `http://127.0.0.1:${peerPort}`,
        clientUrl: `http://127.0.0.1:${clientPort}`, dataDir: path.join(parent, id) };
    },
    start(place, joinUrls) {
      const node = { ...place, joinUrls: [...joinUrls] };
      // Recorded before it starts: a launcher stopped right after still knows the node.
      table.record.add(node);
      table.joining.set(place.id, node);
      table.children.set(place.id, null);
      return table.launch(place.id).pid ?? 0;
    },
  };
}
