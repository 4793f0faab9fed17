import { assert, assertNever } from "./assert.js";
import { validateRaftConfig, type RaftConfig } from "./config.js";
import { Departures } from "./departures.js";
import { bcastHeartbeat, flushLeader, stepLeader, tickSnapshotTransfers } from "./leader.js";
import type { LeaderHost } from "./leader-host.js";
import { RaftLog } from "./log.js";
import type {
  AppendEntriesRequest,
  Entry,
  HardState,
  HeartbeatRequest,
  InstallSnapshotRequest,
  NodeId,
  PreVoteRequest,
  RaftMessage,
  ReadState,
  RequestVoteRequest,
  Role,
  Snapshot,
  SnapshotMeta,
  SnapshotMetaOnly,
  VoteResponse,
} from "./messages.js";
import {
  appendConflictProblem, laterTermReadIndexProblem, messageProblem, snapshotConflictProblem,
  type Problem,
} from "./peer-checks.js";
import {
  applyConfChange, confOfMeta, decodeConfChange, emptyConfState, encodeConfChange, isJoint,
  isVoter, members, type ConfChange, type ConfState,
} from "./conf-state.js";
import { ReadOnly } from "./read-only.js";
import { ProgressTracker } from "./tracker.js";
import type { Rng } from "./rng.js";
import { MemorySnapshotReceiver, type SnapshotReceiver } from "./snapshot-data.js";
import {
  termJumpMax, violationsPerReadyMax, type ProtocolViolation, type ViolationReason,
} from "./violation.js";
import { eventsPerReadyMax, type RaftEvent, type RoleChangeReason, type VoteRefusal } from "./events.js";

/** What a node restarts from: whatever its driver had persisted. */
export interface RaftInitialState {
  readonly hardState: HardState;
  /**
   * The newest snapshot, already restored into the state machine by the driver. With its data
   * the core holds it to send to followers, as if handed to compact(); with the meta only the
   * driver keeps the data and provides it when asked (Ready.snapshotWanted).
   */
  readonly snapshot: Snapshot | SnapshotMetaOnly | null;
  /** The persisted entries, contiguous; they may overlap the snapshot (a trailing window). */
  readonly entries: readonly Entry[];
}

/** A snapshot arriving in chunks, kept apart from the current state until complete. */
interface IncomingSnapshot {
  readonly from: NodeId;
  readonly meta: SnapshotMeta;
  readonly receiver: SnapshotReceiver;
  bytes: number;
}

export const emptyInitialState: RaftInitialState = {
  hardState: { term: 0, vote: null, commit: 0 },
  snapshot: null,
  entries: [],
};

type CampaignKind = "preElection" | "election" | "transfer";

/** Removal indexes remembered (Raft.removedAtIndex): more than a cluster removes at once. */
const removedAtIndexMax = 64;

/**
 * The Raft state machine of one node (Figure 2, plus PreVote, CheckQuorum, ReadIndex and
 * leadership transfer from Ongaro's thesis). Internal to src/raft/: the public face is RaftNode.
 * Fields are public so that leader.ts and snapshot-supply.ts can share them (the ones they use
 * are listed in leader-host.ts), and raft-node.ts reads some; nothing outside src/raft/ sees
 * this class.
 */
export class Raft implements LeaderHost {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly rng: Rng;
  readonly log: RaftLog;
  /** The configuration as of the last committed entry handed to the driver
   * (applyCommittedConfig): what snapshots record, and what decides who may campaign beside
   * the newest one. Quorums follow the newest configuration in the log (`tracker.quorumConf`). */
  conf: ConfState;
  /**
   * The quorums, the votes of a campaign and a leader's Progress of each member (tracker.ts).
   * The quorums are counted (both majorities while joint; learners never count) over the
   * newest configuration in the log, committed or not: the dissertation's rule (§4.1), under
   * which a node whose changes are not handed out yet (a backlog, or a commit index a crash
   * took back) still decides with the configuration its log ends in, never one two changes
   * old. `conf`, the configuration as of the entries handed out, is what snapshots record.
   */
  readonly tracker: ProgressTracker;
  /** Members of the configuration in force and of the pending ones. */
  memberIds: ReadonlySet<NodeId> = new Set();
  /** The "config" entries in the log past handedIndex, oldest first (committed or not). */
  pendingConfEntries: Entry[] = [];
  /** Leader: the index of the last configuration change it appended; no other is accepted
   * until the driver has been handed it (one change in flight, §4.1). */
  pendingConfIndex = 0;
  /** The last committed entry handed to the driver (applyCommittedConfig). */
  handedIndex = 0;
  /**
   * A learner that refused a pre-vote because its log is newer than the candidate's: the
   * candidate counts it as a voter (it asks only voters), so its log may be the one the cluster
   * needs. It may then campaign itself (promotable) at each election timeout, until it hears
   * from a leader, leads, or loses a campaign.
   */
  learnerAskedToLead = false;
  /** Every node named by a configuration this node held since it started: messages from one
   * that is no member now are dropped quietly, not reported as a protocol violation (except
   * those knowsSender takes from anyone, such as the answer to a read). */
  readonly formerMembers = new Set<NodeId>();
  /**
   * The index of the committed change that removed each former member, as applied here (any
   * role), so that a leader can tell a removed node that comes back later (after its
   * departure's window) that its removal committed (departures.ts). Bounded, oldest first.
   */
  private readonly removedAtIndex = new Map<NodeId, number>();

  /** Figure 2's currentTerm. Invariant: never decreases. */
  term: number;
  /** Figure 2's votedFor, in `term`. */
  vote: NodeId | null;
  role: Role = "follower";
  leaderId: NodeId | null = null;

