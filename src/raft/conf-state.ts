import type { NodeId, SnapshotMeta } from "./messages.js";
import { MajorityConfig } from "./quorum.js";

/**
 * The cluster configuration (dissertation chapter 4), replicated through the log: who votes,
 * who only learns, and, while a joint configuration is in force (§4.3), the voters of the
 * configuration being left. A decision that needs a quorum needs one of `voters` and, while
 * joint, one of `votersOutgoing` too.
 *
 * Invariants (confStateProblem): `voters` is not empty; no id repeats within a list; a learner
 * is no voter of either side; `votersOutgoing` is empty exactly when the configuration is not
 * joint.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** The voters of the configuration being left; empty unless joint. */
  readonly votersOutgoing: readonly NodeId[];
}

/** One step of a change. */
export type ConfChangeOp =
  | { readonly type: "addLearner"; readonly id: NodeId }
  | { readonly type: "addVoter"; readonly id: NodeId }
  /** A learner becomes a voter. */
  | { readonly type: "promote"; readonly id: NodeId }
  /** A voter or a learner leaves. */
  | { readonly type: "remove"; readonly id: NodeId };

/**
 * A change to the configuration, the data of a log entry of kind "config". Its ops apply
 * together. A change that alters the voters in at most one place (one voter added, promoted or
 * removed) takes the simple path of §4.1: the new configuration at once. One that alters more
 * (replacing a voter: add one, remove another) goes through a joint configuration (§4.3), which
 * the leader leaves on its own once the joint configuration is in force (`leave`, an empty
 * change). `context` is opaque to the core: the driver puts the new members' addresses there.
 */
export interface ConfChange {
  readonly ops: readonly ConfChangeOp[];
  /** True for the change that leaves a joint configuration (no ops). */
  readonly leave?: boolean;
  readonly context?: string;
}

/** The configuration a snapshot's meta carries (null: no meta, or lists that are not lists). */
export function confOfMeta(meta: SnapshotMeta | undefined): ConfState | null {
  if (meta === undefined) return null;
  const { voters, learners = [], votersOutgoing = [] } = meta;
  if (!Array.isArray(voters) || !Array.isArray(learners) || !Array.isArray(votersOutgoing)) {
    return null;
  }
  return normalized({ voters, learners, votersOutgoing });
}

/** The meta fields of `conf`: learners and outgoing voters only when there are any, so that a
 * configuration without them stores as it did before they existed. */
export function metaOfConf(conf: ConfState): Pick<SnapshotMeta, "voters" | "learners" |
  "votersOutgoing"> {
  return { voters: conf.voters, ...(conf.learners.length > 0 ? { learners: conf.learners } : {}),
    ...(conf.votersOutgoing.length > 0 ? { votersOutgoing: conf.votersOutgoing } : {}) };
}

/** The configuration a RaftStatus reports. */
export function confOfStatus(status: { readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[]; readonly votersOutgoing: readonly NodeId[] }): ConfState {
  return { voters: status.voters, learners: status.learners, votersOutgoing: status.votersOutgoing };
}

export function emptyConfState(voters: readonly NodeId[]): ConfState {
  return { voters: [...voters].sort(), learners: [], votersOutgoing: [] };
}

export function isJoint(conf: ConfState): boolean {
  return conf.votersOutgoing.length > 0;
}

/** Every member: voters of both sides and learners, sorted, without repeats. */
export function members(conf: ConfState): NodeId[] {
  return [...new Set([...conf.voters, ...conf.votersOutgoing, ...conf.learners])].sort();
}

/** Whether `id` votes in `conf` (on either side of a joint configuration). */
export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.votersOutgoing.includes(id);
}

/** Why `conf` breaks ConfState's invariants, or null. For values read from peers and disks. */
export function confStateProblem(conf: ConfState): string | null {
  const lists = [conf.voters, conf.learners, conf.votersOutgoing];
  if (!lists.every((list) => Array.isArray(list) && list.every((id) => typeof id === "string" &&
    id.length > 0))) {
    return "ids must be non-empty strings";
  }
  if (conf.voters.length === 0) return "no voters";
  for (const list of lists) {
    if (new Set(list).size !== list.length) return `an id repeats in ${JSON.stringify(list)}`;
  }
  const learnerVoter = conf.learners.find((id) => isVoter(conf, id));
  if (learnerVoter !== undefined) return `${learnerVoter} is both a learner and a voter`;
  return null;
}

export type ConfChangeResult =
  | { readonly ok: true; readonly conf: ConfState; readonly joint: boolean }
  | { readonly ok: false; readonly problem: string };

