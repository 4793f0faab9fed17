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
} from "../raft/index.js";

/**
 * A whole cluster in one process, over a simulated network, disk and clock. It runs the real
 * core and the driver's order of work (persist, then send, then apply, then advance), and every
 * random choice comes from one seed. The mocha tests drive it step by step; the simulator
 * (simulator.ts) drives it with random faults and checks it with checker.ts.
 */

/** What survives a crash: only what the driver fsynced. */
export interface SimDisk {
  hardState: HardState;
  entries: Entry[];
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

export interface SimClusterOptions {
  readonly ids: readonly NodeId[];
  readonly seed: number;
  readonly config?: Partial<RaftConfig>;
  readonly network?: NetworkFaults;
}

interface InFlight {
  readonly message: RaftMessage;
  readonly deliverAtTick: number;
}

export class SimNode {
  raft: RaftNode;
  up = true;
  /** When set, the node crashes part-way through persisting its next Ready. */
  crashAtNextPersist = false;
  /** The toy state machine: every applied entry's data, by index. */
  applied: Entry[] = [];
  readonly disk: SimDisk = { hardState: { term: 0, vote: null, commit: 0 }, entries: [] };

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
      snapshot: null,
      entries: disk.entries,
    });
    // The toy state machine is rebuilt by replaying the log from the start.
    this.applied = [];
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

  constructor(options: SimClusterOptions) {
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
    if (node.crashAtNextPersist) {
      this.crashDuringPersist(node);
      return true;
    }
    const ready = node.raft.ready();
    this.observer.onReady?.(node, ready);
    this.persist(node, ready);
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
    return true;
  }

  /** Entries first, then the hard state: a hard state on disk implies its entries are. */
  private persist(node: SimNode, ready: Ready): void {
    if (ready.entries.length > 0) {
      // The first entry's index truncates any stored suffix from there on.
      node.disk.entries.length = ready.entries[0]!.index - 1;
      node.disk.entries.push(...ready.entries);
    }
    if (ready.hardState !== null) node.disk.hardState = ready.hardState;
  }

  /**
   * A crash in the middle of a Ready: the writes reached the disk in order (the entries, then
   * the hard state, as a write-ahead log appends them), and the crash cut that sequence at a
   * random point; unsynced writes after it are lost and none of the messages went out.
   */
  crashDuringPersist(node: SimNode): void {
    if (!node.up) return;
    if (node.raft.hasReady()) {
      const ready = node.raft.ready();
      const writeCount = ready.entries.length + (ready.hardState === null ? 0 : 1);
      const keptCount = this.rng.nextInt(writeCount + 1);
      const keptEntries = ready.entries.slice(0, keptCount);
      if (keptEntries.length > 0) {
        node.disk.entries.length = keptEntries[0]!.index - 1;
        node.disk.entries.push(...keptEntries);
      }
      if (ready.hardState !== null && keptCount === writeCount) {
        node.disk.hardState = ready.hardState;
      }
    }
    this.crash(node.id);
  }

  /** Arms a crash for the next time `id` persists a Ready: the moment a real crash hurts. */
  crashAtNextPersist(id: NodeId): void {
    const node = this.node(id);
    if (node.up) node.crashAtNextPersist = true;
  }

  private sendMessage(from: SimNode, message: RaftMessage): void {
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
        while (this.processReady(node)) worked = true;
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
    this.inFlight = this.inFlight.filter((item) => item.message.to !== id && item.message.from !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.up) return;
    this.restarts++;
    node.crashAtNextPersist = false;
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
