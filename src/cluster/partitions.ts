/**
 * Network partitions as plans of FaultyTransport rules: the pure half of the partition scripts
 * (scripts/partition.ts), reusable by a chaos runner, with the sentences, the warning for a
 * delay that costs elections and the matrix of who reaches whom that the script prints. planPartition computes, for one command,
 * the complete rule set of every node; the caller PUTs each node its rules through the admin
 * API. Since a plan is the whole state and not a change, applying a command twice gives the same
 * state, and a new command replaces whatever the previous one did.
 *
 * A cut link is written as drop rules in both directions on both of its ends. The sender applies
 * its outgoing drop and the receiver, with FaultyTransport's default "partition" incoming
 * faults, drops on receipt too. A cut therefore holds even when one end missed its PUT (it was
 * paused, or restarted with no rules). Delays are written the same way, but only the sender
 * applies them, so they never count twice.
 */
import type { NodeId } from "../raft/index.js";
import { linkFaults, type LinkRule } from "../wire/link-rules.js";

export type PartitionCommand =
  /** `node` can reach no other node, and none can reach it. */
  | { readonly kind: "isolate"; readonly node: NodeId }
  /** Two halves that cannot reach each other; every node is in exactly one. */
  | { readonly kind: "split"; readonly halves: readonly [readonly NodeId[], readonly NodeId[]] }
  /** In config order, each node reaches only its two neighbours (the last wraps to the first). */
  | { readonly kind: "ring" }
  /** Two halves that reach each other only through `bridge` (default: the middle node). */
  | { readonly kind: "bridge"; readonly bridge?: NodeId }
  /** Every message to and from `node` is held back delayMs plus up to jitterMs; nothing cut. */
  | { readonly kind: "delay"; readonly node: NodeId; readonly delayMs: number;
    readonly jitterMs: number }
  /** No rules anywhere. */
  | { readonly kind: "heal" };

/** A command that cannot apply to the cluster (an unknown node, halves that do not cover it). */
export class PartitionError extends Error {
  override readonly name = "PartitionError";
}

/** The jitter of `delay` when none is given, as a fraction of the delay. */
export const delayJitterFractionDefault = 0.1;

/** Who is on which side of a bridge: `left` and `right` reach each other only via `bridge`. */
export interface BridgeLayout {
  readonly left: readonly NodeId[];
  readonly bridge: NodeId;
  readonly right: readonly NodeId[];
}

/**
 * The rules every node of `nodes` (the cluster, in config order) must hold for `command`: one
 * entry per node, an empty array for a node with no rule. Throws PartitionError.
 */
export function planPartition(command: PartitionCommand, nodes: readonly NodeId[]):
  Map<NodeId, LinkRule[]> {
  validateNodes(nodes);
  if (command.kind === "delay") return planDelay(command, nodes);
  const reaches = reachability(command, nodes);
  const plan = new Map<NodeId, LinkRule[]>(nodes.map((node) => [node, []]));
  for (const [k, first] of nodes.entries()) {
    for (const second of nodes.slice(k + 1)) {
      if (reaches(first, second)) continue;
      const cut: LinkRule[] = [{ from: first, to: second, drop: true },
        { from: second, to: first, drop: true }];
      plan.get(first)?.push(...cut);
      plan.get(second)?.push(...cut);
    }
  }
  return plan;
}

/** Whether two distinct nodes can talk under a command that only cuts links. */
function reachability(command: Exclude<PartitionCommand, { kind: "delay" }>,
  nodes: readonly NodeId[]): (first: NodeId, second: NodeId) => boolean {
  switch (command.kind) {
    case "heal":
      return () => true;
    case "isolate":
      requireMember(command.node, nodes);
      return (first, second) => first !== command.node && second !== command.node;
    case "split": {
      const [left] = validateHalves(command.halves, nodes);
      const inLeft = new Set(left);
      return (first, second) => inLeft.has(first) === inLeft.has(second);
    }
    case "ring": {
      const count = nodes.length;
      const position = new Map(nodes.map((node, k) => [node, k]));
      return (first, second) => {
        const distance = Math.abs((position.get(first) ?? 0) - (position.get(second) ?? 0));
        return distance === 1 || distance === count - 1;
      };
    }
    case "bridge": {
      const layout = bridgeLayout(nodes, command.bridge);
      const inLeft = new Set(layout.left);
      const inRight = new Set(layout.right);
      return (first, second) => !((inLeft.has(first) && inRight.has(second)) ||
        (inRight.has(first) && inLeft.has(second)));
    }
    default:
      return assertNever(command);
  }
}

