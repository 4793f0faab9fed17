import {
  makeRaftConfig,
  confOfStatus,
  metaOfConf,
  RaftNode,
  SeededRng,
  snapshotText,
  type Entry,
  type HardState,
  type MemberRecord,
  type MessageType,
  type NodeId,
  type OfferSnapshotResult,
  type RaftConfig,
  type RaftMessage,
  type Ready,
  type Rng,
  type Snapshot,
} from "../raft/index.js";
import { decideBootstrap, type BootstrapVerdict } from "../node/bootstrap.js";
import { MemorySnapshotStore, MemoryStorage } from "../storage/index.js";
import type { PeerIdentity } from "../transport/index.js";

/**
 * A whole cluster in one process, over a simulated network, disk and clock. It runs the real
 * core and the driver's order of work (persist, then send, then apply, then advance), and every
 * random choice comes from one seed. The mocha tests drive it step by step; the simulator
 * (simulator.ts) drives it with random faults and checks it with checker.ts.
 */

/**
 * A node's disk: the real MemoryStorage and MemorySnapshotStore (src/storage/), which model a
 * crash. A Ready is persisted in the order the driver contract gives (raft-node.ts): the
 * snapshot file, the log reset, the entries, the hard state, then one sync. A crash part-way
 * keeps a random prefix of the unsynced writes, the last possibly torn (MemoryStorage.crash).
 */
export class SimDisk {
  private log = new MemoryStorage();
  private readonly snapshots = new MemorySnapshotStore();

  get hardState(): HardState {
    return this.log.hardState();
  }

  /** The stored entries, contiguous from the log store's first index. */
  get entries(): Entry[] {
    return [...this.log.entries(this.log.firstIndex(), this.log.lastIndex() + 1)];
  }

  get snapshot(): Snapshot | null {
    return this.snapshots.latest();
  }

  /** Persists `ready` durably. */
  write(ready: Ready): void {
    this.buffer(ready);
    this.log.sync();
  }

  /** A crash while persisting `ready`: the snapshot file is saved or not, and of the log's
   * writes a random prefix survives. */
  crashWriting(ready: Ready, rng: Rng): void {
    if (ready.snapshot === null || rng.nextFloat() < 0.5) this.buffer(ready);
    this.log = this.log.crash(rng);
  }

  private buffer(ready: Ready): void {
    if (ready.snapshot !== null) this.snapshots.save(ready.snapshot);
    if (ready.logStart !== null) this.log.resetTo(ready.logStart.index, ready.logStart.term);
    if (ready.entries.length > 0) this.log.append(ready.entries);
    if (ready.hardState !== null) this.log.setHardState(ready.hardState);
  }

  /** The planted repair bug's damage: the log loses its synced entries after a random point
   * (never below the snapshot), the hard state is kept with its commit clamped to the log. */
  truncateAfterRandomPoint(rng: Rng): void {
    const first = this.log.firstIndex();
    const last = this.log.lastIndex();
    if (last < first) return;
    const keepThrough = first - 1 + rng.nextInt(last - first + 1);
    const kept = this.log.entries(first, keepThrough + 1);
    const hardState = this.log.hardState();
    const repaired = new MemoryStorage();
    if (first > 1) {
      const term = this.durableTermAt(first - 1) ?? this.snapshot?.meta.term ?? 0;
      repaired.resetTo(first - 1, term);
    }
    if (kept.length > 0) repaired.append(kept);
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    repaired.setHardState({ ...hardState,
      commit: Math.min(hardState.commit, Math.max(keepThrough, snapshotIndex)) });
    repaired.sync();
    this.log = repaired;
  }

  /** Saves a snapshot the node took, and compacts the log below `compactIndex`. */
  saveSnapshot(snapshot: Snapshot, compactIndex: number): void {
    this.snapshots.save(snapshot);
    this.log.compactTo(compactIndex);
    this.log.sync();
  }

