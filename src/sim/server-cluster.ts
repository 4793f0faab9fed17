import pino from "pino";
import { MemoryStateStore } from "../market/memory-state-store.js";
import { SeededRng, type MemberAddress, type NodeId, type RaftConfig, type Rng } from
  "../raft/index.js";
import { NodeMetrics } from "../node/metrics.js";
import { RaftServer } from "../node/raft-server.js";
import { MemorySnapshotStore, MemoryStorage } from "../storage/index.js";
import { NodeScheduler, type SimClock } from "./sim-clock.js";
import { SimLog, type SimLogFaults } from "./sim-log.js";
import type { SimNetwork, SimTransport } from "./sim-network.js";

/**
 * A cluster of production RaftServers (src/node/raft-server.ts) in one process, each with its
 * real market state machine, under simulated time (SimClock through the Scheduler seam), a
 * simulated network (SimNetwork through the Transport seam) and simulated disks: the in-memory
 * write-ahead log (SimLog over MemoryStorage) and the in-memory state store twin
 * (MemoryStateStore), both with their crash models. Nothing here copies the driver: a crash
 * is what SIGKILL does to a process (its timers and pending I/O vanish, its unsynced writes
 * are partly lost), a restart is RaftServer.start on what the disks kept.
 */

export interface ServerNodeDisk {
  log: MemoryStorage;
  state: MemoryStateStore;
}

export class ServerSimNode {
  server: RaftServer | null = null;
  scheduler: NodeScheduler | null = null;
  transport: SimTransport | null = null;
  log: SimLog | null = null;
  /** What the disks hold while the node is down; handed to the next start. */
  disk: ServerNodeDisk = { log: new MemoryStorage(), state: new MemoryStateStore() };
  /**
   * The node's metrics, made at its first start and kept across restarts: the simulator never
   * reads them, and a prom-client registry with its histograms costs more to build than a
   * restart's other work.
   */
  metrics: NodeMetrics | null = null;
  /** The fatal error the node stopped on, if it stopped by itself. */
  fatal: Error | null = null;
  /** Set when the node's next fatal error is one the simulator caused (a failed fsync). */
  fatalExpected = false;
  starts = 0;
  readonly logFaults: SimLogFaults = { fsyncMsMax: 0, failNextSync: false,
    crashDuringNextSync: null };
  /** Milliseconds by which this node's wall clock is off (a clock fault). */
  wallClockSkewMs = 0;
  /** Why the node may never start again (its disk is damaged), or null. */
  retired: string | null = null;
  /** A fault damaged its disk (it is retired at its next start). */
  damaged = false;
  /** The fault that lost its whole disk struck (at this virtual time): it never runs again. */
  lostAtMs: number | null = null;

  /**
   * `voters`: the cluster's bootstrap voters, which its log's configuration changes apply to
   * (for a node that joins later, those it learned from the cluster, as market-node --join
   * does); `addresses`: the bootstrap address book (empty without membership changes);
   * `known`: for a node that joins, the members' addresses when it joined (its transport's).
   */
  constructor(readonly id: NodeId, readonly voters: readonly NodeId[],
    readonly addresses: readonly MemberAddress[], readonly known: readonly MemberAddress[] = []) {}

  get up(): boolean {
    return this.server !== null;
  }
}

export interface ServerClusterOptions {
  readonly ids: readonly NodeId[];
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly rng: Rng;
  readonly tickIntervalMs: number;
  readonly raft?: Partial<RaftConfig>;
  readonly snapshot: { readonly entriesBetweenSnapshots: number; readonly trailingEntries: number };
  /** Called when a node stops on a fatal error the simulator did not cause. */
  readonly onUnexpectedFatal: (node: ServerSimNode, error: Error) => void;
  /**
   * With membership changes: each bootstrap node's addresses. The nodes then reach only the
   * peers their address book knows (SimTransport.peers), as over HTTP.
   */
  readonly addressOf?: (id: NodeId) => MemberAddress;
  /** With addresses: whether a node answers a sender it has no address for (SimTransport). */
  readonly learnsUnknownPeers?: boolean;
  /** A node applied the change that removes it (RaftServer's onRemoved). */
  readonly onRemoved?: (node: ServerSimNode, index: number) => void;
  /**
   * Whether each node runs with an incarnation (its disk's identity, as market-node reads it
   * from the data folder), which it publishes in the replicated state (member-publisher.ts).
   * One for the node's whole life here: a node whose disk is lost never starts again.
   */
  readonly publishIncarnations?: boolean;
}

const silentLogger = pino({ level: "silent" });

/** The incarnation of node `id`'s disk, with publishIncarnations. */
export function simIncarnationOf(id: NodeId): string {
  return `sim-disk-${id}`;
}

export class ServerCluster {
  private readonly nodeMap: Map<NodeId, ServerSimNode>;

  constructor(private readonly options: ServerClusterOptions) {
    const addresses = options.addressOf === undefined ? [] : options.ids.map(options.addressOf);
    this.nodeMap = new Map(options.ids.map((id) => [id, new ServerSimNode(id, options.ids,
      addresses)]));
  }

  /** Every node ever created, bootstrap ones first, then in the order they were added. */
  get nodes(): ReadonlyMap<NodeId, ServerSimNode> {
    return this.nodeMap;
  }

  /**
   * A brand-new node with an empty disk, for a node that joins the running cluster: `voters`
   * and `addresses` as market-node --join learns them from a member (GET /admin/members).
   */
  addNode(id: NodeId, voters: readonly NodeId[], addresses: readonly MemberAddress[],
    known: readonly MemberAddress[]): ServerSimNode {
    if (this.nodeMap.has(id)) throw new Error(`node ${id} exists already: ids are never reused`);
    const node = new ServerSimNode(id, voters, addresses, known);
    this.nodeMap.set(id, node);
    return node;
  }

