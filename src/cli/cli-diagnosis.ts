/**
 * What market-cli concludes from the statuses of every endpoint, in one sentence that names
 * what it saw: how many nodes answered out of how many, why each of the others did not, and
 * what that means for Raft: fewer than a majority cannot elect a leader or commit anything
 * (§5.2, §5.3), and a majority that knows no leader is probably in an election.
 *
 *   reached 1 of 3 nodes (n2, n3 refused the connection); a majority of 2 is needed
 *   reached 3 of 3 nodes, and none knows a leader at term 7: an election may be under way
 *   reached 2 of 3 nodes (n3 did not answer within 2000 ms); n1 leads at term 7
 *
 * `cluster status` turns it into its exit code (`health`); the other commands print it when a
 * call fails because the cluster could not serve it.
 */
import type { EndpointStatus, MarketClientError } from "../client/index.js";
import { findLeader, type LeaderView } from "./cli-cluster-view.js";

const refusedReason = "refused the connection";

/** healthy: every node answered and a leader is known; the other two are cluster status's 1, 2. */
export type ClusterHealth = "healthy" | "noLeader" | "unreachable";

export interface UnreachableNode {
  readonly id: string;
  readonly endpoint: string;
  /** Why it gave no status, as a phrase after its id: "refused the connection". */
  readonly reason: string;
}

export interface Diagnosis {
  readonly health: ClusterHealth;
  readonly message: string;
  /** The nodes that answered with their status. */
  readonly reached: number;
  /** The cluster's size: the members a node reports, or the endpoints when none answered. */
  readonly nodes: number;
  readonly majority: number;
  readonly leader: LeaderView | null;
  readonly unreachable: readonly UnreachableNode[];
}

/**
 * The diagnosis of one round of status requests. `idOf` names an endpoint (its node id from
 * the cluster file, else the URL); `source` says where the endpoints came from, for the case
 * where no node answers at all (a wrong --endpoints is then the likely cause).
 */
export function diagnose(rows: readonly EndpointStatus[], idOf: (endpoint: string) => string,
  source?: string): Diagnosis {
  // Nodes removed from the cluster are not nodes that are down.
  rows = rows.filter((row) => row.removedNodeId === undefined);
  const answered = rows.flatMap((row) => row.status === null ? [] : [row.status]);
  const unreachable = rows.flatMap(({ endpoint, status, error }) => status !== null ? []
    : [{ id: idOf(endpoint), endpoint, reason: unreachableReason(error) }]);
  const leader = findLeader(rows);
  const leaderStatus = answered.find((status) => status.id === leader?.leaderId);
  const members = leaderStatus?.members ?? [...new Set(answered.flatMap((row) => row.members))];
  const nodes = Math.max(members.length, rows.length);
  const majority = Math.floor(nodes / 2) + 1;
  const health: ClusterHealth = unreachable.length > 0 ? "unreachable"
    : leader === null ? "noLeader" : "healthy";
  // Members that no endpoint stands for (a shorter --endpoints list): not asked, so unknown.
  // They are named when the ids of the endpoints that gave no status are known.
  const unaskedCount = Math.max(0, members.length - rows.length);
  const asked = new Set([...answered.map((status) => status.id),
    ...unreachable.map(({ id }) => id)]);
  const unaskedIds = members.filter((id) => !asked.has(id));
  const unasked = unaskedCount === 0 ? ""
    : `${unaskedIds.length === unaskedCount ? unaskedIds.join(", ") : unaskedCount} ` +
      "not among the endpoints";
  const notes = [...unreachable.length === 0 ? [] : [groupReasons(unreachable)],
    ...unasked === "" ? [] : [unasked]];
  const seen = `reached ${answered.length} of ${nodes} node${nodes === 1 ? "" : "s"}` +
    (notes.length === 0 ? "" : ` (${notes.join("; ")})`);
  let message: string;
  if (answered.length === 0) {
    const allRefused = unreachable.every(({ reason }) => reason === refusedReason);
    message = !allRefused ? seen : `${seen}: is the cluster running?` +
      (source === undefined ? "" : ` (the endpoints come from ${source})`);
  } else if (answered.length < majority && unaskedCount === 0) {
    // A node cut off from the rest may still call itself leader for an election timeout.
    message = `${seen}; a majority of ${majority} is needed`;
  } else if (leader !== null) {
    message = `${seen}; ${leader.leaderId} leads at term ${leader.term}`;
  } else if (answered.length < majority) {
    message = seen;
  } else {
    const termMax = Math.max(...answered.map((status) => status.term));
    message = `${seen}, and none knows a leader at term ${termMax}: an election may be under way`;
  }
  return { health, message, reached: answered.length, nodes, majority, leader, unreachable };
}

/** The diagnosis as JSON, for `-w json` errors. */
export function diagnosisJson(diagnosis: Diagnosis): Record<string, unknown> {
  const { health, reached, nodes, majority, leader, unreachable } = diagnosis;
  return { health, reached, nodes, majority,
    leader: leader === null ? null : { id: leader.leaderId, term: leader.term },
    unreachable };
}

/** "n2, n3 refused the connection; n1 did not answer within 2000 ms". */
export function groupReasons(unreachable: readonly UnreachableNode[]): string {
  const idsByReason = new Map<string, string[]>();
  for (const { id, reason } of unreachable) {
    idsByReason.set(reason, [...idsByReason.get(reason) ?? [], id]);
  }
  return [...idsByReason].map(([reason, ids]) => `${ids.join(", ")} ${reason}`).join("; ");
}

/** Why a node gave no status, from the client's error. */
export function unreachableReason(error: MarketClientError | null): string {
  if (error === null) return "gave no status";
  if (error.code !== "unreachable") {
    return `answered HTTP ${error.status}${error.code === "unexpected_response" ? ""
      : ` ${error.code}`}`;
  }
  const text = error.message;
  if (text.includes("ECONNREFUSED")) return refusedReason;
  const within = /within (\d+) ms/.exec(text);
  if (within !== null) return `did not answer within ${within[1]} ms`;
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return "has a host name that does not resolve";
  if (/ECONNRESET|socket hang up/.test(text)) return "closed the connection without answering";
  return `could not be reached (${text.replace(/^cannot reach \S+: /, "")})`;
}
