/**
 * The state a scenario file runs against: one SimCluster (src/sim/cluster.ts) and the output
 * of the command being run. The cluster's observer hooks print, in the order they happen,
 * every message put on the wire, every change of a node's role, term or leader, and every
 * answer to a linearizable read.
 */
import type { NodeId, RaftConfig, RaftMessage } from "../../../src/raft/index.js";
import { nodeIds, SimCluster, type SimNode } from "../../../src/sim/cluster.js";
import { formatMessage } from "./format.js";

export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
}

export class ScenarioEnv {
  private clusterOrNull: SimCluster | null = null;
  private lines: string[] = [];
  /** The role/term/leader last printed for each node, so only changes are printed. */
  private readonly shownState = new Map<NodeId, string>();

  get cluster(): SimCluster {
    if (this.clusterOrNull === null) throw new ScenarioError("no cluster: run add-nodes first");
    return this.clusterOrNull;
  }

  createCluster(count: number, seed: number, config: Partial<RaftConfig>): void {
    if (this.clusterOrNull !== null) throw new ScenarioError("add-nodes runs once per file");
    const cluster = new SimCluster({ ids: nodeIds(count), seed, config });
    cluster.observer = {
      onReady: (node, ready) => {
        this.noteState(node);
        // Answers to linearizable reads (§6.4), in the order the Ready carries them.
        for (const read of ready.readStates) {
          this.print(`${node.id} readState context=${read.context} index=${read.index}`);
        }
        for (const context of ready.droppedReads) this.print(`${node.id} droppedRead ${context}`);
      },
      onSend: (_node, message) => this.print(this.describeSend(message)),
    };
    this.clusterOrNull = cluster;
    for (const node of cluster.nodes.values()) this.shownState.set(node.id, stateKey(node));
  }

  node(id: NodeId): SimNode {
    const node = this.cluster.nodes.get(id);
    if (node === undefined) throw new ScenarioError(`no node ${id}`);
    return node;
  }

  /** Parses "n1,n2" into ids, checking each names a node. */
  nodeList(text: string): NodeId[] {
    return text.split(",").filter((id) => id !== "").map((id) => this.node(id).id);
  }

  print(line: string): void {
    this.lines.push(line);
  }

  /** Runs `body`; if it printed anything, puts `header` before its lines. */
  section(header: string, body: () => void): void {
    const outer = this.lines;
    this.lines = [];
    try {
      body();
    } finally {
      const inner = this.lines;
      this.lines = outer;
      if (inner.length > 0) this.lines.push(header, ...inner);
    }
  }

  takeOutput(): string[] {
    const output = this.lines;
    this.lines = [];
    return output;
  }

  /** A restarted node is a new RaftNode: what it recovered is its state from now on. */
  forgetState(node: SimNode): void {
    this.shownState.set(node.id, stateKey(node));
  }

  private noteState(node: SimNode): void {
    const key = stateKey(node);
    if (this.shownState.get(node.id) === key) return;
    this.shownState.set(node.id, key);
    this.print(`${node.id} becomes ${key}`);
  }

  private describeSend(message: RaftMessage): string {
    const cluster = this.cluster;
    const target = cluster.nodes.get(message.to);
    const lost = target === undefined || !target.up || !cluster.linkUp(message.from, message.to);
    return `${formatMessage(message)}${lost ? " (dropped)" : ""}`;
  }
}

function stateKey(node: SimNode): string {
  const status = node.raft.status();
  const leader = status.role === "follower" ? ` leader=${status.leaderId ?? "none"}` : "";
  return `${status.role} term=${status.term}${leader}`;
}