function planDelay(command: Extract<PartitionCommand, { kind: "delay" }>,
  nodes: readonly NodeId[]): Map<NodeId, LinkRule[]> {
  requireMember(command.node, nodes);
  if (!(Number.isFinite(command.delayMs) && command.delayMs >= 0)) {
    throw new PartitionError(`bad delay ${command.delayMs}: it must be a finite number >= 0`);
  }
  if (!(Number.isFinite(command.jitterMs) && command.jitterMs >= 0)) {
    throw new PartitionError(`bad jitter ${command.jitterMs}: it must be a finite number >= 0`);
  }
  const fault = { delayMs: command.delayMs, jitterMs: command.jitterMs };
  const plan = new Map<NodeId, LinkRule[]>(nodes.map((node) => [node, []]));
  for (const other of nodes) {
    if (other === command.node) continue;
    const links: LinkRule[] = [{ from: command.node, to: other, ...fault },
      { from: other, to: command.node, ...fault }];
    plan.get(command.node)?.push(...links);
    plan.get(other)?.push(...links);
  }
  return plan;
}

/**
 * The halves of `bridge` on `nodes` (at least 3): the bridge is `bridge` or, by default, the
 * middle node in config order; the other nodes, in config order, fill the left half (the larger
 * one when they are odd in number) and then the right.
 */
export function bridgeLayout(nodes: readonly NodeId[], bridge?: NodeId): BridgeLayout {
  if (nodes.length < 3) {
    throw new PartitionError(`a bridge needs at least 3 nodes (the cluster has ${nodes.length})`);
  }
  const chosen = bridge ?? nodes[Math.floor((nodes.length - 1) / 2)];
  if (chosen === undefined) throw new PartitionError("the cluster has no nodes");
  requireMember(chosen, nodes);
  const others = nodes.filter((node) => node !== chosen);
  const leftCount = Math.ceil(others.length / 2);
  return { left: others.slice(0, leftCount), bridge: chosen, right: others.slice(leftCount) };
}

/** Checks that the halves are non-empty, disjoint, name only members and cover the cluster. */
function validateHalves(halves: readonly [readonly NodeId[], readonly NodeId[]],
  nodes: readonly NodeId[]): readonly [readonly NodeId[], readonly NodeId[]] {
  const seen = new Set<NodeId>();
  for (const half of halves) {
    if (half.length === 0) throw new PartitionError("each half of a split names at least one node");
    for (const node of half) {
      requireMember(node, nodes);
      if (seen.has(node)) throw new PartitionError(`node ${node} is named twice in the split`);
      seen.add(node);
    }
  }
  const missing = nodes.filter((node) => !seen.has(node));
  if (missing.length > 0) {
    throw new PartitionError(`every node must be in one half: ${missing.join(", ")} ` +
      `${missing.length === 1 ? "is" : "are"} in neither`);
  }
  return halves;
}

function validateNodes(nodes: readonly NodeId[]): void {
  if (nodes.length === 0) throw new PartitionError("the cluster has no nodes");
  if (new Set(nodes).size !== nodes.length) throw new PartitionError("duplicate node ids");
}

