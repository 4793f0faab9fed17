import { randomInt, randomUUID } from "node:crypto";
import path from "node:path";
import type { Logger } from "pino";
import {
  commandFromRequest,
  requestKey,
  requestKeyOfData,
  restampCommand,
  encodeCommand,
  MarketStateMachine,
  type MarketRequest,
} from "../market/index.js";
import {
  makeRaftConfig,
  mayPrecedePersist,
  RaftNode,
  SeededRng,
  type Entry,
  type MemberRecord,
  type NodeId,
  type RaftConfig,
  type RaftMessage,
  type Ready,
  type Snapshot,
} from "../raft/index.js";
import { FileSnapshotStore, FileStorage, describeRecovery } from "../storage/index.js";
import type { DurableLog, SnapshotStore } from "../storage/index.js";
import type { Transport } from "../transport/transport.js";
import { NodeMetrics } from "./metrics.js";
import { ViolationLog } from "./violation-log.js";
import type {
  NodeService,
  NodeStatus,
  ReadBarrierOutcome,
  SubmitOutcome,
} from "./node-service.js";
import { decodePublish, encodePublish, MemberTable } from "./members.js";
import { Waiters } from "./waiters.js";

/**
 * RaftServer: the driver (DESIGN.md §1 node/), the only layer with a clock and I/O. It owns the
 * RaftNode, the write-ahead log, the snapshot store, the transport and the state machine, and
 * runs the loop etcd's doc.go prescribes, one iteration at a time:
 *
 *   ready() -> send the leader's appends -> persist (one fdatasync: group commit) -> send the
 *   rest -> apply committed entries -> answer waiting clients -> advance() -> maybe snapshot
 *
 * Everything that arrives while an iteration waits for its fsync (proposals, peer messages,
 * ticks) is batched into the next one, so one fsync covers a whole iteration's entries.
 */
export interface RaftServerOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly dataDir: string;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly tickIntervalMs: number;
  readonly raft?: Partial<RaftConfig>;
  /** Client API base URLs by node id, for forwarding. */
  readonly clientUrls: ReadonlyMap<NodeId, string>;
  readonly snapshot: { readonly entriesBetweenSnapshots: number; readonly trailingEntries: number };
  readonly pendingProposalsMax?: number;
  readonly proposalTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  readonly metrics?: NodeMetrics;
  /** Opens the log and snapshot stores; FileStorage in dataDir by default. */
  readonly openStorage?: () => { log: DurableLog; snapshots: SnapshotStore };
  /** The proposer's clock for command timestamps (session expiry only). */
  readonly nowMs?: () => number;
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
}

/** How long a publication may go unapplied before it is proposed again. */
const publishRetryMs = 1000;

type Loop = "idle" | "running" | "rerun";

/** Lets timers and I/O run between slices of a long computation. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Forwarded writes per propose message: bounds the message, as appends are bounded. */
const forwardBatchMax = 256;

