/**
 * `market-cli member list|add|promote|remove` (issue 13; etcd's `member` commands). Each change
 * goes to the leader (found from every endpoint's status) with the cluster's admin token, and
 * the command returns once the change has committed and applied there (POST/DELETE
 * /admin/members). A node that stepped down in between answers 409 notLeader: the command asks
 * again who leads, a few times. `member promote --wait` keeps trying while the learner is
 * behind, until it has caught up or --timeout passes.
 *
 * Exit codes as everywhere: 0 done; 1 the cluster refused (an unknown or reused id, another
 * change in flight, a learner behind, a change that would lose the quorum, a wrong admin
 * token); 2 it could not answer (no leader, unreachable, the change not seen to apply in
 * time); 128 bad usage or no admin token.
 */
import { MarketClientError, type MarketClient } from "../client/index.js";
import type { MembersView } from "../node/membership.js";
import { findLeader } from "./cli-cluster-view.js";
import { diagnose, diagnosisJson } from "./cli-diagnosis.js";
import { adminTokenVariable, UsageError, type EndpointChoice } from "./cli-endpoints.js";
import { renderTable } from "./cli-output.js";
import {
  memberIdPattern,
  memberUrlProblem,
  normalizeMemberUrl,
} from "../node/member-addresses.js";
import {
  CliFailure,
  exitCodes,
  idOfEndpoint,
  noNodeAnswered,
  type CliSession,
  type GlobalOptions,
} from "./cli-session.js";

/** How many times a change is sent again after a 409 notLeader (the leader moved). */
const leaderRetriesMax = 3;
/** Between two tries of `member promote --wait` while the learner catches up. */
const promoteRetryMs = 250;
/** Refusals that clear by themselves soon: a new leader's first commit, a change in flight. */
const transientRefusals: ReadonlySet<string> = new Set(["leaderNotReady", "changeInFlight"]);

interface Connected {
  readonly client: MarketClient;
  readonly choice: EndpointChoice;
  readonly adminToken: string;
}

function connectAdmin(session: CliSession, options: GlobalOptions, command: string): Connected {
  const { client, choice } = session.connect(options);
  if (choice.adminToken === null) {
    throw new UsageError(`${command} needs the cluster's admin token: give the cluster file ` +
      `(--config FILE, tokens.adminToken) or set ${adminTokenVariable}`);
  }
  return { client, choice, adminToken: choice.adminToken };
}

/** The leader's endpoint, from every endpoint's status; a CliFailure when there is none. */
async function leaderEndpoint(session: CliSession, { client, choice }: Connected):
  Promise<{ id: string; endpoint: string }> {
  const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
  if (rows.every((row) => row.status === null)) throw noNodeAnswered(rows, choice);
  const leader = findLeader(rows);
  const endpoint = leader === null ? null : leader.endpoint ?? client.endpointOf(leader.leaderId) ??
    choice.nodeEndpoints[leader.leaderId] ?? null;
  if (leader === null || endpoint === null) {
    const diagnosis = diagnose(rows, (url) => idOfEndpoint(choice, url), choice.source);
    throw new CliFailure(exitCodes.unavailable, "no_leader", leader === null
      ? `no leader to make the change: ${diagnosis.message}`
      : `the leader, ${leader.leaderId}, is not among the endpoints`,
    { diagnosis: diagnosisJson(diagnosis) });
  }
  return { id: leader.leaderId, endpoint };
}

/**
 * Sends one change to the leader, again when the leader moved (or, with `retryWhile`, when
 * the refusal is one that clears by itself), until --timeout.
 */
