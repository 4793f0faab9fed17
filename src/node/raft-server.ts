import type { Logger } from "pino";
import type { MarketRequest, MarketResult, MarketStateMachine } from "../market/index.js";
import {
  assert,
  makeRaftConfig,
  metaOfConf,
  RaftNode,
  SeededRng,
  type Entry,
  type MemberAddress,
  type MemberRecord,
  type NodeId,
  type RaftConfig,
  type RaftMessage,
  type Ready,
  type Role,
  type SnapshotMeta,
} from "../raft/index.js";
import type { DurableLog } from "../storage/index.js";
import type { StateStore } from "../storage/state-store.js";
import type { Transport } from "../transport/transport.js";
import type { DriverContext } from "./driver-context.js";
import { Forwarding } from "./forwarding.js";
import {
  encodeMarketRequest,
  openMarketAdapter,
  restampMarketProposal,
  type MarketAdapter,
} from "./market-adapter.js";
import { IdentityConflictError, MemberPublisher } from "./member-publisher.js";
import { decodePublish } from "./members.js";
import {
  Membership,
  type MembershipOutcome,
  type MembershipRequest,
  type MembersView,
} from "./membership.js";
import { NodeMetrics } from "./metrics.js";
import { RaftEventLog, type RaftEventPage } from "./raft-event-log.js";
import { openFileStores, type NodeStores } from "./node-stores.js";
import { logTailOf, type LogTail } from "./log-tail.js";
import type {
  NodeService,
  NodeStatus,
  ReadBarrierOutcome,
  SubmitOutcome,
} from "./node-service.js";
import { Proposals } from "./proposals.js";
import { ReadBarriers } from "./read-barriers.js";
import { realScheduler, type Scheduler, type TimerHandle } from "./scheduler.js";
import { checkpointJitterDraw, snapshotChunkBytesDefault, Snapshots } from "./snapshots.js";
import { StateBehindLogError, type CommittedEntry } from "./state-machine.js";
import { ViolationLog } from "./violation-log.js";

// Moved out of this file, still importable from here.
export { IdentityConflictError } from "./member-publisher.js";
export { openFileStores, type NodeStores } from "./node-stores.js";
export { StateBehindLogError } from "./state-machine.js";

/** What RaftServer.start needs: the node, its peers, its stores and clock, its limits. */
export interface RaftServerOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly dataDir: string;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly tickIntervalMs: number;
  readonly raft?: Partial<RaftConfig>;
  /**
   * Where the nodes the cluster was bootstrapped with listen (the cluster file's): the
   * address book until the replicated one (member-addresses.ts) says more. Client URLs are
   * used for forwarding; none in the simulator.
   */
  readonly bootstrapAddresses: readonly MemberAddress[];
  /** Addresses known outside the log (a joining node's view of the members when it joined). */
  readonly knownAddresses?: readonly MemberAddress[];
  /** The peers this node may need to reach changed (a member was added): the transport's. */
  readonly onPeersChanged?: (known: MemberAddress[]) => void;
  /** This node applied the change at `index` that removes it from the cluster. */
  readonly onRemoved?: (index: number) => void;
  readonly snapshot: { readonly entriesBetweenSnapshots: number; readonly trailingEntries: number };
  readonly pendingProposalsMax?: number;
  readonly proposalTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  readonly metrics?: NodeMetrics;
  /** Opens the stores; FileStorage and LMDB in dataDir by default (openFileStores). */
  readonly openStorage?: () => NodeStores;
  /**
   * The clock, timers and random choices (scheduler.ts): Node's by default; the simulator's
   * virtual time under `npm run sim`. The wall clock stamps commands (session expiry only).
   */
  readonly scheduler?: Scheduler;
  /**
   * A follower sends writes to the leader as Raft messages (default) and answers once it has
   * applied them itself; false makes it answer notLeader, so the API relays the HTTP request.
   */
  readonly forwardProposals?: boolean;
  /**
   * This node's incarnation (storage/node-identity.ts). When given, the node publishes
   * `(id, incarnation)` in the replicated state once a leader is known, and stops should its
   * id turn out to be published already under another incarnation (members.ts).
   */
  readonly incarnation?: string;
  /** Called once when the node stops because its id belongs to an earlier incarnation. */
  readonly onIdentityConflict?: (message: string) => void;
  /**
   * Called once when the node stops on a fatal error (a storage failure, a broken invariant),
   * after it has begun to stop. By default the error is rethrown on the next turn, so that the
   * process's crash handler exits; the simulator records it instead.
   */
  readonly onFatal?: (error: Error) => void;
}

/** A leader's append that only tells a follower of a commit (no entries; answered if refused). */
function isCommitNews(message: RaftMessage): boolean {
  return message.type === "append" && message.commitOnly === true;
}

/** Database writes queued but not committed before the loop waits for them: bounds memory. */
const pendingStateWritesMax = 64;