  /** The durable term at `index`, from the log or the snapshot's last entry; null below it. */
  durableTermAt(index: number): number | null {
    if (index >= this.log.firstIndex() && index <= this.log.lastIndex()) {
      return this.log.entries(index, index + 1)[0]!.term;
    }
    const snapshotMeta = this.snapshot?.meta;
    if (snapshotMeta !== undefined && index === snapshotMeta.index) return snapshotMeta.term;
    return null;
  }
}

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Each message is delayed by a random number of ticks in [0, delayTicksMax]. */
  delayTicksMax: number;
}

export const reliableNetwork: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayTicksMax: 0 };

/** Hooks the checker attaches to see every step. */
export interface ClusterObserver {
  /** Called with each Ready before it is persisted, so `node.disk` still holds the old state. */
  onReady?(node: SimNode, ready: Ready): void;
  /** Called for each message after the Ready's persistence, as it goes on the wire. */
  onSend?(node: SimNode, message: RaftMessage): void;
  onApply?(node: SimNode, entry: Entry): void;
}

export interface SnapshotPolicy {
  /** A node snapshots its state machine each time it has applied this many more entries. */
  readonly entriesBetweenSnapshots: number;
  /** Entries kept in the log below a snapshot, for followers that are only slightly behind. */
  readonly trailingEntries: number;
  /** Compact with the metadata only, and provide the data when the leader asks for it. */
  readonly onDemand?: OnDemandSnapshots;
}

/**
 * Nodes compact with the snapshot's metadata only, as a node whose state machine lives in a
 * database does at its checkpoints, and restart from a meta-only snapshot: the core holds no
 * snapshot data, and a leader asks for it (Ready.snapshotWanted) when a follower needs it. The
 * node answers with a snapshot of its toy state machine at its applied index, built when asked
 * and offered a few ticks later, as a database would stream a checkpoint; compaction may pass
 * it meanwhile, and then the core refuses it as stale and asks again. The disk keeps the data,
 * so a restarted node restores its state machine from it.
 */
export interface OnDemandSnapshots {
  /** An offer goes in at most this many ticks after the ask. */
  readonly offerDelayTicksMax: number;
  /** The share of asks left unanswered (a failed build): the ask must come again. */
  readonly askIgnoreRate: number;
}

export interface SimClusterOptions {
  readonly ids: readonly NodeId[];
  /** The voters the cluster starts with (default: every id); the other ids start outside the
   * configuration, waiting to be added (membership changes). */
  readonly voters?: readonly NodeId[];
  readonly seed: number;
  readonly config?: Partial<RaftConfig>;
  readonly network?: NetworkFaults;
  /** Snapshots and log compaction; none when absent. */
  readonly snapshots?: SnapshotPolicy;
  /**
   * Nodes publish themselves in the replicated state, as RaftServer does (members.ts): needed
   * by the lost-disk fault, whose node asks its peers before it bootstraps again.
   */
  readonly publishMembers?: boolean;
  /** Planted bugs, for showing that the checker catches them; never set in real runs. */
  readonly plant?: SimPlant;
}

/**
 * Bugs the simulator can plant: "rejoinWithoutCheck" lets a node with a lost disk rejoin at
 * once, without asking its peers (the issue 9 data loss); "repairWithoutFence" lets a node whose
 * log lost synced entries (a --repair at corruption) take part again.
 */
export type SimPlant = "rejoinWithoutCheck" | "repairWithoutFence";

/** Ticks between a node's attempts to publish itself, until its publication applies. */
const publishRetryTicks = 8;

/** The toy state machine's snapshot: the list of applied entries. */
export function toyStateSnapshot(applied: readonly Entry[]): string {
  return JSON.stringify(applied);
}

export function restoreToyState(snapshot: Snapshot): Entry[] {
  const applied = JSON.parse(snapshotText(snapshot.data)) as Entry[];
  if (applied.length !== snapshot.meta.index) {
    throw new Error(`toy snapshot at ${snapshot.meta.index} holds ${applied.length} entries`);
  }
  return applied;
}

