import {
  applyConfChange, confOfStatus, decodeConfChange, type ConfState, type Entry, type NodeId,
  type RaftMessage, type Ready,
} from "../raft/index.js";
import { restoreToyState, type ClusterObserver, type SimCluster, type SimNode } from "./cluster.js";

/**
 * The simulator's safety checker. It watches every Ready, every message on the wire and every
 * applied entry of a SimCluster, and records a violation the moment one of Raft's guarantees
 * (Figure 3 of the paper) or our durability rule breaks:
 *
 * - Election Safety: at most one leader per term.
 * - Log Matching: two entries with the same index and term hold the same data, and so do all
 *   entries before them. Checked incrementally: every entry that enters any log passes through
 *   a Ready, and for each (index, term) we remember its data and the term of its predecessor.
 * - Leader Completeness: a new leader holds every entry already applied anywhere.
 * - Commitment (§5.4.2): while a node stays leader of one term, its commit index advances only
 *   onto entries of that term; earlier entries commit only indirectly.
 * - State Machine Safety: no two nodes apply different entries at one index.
 * - Persisted term and commit never go backwards, and a vote, once persisted, never changes
 *   within its term.
 * - Durability: a vote grant or an append acknowledgement goes out only after the state it
 *   promises is on the node's disk.
 * - Linearizable reads: a ReadIndex answer is at least every commit index known when the read
 *   began.
 * - Membership: every configuration change keeps the quorums before and after it overlapping.
 * - No protocol violations (Ready.violations): every simulated node is honest and keeps what
 *   it persisted, so a message the core finds impossible is a bug in the sender's core. Faults
 *   that make a node forget what it promised (a lost disk) excuse them: see
 *   excuseProtocolViolations().
 */
/** Bounds the configuration each entry reached (checkConfigurationChanges). */
const confByEntryMax = 10_000;

export class SafetyViolation extends Error {
  override readonly name = "SafetyViolation";
}

interface EntryRecord {
  readonly data: string;
  readonly previousTerm: number;
}

export class SafetyChecker implements ClusterObserver {
  private readonly leaderByTerm = new Map<number, NodeId>();
  private readonly entriesByKey = new Map<string, EntryRecord>();
  private readonly appliedByIndex = new Map<number, Entry>();
  private appliedIndexMax = 0;
  /** Reads in progress: context -> the highest commit index known when the read began. */
  private readonly readFloors = new Map<string, number>();
  /** Per node: the term it was leader of at its last Ready, if it was leader then. */
  private readonly leaderTermAtLastReady = new Map<NodeId, number>();
  readonly violations: string[] = [];
  /** Entry index -> the configuration its change reached, as JSON. */
  private readonly confByEntry = new Map<number, string>();
  /** Set once a fault made some node forget its durable state: its peers may then see it
   * (or be seen by it) say impossible things, which the cores must survive but may report. */
  private protocolViolationsExcused = false;

  constructor(private readonly cluster: SimCluster) {
    cluster.observer = this;
  }

  private fail(message: string): void {
    this.violations.push(`tick ${this.cluster.now}: ${message}`);
    throw new SafetyViolation(message);
  }

  private noteLeader(term: number, id: NodeId): void {
    const known = this.leaderByTerm.get(term);
    if (known === undefined) {
      this.leaderByTerm.set(term, id);
      this.checkLeaderCompleteness(this.cluster.node(id), term);
    } else if (known !== id) {
      this.fail(`election safety: ${known} and ${id} are both leaders of term ${term}`);
    }
  }

  /** Every entry applied anywhere is committed, so every later leader must hold it (§5.4). */
  private checkLeaderCompleteness(leader: SimNode, term: number): void {
    // Entries in the leader's snapshot were checked when it applied or installed them.
    const compactedIndex = leader.raft.compactedIndex();
    for (const [index, entry] of this.appliedByIndex) {
      if (entry.term >= term || index <= compactedIndex) continue;
      const held = leader.raft.termAt(index);
      if (held !== entry.term) {
        this.fail(`leader completeness: leader ${leader.id} of term ${term} holds term ` +
          `${held} at ${index}, but an entry of term ${entry.term} was committed there`);
      }
    }
  }

  /** A fault injector calls this when it wipes or rolls back a node's disk. */
  excuseProtocolViolations(): void {
    this.protocolViolationsExcused = true;
  }

