import {
  applyConfChange, confOfStatus, members, SeededRng, type ConfChange, type ConfState, type NodeId, type OfferSnapshotResult,
  type RaftConfig,
} from "../raft/index.js";
import { SafetyChecker, SafetyViolation } from "./checker.js";
import {
  nodeIds,
  reliableNetwork,
  SimCluster,
  type NetworkFaults,
  type SimNode,
  type SimPlant,
} from "./cluster.js";

/**
 * One seeded simulation run (TigerBeetle's VOPR, scaled down): build a cluster from the seed,
 * run a random workload under a random fault schedule while SafetyChecker watches every step,
 * then heal everything and require liveness: a leader is elected and a new proposal commits on
 * every node within a bounded number of ticks. The same seed always makes the same run.
 */

export interface SimOptions {
  readonly seed: number;
  /** 3 or 5; when absent the seed chooses. */
  readonly nodeCount?: number;
  /** Ticks of faults and workload before the heal. */
  readonly ticks?: number;
  /** Ticks allowed, after the heal, for a leader to commit a new proposal everywhere. */
  readonly livenessTicksMax?: number;
  readonly config?: Partial<RaftConfig>;
  /** A planted bug (cluster.ts SimPlant), to show the checker catches it. */
  readonly plant?: SimPlant;
  /**
   * Nodes compact with the snapshot's meta only and provide the data when their leader asks
   * (cluster.ts OnDemandSnapshots), in the seeds that take snapshots.
   */
  readonly snapshotsOnDemand?: boolean;
  /**
   * Membership changes in the schedule (conf-state.ts): the cluster has 5 nodes, of which 3
   * vote at first; the nemesis also adds learners, promotes them, removes members (the leader
   * too) and replaces voters through joint configurations, under every other fault.
   */
  readonly membership?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: string | null;
  /** The last events before the end, for a reader of a failure. */
  readonly trace: readonly string[];
  readonly stats: {
    readonly nodeCount: number;
    readonly ticks: number;
    readonly committed: number;
    readonly elections: number;
    readonly crashes: number;
    /** Disks lost (wiped or repaired) in the run. */
    readonly disksLost: number;
    /** Snapshot chunks sent. */
    readonly snapshotChunks: number;
    /** Snapshots offered on demand, by the core's answer. */
    readonly snapshotOffers: Readonly<Record<OfferSnapshotResult["kind"], number>>;
  };
}

const traceLengthMax = 200;

export const defaultSimTicks = 600;
export const defaultLivenessTicksMax = 400;

type FaultKind =
  | "heal" | "halves" | "isolate" | "isolateLeader" | "ring" | "bridge" | "asymmetric"
  | "crash" | "crashLeader" | "crashDuringPersist" | "crashDuringInstall" | "restart"
  | "transfer" | "loseDisk" | "repairDisk"
  | "addLearner" | "promote" | "removeMember" | "replaceVoter";

/** Drawn with these weights. Leader crashes and restarts come often: the dangerous
 * interleavings (the paper's Figure 8) are a new leader dying before its no-op commits. */
const faultWeights: Readonly<Record<FaultKind, number>> = {
  heal: 2, halves: 1, isolate: 1, isolateLeader: 1, ring: 1, bridge: 1, asymmetric: 1,
  crash: 1, crashLeader: 3, crashDuringPersist: 1, crashDuringInstall: 1, restart: 4,
  transfer: 1, loseDisk: 1, repairDisk: 1,
  // Only with --membership (membershipWeights): weight 0 keeps the other seeds' draws as they were.
  addLearner: 0, promote: 0, removeMember: 0, replaceVoter: 0,
};
const faultKinds: readonly FaultKind[] = Object.entries(faultWeights)
  .flatMap(([kind, weight]) => Array<FaultKind>(weight).fill(kind as FaultKind));
