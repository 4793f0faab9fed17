/**
 * What a node answers at `GET /v1/cluster/status` (docs/DESIGN.md §3): a type of the wire,
 * shared by the node that builds it (node/raft-server.ts) and the client and the CLI that read
 * it (the live view keeps a view of its own, dashboard/dashboard-frame.ts).
 */
import type { NodeId, ProgressStatus, Role } from "../raft/index.js";

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
