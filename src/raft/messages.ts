/**
 * The core's vocabulary: log entries, persistent state, and the messages peers exchange.
 * Messages are plain JSON-serializable objects so the HTTP transport can send them as they are.
 * Field names follow the Raft paper's Figure 2 where there is one.
 */

export type NodeId = string;

/** What a node id may be, wherever one is given (the cluster file, member add, --join): 1-32
 * letters, digits, _ or -. */
export const nodeIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/** A node's role. "preCandidate" is the PreVote phase (Ongaro thesis §9.6). */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

export type EntryKind = "normal" | "config";

/**
 * One log entry. `index` is its 1-based position in the log, `term` the leader's term when it was
 * created. `data` is opaque to the core; an empty string is the no-op a new leader appends.
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: string;
}

/** State that must be on stable storage before any message that depends on it is sent (§5.1). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** The point where the log starts: everything at or below `index` lives in a snapshot. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The voting members as of `index` (conf-state.ts: the incoming side while joint). */
  readonly voters: readonly NodeId[];
  /** The learners as of `index`; absent (none) in snapshots from before learners existed. */
  readonly learners?: readonly NodeId[];
  /** While a joint configuration is in force at `index`: the voters being left. */
  readonly votersOutgoing?: readonly NodeId[];
  /**
   * The members that had published themselves as of `index` (src/node/members.ts), sorted by
   * id. Opaque to the core, which only carries it; absent in snapshots from before it existed.
   */
  readonly members?: readonly MemberRecord[];
  /**
   * Where each member listens, as of `index` (src/node/member-addresses.ts), sorted by id,
   * removed members included. Opaque to the core, which only carries it; absent in snapshots
   * from before it existed.
   */
  readonly addresses?: readonly MemberAddress[];
}

/** Where a member listens; `removedAtIndex` once a change removed it (its id stays used). */
export interface MemberAddress {
  readonly id: NodeId;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly removedAtIndex?: number;
}

/** A node that has run in the cluster: its id, the incarnation that ran, and the index of
 * the entry that published it. */
export interface MemberRecord {
  readonly id: NodeId;
  readonly incarnation: string;
  readonly index: number;
}

/**
 * A snapshot's bytes as the core sees them: a length and slices by UTF-16 offset, which is all
 * a transfer needs. A string is one; a driver may hand a chunked one (ChunkedSnapshotData) or
 * one that reads a file, so that no single string must hold a state of hundreds of megabytes.
 */
export interface SnapshotData {
  readonly length: number;
  /** The units [start, end), 0 <= start <= end <= length. */
  slice(start: number, end: number): string;
}

/** A snapshot: the state machine's bytes as of `meta.index`, opaque to the core. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: SnapshotData;
}

/**
 * A snapshot's metadata without its bytes: the driver keeps the bytes (in its database, say)
 * and hands them over only when a follower needs them (RaftNode.offerSnapshot).
 */
export interface SnapshotMetaOnly {
  readonly meta: SnapshotMeta;
  readonly data?: undefined;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for a PreVote request, the term the sender would campaign in. */
  readonly term: number;
}

/** PreVote (thesis §9.6): "would you vote for me?" without disturbing anyone's term. */
export interface PreVoteRequest extends MessageBase {
  readonly type: "preVote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

export interface RequestVoteRequest extends MessageBase {
  readonly type: "requestVote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when the election follows TimeoutNow: voters then ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: "preVoteResponse" | "requestVoteResponse";
  readonly granted: boolean;
}

export interface AppendEntriesRequest extends MessageBase {
  readonly type: "append";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
  /**
   * Set (never false) on an append without entries that only brings news of a commit to a
   * follower in replicate state, whose entries went out before it. Only a refusal is answered:
   * a success would tell the leader that the follower holds prevLogIndex, which the answers to
   * those entries tell it anyway, and cost a message per follower on every write at one
   * client. A probe, or any append the leader needs an answer to, never carries it. (An older
   * node refuses it, with its whole batch: every node runs the same version.)
   */
  readonly commitOnly?: true;
}

export interface AppendEntriesResponse extends MessageBase {
  readonly type: "appendResponse";
  readonly success: boolean;
  /** On success: the highest index known to match the leader's log. On rejection: the
   * prevLogIndex that was rejected. */
  readonly index: number;
  /** On rejection, a hint for fast log repair: the follower's last index at or below the rejected
   * prevLogIndex whose term is at most the leader's prevLogTerm, and that entry's term. */
  readonly hintIndex: number;
  readonly hintTerm: number;
}

export interface HeartbeatRequest extends MessageBase {
  readonly type: "heartbeat";
  /** min(follower's matchIndex, leader's commitIndex): never past what the follower holds. */
  readonly commit: number;
  /** The ReadIndex round this heartbeat confirms, if any. */
  readonly readId: number | null;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: "heartbeatResponse";
  readonly readId: number | null;
}

/** Leadership transfer (thesis §3.10): the target starts an election at once. */
export interface TimeoutNowRequest extends MessageBase {
  readonly type: "timeoutNow";
}

/** A follower forwards a linearizable read to the leader. */
export interface ReadIndexRequest extends MessageBase {
  readonly type: "readIndex";
  readonly context: string;
}

export interface ReadIndexResponse extends MessageBase {
  readonly type: "readIndexResponse";
  readonly context: string;
  /** The commit index the read must wait for; null when the leader could not serve it. */
  readonly index: number | null;
}

/**
 * A follower forwards client proposals to the leader (thesis §6.2: clients may contact any
 * server; etcd's MsgProp). The leader appends them as its own proposals of its term. Nothing is
 * answered: the follower learns the outcome when it applies the entry, or its client times out
 * and retries (a requestId keeps that exactly-once). A node that is not the leader, or a leader
 * that is transferring leadership or over its uncommitted bound, drops them.
 */
export interface ProposeRequest extends MessageBase {
  readonly type: "propose";
  readonly data: readonly string[];
}

/**
 * InstallSnapshot (§7), one chunk at a time: `data` holds bytes [offset, offset + length) of
 * the snapshot. The receiver assembles the chunks beside its current state and installs the
 * whole only when `done`; a lost chunk is resent from the offset the receiver asks for.
 */
export interface InstallSnapshotRequest extends MessageBase {
  readonly type: "snapshot";
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: string;
  readonly done: boolean;
}

export interface InstallSnapshotResponse extends MessageBase {
  readonly type: "snapshotResponse";
  /** The snapshot this answers, so that answers about an older snapshot are ignored. */
  readonly snapshotIndex: number;
  /** The offset of the chunk this answers: the leader acts only on the answer to the chunk it
   * has outstanding, so duplicated chunks and answers never multiply. */
  readonly offset: number;
  /** The offset the receiver expects next. */
  readonly nextOffset: number;
  /** The receiver holds everything up to snapshotIndex: installed, or already had it. */
  readonly installed: boolean;
}

export type RaftMessage =
  | PreVoteRequest
  | RequestVoteRequest
  | VoteResponse
  | AppendEntriesRequest
  | AppendEntriesResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | TimeoutNowRequest
  | ReadIndexRequest
  | ReadIndexResponse
  | ProposeRequest
  | InstallSnapshotRequest
  | InstallSnapshotResponse;

export type MessageType = RaftMessage["type"];

/** A linearizable read that may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

/** Bytes an entry costs in a message, for the byte bounds on batches and in-flight windows. */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.length + 32;
}
