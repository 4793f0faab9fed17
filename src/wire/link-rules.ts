/**
 * The network fault rules of `/admin/faults` (docs/DESIGN.md §3): their format, the check the
 * admin API answers a bad rule with, and how the rules that match a directed link combine. The
 * node's FaultyTransport applies them (transport/faulty-transport.ts); the partition plans
 * (cluster/partitions.ts) and the live view (dashboard/) write and read them.
 */
import type { NodeId } from "../raft/index.js";

/** One end of a directed link: a node id, or "*" for any node. */
export type LinkEnd = NodeId | "*";

/**
 * A fault on the directed links `from -> to` (both default to "*"). Every rule that matches a
 * link applies, combined: `drop` if any says so, rates as independent chances
 * (1 - (1 - a)(1 - b)), delays and jitters added. A rule with no fault field does nothing.
 */
export interface LinkRule {
  readonly from?: LinkEnd;
  readonly to?: LinkEnd;
  /** Drop everything: a partition of this direction. */
  readonly drop?: boolean;
  /** The chance, in [0, 1], that a message is dropped. */
  readonly dropRate?: number;
  /** Milliseconds every message is held back. */
  readonly delayMs?: number;
  /** Extra milliseconds, uniform in [0, jitterMs), per message: delayed messages may reorder. */
  readonly jitterMs?: number;
  /** The chance, in [0, 1], that a message is delivered twice. */
  readonly duplicateRate?: number;
}

/** The faults on one directed link: every matching rule combined (see LinkRule). */
export interface LinkFaults {
  readonly drop: boolean;
  readonly dropRate: number;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly duplicateRate: number;
}

/** A link no rule touches. */
export const noFaults: LinkFaults = { drop: false, dropRate: 0, delayMs: 0, jitterMs: 0,
  duplicateRate: 0 };

/** Why `rule` is invalid, or null. For the admin API to report before setRules. */
export function linkRuleError(rule: LinkRule): string | null {
  for (const end of ["from", "to"] as const) {
    const value: unknown = rule[end];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
      return `${end} must be a node id or "*"`;
    }
  }
  if (rule.drop !== undefined && typeof rule.drop !== "boolean") return "drop must be a boolean";
  for (const name of ["dropRate", "duplicateRate"] as const) {
    const value: unknown = rule[name];
    if (value !== undefined && !(typeof value === "number" && value >= 0 && value <= 1)) {
      return `${name} must be a number in [0, 1]`;
    }
  }
  for (const name of ["delayMs", "jitterMs"] as const) {
    const value: unknown = rule[name];
    if (value !== undefined &&
      !(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
      return `${name} must be a finite number >= 0`;
    }
  }
  return null;
}

/** The faults that `rules` put on the directed link `from -> to`, every matching rule combined. */
export function linkFaults(rules: readonly LinkRule[], from: NodeId, to: NodeId): LinkFaults {
  let faults = noFaults;
  for (const rule of rules) {
    if (!endMatches(rule.from, from) || !endMatches(rule.to, to)) continue;
    faults = {
      drop: faults.drop || rule.drop === true,
      dropRate: combineChances(faults.dropRate, rule.dropRate ?? 0),
      delayMs: faults.delayMs + (rule.delayMs ?? 0),
      jitterMs: faults.jitterMs + (rule.jitterMs ?? 0),
      duplicateRate: combineChances(faults.duplicateRate, rule.duplicateRate ?? 0),
    };
  }
  return faults;
}

function endMatches(end: LinkEnd | undefined, node: NodeId): boolean {
  return end === undefined || end === "*" || end === node;
}

/** The chance that at least one of two independent events happens. */
function combineChances(first: number, second: number): number {
  return 1 - (1 - first) * (1 - second);
}
