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
import { memberAddressProblem, memberIdPattern } from "../node/member-addresses.js";
import type { MembersView } from "../node/membership.js";
import type { AddressRecord, BootstrapRecord, JoinRecord } from "../storage/index.js";
import { httpRequest } from "../wire/http-request.js";

export interface JoinAsk {
  /** Client URLs of members to ask, in turn (--join URL,URL...). */
  readonly urls: readonly string[];
  readonly id: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly adminToken: string;
}

export type JoinVerdict =
  | { readonly kind: "join"; readonly clusterId: string; readonly bootstrap: BootstrapRecord;
    readonly join: JoinRecord; readonly role: string }
  | { readonly kind: "refuse"; readonly message: string }
  /** Not answered (yet): `reason` says why; ask again. */
  | { readonly kind: "retry"; readonly reason: string };

/** What the cluster's answer means for a node joining as `ask.id`. Pure, for tests. */
export function judgeJoin(ask: JoinAsk, view: MembersView): JoinVerdict {
  const addCommand = `market-cli member add ${ask.id} --peer-url ${ask.peerUrl} ` +
    `--client-url ${ask.clientUrl}`;
  // The answer is a peer's word, and what it says is written to IDENTITY: checked first.
  if (typeof view.clusterId !== "string" || !/^[\x21-\x7e]{1,128}$/.test(view.clusterId)) {
    return { kind: "retry", reason: "the answer names no valid cluster id" };
  }
  const problem = viewProblem(view);
  if (problem !== null) return { kind: "retry", reason: `the answer is malformed: ${problem}` };
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
  const addresses: AddressRecord[] = view.members.flatMap((candidate) =>
    candidate.peerUrl === null || candidate.clientUrl === null ? []
      : [{ id: candidate.id, peerUrl: candidate.peerUrl, clientUrl: candidate.clientUrl }]);
  const bootstrapAddresses = view.bootstrapAddresses.map(({ id, peerUrl, clientUrl }) =>
    ({ id, peerUrl, clientUrl }));
  return { kind: "join", clusterId: view.clusterId, role: member.role,
    bootstrap: { voters: [...view.bootstrapVoters], addresses: bootstrapAddresses },
    join: { addresses } };
}

/** Why a members view cannot be trusted as one, or null. */
function viewProblem(view: MembersView): string | null {
  if (!Array.isArray(view.members) || !Array.isArray(view.removed) ||
    !Array.isArray(view.bootstrapVoters) || !Array.isArray(view.bootstrapAddresses)) {
    return "members, removed, bootstrapVoters and bootstrapAddresses must be lists";
  }
  if (view.bootstrapVoters.length === 0 || !view.bootstrapVoters.every((id) =>
    typeof id === "string" && memberIdPattern.test(id))) {
    return "bootstrapVoters must be member ids";
  }
  for (const address of view.bootstrapAddresses) {
    const problem = memberAddressProblem(address);
    if (problem !== null) return `bootstrapAddresses: ${problem}`;
  }
  for (const member of view.members) {
    if (typeof member !== "object" || member === null || typeof member.id !== "string" ||
      !memberIdPattern.test(member.id)) {
      return "a member without an id";
    }
    if (member.peerUrl === null || member.clientUrl === null) continue;
    const problem = memberAddressProblem({ id: member.id, peerUrl: member.peerUrl,
      clientUrl: member.clientUrl });
    if (problem !== null) return `member ${member.id}: ${problem}`;
  }
  if (!view.removed.every((member) => typeof member === "object" && member !== null &&
    typeof member.id === "string")) {
    return "a removed member without an id";
  }
  return null;
}

/** Asks the member at `url` (one of ask.urls) once. */
export async function askToJoin(ask: JoinAsk, url: string, timeoutMs: number,
  signal?: AbortSignal): Promise<JoinVerdict> {
  let answer;
  try {
    answer = await httpRequest({ method: "GET", url: `${url.replace(/\/+$/, "")}/admin/members`,
      headers: { authorization: `Bearer ${ask.adminToken}` }, timeoutMs,
      responseBytesMax: 1024 * 1024, ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    return { kind: "retry", reason: `${url} did not answer (${(error as Error).message})` };
  }
  if (answer.status === 401) {
    return { kind: "refuse", message: `${url} refused the admin token: start this node ` +
      "with the cluster's cluster file (--config), whose tokens.adminToken the cluster uses" };
  }
  if (answer.status !== 200) {
    return { kind: "retry", reason: `${url} answered ${answer.status}` };
  }
  let view: MembersView;
  try {
    view = JSON.parse(answer.body) as MembersView;
  } catch {
    return { kind: "retry", reason: `${url} answered something that is not JSON` };
  }
  if (typeof view !== "object" || view === null) {
    return { kind: "retry", reason: `${url} answered without the members` };
  }
  return judgeJoin(ask, view);
}
