import type { NodeId, RaftMessage } from "../raft/index.js";
import {
  linkFaults, linkRuleError, noFaults, type LinkFaults, type LinkRule,
} from "../wire/link-rules.js";
import type { Transport } from "./transport.js";

// The rules' format, check and combination are the wire's (src/wire/link-rules.ts): the admin
// API, the partition plans and the live view write them too.
export {
  linkFaults, linkRuleError, type LinkEnd, type LinkFaults, type LinkRule,
} from "../wire/link-rules.js";

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