  /** Ticks since the last election timeout reset (followers) or quorum check (leaders). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** In [electionTimeoutTicks, 2 * electionTimeoutTicks), drawn anew at each reset (§5.2). */
  randomizedElectionTimeoutTicks = 0;
  /** Leader only: nodes a committed change removed, told of its commit for an election
   * timeout (departures.ts). Invariant: none has a Progress; cleared on every role change. */
  readonly departures = new Departures();
  /** Leader only: the target of a leadership transfer in progress. */
  leadTransferee: NodeId | null = null;
  /**
   * A term in which two nodes acted as leader (leader.ts, stepDownToRival): no leader of it is
   * followed any more. Entries of one (index, term) may differ between the two, and log
   * matching compares terms only, so following either could apply the other's data.
   */
  forkedTerm: number | null = null;
  /** Ticks since the transfer began; it is abandoned after an election timeout (§3.10). */
  transferElapsedTicks = 0;
  readOnly: ReadOnly;
  /** Leader only: reads that arrived before the leader's first commit in its term (§6.4 step 1). */
  readsBeforeCommit: { context: string; from: NodeId }[] = [];
  /** Fresh per ReadIndex round across the node's lifetime, so a stale ack never confirms. */
  lastReadId = 0;
  /** Leader only: work deferred to the next flush, so that one Ready sends one batch. */
  proposalsUnsent = false;
  commitUnsent = false;
  readRoundUnsent = false;

  /**
   * Snapshot data this node holds, to send to followers that need compacted entries (§7); null
   * when only the driver has it, and a leader then asks for it (snapshot-supply.ts).
   */
  snapshot: Snapshot | null;
  /**
   * Whether `snapshot` stays until a newer one replaces it: data the driver handed over with
   * compact() or at restart. Otherwise (offered on demand, or installed after the driver
   * compacted meta-only) it is released once no follower needs it. True until the driver first
   * compacts or restarts meta-only, so that drivers that never do behave as they always did.
   */
  snapshotKept: boolean;
  /** Follower: a snapshot being received. */
  incomingSnapshot: IncomingSnapshot | null = null;
  /** A snapshot from the leader that the driver must install (in the next Ready). */
  pendingInstall: Snapshot | null = null;

  /** Outputs collected for the next Ready. */
  messages: RaftMessage[] = [];
  readStates: ReadState[] = [];
  droppedReads: string[] = [];
  /** Impossible peer input seen since the last Ready.
   * Invariant: length <= violationsPerReadyMax. */
  violations: ProtocolViolation[] = [];
  /** What happened since the last Ready, for the driver's log (events.ts).
   * Invariant: length <= eventsPerReadyMax; eventsDropped counts the rest. */
  events: RaftEvent[] = [];
  eventsDropped = 0;

