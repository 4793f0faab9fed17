import { assert } from "./assert.js";
import type { RaftConfig } from "./config.js";
import {
  acceptProposals, maybeCommit, sendAppend, sendAppendsTo, sendTimeoutNow, startRead,
} from "./leader.js";
import type {
  Entry,
  EntryKind,
  HardState,
  NodeId,
  ProposeRequest,
  RaftMessage,
  ReadState,
  Role,
  Snapshot,
  SnapshotMetaOnly,
} from "./messages.js";
import { emptyInitialState, Raft, type RaftInitialState } from "./raft.js";
import type { Rng } from "./rng.js";
import {
  acceptOfferedSnapshot, followersWaitingForSnapshot, maybeReleaseSnapshot, snapshotWanted,
  type OfferSnapshotResult,
} from "./snapshot-supply.js";
import type { ProtocolViolation } from "./violation.js";
import type { RaftEvent } from "./events.js";
import { applyConfChange, JointConfig, type ConfChange, type ConfState } from "./conf-state.js";

export type ProposeResult =
  | { readonly kind: "accepted"; readonly index: number; readonly term: number }
  | { readonly kind: "notLeader"; readonly leaderIdHint: NodeId | null }
  /** A leadership transfer is under way; retry at the new leader. */
  | { readonly kind: "transferring"; readonly leaderIdHint: NodeId | null }
  | { readonly kind: "overloaded" };

/**
 * Whether the leader heard from `id` within the last election timeout. Not recentActive: with
 * CheckQuorum that is cleared at every timeout, so right after it every peer would look silent.
 */
function heardLately(raft: Raft, id: NodeId): boolean {
  const progress = raft.tracker.get(id);
  return progress !== undefined && progress.ticksSinceActive < raft.config.electionTimeoutTicks;
}

/** The answer to proposeConfChange. */
export type ConfChangeProposeResult =
  | { readonly kind: "accepted"; readonly index: number; readonly term: number }
  | { readonly kind: "notLeader"; readonly leaderIdHint: NodeId | null }
  | { readonly kind: "transferring"; readonly leaderIdHint: NodeId | null }
  | { readonly kind: "overloaded" }
  | { readonly kind: "refused"; readonly reason: ConfChangeRefusal; readonly message: string };

export type ConfChangeRefusal =
  /** Another change is appended and not yet in force: one at a time (§4.1). */
  | "changeInFlight"
  /** This leader has not yet committed an entry of its term (the dissertation's fix to the
   * single-server change bug, §4.1 and its 2015 erratum). */
  | "leaderNotReady"
  /** The change does not apply to the configuration in force (conf-state.ts). */
  | "invalid"
  /** A learner to promote is too far behind, or silent (promotionLagEntriesMax). */
  | "learnerBehind"
  /** Too few of the new configuration's voters are reachable to form its quorum (etcd's strict
   * reconfiguration check): the cluster would stop committing. */
  | "wouldLoseQuorum";

export type ForwardResult =
  | { readonly kind: "forwarded"; readonly leaderId: NodeId }
  | { readonly kind: "noLeader" }
  | { readonly kind: "isLeader" };

export type ForwardMessageResult =
  | { readonly kind: "forwarded"; readonly leaderId: NodeId; readonly message: ProposeRequest }
  | { readonly kind: "noLeader" }
  | { readonly kind: "isLeader" };

export type ReadIndexResult =
  /** The answer comes later, as a ReadState or a dropped read with the same context. A read
   * forwarded by a follower can also be lost with its message: the driver bounds every read
   * with its own timeout. */
  | { readonly kind: "pending" }
  | { readonly kind: "noLeader" }
  | { readonly kind: "overloaded" };

export type TransferResult =
  | { readonly kind: "started" }
  | { readonly kind: "notLeader"; readonly leaderIdHint: NodeId | null }
  | { readonly kind: "unknownTarget" }
  | { readonly kind: "alreadyLeader" };

export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
}

