import type { Entry, NodeId, RaftMessage } from "../raft/index.js";
import type { Transport } from "../transport/transport.js";
import type { DriverContext } from "./driver-context.js";
import type { SubmitOutcome } from "./node-service.js";
import { Waiters } from "./waiters.js";

/** Forwarded writes per propose message: bounds the message, as appends are bounded. */
const forwardBatchMax = 256;

/**
 * Forwarding: a follower's writes, sent to the leader inside the Raft traffic (the writes of
 * one loop pass in one message, beside the appends' answers; no HTTP request of its own at the
 * leader), and answered when this node applies the entry, with the result its own state
 * machine computes: the same as the leader's, since every replica applies the same log. The
 * waiter is keyed by the request without its time, which the leader restamps
 * (StateMachine.requestKeyOf). If the leader changes, or a snapshot replaces the log, before
 * the entry is applied here, the outcome is unknown at once (a retry with the same requestId
 * applies at most once); a proposal lost otherwise (a dropped peer request) times out.
 *
 * It owns the forwarded waiters, the queue of writes not yet sent and the last leader they
 * went to. Invariants: one waiter per request key; every forward sent and not yet answered
 * went to lastKnownLeader (flush() sends only while the core's leader is the loop's, and the
 * loop abandons the forwards of an old leader before it notes a new one); the queue and the
 * waiters are bounded by `pendingMax`.
 */
export class Forwarding<Result> {
  private readonly waiters: Waiters<string, SubmitOutcome<Result>>;
  /** Forwarded writes not yet sent: in batches at the end of this event-loop turn. */
  private queue: { readonly key: string; readonly data: string }[] = [];
  /** Whether a scheduleFlush() is waiting for the end of this event-loop turn. */
  private flushPending = false;
  /** The last leader known (never null once one was): every pending forward went to it. */
  private lastKnownLeader: NodeId | null = null;

  /** `keyOf`: the request key of an entry's data (StateMachine.requestKeyOf). */
  constructor(private readonly context: DriverContext, private readonly transport: Transport,
    private readonly keyOf: (data: string) => string | null,
    private readonly pendingMax: number, private readonly timeoutMs: number) {
    this.waiters = new Waiters(pendingMax, context.scheduler);
  }

  /** Forwards the write `data`, keyed `key`, and waits for it to be applied here. */
  submit(key: string, data: string): Promise<SubmitOutcome<Result>> {
    const { metrics, scheduler } = this.context;
    if (this.waiters.full()) {
      metrics.proposals.inc({ outcome: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    // The same request already in flight here (a client retrying before its first answer):
    // one waiter per request, so this one cannot be told apart; the client retries.
    if (this.waiters.has(key)) {
      return Promise.resolve({ kind: "unknown", leaderId: this.context.leaderId() });
    }
    // Bounded even while the loop is held up: queued items whose waiters timed out still count.
    if (this.queue.length >= this.pendingMax) {
      metrics.proposals.inc({ outcome: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    this.queue.push({ key, data });
    this.scheduleFlush();
    this.context.schedule();
    const startedMs = scheduler.nowMs();
    return this.waiters.wait(key, this.timeoutMs, () => {
      metrics.proposals.inc({ outcome: "timeout" });
      return { kind: "timeout" };
    }).then((outcome) => {
      if (outcome.kind === "applied") {
        metrics.commitLatencySeconds.observe((scheduler.nowMs() - startedMs) / 1000);
        metrics.proposals.inc({ outcome: "applied" });
      }
      return outcome;
    });
  }

  /** Whether writes wait to be sent: the loop runs again for them. */
  hasQueued(): boolean {
    return this.queue.length > 0;
  }

  /**
   * Sends queued forwarded writes to the leader, at most forwardBatchMax per propose message
   * (built by the core, sent here directly; at a loop pass or between passes). Only while
   * the core's leader is the one the driver has noted: after a change, the Ready that reports
   * it is handled first (abandoning what went to the old leader, after applying what it
   * committed), so that every pending forward went to lastKnownLeader.
   */
  flush(): void {
    if (this.queue.length === 0) return;
    const node = this.context.node;
    if (node.role !== "leader" && node.leaderId !== this.context.leaderId()) return;
    // Items whose client already had its answer (a timeout) are not sent.
    const live = this.queue.filter((item) => this.waiters.has(item.key));
    this.queue = [];
    const messages: RaftMessage[] = [];
    for (let start = 0; start < live.length; start += forwardBatchMax) {
      const batch = live.slice(start, start + forwardBatchMax);
      const result = node.forwardMessage(batch.map((item) => item.data));
      if (result.kind === "forwarded") {
        messages.push(result.message);
        continue;
      }
      // No leader now, or this node leads: this batch was not sent by this call.
      for (const item of batch) {
        this.waiters.settle(item.key, { kind: "notLeader", leaderId: null });
      }
    }
    // Sent at once, not in the next Ready: a propose waits for no fsync (mayPrecedePersist).
    if (messages.length > 0) this.transport.send(messages);
  }

  /**
   * The loop noted a leader (a change, to a known one). Losing sight of the leader is not
   * enough to abandon the forwards (it may be back in a moment, as after one of its pauses);
   * another leader is.
   */
  noteLeader(leaderId: NodeId): void {
    if (this.lastKnownLeader !== null && leaderId !== this.lastKnownLeader) this.abandon();
    this.lastKnownLeader = leaderId;
  }

  /**
   * Another leader took over, or a snapshot replaced the log: writes forwarded earlier may or
   * may not be applied, and this node can no longer tell which by waiting. Queued ones, not
   * sent yet, stay queued for the new leader.
   */
  abandon(): void {
    const queued = new Set(this.queue.map((item) => item.key));
    this.waiters.settleWhere((key) => !queued.has(key),
      { kind: "unknown", leaderId: this.context.leaderId() });
  }

  /** Answers the forwarded write `entry` carries, if any, now that the entry is applied. */
  answer(entry: Entry, result: Result | null): void {
    if (result === null || this.waiters.size() === 0) return;
    const key = this.keyOf(entry.data);
    if (key !== null) this.waiters.settle(key, { kind: "applied", result, index: entry.index });
  }

  /** The node stops: nobody will learn whether these commit. */
  stop(): void {
    this.waiters.settleAll({ kind: "unknown", leaderId: null });
  }

  /**
   * Forwards the writes queued in this turn of the event loop at its end, even while a loop
   * pass waits for its fsync: a follower under load is nearly always in one, and a forward
   * that waited for it would add an fsync to every forwarded write's latency.
   */
  private scheduleFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    this.context.scheduler.setImmediate(() => {
      this.flushPending = false;
      if (this.context.running()) this.flush();
    });
  }
}