/** Bounds that turn a runaway protocol into an error instead of a hang. */
const inFlightMessagesMax = 100_000;
const readiesPerRoundMax = 1000;

interface InFlight {
  readonly message: RaftMessage;
  readonly deliverAtTick: number;
}

export class SimNode {
  raft: RaftNode;
  up = true;
  /** When set, the node crashes part-way through persisting its next Ready. */
  crashAtNextPersist = false;
  /** When set, the node crashes part-way through installing its next snapshot. */
  crashAtNextInstall = false;
  /** The toy state machine: every applied entry, by index (a snapshot holds the whole list). */
  applied: Entry[] = [];
  /** A snapshot built for the leader's ask (OnDemandSnapshots), offered at `offerAtTick`. */
  pendingOffer: { readonly snapshot: Snapshot; readonly offerAtTick: number } | null = null;
  disk = new SimDisk();
  /** Bumped each time the node comes back with an empty disk (storage/node-identity.ts). */
  incarnation = 1;
  /** Set when the node may never take part again (its peers refused it, or it was fenced). */
  retired: string | null = null;
  /** Its disk was lost: it is down until its peers' answers let it bootstrap (bootstrap.ts). */
  awaitingBootstrap = false;
  /** The tick of its last publication attempt. */
  lastPublishTick = Number.NEGATIVE_INFINITY;

  constructor(
    readonly id: NodeId,
    readonly config: RaftConfig,
    private readonly rngSeed: number,
  ) {
    this.raft = new RaftNode(config, new SeededRng(rngSeed));
  }

  /**
   * Rebuilds the node from its disk, as a process restart would; with `snapshotMetaOnly` the
   * core gets the snapshot's meta only, as from a database checkpoint (OnDemandSnapshots).
   */
  restart(restartCount: number, snapshotMetaOnly = false): void {
    const disk = this.disk;
    const snapshot = snapshotMetaOnly && disk.snapshot !== null
      ? { meta: disk.snapshot.meta }
      : disk.snapshot;
    this.raft = new RaftNode(this.config, new SeededRng(this.rngSeed + restartCount * 7919), {
      hardState: disk.hardState,
      snapshot,
      entries: disk.entries,
    });
    this.pendingOffer = null;
    // The toy state machine is restored from the snapshot, then replays the log after it.
    this.applied = disk.snapshot === null ? [] : restoreToyState(disk.snapshot);
    this.up = true;
  }

  lastApplied(): number {
    return this.applied.length;
  }

  /** The publication entry of this incarnation (members.ts, in the toy state machine). */
  publication(): string {
    return encodeSimPublication(this.id, this.incarnation);
  }

  /**
   * The members this node knows published: its applied entries and its unapplied log tail
   * (a publication committed elsewhere may not be applied here yet), first incarnation first.
   */
  publishedMembers(): MemberRecord[] {
    const table = new Map<NodeId, MemberRecord>();
    const status = this.raft.status();
    const tail = this.raft.entries(Math.max(this.raft.compactedIndex(), this.applied.length) + 1,
      status.lastLogIndex + 1);
    for (const entry of [...this.applied, ...tail]) {
      const publication = decodeSimPublication(entry.data);
      if (publication === null || table.has(publication.id)) continue;
      table.set(publication.id, { ...publication, index: entry.index });
    }
    return [...table.values()];
  }

  /** Whether this incarnation's publication is applied here: it is committed. */
  published(): boolean {
    const mine = this.publication();
    return this.applied.some((entry) => entry.data === mine);
  }
}

const simPublicationPrefix = "publish:";

export function encodeSimPublication(id: NodeId, incarnation: number): string {
  return `${simPublicationPrefix}${id}:${incarnation}`;
}

function decodeSimPublication(data: string): { id: NodeId; incarnation: string } | null {
  if (!data.startsWith(simPublicationPrefix)) return null;
  const [id, incarnation] = data.slice(simPublicationPrefix.length).split(":");
  return id === undefined || incarnation === undefined ? null : { id, incarnation };
}