/** With membership: the same faults, and as many configuration changes. */
const membershipWeights: Readonly<Partial<Record<FaultKind, number>>> = {
  addLearner: 5, promote: 5, removeMember: 4, replaceVoter: 3,
};
const membershipFaultKinds: readonly FaultKind[] = [...faultKinds, ...Object.entries(
  membershipWeights).flatMap(([kind, weight]) => Array<FaultKind>(weight!).fill(kind as FaultKind))];

export function runSimulation(options: SimOptions): SimResult {
  const rng = new SeededRng(options.seed);
  const nodeCount = options.membership === true ? 5
    : options.nodeCount ?? (rng.nextFloat() < 0.5 ? 3 : 5);
  const ticks = options.ticks ?? defaultSimTicks;
  const livenessTicksMax = options.livenessTicksMax ?? defaultLivenessTicksMax;
  const network: NetworkFaults = {
    dropRate: rng.nextFloat() * 0.2,
    duplicateRate: rng.nextFloat() * 0.1,
    // Delays spread one exchange over several ticks, so faults land in the middle of it.
    delayTicksMax: rng.nextInt(6),
  };
  // Some seeds fault rarely, some every few ticks: the latter find interleavings such as the
  // paper's Figure 8, where leadership changes before a no-op reaches a majority.
  const faultEveryTicks = 5 + rng.nextInt(rng.nextFloat() < 0.5 ? 10 : 40);
  const proposeRate = 0.1 + rng.nextFloat() * 0.6;
  const readRate = rng.nextFloat() * 0.2;
  // Most seeds snapshot often, with a small trailing window, so that followers that fall
  // behind catch up by InstallSnapshot, and crashes land in the middle of installs.
  const snapshots = rng.nextFloat() < 0.75
    ? { entriesBetweenSnapshots: 3 + rng.nextInt(20), trailingEntries: rng.nextInt(5),
      // Fixed, not drawn: a draw here would change every later choice of the seed.
      onDemand: options.snapshotsOnDemand === true
        ? { offerDelayTicksMax: 3, askIgnoreRate: 0.25 }
        : undefined }
    : undefined;
  const cluster = new SimCluster({
    ids: nodeIds(nodeCount),
    ...(options.membership === true ? { voters: nodeIds(3) } : {}),
    seed: options.seed,
    network,
    snapshots,
    publishMembers: true,
    plant: options.plant,
    // Small batches let a follower receive an old entry without the new leader's no-op.
    config: { entriesPerAppendMax: rng.nextFloat() < 0.5 ? 1 : 1 + rng.nextInt(8),
      inflightAppendsMax: 1 + rng.nextInt(4),
      // Tiny chunks: a snapshot takes several round trips, and chunks get lost and repeated.
      snapshotChunkBytes: 16 + rng.nextInt(200),
      ...options.config },
  });
  const checker = new SafetyChecker(cluster);
  const trace: string[] = [];
  const note = (event: string): void => {
    trace.push(`tick ${cluster.now}: ${event}`);
    if (trace.length > traceLengthMax) trace.shift();
  };
  note(`nodes=${nodeCount} drop=${network.dropRate.toFixed(3)} dup=` +
    `${network.duplicateRate.toFixed(3)} delayMax=${network.delayTicksMax} ` +
    `faultEvery=${faultEveryTicks} snapshotEvery=${snapshots?.entriesBetweenSnapshots ?? "never"}`);
  let crashes = 0;
  let disksLost = 0;
  let proposals = 0;
  let reads = 0;
  let violation: string | null = null;
  try {
    for (let tick = 0; tick < ticks; tick++) {
      if (tick > 0 && tick % faultEveryTicks === 0) {
        const kinds = options.membership === true ? membershipFaultKinds : faultKinds;
        const kind = kinds[rng.nextInt(kinds.length)]!;
        const crashed = kind === "loseDisk" || kind === "repairDisk"
          ? injectDiskFault(cluster, checker, rng, kind, note)
          : isMembershipChange(kind) ? changeMembership(cluster, rng, kind, note)
            : injectFault(cluster, rng, kind);
        crashes += crashed;
        if (kind === "loseDisk" || kind === "repairDisk") disksLost += crashed;
        note(`fault ${kind}${describeLinks(cluster)}`);
      }
      if (rng.nextFloat() < proposeRate) {
        const data = `p${proposals++}`;
        const node = cluster.upNodes()[0] === undefined ? null : pick(rng, cluster.upNodes());
        const result = node?.raft.propose(data);
        if (result?.kind === "accepted") note(`${node!.id} accepted ${data} at ${result.index}`);
        // A follower forwards it to the leader it knows (no answer comes back).
        if (result?.kind === "notLeader" && node!.raft.forward([data]).kind === "forwarded") {
          note(`${node!.id} forwarded ${data}`);
        }
      }
      if (rng.nextFloat() < readRate && cluster.upNodes().length > 0) {
        const node = pick(rng, cluster.upNodes());
        const context = `r${reads++}`;
        checker.beginRead(context);
        node.raft.readIndex(context);
      }
      cluster.tick();
      checker.checkRoles();
    }
    // Heal everything, bring every node back, and require progress.
    cluster.heal();
    cluster.disarmCrashes();
    cluster.network = reliableNetwork;
    for (const id of cluster.ids) cluster.restart(id);
    note("heal all, restart all, reliable network");
    violation = checkLiveness(cluster, checker, livenessTicksMax, note);
    if (violation === null) checker.checkConvergence();
  } catch (error) {
    // A failed assertion in the core is as much a finding as a checker violation: report it
    // against the seed, with where it happened.
    if (!(error instanceof Error)) throw error;
    violation = error instanceof SafetyViolation ? error.message : `${error.name}: ${error.message}`;
    if (!(error instanceof SafetyViolation)) {
      for (const line of (error.stack ?? "").split("\n").slice(1, 6)) note(`  ${line.trim()}`);
    }
  }
  if (violation !== null) note(`VIOLATION: ${violation}`);
  const leaderTerms = new Set(cluster.upNodes().map((node) => node.raft.status().term));
  return {
    seed: options.seed,
    ok: violation === null,
    violation,
    trace,
    stats: {
      nodeCount,
      ticks: cluster.now,
      committed: checker.appliedIndexMaxSeen(),
      elections: Math.max(0, ...leaderTerms),
      crashes,
      disksLost,
      snapshotChunks: cluster.sentCounts.get("snapshot") ?? 0,
      snapshotOffers: {
        accepted: cluster.snapshotOfferCounts.get("accepted") ?? 0,
        stale: cluster.snapshotOfferCounts.get("stale") ?? 0,
        notWanted: cluster.snapshotOfferCounts.get("notWanted") ?? 0,
      },
    },
  };
}

