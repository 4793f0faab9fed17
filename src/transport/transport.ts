import type { NodeId, RaftMessage } from "../raft/index.js";

/**
 * The peer-messaging seam (hashicorp/raft's Transport). Raft tolerates loss, duplication and
 * reordering, so sending is fire-and-forget: a message may be dropped (a full queue, a peer
 * down, a timeout) and the protocol retries. An implementation batches: every message for one
 * peer queued in one turn of the event loop goes out in one request (DESIGN.md §1).
 */
export interface Transport {
  /** Queues `messages` for their `to` peers. Never throws for a peer that is down. */
  send(messages: readonly RaftMessage[]): void;
  /**
   * Sends what is queued now instead of at the end of this turn of the event loop. The driver
   * calls it for a leader's appends, which go out before its own fsync: under load the rest of
   * the turn reads and handles many client requests, and the followers' writes should not wait
   * for them. Optional: a transport without it sends at its own pace.
   */
  flushNow?(): void;
  /** Registers the one handler for messages that arrive from peers, in arrival order. */
  onReceive(handler: (messages: readonly RaftMessage[]) => void): void;
  /** Starts listening. */
  start(): Promise<void>;
  /** Stops listening and drops anything queued. */
  close(): Promise<void>;
}

/** Where a peer listens for raft messages. */
export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly peerPort: number;
}