export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly ids: readonly NodeId[];
  readonly rng: SeededRng;
  network: NetworkFaults;
  now = 0;
  /** Directed links "a->b" that drop everything. */
  private readonly cutLinks = new Set<string>();
  /** Message types dropped everywhere, for scenarios that silence one kind of RPC. */
  readonly droppedTypes = new Set<MessageType>();
  private inFlight: InFlight[] = [];
  private restarts = 0;
  /** Messages put on the wire, by type, for RPC-count assertions. */
  readonly sentCounts = new Map<MessageType, number>();
  observer: ClusterObserver = {};
  readonly snapshots: SnapshotPolicy | null;
  /** Nodes answer their core's snapshot asks (OnDemandSnapshots); tests turn it off. */
  snapshotAsksAnswered = true;
  /** What became of each snapshot offered on demand, by OfferSnapshotResult kind. */
  readonly snapshotOfferCounts = new Map<OfferSnapshotResult["kind"], number>();
  private readonly publishMembers: boolean;
  readonly plant: SimPlant | null;

  constructor(options: SimClusterOptions) {
    this.snapshots = options.snapshots ?? null;
    this.publishMembers = options.publishMembers ?? false;
    this.plant = options.plant ?? null;
    this.ids = [...options.ids];
    this.rng = new SeededRng(options.seed);
    this.network = options.network ?? reliableNetwork;
    options.ids.forEach((id, k) => {
      const config = makeRaftConfig({ id, voters: options.voters ?? options.ids }, options.config);
      this.nodes.set(id, new SimNode(id, config, options.seed * 31 + k + 1));
    });
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.up);
  }

  // --- The driver loop ----------------------------------------------------------------------

  /** Runs one driver iteration on `node` if it has work: persist, send, apply, advance. */
  processReady(node: SimNode): boolean {
    if (!node.up || !node.raft.hasReady()) return false;
    const ready = node.raft.ready();
    if (node.crashAtNextPersist || (node.crashAtNextInstall && ready.snapshot !== null)) {
      this.crashPersisting(node, ready);
      return true;
    }
    this.observer.onReady?.(node, ready);
    node.disk.write(ready);
    if (ready.snapshot !== null) node.applied = restoreToyState(ready.snapshot);
    for (const message of ready.messages) this.sendMessage(node, message);
    for (const entry of ready.committedEntries) {
      const expectedIndex = node.applied.length + 1;
      if (entry.index !== expectedIndex) {
        throw new Error(`${node.id} applied ${entry.index}, expected ${expectedIndex}`);
      }
      node.applied.push(entry);
      this.observer.onApply?.(node, entry);
    }
    node.raft.advance();
    if (ready.snapshot !== null && this.snapshots?.onDemand !== undefined) {
      // The installed snapshot is this node's checkpoint now: say so, and the core drops the
      // data it received (a fresh node holds it until it first compacts meta-only).
      node.raft.compact({ meta: ready.snapshot.meta });
    }
    this.maybeSnapshot(node);
    this.answerSnapshotAsk(node, ready.snapshotWanted !== null);
    this.maybeOfferSnapshot(node);
    return true;
  }

  /**
   * Builds a snapshot of the toy state machine at the applied index for the core's ask, to
   * offer within offerDelayTicksMax ticks; some asks go unanswered, as a failed build would.
   */
  private answerSnapshotAsk(node: SimNode, wanted: boolean): void {
    const onDemand = this.snapshots?.onDemand;
    if (!wanted || onDemand === undefined || !this.snapshotAsksAnswered ||
      node.pendingOffer !== null || this.rng.nextFloat() < onDemand.askIgnoreRate) {
      return;
    }
    const appliedIndex = node.applied.length;
    const term = node.raft.termAt(appliedIndex);
    // The core compacts only applied entries and knows the term at its compaction point.
    if (term === null) throw new Error(`${node.id} has no term at applied ${appliedIndex}`);
    const snapshot: Snapshot = {
      meta: { index: appliedIndex, term, ...metaOfConf(confOfStatus(node.raft.status())) },
      data: toyStateSnapshot(node.applied),
    };
    node.pendingOffer = { snapshot,
      offerAtTick: this.now + this.rng.nextInt(onDemand.offerDelayTicksMax + 1) };
  }

  /** Offers the snapshot built for an ask once it is due; whatever the answer, it is done. */
  private maybeOfferSnapshot(node: SimNode): void {
    const offer = node.pendingOffer;
    if (offer === null || offer.offerAtTick > this.now) return;
    node.pendingOffer = null;
    const { kind } = node.raft.offerSnapshot(offer.snapshot);
    this.snapshotOfferCounts.set(kind, (this.snapshotOfferCounts.get(kind) ?? 0) + 1);
  }

  /** Takes a snapshot by the policy, and compacts the log and the disk below it. */
  private maybeSnapshot(node: SimNode): void {
    const policy = this.snapshots;
    if (policy === null) return;
    const previousIndex = node.disk.snapshot?.meta.index ?? 0;
    if (node.applied.length - previousIndex < policy.entriesBetweenSnapshots) return;
    this.takeSnapshot(node, policy.trailingEntries, policy.onDemand === undefined);
  }

  /**
   * Takes a snapshot of `id` at its applied index now, whatever the policy, keeping
   * `trailingEntries` entries before it in the log (scenario files compact with it). Returns
   * the snapshot's index, or null when the core knows no term there.
   */
  snapshotNow(id: NodeId, trailingEntries: number): number | null {
    return this.takeSnapshot(this.node(id), trailingEntries,
      this.snapshots?.onDemand === undefined);
  }

  /** Saves a snapshot at the applied index and compacts the log and the disk below it. */
  private takeSnapshot(node: SimNode, trailingEntries: number, coreKeepsData: boolean):
    number | null {
    const appliedIndex = node.applied.length;
    const term = node.raft.termAt(appliedIndex);
    if (term === null) return null;
    const snapshot: Snapshot = {
      meta: { index: appliedIndex, term, ...metaOfConf(confOfStatus(node.raft.status())) },
      data: toyStateSnapshot(node.applied),
    };
    const compactIndex = node.raft.compactIndexFor(appliedIndex, trailingEntries);
    node.disk.saveSnapshot(snapshot, compactIndex);
    // On demand, the data stays on the disk only, as in a database at its checkpoint.
    node.raft.compact(coreKeepsData ? snapshot : { meta: snapshot.meta }, compactIndex);
    return appliedIndex;
  }

  /**
   * A crash in the middle of a Ready: the writes reached the disk in order and the crash cut
   * that sequence at a random point; unsynced writes after it are lost and none of the
   * messages went out.
   */
  crashDuringPersist(node: SimNode): void {
    if (!node.up) return;
    if (node.raft.hasReady()) this.crashPersisting(node, node.raft.ready());
    else this.crash(node.id);
  }

  private crashPersisting(node: SimNode, ready: Ready): void {
    node.disk.crashWriting(ready, this.rng);
    this.crash(node.id);
  }

  /** Arms a crash for the next time `id` persists a Ready: the moment a real crash hurts. */
  crashAtNextPersist(id: NodeId): void {
    const node = this.node(id);
    if (node.up) node.crashAtNextPersist = true;
  }

  /** Disarms every crash armed for a later persist or install. */
  disarmCrashes(): void {
    for (const node of this.nodes.values()) {
      node.crashAtNextPersist = false;
      node.crashAtNextInstall = false;
    }
  }

  /** Arms a crash for the next time `id` installs a snapshot from its leader. */
  crashAtNextInstall(id: NodeId): void {
    const node = this.node(id);
    if (node.up) node.crashAtNextInstall = true;
  }

  private sendMessage(from: SimNode, message: RaftMessage): void {
    // A protocol that multiplies messages would otherwise hang the simulator: make it a finding.
    if (this.inFlight.length >= inFlightMessagesMax) {
      throw new Error(`message storm: ${this.inFlight.length} messages in flight ` +
        `(last ${message.type} ${message.from}->${message.to})`);
    }
    this.sentCounts.set(message.type, (this.sentCounts.get(message.type) ?? 0) + 1);
    this.observer.onSend?.(from, message);
    const { dropRate, duplicateRate, delayTicksMax } = this.network;
    if (dropRate > 0 && this.rng.nextFloat() < dropRate) return;
    const copies = duplicateRate > 0 && this.rng.nextFloat() < duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delay = delayTicksMax > 0 ? this.rng.nextInt(delayTicksMax + 1) : 0;
      this.inFlight.push({ message, deliverAtTick: this.now + delay });
    }
  }

  /** Delivers every message due by now; returns how many were delivered. */
  deliverDue(): number {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const item of this.inFlight) {
      if (item.deliverAtTick <= this.now) due.push(item);
      else later.push(item);
    }
    this.inFlight = later;
    let delivered = 0;
    for (const { message } of due) {
      const target = this.nodes.get(message.to);
      if (target === undefined || !target.up || !this.linkUp(message.from, message.to)) continue;
      if (this.droppedTypes.has(message.type)) continue;
      target.raft.step(message);
      delivered++;
    }
    return delivered;
  }

  /**
   * Processes Readies and delivers messages until the cluster is quiet or `roundsMax` rounds
   * have run. Time does not advance. Returns the number of rounds that did work.
   */
  stabilize(roundsMax = 1000): number {
    let rounds = 0;
    for (; rounds < roundsMax; rounds++) {
      let worked = false;
      for (const node of this.nodes.values()) {
        for (let k = 0; k < readiesPerRoundMax && this.processReady(node); k++) worked = true;
      }
      if (this.deliverDue() > 0) worked = true;
      if (!worked) break;
    }
    return rounds;
  }

  /** One tick of the clock for every live node, then stabilize. */
  tick(count = 1): void {
    for (let k = 0; k < count; k++) {
      this.now++;
      for (const node of this.nodes.values()) {
        if (node.awaitingBootstrap) this.tryBootstrap(node.id);
        if (!node.up) continue;
        node.raft.tick();
        this.maybePublish(node);
        this.maybeOfferSnapshot(node);
      }
      this.stabilize();
    }
  }

  /**
   * As MemberPublisher.maybePublish (src/node/member-publisher.ts): propose (or forward) the
   * publication until it applies.
   */
  private maybePublish(node: SimNode): void {
    if (!this.publishMembers || this.now - node.lastPublishTick < publishRetryTicks ||
      node.raft.status().leaderId === null || node.published()) {
      return;
    }
    node.lastPublishTick = this.now;
    const data = node.publication();
    if (node.raft.status().role === "leader") node.raft.propose(data);
    else node.raft.forward([data]);
  }

  /** Ticks until `predicate` holds, at most `ticksMax` ticks. Returns whether it held. */
  tickUntil(predicate: () => boolean, ticksMax: number): boolean {
    for (let k = 0; k < ticksMax; k++) {
      if (predicate()) return true;
      this.tick();
    }
    return predicate();
  }

  // --- Faults -------------------------------------------------------------------------------

  crash(id: NodeId): void {
    const node = this.node(id);
    node.up = false;
    node.crashAtNextPersist = false;
    node.crashAtNextInstall = false;
    node.pendingOffer = null;
    this.inFlight = this.inFlight.filter((item) => item.message.to !== id && item.message.from !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.up || node.retired !== null || node.awaitingBootstrap) return;
    this.restarts++;
    node.restart(this.restarts, this.snapshots?.onDemand !== undefined);
  }

  /**
   * The node's disk is lost (wiped, or replaced): it crashes, and comes back as a new
   * incarnation with an empty disk only once its peers' answers allow it (bootstrap.ts); a
   * refusal retires it for good. With the planted bug it comes back at once.
   */
  loseDisk(id: NodeId): void {
    const node = this.node(id);
    if (node.retired !== null) return;
    if (node.up) this.crash(id);
    node.disk = new SimDisk();
    node.applied = [];
    node.incarnation++;
    node.awaitingBootstrap = true;
    this.tryBootstrap(id);
  }

  /** Asks the peers this node can reach both ways, as market-node does at start. */
  tryBootstrap(id: NodeId): BootstrapVerdict["kind"] {
    const node = this.node(id);
    const answers = new Map<NodeId, PeerIdentity>();
    for (const peer of this.nodes.values()) {
      if (peer.id === id || !this.linkUp(id, peer.id) || !this.linkUp(peer.id, id)) continue;
      if (peer.awaitingBootstrap) {
        answers.set(peer.id, { clusterId: "sim", nodeId: peer.id, state: "joining",
          appliedIndex: 0, members: [] });
      } else if (peer.up) {
        answers.set(peer.id, { clusterId: "sim", nodeId: peer.id, state: "member",
          appliedIndex: peer.applied.length, members: peer.publishedMembers() });
      }
    }
    const verdict = this.plant === "rejoinWithoutCheck"
      ? { kind: "proceed" as const }
      : decideBootstrap({ self: id, clusterId: "sim",
        peers: this.ids.filter((peer) => peer !== id), answers, newCluster: false });
    if (verdict.kind === "refuse") {
      node.awaitingBootstrap = false;
      node.retired = `its peers refused it after its disk was lost: ${verdict.message}`;
    } else if (verdict.kind === "proceed") {
      node.awaitingBootstrap = false;
      this.restarts++;
      node.restart(this.restarts, this.snapshots?.onDemand !== undefined);
    }
    return verdict.kind;
  }

  /**
   * `--repair` at corruption: the node's log loses synced entries after a random point. The
   * real node is fenced (node-identity.ts) and never takes part again; with the planted bug
   * it restarts on the shortened log, its term and vote kept.
   */
  repairDisk(id: NodeId, rng: Rng): void {
    const node = this.node(id);
    if (node.retired !== null || node.awaitingBootstrap) return;
    if (node.up) this.crash(id);
    if (this.plant !== "repairWithoutFence") {
      node.retired = "fenced by --repair: its log lost entries it may have acknowledged";
      return;
    }
    node.disk.truncateAfterRandomPoint(rng);
  }

  linkUp(from: NodeId, to: NodeId): boolean {
    return !this.cutLinks.has(`${from}->${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cutLinks.add(`${from}->${to}`);
  }

  /** Splits the cluster into groups that cannot talk to each other; ids not named stay whole. */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    for (const group of groups) {
      for (const from of group) {
        for (const to of this.ids) if (!group.includes(to)) {
          this.cutLink(from, to);
          this.cutLink(to, from);
        }
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition([id]);
  }

  heal(): void {
    this.cutLinks.clear();
    this.droppedTypes.clear();
  }

  // --- Inspection -------------------------------------------------------------------------

  /** The live leader with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.upNodes()) {
      const status = node.raft.status();
      if (status.role !== "leader") continue;
      if (best === null || status.term > best.raft.status().term) best = node;
    }
    return best;
  }

  /** Every live node that believes it is leader. */
  leaders(): SimNode[] {
    return this.upNodes().filter((node) => node.raft.status().role === "leader");
  }

  /** Proposes at the current leader; returns the index, or null when there is no leader or it
   * refused. */
  propose(data: string): number | null {
    const leader = this.leader();
    if (leader === null) return null;
    const result = leader.raft.propose(data);
    return result.kind === "accepted" ? result.index : null;
  }

  /** How many live nodes have applied the entry at `index` with data `data`. */
  appliedCount(index: number, data: string): number {
    return this.upNodes().filter((node) => node.applied[index - 1]?.data === data).length;
  }

  sentCount(type: MessageType): number {
    return this.sentCounts.get(type) ?? 0;
  }

  resetSentCounts(): void {
    this.sentCounts.clear();
  }
}

/** Node ids "n1".."nN". */
export function nodeIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, k) => `n${k + 1}`);
}