/**
 * The configuration after `change`, or why it cannot apply to `conf`. Pure: the leader checks a
 * change with it before appending, and every node applies the committed change with it, so all
 * reach the same configuration.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfChangeResult {
  if (change.leave === true) {
    if (change.ops.length > 0) return refuse("a change that leaves a joint configuration has no ops");
    if (!isJoint(conf)) return refuse("the configuration is not joint: nothing to leave");
    return { ok: true, conf: normalized({ ...conf, votersOutgoing: [] }), joint: false };
  }
  if (isJoint(conf)) {
    return refuse("a joint configuration is in force: it must be left before another change");
  }
  if (change.ops.length === 0) return refuse("a change needs at least one op");
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  const touched = new Set<NodeId>();
  for (const op of change.ops) {
    if (typeof op.id !== "string" || op.id.length === 0) return refuse("an op names no node");
    if (touched.has(op.id)) return refuse(`${op.id} appears in more than one op`);
    touched.add(op.id);
    switch (op.type) {
      case "addLearner":
        if (voters.has(op.id)) {
          return refuse(`${op.id} is a voter: remove it first to make it a learner`);
        }
        if (learners.has(op.id)) return refuse(`${op.id} is already a learner`);
        learners.add(op.id);
        break;
      case "addVoter":
        if (voters.has(op.id)) return refuse(`${op.id} is already a voter`);
        learners.delete(op.id);
        voters.add(op.id);
        break;
      case "promote":
        if (!learners.has(op.id)) {
          return refuse(voters.has(op.id) ? `${op.id} is already a voter`
            : `${op.id} is not a learner of this cluster`);
        }
        learners.delete(op.id);
        voters.add(op.id);
        break;
      case "remove":
        if (!voters.has(op.id) && !learners.has(op.id)) {
          return refuse(`${op.id} is not a member of this cluster`);
        }
        voters.delete(op.id);
        learners.delete(op.id);
        break;
      default:
        return refuse(`unknown op type ${JSON.stringify((op as { type: unknown }).type)}`);
    }
  }
  if (voters.size === 0) return refuse("the change would leave no voter");
  const before = new Set(conf.voters);
  const changedVoters = [...voters].filter((id) => !before.has(id)).length +
    conf.voters.filter((id) => !voters.has(id)).length;
  const next: ConfState = { voters: [...voters], learners: [...learners], votersOutgoing: [] };
  if (changedVoters <= 1) return { ok: true, conf: normalized(next), joint: false };
  // §4.3: more than one voter changes, so the old and the new majorities need not overlap:
  // both must agree until the joint configuration is left.
  return { ok: true, conf: normalized({ ...next, votersOutgoing: [...conf.voters] }), joint: true };
}

function refuse(problem: string): ConfChangeResult {
  return { ok: false, problem };
}

function normalized(conf: ConfState): ConfState {
  return { voters: [...conf.voters].sort(), learners: [...conf.learners].sort(),
    votersOutgoing: [...conf.votersOutgoing].sort() };
}

/** Encodes a change as the data of a "config" entry. */
export function encodeConfChange(change: ConfChange): string {
  return JSON.stringify({ ops: change.ops, ...(change.leave === true ? { leave: true } : {}),
    ...(change.context === undefined ? {} : { context: change.context }) });
}

/** Decodes a "config" entry's data; null when it is not a change (a peer's or a disk's bad data). */
export function decodeConfChange(data: string): ConfChange | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const candidate = value as { ops?: unknown; leave?: unknown; context?: unknown };
  if (!Array.isArray(candidate.ops)) return null;
  const types = new Set(["addLearner", "addVoter", "promote", "remove"]);
  for (const op of candidate.ops as unknown[]) {
    if (typeof op !== "object" || op === null) return null;
    const { type, id } = op as { type?: unknown; id?: unknown };
    if (typeof type !== "string" || !types.has(type) || typeof id !== "string") return null;
  }
  if (candidate.leave !== undefined && typeof candidate.leave !== "boolean") return null;
  if (candidate.context !== undefined && typeof candidate.context !== "string") return null;
  return {
    ops: (candidate.ops as { type: ConfChangeOp["type"]; id: string }[])
      .map(({ type, id }) => ({ type, id })),
    ...(candidate.leave === true ? { leave: true } : {}),
    ...(candidate.context === undefined ? {} : { context: candidate.context as string }),
  };
}

/**
 * Quorum arithmetic over a configuration: one majority, or two while joint (§4.3). Learners
 * never count. Every quorum decision of the core goes through here.
 */
export class JointConfig {
  readonly incoming: MajorityConfig;
  readonly outgoing: MajorityConfig | null;

  constructor(readonly conf: ConfState) {
    this.incoming = new MajorityConfig(conf.voters);
    this.outgoing = conf.votersOutgoing.length > 0 ? new MajorityConfig(conf.votersOutgoing) : null;
  }

  /** Voters of both sides, sorted, without repeats. */
  get voters(): readonly NodeId[] {
    return this.outgoing === null ? this.incoming.voters
      : [...new Set([...this.incoming.voters, ...this.outgoing.voters])].sort();
  }

  size(): number {
    return this.voters.length;
  }

  has(id: NodeId): boolean {
    return this.incoming.has(id) || (this.outgoing?.has(id) ?? false);
  }

  committedIndex(matchOf: (id: NodeId) => number): number {
    const incoming = this.incoming.committedIndex(matchOf);
    return this.outgoing === null ? incoming
      : Math.min(incoming, this.outgoing.committedIndex(matchOf));
  }

  voteResult(votes: ReadonlyMap<NodeId, boolean>): "won" | "lost" | "pending" {
    const incoming = this.incoming.voteResult(votes);
    if (this.outgoing === null) return incoming;
    const outgoing = this.outgoing.voteResult(votes);
    if (incoming === "lost" || outgoing === "lost") return "lost";
    return incoming === "won" && outgoing === "won" ? "won" : "pending";
  }

  hasQuorum(isActive: (id: NodeId) => boolean): boolean {
    return this.incoming.hasQuorum(isActive) && (this.outgoing?.hasQuorum(isActive) ?? true);
  }

  /** The votes needed in the incoming configuration (for messages). */
  quorum(): number {
    return this.incoming.quorum();
  }
}
