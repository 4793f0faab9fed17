import type { NodeId, RaftMessage } from "../raft/index.js";
import type { Transport } from "./transport.js";

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

/**
 * Which faults a node applies to messages it receives. Rules are written per directed link and
 * applied by the sender; "partition" (the default) makes the receiver apply `drop` too, so a
 * partition installed on one side only still cuts the link, while rates and delays, which would
 * count twice when both ends hold the rule, stay with the sender. "all" applies every fault on
 * receipt as well; "none" leaves incoming messages alone.
 */
export type IncomingFaults = "partition" | "all" | "none";

export interface FaultyTransportOptions {
  /** The node this transport belongs to: the `from` of outgoing, the `to` of incoming links. */
  readonly self: NodeId;
  /** A uniform source in [0, 1). Tests inject a deterministic one. */
  readonly random?: () => number;
  /** Messages held back by delays at once; beyond it a delayed message is dropped. */
  readonly delayedMessagesMax?: number;
  readonly incomingFaults?: IncomingFaults;
}

export interface FaultStats {
  readonly messagesDroppedByRule: number;
  readonly messagesDuplicated: number;
  readonly messagesDelayed: number;
  /** Delayed messages dropped because delayedMessagesMax were already held back. */
  readonly messagesDroppedDelayFull: number;
  /** Gauge: messages held back right now. */
  readonly messagesDelayedPending: number;
}

export const delayedMessagesMaxDefault = 10_000;

/** The combined faults of every rule matching one link. */
/** The faults on one directed link: every matching rule combined (see LinkRule). */
export interface LinkFaults {
  readonly drop: boolean;
  readonly dropRate: number;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly duplicateRate: number;
}

const noFaults: LinkFaults = { drop: false, dropRate: 0, delayMs: 0, jitterMs: 0,
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

/**
 * A Transport wrapper that injects network faults per directed link, with rules changed at
 * runtime (the admin API's /admin/faults, the partition scripts, tests). Outgoing messages
 * match `self -> message.to`, incoming ones `message.from -> self` (see IncomingFaults).
 *
 * For each message, in this order and only when the fault is set: a `drop` drops it; one
 * random() draw below dropRate drops it; one draw below duplicateRate sends it twice; one draw
 * per copy scales jitterMs. Messages without delay keep their batch and order; delayed
 * messages with the same delay share one timer and stay in order among themselves.
 */
export class FaultyTransport implements Transport {
  readonly self: NodeId;
  private readonly random: () => number;
  private readonly delayedMessagesMax: number;
  private readonly incomingFaults: IncomingFaults;
  private currentRules: readonly LinkRule[] = [];
  private handler: ((messages: readonly RaftMessage[]) => void) | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private delayedPending = 0;
  private closed = false;
  private counters = { messagesDroppedByRule: 0, messagesDuplicated: 0, messagesDelayed: 0,
    messagesDroppedDelayFull: 0 };

  constructor(readonly inner: Transport, options: FaultyTransportOptions) {
    this.self = options.self;
    this.random = options.random ?? Math.random;
    this.delayedMessagesMax = options.delayedMessagesMax ?? delayedMessagesMaxDefault;
    this.incomingFaults = options.incomingFaults ?? "partition";
    if (!Number.isInteger(this.delayedMessagesMax) || this.delayedMessagesMax < 0) {
      throw new RangeError("delayedMessagesMax must be an integer >= 0");
    }
    inner.onReceive((messages) => this.receive(messages));
  }

  /** Replaces every rule. Throws RangeError, changing nothing, if any rule is invalid. */
  setRules(rules: readonly LinkRule[]): void {
    for (const [position, rule] of rules.entries()) {
      const error = linkRuleError(rule);
      if (error !== null) throw new RangeError(`rule ${position}: ${error}`);
    }
    this.currentRules = rules.map((rule) => Object.freeze({ ...rule }));
  }

  /** Heals every link. Messages already held back by a delay are still delivered. */
  clearRules(): void {
    this.currentRules = [];
  }

  rules(): LinkRule[] {
    return this.currentRules.map((rule) => ({ ...rule }));
  }

  faultStats(): FaultStats {
    return { ...this.counters, messagesDelayedPending: this.delayedPending };
  }

  send(messages: readonly RaftMessage[]): void {
    if (this.closed) return;
    const now = this.applyFaults(messages, (message) => this.faultsFor(this.self, message.to),
      (delayed) => this.inner.send(delayed));
    if (now.length > 0) this.inner.send(now);
  }

  flushNow(): void {
    if (!this.closed) this.inner.flushNow?.();
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.handler = handler;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  /** Cancels every delayed message and closes the inner transport. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.delayedPending = 0;
    await this.inner.close();
  }

  private receive(messages: readonly RaftMessage[]): void {
    if (this.closed) return;
    const now = this.applyFaults(messages, (message) => this.incomingFaultsFor(message),
      (delayed) => this.handler?.(delayed));
    if (now.length > 0) this.handler?.(now);
  }

  private incomingFaultsFor(message: RaftMessage): LinkFaults {
    if (this.incomingFaults === "none") return noFaults;
    const faults = this.faultsFor(message.from, this.self);
    if (this.incomingFaults === "all") return faults;
    return faults.drop ? { ...noFaults, drop: true } : noFaults;
  }

  /** Returns the messages to pass on now; schedules `later` for the delayed ones. */
  private applyFaults(messages: readonly RaftMessage[],
    faultsOf: (message: RaftMessage) => LinkFaults,
    later: (messages: RaftMessage[]) => void): RaftMessage[] {
    const now: RaftMessage[] = [];
    const delayed = new Map<number, RaftMessage[]>();
    for (const message of messages) {
      const faults = faultsOf(message);
      if (faults.drop || (faults.dropRate > 0 && this.random() < faults.dropRate)) {
        this.counters.messagesDroppedByRule++;
        continue;
      }
      let copies = [message];
      if (faults.duplicateRate > 0 && this.random() < faults.duplicateRate) {
        this.counters.messagesDuplicated++;
        copies = [message, { ...message }];
      }
      for (const copy of copies) {
        const jitterMs = faults.jitterMs > 0 ? this.random() * faults.jitterMs : 0;
        const delayMs = faults.delayMs + jitterMs;
        if (delayMs <= 0) {
          now.push(copy);
        } else {
          const group = delayed.get(delayMs);
          if (group === undefined) delayed.set(delayMs, [copy]);
          else group.push(copy);
        }
      }
    }
    for (const [delayMs, group] of delayed) this.hold(delayMs, group, later);
    return now;
  }

  /** Holds `messages` back for `delayMs`, within delayedMessagesMax; the excess is dropped. */
  private hold(delayMs: number, messages: RaftMessage[],
    later: (messages: RaftMessage[]) => void): void {
    const room = Math.max(0, this.delayedMessagesMax - this.delayedPending);
    const kept = messages.length <= room ? messages : messages.slice(0, room);
    this.counters.messagesDroppedDelayFull += messages.length - kept.length;
    if (kept.length === 0) return;
    this.counters.messagesDelayed += kept.length;
    this.delayedPending += kept.length;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.delayedPending -= kept.length;
      if (!this.closed) later(kept);
    }, delayMs);
    this.timers.add(timer);
  }

  private faultsFor(from: NodeId, to: NodeId): LinkFaults {
    return linkFaults(this.currentRules, from, to);
  }
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