  constructor(config: RaftConfig, rng: Rng, initial: RaftInitialState) {
    validateRaftConfig(config);
    this.id = config.id;
    this.config = config;
    this.rng = rng;
    this.conf = confOfMeta(initial.snapshot?.meta) ?? emptyConfState(config.voters);
    this.tracker = new ProgressTracker(this.conf, config);
    this.snapshot = initial.snapshot?.data === undefined ? null : initial.snapshot;
    this.snapshotKept = initial.snapshot === null || initial.snapshot.data !== undefined;
    this.log = new RaftLog(initial.snapshot?.meta ?? null, initial.entries,
      initial.hardState.commit);
    this.handedIndex = this.log.applied;
    // From the log as restored, not from the stored entries: the log drops those that disagree
    // with the snapshot (a crash mid-install), and their changes must not count.
    this.pendingConfEntries = this.log.slice(this.handedIndex + 1, this.log.lastIndex() + 1)
      .filter((entry) => entry.kind === "config");
    this.refreshQuorums();
    // Entries come only from leaders of the current term or earlier ones, so a server's term is
    // never below its log's last term. A crash can break that on disk: a Ready that moves the
    // term and appends entries of it is written entries first (or a snapshot installed first),
    // and a crash part-way keeps them without the hard state. Restored so, the node would
    // campaign at a term below its own log's last term (`npm run sim -- --core --seed
    // 2613419681`). It takes that term back, with no vote: a vote or a vote request waits for
    // the sync of the hard state naming it (mayPrecedePersist), and the hard state restored is
    // at least as new as the last synced one, so this node sent none in a later term. (A lone
    // voter may have led that term unsynced, but every request for it shows an older last term
    // than this log, §5.4.1.)
    const lastTerm = this.log.lastTerm();
    this.term = Math.max(initial.hardState.term, lastTerm);
    this.vote = lastTerm > initial.hardState.term ? null : initial.hardState.vote;
    this.readOnly = new ReadOnly(config.pendingReadsMax);
    this.becomeFollower(this.term, null, null);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /**
   * Whether `m` comes from a node this one talks to: a member of its configuration; the leader
   * it follows; or, from any node, a leader's message, a vote request, TimeoutNow, a forwarded
   * proposal or read, and the answer to a read at a term not above ours.
   */
  private knowsSender(m: RaftMessage): boolean {
    if (this.memberIds.has(m.from)) return true;
    // A node added by a change this one has not seen yet: a learner promoted and now leading,
    // or a voter of a newer configuration campaigning. Refusing it could leave this node behind
    // for good (`npm run sim -- --core --membership --seed 4`); etcd takes messages from any
    // node of the cluster (the transport checks the cluster id and the peer token). Other
    // answers from a stranger are refused, unless it is the leader this node follows: this
    // node asked it nothing.
    //
    // The answer to a read is taken from anyone at our term or below. A node whose
    // configuration is stale (removed, or restored from an old disk) follows a leader it has
    // no member entry for, forwards it a read, and may stop following it before the answer
    // arrives (`npm run sim -- --core --membership --seed 2611409998`). Such an answer is sound
    // whoever sends it: an index comes only from the leader of the term the read was forwarded
    // at, once a quorum confirmed it still led (§6.4; leader.ts answerRead), and an answer of
    // an older term fails the read (stepTerm). A stranger's answer of a later term is left to
    // acceptFrom: its term must not move ours.
    return isFromLeader(m) || m.type === "preVote" || m.type === "requestVote" ||
      m.type === "timeoutNow" || m.type === "propose" || m.type === "readIndex" ||
      (m.type === "readIndexResponse" && m.term <= this.term) || m.from === this.leaderId;
  }

  /**
   * A voter of the newest configuration, or of the one in force, may campaign (it must win a
   * quorum of the newest); a learner, or a node outside both, waits. Not the newest only: a node
   * that an uncommitted change would remove may be the only one holding the whole log, and the
   * others cannot win without its vote (`npm run sim -- --core --membership`, seeds 86, 494); a
   * leader outside its configuration manages it until the change commits (§4.2.2).
   *
   * A learner asked for a pre-vote by a candidate whose log is behind its own campaigns too
   * (learnerAskedToLead; with PreVote on only, so that it cannot depose a leader the voters
   * follow, §9.6). A candidate's configuration that counts the learner as a voter may be an
   * uncommitted change the learner never received, while the learner holds a later term's
   * entries than any voter left (their leader gone): the candidate then needs the learner's
   * vote and cannot get it, and the voters of the configuration in force cannot win without
   * the candidate's (`npm run sim -- --core --membership --snapshots-on-demand --seed
   * 2611800386`). Safe: whoever campaigns, winning takes a majority of the voters of the
   * candidate's newest configuration, each with a log no newer than its own (§4.1, §5.4.1),
   * and its own vote counts nowhere. It takes no proposal (acceptProposals) and leads only
   * until its first entry is handed out, then hands over to a voter (applyCommittedConfig).
   */
  promotable(): boolean {
    return this.votesSomewhere() || this.learnerAskedToLead;
  }

  /** Whether this node votes in the newest configuration in its log or in the one in force. */
  votesSomewhere(): boolean {
    return this.tracker.isVoter(this.id) || isVoter(this.conf, this.id);
  }

  /**
   * Adopts `conf`: the quorum arithmetic follows it at once; a leader starts replicating to new
   * members (from its last index, probing back as for any follower) and forgets removed ones.
   * `changeIndex`: the committed change entry that `conf` comes from, if any.
   */
  setConf(conf: ConfState, changeIndex: number | null = null): void {
    for (const id of members(this.conf)) this.formerMembers.add(id);
    this.conf = conf;
    this.refreshQuorums(changeIndex);
  }

  /**
   * Recomputes the quorums from the configuration in force and the pending change entries; a
   * leader replicates to every member of any of them (a new member from the moment its change
   * is appended) and forgets the others. `removalIndex`: set when a committed change at that
   * index took effect; the members it removed then depart (departures.ts). Not when a pending
   * change is truncated: that node's removal never committed, so there is nothing to tell it.
   */
  refreshQuorums(removalIndex: number | null = null): void {
    const pending: ConfState[] = [];
    let conf = this.conf;
    for (const entry of this.pendingConfEntries) {
      const change = decodeConfChange(entry.data);
      const result = change === null ? null : applyConfChange(conf, change);
      if (result?.ok !== true) continue;
      conf = result.conf;
      pending.push(conf);
    }
    this.tracker.setQuorumConf(pending.length > 0 ? pending[pending.length - 1]! : this.conf);
    const now = new Set([this.conf, ...pending].flatMap((each) => members(each)));
    // A node dropped from the pending configurations (a truncated change) may still answer
    // what it was asked: its messages are dropped quietly, as a removed member's.
    for (const id of this.memberIds) {
      if (now.has(id)) continue;
      this.formerMembers.add(id);
      if (removalIndex !== null) this.noteRemoved(id, removalIndex);
    }
    // A node added back is a member: its old removal says nothing of it now.
    for (const id of now) this.removedAtIndex.delete(id);
    this.memberIds = now;
    if (this.role !== "leader") return;
    for (const [id, progress] of [...this.tracker.entries()]) {
      if (now.has(id)) continue;
      this.tracker.remove(id);
      // A leader that removed itself learns of it by applying the change (it steps down).
      if (removalIndex !== null && id !== this.id) {
        this.departNode(id, progress.match, removalIndex);
      }
    }
    for (const id of now) {
      this.departures.delete(id);
      if (this.tracker.has(id)) continue;
      // A member a change adds has not been heard from yet: a learner must answer before it
      // counts as caught up for a promotion (proposeConfChange's learnerBehind), as at
      // becomeLeader.
      this.tracker.add(id, this.log.lastIndex() + 1, false);
    }
  }

  /**
   * A member the committed change at `removalIndex` removed: it is told at once that the change
   * committed (it usually holds it already, as it was replicated to while pending, but the
   * commit and this leader's apply come in one Ready, so no other message would tell it), and
   * again on each heartbeat round for an election timeout (tickLeader), in case that is lost.
   */
  private departNode(id: NodeId, match: number, removalIndex: number): void {
    assert(this.role === "leader" && id !== this.id, `only a leader departs others (${id})`);
    assert(!this.tracker.has(id), `${id} departs with no Progress: it counts nowhere`);
    this.departures.add(id, match, removalIndex);
    for (const m of this.departures.appends(this.id, this.term, this.log, this.config, id)) {
      this.send(m);
    }
  }

  private noteRemoved(id: NodeId, removalIndex: number): void {
    this.removedAtIndex.delete(id);
    if (this.removedAtIndex.size >= removedAtIndexMax) {
      this.removedAtIndex.delete(this.removedAtIndex.keys().next().value as NodeId);
    }
    this.removedAtIndex.set(id, removalIndex);
  }

  /**
   * Leader: a removed node still runs and sends (it was down or cut off while its departure
   * lasted, so it never learned that its removal committed). It departs again: the same
   * appends (departures.ts), from the last entry its vote request shows it shares with this
   * log (equal term there, so equal logs up to there: the log matching property), else from
   * the change itself. Bounded as every departure is; `m` is a former member's, not yet
   * checked by peer-checks.ts, so its index is checked here.
   */
  private departAgain(m: RaftMessage): void {
    const removalIndex = this.removedAtIndex.get(m.from);
    if (this.role !== "leader" || removalIndex === undefined || this.departures.has(m.from) ||
      this.tracker.has(m.from) || m.from === this.id || removalIndex > this.log.committed ||
      this.log.term(removalIndex) === null) {
      // (Compacted past the change: the appends could carry nothing; no departure slot taken.)
      return;
    }
    let match = removalIndex;
    if (m.type === "preVote" || m.type === "requestVote") {
      const last = m.lastLogIndex;
      if (Number.isSafeInteger(last) && last >= 0 && last < removalIndex &&
        this.log.term(last) === m.lastLogTerm) match = last;
    }
    this.departNode(m.from, match, removalIndex);
  }

  send(message: RaftMessage): void {
    assert(message.to !== this.id, "a node never messages itself");
    this.messages.push(message);
  }

  /** Records impossible input from a peer (violation.ts); the caller drops what it refers to. */
  reportViolation(m: RaftMessage, reason: ViolationReason, detail: string): void {
    if (this.violations.length >= violationsPerReadyMax) return;
    this.violations.push({ from: m.from, type: m.type, reason, detail });
  }

  private reportProblem(m: RaftMessage, problem: Problem): void {
    this.reportViolation(m, problem.reason, problem.detail);
  }

  /**
   * Moves the configuration changes among `entries` (committed, now handed to the driver) into
   * `conf`, in log order, and acts on them as leader: a joint configuration committed is left
   * (§4.3); a removal of this leader committed makes it hand over and step down (§4.2.2), and
   * so does a leader with no vote in the configuration in force once its first entry is handed
   * out (promotable). The quorums already followed each change from the moment it was appended
   * (refreshQuorums).
   */
  applyCommittedConfig(entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.handedIndex = Math.max(this.handedIndex, entry.index);
      if (entry.kind !== "config") continue;
      this.pendingConfEntries = this.pendingConfEntries.filter((pending) => pending.index > entry.index);
      const change = decodeConfChange(entry.data);
      const result = change === null ? { ok: false as const, problem: "undecodable change" }
        : applyConfChange(this.conf, change);
      if (!result.ok) {
        this.noteEvent({ kind: "confChangeSkipped", ...this.position(), entryIndex: entry.index,
          problem: result.problem });
        continue;
      }
      const previous = this.conf;
      this.setConf(result.conf, entry.index);
      this.noteEvent({ kind: "confChanged", ...this.position(), entryIndex: entry.index,
        previous, conf: result.conf, joint: result.joint });
      // The change just committed removes it (not merely one still pending in its log).
      if (this.role === "leader" && !isVoter(result.conf, this.id)) this.stepDownRemoved("removed");
    }
    // A leader that is no voter of the configuration in force once its first entry is handed
    // out (a learner that campaigned, promotable) has done what it was elected for: a quorum
    // of voters holds its log up to that entry. It hands over to one of them rather than lead
    // a configuration it has no vote in. (A voter promoted by a change still uncommitted when
    // it won is a voter by now: the change is before its first entry.)
    if (this.role === "leader" && !isVoter(this.conf, this.id) &&
      this.pendingConfIndex <= this.handedIndex) {
      this.stepDownRemoved("notVoter");
      return;
    }
    // §4.3: once a joint configuration is in force and no change is pending, the leader moves
    // on to the new configuration alone. Checked on every hand-out, so that a leader elected
    // while the configuration is joint (its predecessor died before leaving) leaves it too,
    // once its own first entry is handed out.
    if (this.role === "leader" && isJoint(this.conf) && this.pendingConfIndex <= this.handedIndex &&
      this.leadTransferee === null) {
      this.appendConfigEntry({ ops: [], leave: true });
    }
  }

