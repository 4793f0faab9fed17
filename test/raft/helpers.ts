/**
 * Shared helpers for the cluster-level Raft tests (election, agreement, log repair, RPC counts,
 * persistence, Figure 8, churn). They drive a SimCluster from src/sim/ and check it from the
 * outside: a SafetyMonitor watches every message and every applied entry through the cluster's
 * observer hooks and fails the test at the first broken safety property, and the other helpers
 * wait (in ticks, never in wall-clock time) for liveness properties with an explicit bound.
 */
import { expect } from "chai";
import type { Entry, NodeId, RaftConfig, RaftMessage } from "../../src/raft/index.js";
import { SafetyChecker } from "../../src/sim/checker.js";
import {
  nodeIds,
  SimCluster,
  type ClusterObserver,
  type NetworkFaults,
  type SimNode,
} from "../../src/sim/cluster.js";

/** The default election timeout, T. Followers time out after a random delay in [T, 2T). */
export const electionTimeoutTicks = 10;

export interface ClusterOptions {
  readonly config?: Partial<RaftConfig>;
  readonly network?: NetworkFaults;
}

/** A cluster of `count` nodes "n1".."nN" with the default config unless overridden. */
export function makeCluster(count: number, seed: number, options: ClusterOptions = {}): SimCluster {
  return new SimCluster({ ids: nodeIds(count), seed, ...options });
}

/**
 * Adds hooks to the cluster's observer, keeping the ones already there: several helpers of one
 * test (a SafetyMonitor and a message counter, say) can watch the same cluster.
 */
export function addObserver(cluster: SimCluster, added: ClusterObserver): void {
  const previous = cluster.observer;
  cluster.observer = {
    onReady(node, ready) {
      previous.onReady?.(node, ready);
      added.onReady?.(node, ready);
    },
    onSend(node, message) {
      previous.onSend?.(node, message);
      added.onSend?.(node, message);
    },
    onApply(node, entry) {
      previous.onApply?.(node, entry);
      added.onApply?.(node, entry);
    },
  };
}

/** Counts the messages put on the wire that satisfy `predicate`, from now on. */
export function countMessages(
  cluster: SimCluster,
  predicate: (message: RaftMessage) => boolean,
): { count: number } {
  const counter = { count: 0 };
  addObserver(cluster, {
    onSend(_node, message) {
      if (predicate(message)) counter.count++;
    },
  });
  return counter;
}

function describeEntry(entry: Entry): string {
  return `${entry.index}/${entry.term} "${entry.data}"`;
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.index === b.index && a.term === b.term && a.kind === b.kind && a.data === b.data;
}

/**
 * Watches a cluster for the safety properties of §5.2 and §5.4.3 while it runs, and throws at
 * the first violation, so that the failing step is on the stack:
 *   - Election Safety: at most one leader per term. A node counts as leader of term t when it
 *     sends an append or heartbeat in term t, or when checkLeaders() finds it leading in t.
 *   - State Machine Safety: no two nodes ever apply different entries at one index, and a
 *     restarted node replays exactly what it applied before.
 * It also attaches the simulator's SafetyChecker (src/sim/checker.ts), which adds Log Matching,
 * Leader Completeness, the §5.4.2 commitment rule and durability (no vote or acknowledgement
 * before the state it promises is on disk), so every scenario here is checked for those too.
 */
export class SafetyMonitor {
  /** The leader of each term seen so far. */
  readonly leaderByTerm = new Map<number, NodeId>();
  /** The one entry ever applied at each index, by any node. */
  readonly appliedByIndex = new Map<number, Entry>();
  readonly checker: SafetyChecker;

  constructor(private readonly cluster: SimCluster) {
    // The checker installs itself as the cluster's only observer; keep any hooks already there.
    const previous = cluster.observer;
    this.checker = new SafetyChecker(cluster);
    addObserver(cluster, previous);
    addObserver(cluster, {
      onSend: (node, message) => {
        if (message.type === "append" || message.type === "heartbeat") {
          this.recordLeader(message.term, node.id);
        }
      },
      onApply: (node, entry) => this.recordApplied(node, entry),
    });
  }

  /** Records every live node that currently believes it leads; call it after each step. */
  checkLeaders(): void {
    for (const node of this.cluster.leaders()) this.recordLeader(node.raft.status().term, node.id);
    this.checker.checkRoles();
  }

  /** The number of distinct entries applied anywhere. */
  appliedCount(): number {
    return this.appliedByIndex.size;
  }

