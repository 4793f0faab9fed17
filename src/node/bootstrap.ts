/**
 * May a node whose data folder holds no Raft state (no term, no vote, no entries, no snapshot)
 * take part as a voter? Raft's safety rests on every voter keeping what it promised (§5.1,
 * Figure 2: currentTerm, votedFor and the log are on stable storage). A node that lost its
 * folder and rejoined as its old self could vote twice in a term, or vote in a candidate that
 * lacks entries it had helped commit: a hostile test lost 50 acknowledged orders that way.
 *
 * etcd's answer, and ours: a member publishes itself in the replicated state once it runs
 * (members.ts), and a node with an empty folder asks its peers first. The verdict:
 *
 *  - refuse, if any peer of this cluster has this id published: it ran here before;
 *  - proceed, if every peer answered and none has it published: it never ran here (a node
 *    started late the first time joins normally);
 *  - with `newCluster` only (market-node --new-cluster, which `npm run cluster` passes when
 *    every folder of the cluster is empty): proceed, if a majority of the cluster (this node
 *    included) answered and every answer came from a node without history (its folder empty
 *    too, or bootstrapped a moment ago: nothing applied, nobody published): a new cluster
 *    whose nodes start one by one;
 *  - otherwise wait, and ask again.
 *
 * The new-cluster rule is not the default because "no history" cannot be told from "cut off
 * since birth": a node that lost its disk, a peer that never heard from anyone and a third
 * node that is down but holds the committed log would form a majority of strangers (the
 * simulator found this, seed 80). Only the operator knows a cluster is new, as etcd's
 * --initial-cluster-state says.
 *
 * Why every peer, and not a majority: the publication was committed by some majority M,
 * possibly including this node itself; the other members of M may be as few as one peer, and
 * only an answer from that one shows the publication. (A node that voted or acknowledged
 * before its own publication committed, then lost its disk at once, is not caught: etcd has the
 * same window. The runtime check in RaftServer then stops it when its second publication
 * applies.)
 */
import type { Logger } from "pino";
import type { NodeId } from "../raft/index.js";
import type { PeerIdentity } from "../transport/index.js";

export type BootstrapVerdict =
  | { readonly kind: "proceed"; readonly reason: string }
  | { readonly kind: "refuse"; readonly message: string }
  | { readonly kind: "wait"; readonly waitingFor: readonly NodeId[]; readonly reason: string };

export interface BootstrapInput {
  readonly self: NodeId;
  readonly clusterId: string;
  /** Every other node of the cluster. */
  readonly peers: readonly NodeId[];
  /** The newest answer of each peer that answered. */
  readonly answers: ReadonlyMap<NodeId, PeerIdentity>;
  /** The operator says the cluster is being created (--new-cluster). */
  readonly newCluster: boolean;
}

export function decideBootstrap(input: BootstrapInput): BootstrapVerdict {
  const { self, clusterId, peers } = input;
  const answers = [...input.answers.values()].filter((answer) =>
    answer.clusterId === clusterId && peers.includes(answer.nodeId));
  for (const answer of answers) {
    const record = answer.members.find((member) => member.id === self);
    if (record === undefined) continue;
    return { kind: "refuse", message: `node ${self} has already run in cluster ${clusterId} ` +
      `(${answer.nodeId} has it published at index ${record.index}, incarnation ` +
      `${record.incarnation}), but its data folder holds no Raft state: its log and vote ` +
      "were lost, so it cannot rejoin as a voter under this id. Restore the folder from a " +
      `backup, or replace the node: market-cli member remove ${self}, member add with a new ` +
      "id, and start the new node with market-node --join (README: a node lost its disk)" };
  }
  const answered = new Set(answers.map((answer) => answer.nodeId));
  const waitingFor = peers.filter((peer) => !answered.has(peer));
  if (waitingFor.length === 0) {
    return { kind: "proceed", reason: peers.length === 0 ? "a cluster of one"
      : `every peer (${peers.join(", ")}) answered, and none has ${self} published` };
  }
  const clusterSize = peers.length + 1;
  const allNew = answers.every(hasNoHistory);
  if (input.newCluster && allNew && answered.size + 1 > clusterSize / 2) {
    return { kind: "proceed", reason: `a new cluster: a majority (${[self, ...answered]
      .join(", ")}) answered, and none of them has any history` };
  }
  return { kind: "wait", waitingFor, reason: input.newCluster && allNew
    ? `a majority of the cluster must answer before a new cluster starts`
    : `only an answer from every peer can show that ${self} never ran in this cluster` };
}

/** A node that has never applied anything, and knows of no member: a cluster being born. */
function hasNoHistory(answer: PeerIdentity): boolean {
  return answer.state === "joining" || (answer.appliedIndex === 0 && answer.members.length === 0);
}

export interface AwaitBootstrapOptions extends Omit<BootstrapInput, "answers"> {
  readonly query: (peer: NodeId) => Promise<PeerIdentity | null>;
  readonly logger: Logger;
  readonly retryIntervalMs?: number;
  readonly progressIntervalMs?: number;
  /** Stops the wait (the process is stopping): resolves to null. */
  readonly signal?: AbortSignal;
}

/**
 * Asks every peer, again and again, until the verdict is proceed or refuse: every 50 ms at
 * first (peers started at the same moment may not listen yet), backing off to retryIntervalMs.
 */
export async function awaitBootstrapVerdict(options: AwaitBootstrapOptions):
  Promise<Exclude<BootstrapVerdict, { kind: "wait" }> | null> {
  const retryIntervalMs = options.retryIntervalMs ?? 500;
  let delayMs = Math.min(50, retryIntervalMs);
  const progressIntervalMs = options.progressIntervalMs ?? 5000;
  const answers = new Map<NodeId, PeerIdentity>();
  // The first line after two seconds: peers started at the same moment answer within that.
  let lastProgressMs = performance.now() - progressIntervalMs + 2000;
  while (options.signal?.aborted !== true) {
    const replies = await Promise.all(options.peers.map(async (peer) =>
      [peer, await options.query(peer)] as const));
    for (const [peer, reply] of replies) {
      if (reply === null) continue;
      if (reply.clusterId !== options.clusterId) {
        options.logger.warn({ peer, clusterId: reply.clusterId },
          `peer ${peer} belongs to another cluster; its answer does not count`);
        continue;
      }
      answers.set(peer, reply);
    }
    const verdict = decideBootstrap({ ...options, answers });
    if (verdict.kind !== "wait") return verdict;
    const nowMs = performance.now();
    if (nowMs - lastProgressMs >= progressIntervalMs) {
      lastProgressMs = nowMs;
      options.logger.warn({ waitingFor: verdict.waitingFor }, `node ${options.self} has an ` +
        `empty data folder; waiting for ${verdict.waitingFor.join(", ")} to answer whether ` +
        `it ran in this cluster before (${verdict.reason})`);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(retryIntervalMs, delayMs * 2);
  }
  return null;
}