  /** The log was rewritten from `from` with `incoming`'s entries: the pending changes follow. */
  private notePendingConfEntries(from: number, incoming: readonly Entry[]): void {
    const kept = this.pendingConfEntries.filter((entry) => entry.index < from);
    const added = incoming.filter((entry) => entry.kind === "config" && entry.index >= from &&
      entry.index > this.handedIndex);
    if (kept.length === this.pendingConfEntries.length && added.length === 0) return;
    this.pendingConfEntries = [...kept, ...added];
    this.refreshQuorums();
  }

  /** Appends a configuration change as leader; it is the one change in flight. */
  appendConfigEntry(change: ConfChange): number {
    const index = this.log.lastIndex() + 1;
    const entry: Entry = { index, term: this.term, kind: "config", data: encodeConfChange(change) };
    this.log.append(entry);
    this.pendingConfEntries.push(entry);
    this.refreshQuorums();
    this.pendingConfIndex = index;
    this.proposalsUnsent = true;
    return index;
  }

  /**
   * A leader whose removal took effect, or that has no vote in the configuration in force (a
   * learner that campaigned), hands over to the voter most up to date, when one holds its whole
   * log (TimeoutNow, §3.10), so the cluster needs no election timeout; then steps down either
   * way. A removed node never campaigns again; a learner only if asked again (promotable).
   */
  private stepDownRemoved(reason: "removed" | "notVoter"): void {
    // First tell every follower the commit index (a heartbeat carries it, up to what each
    // holds): followers that do not learn that the removal committed would keep the old
    // configuration, in which this node still votes, and could wait for it forever.
    bcastHeartbeat(this, null);
    const lastIndex = this.log.lastIndex();
    const successor = this.tracker.voterIds
      .filter((id) => id !== this.id && this.tracker.get(id)?.match === lastIndex)[0];
    if (successor !== undefined) {
      this.send({ type: "timeoutNow", from: this.id, to: successor, term: this.term });
    }
    this.becomeFollower(this.term, null, reason);
  }

  /** Records an event for the next Ready (events.ts); bounded, the excess counted. */
  noteEvent(event: RaftEvent): void {
    if (this.events.length >= eventsPerReadyMax) {
      this.eventsDropped++;
      return;
    }
    this.events.push(event);
  }

  /** The term and last log index now: the position every event carries. */
  position(): { term: number; index: number } {
    return { term: this.term, index: this.log.lastIndex() };
  }

  // --- Role transitions -------------------------------------------------------------------

  private reset(term: number): void {
    assert(term >= this.term, "terms never go backwards");
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leaderId = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeoutTicks =
      this.config.electionTimeoutTicks + this.rng.nextInt(this.config.electionTimeoutTicks);
    this.tracker.resetVotes();
    this.leadTransferee = null;
    this.tracker.clearProgress();
    // Only a leader tells removed nodes of their removal; a new leader knows none of them.
    this.departures.clear();
    // A transfer from an earlier leader or term will not be finished: free what it holds.
    this.incomingSnapshot = null;
    this.dropPendingReads();
    this.proposalsUnsent = false;
    this.commitUnsent = false;
    this.readRoundUnsent = false;
  }