function checkLiveness(
  cluster: SimCluster,
  checker: SafetyChecker,
  livenessTicksMax: number,
  note: (event: string) => void,
): string | null {
  // First, with no new proposal: everything the leader holds must reach every node. A lost
  // append must be repaired by heartbeats alone, not by the next client's proposal.
  let quiescent = false;
  for (let tick = 0; tick < livenessTicksMax && !quiescent; tick++) {
    const leader = cluster.leader();
    const lastIndex = leader?.raft.status().lastLogIndex ?? Infinity;
    quiescent = configuredUpNodes(cluster).every((node) => node.lastApplied() >= lastIndex);
    if (!quiescent) {
      cluster.tick();
      checker.checkRoles();
    }
  }
  if (!quiescent) {
    return `liveness: the leader's log did not reach every node within ${livenessTicksMax} ` +
      `ticks after healing, with no new proposals (${describeRoles(cluster)})`;
  }
  note("leader's log applied everywhere");
  const marker = `liveness-${cluster.now}`;
  let proposedAt: number | null = null;
  for (let tick = 0; tick < livenessTicksMax; tick++) {
    const leader = cluster.leader();
    // Propose once per leadership: a proposal lost with its leader is proposed again.
    if (leader !== null && !holdsEntry(leader, proposedAt, marker)) {
      const result = leader.raft.propose(marker);
      if (result.kind === "accepted") {
        proposedAt = result.index;
        note(`liveness proposal at ${result.index} by ${leader.id}`);
      }
    }
    if (configuredUpNodes(cluster).every((node) =>
      node.applied.some((entry) => entry.data === marker))) {
      return null;
    }
    cluster.tick();
    checker.checkRoles();
  }
  return `liveness: no proposal committed on every node within ${livenessTicksMax} ticks ` +
    `after healing (${describeRoles(cluster)})`;
}