export class RaftServer implements NodeService {
  readonly id: NodeId;
  readonly metrics: NodeMetrics;
  private readonly node: RaftNode;
  private marketState: MarketStateMachine;
  private readonly log: DurableLog;
  private readonly snapshots: SnapshotStore;
  private readonly proposals: Waiters<number, SubmitOutcome>;
  /** Writes this follower forwarded to the leader, by requestKey: settled when applied here. */
  private readonly forwarded: Waiters<string, SubmitOutcome>;
  /** Forwarded writes not yet handed to the core: sent in batches at the next loop pass. */
  private forwardQueue: { readonly key: string; readonly data: string }[] = [];
  /** The last leader known (never null once one was): every pending forward went to it. */
  private lastKnownLeader: NodeId | null = null;
  private readonly reads: Waiters<string, ReadBarrierOutcome>;
  /** Reads confirmed by the leader, waiting for this node to apply up to their index. */
  private readonly readsAwaitingApply: { index: number; context: string }[] = [];
  private readonly proposalTerms = new Map<number, { term: number; startedMs: number }>();
  private loop: Loop = "idle";
  /** The loop pass in progress, so that stop() can wait for its fsync. */
  private loopPass: Promise<void> = Promise.resolve();
  private tickTimer: NodeJS.Timeout | null = null;
  /** When the tick timer last fired, to tell a late tick (after a stall) from one on time. */
  private lastTickMs = performance.now();
  private stopped = false;
  private readSequence = 0;
  private readonly bootId = randomUUID().slice(0, 8);
  private lastSnapshotIndex: number;
  /** Starts random too: replicas restarted together do not all snapshot at once. */
  private snapshotJitter: number;
  /** The background save of the newest snapshot, while it runs. */
  private snapshotSaving: Promise<void> | null = null;
  /** A snapshot now durable, whose compaction waits for the next loop pass. */
  private pendingCompaction: { readonly snapshot: Snapshot; readonly previousIndex: number } | null =
    null;
  private leaderId: NodeId | null = null;
  private fatalError: Error | null = null;
  /** Term and vote as last made durable, to tell when a hard state needs a sync. */
  private syncedTerm: number;
  private syncedVote: NodeId | null;
  /** A leader's snapshot the core is about to install, already restored. */
  private restoredSnapshot: { meta: Snapshot["meta"]; market: MarketStateMachine } | null = null;
  /** Published members, as of the applied index (members.ts). */
  private members: MemberTable;
  /** Whether this incarnation's publication has been applied here. */
  private published = false;
  private lastPublishMs = Number.NEGATIVE_INFINITY;
  private readonly violationLog: ViolationLog;

  private constructor(private readonly options: RaftServerOptions) {
    this.id = options.id;
    this.metrics = options.metrics ?? new NodeMetrics(options.id);
    this.violationLog = new ViolationLog({ logger: options.logger, metrics: this.metrics,
      peers: new Set(options.voters), nowMs: () => performance.now() });
    const stores = options.openStorage?.() ?? openFileStores(options.dataDir, options.logger);
    this.log = stores.log;
    this.snapshots = stores.snapshots;
    // A corrupt newest snapshot is survivable: the log keeps every entry since the snapshot
    // before it (maybeSnapshot), so the node restores that one and replays the rest.
    const choice = this.snapshots.latestConsistentWith(this.log.firstIndex());
    const snapshot = choice.snapshot;
    if (choice.skippedCorrupt !== null) {
      options.logger.warn({ err: choice.skippedCorrupt, fallbackIndex: snapshot?.meta.index ?? 0 },
        "the newest snapshot is corrupt; restoring from the one before it, which the log continues");
    }
    this.marketState = snapshot === null ? new MarketStateMachine() : restoreMarket(snapshot);
    this.members = new MemberTable(snapshot?.meta.members ?? []);
    const ours = this.members.get(options.id);
    this.published = ours?.incarnation === options.incarnation;
    if (ours !== null && !this.published && options.incarnation !== undefined) {
      throw new IdentityConflictError(`node ${options.id} was published at index ${ours.index} ` +
        `as incarnation ${ours.incarnation}, and this is ${options.incarnation}: this node ` +
        "came back with a new data folder, so its log and vote were lost; it cannot rejoin as " +
        "a voter under this id");
    }
    this.lastSnapshotIndex = snapshot?.meta.index ?? 0;
    this.snapshotJitter = randomInt(Math.floor(options.snapshot.entriesBetweenSnapshots / 4) + 1);
    const config = makeRaftConfig({ id: options.id, voters: options.voters },
      { ...options.raft, snapshotProblem: (received) => this.checkReceivedSnapshot(received) });
    this.node = new RaftNode(config, new SeededRng(randomInt(2 ** 31)), {
      hardState: this.log.hardState(),
      snapshot,
      entries: this.log.entries(this.log.firstIndex(), this.log.lastIndex() + 1),
    });
    this.syncedTerm = this.log.hardState().term;
    this.syncedVote = this.log.hardState().vote;
    this.proposals = new Waiters(options.pendingProposalsMax ?? 10_000);
    this.forwarded = new Waiters(options.pendingProposalsMax ?? 10_000);
    this.reads = new Waiters(options.pendingProposalsMax ?? 10_000);
    const restored = this.node.status();
    options.logger.info({ term: restored.term, commitIndex: restored.commitIndex,
      lastLogIndex: restored.lastLogIndex, snapshotIndex: this.lastSnapshotIndex },
    "raft node restored");
  }

