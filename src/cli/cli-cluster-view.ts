/**
 * What `leader`, `leader transfer` and `member list` conclude from the statuses of every
 * endpoint. Each node reports its own view; the leader is the node that says it leads at the
 * highest term, or, when none answered as leader, the leader most followers at the highest
 * term name.
 */
import type { EndpointStatus } from "../client/index.js";
import type { NodeStatus } from "../wire/node-status.js";

export interface LeaderView {
  readonly leaderId: string;
  readonly term: number;
  /** The endpoint of the node that answered as leader, when one did. */
  readonly endpoint: string | null;
}

function answered(rows: readonly EndpointStatus[]): { endpoint: string; status: NodeStatus }[] {
  return rows.flatMap((row) => row.status === null ? [] : [{ endpoint: row.endpoint,
    status: row.status }]);
}

export function findLeader(rows: readonly EndpointStatus[]): LeaderView | null {
  const statuses = answered(rows);
  if (statuses.length === 0) return null;
  const termMax = Math.max(...statuses.map(({ status }) => status.term));
  const leader = statuses.find(({ status }) => status.role === "leader" && status.term === termMax);
  if (leader !== undefined) {
    return { leaderId: leader.status.id, term: termMax, endpoint: leader.endpoint };
  }
  const votes = new Map<string, number>();
  for (const { status } of statuses) {
    if (status.term === termMax && status.leaderId !== null) {
      votes.set(status.leaderId, (votes.get(status.leaderId) ?? 0) + 1);
    }
  }
  const best = [...votes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
  return best === undefined ? null : { leaderId: best[0], term: termMax, endpoint: null };
}

export interface MemberRow {
  readonly id: string;
  readonly endpoint: string | null;
  readonly status: NodeStatus | null;
}

/**
 * The voters as the leader reports them (or, without a leader, every member any node names),
 * each with its endpoint and status when known.
 */
export function memberRows(rows: readonly EndpointStatus[],
  endpointOf: (id: string) => string | null): MemberRow[] {
  const statuses = answered(rows);
  const leader = findLeader(rows);
  const leaderStatus = statuses.find(({ status }) => status.id === leader?.leaderId)?.status;
  const ids = leaderStatus !== undefined ? [...leaderStatus.members]
    : [...new Set(statuses.flatMap(({ status }) => status.members))].sort();
  return ids.map((id) => {
    const own = statuses.find(({ status }) => status.id === id);
    return { id, endpoint: own?.endpoint ?? endpointOf(id), status: own?.status ?? null };
  });
}

/** What `leader transfer` does next, from the statuses of every endpoint. */
export type TransferPlan =
  | { readonly kind: "send"; readonly leader: LeaderView; readonly endpoint: string }
  | { readonly kind: "alreadyLeader"; readonly leader: LeaderView }
  | { readonly kind: "unknownTarget"; readonly members: readonly string[] }
  /** The target is a member whose endpoint gave no status: it could not take over. */
  | { readonly kind: "targetDown"; readonly row: EndpointStatus }
  | { readonly kind: "noLeader" }
  /** The leader is known by name only (no endpoint answered as leader or maps to it). */
  | { readonly kind: "leaderUnreachable"; readonly leader: LeaderView };

/**
 * Plans a transfer of leadership to `target`: it must be one of the voters (memberRows), its
 * node must answer when its endpoint is among the endpoints, and a leader must be known with an
 * endpoint to send the request to.
 */
export function planTransfer(rows: readonly EndpointStatus[], target: string,
  endpointOf: (id: string) => string | null): TransferPlan {
  const members = memberRows(rows, endpointOf);
  const member = members.find((row) => row.id === target);
  if (member === undefined) {
    return { kind: "unknownTarget", members: members.map(({ id }) => id) };
  }
  const targetRow = rows.find((row) => row.endpoint === member.endpoint);
  if (member.status === null && targetRow !== undefined) {
    return { kind: "targetDown", row: targetRow };
  }
  const leader = findLeader(rows);
  if (leader === null) return { kind: "noLeader" };
  // Only the target's own word that it leads counts: a follower's may be a term old.
  if (leader.leaderId === target && leader.endpoint !== null) {
    return { kind: "alreadyLeader", leader };
  }
  const endpoint = leader.endpoint ?? endpointOf(leader.leaderId);
  return endpoint === null ? { kind: "leaderUnreachable", leader }
    : { kind: "send", leader, endpoint };
}
