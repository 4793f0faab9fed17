import type { Logger } from "pino";
import type { NodeId, RaftNode } from "../raft/index.js";
import type { NodeMetrics } from "./metrics.js";
import type { Scheduler } from "./scheduler.js";

/**
 * What the driver's loop (raft-server.ts) shares with its concern modules (proposals.ts,
 * forwarding.ts, read-barriers.ts, snapshots.ts): the core, the clock, the metrics and a few
 * questions and requests about the loop. The loop owns the answers; a module never keeps a
 * copy of them (the leader, whether the node stopped), so that it always acts on the loop's
 * current view.
 */
export interface DriverContext {
  readonly id: NodeId;
  readonly node: RaftNode;
  readonly scheduler: Scheduler;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /**
   * The leader the loop noted from the last Ready that changed it (not the core's, which may
   * be ahead): every answer names it, and every pending forward went to it.
   */
  leaderId(): NodeId | null;
  /** Asks for a loop pass soon; one asked for while a pass runs is folded into the next. */
  schedule(): void;
  /** Whether stop() has begun (it also begins on a fatal error). */
  stopped(): boolean;
  /** Whether the node neither stopped nor failed. */
  running(): boolean;
  /** A storage failure or a broken invariant: stops the node, and the process exits. */
  fail(error: Error): void;
}