async function sendChange(session: CliSession, connected: Connected, method: "POST" | "DELETE",
  path: string, body: unknown, retryWhile: (reason: string) => boolean = (reason) =>
    transientRefusals.has(reason)): Promise<{ leaderId: string; answer: Record<string, unknown> }> {
  for (let attempt = 0; ; attempt++) {
    const leader = await leaderEndpoint(session, connected);
    try {
      const answer = await connected.client.admin(leader.endpoint, method, path,
        { adminToken: connected.adminToken, timeoutMs: session.remainingMs(), body });
      return { leaderId: leader.id, answer };
    } catch (error) {
      if (!(error instanceof MarketClientError)) throw error;
      const reason = typeof error.details.reason === "string" ? error.details.reason : "";
      if (error.code === "unauthorized") {
        throw new CliFailure(exitCodes.error, "unauthorized", `${leader.id} refused the admin ` +
          `token: use the cluster's (tokens.adminToken of the cluster file, or ${adminTokenVariable})`);
      }
      const again = (reason === "notLeader" && attempt < leaderRetriesMax) ||
        (error.code === "conflict" && retryWhile(reason));
      if (again && session.remainingMs() > promoteRetryMs) {
        await new Promise((resolve) => setTimeout(resolve, promoteRetryMs));
        continue;
      }
      // Out of tries or time while the cluster was busy (a leader moving, a change in flight,
      // a learner catching up): it could not serve the change now, which is exit 2.
      if (again || reason === "notLeader") {
        throw new CliFailure(exitCodes.unavailable, reason, `${error.message} (gave up ` +
          "within --timeout)", { ...error.details });
      }
      if (error.code === "conflict" || error.code === "invalid_request") {
        throw new CliFailure(exitCodes.error, reason === "" ? error.code : reason,
          error.message, { ...error.details });
      }
      throw new CliFailure(exitCodes.unavailable, error.code, error.message, { ...error.details });
    }
  }
}

export interface AddOptions extends GlobalOptions {
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly learner?: boolean;
  readonly dataDir?: string;
}

export async function runMemberAdd(session: CliSession, options: AddOptions, id: string):
  Promise<void> {
  if (!memberIdPattern.test(id)) throw new UsageError(`"${id}" is not a node id (1-32 letters, digits, _ or -)`);
  for (const [flag, url] of [["--peer-url", options.peerUrl], ["--client-url",
    options.clientUrl]] as const) {
    const problem = memberUrlProblem(url);
    if (problem !== null) throw new UsageError(`${flag} ${problem}`);
  }
  const connected = connectAdmin(session, options, "member add");
  const learner = options.learner === true;
  let sent: { leaderId: string; answer: Record<string, unknown> };
  try {
    sent = await sendChange(session, connected, "POST", "/admin/members",
      { id, peerUrl: options.peerUrl, clientUrl: options.clientUrl, learner });
  } catch (error) {
    // A repeat of an add that applied (an earlier run timed out after proposing it).
    const same = error instanceof CliFailure && error.code === "idUsed"
      ? await sameMember(session, connected, id, options) : null;
    if (same === null) throw error;
    sent = same;
  }
  const { leaderId, answer } = sent;
  // The members to ask, the leader first (the node asks each in turn until one answers).
  const conf = answer.conf as { voters?: string[] } | undefined;
  const leaderUrl = [leaderId, ...(conf?.voters ?? []).filter((voter) => voter !== leaderId)]
    .flatMap((member) => {
      const url = connected.client.endpointOf(member) ?? connected.choice.nodeEndpoints[member];
      return url === undefined || url === null ? [] : [url];
    }).join(",") || "LEADER_CLIENT_URL";
  const start = `market-node --config ${options.config ?? "cluster.config.json"} --id ${id} ` +
    `--join ${leaderUrl} --peer-url ${options.peerUrl} --client-url ${options.clientUrl} ` +
    `--data-dir ${options.dataDir ?? `data/${id}`}`;
  session.print(options, () => `added ${id} as a ${learner ? "learner" : "voter"} at index ` +
    `${String(answer.index)}\nstart it with:\n  ${start}` + (learner
    ? `\nthen, once it has caught up: market-cli member promote ${id} --wait` : ""),
  { ...answer, id, learner, start });
}

