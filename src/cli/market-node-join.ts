/**
 * `market-node --join URL`: a node that is not in the cluster file joins a running cluster
 * (issue 13; etcd's `--initial-cluster-state existing`). The operator first adds it with
 * `market-cli member add ID --peer-url ... --client-url ...` (as a learner by default); the new
 * node then starts with an empty data folder and asks the member at URL (GET /admin/members,
 * with the cluster's admin token) for:
 *  - the cluster id, which it records in its identity file;
 *  - the configuration: its own id must be in it, with the addresses it was started with;
 *  - the cluster's bootstrap voters: its log replays from entry 1 (or from the leader's
 *    snapshot), and the configuration changes in it apply to those;
 *  - the members' addresses, so that it accepts the leader's messages at once.
 *
 * It refuses, with what to do instead, an id that is not a member yet, one whose addresses
 * differ from the ones added, and one that has already run in the cluster (published: its log
 * and vote are gone, so it may not come back under that id).
 */
import type { MembersView } from "../node/membership.js";
import type { JoinRecord } from "../storage/index.js";
import { httpRequest } from "../transport/http-request.js";

export interface JoinAsk {
  readonly url: string;
  readonly id: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly adminToken: string;
}

export type JoinVerdict =
  | { readonly kind: "join"; readonly clusterId: string; readonly record: JoinRecord;
    readonly role: string }
  | { readonly kind: "refuse"; readonly message: string }
  /** Not answered (yet): `reason` says why; ask again. */
  | { readonly kind: "retry"; readonly reason: string };

/** What the cluster's answer means for a node joining as `ask.id`. Pure, for tests. */
export function judgeJoin(ask: JoinAsk, view: MembersView): JoinVerdict {
  const addCommand = `market-cli member add ${ask.id} --peer-url ${ask.peerUrl} ` +
    `--client-url ${ask.clientUrl}`;
  if (typeof view.clusterId !== "string" || view.clusterId.length === 0) {
    return { kind: "retry", reason: "the answer names no cluster id" };
  }
  const removed = view.removed.find((member) => member.id === ask.id);
  if (removed !== undefined) {
    return { kind: "refuse", message: `${ask.id} was removed from the cluster at index ` +
      `${removed.removedAtIndex}; an id is never used again: add the node under a new id ` +
      `(${addCommand.replace(` ${ask.id} `, " NEW_ID ")}) and start it with that id` };
  }
  const member = view.members.find((candidate) => candidate.id === ask.id);
  if (member === undefined) {
    return { kind: "refuse", message: `${ask.id} is not a member of the cluster ` +
      `(members: ${view.members.map((candidate) => candidate.id).join(", ")}): add it first ` +
      `with \`${addCommand}\`, then start this node again` };
  }
  if ((view.published ?? []).includes(ask.id)) {
    return { kind: "refuse", message: `${ask.id} has already run in this cluster, and this ` +
      "data folder is empty: its log and vote were lost, so it cannot come back under this " +
      `id. Remove it (market-cli member remove ${ask.id}), add the node under a new id, and ` +
      "start it with that id" };
  }
  if (member.peerUrl !== ask.peerUrl || member.clientUrl !== ask.clientUrl) {
    return { kind: "refuse", message: `${ask.id} was added with peer URL ${member.peerUrl} and ` +
      `client URL ${member.clientUrl}, but this node was started with ${ask.peerUrl} and ` +
      `${ask.clientUrl}: start it with the URLs it was added with` };
  }
  const addresses = view.members.flatMap((candidate) =>
    candidate.peerUrl === null || candidate.clientUrl === null ? []
      : [{ id: candidate.id, peerUrl: candidate.peerUrl, clientUrl: candidate.clientUrl }]);
  return { kind: "join", clusterId: view.clusterId, role: member.role,
    record: { bootstrapVoters: [...view.bootstrapVoters], addresses } };
}

/** Asks the member at `ask.url` once. */
export async function askToJoin(ask: JoinAsk, timeoutMs: number, signal?: AbortSignal):
  Promise<JoinVerdict> {
  let answer;
  try {
    answer = await httpRequest({ method: "GET", url: `${ask.url.replace(/\/+$/, "")}/admin/members`,
      headers: { authorization: `Bearer ${ask.adminToken}` }, timeoutMs,
      responseBytesMax: 1024 * 1024, ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    return { kind: "retry", reason: `${ask.url} did not answer (${(error as Error).message})` };
  }
  if (answer.status === 401) {
    return { kind: "refuse", message: `${ask.url} refused the admin token: start this node ` +
      "with the cluster's cluster file (--config), whose tokens.adminToken the cluster uses" };
  }
  if (answer.status !== 200) {
    return { kind: "retry", reason: `${ask.url} answered ${answer.status}` };
  }
  let view: MembersView;
  try {
    view = JSON.parse(answer.body) as MembersView;
  } catch {
    return { kind: "retry", reason: `${ask.url} answered something that is not JSON` };
  }
  if (!Array.isArray(view.members) || !Array.isArray(view.removed) ||
    !Array.isArray(view.bootstrapVoters) || view.bootstrapVoters.length === 0) {
    return { kind: "retry", reason: `${ask.url} answered without the members` };
  }
  return judgeJoin(ask, view);
}
