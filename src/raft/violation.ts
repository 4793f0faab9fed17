import type { MessageType, NodeId } from "./messages.js";

/**
 * Protocol violations: messages no correct peer can send. The core does not trust its peers'
 * values (indexes, terms, offsets): a peer may have lost its disk, been restored from an old
 * backup, run a buggy version, or be hostile. Such input is never an InvariantError (those are
 * for our own bugs, assert.ts): the core drops the message or its impossible part, records a
 * ProtocolViolation for the driver to log and count (Ready.violations), and keeps running.
 *
 * The reasons are a small fixed set so that a metric labelled by reason stays bounded; the
 * free-text particulars go in `detail`, for the log only.
 */
export const violationReasons = [
  /** `to` names another node: the transport delivered someone else's message. */
  "wrongRecipient",
  /** `from` is not a voter of our configuration, or is this node itself. */
  "unknownSender",
  /** A term, index, offset or id that is negative or not a safe integer. */
  "valueOutOfRange",
  /** A vote request whose last log term is past the term it campaigns in. */
  "voteRequestInvalid",
  /** An append whose entries are not contiguous after prevLogIndex, or whose terms decrease
   * or exceed the sender's term. */
  "entriesMalformed",
  /** An append that contradicts an entry we hold as committed (Leader Completeness, §5.4). */
  "conflictBelowCommit",
  /** A heartbeat telling us to commit past the end of our log. */
  "commitBeyondLog",
  /** An append or snapshot from another leader of the leader's own term (Election Safety). */
  "twoLeaders",
  /** An acknowledgement of an index past the leader's last index. */
  "ackBeyondLog",
  /** A rejection naming an index the leader never sent, or a hint past the rejected index. */
  "rejectInvalid",
  /** A snapshot chunk with impossible metadata. */
  "snapshotInvalid",
  /** A snapshot answer asking for an offset outside the snapshot. */
  "snapshotResponseInvalid",
  /** A heartbeat answer confirming a ReadIndex round the leader never started. */
  "readIdUnknown",
  /** A ReadIndex answer with an impossible index, or an index at a term after ours. */
  "readIndexInvalid",
  /** TimeoutNow from a node other than the leader we follow. */
  "timeoutNowNotFromLeader",
] as const;

export type ViolationReason = (typeof violationReasons)[number];

export interface ProtocolViolation {
  /** The sender as the message names it (possibly a node outside the configuration). */
  readonly from: NodeId;
  readonly type: MessageType;
  readonly reason: ViolationReason;
  /** The values that made it impossible, for the log. */
  readonly detail: string;
}

/**
 * The most a message's term may exceed ours. Honest terms grow by one per election: even a
 * node cut off for years without PreVote stays far below this. A larger jump is a peer driving
 * terms toward the largest safe integer, where term + 1 stops being exact and every later vote
 * request would be refused: one such message would stop the cluster's elections for good.
 */
export const termJumpMax = 2 ** 32;

/** At most this many violations are kept between two Readies; the rest are dropped, so a
 * flood of bad messages cannot grow the core's memory (the driver rate-limits its log too). */
export const violationsPerReadyMax = 64;

/** A log index, term or byte offset: a non-negative safe integer. */
export function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