/**
 * The work the driver must do, in this order (etcd doc.go):
 *   1. if `snapshot` is set, save it atomically (durable before anything below is synced)
 *      and restore the state machine from it; if `logStart` is set, reset the log store to
 *      start after it; then persist `entries` (the first entry's index truncates any stored
 *      suffix from that index on) and `hardState` (if set), and fsync;
 *   2. send `messages` — but those for which maySendBeforePersist() holds (a leader's appends
 *      and heartbeats in a durable term, answers to heartbeats, forwarded proposals) may be
 *      sent before step 1 completes, and so may those that takeEarlyMessages() hands out while
 *      it runs;
 *   3. apply `committedEntries` in order, then serve `readStates` once applied reaches them;
 *   4. call advance().
 */
export interface Ready {
  readonly softState: SoftState | null;
  /** A snapshot from the leader to install before anything else in this Ready. */
  readonly snapshot: Snapshot | null;
  /** Discard every stored entry: the log now starts just after this index (of this term). */
  readonly logStart: { readonly index: number; readonly term: number } | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly RaftMessage[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Read contexts this node can no longer answer: fail them so the client retries. */
  readonly droppedReads: readonly string[];
  /**
   * Leader: a follower needs compacted entries and the core holds no snapshot data for them
   * (the driver compacts meta-only). Set in every Ready until the driver offers a snapshot at
   * an index from `indexMin` (the compaction point) up to its applied index (offerSnapshot),
   * so a driver that could not answer one Ready answers a later one; null otherwise.
   */
  readonly snapshotWanted: { readonly indexMin: number } | null;
  /**
   * Messages no correct peer could have sent (violation.ts), which the core dropped: the
   * driver logs and counts them. Nothing to undo; at most violationsPerReadyMax per Ready.
   */
  readonly violations: readonly ProtocolViolation[];
  /**
   * What the core did since the last Ready, for the driver's log (events.ts), oldest first;
   * `eventsDropped` more were left out (at most eventsPerReadyMax are kept). Events alone do not
   * make hasReady() true: they ride with the next Ready (within a heartbeat interval), so that
   * recording them changes no schedule, and no simulator seed.
   */
  readonly events: readonly RaftEvent[];
  readonly eventsDropped: number;
  /**
   * Whether this Ready's writes must be durable (one fsync) before its messages that wait for
   * persistence are sent and before advance(): new entries, a snapshot, a log reset, or a change
   * of term or vote. A change of the commit index alone need not be: a restarted node relearns
   * it from the leader (etcd's MustSync), and syncing it would double the fsyncs under load.
   */
  readonly mustSync: boolean;
}

/**
 * True for messages that do not depend on the sender's own durable state: a leader may send its
 * appends before its own fsync finishes, because it counts itself toward a commit only once the
 * entries are stable (thesis §10.2.1). Votes and acknowledgements must wait for the fsync, and
 * so must vote requests: a candidate counts its own vote at once. A driver asks
 * RaftNode.maySendBeforePersist, which also holds back a leader's messages of a term not yet
 * durable.
 */
export function mayPrecedePersist(message: RaftMessage): boolean {
  // A forwarded proposal promises nothing about this node's state either, nor does the answer
  // to a heartbeat: it carries no index, only the term and the read round it answers. A node
  // that forgets a term it answered in never votes twice in it (votes are durable before they
  // go out), so an answer that outruns its term's fsync misleads no one. etcd's raft holds back
  // only MsgAppResp, MsgVoteResp and MsgPreVoteResp until its storage has synced.
  return message.type === "append" || message.type === "heartbeat" ||
    message.type === "heartbeatResponse" || message.type === "propose";
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly stableIndex: number;
  /** The configuration in force (conf-state.ts): voters (the incoming side while joint),
   * learners, and the voters being left while joint. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  /** The configuration quorums follow: the newest in the log, committed or not. */
  readonly quorumConf: ConfState;
  /** Leader only: each follower's replication state. */
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
  /** Ticks since the election timer was last reset (a follower: since it heard the leader). */
  readonly electionElapsedTicks: number;
  /** The randomized election timeout in force, in ticks: the timer fires when reached. */
  readonly electionTimeoutTicks: number;
}

/** One follower as its leader sees it (RaftStatus.progress). */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  /** probe, replicate or snapshot. */
  readonly state: string;
  /** Appends sent and not yet acknowledged. */
  readonly inflight: number;
  /** Heard from since the last CheckQuorum round (within an election timeout). */
  readonly recentActive: boolean;
}