  /** Opens the stores, restores the state machine and the core, and starts the clock. */
  static start(options: RaftServerOptions): RaftServer {
    const server = new RaftServer(options);
    options.transport.onReceive((messages) => server.receive(messages));
    server.tickTimer = setInterval(() => server.tick(), options.tickIntervalMs);
    server.schedule();
    return server;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.proposals.settleAll({ kind: "unknown", leaderId: null });
    this.forwarded.settleAll({ kind: "unknown", leaderId: null });
    this.reads.settleAll({ kind: "noLeader", leaderId: null });
    await this.loopPass;
    await this.snapshotSaving;
    await this.options.transport.close();
    // Unsynced writes are dropped, as a crash would drop them: nothing unsynced was promised.
    this.log.close();
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
    const command = commandFromRequest(request, (this.options.nowMs ?? Date.now)());
    const data = encodeCommand(command);
    if (this.node.role !== "leader" && (this.options.forwardProposals ?? true)) {
      return this.submitForwarded(requestKey(command), data);
    }
    const result = this.node.propose(data);
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
    // A waiter already at this index belongs to an entry of an earlier term that our own log
    // has since replaced: that write will never apply here. Settle it before taking the index,
    // or it would be answered with this proposal's result.
    if (this.proposals.has(result.index)) {
      this.metrics.proposals.inc({ outcome: "lost" });
      this.settleProposal(result.index, { kind: "unknown", leaderId: this.leaderId });
    }
    this.proposalTerms.set(result.index, { term: result.term, startedMs: performance.now() });
    this.schedule();
    return this.proposals.wait(result.index, this.options.proposalTimeoutMs ?? 5000, () => {
      this.proposalTerms.delete(result.index);
      this.metrics.proposals.inc({ outcome: "timeout" });
      return { kind: "timeout" };
    });
  }

