import type { RaftConfig } from "./config.js";
import type { RaftEvent, RoleChangeReason } from "./events.js";
import type { RaftLog } from "./log.js";
import type { NodeId, RaftMessage, ReadState, Role, Snapshot } from "./messages.js";
import type { ReadOnly } from "./read-only.js";
import type { ProgressTracker } from "./tracker.js";
import type { ViolationReason } from "./violation.js";

/**
 * What the leader's modules use of the tracker: each member's Progress (whose own methods move
 * it) and the quorum arithmetic; not the quorums' configuration, the votes, nor who is tracked,
 * which Raft alone changes.
 */
export type LeaderTracker = Pick<ProgressTracker, "get" | "ids" | "entries" | "values" |
  "committedIndex" | "isQuorum" | "isVoter" | "voterCount">;

/**
 * What the leader's half of the protocol (leader.ts) and the snapshot supply
 * (snapshot-supply.ts) read and change of a node's Raft state: every member they touch, and
 * nothing else. Raft implements it (raft.ts), and these modules see a Raft only through it, so
 * that they do not import raft.ts, which imports them. It is also the list of Raft's fields
 * that are public for their sake; the quorums and each member's Progress are behind
 * ProgressTracker's methods (tracker.ts), as in etcd, of which these modules get the readers
 * only (LeaderTracker); the documentation of each is on Raft. `readonly` here means that these
 * modules do not reassign it, not that it is constant: Raft does (becomeFollower changes term
 * and role).
 */
export interface LeaderHost {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly log: RaftLog;
  readonly term: number;
  readonly role: Role;
  readonly tracker: LeaderTracker;
  readonly leadTransferee: NodeId | null;
  forkedTerm: number | null;
  readonly readOnly: ReadOnly;
  readsBeforeCommit: { context: string; from: NodeId }[];
  lastReadId: number;
  proposalsUnsent: boolean;
  commitUnsent: boolean;
  readRoundUnsent: boolean;
  snapshot: Snapshot | null;
  snapshotKept: boolean;
  readonly readStates: ReadState[];
  readonly droppedReads: string[];

  send(message: RaftMessage): void;
  reportViolation(m: RaftMessage, reason: ViolationReason, detail: string): void;
  noteEvent(event: RaftEvent): void;
  votesSomewhere(): boolean;
  position(): { term: number; index: number };
  becomeFollower(term: number, leaderId: NodeId | null, reason: RoleChangeReason | null): void;
}
