import type { ConfState } from "./conf-state.js";
import type { NodeId, Role } from "./messages.js";

/**
 * What the core did that an operator wants to see (issue 12): elections, votes and why they were
 * refused, role changes and why, leadership transfers, snapshots, and divergent entries thrown
 * away. The core records them in Ready.events, and the driver logs each as one structured line
 * and keeps the recent ones in a ring (etcd's raft logs the same moments: "became pre-candidate
 * at term 5", "rejected MsgVote from 2 ... at term 5").
 *
 * Every event carries the term and the node's last log index when it happened (`term`,
 * `index`); the driver adds the node id. Events never change behaviour: they are a record.
 */
export type RaftEvent =
  /** An election timeout (or a transfer) made this node campaign. */
  | { readonly kind: "campaignStarted"; readonly term: number; readonly index: number;
      readonly preVote: boolean; readonly cause: "electionTimeout" | "transfer";
      readonly lastLogTerm: number }
  | { readonly kind: "voteGranted"; readonly term: number; readonly index: number;
      readonly candidate: NodeId; readonly preVote: boolean;
      /** The term campaigned for (a pre-vote's is past this node's `term`). */
      readonly candidateTerm: number }
  | { readonly kind: "voteRefused"; readonly term: number; readonly index: number;
      readonly candidate: NodeId; readonly preVote: boolean; readonly reason: VoteRefusal;
      /** The particulars, for the log: whose log, which vote, which lease. */
      readonly detail: string }
  /** A vote answer this (pre-)candidate counted. */
  | { readonly kind: "voteReceived"; readonly term: number; readonly index: number;
      readonly voter: NodeId; readonly preVote: boolean; readonly granted: boolean;
      readonly granting: number; readonly quorum: number }
  | { readonly kind: "roleChanged"; readonly term: number; readonly index: number;
      readonly from: Role; readonly to: Role; readonly leaderId: NodeId | null;
      readonly reason: RoleChangeReason }
  | { readonly kind: "leaderElected"; readonly term: number; readonly index: number;
      readonly votes: readonly NodeId[] }
  | { readonly kind: "transferStarted"; readonly term: number; readonly index: number;
      readonly target: NodeId }
  | { readonly kind: "transferAbandoned"; readonly term: number; readonly index: number;
      readonly target: NodeId }
  | { readonly kind: "snapshotSent"; readonly term: number; readonly index: number;
      readonly to: NodeId; readonly snapshotIndex: number; readonly bytes: number }
  | { readonly kind: "snapshotReceived"; readonly term: number; readonly index: number;
      readonly from: NodeId; readonly snapshotIndex: number; readonly bytes: number }
  /** Entries of an earlier leader this node held past the point where its log and the
   * leader's agree: never committed, replaced by the leader's (Figure 2, AppendEntries 3). */
  | { readonly kind: "logTruncated"; readonly term: number; readonly index: number;
      readonly fromIndex: number; readonly count: number; readonly leaderId: NodeId }
  /** The configuration change of entry `entryIndex` took effect here (it was committed and
   * handed to the driver to apply). */
  | { readonly kind: "confChanged"; readonly term: number; readonly index: number;
      readonly entryIndex: number; readonly previous: ConfState; readonly conf: ConfState;
      readonly joint: boolean }
  /** A committed configuration entry that cannot apply (undecodable, or invalid against the
   * configuration in force): skipped by every node alike. No correct leader appends one. */
  | { readonly kind: "confChangeSkipped"; readonly term: number; readonly index: number;
      readonly entryIndex: number; readonly problem: string };

export type RaftEventKind = RaftEvent["kind"];

/** Why a vote (or pre-vote) was refused. */
export type VoteRefusal =
  /** The candidate's log is behind ours (§5.4.1). */
  | "logBehind"
  /** We voted for someone else in this term (§5.2). */
  | "alreadyVoted"
  /** We follow a leader of this term. */
  | "leaderKnown"
  /** We heard from a leader within the election timeout: the request is ignored, unanswered
   * (thesis §4.2.3 with CheckQuorum, §9.6 PreVote). */
  | "leaderAlive"
  /** The request's term is behind ours. */
  | "termStale"
  /** The candidate is no member of this node's configuration (removed, or not yet added). */
  | "notMember";

export type RoleChangeReason =
  /** A message of a higher term (§5.1). */
  | "higherTerm"
  /** An election timeout: campaigning. */
  | "electionTimeout"
  /** A leader asked this node to take over (timeoutNow, §3.10). */
  | "transfer"
  /** The votes came in. */
  | "electionWon"
  /** A majority refused. */
  | "electionLost"
  /** A (pre-)candidate heard from a leader of its term. */
  | "leaderOfTerm"
  /** A leader that has not heard from a majority within an election timeout (thesis §6.2). */
  | "checkQuorum"
  /** A configuration change that removed this leader took effect (dissertation §4.2.2). */
  | "removed"
  /** A leader that is no voter of the configuration in force (a learner that campaigned)
   * handed over once its first entry committed (Raft.promotable). */
  | "notVoter";

/** At most this many events are kept between two Readies; past it they are counted instead,
 * so that a storm of vote requests cannot grow the core's memory. */
export const eventsPerReadyMax = 64;