/** The member `id` as the leader lists it, when it has exactly these URLs; else null. */
async function sameMember(session: CliSession, connected: Connected, id: string,
  options: AddOptions): Promise<{ leaderId: string; answer: Record<string, unknown> } | null> {
  const leader = await leaderEndpoint(session, connected);
  const view = await connected.client.admin(leader.endpoint, "GET", "/admin/members",
    { adminToken: connected.adminToken, timeoutMs: session.remainingMs() }) as unknown as
    MembersView;
  const member = view.members.find((candidate) => candidate.id === id);
  if (member === undefined || member.peerUrl !== normalizeMemberUrl(options.peerUrl) ||
    member.clientUrl !== normalizeMemberUrl(options.clientUrl)) {
    return null;
  }
  return { leaderId: leader.id, answer: { index: view.lastLogIndex, conf: view.conf, member,
    alreadyMember: true } };
}

export async function runMemberPromote(session: CliSession,
  options: GlobalOptions & { wait?: boolean }, id: string): Promise<void> {
  const connected = connectAdmin(session, options, "member promote");
  const { answer } = await sendChange(session, connected, "POST",
    `/admin/members/${encodeURIComponent(id)}/promote`, undefined, (reason) =>
      transientRefusals.has(reason) || (options.wait === true && reason === "learnerBehind"));
  session.print(options, () => `promoted ${id} to voter at index ${String(answer.index)}`,
    { ...answer, id });
}

export async function runMemberRemove(session: CliSession, options: GlobalOptions, id: string):
  Promise<void> {
  const connected = connectAdmin(session, options, "member remove");
  const { answer } = await sendChange(session, connected, "DELETE",
    `/admin/members/${encodeURIComponent(id)}`, undefined);
  session.print(options, () => `removed ${id} at index ${String(answer.index)}; its id is ` +
    `never used again. ${id} stops by itself once it learns of its removal; if it is cut off ` +
    "and never does, stop it by hand", { ...answer, id });
}

/**
 * `member list` with the admin token: the leader's GET /admin/members (roles, addresses, the
 * leader's match index for each), each member's own status from its client URL.
 */
export async function runMemberListAdmin(session: CliSession, options: GlobalOptions,
  withoutLeader: () => Promise<void>): Promise<void> {
  const connected = connectAdmin(session, options, "member list");
  let leader: { id: string; endpoint: string };
  try {
    leader = await leaderEndpoint(session, connected);
  } catch (error) {
    // No leader to ask: what each endpoint says is still worth showing.
    if (error instanceof CliFailure && error.code === "no_leader") {
      await withoutLeader();
      return;
    }
    throw error;
  }
  const view = await connected.client.admin(leader.endpoint, "GET", "/admin/members",
    { adminToken: connected.adminToken, timeoutMs: session.remainingMs() }) as unknown as
    MembersView;
  const statuses = await Promise.all(view.members.map(async (member) => {
    if (member.clientUrl === null) return null;
    return await connected.client.status(member.clientUrl,
      { timeoutMs: session.remainingMs() }).catch(() => null);
  }));
  const rows = view.members.map((member, k) => ({ ...member, status: statuses[k] ?? null }));
  session.print(options, () => {
    const table = renderTable(["ID", "MEMBER", "STATE", "CLIENT URL", "PEER URL", "MATCH",
      "APPLIED"], rows.map((row) => [row.id, row.role,
      row.status === null ? "unreachable" : row.status.role, row.clientUrl ?? "-",
      row.peerUrl ?? "-", row.id === view.leaderId ? String(view.lastLogIndex)
        : row.match === undefined ? "-" : String(row.match),
      row.status === null ? "-" : String(row.status.appliedIndex)]), session.style);
    const notes = [
      ...(view.joint ? [`joint configuration: leaving voters ${view.conf.votersOutgoing
        .join(", ")} for ${view.conf.voters.join(", ")}`] : []),
      ...(view.removed.length === 0 ? [] : [`removed (ids never used again): ${view.removed
        .map((member) => `${member.id} at index ${member.removedAtIndex}`).join(", ")}`]),
    ];
    return [table, ...notes].join("\n");
  }, { ...view, members: rows });
}