/** The nodes that are up and members of the leader's configuration (all up nodes when no
 * leader is known): a removed node, or one never added, receives no new entries. */
function configuredUpNodes(cluster: SimCluster): SimNode[] {
  const leader = cluster.leader();
  if (leader === null) return cluster.upNodes();
  const conf = members(confOfStatus(leader.raft.status()));
  return cluster.upNodes().filter((node) => conf.includes(node.id));
}

type MembershipKind = "addLearner" | "promote" | "removeMember" | "replaceVoter";

/** Per cluster: the ids a change removed (proposed, so perhaps in force), never added again. */
const removedIds = new WeakMap<SimCluster, Set<NodeId>>();
/** Per cluster: the configurations of the last changes accepted (they may commit later). */
const proposedConfs = new WeakMap<SimCluster, ConfState[]>();

function isMembershipChange(kind: FaultKind): kind is MembershipKind {
  return kind === "addLearner" || kind === "promote" || kind === "removeMember" ||
    kind === "replaceVoter";
}

/**
 * Proposes one configuration change at the leader, chosen for the configuration in force; the
 * core may refuse it (one in flight, a lagging learner, a quorum that would be lost), which is
 * part of what is exercised. Goes down to a single voter, where the one-voter shortcuts of the
 * core live. Returns 0: it crashes nothing.
 */
function changeMembership(cluster: SimCluster, rng: SeededRng, kind: MembershipKind,
  note: (event: string) => void): number {
  const leader = cluster.leader();
  if (leader === null) return 0;
  const conf = confOfStatus(leader.raft.status());
  // Ids are never reused once removed (issue 13): a removed node stays out.
  const removed = removedIds.get(cluster) ?? new Set<NodeId>();
  removedIds.set(cluster, removed);
  const outsiders = cluster.ids.filter((id) => !members(conf).includes(id) && !removed.has(id));
  const voters = conf.voters;
  let change: ConfChange | null = null;
  switch (kind) {
    case "addLearner":
      if (outsiders.length > 0) change = { ops: [{ type: "addLearner", id: pick(rng, outsiders) }] };
      break;
    case "promote":
      if (conf.learners.length > 0) change = { ops: [{ type: "promote", id: pick(rng, conf.learners) }] };
      break;
    case "removeMember": {
      const removable = [...conf.learners, ...(voters.length > 1 ? voters : [])];
      if (removable.length > 0) change = { ops: [{ type: "remove", id: pick(rng, removable) }] };
      break;
    }
    case "replaceVoter": {
      const incoming = [...conf.learners, ...outsiders];
      if (incoming.length > 0) {
        const added = pick(rng, incoming);
        change = { ops: [{ type: conf.learners.includes(added) ? "promote" : "addVoter", id: added },
          { type: "remove", id: pick(rng, voters) }] };
      }
      break;
    }
  }
  if (change === null) return 0;
  // Raft's fault model: a majority of the voters keep their disks. An operator would not vote
  // in a configuration in which the nodes that lost theirs are half; neither does the nemesis.
  const next = applyConfChange(conf, change);
  const lost = lostDisks(cluster);
  if (next.ok && [next.conf.voters, next.conf.votersOutgoing].some((voters) =>
    voters.length > 0 && voters.filter((id) => lost.includes(id)).length >= voters.length / 2)) {
    return 0;
  }
  const result = leader.raft.proposeConfChange(change);
  if (result.kind === "accepted") {
    // Accepted, it may commit: its id is never added again, even if the change is lost.
    for (const op of change.ops) if (op.type === "remove") removed.add(op.id);
  }
  if (result.kind === "accepted" && next.ok) {
    const proposed = [...(proposedConfs.get(cluster) ?? []), next.conf].slice(-5);
    proposedConfs.set(cluster, proposed);
  }
  note(`${leader.id} proposes ${JSON.stringify(change.ops)}: ${result.kind}` +
    (result.kind === "refused" ? ` (${result.reason})` : ""));
  return 0;
}

