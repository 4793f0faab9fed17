import { assert } from "../invariant/assert.js";
import type { Entry } from "../raft/index.js";
import type { DriverContext } from "./driver-context.js";
import type { SubmitOutcome } from "./node-service.js";
import { Waiters } from "./waiters.js";

/**
 * Proposals: the leader's own writes, each waiting by its log index until the entry there is
 * applied here (the driver's submit() proposes, the loop applies and calls answer()). It owns
 * their waiters and the term each was accepted in, and decides each write's outcome:
 *   - applied, with the state machine's result, when the entry applied at its index is the one
 *     it proposed (same index and term: Log Matching, Raft §5.3);
 *   - unknown when another entry took its index (a new leader's log replaced ours, §5.3), or a
 *     snapshot from the leader replaced the log below it: the client retries with the same
 *     requestId, which the state machine's session table keeps exactly-once;
 *   - timeout when neither happened in time (the proposal was dropped on the way).
 * Invariants: every waiter is settled exactly once (Waiters); while the node runs, an index
 * has a term in `terms` exactly when it has a waiter. Bounded by the waiters' maximum.
 */
export class Proposals<Result> {
  private readonly waiters: Waiters<number, SubmitOutcome<Result>>;
  /** The term each waiting proposal was accepted in, and when: see answer(). */
  private readonly terms = new Map<number, { term: number; startedMs: number }>();

  constructor(private readonly context: DriverContext, waitersMax: number,
    private readonly timeoutMs: number) {
    this.waiters = new Waiters(waitersMax, context.scheduler);
  }

  full(): boolean {
    return this.waiters.full();
  }

  /**
   * Waits for the entry the core accepted at `index` in `term` to be applied here, and asks
   * for the loop pass that persists it.
   */
  wait(index: number, term: number): Promise<SubmitOutcome<Result>> {
    // A waiter already at this index belongs to an entry of an earlier term that our own log
    // has since replaced: that write will never apply here. Settle it before taking the index,
    // or it would be answered with this proposal's result.
    if (this.waiters.has(index)) {
      this.context.metrics.proposals.inc({ outcome: "lost" });
      this.settle(index, { kind: "unknown", leaderId: this.context.leaderId() });
    }
    this.terms.set(index, { term, startedMs: this.context.scheduler.nowMs() });
    // The entry is in the core's next Ready: a loop pass persists and replicates it.
    this.context.schedule();
    return this.waiters.wait(index, this.timeoutMs, () => {
      this.terms.delete(index);
      this.context.metrics.proposals.inc({ outcome: "timeout" });
      return { kind: "timeout" };
    });
  }

  /** Whether a write of this node waits for `entry` (its index, in its term). */
  awaits(entry: Entry): boolean {
    return this.terms.get(entry.index)?.term === entry.term;
  }

  /** Answers the proposal waiting at `entry`'s index, if any, now that the entry is applied. */
  answer(entry: Entry, result: Result | null): void {
    const proposal = this.terms.get(entry.index);
    if (proposal === undefined) return;
    if (proposal.term === entry.term && result !== null) {
      const { metrics, scheduler } = this.context;
      metrics.commitLatencySeconds.observe((scheduler.nowMs() - proposal.startedMs) / 1000);
      metrics.proposals.inc({ outcome: "applied" });
      this.settle(entry.index, { kind: "applied", result, index: entry.index });
    } else {
      // Another entry committed at this index: ours never will. The outcome is unknown to the
      // client only in that it must retry; the requestId keeps the retry exactly-once.
      this.context.metrics.proposals.inc({ outcome: "lost" });
      this.settle(entry.index, { kind: "unknown", leaderId: this.context.leaderId() });
    }
  }

  /**
   * A snapshot from the leader replaced the log up to `index`: the writes waiting at or below
   * it are settled by the state it carries (the session table answers a retry with the same
   * requestId).
   */
  settleUpTo(index: number): void {
    for (const waiting of this.waiters.keysUpTo(index)) {
      this.settle(waiting, { kind: "unknown", leaderId: this.context.leaderId() });
    }
  }

  /** The node stops: nobody will learn whether these commit. */
  stop(): void {
    this.waiters.settleAll({ kind: "unknown", leaderId: null });
  }

  private settle(index: number, outcome: SubmitOutcome<Result>): void {
    // The pairing the class keeps (see above): a term without a waiter would answer nobody,
    // a waiter without a term could be answered with another write's result.
    if (!this.terms.has(index) || !this.waiters.has(index)) {
      assert(false, `proposal at ${index}: term ${this.terms.has(index) ? "held" : "missing"}, ` +
        `waiter ${this.waiters.has(index) ? "held" : "missing"}`);
    }
    this.terms.delete(index);
    this.waiters.settle(index, outcome);
  }
}
