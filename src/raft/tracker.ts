import { JointConfig, type ConfState } from "./conf-state.js";
import type { NodeId } from "./messages.js";
import { Progress } from "./progress.js";

/** The bounds every Progress is made with (RaftConfig's). */
export interface TrackerLimits {
  readonly inflightAppendsMax: number;
  readonly inflightBytesMax: number;
  /**
   * A member not heard from yet counts as silent for this long (Progress.ticksSinceActive:
   * promotions, the reachability a configuration change asks, snapshot transfers).
   */
  readonly electionTimeoutTicks: number;
}

/**
 * What a node counts in quorums, as etcd's tracker.ProgressTracker: the voters (both majorities
 * while joint; learners never count), the votes of a campaign, and, on a leader, one Progress
 * per member (voters and learners, itself included). Raft, RaftNode, leader.ts and
 * snapshot-supply.ts read and change them through these methods only (the last two through
 * LeaderTracker, its readers), so that the quorum arithmetic over matches, activity and votes
 * lives in one place.
 *
 * The quorums follow the newest configuration in the node's log, committed or not (the
 * dissertation's rule, §4.1): Raft.refreshQuorums sets them whenever that changes.
 */
export class ProgressTracker {
  private quorums: JointConfig;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  constructor(conf: ConfState, private readonly limits: TrackerLimits) {
    this.quorums = new JointConfig(conf);
  }

  // --- The quorums ------------------------------------------------------------------------

  /** The configuration the quorums are counted in. */
  get quorumConf(): ConfState {
    return this.quorums.conf;
  }

  setQuorumConf(conf: ConfState): void {
    this.quorums = new JointConfig(conf);
  }

  /** The voters of every majority, sorted, each once. */
  get voterIds(): readonly NodeId[] {
    return this.quorums.voters;
  }

  isVoter(id: NodeId): boolean {
    return this.quorums.has(id);
  }

  voterCount(): number {
    return this.quorums.size();
  }

  /**
   * The incoming configuration's majority (what the voteReceived event reports); while joint,
   * winning also takes the outgoing one's (tallyVotes).
   */
  quorum(): number {
    return this.quorums.quorum();
  }

  // --- Progress (leader) ------------------------------------------------------------------

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  has(id: NodeId): boolean {
    return this.progress.has(id);
  }

  /** The members tracked, in the order they were added. */
  ids(): IterableIterator<NodeId> {
    return this.progress.keys();
  }

  entries(): IterableIterator<[NodeId, Progress]> {
    return this.progress.entries();
  }

  values(): IterableIterator<Progress> {
    return this.progress.values();
  }

  /**
   * Tracks `id` from `next`. `heard`: whether it counts as recently heard from; a member not
   * heard yet (a learner at election, a member a change adds) must answer before it counts as
   * caught up for a promotion (RaftNode.proposeConfChange's learnerBehind).
   */
  add(id: NodeId, next: number, heard: boolean): Progress {
    const progress = new Progress(next, this.limits.inflightAppendsMax,
      this.limits.inflightBytesMax);
    if (!heard) progress.ticksSinceActive = this.limits.electionTimeoutTicks;
    this.progress.set(id, progress);
    return progress;
  }

  /** Stops tracking `id`; its Progress as it was, if it had one. */
  remove(id: NodeId): Progress | undefined {
    const progress = this.progress.get(id);
    this.progress.delete(id);
    return progress;
  }

  /** Forgets every Progress (a node that stops leading). */
  clearProgress(): void {
    this.progress.clear();
  }

  /**
   * The highest index a quorum of the voters has (Figure 2's commit rule, before its check of
   * the entry's term).
   */
  committedIndex(): number {
    return this.quorums.committedIndex((id) => this.progress.get(id)?.match ?? 0);
  }

  /** One tick of the leader's clock for every member's silence. */
  tickSilence(): void {
    for (const progress of this.progress.values()) progress.ticksSinceActive++;
  }

  /** Whether `ids` hold a quorum of the voters (a ReadIndex round's acknowledgements, §6.4). */
  isQuorum(ids: ReadonlySet<NodeId>): boolean {
    return this.quorums.hasQuorum((id) => ids.has(id));
  }

  /** Whether a quorum was active since the last reset (CheckQuorum, thesis §6.2). */
  quorumActive(): boolean {
    return this.quorums.hasQuorum((id) => this.progress.get(id)?.recentActive === true);
  }

  /** Starts a new CheckQuorum round: only `self` counts as active. */
  resetRecentActive(self: NodeId): void {
    for (const [id, progress] of this.progress) progress.recentActive = id === self;
  }

  // --- Votes (candidate) ------------------------------------------------------------------

  resetVotes(): void {
    this.votes.clear();
  }

  /**
   * Records `id`'s answer (a later one replaces it). Any node's is kept, this node's own as a
   * non-voter included; only the voters' decide tallyVotes' result.
   */
  recordVote(id: NodeId, granted: boolean): void {
    this.votes.set(id, granted);
  }

  /**
   * Whether the campaign is won, lost or still open (over the voters of both majorities while
   * joint), and how many of the recorded answers granted (any node's: the event's count).
   */
  tallyVotes(): { result: "won" | "lost" | "pending"; granted: number } {
    const granted = [...this.votes.values()].filter((each) => each).length;
    return { result: this.quorums.voteResult(this.votes), granted };
  }

  /** The nodes whose recorded answer granted, sorted (a non-voter's own vote included). */
  grantedIds(): NodeId[] {
    return [...this.votes].filter(([, granted]) => granted).map(([id]) => id).sort();
  }
}
