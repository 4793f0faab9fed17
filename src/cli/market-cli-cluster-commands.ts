/**
 * market-cli's commands about the cluster itself: cluster status|events|watch,
 * member list|add|promote|remove (cli-members.ts),
 * leader and leader transfer. The ones that diagnose (status, member list, leader) turn what
 * every node said into the exit code (cli-diagnosis.ts); events and watch are in
 * cli-cluster-live.ts, the transfer in cli-leader-transfer.ts.
 */
import { InvalidArgumentError, type Command } from "commander";
import { action } from "./cli-action.js";
import { runClusterEvents, runClusterWatch, followIntervalMs } from "./cli-cluster-live.js";
import { findLeader, memberRows } from "./cli-cluster-view.js";
import { diagnose } from "./cli-diagnosis.js";
import { runLeaderTransfer } from "./cli-leader-transfer.js";
import {
  runMemberAdd,
  runMemberListAdmin,
  runMemberPromote,
  runMemberRemove,
  type AddOptions,
} from "./cli-members.js";
import { clusterStatusTable, renderTable, statusRowsJson } from "./cli-output.js";
import {
  diagnosisFailure as failure,
  durationMs,
  exitCodes,
  idOfEndpoint,
  noNodeAnswered,
  nonNegativeInteger,
  type CliSession,
} from "./cli-session.js";

/** The shortest `cluster watch --interval`: every node is asked at each refresh. */
const watchIntervalMsMin = 100;

export function registerCluster(program: Command, session: CliSession): void {
  const cluster = program.command("cluster")
    .description("inspect the cluster: status, Raft events, a live table");
  registerStatus(cluster, session);
  cluster.command("events")
    .description("the recent Raft events of every node (elections, votes, role changes, " +
      "snapshots...), merged by time")
    .option("--follow", `keep asking every node (every ${followIntervalMs} ms) and print new ` +
      "events as they come, until Ctrl-C (or --timeout)")
    .option("--since <seq>", "only events after this seq on each node (each node numbers its " +
      "own events from 1 when it starts; -w json shows them)", nonNegativeInteger)
    .addHelpText("after", `
One line per event: time of day, node, term, last log index, kind and what happened. Each node
keeps its last 1,000 events. -w json prints one JSON object per line. Notes (a node that does
not answer or answers again, a node that restarted) go to stderr. Exit status: 0, or 2 when a
node did not answer (without --follow; the events of the others are printed).`)
    .action(action(async (options) => runClusterEvents(session, options)));
  cluster.command("watch")
    .description("a table of every node refreshed in place: role, term, leader, last log, " +
      "commit and applied index, what changed highlighted")
    .option("--interval <duration>", "time between refreshes: 500ms, 2s...", watchInterval, 500)
    .addHelpText("after", `
Roles are coloured (leader green, candidates yellow, unreachable red) and values that changed
since the last refresh are in inverse video. When stdout is not a terminal, or with -w json,
it prints one table (or one JSON line) per refresh instead. Ctrl-C stops it (exit status 0),
as does --timeout when given.`)
    .action(action(async (options) =>
      runClusterWatch(session, { ...options, interval: options.interval as number })));
  registerMembers(program, session);
  registerLeader(program, session);
}

function watchInterval(text: string): number {
  const ms = durationMs(text);
  if (ms < watchIntervalMsMin) {
    throw new InvalidArgumentError(`"${text}" is shorter than ${watchIntervalMsMin} ms`);
  }
  return ms;
}

function registerStatus(cluster: Command, session: CliSession): void {
  cluster.command("status").description("every node's role, term, leader, indexes and state hash")
    .addHelpText("after", `
Exit status: 0 every node answered and a leader is known; 1 every node answered but none knows
a leader (an election may be under way); 2 a node did not answer (the table shows the others,
and stderr says which nodes and why).`)
    .action(action(async (options) => {
      const { client, choice } = session.connect(options);
      const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
      const idOf = (endpoint: string): string => idOfEndpoint(choice, endpoint, client);
      session.print(options, () => clusterStatusTable(rows, idOf, session.style),
        statusRowsJson(rows));
      const diagnosis = diagnose(rows, idOf, choice.source);
      if (diagnosis.health === "unreachable") {
        throw failure(diagnosis, exitCodes.unavailable, "unreachable");
      }
      if (diagnosis.health === "noLeader") throw failure(diagnosis, exitCodes.error, "no_leader");
    }));
}

