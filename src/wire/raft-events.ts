/**
 * The events a node serves at `GET /v1/cluster/events` (docs/DESIGN.md §3): the core's Raft
 * events and the driver's own, each with its sequence number, time, node and log line. Types
 * of the wire, shared by the node that keeps them (node/raft-event-log.ts) and the client and
 * tools that read them.
 */
import type { NodeId, RaftEvent } from "../raft/index.js";

/** Events the driver itself adds to the core's. */
export type DriverEvent =
  | { readonly kind: "snapshotInstalled"; readonly term: number; readonly index: number;
      readonly snapshotIndex: number; readonly bytes: number; readonly ms: number };

export type NodeEvent = RaftEvent | DriverEvent;

/** One event as the ring keeps it and `GET /v1/cluster/events` serves it. */
export type RaftEventRecord = NodeEvent & {
  /** Increases by one per event of this node since it started; a reader passes the last one
   * it saw as `after` to get only newer ones. */
  readonly seq: number;
  /** Wall-clock time (ms since the epoch) when the driver took the event from the core. */
  readonly timeMs: number;
  readonly node: NodeId;
  /** The log line's text. */
  readonly message: string;
};

export interface RaftEventPage {
  readonly node: NodeId;
  readonly events: readonly RaftEventRecord[];
  /** The seq of the newest event held (0: none yet), so that a follower of the stream knows
   * where it stands even when nothing new came. */
  readonly lastSeq: number;
  /** Events the ring no longer holds between `after` and the first one returned. */
  readonly missed: number;
}
