import {
  makeRaftConfig,
  RaftNode,
  SeededRng,
  type Entry,
  type HardState,
  type MessageType,
  type NodeId,
  type RaftConfig,
  type RaftMessage,
  type Ready,
  type Snapshot,
} from "../raft/index.js";

/**
 * A whole cluster in one process, over a simulated network, disk and clock. It runs the real
 * core and the driver's order of work (persist, then send, then apply, then advance), and every
 * random choice comes from one seed. The mocha tests drive it step by step; the simulator
 * (simulator.ts) drives it with random faults and checks it with checker.ts.
 */

/**
 * What survives a crash: only what the driver fsynced. A Ready is written as a sequence of
 * writes in the order a write-ahead log makes them durable (a snapshot file, the log reset
 * after it, each entry, then the hard state), so a crash part-way keeps a prefix of them.
 */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  /** Contiguous entries; the first may have any index after a snapshot or compaction. */
  entries: Entry[] = [];
  snapshot: Snapshot | null = null;

  /** Makes the first `writesMax` writes of `ready` durable (all of them by default). */
  write(ready: Ready, writesMax = Infinity): void {
    const writes: (() => void)[] = [];
    const snapshot = ready.snapshot;
    if (snapshot !== null) writes.push(() => (this.snapshot = snapshot));
    const logStart = ready.logStart;
    if (logStart !== null) writes.push(() => this.resetTo(logStart.index));
    for (const entry of ready.entries) writes.push(() => this.appendEntry(entry));
    const hardState = ready.hardState;
    if (hardState !== null) writes.push(() => (this.hardState = hardState));
    writes.slice(0, writesMax).forEach((write) => write());
  }

  writeCount(ready: Ready): number {
    return (ready.snapshot === null ? 0 : 1) + (ready.logStart === null ? 0 : 1) +
      ready.entries.length + (ready.hardState === null ? 0 : 1);
  }

  /** The index after which the stored log starts when it holds no entries. */
  private emptyLogAfter = 0;

  private resetTo(index: number): void {
    this.entries = [];
    this.emptyLogAfter = index;
  }

  /** Appends one entry, truncating any stored suffix from its index on (LogStore.append). */
  private appendEntry(entry: Entry): void {
    const first = this.entries[0]?.index ?? this.emptyLogAfter + 1;
    const lastIndex = first + this.entries.length - 1;
    if (entry.index < first || entry.index > lastIndex + 1) {
      throw new Error(`disk append at ${entry.index} outside [${first}, ${lastIndex + 1}]`);
    }
    this.entries.length = entry.index - first;
    this.entries.push(entry);
  }

  /**
   * The durable term at `index`: from the entries, or from the snapshot when it covers the
   * index (an index below the snapshot is durable as part of it: returns its term then too).
   */
  durableTermAt(index: number): number | null {
    const first = this.entries[0]?.index;
    if (first !== undefined && index >= first) return this.entries[index - first]?.term ?? null;
    const snapshotMeta = this.snapshot?.meta;
    if (snapshotMeta !== undefined && index <= snapshotMeta.index) return snapshotMeta.term;
    return null;
  }

  /** Drops entries at or below `index`, as a compacting log store does. */
  compactTo(index: number): void {
    const first = this.entries[0]?.index;
    if (first === undefined || index < first) return;
    const last = first + this.entries.length - 1;
    this.entries.splice(0, index - first + 1);
    if (this.entries.length === 0) this.emptyLogAfter = Math.min(index, last);
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
}

export interface SimClusterOptions {
  readonly ids: readonly NodeId[];
  readonly seed: number;
  readonly config?: Partial<RaftConfig>;
  readonly network?: NetworkFaults;
  /** Snapshots and log compaction; none when absent. */
  readonly snapshots?: SnapshotPolicy;
}

/** The toy state machine's snapshot: the list of applied entries. */
export function toyStateSnapshot(applied: readonly Entry[]): string {
  return JSON.stringify(applied);
}

export function restoreToyState(snapshot: Snapshot): Entry[] {
  const applied = JSON.parse(snapshot.data) as Entry[];
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
  readonly disk = new SimDisk();

  constructor(
    readonly id: NodeId,
    readonly config: RaftConfig,
    private readonly rngSeed: number,
  ) {
    this.raft = new RaftNode(config, new SeededRng(rngSeed));
  }

  /** Rebuilds the node from its disk, as a process restart would. */
  restart(restartCount: number): void {
    const disk = this.disk;
    this.raft = new RaftNode(this.config, new SeededRng(this.rngSeed + restartCount * 7919), {
      hardState: disk.hardState,
      snapshot: disk.snapshot,
      entries: disk.entries,
    });
    // The toy state machine is restored from the snapshot, then replays the log after it.
    this.applied = disk.snapshot === null ? [] : restoreToyState(disk.snapshot);
    this.up = true;
  }

  lastApplied(): number {
    return this.applied.length;
  }
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

  constructor(options: SimClusterOptions) {
    this.snapshots = options.snapshots ?? null;
    this.ids = [...options.ids];
    this.rng = new SeededRng(options.seed);
    this.network = options.network ?? reliableNetwork;
    options.ids.forEach((id, k) => {
      const config = makeRaftConfig({ id, voters: options.ids }, options.config);
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
    this.maybeSnapshot(node);
    return true;
  }

  /** Takes a snapshot by the policy, and compacts the log and the disk below it. */
  private maybeSnapshot(node: SimNode): void {
    const policy = this.snapshots;
    if (policy === null) return;
    const appliedIndex = node.applied.length;
    const previousIndex = node.disk.snapshot?.meta.index ?? 0;
    if (appliedIndex - previousIndex < policy.entriesBetweenSnapshots) return;
    const term = node.raft.termAt(appliedIndex);
    if (term === null) return;
    const snapshot: Snapshot = {
      meta: { index: appliedIndex, term, voters: node.raft.status().voters },
      data: toyStateSnapshot(node.applied),
    };
    node.disk.snapshot = snapshot;
    const compactIndex = Math.max(appliedIndex - policy.trailingEntries, node.raft.compactedIndex());
    node.raft.compact(snapshot, compactIndex);
    node.disk.compactTo(compactIndex);
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
    node.disk.write(ready, this.rng.nextInt(node.disk.writeCount(ready) + 1));
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
      for (const node of this.nodes.values()) if (node.up) node.raft.tick();
      this.stabilize();
    }
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
    this.inFlight = this.inFlight.filter((item) => item.message.to !== id && item.message.from !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.up) return;
    this.restarts++;
    node.restart(this.restarts);
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
