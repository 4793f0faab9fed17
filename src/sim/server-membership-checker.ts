import {
  type ConfState,
  type NodeId,
  type RaftMessage,
} from "../raft/index.js";
import type { MembershipOutcome } from "../node/membership.js";
import type { RaftServer } from "../node/raft-server.js";
import { disjointQuorums } from "./checker.js";
import type { ServerCluster, ServerSimNode } from "./server-cluster.js";

/**
 * The server simulator's membership checks (issue 13, Verification), from what production
 * RaftServers show the outside: the messages they send (the network's tap, SimNetwork.onSend),
 * the Raft events they record (RaftServer.raftEvents, as GET /v1/cluster/events serves them),
 * their status, and the answers of RaftServer.changeMembership. A violation is reported the
 * moment it is seen:
 *  - election safety across configurations: at most one node sends a leader's messages
 *    (appends, heartbeats, snapshots, TimeoutNow) in a term, and at most one is elected in it;
 *  - every configuration change a node puts in force (a confChanged event) overlaps the
 *    configuration before it: no two disjoint quorums (checker.ts's disjointQuorums), and none
 *    is skipped as invalid (no correct leader appends one that cannot apply);
 *  - every node that puts the change of entry i in force reaches the same configuration;
 *  - a node that lost its disk never grants a vote nor acknowledges an append, a heartbeat or a
 *    snapshot after the loss (it has no memory of what it promised as its old self);
 *  - a change answered "applied at index i" has applied on the node that answered (its applied
 *    index is at least i), and its configuration is the one every node reaches at i;
 *  - a promotion is never taken for a learner that has not answered any leader yet.
 */

/** Bounds the configurations remembered per entry index. */
const confByEntryMax = 10_000;
/** Raft events read from one node per poll. */
const eventsPerPollMax = 1000;

/** The messages only a leader sends. */
const leaderMessageTypes: ReadonlySet<RaftMessage["type"]> =
  new Set(["append", "heartbeat", "snapshot", "timeoutNow"]);

export class MembershipChecker {
  private readonly leaderByTerm = new Map<number, NodeId>();
  private readonly electedByTerm = new Map<number, NodeId>();
  private readonly confByEntry = new Map<number, string>();
  /** Per server incarnation: the seq of the last Raft event read. */
  private readonly eventCursors = new WeakMap<RaftServer, number>();
  /** Changes answered as applied: checked again at the end against confByEntry. */
  private readonly answered: { node: NodeId; index: number; conf: string }[] = [];
  /** Configuration changes seen put in force, for the statistics. */
  changesSeen = 0;
  /** Nodes that have answered a leader (an append, heartbeat or snapshot response). */
  private readonly answeredLeader = new Set<NodeId>();

  constructor(private readonly cluster: ServerCluster,
    private readonly fail: (message: string) => void) {}

  /** The network's tap: every message as a node sends it. */
  observeSend(from: NodeId, message: RaftMessage): void {
    if (leaderMessageTypes.has(message.type)) {
      const leader = this.leaderByTerm.get(message.term);
      if (leader === undefined) this.leaderByTerm.set(message.term, from);
      else if (leader !== from) {
        this.fail(`election safety: ${leader} and ${from} both acted as leader of term ` +
          `${message.term} (${from} sent ${message.type} to ${message.to})`);
      }
    }
    if (message.type === "appendResponse" || message.type === "heartbeatResponse" ||
      message.type === "snapshotResponse") {
      this.answeredLeader.add(from);
    }
    const node = this.cluster.nodes.get(from);
    if (node === undefined || node.lostAtMs === null) return;
    const promise = promiseOf(message);
    if (promise !== null) {
      this.fail(`${from} lost its disk at ${node.lostAtMs} ms, yet sent ${promise} to ` +
        `${message.to} in term ${message.term} as its old self`);
    }
  }

  /** Reads the Raft events every running node recorded since the last poll. */
  poll(): void {
    for (const node of this.cluster.nodes.values()) {
      const server = node.server;
      if (server === null) continue;
      const after = this.eventCursors.get(server) ?? 0;
      const page = server.raftEvents(after, eventsPerPollMax);
      if (page.lastSeq === after) continue;
      this.eventCursors.set(server, page.lastSeq);
      for (const event of page.events) {
        if (event.kind === "leaderElected") this.noteElected(node.id, event.term);
        else if (event.kind === "confChangeSkipped") {
          this.fail(`configuration change at ${event.entryIndex} skipped on ${node.id}: ` +
            `${event.problem} (no correct leader appends one that cannot apply)`);
        } else if (event.kind === "confChanged") {
          this.noteConfChanged(node.id, event.entryIndex, event.previous, event.conf);
        }
      }
    }
  }