interface Outstanding {
  readonly hardState: HardState | null;
  readonly lastEntry: Entry | undefined;
  readonly lastCommitted: Entry | undefined;
}

/**
 * One Raft node as a pure, deterministic state machine (DESIGN.md §1). It has no clock, no I/O
 * and no randomness of its own: time is tick(), input is step() and propose(), and output is
 * pulled with ready() and acknowledged with advance().
 */
export class RaftNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState | null = null;
  private previousHardState: HardState;
  private outstanding: Outstanding | null = null;
  /** The last Ready asked for a snapshot: hasReady() need not report the same ask again. */
  private snapshotWantedShown = false;

  constructor(config: RaftConfig, rng: Rng, initial: RaftInitialState = emptyInitialState) {
    this.raft = new Raft(config, rng, initial);
    this.previousHardState = initial.hardState;
  }

  get id(): NodeId {
    return this.raft.id;
  }

  get role(): Role {
    return this.raft.role;
  }

  /** The leader this node knows of, or null. */
  get leaderId(): NodeId | null {
    return this.raft.leaderId;
  }

  get term(): number {
    return this.raft.term;
  }

  get commitIndex(): number {
    return this.raft.log.committed;
  }

  /** The configuration quorums are counted in (status().quorumConf), without a status. */
  get quorumConf(): ConfState {
    return this.raft.tracker.quorumConf;
  }

  /** Advances logical time by one tick: election timeouts and heartbeats count ticks. */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Hands the node a message from a peer. Its shape must be valid (the transport checks it);
   * its values need not be: impossible ones are dropped and reported in Ready.violations.
   */
  step(message: RaftMessage): void {
    this.raft.step(message);
  }

  /** Starts an election now, as if the election timeout had elapsed (with PreVote if on). */
  campaign(): void {
    if (this.raft.role !== "leader") {
      this.raft.campaign(this.raft.config.preVote ? "preElection" : "election");
    }
  }

  /**
   * Appends `data` to the leader's log. The entry is sent to followers at the next ready(), in
   * one batch with every other proposal since the last one.
   */
  propose(data: string, kind: EntryKind = "normal"): ProposeResult {
    assert(kind !== "config", "configuration changes go through proposeConfChange");
    const raft = this.raft;
    if (raft.role !== "leader") return { kind: "notLeader", leaderIdHint: raft.leaderId };
    return acceptProposals(raft, [data], kind);
  }

  /**
   * Asks for a linearizable read point (thesis §6.4). `context` must be unique per attempt; the
   * answer is a ReadState with this context, or a dropped read, in a later Ready.
   */
  readIndex(context: string): ReadIndexResult {
    const raft = this.raft;
    if (raft.role === "leader") {
      return startRead(raft, context, raft.id) === "pending"
        ? { kind: "pending" }
        : { kind: "overloaded" };
    }
    if (raft.leaderId === null) return { kind: "noLeader" };
    raft.send({ type: "readIndex", from: raft.id, to: raft.leaderId, term: raft.term, context });
    return { kind: "pending" };
  }

  /**
   * On a follower, sends proposals to the leader it knows, which appends them as its own; no
   * answer comes back (see ProposeRequest). The caller learns the outcome by applying the
   * entry, or not within its timeout. "isLeader": propose() them here instead.
   */
  forward(data: readonly string[]): ForwardResult {
    const result = this.forwardMessage(data);
    if (result.kind !== "forwarded") return result;
    this.raft.send(result.message);
    return { kind: "forwarded", leaderId: result.leaderId };
  }

  /**
   * As forward(), but hands the propose message back for the driver to send at once, instead
   * of in the next Ready. A propose promises nothing durable (mayPrecedePersist), so it need
   * not wait for the Ready in progress, whose fsync may take milliseconds: callable between
   * ready() and advance().
   */
  forwardMessage(data: readonly string[]): ForwardMessageResult {
    const raft = this.raft;
    if (raft.role === "leader") return { kind: "isLeader" };
    if (raft.leaderId === null || raft.role !== "follower") return { kind: "noLeader" };
    const message: ProposeRequest =
      { type: "propose", from: raft.id, to: raft.leaderId, term: raft.term, data };
    return { kind: "forwarded", leaderId: raft.leaderId, message };
  }

  /**
   * Takes the messages queued since the last ready() that may go out before that Ready's
   * persist completes (maySendBeforePersist), leaving the others, in order, for the next Ready.
   * Callable between ready() and advance(): the driver sends these at once while an fsync is
   * in progress, so that a slow disk does not silence a node. A leader whose heartbeats waited
   * for its own fsync would let its followers' election timers run out; followers whose answers
   * waited for theirs would make the leader step down through CheckQuorum, as if cut off.
   */
  takeEarlyMessages(): RaftMessage[] {
    const raft = this.raft;
    if (!raft.messages.some((message) => this.maySendBeforePersist(message))) return [];
    const early: RaftMessage[] = [];
    const rest: RaftMessage[] = [];
    for (const message of raft.messages) {
      (this.maySendBeforePersist(message) ? early : rest).push(message);
    }
    raft.messages = rest;
    return early;
  }

  /**
   * Whether a message of this node's may go out before the persist of the Ready in progress
   * (or, between Readies, of the next one): mayPrecedePersist, and for a leader's appends and
   * heartbeats, a term already durable (the Readies before were advanced). A lone voter elects
   * itself at once, before its new term is on disk: were its appends seen (by a learner) and
   * then lost in a crash, it would be elected in that same term again after the restart and
   * could append other entries at the same indexes and term, and the learner would diverge from
   * it (Log Matching). A leader elected by others has its term on disk already: its
   * vote requests waited for it.
   */
  maySendBeforePersist(message: RaftMessage): boolean {
    if (!mayPrecedePersist(message)) return false;
    if (message.type === "append" || message.type === "heartbeat") {
      return message.term <= this.previousHardState.term;
    }
    return true;
  }

  /**
   * Proposes a configuration change (conf-state.ts) as leader, after the checks of
   * ConfChangeRefusal; accepted, it is appended as a "config" entry, and each node's quorums
   * follow it from the moment it is in that node's log (dissertation §4.1; Raft.refreshQuorums). A change that alters more than one voter
   * goes through a joint configuration, which the leader leaves by itself.
   */
  proposeConfChange(change: ConfChange): ConfChangeProposeResult {
    const raft = this.raft;
    if (raft.role !== "leader") return { kind: "notLeader", leaderIdHint: raft.leaderId };
    if (raft.leadTransferee !== null) {
      return { kind: "transferring", leaderIdHint: raft.leadTransferee };
    }
    const refuse = (reason: ConfChangeRefusal, message: string): ConfChangeProposeResult =>
      ({ kind: "refused", reason, message });
    if (raft.log.term(raft.log.committed) !== raft.term) {
      return refuse("leaderNotReady", `leader of term ${raft.term} has not committed an entry ` +
        "of its term yet: retry in a moment");
    }
    if (raft.pendingConfIndex > raft.log.applied) {
      return refuse("changeInFlight", `the change at index ${raft.pendingConfIndex} (or an ` +
        "entry of an earlier leader that may be one) is not in force yet: retry once it is");
    }
    if (change.leave === true) return refuse("invalid", "the leader leaves a joint configuration itself");
    const result = applyConfChange(raft.conf, change);
    if (!result.ok) return refuse("invalid", result.problem);
    const lastIndex = raft.log.lastIndex();
    for (const op of change.ops) {
      if (op.type !== "promote" && !(op.type === "addVoter" && raft.conf.learners.includes(op.id))) {
        continue;
      }
      const progress = raft.tracker.get(op.id);
      const behind = lastIndex - (progress?.match ?? 0);
      if (progress === undefined || behind > raft.config.promotionLagEntriesMax ||
        !heardLately(raft, op.id)) {
        return refuse("learnerBehind", `${op.id} is ${behind} entries behind the leader (holds ` +
          `${progress?.match ?? 0} of ${lastIndex}; at most ${raft.config.promotionLagEntriesMax} ` +
          `may be missing)${heardLately(raft, op.id) ? "" : " and was not heard from " +
          "within the last election timeout"}: wait for it to catch up`);
      }
    }
    // Strict reconfiguration: the voters that answer now must form the new quorum(s). A
    // single-voter cluster may grow: it has no quorum to lose.
    if (raft.tracker.voterCount() > 1) {
      const next = new JointConfig(result.conf);
      const reachable = (id: NodeId): boolean => id === raft.id || heardLately(raft, id);
      if (!next.hasQuorum(reachable)) {
        const down = next.voters.filter((id) => !reachable(id));
        return refuse("wouldLoseQuorum", `after the change the voters would be ` +
          `${next.voters.join(", ")}, of which ${down.join(", ")} ` +
          `${down.length === 1 ? "is" : "are"} not reachable now: too few for a quorum`);
      }
    }
    if (raft.config.uncommittedEntriesMax - (lastIndex - raft.log.committed) <= 0) {
      return { kind: "overloaded" };
    }
    const index = raft.appendConfigEntry(change);
    return { kind: "accepted", index, term: raft.term };
  }

  /** Hands leadership to `target` once its log is current (thesis §3.10). */
  transferLeadership(target: NodeId): TransferResult {
    const raft = this.raft;
    if (raft.role !== "leader") return { kind: "notLeader", leaderIdHint: raft.leaderId };
    if (target === raft.id) return { kind: "alreadyLeader" };
    const progress = raft.tracker.get(target);
    // A learner has progress too, but campaigns only when a candidate asked it for a vote
    // (Raft.promotable): it is no target.
    if (progress === undefined || !raft.tracker.isVoter(target)) return { kind: "unknownTarget" };
    if (raft.leadTransferee === target) return { kind: "started" };
    raft.leadTransferee = target;
    raft.noteEvent({ kind: "transferStarted", ...raft.position(), target });
    // The transfer must finish within one election timeout, counted from now. It has its own
    // counter: resetting electionElapsed would postpone CheckQuorum.
    raft.transferElapsedTicks = 0;
    if (progress.match === raft.log.lastIndex()) sendTimeoutNow(raft, target);
    else sendAppendsTo(raft, target);
    return { kind: "started" };
  }

  /**
   * The driver took `snapshot` of its state machine (at most at the applied index) and saved
   * it, and the core drops the log up to `compactIndex` (default: the snapshot's index; lower
   * keeps a trailing window of entries for slightly slow followers). Call it after advance()
   * (the applied index moves there), and compact the log store to the same index only once the
   * snapshot is durable. With `data`, the core keeps the snapshot to send to followers that fall
   * behind the log. With the meta only (a durable checkpoint of a database, say), it keeps no
   * data: a leader asks for it when a follower needs it (Ready.snapshotWanted, offerSnapshot),
   * and drops what it holds once no follower needs it. A follower keeps a snapshot installed
   * from its leader as it keeps data given here, until the driver first compacts meta-only: a
   * driver that restores into a database calls compact({meta}) at the installed index.
   */
  compact(snapshot: Snapshot | SnapshotMetaOnly, compactIndex = snapshot.meta.index): void {
    const raft = this.raft;
    const { index, term } = snapshot.meta;
    assert(index <= raft.log.applied, `snapshot at ${index} beyond applied ${raft.log.applied}`);
    assert(compactIndex <= index, "compaction stays within the snapshot");
    const termHeld = raft.log.term(index);
    assert(termHeld === null || termHeld === term, `snapshot term ${term} disagrees with the log`);
    if (snapshot.data === undefined) {
      raft.snapshotKept = false;
    } else if (raft.snapshot === null || index > raft.snapshot.meta.index) {
      raft.snapshot = snapshot;
      raft.snapshotKept = true;
    }
    raft.log.compactTo(compactIndex);
    maybeReleaseSnapshot(raft);
  }

  /**
   * Answers Ready.snapshotWanted: a snapshot of the state machine at an index from
   * `snapshotWanted.indexMin` up to the applied index, whose term agrees with the log (both
   * asserted: it is the driver's own data). The leader holds it while followers need it and
   * sends its first chunk in the next Ready. "stale": compaction has passed it meanwhile, and
   * the ask stays; "notWanted": no follower waits any more, and the driver can drop it.
   */
  offerSnapshot(snapshot: Snapshot): OfferSnapshotResult {
    const raft = this.raft;
    const result = acceptOfferedSnapshot(raft, snapshot);
    if (result.kind !== "accepted") return result;
    // The waiting followers start their transfers now, not at their next heartbeat answer.
    for (const id of followersWaitingForSnapshot(raft)) sendAppend(raft, id, false);
    return result;
  }

  /** The index of the snapshot data the core holds, or null: for tests and metrics. */
  heldSnapshotIndex(): number | null {
    return this.raft.snapshot?.meta.index ?? null;
  }

  /**
   * The index the driver should compact to after taking a snapshot at `appliedIndex`, keeping
   * `trailingEntries` below it for slightly slow followers. On a leader it also keeps every
   * entry after a snapshot it is streaming to a live follower: once installed, that follower
   * next needs the entry after the snapshot's index (§7), and had the leader compacted past it
   * meanwhile it would have to start a newer snapshot, so a follower whose transfer takes longer
   * than the snapshot interval would never catch up. Only followers heard from within an
   * election timeout hold compaction back, so a dead one cannot stop it for ever. Never below
   * what is already compacted.
   */
  compactIndexFor(appliedIndex: number, trailingEntries: number): number {
    const raft = this.raft;
    let limit = appliedIndex - trailingEntries;
    if (raft.role === "leader") {
      for (const progress of raft.tracker.values()) {
        const transfer = progress.snapshotTransfer;
        if (transfer !== null && progress.ticksSinceActive < raft.config.electionTimeoutTicks) {
          limit = Math.min(limit, transfer.snapshot.meta.index);
        }
      }
    }
    return Math.max(limit, raft.log.compacted());
  }

  /** True when ready() would return work. */
  hasReady(): boolean {
    const raft = this.raft;
    return (
      raft.pendingInstall !== null ||
      raft.log.pendingLogStart !== null ||
      raft.messages.length > 0 ||
      raft.readStates.length > 0 ||
      raft.droppedReads.length > 0 ||
      raft.violations.length > 0 ||
      raft.log.stableIndex() < raft.log.lastIndex() ||
      raft.log.committed > raft.log.applied ||
      raft.proposalsUnsent ||
      raft.commitUnsent ||
      raft.readRoundUnsent ||
      (!this.snapshotWantedShown && snapshotWanted(raft) !== null) ||
      // Field by field, not through hardState()/softState(): this runs at every loop pass.
      raft.term !== this.previousHardState.term || raft.vote !== this.previousHardState.vote ||
      raft.log.committed !== this.previousHardState.commit ||
      this.previousSoftState === null || raft.role !== this.previousSoftState.role ||
      raft.leaderId !== this.previousSoftState.leaderId
    );
  }

  /** Collects the work accumulated since the last advance(). Call advance() before the next. */
  ready(): Ready {
    assert(this.outstanding === null, "ready() called twice without advance()");
    const raft = this.raft;
    const committedEntries = raft.log.committedEntriesAfter(
      raft.log.applied, raft.config.entriesPerApplyMax);
    // Handed to the driver now: their configuration changes take effect first, so that this
    // Ready already carries what follows from them (a leader's entry leaving a joint
    // configuration, its step-down when removed).
    raft.applyCommittedConfig(committedEntries);
    raft.flush();
    const hardState = raft.hardState();
    const softState = this.softState();
    const entries = raft.log.unstableEntries();
    const wantedIndexMin = snapshotWanted(raft);
    const ready: Ready = {
      softState: sameSoftState(softState, this.previousSoftState) ? null : softState,
      snapshot: raft.pendingInstall,
      logStart: raft.log.pendingLogStart,
      hardState: sameHardState(hardState, this.previousHardState) ? null : hardState,
      entries,
      messages: raft.messages,
      committedEntries,
      readStates: raft.readStates,
      droppedReads: raft.droppedReads,
      snapshotWanted: wantedIndexMin === null ? null : { indexMin: wantedIndexMin },
      violations: raft.violations,
      events: raft.events,
      eventsDropped: raft.eventsDropped,
      mustSync: entries.length > 0 || raft.pendingInstall !== null ||
        raft.log.pendingLogStart !== null || hardState.term !== this.previousHardState.term ||
        hardState.vote !== this.previousHardState.vote,
    };
    raft.pendingInstall = null;
    raft.log.pendingLogStart = null;
    raft.messages = [];
    raft.readStates = [];
    raft.droppedReads = [];
    raft.violations = [];
    raft.events = [];
    raft.eventsDropped = 0;
    // A follower's installed snapshot leaves with this Ready; ended transfers free theirs.
    maybeReleaseSnapshot(raft);
    this.snapshotWantedShown = wantedIndexMin !== null;
    this.previousSoftState = softState;
    this.outstanding = {
      hardState: ready.hardState,
      lastEntry: entries[entries.length - 1],
      lastCommitted: committedEntries[committedEntries.length - 1],
    };
    return ready;
  }

  /** The driver has persisted, sent and applied everything of the last Ready. */
  advance(): void {
    const outstanding = this.outstanding;
    assert(outstanding !== null, "advance() without ready()");
    this.outstanding = null;
    const raft = this.raft;
    if (outstanding.hardState !== null) this.previousHardState = outstanding.hardState;
    if (outstanding.lastEntry !== undefined) {
      raft.log.stableTo(outstanding.lastEntry.index, outstanding.lastEntry.term);
    }
    if (outstanding.lastCommitted !== undefined) {
      raft.log.appliedTo(outstanding.lastCommitted.index);
    }
    if (raft.role === "leader") {
      // Now that its own entries are durable, the leader counts itself toward the quorum.
      raft.tracker.get(raft.id)!.maybeUpdate(raft.log.stableIndex());
      maybeCommit(raft);
    }
  }

  status(): RaftStatus {
    const raft = this.raft;
    const progress: Record<NodeId, ProgressStatus> = {};
    for (const [id, p] of raft.tracker.entries()) {
      progress[id] = { match: p.match, next: p.next, state: p.state,
        inflight: p.inflights.count(), recentActive: p.recentActive };
    }
    return {
      id: raft.id,
      role: raft.role,
      term: raft.term,
      vote: raft.vote,
      leaderId: raft.leaderId,
      commitIndex: raft.log.committed,
      appliedIndex: raft.log.applied,
      lastLogIndex: raft.log.lastIndex(),
      lastLogTerm: raft.log.lastTerm(),
      stableIndex: raft.log.stableIndex(),
      voters: raft.conf.voters,
      learners: raft.conf.learners,
      votersOutgoing: raft.conf.votersOutgoing,
      quorumConf: raft.tracker.quorumConf,
      progress,
      electionElapsedTicks: raft.electionElapsed,
      electionTimeoutTicks: raft.randomizedElectionTimeoutTicks,
    };
  }

  /** The index at or below which the log is compacted into a snapshot. */
  compactedIndex(): number {
    return this.raft.log.compacted();
  }

  /** The entries in [indexLow, indexHigh) as this node holds them, for checkers and tests. */
  entries(indexLow: number, indexHigh: number): readonly Entry[] {
    return this.raft.log.slice(indexLow, indexHigh);
  }

  /** The term of the entry at `index`, or null if this node does not hold it. */
  termAt(index: number): number | null {
    return this.raft.log.term(index);
  }

  private softState(): SoftState {
    return { role: this.raft.role, leaderId: this.raft.leaderId };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState | null): boolean {
  return b !== null && a.role === b.role && a.leaderId === b.leaderId;
}
