/**
 * What a node tells a peer about itself on `GET /raft/identity` (peer token required): the
 * cluster it belongs to, and the members published in its replicated state. A node that
 * starts with an empty data folder asks every peer (src/node/bootstrap.ts) before it takes part
 * as a voter, so that a node that lost its disk never rejoins as its old self.
 */
import type { MemberRecord, NodeId } from "../raft/index.js";

export const peerIdentityPath = "/raft/identity";

export interface PeerIdentity {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /**
   * "member": running on a data folder with a log; `members` is its published-member table as
   * of `appliedIndex`. "joining": its folder is empty and it is itself asking its peers.
   */
  readonly state: "member" | "joining";
  readonly appliedIndex: number;
  readonly members: readonly MemberRecord[];
}

/** The answer's shape, checked field by field: a peer's word is input like any other. */
export function parsePeerIdentity(value: unknown): PeerIdentity | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const fields = value as Record<string, unknown>;
  if (typeof fields.clusterId !== "string" || typeof fields.nodeId !== "string" ||
    (fields.state !== "member" && fields.state !== "joining") ||
    !Number.isSafeInteger(fields.appliedIndex) || !Array.isArray(fields.members)) {
    return null;
  }
  const members = fields.members as unknown[];
  if (members.length > 10_000 || !members.every((record) => typeof record === "object" &&
    record !== null && typeof (record as MemberRecord).id === "string" &&
    typeof (record as MemberRecord).incarnation === "string" &&
    Number.isSafeInteger((record as MemberRecord).index))) {
    return null;
  }
  return value as PeerIdentity;
}