/**
 * Election timeouts a loop pass may wait (for its fsync, or the database) while the node still
 * sends its heartbeats and their answers (sendEarlyWhileBusy): 750 ms at the default timing. A
 * disk that stalls longer is taken for one that hangs.
 */
const busyPassElectionTimeoutsMax = 5;
/** At most one warning of a leader's hung disk per this many ms. */
const hungWarningIntervalMs = 10_000;

type Loop = "idle" | "running" | "rerun";

/**
 * RaftServer: the driver (DESIGN.md §1 node/), the only layer with a clock and I/O. It owns the
 * RaftNode, the write-ahead log, the state database, the transport and the state machine, and
 * runs the loop etcd's doc.go prescribes, one iteration at a time:
 *
 *   ready() -> send the leader's appends -> apply the committed entries synced earlier ->
 *   persist (one fdatasync: group commit) -> send the rest -> apply the other committed
 *   entries -> answer waiting clients -> advance() -> maybe snapshot
 *
 * (A leader's news of a commit that answers only its own writes leaves after those answers,
 * within the same turn of the event loop: mayHoldCommitNews.)
 *
 * Everything that arrives while an iteration waits for its fsync (proposals, peer messages,
 * ticks) is batched into the next one, so one fsync covers a whole iteration's entries; only
 * the messages that wait for no fsync (heartbeats, their answers, a leader's appends) leave
 * meanwhile (sendEarlyWhileBusy), within a bound.
 *
 * This file is the loop; each other concern is a module the loop calls at its point in the
 * iteration: proposals.ts (the leader's writes and their outcomes), forwarding.ts (a
 * follower's writes), read-barriers.ts (ReadIndex reads), snapshots.ts (checkpoints,
 * compaction, snapshots sent and installed), member-publisher.ts (published members), and the
 * state machine behind its seam (state-machine.ts), the market here (market-adapter.ts). The
 * loop applies entries through that seam only; the market shows through in NodeService (its
 * request and result types, market()), in a request encoded as an entry at submit(), and in a
 * forwarded write restamped with the leader's clock at receive().
 */
export class RaftServer implements NodeService {
  readonly id: NodeId;
  readonly metrics: NodeMetrics;
  private readonly node: RaftNode;
  private readonly stateMachine: MarketAdapter;
  private readonly log: DurableLog;
  private readonly stateStore: StateStore;
  private readonly proposals: Proposals<MarketResult>;
  private readonly forwarding: Forwarding<MarketResult>;
  private readonly reads: ReadBarriers;
  private readonly snapshots: Snapshots;
  private readonly publisher: MemberPublisher;
  private loop: Loop = "idle";
  /** The loop pass in progress, so that stop() can wait for its fsync. */
  private loopPass: Promise<void> = Promise.resolve();
  private tickTimer: TimerHandle | null = null;
  /** When the tick timer last fired, to tell a late tick (after a stall) from one on time. */
  private lastTickMs: number;
  private stopped = false;
  /** The leader noted from the last Ready that changed it (DriverContext.leaderId). */
  private leaderId: NodeId | null = null;
  private fatalError: Error | null = null;
  private readonly violationLog: ViolationLog;
  /** The configuration and addresses as of the applied index, and membership changes. */
  private readonly membership: Membership;
  /** The core's events (Ready.events): logged, and kept for GET /v1/cluster/events. */
  private readonly events: RaftEventLog;

  private readonly scheduler: Scheduler;
  /** When the loop pass in progress started (scheduler ms): how long it has waited. */
  private passStartedMs = 0;
  /** How long a pass may wait before its messages stop leaving early (sendEarlyWhileBusy). */
  private readonly earlyWhileBusyMsMax: number;
  /** Whether the pass in progress outlasted earlyWhileBusyMsMax (logged once per pass). */
  private passHung = false;
  /** When that was last logged: a disk slow for minutes logs every hungWarningIntervalMs. */
  private hungWarnedAtMs = -Infinity;
  /**
   * News of a commit held back until this node's own writes that the commit answers have been
   * answered (mayHoldCommitNews); sent before any message sent after it (sendHeldNews).
   */
  private heldNews: RaftMessage[] = [];
  /**
   * The follower whose forwarded write arrived while this node led, last (null since it last
   * stopped leading). Its client waits for the append and the news of the commit that follow,
   * so its messages go first (firstToForwarder).
   */
  private lastForwarder: NodeId | null = null;

