import type { MarketRequest, MarketResult, MarketStateMachine } from "../market/index.js";
import type { NodeId, ProgressStatus, Role } from "../raft/index.js";
import type { LogTail } from "./log-tail.js";
import type { RaftEventPage } from "./raft-event-log.js";

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

/** `GET /v1/cluster/status` (DESIGN.md §3). */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  /** The voters (the incoming side while joint). */
  readonly members: readonly NodeId[];
  /** Members that receive the log but do not vote (added with `member add --learner`). */
  readonly learners?: readonly NodeId[];
  /** While a joint configuration is in force: the voters of the one being left. */
  readonly votersOutgoing?: readonly NodeId[];
  /** The client API URL of each member (voters and learners), as the replicated book has it. */
  readonly clientUrls?: Readonly<Record<NodeId, string>>;
  readonly stateHash: string;
  // Extensions for the live view (docs/DESIGN.md §3), optional: a node of an older version
  // does not send them, and readers must do without.
  readonly vote?: NodeId | null;
  readonly lastLogTerm?: number;
  /** Leader only (empty otherwise): each follower's match and next index, state, in-flight
   * appends and whether it was heard from within the last election timeout. */
  readonly progress?: Readonly<Record<NodeId, ProgressStatus>>;
  /** The election timer: ticks elapsed since it was reset, and the timeout it fires at. */
  readonly electionElapsedTicks?: number;
  readonly electionTimeoutTicks?: number;
}
