import type { MarketRequest, MarketResult, MarketStateMachine } from "../market/index.js";
import type { NodeId } from "../raft/index.js";
import type { NodeStatus } from "../wire/node-status.js";
import type { RaftEventPage } from "../wire/raft-events.js";
import type { LogTail } from "./log-tail.js";

// A type of the wire (src/wire/), shared with the client.
export type { NodeStatus } from "../wire/node-status.js";

/**
 * What the client API (src/api/) needs from a running node. RaftServer implements it; API
 * tests may use a fake. Every method answers with a value, never by throwing, for outcomes a
 * client must handle (STYLE.md §4).
 */
export interface NodeService {
  readonly id: NodeId;

  /**
   * Proposes a write and waits until it is committed and applied here. Only the leader
   * accepts writes; a follower answers notLeader and the API forwards the request.
   */
  submit(request: MarketRequest): Promise<SubmitOutcome>;

  /**
   * A linearizable read point (ReadIndex, thesis §6.4): resolves once this node has applied
   * every write acknowledged before the call. Works on followers too (the leader confirms).
   */
  readBarrier(): Promise<ReadBarrierOutcome>;

  /**
   * The local state machine, for queries. Read-only: never apply through it. A query may throw
   * StateStoreError when the stored state does not read back (a failed checksum): the caller
   * then reports it through storageFailed and answers that this node cannot serve.
   */
  market(): MarketStateMachine;

  /**
   * A query found this node's stored state unreadable. The node stops, as it does when its own
   * loop meets damaged storage: a node must not go on serving, or voting, from a disk that lies.
   */
  storageFailed(error: Error): void;

  status(): NodeStatus;

  /** This node's recent Raft events after seq `after`, oldest first, at most `limit`. */
  raftEvents(after: number, limit: number): RaftEventPage;

  /** The last `limit` entries of this node's log (index, term, kind), for the live view. */
  logTail(limit: number): LogTail;

  /** The client API base URL of a node, e.g. "http://127.0.0.1:7001", for forwarding. */
  clientUrlOf(id: NodeId): string | null;
}

/** How a write ended; `Result` is the state machine's (the market's for NodeService). */
export type SubmitOutcome<Result = MarketResult> =
  /** Committed and applied; `result` is the state machine's answer (maybe a rejection). */
  | { readonly kind: "applied"; readonly result: Result; readonly index: number }
  | { readonly kind: "notLeader"; readonly leaderId: NodeId | null }
  /** The pending-proposal queue is full: retry later (503). */
  | { readonly kind: "overloaded" }
  /** Not known whether it will commit: retry with the same requestId (504). */
  | { readonly kind: "timeout" }
  /** Leadership was lost while waiting: outcome unknown, retry with the same requestId. */
  | { readonly kind: "unknown"; readonly leaderId: NodeId | null };

export type ReadBarrierOutcome =
  | { readonly kind: "ready"; readonly appliedIndex: number }
  | { readonly kind: "noLeader"; readonly leaderId: NodeId | null }
  | { readonly kind: "overloaded" }
  | { readonly kind: "timeout" };