function registerMembers(program: Command, session: CliSession): void {
  const member = program.command("member")
    .description("cluster membership: list, add, promote, remove");
  member.command("list").description("the members, with their roles, endpoints and catch-up")
    .addHelpText("after", `
With the cluster's admin token (the cluster file, or RAFTMARKET_ADMIN_TOKEN) it shows the
leader's view: voters and learners, their URLs, the leader's match index for each, and a
joint configuration in progress; without it, the voters each endpoint reports.`)
    .action(action(async (options) => {
      const { client, choice } = session.connect(options);
      const fromStatuses = async (): Promise<void> => {
        const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
        if (rows.every((row) => row.status === null)) throw noNodeAnswered(rows, choice);
        const members = memberRows(rows, (id) => client.endpointOf(id) ??
          choice.nodeEndpoints[id] ?? null);
        session.print(options, () => renderTable(["ID", "ENDPOINT", "ROLE", "TERM", "APPLIED"],
          members.map(({ id, endpoint, status }) => [id, endpoint ?? "-",
            status?.role ?? "unreachable", status === null ? "-" : String(status.term),
            status === null ? "-" : String(status.appliedIndex)]), session.style), members);
      };
      if (choice.adminToken !== null) await runMemberListAdmin(session, options, fromStatuses);
      else await fromStatuses();
    }));
  member.command("add").description("add a node to the cluster (as a learner with --learner)")
    .argument("<id>", "the new node's id: never one the cluster used before")
    .requiredOption("--peer-url <url>", "where the new node will listen for Raft messages")
    .requiredOption("--client-url <url>", "where the new node will serve the client API")
    .option("--learner", "add it as a learner: it receives the log but does not vote until " +
      "member promote", false)
    .option("--data-dir <dir>", "the new node's data folder, for the start command printed")
    .addHelpText("after", `
Then start the node with the printed market-node --join command; it catches up from the
leader. A learner is promoted once it is close to the leader's log (member promote --wait).
Exit status: 0 added; 1 refused (an id in use or used before, an address in use, another
change in flight, a change that would lose the quorum); 2 no leader, or not seen to commit.`)
    .action(action(async (options, id) => runMemberAdd(session, options as unknown as AddOptions, id!)));
  member.command("promote").description("make a learner a voter, once it has caught up")
    .argument("<id>", "the learner")
    .option("--wait", "while the learner is behind, keep trying until it has caught up " +
      "(or --timeout passes)", false)
    .action(action(async (options, id) => runMemberPromote(session, options, id!)));
  member.command("remove").description("remove a node from the cluster; its id is never used again")
    .argument("<id>", "the member to remove (the leader too: it hands over first)")
    .addHelpText("after", `
Refused when the voters left could not form a quorum with the nodes reachable now. The removed
node stops by itself once it learns of the change, and its data folder will not start again.`)
    .action(action(async (options, id) => runMemberRemove(session, options, id!)));
}

function registerLeader(program: Command, session: CliSession): void {
  const leader = program.command("leader").description("the current leader and its endpoint " +
    "(leader transfer: hand leadership to another node)")
    .action(action(async (options) => {
      const { client, choice } = session.connect(options);
      const rows = await client.clusterStatus({ timeoutMs: session.remainingMs() });
      if (rows.every((row) => row.status === null)) throw noNodeAnswered(rows, choice);
      const found = findLeader(rows);
      if (found === null) {
        throw failure(diagnose(rows, (endpoint) => idOfEndpoint(choice, endpoint)),
          exitCodes.unavailable, "no_leader", "no leader: ");
      }
      const endpoint = found.endpoint ?? client.endpointOf(found.leaderId) ??
        choice.nodeEndpoints[found.leaderId] ?? null;
      session.print(options, () => renderTable(["LEADER", "TERM", "ENDPOINT"],
        [[found.leaderId, String(found.term), endpoint ?? "-"]], session.style),
      { ...found, endpoint });
    }));
  leader.command("transfer")
    .description("hand leadership to another voting member and wait until it leads")
    .requiredOption("--to <id>", "the node to become leader")
    .addHelpText("after", `
Sends the leader POST /admin/leadership/transfer with the cluster's admin token
(RAFTMARKET_ADMIN_TOKEN, else tokens.adminToken of the cluster file), then waits, within
--timeout, until the target says it leads. Exit status: 0 it leads; 1 the cluster refused (an
id that is not a voting member, a wrong admin token); 2 the cluster could not do it (the
target or the leader unreachable, no leader, or the target did not take over in time); 128
no admin token.`)
    .action(action(async (options) => runLeaderTransfer(session, options,
      options.to as string)));
}
