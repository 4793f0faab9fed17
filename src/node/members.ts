/**
 * Published members: which incarnation of each node has run in this cluster, in the
 * replicated state (etcd's way: a member publishes itself once it has started, and a member
 * whose data folder is empty but whose id is already published refuses to bootstrap, "member
 * has already been bootstrapped").
 *
 * A node publishes `(id, incarnation)` through an ordinary log entry as soon as it runs, and
 * every replica applies it to this table; snapshots carry the table in their meta, so it
 * survives compaction. The first incarnation published for an id stays: a later one with
 * another incarnation is the same id back with a new folder, which means its log and vote
 * were lost. Its peers will not vouch for it at its next start (bootstrap.ts), and a node that
 * sees its own id published under another incarnation stops.
 */
import type { MemberRecord, NodeId } from "../raft/index.js";

const publishKind = "publishMember";
const publishPrefix = `{"kind":"${publishKind}",`;

/** The data of the log entry by which `id` publishes `incarnation`. */
export function encodePublish(id: NodeId, incarnation: string): string {
  // The requestId makes retries of one publication identical entries, as client writes are.
  return JSON.stringify({ kind: publishKind, requestId: `publish:${id}:${incarnation}`,
    nodeId: id, incarnation });
}

/** The publication an entry's data carries, or null when it carries something else. */
export function decodePublish(data: string): { nodeId: NodeId; incarnation: string } | null {
  if (!data.startsWith(publishPrefix)) return null;
  try {
    const value = JSON.parse(data) as Record<string, unknown>;
    if (typeof value.nodeId !== "string" || typeof value.incarnation !== "string") return null;
    return { nodeId: value.nodeId, incarnation: value.incarnation };
  } catch {
    return null;
  }
}

export type PublishOutcome =
  | { readonly kind: "recorded" }
  | { readonly kind: "repeated" }
  /** The id was published before under another incarnation: that node lost its data. */
  | { readonly kind: "conflict"; readonly first: MemberRecord };

/** The table of published members. Deterministic: every replica applies the same entries. */
export class MemberTable {
  private readonly records = new Map<NodeId, MemberRecord>();

  constructor(initial: readonly MemberRecord[] = []) {
    for (const record of initial) this.records.set(record.id, record);
  }

  apply(id: NodeId, incarnation: string, index: number): PublishOutcome {
    const first = this.records.get(id);
    if (first === undefined) {
      this.records.set(id, { id, incarnation, index });
      return { kind: "recorded" };
    }
    return first.incarnation === incarnation ? { kind: "repeated" } : { kind: "conflict", first };
  }

  get(id: NodeId): MemberRecord | null {
    return this.records.get(id) ?? null;
  }

  /** Sorted by id, so that equal tables give equal snapshot metas. */
  list(): MemberRecord[] {
    return [...this.records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