  onReady(node: SimNode, ready: Ready): void {
    const violation = ready.violations[0];
    if (violation !== undefined && !this.protocolViolationsExcused) {
      this.fail(`protocol violation: ${node.id} got ${violation.type} from ${violation.from}: ` +
        `${violation.reason} (${violation.detail})`);
    }
    this.checkConfigurationChanges(node, ready);
    const previous = node.disk.hardState;
    const next = ready.hardState;
    if (next !== null) {
      if (next.term < previous.term) this.fail(`${node.id}: persisted term went back`);
      if (next.commit < previous.commit) this.fail(`${node.id}: persisted commit went back`);
      if (next.term === previous.term && previous.vote !== null && next.vote !== previous.vote) {
        this.fail(`${node.id}: changed its vote in term ${next.term} from ${previous.vote} ` +
          `to ${String(next.vote)}`);
      }
    }
    const status = node.raft.status();
    if (ready.softState?.role === "leader") this.noteLeader(status.term, node.id);
    this.checkCommitment(node, ready);
    this.leaderTermAtLastReady.set(node.id, status.role === "leader" ? status.term : -1);
    if (ready.snapshot !== null) {
      // An installed snapshot is a batch of applied entries: they must agree with the rest.
      for (const entry of restoreToyState(ready.snapshot)) this.onApply(node, entry);
    }
    for (const entry of ready.entries) this.checkLogMatching(node, entry);
    for (const read of ready.readStates) this.checkRead(node, read.context, read.index);
  }

  private checkCommitment(node: SimNode, ready: Ready): void {
    const status = node.raft.status();
    const ledSince = this.leaderTermAtLastReady.get(node.id) === status.term;
    if (!ledSince || status.role !== "leader" || ready.hardState === null) return;
    const commit = ready.hardState.commit;
    if (commit > node.disk.hardState.commit && node.raft.termAt(commit) !== status.term) {
      this.fail(`commitment: leader ${node.id} of term ${status.term} advanced its commit ` +
        `index to ${commit}, an entry of term ${String(node.raft.termAt(commit))}`);
    }
  }

  private checkLogMatching(node: SimNode, entry: Entry): void {
    const key = `${entry.index}:${entry.term}`;
    const previousTerm = node.raft.termAt(entry.index - 1) ?? -1;
    const known = this.entriesByKey.get(key);
    if (known === undefined) {
      this.entriesByKey.set(key, { data: entry.data, previousTerm });
      return;
    }
    if (known.data !== entry.data || known.previousTerm !== previousTerm) {
      this.fail(`log matching: ${node.id} holds a different entry ${key} ` +
        `(data ${JSON.stringify(entry.data)} after term ${previousTerm}; elsewhere ` +
        `${JSON.stringify(known.data)} after term ${known.previousTerm})`);
    }
  }

  onSend(node: SimNode, message: RaftMessage): void {
    const disk = node.disk;
    if (message.type === "append" || message.type === "heartbeat") {
      this.noteLeader(message.term, node.id);
    }
    // The disk must imply the promise. A later persisted term implies it too: one Ready may
    // grant a vote in term t and another in t + 1, and once term t + 1 is durable the node can
    // never act in term t again (it persisted a state at least as advanced as the promise).
    const supersededOnDisk = disk.hardState.term > message.term;
    if (message.type === "requestVoteResponse" && message.granted && !supersededOnDisk) {
      if (disk.hardState.term !== message.term || disk.hardState.vote !== message.to) {
        this.fail(`durability: ${node.id} granted its vote to ${message.to} in term ` +
          `${message.term} before persisting it`);
      }
    }
    if (message.type === "snapshotResponse" && message.installed && !supersededOnDisk) {
      const durableThrough = Math.max(disk.hardState.commit, disk.snapshot?.meta.index ?? 0);
      if (durableThrough < message.snapshotIndex) {
        this.fail(`durability: ${node.id} answered snapshot ${message.snapshotIndex} installed ` +
          "before persisting it");
      }
    }
    if (message.type === "appendResponse" && message.success && !supersededOnDisk) {
      const durableTerm = disk.durableTermAt(message.index);
      const coveredBySnapshot = message.index <= (disk.snapshot?.meta.index ?? 0);
      const ok = message.index === 0 || coveredBySnapshot ||
        (durableTerm !== null && durableTerm === node.raft.termAt(message.index));
      if (!ok) {
        this.fail(`durability: ${node.id} acknowledged index ${message.index} before ` +
          "persisting it");
      }
    }
  }

  onApply(node: SimNode, entry: Entry): void {
    const known = this.appliedByIndex.get(entry.index);
    if (known === undefined) {
      this.appliedByIndex.set(entry.index, entry);
      this.appliedIndexMax = Math.max(this.appliedIndexMax, entry.index);
    } else if (known.term !== entry.term || known.data !== entry.data) {
      this.fail(`state machine safety: ${node.id} applied ${JSON.stringify(entry.data)} ` +
        `(term ${entry.term}) at ${entry.index}, another node applied ` +
        `${JSON.stringify(known.data)} (term ${known.term})`);
    }
  }

  /** Call when a read begins: its answer must not be older than any commit known now. */
  beginRead(context: string): void {
    let commitIndexMax = this.appliedIndexMax;
    for (const node of this.cluster.upNodes()) {
      commitIndexMax = Math.max(commitIndexMax, node.raft.status().commitIndex);
    }
    this.readFloors.set(context, commitIndexMax);
  }

  private checkRead(node: SimNode, context: string, index: number): void {
    const floor = this.readFloors.get(context);
    if (floor === undefined) return;
    this.readFloors.delete(context);
    if (index < floor) {
      this.fail(`linearizable read: ${node.id} answered read ${context} at index ${index}, ` +
        `but ${floor} was already committed when it began`);
    }
  }

