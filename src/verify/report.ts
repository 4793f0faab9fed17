/**
 * The chaos run's verdict, as a JSON object (for tools and CI artifacts) and as text (for a
 * person). A run fails (exit 1) on any violation: a non-linearizable item or a broken
 * invariant. An item whose search gave up ("unknown") is reported prominently but is not a
 * violation unless `unknownIsViolation` is set.
 */
import { describeViolation, type InvariantResult } from "./invariants.js";
import {
  describeOperation, type ItemVerdict, type LinearizabilityResult,
} from "./linearizability.js";

export interface CheckReport {
  readonly ok: boolean;
  /** Run metadata supplied by the runner (seed, duration, nemesis...), echoed verbatim. */
  readonly meta: Readonly<Record<string, unknown>>;
  readonly operationCount: number;
  readonly linearizability: LinearizabilityResult;
  readonly invariants: InvariantResult;
  readonly unknownIsViolation: boolean;
}

export interface BuildReportInput {
  readonly linearizability: LinearizabilityResult;
  readonly invariants: InvariantResult;
  readonly operationCount: number;
  readonly meta?: Readonly<Record<string, unknown>>;
  readonly unknownIsViolation?: boolean;
}

export function buildReport(input: BuildReportInput): CheckReport {
  const unknownIsViolation = input.unknownIsViolation ?? false;
  const verdict = input.linearizability.linearizable;
  const linearizableOk = verdict === true || (verdict === "unknown" && !unknownIsViolation);
  return {
    ok: linearizableOk && input.invariants.ok,
    meta: input.meta ?? {},
    operationCount: input.operationCount,
    linearizability: input.linearizability,
    invariants: input.invariants,
    unknownIsViolation,
  };
}

/** 1 on any violation, else 0. */
export function exitCodeFor(report: CheckReport): 0 | 1 {
  return report.ok ? 0 : 1;
}

/** A JSON-safe copy (the report holds only plain data, so this is a deep clone). */
export function reportJson(report: CheckReport): string {
  return JSON.stringify(report, null, 2);
}

export function formatReport(report: CheckReport): string {
  const lines: string[] = [];
  lines.push(`raftmarket check: ${report.ok ? "PASS" : "FAIL"}`);
  for (const [key, value] of Object.entries(report.meta)) {
    lines.push(`  ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  lines.push(`  operations: ${report.operationCount}`);
  lines.push("");
  lines.push(`Linearizability (per item): ${verdictText(report.linearizability.linearizable)}`);
  for (const item of report.linearizability.items) lines.push(...formatItemVerdict(item));
  lines.push("");
  const invariants = report.invariants;
  lines.push(`Invariants: ${invariants.ok ? "all hold" : `${invariants.violations.length} ` +
    "violation(s)"}`);
  for (const violation of invariants.violations) lines.push(`  ! ${describeViolation(violation)}`);
  for (const item of invariants.items) {
    lines.push(`  ${item.sku}: initial ${item.initial ?? "absent"}, +${item.addedOk} ok ` +
      `(+${item.addedInfo} info), -${item.soldOk} sold ok (-${item.soldInfo} info), ` +
      (item.cancelledOk + item.cancelledInfo > 0 ? `+${item.cancelledOk} cancelled ok ` +
        `(+${item.cancelledInfo} info), ` : "") + "final " +
      `${item.final === undefined ? "unknown" : item.final ?? "absent"}`);
  }
  lines.push(`  acknowledged orders: ${invariants.acknowledgedOrderCount}` +
    (invariants.ordersChecked ? " (checked)" : " (not checked)"));
  return lines.join("\n") + "\n";
}

function verdictText(verdict: boolean | "unknown"): string {
  if (verdict === "unknown") return "UNKNOWN (a search gave up; see below)";
  return verdict ? "linearizable" : "NOT LINEARIZABLE";
}

/** How many steps of a long linearizable prefix the text shows (the JSON keeps them all). */
export const prefixStepsShownMax = 20;

/** One item's verdict as indented lines: the head line, then what went wrong. */
export function formatItemVerdict(item: ItemVerdict): string[] {
  const head = `  ${item.sku}: ${item.operationCount} ops, ${item.steps} steps: `;
  if (item.linearizable === true) return [head + "linearizable"];
  if (item.linearizable === "unknown") return [head + `UNKNOWN: ${item.reason}`];
  const explanation = item.explanation;
  const lines = [head + "NOT LINEARIZABLE", `    ${explanation.message}`];
  const prefix = explanation.longestPrefix;
  const shown = prefix.slice(-prefixStepsShownMax);
  lines.push(shown.length === prefix.length ? "    longest linearizable prefix:"
    : `    longest linearizable prefix (its last ${shown.length} of ${prefix.length} steps):`);
  for (const step of shown) {
    lines.push(`      ${describeOperation(step.operation)} -> ` +
      `${step.stateAfter === null ? "absent" : step.stateAfter}`);
  }
  lines.push(`    blocked: ${describeOperation(explanation.blockedOperation)}`);
  return lines;
}
