/**
 * The chaos run's own part of the report (issue 12), after the checkers' verdict: the command
 * that reproduces the run, what the clients saw (failures by cause), the unavailability each
 * fault caused, and the elections the nodes reported. Pure: built from the history, the fault
 * spans and the events already collected; formatted as text and kept as JSON in report.json.
 */
import type { FaultSpan } from "../verify/fault-spans.js";
import type { PairedOperation } from "../verify/history.js";
import type { ReproduceCommand } from "./chaos-command.js";
import {
  failuresByCause, unavailabilityPerFault, type ErrorCount, type FailureBreakdown,
  type FaultUnavailability,
} from "./chaos-outcomes.js";
import type { ElectionCounts, LeaderSpan } from "./raft-event-collector.js";

export interface ChaosSummary {
  readonly reproduce: ReproduceCommand;
  readonly outcomes: FailureBreakdown;
  readonly faults: readonly FaultUnavailability[];
  /** null when no node served its events (a cluster of an older build, when attached). */
  readonly elections: ElectionCounts | null;
  /** Who led in which term, in milliseconds since the history started. */
  readonly leaders: readonly LeaderSpan[];
}

export interface ChaosSummaryInput {
  readonly reproduce: ReproduceCommand;
  readonly operations: readonly PairedOperation[];
  readonly spans: readonly FaultSpan[];
  readonly elections: ElectionCounts | null;
  readonly leaders: readonly LeaderSpan[];
}

export function buildChaosSummary(input: ChaosSummaryInput): ChaosSummary {
  return {
    reproduce: input.reproduce,
    outcomes: failuresByCause(input.operations),
    faults: unavailabilityPerFault(input.operations, input.spans),
    elections: input.elections,
    leaders: input.leaders,
  };
}

/** How many leaderships the text lists (the JSON keeps them all). */
export const leadersShownMax = 30;

export function formatChaosSummary(summary: ChaosSummary): string {
  const lines = [
    `Reproduce: ${summary.reproduce.command}`,
    ...(summary.reproduce.note === null ? [] : [`  (${summary.reproduce.note})`]),
    "  (the seed fixes the workload's and the nemesis's choices; the timing is the machine's)",
    "",
    ...formatOutcomes(summary.outcomes),
    "",
    ...formatElections(summary.elections, summary.leaders),
    "",
    ...formatFaults(summary.faults),
  ];
  return lines.join("\n") + "\n";
}

function errorList(rows: readonly ErrorCount[]): string {
  if (rows.length === 0) return "none";
  return rows.map((row) => `${row.error} ${[row.fail > 0 ? `${row.fail} fail` : "",
    row.info > 0 ? `${row.info} info` : ""].filter((part) => part !== "").join(" + ")}`)
    .join(", ");
}

function formatOutcomes(outcomes: FailureBreakdown): string[] {
  const total = outcomes.ok + outcomes.fail + outcomes.info;
  return [
    `Outcomes: ${total} operations: ${outcomes.ok} ok, ${outcomes.fail} fail (did not happen), ` +
      `${outcomes.info} info (unknown)`,
    `  rejected by the store: ${outcomes.rejected}: ` +
      errorList(outcomes.errors.filter((row) => row.cause === "rejected")),
    `  unavailable (not served): ${outcomes.unavailable}: ` +
      errorList(outcomes.errors.filter((row) => row.cause === "unavailable")),
  ];
}

function countList(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length === 0 ? "none" : entries.map(([key, count]) => `${key} ${count}`)
    .join(", ");
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

function formatElections(elections: ElectionCounts | null, leaders: readonly LeaderSpan[]):
  string[] {
  if (elections === null) {
    return ["Elections: not known (no node served GET /v1/cluster/events)"];
  }
  const terms = elections.firstTerm === null ? "" : elections.firstTerm === elections.lastTerm
    ? ` (term ${elections.firstTerm})` : ` (terms ${elections.firstTerm}-${elections.lastTerm})`;
  const lines = [
    `Elections (from the nodes' Raft events): ${count(elections.leadersElected, "leader")} ` +
      `elected${terms}: ${countList(elections.byNode)}`,
    `  ${count(elections.campaigns, "campaign")}, ${count(elections.preVotes, "pre-vote")}, ` +
      `${count(elections.checkQuorumStepDowns, "CheckQuorum step-down")}; votes refused: ` +
      countList(elections.refusals),
  ];
  const gaps = [
    elections.missed > 0 ? `${elections.missed} events dropped by the nodes' rings` : "",
    elections.unannouncedRestarts > 0
      ? `${elections.unannouncedRestarts} unannounced restarts` : "",
    elections.dropped > 0 ? `${elections.dropped} old records dropped to bound memory` : "",
  ].filter((part) => part !== "");
  if (gaps.length > 0) lines.push(`  (incomplete: ${gaps.join(", ")})`);
  const shown = leaders.slice(-leadersShownMax);
  if (shown.length > 0) {
    lines.push(`  leaders (term node from-to s${shown.length < leaders.length
      ? `, the last ${shown.length} of ${leaders.length}` : ""}): ` +
      shown.map((span) => `t${span.term} ${span.node} ${seconds(span.fromMs)}-` +
        seconds(span.toMs)).join(", "));
  }
  return lines;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] as number
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** "412 ms (buy ok via n2, during the fault)", or that no write was answered after it. */
export function describeFirstAck(fault: FaultUnavailability): string {
  const ack = fault.firstAck;
  if (ack === null || fault.unavailableMs === null) return "no write answered after it";
  return `${fault.unavailableMs.toFixed(0)} ms (${ack.f} ` +
    `${ack.refusal === null ? "ok" : `refused: ${ack.refusal}`} via ${ack.node ?? "?"}, ` +
    (ack.duringFault ? "during the fault)"
      : `${seconds((ack.atNs - fault.endNs) / 1e6)} s after it healed)`);
}

/** "1 fault", "2 faults". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function formatFaults(faults: readonly FaultUnavailability[]): string[] {
  if (faults.length === 0) return ["Unavailability per fault: no fault injected"];
  const lines = ["Unavailability per fault (from its start to the first write invoked after " +
    "it that the store answered, ok or refused):"];
  for (const fault of faults) {
    const failed = countList(fault.failedWrites);
    lines.push(`  F${fault.fault} at ${seconds(fault.startNs / 1e6)} s, ${fault.label}: ` +
      describeFirstAck(fault) + (failed === "none" ? "" : `; not served before: ${failed}`));
  }
  const kinds = [...new Set(faults.map((fault) => fault.kind))];
  for (const kind of kinds) {
    const ofKind = faults.filter((fault) => fault.kind === kind);
    const measured = ofKind.flatMap((fault) => fault.unavailableMs ?? []);
    const never = ofKind.length - measured.length;
    lines.push(`  ${kind}: ${count(ofKind.length, "fault")}` + (measured.length === 0 ? "" :
      `, median ${median(measured).toFixed(0)} ms, max ${Math.max(...measured).toFixed(0)} ms`) +
      (never > 0 ? `, ${never} with no write answered after it` : ""));
  }
  return lines;
}