  /** Checks on demand, for any moment: one leader per term among the live nodes. */
  checkRoles(): void {
    for (const node of this.cluster.upNodes()) {
      const status = node.raft.status();
      if (status.role === "leader") this.noteLeader(status.term, node.id);
      this.checkQuorumConfiguration(node);
    }
  }

  /**
   * The configuration a node's quorums follow is the one in force with the changes of the
   * entries in its log past it replayed: the newest in its log, no more, no less (a change from
   * entries it dropped, or one it missed, would let it decide with the wrong quorum).
   */
  private checkQuorumConfiguration(node: SimNode): void {
    const status = node.raft.status();
    let expected = confOfStatus(status);
    if (status.lastLogIndex > status.appliedIndex) {
      for (const entry of node.raft.entries(status.appliedIndex + 1, status.lastLogIndex + 1)) {
        if (entry.kind !== "config") continue;
        const change = decodeConfChange(entry.data);
        const result = change === null ? null : applyConfChange(expected, change);
        if (result?.ok === true) expected = result.conf;
      }
    }
    if (JSON.stringify(expected) !== JSON.stringify(status.quorumConf)) {
      this.fail(`quorum configuration of ${node.id}: follows ${JSON.stringify(status.quorumConf)}, ` +
        `but its log ends in ${JSON.stringify(expected)}`);
    }
  }

  /**
   * Membership (dissertation chapter 4): each configuration change a node puts in force keeps
   * the quorums of the configuration before and after it overlapping (a single-server change
   * does; a larger one goes through a joint configuration, which overlaps both). Configurations
   * held at one moment by different nodes need not overlap (a lagging node may still hold one
   * that the leader left two changes ago): what keeps it from winning with it is that a quorum
   * of each configuration committed the next one, so its log is behind (§4.3). Election safety
   * and leader completeness, checked above, are what that protects.
   */
  private checkConfigurationChanges(node: SimNode, ready: Ready): void {
    for (const event of ready.events) {
      if (event.kind === "confChangeSkipped") {
        this.fail(`configuration change at ${event.entryIndex} skipped on ${node.id}: ` +
          `${event.problem} (no correct leader appends one that cannot apply)`);
      }
      if (event.kind !== "confChanged") continue;
      // Every node that puts the change of one entry in force reaches the same configuration.
      const key = JSON.stringify(event.conf);
      const known = this.confByEntry.get(event.entryIndex);
      if (known === undefined) {
        if (this.confByEntry.size < confByEntryMax) this.confByEntry.set(event.entryIndex, key);
      } else if (known !== key) {
        this.fail(`configuration of entry ${event.entryIndex}: ${node.id} reached ${key}, ` +
          `another node ${known}`);
      }
      const disjoint = disjointQuorums(event.previous, event.conf);
      if (disjoint !== null) {
        this.fail(`configuration change at ${event.entryIndex} on ${node.id}: from ` +
          `${JSON.stringify(event.previous)} to ${JSON.stringify(event.conf)}, which have the ` +
          `disjoint quorums ${disjoint[0].join(",")} and ${disjoint[1].join(",")}`);
      }
    }
  }

  /** Final check: every pair of applied sequences agree on their common prefix. */
  checkConvergence(): void {
    const nodes = this.cluster.upNodes();
    for (const node of nodes) {
      node.applied.forEach((entry) => {
        const known = this.appliedByIndex.get(entry.index);
        if (known !== undefined && (known.data !== entry.data || known.term !== entry.term)) {
          this.fail(`convergence: ${node.id} differs at ${entry.index}`);
        }
      });
    }
  }

  appliedIndexMaxSeen(): number {
    return this.appliedIndexMax;
  }
}

/** Whether `group` holds a quorum of `conf`: a majority of its voters, and while joint a
 * majority of the outgoing voters too. */
function isQuorum(conf: ConfState, group: ReadonlySet<NodeId>): boolean {
  const majority = (voters: readonly NodeId[]): boolean =>
    voters.filter((id) => group.has(id)).length > voters.length / 2;
  return majority(conf.voters) && (conf.votersOutgoing.length === 0 || majority(conf.votersOutgoing));
}

/** Two disjoint groups, a quorum of `a` and one of `b`, or null when none exist (brute force
 * over the subsets of their members: a simulated cluster has a handful of nodes). */
export function disjointQuorums(a: ConfState, b: ConfState): [NodeId[], NodeId[]] | null {
  const ids = [...new Set([...a.voters, ...a.votersOutgoing, ...b.voters, ...b.votersOutgoing])];
  const subsets = 1 << ids.length;
  for (let mask = 1; mask < subsets; mask++) {
    const first = new Set(ids.filter((_, k) => (mask & (1 << k)) !== 0));
    if (!isQuorum(a, first)) continue;
    const second = new Set(ids.filter((id) => !first.has(id)));
    if (isQuorum(b, second)) return [[...first].sort(), [...second].sort()];
  }
  return null;
}