  private recordLeader(term: number, id: NodeId): void {
    const known = this.leaderByTerm.get(term);
    if (known !== undefined && known !== id) {
      expect.fail(`two leaders in term ${term}: ${known} and ${id}`);
    }
    this.leaderByTerm.set(term, id);
  }

  private recordApplied(node: SimNode, entry: Entry): void {
    const known = this.appliedByIndex.get(entry.index);
    if (known !== undefined && !sameEntry(known, entry)) {
      expect.fail(
        `${node.id} applied ${describeEntry(entry)} where ${describeEntry(known)} was applied`,
      );
    }
    this.appliedByIndex.set(entry.index, entry);
  }
}

/** The entries `node` holds in memory, from index 1 to its last index. */
export function logOf(node: SimNode): readonly Entry[] {
  return node.raft.entries(1, node.raft.status().lastLogIndex + 1);
}

/** The data of each applied entry, no-ops (empty data) included. */
export function appliedData(node: SimNode): string[] {
  return node.applied.map((entry) => entry.data);
}

/** Asserts that any two nodes' applied sequences agree on their common prefix. */
export function expectAppliedPrefixes(nodes: Iterable<SimNode>): void {
  const all = [...nodes];
  for (const a of all) {
    for (const b of all) {
      const commonCount = Math.min(a.applied.length, b.applied.length);
      for (let k = 0; k < commonCount; k++) {
        const entryA = a.applied[k]!;
        const entryB = b.applied[k]!;
        if (!sameEntry(entryA, entryB)) {
          expect.fail(`${a.id} applied ${describeEntry(entryA)} but ${b.id} applied ` +
            describeEntry(entryB));
        }
      }
    }
  }
}

/** Asserts that every live node applied the same entries, in the same order. */
export function expectSameApplied(cluster: SimCluster): void {
  const [first, ...rest] = cluster.upNodes();
  if (first === undefined) return;
  for (const node of rest) {
    expect(node.applied, `${node.id} versus ${first.id}`).to.deep.equal(first.applied);
  }
}

/** Asserts that every live node holds the same log, entry for entry. */
export function expectSameLogs(cluster: SimCluster): void {
  const [first, ...rest] = cluster.upNodes();
  if (first === undefined) return;
  for (const node of rest) {
    expect(logOf(node), `log of ${node.id} versus ${first.id}`).to.deep.equal(logOf(first));
  }
}

/**
 * Ticks until exactly one live node among `ids` leads, every other node of `ids` follows it,
 * and they all share its term; fails after `ticksMax` ticks. Returns the leader.
 */
export function waitForLeader(
  cluster: SimCluster,
  ticksMax: number,
  ids: readonly NodeId[] = cluster.ids,
): SimNode {
  const settled = (): SimNode | null => {
    const group = cluster.upNodes().filter((node) => ids.includes(node.id));
    const leaders = group.filter((node) => node.raft.status().role === "leader");
    if (leaders.length !== 1) return null;
    const leader = leaders[0]!;
    const term = leader.raft.status().term;
    const agreed = group.every((node) => {
      const status = node.raft.status();
      return status.term === term && status.leaderId === leader.id;
    });
    return agreed ? leader : null;
  };
  const held = cluster.tickUntil(() => settled() !== null, ticksMax);
  expect(held, `no settled leader among ${ids.join(",")} within ${ticksMax} ticks`).to.equal(true);
  return settled()!;
}

/**
 * The classic lab's one(): proposes `data` at the current leader and ticks until `nodesMin`
 * live nodes have applied it. A proposal lost with its leader is proposed again at the next
 * leader, so the entry may appear more than once in the log. Returns the index where it was
 * applied; fails after `ticksMax` ticks.
 */
export function commitOne(
  cluster: SimCluster,
  data: string,
  nodesMin: number,
  ticksMax = 30 * electionTimeoutTicks,
): number {
  let index: number | null = null;
  let proposedAt = 0;
  for (let tick = 0; tick < ticksMax; tick++) {
    if (index !== null && cluster.appliedCount(index, data) >= nodesMin) return index;
    const retryDue = index === null || tick - proposedAt >= 2 * electionTimeoutTicks;
    if (retryDue) {
      const proposed = cluster.propose(data);
      if (proposed !== null) {
        index = proposed;
        proposedAt = tick;
        cluster.stabilize();
        continue;
      }
    }
    cluster.tick();
  }
  if (index !== null && cluster.appliedCount(index, data) >= nodesMin) return index;
  return expect.fail(`"${data}" was not applied by ${nodesMin} nodes within ${ticksMax} ticks`);
}
