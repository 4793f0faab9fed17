import type { NodeId, Snapshot, SnapshotMeta } from "./messages.js";
import type { SnapshotReceiver } from "./snapshot-data.js";

/**
 * Configuration of one RaftNode. Times are in ticks: the core has no clock, and only the driver
 * (src/node/) converts ticks to milliseconds.
 */
export interface RaftConfig {
  readonly id: NodeId;
  /** The voting members the cluster starts with, used when no snapshot says otherwise. A node
   * not among them starts outside the configuration: it never campaigns, and waits to be
   * added (conf-state.ts). */
  readonly voters: readonly NodeId[];
  /** T: a follower waits a random time in [T, 2T) before campaigning (§5.2). */
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  /** PreVote (thesis §9.6): a rejoining node cannot depose a healthy leader. A pre-vote is
   * refused while a leader is being heard from (within an election timeout). */
  readonly preVote: boolean;
  /** CheckQuorum (thesis §6.2): a leader that hears from no majority for T steps down. */
  readonly checkQuorum: boolean;
  readonly entriesPerAppendMax: number;
  readonly bytesPerAppendMax: number;
  /** The pipeline window per follower in replicate state. */
  readonly inflightAppendsMax: number;
  readonly inflightBytesMax: number;
  /** Proposals beyond this many uncommitted entries are refused as overloaded. */
  readonly uncommittedEntriesMax: number;
  /** ReadIndex requests waiting for a quorum round or for the leader's first commit. */
  readonly pendingReadsMax: number;
  /** Committed entries handed to the driver per Ready. */
  readonly entriesPerApplyMax: number;
  /** InstallSnapshot sends the snapshot in chunks of at most this many bytes, one at a time. */
  readonly snapshotChunkBytes: number;
  /**
   * A learner is promoted only when it holds all but at most this many of the leader's entries
   * and was heard from within the last election timeout (dissertation §4.2.1: a new voter that
   * is far behind would leave the cluster unable to commit while it catches up).
   */
  readonly promotionLagEntriesMax: number;
  /**
   * The driver's check of a snapshot received from a leader, before the core installs it:
   * a problem (the state machine cannot read it), or null. Must be pure. A snapshot with a
   * problem is a protocol violation and is not installed, so the node keeps its state.
   */
  readonly snapshotProblem?: (snapshot: Snapshot) => string | null;
  /**
   * Where a follower puts a snapshot's chunks as they arrive (snapshot-data.ts), one receiver
   * per transfer; it checks them as they come, so snapshotProblem is not called. Without it the
   * core keeps the chunks in memory and asks snapshotProblem once they are all in.
   */
  readonly snapshotReceiver?: (meta: SnapshotMeta) => SnapshotReceiver;
}

export const defaultRaftConfig = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  preVote: true,
  checkQuorum: true,
  entriesPerAppendMax: 256,
  bytesPerAppendMax: 1024 * 1024,
  inflightAppendsMax: 64,
  inflightBytesMax: 16 * 1024 * 1024,
  uncommittedEntriesMax: 8192,
  pendingReadsMax: 4096,
  entriesPerApplyMax: 1024,
  snapshotChunkBytes: 256 * 1024,
  promotionLagEntriesMax: 1000,
} as const satisfies Omit<RaftConfig, "id" | "voters" | "snapshotProblem" | "snapshotReceiver">;

/** Builds a full config from the required fields and any overrides of the defaults. */
export function makeRaftConfig(
  required: Pick<RaftConfig, "id" | "voters">,
  overrides: Partial<RaftConfig> = {},
): RaftConfig {
  return { ...defaultRaftConfig, ...required, ...overrides };
}

/** A configuration that cannot work. The message lists every problem, one per line. */
export class RaftConfigError extends Error {
  override readonly name = "RaftConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid raft config:\n  - ${problems.join("\n  - ")}`);
  }
}

const positiveIntegerFields = [
  "electionTimeoutTicks",
  "heartbeatIntervalTicks",
  "entriesPerAppendMax",
  "bytesPerAppendMax",
  "inflightAppendsMax",
  "inflightBytesMax",
  "uncommittedEntriesMax",
  "pendingReadsMax",
  "entriesPerApplyMax",
  "snapshotChunkBytes",
  "promotionLagEntriesMax",
] as const satisfies readonly (keyof RaftConfig)[];

/** Returns every problem with `config`; an empty list means it is valid. */
export function raftConfigProblems(config: RaftConfig): string[] {
  const problems: string[] = [];
  if (typeof config.id !== "string" || config.id.length === 0) {
    problems.push("id must be a non-empty string");
  }
  for (const field of positiveIntegerFields) {
    const value = config[field];
    if (!Number.isInteger(value) || value <= 0) {
      problems.push(`${field} must be a positive integer, got ${String(value)}`);
    }
  }
  if (config.electionTimeoutTicks <= config.heartbeatIntervalTicks) {
    problems.push(
      `electionTimeoutTicks (${config.electionTimeoutTicks}) must exceed ` +
        `heartbeatIntervalTicks (${config.heartbeatIntervalTicks}), or followers time out ` +
        "between heartbeats of a healthy leader",
    );
  }
  if (config.bytesPerAppendMax > config.inflightBytesMax) {
    problems.push("bytesPerAppendMax must not exceed inflightBytesMax");
  }
  const voters = new Set(config.voters);
  if (voters.size === 0) problems.push("voters must name at least one node");
  if (voters.size !== config.voters.length) problems.push("voters must not repeat an id");
  return problems;
}

/** Throws RaftConfigError naming every problem (hashicorp ValidateConfig, etcd validate). */
export function validateRaftConfig(config: RaftConfig): void {
  const problems = raftConfigProblems(config);
  if (problems.length > 0) throw new RaftConfigError(problems);
}