  node(id: NodeId): ServerSimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /**
   * Starts (or restarts) a node on what its disks hold. A node whose log fails its checks (a
   * damaged record) refuses to start, as market-node does on a CorruptionError, and is retired:
   * the operator would replace it. Returns whether the node is up.
   */
  start(id: NodeId): boolean {
    const node = this.node(id);
    if (node.up) return true;
    if (node.retired !== null) return false;
    try {
      node.disk.log.verify();
    } catch (error) {
      node.retired = (error as Error).message;
      return false;
    }
    const { clock, network, rng } = this.options;
    const scheduler = new NodeScheduler(clock, new SeededRng(rng.nextInt(2 ** 31)));
    scheduler.wallClockOffsetMs += node.wallClockSkewMs;
    const transport = network.transportFor(id);
    transport.learnsUnknownPeers = this.options.learnsUnknownPeers === true;
    const log = new SimLog(node.disk.log, scheduler, new SeededRng(rng.nextInt(2 ** 31)),
      node.logFaults);
    const state = node.disk.state;
    node.fatal = null;
    node.starts++;
    let server: RaftServer;
    try {
      server = this.startServer(node, scheduler, transport, log, state);
    } catch (error) {
      // A damaged disk may be found while opening it: the node refuses to start, as market-node
      // does; anything else is a bug.
      if (!node.damaged) throw error;
      scheduler.kill();
      transport.kill();
      node.retired = (error as Error).message;
      return false;
    }
    node.server = server;
    node.scheduler = scheduler;
    node.transport = transport;
    node.log = log;
    return true;
  }

  private startServer(node: ServerSimNode, scheduler: NodeScheduler, transport: SimTransport,
    log: SimLog, state: MemoryStateStore): RaftServer {
    const id = node.id;
    const withAddresses = this.options.addressOf !== undefined;
    const server: RaftServer = RaftServer.start({
      id,
      voters: node.voters,
      dataDir: `/sim/${id}`,
      transport,
      logger: silentLogger,
      tickIntervalMs: this.options.tickIntervalMs,
      raft: this.options.raft,
      bootstrapAddresses: node.addresses,
      ...(this.options.publishIncarnations === true ? { incarnation: simIncarnationOf(id) } : {}),
      ...(node.known.length === 0 ? {} : { knownAddresses: node.known }),
      ...(withAddresses ? {
        onPeersChanged: (known: MemberAddress[]) => {
          transport.peers = new Set(known.map((address) => address.id).filter((peer) => peer !== id));
        },
        onRemoved: (index: number) => {
          if (node.server === server) this.options.onRemoved?.(node, index);
        },
      } : {}),
      snapshot: this.options.snapshot,
      scheduler,
      // Without the process metrics: prom-client's collect a whole process's figures through
      // perf_hooks observers that a simulated restart would never release.
      metrics: node.metrics ??= new NodeMetrics(id, { processMetrics: false }),
      openStorage: () => ({ log, state, snapshots: new MemorySnapshotStore() }),
      onFatal: (error) => {
        // A crashed incarnation's leftover continuations may fail on its dead disks: ignored.
        if (node.server === server) this.onFatal(node, error);
      },
    });
    return server;
  }

  /**
   * SIGKILL: the node's timers, pending fsyncs and in-flight work vanish; of the writes not yet
   * synced (the log) or flushed (the state store), a random prefix survives.
   */
  crash(id: NodeId, damage: "log" | "state" | null = null): void {
    const node = this.node(id);
    if (!node.up) return;
    const rng = this.options.rng;
    node.scheduler!.kill();
    node.transport!.kill();
    node.disk = {
      log: node.log!.crash(rng),
      state: node.disk.state.crash(rng.nextInt(node.disk.state.unflushedWrites() + 1)),
    };
    if (damage === "log") {
      // A latent sector error in a record already on disk, found when the log is next opened.
      const log = node.disk.log;
      const first = log.firstIndex();
      const last = log.lastIndex();
      if (last >= first) log.damageEntry(first + rng.nextInt(last - first + 1));
    } else if (damage === "state") {
      // A flipped bit in the database: found when that value is next read (at start for an
      // item or the meta, when applying for a session, when encoding a snapshot for an order).
      const state = node.disk.state;
      const table = (["items", "orders", "sessions", "meta"] as const)[rng.nextInt(4)]!;
      const keys = state.keys(table);
      if (keys.length > 0) state.damage(table, keys[rng.nextInt(keys.length)]!);
    }
    node.server = null;
    node.scheduler = null;
    node.transport = null;
    node.log = null;
  }

  /** The node whose RaftServer reports itself leader of the highest term, if any. */
  leader(): ServerSimNode | null {
    let best: ServerSimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const status = node.server?.brief();
      if (status?.role === "leader" && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  upNodes(): ServerSimNode[] {
    return [...this.nodes.values()].filter((node) => node.up);
  }

  private onFatal(node: ServerSimNode, error: Error): void {
    node.fatal = error;
    // A failed fsync the simulator caused, or damage it put on the disk.
    const expected = node.fatalExpected || (node.damaged && /damaged state store/.test(error.message));
    node.fatalExpected = false;
    // The process exits: what it had not synced is partly lost, as in a crash.
    this.crash(node.id);
    if (!expected) this.options.onUnexpectedFatal(node, error);
  }
}