  private constructor(private readonly options: RaftServerOptions) {
    this.id = options.id;
    const scheduler = options.scheduler ?? realScheduler;
    this.scheduler = scheduler;
    this.lastTickMs = scheduler.nowMs();
    // The order of the scheduler's random draws (this boot id, the checkpoint jitter, then the
    // core's seed) is part of what a simulator seed replays: keep it.
    const bootId = scheduler.randomId().slice(0, 8);
    this.metrics = options.metrics ?? new NodeMetrics(options.id);
    this.events = new RaftEventLog(options.id, options.logger);
    this.violationLog = new ViolationLog({ logger: options.logger, metrics: this.metrics,
      peers: new Set(options.voters), nowMs: () => scheduler.nowMs() });
    const stores = options.openStorage?.() ?? openFileStores(options.dataDir, options.logger);
    this.log = stores.log;
    this.stateStore = stores.state;
    // Snapshots go through files in the data folder, unless the stores are the caller's own.
    const spoolDir = options.openStorage === undefined ? options.dataDir : null;
    this.stateMachine = openMarketAdapter(stores, options.logger, spoolDir);
    // The database is the snapshot: the core starts from its applied index, and the log
    // replays what follows (the entries at or below it, kept as a trailing window, are skipped).
    const base = this.stateMachine.storedMeta();
    if ((base?.index ?? 0) < this.log.firstIndex() - 1) {
      throw new StateBehindLogError(`the state database is at index ${base?.index ?? 0}, but the ` +
        `write-ahead log starts at ${this.log.firstIndex()}: the entries between are lost. ` +
        "Restore the data folder from a backup, or replace the node");
    }
    this.publisher = new MemberPublisher(options.id, options.incarnation, scheduler,
      options.logger, (message) => this.stopForIdentityConflict(message));
    const conflict = this.publisher.reset(base?.members ?? []);
    if (conflict !== null) throw new IdentityConflictError(conflict);
    const checkpointJitter = checkpointJitterDraw(scheduler,
      options.snapshot.entriesBetweenSnapshots);
    const config = makeRaftConfig({ id: options.id, voters: options.voters },
      { snapshotChunkBytes: snapshotChunkBytesDefault, ...options.raft,
        snapshotReceiver: (meta) => this.snapshots.receiver(meta) });
    this.earlyWhileBusyMsMax = busyPassElectionTimeoutsMax * config.electionTimeoutTicks *
      options.tickIntervalMs;
    this.node = new RaftNode(config, new SeededRng(scheduler.randomInt(2 ** 31)), {
      hardState: this.log.hardState(),
      snapshot: base === null ? null : { meta: base },
      entries: this.log.entries(this.log.firstIndex(), this.log.lastIndex() + 1),
    });
    const context: DriverContext = {
      id: options.id, node: this.node, scheduler, metrics: this.metrics, logger: options.logger,
      leaderId: () => this.leaderId,
      schedule: () => this.schedule(),
      stopped: () => this.stopped,
      running: () => !this.stopped && this.fatalError === null,
      fail: (error) => this.fail(error),
    };
    const pendingMax = options.pendingProposalsMax ?? 10_000;
    const proposalTimeoutMs = options.proposalTimeoutMs ?? 5000;
    this.membership = new Membership(context, { bootstrapVoters: options.voters,
      bootstrapAddresses: options.bootstrapAddresses, timeoutMs: proposalTimeoutMs,
      ...(options.knownAddresses === undefined ? {} : { knownAddresses: options.knownAddresses }),
      ...(options.onPeersChanged === undefined ? {} : { onPeersChanged: options.onPeersChanged }),
      ...(options.onRemoved === undefined ? {} : { onRemoved: options.onRemoved }),
      publishedIds: () => this.publisher.list().map((record) => record.id) },
    base, this.log.entries(this.log.firstIndex(), this.log.lastIndex() + 1));
    this.proposals = new Proposals(context, pendingMax, proposalTimeoutMs);
    this.forwarding = new Forwarding(context, options.transport,
      (data) => this.stateMachine.requestKeyOf(data), pendingMax, proposalTimeoutMs);
    this.reads = new ReadBarriers(context, bootId, pendingMax, options.readTimeoutMs ?? 5000);
    this.snapshots = new Snapshots(context, { log: this.log, stateStore: this.stateStore,
      stateMachine: this.stateMachine, spoolDir, ...options.snapshot,
      metaAt: (index, term) => this.metaAt(index, term),
      onInstalled: (meta, cost) => {
        this.settleInstalled(meta);
        this.events.record([{ kind: "snapshotInstalled", term: meta.term, index: meta.index,
          snapshotIndex: meta.index, bytes: cost.bytes, ms: cost.ms }], 0,
        scheduler.wallClockMs());
      } }, base?.index ?? 0, checkpointJitter);
    this.metrics.observeRaftState(() => {
      const status = this.node.status();
      return { term: status.term, role: status.role, commitIndex: status.commitIndex,
        appliedIndex: this.stateMachine.appliedIndex, lastLogIndex: status.lastLogIndex };
    });
    const restored = this.node.status();
    options.logger.info({ term: restored.term, commitIndex: restored.commitIndex,
      lastLogIndex: restored.lastLogIndex, stateIndex: base?.index ?? 0 },
    "raft node restored");
  }