  /**
   * A follower's write: forwarded to the leader inside the Raft traffic (the writes of one loop
   * pass in one message, beside the appends' answers; no HTTP request of its own at the
   * leader), and answered when this node applies the entry, with the result its own state
   * machine computes: the same as the leader's, since every replica applies the same log. The
   * waiter is keyed by the request without its time, which the leader restamps. If the leader
   * changes, or a snapshot replaces the log, before the entry is applied here, the outcome is
   * unknown at once (a retry with the same requestId applies at most once); a proposal lost
   * otherwise (a dropped peer request) times out.
   */
  private submitForwarded(key: string, data: string): Promise<SubmitOutcome> {
    if (this.forwarded.full()) {
      this.metrics.proposals.inc({ outcome: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    // The same request already in flight here (a client retrying before its first answer):
    // one waiter per request, so this one cannot be told apart; the client retries.
    if (this.forwarded.has(key)) return Promise.resolve({ kind: "unknown", leaderId: this.leaderId });
    // Bounded even while the loop is held up: queued items whose waiters timed out still count.
    if (this.forwardQueue.length >= (this.options.pendingProposalsMax ?? 10_000)) {
      this.metrics.proposals.inc({ outcome: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    this.forwardQueue.push({ key, data });
    this.schedule();
    const startedMs = performance.now();
    return this.forwarded.wait(key, this.options.proposalTimeoutMs ?? 5000, () => {
      this.metrics.proposals.inc({ outcome: "timeout" });
      return { kind: "timeout" };
    }).then((outcome) => {
      if (outcome.kind === "applied") {
        this.metrics.commitLatencySeconds.observe((performance.now() - startedMs) / 1000);
        this.metrics.proposals.inc({ outcome: "applied" });
      }
      return outcome;
    });
  }

  readBarrier(): Promise<ReadBarrierOutcome> {
    if (this.stopped || this.fatalError !== null) {
      return Promise.resolve({ kind: "noLeader", leaderId: null });
    }
    if (this.reads.full()) return Promise.resolve({ kind: "overloaded" });
    // A fresh context per attempt, unique across restarts too (the boot id): a delayed answer
    // to a read from before a restart must never be taken for a new read's.
    const context = `${this.id}:${this.bootId}:${++this.readSequence}`;
    const result = this.node.readIndex(context);
    if (result.kind === "noLeader") {
      return Promise.resolve({ kind: "noLeader", leaderId: this.leaderId });
    }
    if (result.kind === "overloaded") return Promise.resolve({ kind: "overloaded" });
    this.schedule();
    return this.reads.wait(context, this.options.readTimeoutMs ?? 5000,
      () => ({ kind: "timeout" }));
  }

  market(): MarketStateMachine {
    return this.marketState;
  }

  status(): NodeStatus {
    const status = this.node.status();
    return {
      id: status.id,
      role: status.role,
      term: status.term,
      leaderId: status.leaderId,
      commitIndex: status.commitIndex,
      appliedIndex: this.marketState.appliedIndex,
      lastLogIndex: status.lastLogIndex,
      members: status.voters,
      stateHash: this.marketState.stateHash(),
    };
  }

  /**
   * The published members as of the applied index, and those published by entries in the log
   * beyond it: a peer asking whether it ran here before (bootstrap.ts) must hear of a
   * publication this node holds but has not yet learned is committed. Sorted by id.
   */
  publishedMembers(): MemberRecord[] {
    const table = new MemberTable(this.members.list());
    const status = this.node.status();
    const low = Math.max(this.marketState.appliedIndex, this.node.compactedIndex()) + 1;
    for (const entry of this.node.entries(low, status.lastLogIndex + 1)) {
      const publication = entry.kind === "normal" ? decodePublish(entry.data) : null;
      if (publication !== null) {
        table.apply(publication.nodeId, publication.incarnation, entry.index);
      }
    }
    return table.list();
  }

  clientUrlOf(id: NodeId): string | null {
    return this.options.clientUrls.get(id) ?? null;
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
    const nowMs = performance.now();
    const late = nowMs - this.lastTickMs > 2 * this.options.tickIntervalMs;
    this.lastTickMs = nowMs;
    if (late) setImmediate(() => this.tickNow());
    else this.tickNow();
  }

  private tickNow(): void {
    if (this.stopped) return;
    this.node.tick();
    this.maybePublish();
    this.schedule();
  }

  /**
   * Publishes this incarnation in the replicated state (members.ts), again every
   * publishRetryMs until it is applied here: a proposal may be dropped on the way (a leader
   * change, a lost message), and a repeat of the same publication changes nothing.
   */
  private maybePublish(): void {
    const incarnation = this.options.incarnation;
    if (incarnation === undefined || this.published || this.fatalError !== null) return;
    const leaderId = this.node.leaderId;
    if (leaderId === null) return;
    const nowMs = performance.now();
    if (nowMs - this.lastPublishMs < publishRetryMs) return;
    this.lastPublishMs = nowMs;
    const data = encodePublish(this.id, incarnation);
    if (this.node.role === "leader") this.node.propose(data);
    else this.node.forward([data]);
  }

  private receive(messages: readonly RaftMessage[]): void {
    if (this.stopped) return;
    const leading = this.node.role === "leader";
    for (const message of messages) {
      if (leading && message.type === "propose") {
        // The leader's clock, as for its own proposals (restampCommand).
        const nowMs = (this.options.nowMs ?? Date.now)();
        this.node.step({ ...message, data: message.data.map((data) => restampCommand(data, nowMs)) });
      } else {
        this.node.step(message);
      }
    }
    this.schedule();
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
      this.loopPass = new Promise((resolve) => setImmediate(() => void this.runLoop().then(resolve)));
    }
  }

  private async runLoop(): Promise<void> {
    try {
      do {
        this.loop = "running";
        // Bounded: each pass handles what accumulated; a busy node yields between passes.
        for (let pass = 0; pass < 64 && !this.stopped; pass++) {
          this.flushForwards();
          this.applyCompaction();
          if (!this.node.hasReady()) break;
          await this.handleReady(this.node.ready());
        }
        // schedule() may have asked for another pass while this one awaited its fsync.
      } while ((this.loop as Loop) === "rerun" && !this.stopped);
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.loop = "idle";
    }
    if (!this.stopped && (this.node.hasReady() || this.forwardQueue.length > 0)) this.schedule();
  }

  /**
   * Hands queued forwarded writes to the core, at most forwardBatchMax per message. Only while
   * the core's leader is the one the driver has noted: after a change, the Ready that reports
   * it is handled first (abandoning what went to the old leader, after applying what it
   * committed), so that every pending forward went to lastKnownLeader.
   */
  private flushForwards(): void {
    if (this.forwardQueue.length === 0) return;
    if (this.node.role !== "leader" && this.node.leaderId !== this.leaderId) return;
    // Items whose client already had its answer (a timeout) are not sent.
    const live = this.forwardQueue.filter((item) => this.forwarded.has(item.key));
    this.forwardQueue = [];
    for (let start = 0; start < live.length; start += forwardBatchMax) {
      const batch = live.slice(start, start + forwardBatchMax);
      const result = this.node.forward(batch.map((item) => item.data));
      if (result.kind === "forwarded") continue;
      // No leader now, or this node leads: this batch was not sent by this call.
      for (const item of batch) this.forwarded.settle(item.key, { kind: "notLeader", leaderId: null });
    }
  }

  /**
   * Another leader took over, or a snapshot replaced the log: writes forwarded earlier may or
   * may not be applied, and this node can no longer tell which by waiting. Queued ones, not
   * sent yet, stay queued for the new leader.
   */
  private abandonForwards(): void {
    const queued = new Set(this.forwardQueue.map((item) => item.key));
    this.forwarded.settleWhere((key) => !queued.has(key),
      { kind: "unknown", leaderId: this.leaderId });
  }

  /** A storage failure or a broken invariant: stop, and let the process crash handler exit. */
  private fail(error: Error): void {
    this.fatalError = error;
    this.options.logger.fatal({ err: error }, "raft loop failed; stopping this node");
    void this.stop();
    process.emitWarning(error);
    setImmediate(() => {
      throw error;
    });
  }

  private async handleReady(ready: Ready): Promise<void> {
    // Peer messages the core dropped as impossible: logged (rate-limited) and counted.
    if (ready.violations.length > 0) this.violationLog.report(ready.violations);
    // A leader's appends do not depend on its own fsync (thesis §10.2.1): send them first, so
    // followers write in parallel with the leader.
    const early = ready.messages.filter(mayPrecedePersist);
    const late = ready.messages.filter((message) => !mayPrecedePersist(message));
    if (early.length > 0) this.options.transport.send(early);
    await this.persist(ready);
    // A leader's snapshot checked but not installed (the core kept its log instead).
    this.restoredSnapshot = null;
    // Votes and acknowledgements only once what they promise is durable.
    if (late.length > 0) this.options.transport.send(late);
    // The leader hint first, so that answers given below name the current leader.
    const leaderChanged = ready.softState !== null &&
      this.noteSoftState(ready.softState.role, ready.softState.leaderId);
    for (const entry of ready.committedEntries) this.applyEntry(entry);
    this.answerReads(ready);
    // After applying: an entry this Ready commits still answers its forwarded write. Losing
    // sight of the leader is not enough (it may be back in a moment, as after one of its
    // pauses); another leader is.
    if (leaderChanged && this.leaderId !== null) {
      if (this.lastKnownLeader !== null && this.leaderId !== this.lastKnownLeader) {
        this.abandonForwards();
      }
      this.lastKnownLeader = this.leaderId;
    }
    this.node.advance();
    this.maybeSnapshot();
    this.updateGauges();
  }

  private async persist(ready: Ready): Promise<void> {
    if (ready.snapshot !== null) {
      // One save at a time: a background save of our own snapshot finishes first.
      await this.snapshotSaving;
      this.installSnapshot(ready.snapshot);
    }
    if (ready.logStart !== null) this.log.resetTo(ready.logStart.index, ready.logStart.term);
    if (ready.entries.length > 0) this.log.append(ready.entries);
    const hardState = ready.hardState;
    if (hardState !== null) this.log.setHardState(hardState);
    // Only term, vote, entries and log resets must be durable before messages go out. A
    // change of the commit index alone is written but not synced: a restarted node relearns
    // its commit index from the leader (etcd's MustSync). Syncing it would double the fsyncs
    // under load and hold the next iteration behind a sync that protects nothing.
    const termOrVoteChanged = hardState !== null &&
      (hardState.term !== this.syncedTerm || hardState.vote !== this.syncedVote);
    if (ready.snapshot === null && ready.logStart === null && ready.entries.length === 0 &&
      !termOrVoteChanged) {
      return;
    }
    if (hardState !== null) {
      this.syncedTerm = hardState.term;
      this.syncedVote = hardState.vote;
    }
    const startedMs = performance.now();
    await this.log.syncAsync();
    this.metrics.fsyncLatencySeconds.observe((performance.now() - startedMs) / 1000);
    this.metrics.entriesPerSync.observe(ready.entries.length);
  }

  /**
   * The core asks before it installs a leader's snapshot: one the state machine cannot read is
   * a protocol violation, refused there, so a peer's bytes never stop this node. The restored
   * state is kept for installSnapshot, which follows in the same Ready.
   */
  private checkReceivedSnapshot(snapshot: Snapshot): string | null {
    try {
      this.restoredSnapshot = { meta: snapshot.meta, market: restoreMarket(snapshot) };
      return null;
    } catch (error) {
      this.restoredSnapshot = null;
      return (error as Error).message.slice(0, 200);
    }
  }

  private installSnapshot(snapshot: Snapshot): void {
    // Restored first (by checkReceivedSnapshot), so that a snapshot the state machine cannot
    // read is never saved (it would fail every restart); then saved atomically before the log
    // is reset: a crash in between leaves the old snapshot or the new one, and the core
    // reconciles the log with it.
    const restored = this.restoredSnapshot;
    this.restoredSnapshot = null;
    const market = restored?.meta === snapshot.meta ? restored.market : restoreMarket(snapshot);
    this.snapshots.save(snapshot);
    this.marketState = market;
    this.members = new MemberTable(snapshot.meta.members ?? []);
    const ours = this.members.get(this.id);
    this.published = ours?.incarnation === this.options.incarnation;
    if (ours !== null && !this.published && this.options.incarnation !== undefined) {
      this.stopForIdentityConflict(`node ${this.id} was published at index ${ours.index} as ` +
        `incarnation ${ours.incarnation}, and this is ${this.options.incarnation}: this node ` +
        "came back with a new data folder, so its log and vote were lost; it cannot rejoin as a " +
        "voter under this id");
    }
    this.lastSnapshotIndex = snapshot.meta.index;
    this.options.logger.info({ index: snapshot.meta.index, term: snapshot.meta.term },
      "installed a snapshot from the leader");
    // Writes waiting below the snapshot are settled by the state it carries: the session table
    // answers a retry with the same requestId.
    for (const index of this.proposals.keysUpTo(snapshot.meta.index)) {
      this.settleProposal(index, { kind: "unknown", leaderId: this.leaderId });
    }
    this.abandonForwards();
  }

  private applyEntry(entry: Entry): void {
    if (entry.index <= this.marketState.appliedIndex) return;
    const publication = entry.kind === "normal" ? decodePublish(entry.data) : null;
    if (publication !== null) this.applyPublication(publication, entry.index);
    const result = entry.data === "" || entry.kind !== "normal" || publication !== null
      ? null
      : this.marketState.applyEncoded(entry.data, entry.index);
    if (result === null) this.marketState.advanceAppliedIndex(entry.index);
    if (result !== null && this.forwarded.size() > 0) {
      const key = requestKeyOfData(entry.data);
      if (key !== null) this.forwarded.settle(key, { kind: "applied", result, index: entry.index });
    }
    const proposal = this.proposalTerms.get(entry.index);
    if (proposal === undefined) return;
    if (proposal.term === entry.term && result !== null) {
      this.metrics.commitLatencySeconds.observe((performance.now() - proposal.startedMs) / 1000);
      this.metrics.proposals.inc({ outcome: "applied" });
      this.settleProposal(entry.index, { kind: "applied", result, index: entry.index });
    } else {
      // Another entry committed at this index: ours never will. The outcome is unknown to the
      // client only in that it must retry; the requestId keeps the retry exactly-once.
      this.metrics.proposals.inc({ outcome: "lost" });
      this.settleProposal(entry.index, { kind: "unknown", leaderId: this.leaderId });
    }
  }

  private applyPublication(publication: { nodeId: NodeId; incarnation: string },
    index: number): void {
    const { nodeId, incarnation } = publication;
    const outcome = this.members.apply(nodeId, incarnation, index);
    if (outcome.kind === "conflict") {
      const message = `node ${nodeId} was published at index ${outcome.first.index} as ` +
        `incarnation ${outcome.first.incarnation}, and again at index ${index} as ` +
        `${incarnation}: that node came back with a new data folder, so its log and vote ` +
        "were lost; it cannot rejoin as a voter under this id";
      if (nodeId === this.id && incarnation === this.options.incarnation) {
        this.stopForIdentityConflict(message);
        return;
      }
      this.options.logger.error(message);
      return;
    }
    if (nodeId === this.id && incarnation === this.options.incarnation && !this.published) {
      this.published = true;
      this.options.logger.info({ index, incarnation }, `published node ${nodeId} in the cluster`);
    }
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

  private settleProposal(index: number, outcome: SubmitOutcome): void {
    this.proposalTerms.delete(index);
    this.proposals.settle(index, outcome);
  }

  private answerReads(ready: Ready): void {
    for (const context of ready.droppedReads) {
      this.reads.settle(context, { kind: "noLeader", leaderId: this.leaderId });
    }
    for (const read of ready.readStates) {
      this.readsAwaitingApply.push({ index: read.index, context: read.context });
    }
    // Serve each confirmed read once this node has applied up to its read index.
    const applied = this.marketState.appliedIndex;
    for (let k = this.readsAwaitingApply.length - 1; k >= 0; k--) {
      const read = this.readsAwaitingApply[k]!;
      if (read.index > applied && this.reads.has(read.context)) continue;
      this.readsAwaitingApply.splice(k, 1);
      this.reads.settle(read.context, { kind: "ready", appliedIndex: applied });
    }
  }

  /** Returns whether the leader changed. */
  private noteSoftState(role: string, leaderId: NodeId | null): boolean {
    const changed = leaderId !== this.leaderId;
    if (changed) {
      this.metrics.leaderChanges.inc();
      this.options.logger.info({ role, leaderId, term: this.node.status().term }, "leader changed");
    }
    if (role === "candidate") this.metrics.elections.inc();
    this.leaderId = leaderId;
    return changed;
  }

  /**
   * Takes a snapshot of the state machine when enough entries were applied since the last one.
   * Nothing long runs on the loop, where it would hold heartbeats past an election timeout:
   * the state at appliedIndex is captured at once (references to frozen records), serialized
   * a slice at a time between turns of the loop, then written and fsynced in the background;
   * the log is compacted only once the snapshot is durable, at the next loop pass
   * (applyCompaction). One snapshot at a time. The threshold has a random extra of up to a
   * quarter, so that the replicas, which apply the same entries, do not all serialize at once
   * on a shared machine.
   */
  private maybeSnapshot(): void {
    if (this.snapshotSaving !== null) return;
    const { entriesBetweenSnapshots } = this.options.snapshot;
    const appliedIndex = this.marketState.appliedIndex;
    if (appliedIndex - this.lastSnapshotIndex < entriesBetweenSnapshots + this.snapshotJitter) return;
    const term = this.node.termAt(appliedIndex);
    if (term === null) return;
    const meta = { index: appliedIndex, term, voters: this.node.status().voters,
      members: this.members.list() };
    const previousIndex = this.lastSnapshotIndex;
    this.lastSnapshotIndex = appliedIndex;
    this.snapshotJitter = randomInt(Math.floor(entriesBetweenSnapshots / 4) + 1);
    this.snapshotSaving = this.marketState.snapshotAsync(yieldToLoop).then(async (data) => {
      const snapshot: Snapshot = { meta, data };
      await this.snapshots.saveAsync(snapshot);
      this.pendingCompaction = { snapshot, previousIndex };
      this.schedule();
    }).catch((error: Error) => {
      if (!this.stopped) this.fail(error);
      else this.options.logger.warn({ err: error }, "a snapshot save failed after stop");
    }).finally(() => {
      this.snapshotSaving = null;
    });
  }

  /** Compacts the log below a snapshot that is now durable. Between loop passes only. */
  private applyCompaction(): void {
    const pending = this.pendingCompaction;
    if (pending === null) return;
    this.pendingCompaction = null;
    const { snapshot, previousIndex } = pending;
    // A snapshot installed from the leader meanwhile has replaced the log: nothing to do.
    if (snapshot.meta.index <= this.node.compactedIndex()) return;
    // Keep at least every entry since the previous snapshot: should this new one be found
    // corrupt at the next start, the node falls back to that one and replays the log from it.
    const keptEntries = Math.max(this.options.snapshot.trailingEntries,
      snapshot.meta.index - previousIndex);
    const compactIndex = this.node.compactIndexFor(snapshot.meta.index, keptEntries);
    this.node.compact(snapshot, compactIndex);
    // Buffered: durable with the next sync; until then the log still holds these entries.
    this.log.compactTo(compactIndex);
    this.options.logger.debug({ index: snapshot.meta.index, compactIndex }, "took a snapshot");
  }

  private updateGauges(): void {
    const status = this.node.status();
    this.metrics.term.set(status.term);
    this.metrics.setRole(status.role);
    this.metrics.commitIndex.set(status.commitIndex);
    this.metrics.appliedIndex.set(this.marketState.appliedIndex);
    this.metrics.lastLogIndex.set(status.lastLogIndex);
  }
}

/** This node's id was published by an earlier incarnation: it lost its data. */
export class IdentityConflictError extends Error {
  override readonly name = "IdentityConflictError";
}

/** Restores the state machine from a snapshot, which must describe exactly its index. */
function restoreMarket(snapshot: Snapshot): MarketStateMachine {
  const market = MarketStateMachine.restore(snapshot.data);
  if (market.appliedIndex !== snapshot.meta.index) {
    throw new Error(`snapshot at index ${snapshot.meta.index} holds state applied to ` +
      `${market.appliedIndex}`);
  }
  return market;
}

/** The write-ahead log and snapshot store of `dataDir`, as RaftServer opens them by default. */
export function openFileStores(dataDir: string, logger: Logger): { log: DurableLog;
  snapshots: SnapshotStore } {
  const log = FileStorage.open(path.join(dataDir, "wal"));
  const recovery = log.recovery;
  if (recovery !== undefined) logger.info(describeRecovery(recovery));
  return { log, snapshots: new FileSnapshotStore(path.join(dataDir, "snapshots")) };
}