  private noteElected(id: NodeId, term: number): void {
    const elected = this.electedByTerm.get(term);
    if (elected === undefined) this.electedByTerm.set(term, id);
    else if (elected !== id) this.fail(`election safety: ${elected} and ${id} both elected in term ${term}`);
  }

  private noteConfChanged(id: NodeId, entryIndex: number, previous: ConfState,
    conf: ConfState): void {
    this.changesSeen++;
    const key = confKey(conf);
    const known = this.confByEntry.get(entryIndex);
    if (known === undefined) {
      if (this.confByEntry.size < confByEntryMax) this.confByEntry.set(entryIndex, key);
    } else if (known !== key) {
      this.fail(`configuration of entry ${entryIndex}: ${id} reached ${key}, another node ${known}`);
    }
    const disjoint = disjointQuorums(previous, conf);
    if (disjoint !== null) {
      this.fail(`configuration change at ${entryIndex} on ${id}: from ${confKey(previous)} to ` +
        `${key}, which have the disjoint quorums ${disjoint[0].join(",")} and ` +
        `${disjoint[1].join(",")}`);
    }
  }

  /** Whether `id` has ever answered a leader: a learner that has not is not caught up. */
  hasAnsweredLeader(id: NodeId): boolean {
    return this.answeredLeader.has(id);
  }

  /**
   * A promotion `leader` took (appended): issue 13 allows one only once the learner is caught
   * up and was heard from lately, so never for a learner that has not answered any leader yet.
   */
  checkPromotion(leader: NodeId, learner: NodeId, answeredBefore: boolean): void {
    if (!answeredBefore) {
      this.fail(`${leader} took the promotion of ${learner}, a learner that had never answered ` +
        "a leader (it cannot be caught up)");
    }
  }

  /** A change answered by `node` (its server `server`, which answered). */
  checkAnswer(node: ServerSimNode, server: RaftServer, outcome: MembershipOutcome): void {
    if (outcome.kind !== "applied") return;
    // Only a live server answers "applied": a crashed one answers nothing.
    const applied = server.status().appliedIndex;
    if (applied < outcome.index) {
      this.fail(`${node.id} answered a membership change as applied at index ${outcome.index}, ` +
        `but has applied only up to ${applied}`);
    }
    this.answered.push({ node: node.id, index: outcome.index, conf: confKey(outcome.conf) });
  }

  /** At the end: each change answered as applied is the configuration every node reached. */
  finalCheck(finalMembers: readonly ServerSimNode[]): string | null {
    this.poll();
    for (const answer of this.answered) {
      const known = this.confByEntry.get(answer.index);
      if (known !== undefined && known !== answer.conf) {
        return `${answer.node} answered the change at ${answer.index} as applied with ` +
          `${answer.conf}, but the nodes reached ${known} there`;
      }
    }
    // Every current member ends in one configuration (after the heal and convergence).
    const confs = new Set(finalMembers.map((node) => confKey(confOfServer(node.server!))));
    if (confs.size > 1) return `the current members end in different configurations: ${[...confs].join(" ")}`;
    return null;
  }
}

/** What a message promises about its sender's durable state, or null. */
function promiseOf(message: RaftMessage): string | null {
  switch (message.type) {
    case "requestVoteResponse":
    case "preVoteResponse":
      return message.granted ? `a ${message.type === "preVoteResponse" ? "pre-" : ""}vote grant`
        : null;
    case "appendResponse":
      return message.success ? `an append acknowledgement (index ${message.index})` : null;
    case "heartbeatResponse":
      return "a heartbeat acknowledgement";
    case "snapshotResponse":
      return "a snapshot acknowledgement";
    default:
      return null;
  }
}

/** The configuration in force on a server (committed: what its leader counts quorums with,
 * once nothing is in flight). */
export function confOfServer(server: RaftServer): ConfState {
  const status = server.status();
  return { voters: status.members, learners: status.learners ?? [],
    votersOutgoing: status.votersOutgoing ?? [] };
}

export function confKey(conf: ConfState): string {
  const sorted = (ids: readonly NodeId[]): NodeId[] => [...ids].sort();
  return JSON.stringify({ voters: sorted(conf.voters), learners: sorted(conf.learners),
    votersOutgoing: sorted(conf.votersOutgoing) });
}
