/**
 * `market-cli leader transfer --to ID`: asks every node for its status, sends the leader
 * `POST /admin/leadership/transfer {target}` with the cluster's admin token, then polls until
 * the target reports that it leads, within --timeout (thesis §3.10: the leader brings the
 * target's log up to date and tells it to campaign at once; it abandons the transfer after an
 * election timeout). Exit codes as everywhere: 1 when the cluster refuses (an id that is not a
 * voter, a wrong admin token), 2 when it cannot serve (the target or the leader unreachable, no
 * leader, the target not leading in time), 128 without an admin token.
 */
import { MarketClientError, type MarketClient } from "../client/index.js";
import { findLeader, planTransfer, type LeaderView } from "./cli-cluster-view.js";
import { diagnose, diagnosisJson, unreachableReason } from "./cli-diagnosis.js";
import { adminTokenVariable, UsageError, type EndpointChoice } from "./cli-endpoints.js";
import {
  CliFailure,
  exitCodes,
  idOfEndpoint,
  noNodeAnswered,
  type CliSession,
  type GlobalOptions,
} from "./cli-session.js";

/** Tries to reach the leader when leadership moves between the status and the request. */
const transferSendsMax = 3;
/** Between two polls of the cluster while the transfer is under way. */
const transferPollMs = 100;

export async function runLeaderTransfer(session: CliSession, options: GlobalOptions,
  target: string): Promise<void> {
  const { client, choice } = session.connect(options);
  const adminToken = choice.adminToken;
  if (adminToken === null) {
    throw new UsageError("leader transfer needs the cluster's admin token: give the cluster " +
      `file (--config FILE, tokens.adminToken) or set ${adminTokenVariable}`);
  }
  const sent = await sendTransfer(session, client, choice, target, adminToken);
  const previous = sent.leader;
  const leader = sent.kind === "alreadyLeader" ? previous
    : await waitForLeader(session, client, target);
  session.print(options, () => sent.kind === "alreadyLeader"
    ? `${target} already leads at term ${leader.term}`
    : `${target} leads at term ${leader.term} (was ${previous.leaderId} at term ` +
      `${previous.term})`,
  { leaderId: target, term: leader.term, endpoint: leader.endpoint,
    previous: { leaderId: previous.leaderId, term: previous.term } });
}

/**
 * Sends the transfer to the leader; returns the leader it was sent to, or the target itself
 * when it leads already.
 */
async function sendTransfer(session: CliSession, client: MarketClient, choice: EndpointChoice,
  target: string, adminToken: string):
  Promise<{ kind: "sent" | "alreadyLeader"; leader: LeaderView }> {
  const idOf = (endpoint: string): string => idOfEndpoint(choice, endpoint);
  const endpointOf = (id: string): string | null =>
    client.endpointOf(id) ?? choice.nodeEndpoints[id] ?? null;
  for (let send = 1; ; send++) {
    const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
    const diagnosis = (): Record<string, unknown> =>
      ({ diagnosis: diagnosisJson(diagnose(rows, idOf, choice.source)) });
    if (rows.every((row) => row.status === null)) throw noNodeAnswered(rows, choice);
    const plan = planTransfer(rows, target, endpointOf);
    switch (plan.kind) {
      case "unknownTarget":
        throw new CliFailure(exitCodes.error, "unknown_node", `${target} is not a voting ` +
          `member of the cluster (members: ${plan.members.join(", ")})`, { target });
      case "targetDown":
        throw new CliFailure(exitCodes.unavailable, "unreachable", `${target} ` +
          `${unreachableReason(plan.row.error)}: it cannot take over`, diagnosis());
      case "noLeader":
        throw new CliFailure(exitCodes.unavailable, "no_leader",
          `no leader to hand over from: ${diagnose(rows, idOf).message}`, diagnosis());
      case "leaderUnreachable":
        throw new CliFailure(exitCodes.unavailable, "unreachable", `the leader, ` +
          `${plan.leader.leaderId}, is not among the endpoints`, diagnosis());
      case "alreadyLeader":
        return { kind: "alreadyLeader", leader: plan.leader };
      case "send":
        break;
    }
    try {
      await client.transferLeadership(plan.endpoint, target,
        { adminToken, timeoutMs: session.remainingMs() });
      return { kind: "sent", leader: plan.leader };
    } catch (error) {
      if (!(error instanceof MarketClientError)) throw error;
      if (error.code === "unauthorized") {
        throw new CliFailure(exitCodes.error, "unauthorized", `${plan.leader.leaderId} ` +
          "refused the admin token: use the cluster's (tokens.adminToken of the cluster file, " +
          `or ${adminTokenVariable})`);
      }
      // 409: it stepped down between its status and the request; ask again who leads.
      if (error.code !== "conflict" || send >= transferSendsMax) throw error;
    }
  }
}

/** Polls until `target` says it leads; a CliFailure (exit 2) when the deadline passes first. */
async function waitForLeader(session: CliSession, client: MarketClient, target: string):
  Promise<LeaderView> {
  let leader: LeaderView | null = null;
  while (session.remainingMs() > 0) {
    const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
    leader = findLeader(rows);
    if (leader?.leaderId === target && leader.endpoint !== null) return leader;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(1, Math.min(transferPollMs, session.remainingMs()))));
  }
  throw new CliFailure(exitCodes.unavailable, "timeout", `${target} did not take over in ` +
    `time (${leader === null ? "no leader now" : `${leader.leaderId} leads at term ` +
      `${leader.term}`}); a leader abandons a transfer the target cannot complete within an ` +
    "election timeout", { target });
}