function describeRoles(cluster: SimCluster): string {
  return cluster.upNodes()
    .map((node) => {
      const status = node.raft.status();
      return `${node.id}:${status.role}@${status.term} last=${status.lastLogIndex} ` +
        `commit=${status.commitIndex}`;
    })
    .join(" ");
}

function holdsEntry(node: SimNode, index: number | null, data: string): boolean {
  if (index === null || index > node.raft.status().lastLogIndex) return false;
  // A compacted entry is applied: look in the state machine.
  if (index <= node.raft.compactedIndex()) return node.applied[index - 1]?.data === data;
  return node.raft.entries(index, index + 1)[0]?.data === data;
}

function pick<T>(rng: SeededRng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

/** Applies one fault; returns the number of nodes it crashed. */
function injectFault(cluster: SimCluster, rng: SeededRng, kind: FaultKind): number {
  const ids = cluster.ids;
  const leaderId = cluster.leader()?.id ?? pick(rng, ids);
  switch (kind) {
    case "heal":
      cluster.heal();
      return 0;
    case "halves": {
      cluster.heal();
      const shuffled = shuffle(rng, ids);
      const cut = 1 + rng.nextInt(ids.length - 1);
      cluster.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      return 0;
    }
    case "isolate":
      cluster.heal();
      cluster.isolate(pick(rng, ids));
      return 0;
    case "isolateLeader":
      cluster.heal();
      cluster.isolate(leaderId);
      return 0;
    case "ring":
      // Each node hears only its ring neighbours: every node sees a majority in a 3-cluster,
      // but no two nodes see the same majority in a 5-cluster.
      cluster.heal();
      ids.forEach((from, k) => {
        for (const [m, to] of ids.entries()) {
          const distance = Math.min(Math.abs(k - m), ids.length - Math.abs(k - m));
          if (distance > 1) cluster.cutLink(from, to);
        }
      });
      return 0;
    case "bridge": {
      // Two halves that cannot talk, joined only through one bridge node.
      cluster.heal();
      const [, ...rest] = shuffle(rng, ids);
      const half = Math.floor(rest.length / 2);
      const left = rest.slice(0, half);
      const right = rest.slice(half);
      for (const a of left) for (const b of right) {
        cluster.cutLink(a, b);
        cluster.cutLink(b, a);
      }
      return 0;
    }
    case "asymmetric": {
      const [from, to] = shuffle(rng, ids);
      cluster.cutLink(from!, to!);
      return 0;
    }
    case "crash":
      return crashIfUp(cluster, pick(rng, ids));
    case "crashLeader":
      return crashIfUp(cluster, leaderId);
    case "crashDuringPersist": {
      // Often the leader, whose Readies carry the most entries.
      const id = rng.nextFloat() < 0.5 ? leaderId : pick(rng, ids);
      if (!cluster.node(id).up) return 0;
      cluster.crashAtNextPersist(id);
      return 1;
    }
    case "crashDuringInstall": {
      // A follower, cut off for a while so that it will need a snapshot when it returns.
      const id = pick(rng, ids.filter((candidate) => candidate !== leaderId));
      cluster.crashAtNextInstall(id);
      return 0;
    }
    case "restart":
      for (const id of ids) cluster.restart(id);
      return 0;
    case "transfer": {
      const leader = cluster.leader();
      leader?.raft.transferLeadership(pick(rng, ids));
      return 0;
    }
    case "loseDisk":
    case "repairDisk":
      // injectDiskFault: they need the checker.
      return 0;
    case "addLearner":
    case "promote":
    case "removeMember":
    case "replaceVoter":
      // changeMembership.
      return 0;
    default: {
      const unknown: never = kind;
      throw new Error(`unknown fault ${String(unknown)}`);
    }
  }
}

/**
 * Loses one node's disk, wiped or cut short by a repair (issue 9). At most a minority of the
 * cluster may be lost this way, so that a majority keeps every committed entry (Raft's fault
 * model), and only a node whose publication has committed: a node that loses its disk before
 * that is the window bootstrap.ts documents, which no check of its peers can close. Returns 1
 * when a disk was lost.
 */
function injectDiskFault(cluster: SimCluster, checker: SafetyChecker, rng: SeededRng,
  kind: "loseDisk" | "repairDisk", note: (event: string) => void): number {
  const lost = lostDisks(cluster);
  if (lost.length + 1 > (cluster.ids.length - 1) / 2) return 0;
  // With membership changes the voters are not every node: the lost must stay a minority of
  // every set of voters some node holds in force (both sides of a joint configuration too).
  // Changes proposed and perhaps not in force anywhere yet count too: they may commit later.
  const confs = [...cluster.upNodes().map((node) => confOfStatus(node.raft.status())),
    ...(proposedConfs.get(cluster) ?? [])];
  const voterSets = confs.flatMap((conf) =>
    conf.votersOutgoing.length > 0 ? [conf.voters, conf.votersOutgoing] : [conf.voters]);
  const staysMinority = (id: NodeId): boolean => voterSets.every((voters) =>
    voters.filter((voter) => voter === id || lost.includes(voter)).length < voters.length / 2);
  const candidates = cluster.ids.filter((id) => !lost.includes(id) && cluster.node(id).up &&
    cluster.node(id).published() && staysMinority(id));
  if (candidates.length === 0) return 0;
  const id = pick(rng, candidates);
  // Its peers may now see it say impossible things (an acknowledgement below what it had
  // acknowledged): the cores must survive them, and may report them.
  checker.excuseProtocolViolations();
  if (kind === "loseDisk") cluster.loseDisk(id);
  else cluster.repairDisk(id, rng);
  const node = cluster.node(id);
  note(`${kind} ${id}: ${node.retired ?? (node.awaitingBootstrap ? "awaiting its peers"
    : "back with an empty disk")}`);
  return 1;
}

/** The nodes whose disk a fault lost (wiped or cut short): they no longer count as sound. */
function lostDisks(cluster: SimCluster): NodeId[] {
  return cluster.ids.filter((id) => {
    const node = cluster.node(id);
    return node.retired !== null || node.awaitingBootstrap || node.incarnation > 1;
  });
}

function crashIfUp(cluster: SimCluster, id: NodeId): number {
  if (!cluster.node(id).up) return 0;
  cluster.crash(id);
  return 1;
}

function shuffle<T>(rng: SeededRng, items: readonly T[]): T[] {
  const result = [...items];
  for (let k = result.length - 1; k > 0; k--) {
    const j = rng.nextInt(k + 1);
    [result[k], result[j]] = [result[j]!, result[k]!];
  }
  return result;
}

function describeLinks(cluster: SimCluster): string {
  const down = cluster.ids.filter((id) => !cluster.node(id).up);
  return down.length > 0 ? ` (down: ${down.join(",")})` : "";
}