  /** Pending reads can no longer be confirmed by this node: fail them fast, not by timeout. */
  private dropPendingReads(): void {
    const pending = [...this.readOnly.clear(), ...this.readsBeforeCommit];
    this.readsBeforeCommit = [];
    for (const read of pending) {
      if (read.from === this.id) {
        this.droppedReads.push(read.context);
      } else {
        this.send({ type: "readIndexResponse", from: this.id, to: read.from, term: this.term,
          context: read.context, index: null });
      }
    }
  }

  /** `reason` null: no event (the node starting up). */
  becomeFollower(term: number, leaderId: NodeId | null, reason: RoleChangeReason | null): void {
    const previous = { role: this.role, term: this.term };
    this.reset(term);
    this.role = "follower";
    this.leaderId = leaderId;
    if (reason !== null && (previous.role !== "follower" || previous.term !== term)) {
      this.noteEvent({ kind: "roleChanged", ...this.position(), from: previous.role,
        to: "follower", leaderId, reason });
    }
  }

  becomePreCandidate(): void {
    assert(this.role !== "leader", "invalid transition [leader -> preCandidate]");
    const from = this.role;
    // PreVote changes neither term nor vote: a failed pre-campaign disturbs no one (§9.6).
    this.role = "preCandidate";
    if (from !== "preCandidate") {
      this.noteEvent({ kind: "roleChanged", ...this.position(), from, to: "preCandidate",
        leaderId: null, reason: "electionTimeout" });
    }
    this.leaderId = null;
    this.tracker.resetVotes();
    this.randomizedElectionTimeoutTicks =
      this.config.electionTimeoutTicks + this.rng.nextInt(this.config.electionTimeoutTicks);
  }

  becomeCandidate(reason: RoleChangeReason): void {
    assert(this.role !== "leader", "invalid transition [leader -> candidate]");
    const from = this.role;
    this.reset(this.term + 1);
    this.role = "candidate";
    this.vote = this.id;
    this.noteEvent({ kind: "roleChanged", ...this.position(), from, to: "candidate",
      leaderId: null, reason });
  }

  becomeLeader(): void {
    assert(this.role === "candidate", `invalid transition [${this.role} -> leader]`);
    const votes = this.tracker.grantedIds();
    this.reset(this.term);
    this.role = "leader";
    this.leaderId = this.id;
    this.learnerAskedToLead = false;
    const next = this.log.lastIndex() + 1;
    // Configuration changes wait until every entry of earlier terms is handed out (etcd's
    // pendingConfIndex): one of them may be an uncommitted change (§4.1's one-at-a-time rule).
    this.pendingConfIndex = next;
    for (const id of this.memberIds) {
      // A learner counts as heard from only once it answers this leader: its promotion waits
      // for that (proposeConfChange's learnerBehind), whatever its lag looks like from here.
      this.tracker.add(id, next, this.tracker.isVoter(id) || id === this.id);
    }
    const own = this.tracker.get(this.id)!;
    // The leader counts itself only for what it has persisted (thesis §10.2.1).
    own.maybeUpdate(this.log.stableIndex());
    own.becomeReplicate();
    own.markActive();
    // §5.4.2 / §8: a no-op of the new term lets the leader commit earlier entries, and is the
    // "first commit of its term" that ReadIndex waits for.
    this.log.append({ index: next, term: this.term, kind: "normal", data: "" });
    this.proposalsUnsent = true;
    this.noteEvent({ kind: "roleChanged", ...this.position(), from: "candidate", to: "leader",
      leaderId: this.id, reason: "electionWon" });
    this.noteEvent({ kind: "leaderElected", ...this.position(), votes });
  }