function requireMember(node: NodeId, nodes: readonly NodeId[]): void {
  if (!nodes.includes(node)) {
    throw new PartitionError(`unknown node "${node}" (nodes are: ${nodes.join(", ")})`);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled partition command ${JSON.stringify(value)}`);
}

/** "80ms", "1.5s" or "250 ms" in milliseconds; throws PartitionError on anything else. */
export function parseDurationMs(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$/.exec(text);
  if (match?.[1] === undefined) {
    throw new PartitionError(`bad duration "${text}": write a number with a unit, like 80ms ` +
      "or 1.5s");
  }
  const value = Number(match[1]);
  return match[2] === "s" ? value * 1000 : value;
}

/** "n1,n2" as a list of ids (a split half, on the command line). */
export function parseNodeList(text: string): NodeId[] {
  return text.split(",").map((node) => node.trim()).filter((node) => node.length > 0);
}

// --- Plain sentences -------------------------------------------------------------------------

/**
 * What a planned command does, in sentences for a person: a summary, then one line per node
 * whose reach changed ("n1 can no longer reach n2, n3.").
 */
export function describePartition(command: PartitionCommand, nodes: readonly NodeId[]):
  string[] {
  const plan = planPartition(command, nodes);
  const lines = [summary(command, nodes)];
  for (const node of nodes) {
    const unreachable = nodes.filter((other) => other !== node && (plan.get(node) ?? [])
      .some((rule) => rule.drop === true && rule.from === node && rule.to === other));
    if (unreachable.length > 0) {
      lines.push(`${node} can no longer reach ${unreachable.join(", ")}.`);
    }
  }
  return lines;
}

function summary(command: PartitionCommand, nodes: readonly NodeId[]): string {
  switch (command.kind) {
    case "heal":
      return "Healed: every node can reach every other, with no delay.";
    case "isolate":
      return `${command.node} is isolated: it can reach no other node and none can reach it; ` +
        `it ${sideNote([command.node], nodes)}.`;
    case "split": {
      const [left, right] = command.halves;
      return `Split into {${left.join(", ")}} and {${right.join(", ")}}: ` +
        `{${left.join(", ")}} ${sideNote(left, nodes)}; {${right.join(", ")}} ` +
        `${sideNote(right, nodes)}.`;
    }
    case "ring":
      if (nodes.length <= 3) {
        return `Ring: with ${nodes.length} node${nodes.length === 1 ? "" : "s"} every node is ` +
          "a ring neighbour of every other, so a ring cuts no link (any previous partition is " +
          "healed).";
      }
      return `Ring ${[...nodes, nodes[0]].join(" - ")}: each node can talk only to its two ` +
        "neighbours.";
    case "bridge": {
      const layout = bridgeLayout(nodes, command.bridge);
      return `Bridge: {${layout.left.join(", ")}} and {${layout.right.join(", ")}} can reach ` +
        `each other only through ${layout.bridge}, which reaches everyone.`;
    }
    case "delay":
      return `Every message to and from ${command.node} is delayed ${command.delayMs} ms plus ` +
        `up to ${command.jitterMs} ms of jitter; no link is cut (any previous partition is ` +
        "healed).";
    default:
      return assertNever(command);
  }
}

/** Whether a side holds a majority of the voters, and so can elect a leader and commit. */
function sideNote(side: readonly NodeId[], nodes: readonly NodeId[]): string {
  const majority = Math.floor(nodes.length / 2) + 1;
  return side.length >= majority
    ? `holds a majority (${side.length} of ${nodes.length}) and can elect a leader and commit`
    : `is a minority (${side.length} of ${nodes.length}) and cannot commit`;
}

/** One rule as a short phrase: "n1 -> n2: drop", "* -> n3: delay 80 ms, jitter 8 ms". */
export function describeRule(rule: LinkRule): string {
  const faults: string[] = [];
  if (rule.drop === true) faults.push("drop");
  if (rule.dropRate !== undefined) faults.push(`drop ${rule.dropRate * 100}%`);
  if (rule.delayMs !== undefined) faults.push(`delay ${rule.delayMs} ms`);
  if (rule.jitterMs !== undefined) faults.push(`jitter ${rule.jitterMs} ms`);
  if (rule.duplicateRate !== undefined) faults.push(`duplicate ${rule.duplicateRate * 100}%`);
  return `${rule.from ?? "*"} -> ${rule.to ?? "*"}: ${faults.length > 0 ? faults.join(", ")
    : "no fault"}`;
}

// --- Warnings and the connectivity matrix ------------------------------------------------------

/** The timing of a cluster file, as far as the election timeout goes. */
export interface ElectionTiming {
  readonly tickIntervalMs: number;
  readonly electionTimeoutTicks: number;
}

/**
 * A warning for a delay long enough to cost elections, or null. A request and its answer each
 * cross the slowed link, so a delay of d each way, plus up to j of jitter, makes a round trip of
 * up to 2(d + j). From half the election timeout T on, that round trip takes T or more, and Raft
 * expects its rounds within T: a leader that has heard from no majority for T steps down
 * (CheckQuorum, thesis §6.2), a candidate whose votes have not come back by its timeout (drawn
 * from [T, 2T)) starts another election, and when the delay starts the slowed node hears
 * nothing for that long. `npm run partition -- delay n2 80ms` at the default timing shows it:
 * the cluster elects a new leader within a second.
 */
export function delayWarning(command: Extract<PartitionCommand, { kind: "delay" }>,
  timing: ElectionTiming): string | null {
  const electionTimeoutMs = timing.electionTimeoutTicks * timing.tickIntervalMs;
  const oneWayMs = command.delayMs + command.jitterMs;
  const roundTripMs = 2 * oneWayMs;
  if (roundTripMs < electionTimeoutMs) return null;
  const each = command.jitterMs === 0 ? `${command.delayMs} ms each way`
    : `${command.delayMs} ms each way, up to ${oneWayMs} ms with jitter,`;
  return `${each} makes a round trip of up to ${roundTripMs} ms between ${command.node} and ` +
    `the others, ${roundTripMs > electionTimeoutMs ? "more than" : "as long as"} the ` +
    `${electionTimeoutMs} ms election timeout (${timing.electionTimeoutTicks} ticks of ` +
    `${timing.tickIntervalMs} ms): votes and CheckQuorum rounds through ${command.node} cannot ` +
    `complete in time, so expect elections. Under ${electionTimeoutMs / 2} ms each way, ` +
    `jitter included, slows ${command.node} without that.`;
}

/**
 * Who reaches whom, from every node's rules (null: the node did not answer): one row per
 * sender, one column per receiver. As FaultyTransport applies them, the sender's rules decide
 * a link's faults and the receiver's rules can cut it too (incoming faults "partition"). A
 * cell is "-" on the diagonal, "cut", "ok", the faults (a delay with its jitter as a range,
 * "80-88ms", "drop 30%", "dup 10%"), or "?" where a node that did not answer holds the answer.
 */
export function connectivityMatrix(nodes: readonly NodeId[],
  rulesByNode: ReadonlyMap<NodeId, readonly LinkRule[] | null>): string[][] {
  return nodes.map((from) => nodes.map((to) => {
    if (from === to) return "-";
    const senderRules = rulesByNode.get(from) ?? null;
    const receiverRules = rulesByNode.get(to) ?? null;
    const cut = (senderRules !== null && linkFaults(senderRules, from, to).drop) ||
      (receiverRules !== null && linkFaults(receiverRules, from, to).drop);
    if (cut) return "cut";
    if (senderRules === null || receiverRules === null) return "?";
    const faults = linkFaults(senderRules, from, to);
    const parts = [
      ...faults.delayMs + faults.jitterMs > 0 ? [faults.jitterMs === 0 ? `${faults.delayMs}ms`
        : `${faults.delayMs}-${faults.delayMs + faults.jitterMs}ms`] : [],
      ...faults.dropRate > 0 ? [`drop ${percent(faults.dropRate)}`] : [],
      ...faults.duplicateRate > 0 ? [`dup ${percent(faults.duplicateRate)}`] : [],
    ];
    return parts.length === 0 ? "ok" : parts.join(", ");
  }));
}

function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}