  /** Opens the stores, restores the state machine and the core, and starts the clock. */
  static start(options: RaftServerOptions): RaftServer {
    const server = new RaftServer(options);
    options.transport.onReceive((messages) => server.receive(messages));
    server.tickTimer = server.scheduler.setInterval(() => server.tick(), options.tickIntervalMs);
    server.schedule();
    return server;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.scheduler.clearTimer(this.tickTimer);
    this.tickTimer = null;
    this.proposals.stop();
    this.membership.stop();
    this.forwarding.stop();
    this.reads.stop();
    await this.loopPass;
    await this.snapshots.settled();
    await this.options.transport.close();
    // Unsynced writes are dropped, as a crash would drop them: nothing unsynced was promised.
    this.log.close();
    // The database commits what it was given (it never runs ahead of the log's synced
    // entries, since only committed entries are applied); a failed commit was reported already.
    await this.stateStore.close().catch((error: unknown) => {
      this.options.logger.warn({ err: error }, "closing the state database failed");
    });
  }

  // --- NodeService --------------------------------------------------------------------------

  submit(request: MarketRequest): Promise<SubmitOutcome> {
    if (this.stopped || this.fatalError !== null) {
      return Promise.resolve({ kind: "unknown", leaderId: null });
    }
    if (this.proposals.full()) {
      this.metrics.proposals.inc({ outcome: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    const encoded = encodeMarketRequest(request, this.scheduler.wallClockMs());
    if (this.node.role !== "leader" && (this.options.forwardProposals ?? true)) {
      return this.forwarding.submit(encoded.key(), encoded.data);
    }
    const result = this.node.propose(encoded.data);
    switch (result.kind) {
      case "notLeader":
      case "transferring":
        return Promise.resolve({ kind: "notLeader", leaderId: result.leaderIdHint });
      case "overloaded":
        this.metrics.proposals.inc({ outcome: "overloaded" });
        return Promise.resolve({ kind: "overloaded" });
      case "accepted":
        break;
    }
    return this.proposals.wait(result.index, result.term);
  }

  readBarrier(): Promise<ReadBarrierOutcome> {
    if (this.stopped || this.fatalError !== null) {
      return Promise.resolve({ kind: "noLeader", leaderId: null });
    }
    return this.reads.barrier();
  }

  market(): MarketStateMachine {
    return this.stateMachine.market;
  }

  raftEvents(after: number, limit: number): RaftEventPage {
    return this.events.page(after, limit);
  }

  storageFailed(error: Error): void {
    if (this.stopped || this.fatalError !== null) return;
    this.fail(error);
  }

  status(): NodeStatus {
    const status = this.node.status();
    return {
      id: status.id,
      role: status.role,
      term: status.term,
      leaderId: status.leaderId,
      commitIndex: status.commitIndex,
      appliedIndex: this.stateMachine.appliedIndex,
      lastLogIndex: status.lastLogIndex,
      members: status.voters,
      learners: status.learners,
      votersOutgoing: status.votersOutgoing,
      clientUrls: this.membership.clientUrls(),
      stateHash: this.stateMachine.stateHash(),
      vote: status.vote,
      lastLogTerm: status.lastLogTerm,
      progress: status.progress,
      electionElapsedTicks: status.electionElapsedTicks,
      electionTimeoutTicks: status.electionTimeoutTicks,
    };
  }

  /**
   * The parts of status() that pollers read after every event (the simulator's hash and
   * convergence checks): without building a whole status.
   */
  brief(): { readonly role: Role; readonly term: number; readonly commitIndex: number;
    readonly appliedIndex: number } {
    return { role: this.node.role, term: this.node.term, commitIndex: this.node.commitIndex,
      appliedIndex: this.stateMachine.appliedIndex };
  }

  /** status().stateHash alone. */
  stateHash(): string {
    return this.stateMachine.stateHash();
  }

  logTail(limit: number): LogTail {
    return logTailOf(this.node, this.node.status(), limit);
  }

  /** The published members, those in the log beyond the applied index too (bootstrap.ts). */
  publishedMembers(): MemberRecord[] {
    return this.publisher.publishedMembers(this.node, this.stateMachine.appliedIndex);
  }

  clientUrlOf(id: NodeId): string | null {
    return this.membership.addresses.get(id)?.clientUrl ?? null;
  }

  /** The members as this node sees them (GET /admin/members). */
  members(): MembersView {
    return { ...this.membership.view(),
      published: this.publishedMembers().map((record) => record.id) };
  }

  /** Proposes a membership change as leader and waits until it applies here. */
  changeMembership(request: MembershipRequest): Promise<MembershipOutcome> {
    if (this.stopped || this.fatalError !== null) {
      return Promise.resolve({ kind: "unknown", leaderId: null });
    }
    const outcome = this.membership.change(request);
    this.schedule();
    return outcome;
  }

  /** Hands leadership to `target` (admin API). */
  transferLeadership(target: NodeId): string {
    const result = this.node.transferLeadership(target);
    this.schedule();
    return result.kind;
  }

  // --- Events -----------------------------------------------------------------------------

  /**
   * A tick that comes late (the process was stalled: GC, a long pass, the CPU taken by others)
   * is counted only after the input queued meanwhile is read. Node runs due timers before it
   * polls sockets, so counting it at once could take the leader's heartbeats, already waiting
   * in the socket, for silence and start a needless pre-vote. setImmediate runs after the poll.
   */
  private tick(): void {
    const nowMs = this.scheduler.nowMs();
    const late = nowMs - this.lastTickMs > 2 * this.options.tickIntervalMs;
    this.lastTickMs = nowMs;
    if (late) this.scheduler.setImmediate(() => this.tickNow());
    else this.tickNow();
  }

  private tickNow(): void {
    if (this.stopped) return;
    const storeFailure = this.stateStore.failed();
    if (storeFailure !== null && this.fatalError === null) {
      this.fail(storeFailure);
      return;
    }
    this.node.tick();
    if (this.fatalError === null) this.publisher.maybePublish(this.node);
    this.sendEarlyWhileBusy();
    this.schedule();
  }

  private receive(messages: readonly RaftMessage[]): void {
    if (this.stopped) return;
    const leading = this.node.role === "leader";
    for (const message of messages) {
      if (leading && message.type === "propose") {
        this.lastForwarder = message.from;
        // The leader's clock, as for its own proposals (encodeMarketRequest).
        const nowMs = this.scheduler.wallClockMs();
        this.node.step({ ...message,
          data: message.data.map((data) => restampMarketProposal(data, nowMs)) });
      } else {
        this.node.step(message);
      }
    }
    this.sendEarlyWhileBusy();
    this.schedule();
  }

  /**
   * While a pass waits (for its fsync, or for the database to catch up), sends at once what
   * need not wait for it (RaftNode.takeEarlyMessages): heartbeats, their answers, a leader's
   * appends. Otherwise a disk that stalls for an election timeout, as this machine's did for
   * all three nodes at once, makes a leader step down (CheckQuorum: its followers' answers wait
   * behind their fsyncs) or its followers campaign (its heartbeats wait behind its own), though
   * every process runs and every message arrives. An idle loop sends them in its next pass.
   *
   * Bounded for a leader: a pass that has waited busyPassElectionTimeoutsMax election timeouts
   * is taken for a disk that hangs, and the leader falls silent, so that the cluster elects one
   * whose disk works instead of following one that heartbeats but can commit nothing
   * (CockroachDB kills a node whose disk stalls). The time counts the whole pass, its
   * synchronous work too: after a long apply the bound may be reached early, which only brings
   * back the behaviour without early sends. With the fsync inline (fsync-placement.ts) nothing
   * is sent meanwhile: the loop itself waits.
   */
  private sendEarlyWhileBusy(): void {
    if (this.loop === "idle" || this.stopped || this.fatalError !== null) return;
    const nowMs = this.scheduler.nowMs();
    const waitedMs = nowMs - this.passStartedMs;
    // Only a leader falls silent: a follower whose disk hangs can neither vote nor acknowledge,
    // and silencing its answers would only make a healthy leader step down (CheckQuorum).
    if (waitedMs > this.earlyWhileBusyMsMax && this.node.role === "leader") {
      if (!this.passHung && nowMs - this.hungWarnedAtMs >= hungWarningIntervalMs) {
        this.hungWarnedAtMs = nowMs;
        this.options.logger.warn({ waitedMs }, "a write to disk has not finished for " +
          `${waitedMs} ms: this leader sends no heartbeat until it does, so that the cluster ` +
          "can elect a leader whose disk works");
      }
      this.passHung = true;
      return;
    }
    const early = this.node.takeEarlyMessages();
    if (early.length === 0) return;
    this.sendHeldNews();
    this.options.transport.send(early);
    this.options.transport.flushNow?.();
  }

  /** A pass starts (or is due): sendEarlyWhileBusy times its wait from now. */
  private startPassClock(): void {
    this.passStartedMs = this.scheduler.nowMs();
    this.passHung = false;
  }

  /** Runs the loop soon; calls made while an iteration runs are folded into the next one. */
  private schedule(): void {
    if (this.stopped || this.fatalError !== null) return;
    if (this.loop === "running") {
      this.loop = "rerun";
      return;
    }
    if (this.loop === "idle") {
      this.loop = "running";
      // A pass is due: what it waits for is timed from now, not from the last pass.
      this.startPassClock();
      this.loopPass = new Promise((resolve) =>
        this.scheduler.setImmediate(() => void this.runLoop().then(resolve)));
    }
  }

  private async runLoop(): Promise<void> {
    try {
      do {
        this.loop = "running";
        // Bounded: each pass handles what accumulated. A pass whose fsync runs on the thread
        // pool yields to I/O while it waits; one whose fsync runs inline (fsync-placement.ts)
        // does not, so this bound also bounds how long the loop goes without reading input.
        for (let pass = 0; pass < 64 && !this.stopped; pass++) {
          this.startPassClock();
          this.forwarding.flush();
          this.snapshots.applyCompaction();
          if (!this.node.hasReady()) break;
          // The database commits on its own thread; when it falls behind, wait for it rather
          // than pile up uncommitted writes in memory. A failed commit stops the node here,
          // busy or idle, before it answers anything from writes that will never be durable.
          const storeFailure = this.stateStore.failed();
          if (storeFailure !== null) throw storeFailure;
          if (this.stateStore.pendingWrites() > pendingStateWritesMax) {
            await this.stateStore.committed();
            // Stopped meanwhile: no further pass (it would apply and answer on a stopped node).
            if (this.stopped) break;
          }
          await this.handleReady(this.node.ready());
        }
        // schedule() may have asked for another pass while this one awaited its fsync.
      } while ((this.loop as Loop) === "rerun" && !this.stopped);
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.loop = "idle";
    }
    if (!this.stopped && (this.node.hasReady() || this.forwarding.hasQueued())) this.schedule();
  }

  /** A storage failure or a broken invariant: stop, and let the process crash handler exit. */
  private fail(error: Error): void {
    // Once: the first failure is the one reported (a later one may follow from it).
    if (this.fatalError !== null) return;
    this.fatalError = error;
    this.options.logger.fatal({ err: error }, "raft loop failed; stopping this node");
    void this.stop();
    if (this.options.onFatal !== undefined) {
      this.options.onFatal(error);
      return;
    }
    process.emitWarning(error);
    this.scheduler.setImmediate(() => {
      throw error;
    });
  }

  private async handleReady(ready: Ready): Promise<void> {
    // Peer messages the core dropped as impossible: logged (rate-limited) and counted.
    if (ready.violations.length > 0) this.violationLog.report(ready.violations);
    if (ready.events.length > 0 || ready.eventsDropped > 0) {
      this.events.record(ready.events, ready.eventsDropped, this.scheduler.wallClockMs());
    }
    // A member a change adds must be reachable as soon as its entry is in the log (quorums
    // follow the newest configuration there): before this Ready's messages go out to it. (The
    // leader that proposed the change noted it already: Membership.change.)
    if (ready.entries.length > 0) this.membership.noteLogged(ready.entries);
    // A leader's appends do not depend on its own fsync (thesis §10.2.1): send them first, so
    // followers write in parallel with the leader. (Over the peer stream they are on the wire
    // before the fsync starts; over per-batch POSTs the request leaves when the loop next
    // polls, after an inline fsync if FileStorage is set to sync inline: fsync-placement.ts.)
    // Most Readies carry no message (a tick, an apply): no arrays built for them.
    const messages = ready.messages;
    let early = messages.length === 0 ? messages
      : messages.filter((message) => this.node.maySendBeforePersist(message));
    const late = messages.length === 0 ? messages
      : messages.filter((message) => !this.node.maySendBeforePersist(message));
    this.sendHeldNews();
    if (early.length > 0 && this.mayHoldCommitNews(ready)) {
      this.heldNews = early.filter(isCommitNews);
      if (this.heldNews.length > 0) early = early.filter((message) => !isCommitNews(message));
    }
    if (early.length > 1) early = this.firstToForwarder(early);
    if (early.length > 0) {
      this.options.transport.send(early);
      this.options.transport.flushNow?.();
    }
    // Committed entries this node already holds durably are applied, and their writes answered,
    // while this Ready's fsync runs on the thread pool, as etcd applies beside its WAL save:
    // under load a Ready nearly always writes new entries, and its fsync would otherwise delay
    // every answer. The write and the fsync start first (persist runs up to its first await): a
    // follower's acknowledgement waits for that fsync, and should not wait for the apply too.
    // With FileStorage set to sync inline (fsync-placement.ts, off by default) the fsync is
    // over before the apply starts.
    const persisted = this.persist(ready);
    try {
      this.applyDurableCommitted(ready);
      // The answers just settled are written in microtasks; the news goes at the next
      // setImmediate, after them as a rule, or first thing before any other message this node
      // sends (the late ones below, a later Ready's, sendEarlyWhileBusy's).
      if (this.heldNews.length > 0) this.scheduler.setImmediate(() => this.sendHeldNews());
    } catch (error) {
      // The node stops at once: nothing may read the state this apply left halfway (a status
      // asks its hash) while a pool fsync runs. stop() waits for this pass, which ends only
      // once the fsync is over, before it closes the log.
      try {
        this.fail(error as Error);
      } finally {
        await persisted.catch((syncError: Error) => this.options.logger.error({ err: syncError },
          "the fsync beside the failed apply failed too"));
      }
      return;
    }
    await persisted;
    // Votes and acknowledgements only once what they promise is durable.
    if (late.length > 0) {
      this.sendHeldNews();
      this.options.transport.send(late);
    }
    // The leader hint first, so that answers given below name the current leader.
    const leaderChanged = ready.softState !== null &&
      this.noteSoftState(ready.softState.role, ready.softState.leaderId);
    this.applyEntries(ready.committedEntries);
    this.reads.answer(ready, this.stateMachine.appliedIndex);
    // After applying: an entry this Ready commits still answers its forwarded write.
    if (leaderChanged && this.leaderId !== null) this.forwarding.noteLeader(this.leaderId);
    // Figure 2: lastApplied <= commitIndex (the store never holds an entry not committed).
    if (this.stateMachine.appliedIndex > this.node.commitIndex) {
      assert(false, `applied ${this.stateMachine.appliedIndex} beyond commit ` +
        `${this.node.commitIndex}`);
    }
    this.node.advance();
    // The core holds no snapshot bytes past a transfer: the database is the snapshot.
    if (ready.snapshot !== null) this.node.compact({ meta: ready.snapshot.meta });
    if (ready.snapshotWanted !== null) this.snapshots.build();
    this.snapshots.maybeCheckpoint();
  }

  /**
   * Whether this Ready's news of a commit (commit-only appends) may wait until the writes it
   * commits are answered: when every entry it commits is one of this node's own writes, which
   * applyDurableCommitted applies in this pass. No follower waits to answer one of them then
   * (a forwarded write is answered by its follower once applied there), and a socket write is
   * not cheap (on this 2-vCPU machine, one client on the leader, about 65 µs of CPU each under
   * the profiler: scripts/profile-cluster.ts --on-leader): the two writes of news to the
   * followers went before the answer, on its client's path. When a committed entry is not ours (a
   * forwarded write, a new leader's empty entry, a change of members), the news goes first, as
   * before: its follower answers only once the news arrives. Held news leaves within one turn
   * of the event loop, not at the next heartbeat (issue 10: a follower learns of a commit at
   * once). That it leaves after the answers is best effort: a later Ready that comes within
   * the same turn sends it first.
   */
  private mayHoldCommitNews(ready: Ready): boolean {
    const committed = ready.committedEntries;
    if (committed.length === 0 || this.node.role !== "leader") return false;
    if (ready.snapshot !== null || ready.logStart !== null || ready.softState !== null) {
      return false;
    }
    const firstWritten = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    return committed.every((entry) => entry.index < firstWritten && this.proposals.awaits(entry));
  }

  /**
   * `messages` with those to the last follower that forwarded a write first, each peer's in
   * their order: that follower answers its client once the entry, then the news of its
   * commit, reach it, and the transport writes to one peer after another (tens of
   * microseconds a write). Only the order between peers changes.
   */
  private firstToForwarder(messages: readonly RaftMessage[]): readonly RaftMessage[] {
    const forwarder = this.lastForwarder;
    if (forwarder === null || messages[0]!.to === forwarder ||
      !messages.some((message) => message.to === forwarder)) return messages;
    return [...messages.filter((message) => message.to === forwarder),
      ...messages.filter((message) => message.to !== forwarder)];
  }

  /** Sends the news of a commit held back by handleReady, if any. */
  private sendHeldNews(): void {
    if (this.heldNews.length === 0) return;
    const news = this.heldNews;
    this.heldNews = [];
    if (this.stopped || this.fatalError !== null) return;
    this.options.transport.send(news);
    this.options.transport.flushNow?.();
  }

  /**
   * Applies the committed entries below the first one this Ready writes: those were synced by
   * an earlier pass, so the database still never runs ahead of the log's synced entries. Not
   * with a snapshot or a log reset (whose order persist() sets), nor with a change of leader
   * (whose hint the answers must name: noted after the persist).
   */
  private applyDurableCommitted(ready: Ready): void {
    if (ready.snapshot !== null || ready.logStart !== null || ready.softState !== null) return;
    const firstWritten = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    const committed = ready.committedEntries;
    let count = 0;
    while (count < committed.length && committed[count]!.index < firstWritten) count++;
    if (count === 0) return;
    this.applyEntries(count === committed.length ? committed : committed.slice(0, count));
  }

  private async persist(ready: Ready): Promise<void> {
    if (ready.snapshot !== null) {
      await this.snapshots.install(ready.snapshot);
      // Durable before the log is reset below: a crash in between then leaves the database at
      // the snapshot and the old log, which the core reconciles; the other order could leave a
      // log that starts after the snapshot with a database from before it.
      await this.stateStore.flushed();
      this.snapshots.installDurable();
    }
    if (ready.logStart !== null) this.log.resetTo(ready.logStart.index, ready.logStart.term);
    if (ready.entries.length > 0) this.log.append(ready.entries);
    const hardState = ready.hardState;
    if (hardState !== null) this.log.setHardState(hardState);
    // The core says what must be durable before messages go out (Ready.mustSync): a change of
    // the commit index alone is written but not synced, as a restarted node relearns it.
    if (!ready.mustSync) return;
    const startedMs = this.scheduler.nowMs();
    await this.log.syncAsync();
    this.metrics.fsyncLatencySeconds.observe((this.scheduler.nowMs() - startedMs) / 1000);
    this.metrics.entriesPerSync.observe(ready.entries.length);
  }

  /**
   * A leader's snapshot (Raft §7) is installed (snapshots.ts): the members are the snapshot's,
   * and the writes waiting below it, here or forwarded, have outcomes only the state it
   * carries knows (the session table answers a retry with the same requestId).
   */
  private settleInstalled(meta: SnapshotMeta): void {
    this.membership.reset(meta);
    const conflict = this.publisher.reset(meta.members ?? []);
    if (conflict !== null) this.stopForIdentityConflict(conflict);
    this.proposals.settleUpTo(meta.index);
    this.forwarding.abandon();
  }

  /**
   * Applies a Ready's committed entries in one database write (one transaction), with the
   * Raft meta at the last of them, then answers the writes waiting for them. Member
   * publications go to the member table, not to the state machine.
   */
  private applyEntries(entries: readonly Entry[]): void {
    const appliedIndex = this.stateMachine.appliedIndex;
    const fresh = entries.filter((entry) => entry.index > appliedIndex);
    if (fresh.length === 0) return;
    // Applied in log order with no gap (Figure 2's lastApplied): a skipped entry would be a
    // command this replica never ran, and its state would part from the others' for good (State
    // Machine Safety, §5.4.3). The market's applyBatch checks that indexes increase, so the
    // first and the last index settle it without a pass over the batch.
    const first = fresh[0]!.index;
    const lastIndex = fresh[fresh.length - 1]!.index;
    if (first !== appliedIndex + 1 || lastIndex !== appliedIndex + fresh.length) {
      assert(false, `apply: entries ${first}..${lastIndex} (${fresh.length}) after applied ` +
        `${appliedIndex}`);
    }
    // Only committed entries are applied (applied <= commit, Figure 2).
    if (lastIndex > this.node.commitIndex) {
      assert(false, `apply: entry ${lastIndex} beyond commit ${this.node.commitIndex}`);
    }
    const batch: CommittedEntry[] = fresh.map((entry) => {
      this.membership.noteApplied(entry);
      const publication = entry.kind === "normal" ? decodePublish(entry.data) : null;
      if (publication !== null) this.publisher.apply(publication, entry.index);
      const command = entry.data !== "" && entry.kind === "normal" && publication === null;
      return { index: entry.index, data: command ? entry.data : null };
    });
    if (this.fatalError !== null) return;
    const last = fresh[fresh.length - 1]!;
    const results = this.stateMachine.applyBatch(batch, this.metaAt(last.index, last.term));
    fresh.forEach((entry, k) => {
      const result = results[k] ?? null;
      this.forwarding.answer(entry, result);
      this.proposals.answer(entry, result);
    });
  }

  /**
   * The Raft meta stored with the state at `index` (the applied index): the configuration as of
   * it and the published members.
   */
  private metaAt(index: number, term: number): SnapshotMeta {
    return { index, term, ...metaOfConf(this.membership.conf()), members: this.publisher.list(),
      addresses: this.membership.metaAddresses() };
  }

  /** This incarnation is not the one the cluster knows under our id: stop taking part. */
  private stopForIdentityConflict(message: string): void {
    this.options.logger.fatal(message);
    const callback = this.options.onIdentityConflict;
    if (callback === undefined) {
      this.fail(new IdentityConflictError(message));
      return;
    }
    this.fatalError = new IdentityConflictError(message);
    void this.stop();
    callback(message);
  }

  /** Returns whether the leader changed. */
  private noteSoftState(role: string, leaderId: NodeId | null): boolean {
    const changed = leaderId !== this.leaderId;
    if (changed) {
      this.metrics.leaderChanges.inc();
      // The role changes themselves, with their reasons, are Raft events (raft-event-log.ts).
      this.options.logger.debug({ leaderId, term: this.node.status().term },
        leaderId === null ? "no leader known" : `leader is ${leaderId}`);
    }
    if (role === "candidate") this.metrics.elections.inc();
    if (role !== "leader") this.lastForwarder = null;
    this.leaderId = leaderId;
    return changed;
  }

}