  // --- Time -------------------------------------------------------------------------------

  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsed = 0;
      this.campaign(this.config.preVote ? "preElection" : "election");
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.tracker.tickSilence();
    if (this.electionElapsed >= this.config.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        if (!this.tracker.quorumActive()) {
          // Thesis §6.2: a leader cut off from a majority steps down, so clients go elsewhere.
          this.becomeFollower(this.term, null, "checkQuorum");
          return;
        }
        this.tracker.resetRecentActive(this.id);
      }
    }
    if (this.leadTransferee !== null &&
      ++this.transferElapsedTicks >= this.config.electionTimeoutTicks) {
      // A transfer that did not finish within an election timeout is abandoned (§3.10), and
      // proposals are accepted again.
      this.noteEvent({ kind: "transferAbandoned", ...this.position(), target: this.leadTransferee });
      this.leadTransferee = null;
    }
    this.departures.tick(this.config.electionTimeoutTicks);
    if (this.heartbeatElapsed >= this.config.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this, this.readOnly.lastReadId());
      // Removed nodes get no heartbeat (they have no Progress, and a heartbeat's commit is
      // bounded by a match we no longer track): an append that carries their removal's commit.
      for (const m of this.departures.appends(this.id, this.term, this.log, this.config)) {
        this.send(m);
      }
    }
    tickSnapshotTransfers(this);
  }

  // --- Elections --------------------------------------------------------------------------

  campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    if (kind === "preElection") this.becomePreCandidate();
    else this.becomeCandidate(kind === "transfer" ? "transfer" : "electionTimeout");
    this.noteEvent({ kind: "campaignStarted", ...this.position(),
      term: kind === "preElection" ? this.term + 1 : this.term, preVote: kind === "preElection",
      cause: kind === "transfer" ? "transfer" : "electionTimeout", lastLogTerm: this.log.lastTerm() });
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === "won") {
      // A single-voter cluster wins without asking anyone.
      if (kind === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of this.tracker.voterIds) {
      if (to === this.id) continue;
      if (kind === "preElection") {
        this.send({ type: "preVote", from: this.id, to, term: this.term + 1, lastLogIndex,
          lastLogTerm });
      } else {
        this.send({ type: "requestVote", from: this.id, to, term: this.term, lastLogIndex,
          lastLogTerm, transfer: kind === "transfer" });
      }
    }
  }

  private handleVoteRequest(m: PreVoteRequest | RequestVoteRequest): void {
    const responseType = m.type === "preVote" ? "preVoteResponse" : "requestVoteResponse";
    // A learner, or a node not in its own configuration, votes too (as etcd's raft does): it
    // may be a voter in the candidate's newer configuration without having applied that yet,
    // and refusing would leave a cluster that lost its leader unable to elect another (the
    // simulator found this: `npm run sim -- --core --membership --seed 1`). The candidate
    // counts only the votes of its configuration's voters, so a learner's vote weighs nothing.
    // §5.2: at most one vote per term, first come first served. A repeated request from the
    // candidate we voted for is granted again (its first answer may have been lost). A pre-vote
    // for a future term binds nothing and may be granted freely.
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leaderId === null) ||
      (m.type === "preVote" && m.term > this.term);
    // §5.4.1: grant only to a candidate whose log is at least as up-to-date as ours.
    const upToDate = this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const preVote = m.type === "preVote";
    if (canVote && upToDate) {
      // The answer carries the request's term so a pre-candidate counts it for its future term.
      this.send({ type: responseType, from: this.id, to: m.from, term: m.term, granted: true });
      if (m.type === "requestVote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      this.noteEvent({ kind: "voteGranted", ...this.position(), candidate: m.from, preVote,
        candidateTerm: m.term });
    } else {
      this.send({ type: responseType, from: this.id, to: m.from, term: this.term, granted: false });
      const ours = `(term ${this.log.lastTerm()}, index ${this.log.lastIndex()})`;
      const refusal: { reason: VoteRefusal; detail: string } = !canVote
        ? (this.vote !== null
          ? { reason: "alreadyVoted", detail: `voted for ${this.vote} in term ${this.term}` }
          : { reason: "leaderKnown", detail: `following ${this.leaderId} in term ${this.term}` })
        : { reason: "logBehind", detail: `candidate's log (term ${m.lastLogTerm}, index ` +
          `${m.lastLogIndex}) is behind ours ${ours}` };
      // A learner of the configuration in force or of a newer one in its log (not a node
      // outside them all: a removed node's configuration may be stale).
      const learnerHere = this.memberIds.has(this.id) && !this.votesSomewhere();
      if (m.type === "preVote" && this.config.preVote && refusal.reason === "logBehind" &&
        learnerHere) {
        this.learnerAskedToLead = true;
      }
      this.noteEvent({ kind: "voteRefused", ...this.position(), candidate: m.from, preVote,
        ...refusal });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === "preCandidate" ? "preVoteResponse" : "requestVoteResponse";
    if (m.type !== expected || !this.tracker.isVoter(m.from)) return;
    this.tracker.recordVote(m.from, m.granted);
    const { result, granted } = this.tracker.tallyVotes();
    this.noteEvent({ kind: "voteReceived", ...this.position(),
      term: this.role === "preCandidate" ? this.term + 1 : this.term, voter: m.from,
      preVote: this.role === "preCandidate", granted: m.granted,
      granting: granted, quorum: this.tracker.quorum() });
    if (result === "won") {
      if (this.role === "preCandidate") this.campaign("election");
      else this.becomeLeader();
    } else if (result === "lost") {
      // A learner that lost does not campaign again unless asked again.
      this.learnerAskedToLead = false;
      this.becomeFollower(this.term, null, "electionLost");
    }
  }

  // --- Messages ---------------------------------------------------------------------------

  step(m: RaftMessage): void {
    if (!this.acceptFrom(m)) return;
    if (!this.stepTerm(m)) return;
    if (m.term === this.forkedTerm && isFromLeader(m)) {
      this.reportViolation(m, "twoLeaders", `${m.from} leads term ${m.term}, which had two ` +
        "leaders: not followed");
      return;
    }
    switch (m.type) {
      case "preVote":
      case "requestVote":
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case "leader":
        stepLeader(this, m);
        return;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        return;
      case "follower":
        this.stepFollower(m);
        return;
      default:
        assertNever(this.role, "role");
    }
  }

  /**
   * Whether `m` may be handled at all: it is for us, from a member of our configuration, and
   * its values are possible on their own (peer-checks.ts). A message that fails is dropped
   * before its term is looked at, so it cannot depose a leader or move our term.
   */
  private acceptFrom(m: RaftMessage): boolean {
    if (m.to !== this.id) {
      // The transport's bug or a misdirected peer: either way, not a message for this node.
      this.reportViolation(m, "wrongRecipient", `to=${m.to}`);
      return false;
    }
    // A removed node that is heard from runs on: told again that its removal committed (its
    // vote requests, which knowsSender lets through for members it has not seen yet, too).
    if (!this.memberIds.has(m.from) && this.formerMembers.has(m.from)) this.departAgain(m);
    if (m.type === "readIndexResponse" && m.from !== this.id && !this.knowsSender(m)) {
      // A later term's answer to a read, from a node outside the configuration that this one
      // does not follow now: honest (a leader of a newer configuration, or one that moved on,
      // answers a read forwarded at an older term with no index, at its own term), but a
      // stranger's term must not move ours: a removed server must not disrupt (§4.2.3). The
      // read fails, so that its client retries. One with an index is no honest answer at all.
      const problem = laterTermReadIndexProblem(m, this.term);
      if (problem !== null) this.reportProblem(m, problem);
      this.droppedReads.push(m.context);
      return false;
    }
    if (m.from !== this.id && !this.knowsSender(m) && this.formerMembers.has(m.from)) {
      // A node removed from the configuration (or not yet added, as far as we know) that runs
      // on: its messages are honest but count nowhere. Dropped; its campaigns are noted. A
      // departing node's success only moves where its next notice starts (departures.ts).
      if (m.type === "appendResponse" && m.term === this.term && this.role === "leader") {
        if (m.success) this.departures.noteMatch(m.from, m.index, this.log.lastIndex());
        else this.departures.noteRefusal(m.from, m.index, m.hintIndex);
      }
      if (m.type === "preVote" || m.type === "requestVote") {
        this.noteEvent({ kind: "voteRefused", ...this.position(), candidate: m.from,
          preVote: m.type === "preVote", reason: "notMember",
          detail: `${m.from} is not in the configuration (${members(this.conf).join(", ")})` });
      }
      return false;
    }
    if (m.from === this.id || !this.knowsSender(m)) {
      this.reportViolation(m, "unknownSender", `members=${members(this.conf).join(",")}`);
      return false;
    }
    const problem = messageProblem(m) ??
      (m.type === "readIndexResponse" ? laterTermReadIndexProblem(m, this.term) : null) ??
      (m.term - this.term > termJumpMax
        ? { reason: "valueOutOfRange" as const, detail: `term=${m.term} jumps more than ` +
          `${termJumpMax} past ours (${this.term})` } : null);
    if (problem === null) return true;
    this.reportProblem(m, problem);
    // A forwarded read whose answer is unusable: fail it now, so its client retries.
    if (m.type === "readIndexResponse") this.droppedReads.push(m.context);
    return false;
  }

  /**
   * Figure 2, "all servers": a higher term makes us a follower; a lower term is stale. Returns
   * false when the message needs no further handling.
   */
  private stepTerm(m: RaftMessage): boolean {
    if (m.term > this.term) {
      if (m.type === "preVote" || m.type === "requestVote") {
        const force = m.type === "requestVote" && m.transfer;
        // Thesis §4.2.3 (CheckQuorum) and §9.6 (PreVote): while a leader is being heard from,
        // ignore candidates that would depose it; a partitioned server that rejoins must not
        // disrupt a healthy cluster.
        const leaseApplies = this.config.checkQuorum || (this.config.preVote && m.type === "preVote");
        const inLease = leaseApplies && this.leaderId !== null &&
          this.electionElapsed < this.config.electionTimeoutTicks;
        if (inLease && !force) {
          this.noteEvent({ kind: "voteRefused", ...this.position(), candidate: m.from,
            preVote: m.type === "preVote", reason: "leaderAlive", detail: `heard from leader ` +
            `${this.leaderId} ${this.electionElapsed} ticks ago (election timeout ` +
            `${this.config.electionTimeoutTicks}): request for term ${m.term} ignored` });
          return false;
        }
      }
      if (m.type === "preVote" || (m.type === "preVoteResponse" && m.granted)) {
        // A pre-vote and its grant carry a future term: they change no one's term.
      } else if (isFromLeader(m)) {
        this.becomeFollower(m.term, m.from, "higherTerm");
      } else {
        this.becomeFollower(m.term, null, "higherTerm");
      }
      return true;
    }
    if (m.term < this.term) {
      if (m.type === "preVote" || m.type === "requestVote") {
        this.noteEvent({ kind: "voteRefused", ...this.position(), candidate: m.from,
          preVote: m.type === "preVote", reason: "termStale",
          detail: `request for term ${m.term}, ours is ${this.term}` });
      }
      if ((this.config.checkQuorum || this.config.preVote) && isFromLeader(m)) {
        // A stale leader, or one that cannot learn our higher term any other way while we
        // ignore its votes: answer so it steps down (etcd raft.go, "stale term" note).
        this.send({ type: "appendResponse", from: this.id, to: m.from, term: this.term,
          success: false, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResponse", from: this.id, to: m.from, term: this.term,
          granted: false });
      } else if (m.type === "readIndex") {
        // A follower behind our term forwarded a read: tell it to retry, do not leave it waiting.
        this.send({ type: "readIndexResponse", from: this.id, to: m.from, term: this.term,
          context: m.context, index: null });
      } else if (m.type === "readIndexResponse") {
        this.droppedReads.push(m.context);
      }
      // A stale "propose" is dropped: its follower's client times out and retries.
      return false;
    }
    return true;
  }

  private stepCandidate(m: RaftMessage): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // §5.2: a leader of our term exists; a (pre-)candidate returns to follower.
        this.becomeFollower(m.term, m.from, "leaderOfTerm");
        this.stepFollower(m);
        return;
      case "preVoteResponse":
      case "requestVoteResponse":
        this.handleVoteResponse(m);
        return;
      default:
        this.stepNonLeaderCommon(m);
    }
  }

  /** Public for leader.ts: a leader that meets a rival of its term steps down to follow it. */
  stepFollower(m: RaftMessage): void {
    switch (m.type) {
      case "append":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.learnerAskedToLead = false;
        this.handleAppendEntries(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.learnerAskedToLead = false;
        this.handleHeartbeat(m);
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.learnerAskedToLead = false;
        this.handleSnapshot(m);
        return;
      case "timeoutNow":
        if (this.leaderId !== null && this.leaderId !== m.from) {
          // Only our leader can hand over leadership; anyone else would just force an election.
          this.reportViolation(m, "timeoutNowNotFromLeader", `leader=${this.leaderId}`);
          return;
        }
        // Thesis §3.10: the leader has brought us up to date; start an election at once,
        // without PreVote, and with a vote request that voters honour despite their lease.
        this.campaign("transfer");
        return;
      default:
        this.stepNonLeaderCommon(m);
    }
  }

  private stepNonLeaderCommon(m: RaftMessage): void {
    if (m.type === "readIndex") {
      // Forwarded to a node that is no longer the leader: tell the follower to retry.
      this.send({ type: "readIndexResponse", from: this.id, to: m.from, term: this.term,
        context: m.context, index: null });
    } else if (m.type === "readIndexResponse") {
      if (m.index === null) this.droppedReads.push(m.context);
      else this.readStates.push({ context: m.context, index: m.index });
    }
    // Anything else is a stale answer for a role we no longer hold, or proposals forwarded to
    // a node that no longer leads: dropped, their clients time out and retry.
  }

  private handleAppendEntries(m: AppendEntriesRequest): void {
    const conflict = appendConflictProblem(this.log, m);
    if (conflict !== null) {
      // Refused without an answer: neither a rejection (the leader would walk back into our
      // committed prefix) nor an acknowledgement can be true of a log that forked below commit.
      this.reportProblem(m, conflict);
      return;
    }
    if (m.prevLogIndex < this.log.committed) {
      // Everything up to our commit index is already settled; say where to continue.
      this.sendAppendResponse(m, true, this.log.committed, 0, 0);
      return;
    }
    if (this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      // Contiguity was checked on arrival (peer-checks.ts), and so every entry lies past our
      // commit: appendFromLeader never truncates a committed entry.
      const lastNewIndex = m.prevLogIndex + m.entries.length;
      const lastIndexBefore = this.log.lastIndex();
      const conflict = this.log.appendFromLeader(m.entries);
      if (conflict !== 0) this.notePendingConfEntries(conflict, m.entries);
      if (conflict !== 0 && conflict <= lastIndexBefore) {
        this.noteEvent({ kind: "logTruncated", ...this.position(), fromIndex: conflict,
          count: lastIndexBefore - conflict + 1, leaderId: m.from });
      }
      // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
      this.log.commitTo(Math.min(m.leaderCommit, lastNewIndex));
      if (this.incomingSnapshot !== null && this.log.committed >= this.incomingSnapshot.meta.index) {
        // Caught up through the log after all: the partial snapshot is no longer needed.
        this.incomingSnapshot = null;
      }
      // News of a commit is answered only when refused (AppendEntriesRequest.commitOnly).
      if (m.commitOnly === true) return;
      this.sendAppendResponse(m, true, lastNewIndex, 0, 0);
      return;
    }
    // §5.3 optimisation: point the leader at the last entry that may match, one term per trip.
    const hint = this.log.findConflictByTerm(
      Math.min(m.prevLogIndex, this.log.lastIndex()), m.prevLogTerm);
    this.sendAppendResponse(m, false, m.prevLogIndex, hint.index, hint.term);
  }

  /**
   * The answer to append `m`, as one object literal: spreading a shared reply object into each
   * answer went through V8's generic object clone, 3% of a simulated seed's time.
   */
  private sendAppendResponse(m: AppendEntriesRequest, success: boolean, index: number,
    hintIndex: number, hintTerm: number): void {
    this.send({ type: "appendResponse", from: this.id, to: m.from, term: this.term, success,
      index, hintIndex, hintTerm });
  }

  /**
   * §7 InstallSnapshot, in chunks. The chunks are assembled apart from the current log and
   * state; only a complete snapshot replaces them, so a transfer cut short leaves the node as it
   * was. The answer always names the offset wanted next, so a lost or repeated chunk costs one
   * round trip, not a restart.
   */
  private handleSnapshot(m: InstallSnapshotRequest): void {
    const reply = (nextOffset: number, installed: boolean): void => {
      this.send({ type: "snapshotResponse", from: this.id, to: m.from, term: this.term,
        snapshotIndex: m.meta.index, offset: m.offset, nextOffset, installed });
    };
    const conflict = snapshotConflictProblem(this.log, m);
    if (conflict !== null) {
      this.reportProblem(m, conflict);
      return;
    }
    if (m.meta.index <= this.log.committed) {
      // We already hold everything it covers.
      this.incomingSnapshot = null;
      reply(0, true);
      return;
    }
    let incoming = this.incomingSnapshot;
    if (incoming === null || incoming.from !== m.from || incoming.meta.index !== m.meta.index ||
      incoming.meta.term !== m.meta.term) {
      if (m.offset !== 0) {
        reply(0, false);
        return;
      }
      const receiver = this.config.snapshotReceiver?.(m.meta) ??
        new MemorySnapshotReceiver(m.meta, this.config.snapshotProblem);
      incoming = { from: m.from, meta: m.meta, receiver, bytes: 0 };
      this.incomingSnapshot = incoming;
    }
    if (m.offset !== incoming.bytes) {
      reply(incoming.bytes, false);
      return;
    }
    let problem = incoming.receiver.append(m.data);
    if (problem === null) {
      incoming.bytes += m.data.length;
      if (!m.done) {
        reply(incoming.bytes, false);
        return;
      }
      problem = incoming.receiver.finish();
    }
    this.incomingSnapshot = null;
    if (problem !== null) {
      // Not installed, and not answered: the leader's chunk timer resends, and the transfer
      // starts over at the pace of an election timeout, not of the network.
      this.reportViolation(m, "snapshotInvalid", `the state machine refused it: ${problem}`);
      return;
    }
    this.installSnapshot({ meta: m.meta, data: incoming.receiver.data() });
    this.noteEvent({ kind: "snapshotReceived", ...this.position(), from: m.from,
      snapshotIndex: m.meta.index, bytes: incoming.bytes });
    reply(incoming.bytes, true);
  }

  private installSnapshot(snapshot: Snapshot): void {
    const { meta } = snapshot;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // Figure 13, step 6: our log already holds the snapshot's last entry; keep what follows
      // and let the entries be applied as usual.
      this.log.commitTo(meta.index);
      return;
    }
    this.log.restore(meta);
    // The snapshot carries the configuration as of its index (checked on arrival); the log
    // after it starts empty.
    this.pendingConfEntries = [];
    this.handedIndex = Math.max(this.handedIndex, meta.index);
    this.setConf(confOfMeta(meta)!);
    this.snapshot = snapshot;
    this.pendingInstall = snapshot;
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends min(our matchIndex, its commit), so we hold every entry it commits.
    if (m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
    } else {
      // The leader's matchIndex for us is past our log: we lost entries we acknowledged (a
      // lost disk), or the leader is wrong. Committing up to our last index instead would be
      // unsafe: a heartbeat carries no prevLogIndex/prevLogTerm, so nothing shows that our
      // entries there are the leader's (§5.3: only an append's consistency check does). The
      // commit waits for an append; the answer still goes out, as we do follow this leader.
      this.reportViolation(m, "commitBeyondLog",
        `commit=${m.commit} lastIndex=${this.log.lastIndex()}`);
    }
    this.send({ type: "heartbeatResponse", from: this.id, to: m.from, term: this.term,
      readId: m.readId });
  }

  /** Sends the leader's deferred batch; RaftNode calls it at each ready(). */
  flush(): void {
    if (this.role === "leader") flushLeader(this);
  }
}

/** Messages only a leader sends: receiving one names its sender leader of its term. */
function isFromLeader(m: RaftMessage): boolean {
  return m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
}
