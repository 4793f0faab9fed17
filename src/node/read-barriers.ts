import type { Ready } from "../raft/index.js";
import type { DriverContext } from "./driver-context.js";
import type { ReadBarrierOutcome } from "./node-service.js";
import { Waiters } from "./waiters.js";

/**
 * Read barriers: linearizable reads by ReadIndex (thesis §6.4), on the leader and on
 * followers alike. A read asks the core for a read index under a fresh context; the leader
 * confirms its leadership with a heartbeat round and answers with its commit index
 * (Ready.readStates); the read is served once this node has applied up to that index, from
 * its own state. It owns the read waiters and the confirmed reads waiting for the apply.
 *
 * Invariants: a context is never reused, not even across restarts (the boot id), so that a
 * delayed answer to an old read is never taken for a new one's; a read is answered ready only
 * at an applied index at or above its read index; every waiter is settled exactly once
 * (Waiters), and their number is bounded.
 */
export class ReadBarriers {
  private readonly waiters: Waiters<string, ReadBarrierOutcome>;
  /** Reads confirmed by the leader, waiting for this node to apply up to their index. */
  private readonly awaitingApply: { index: number; context: string }[] = [];
  private sequence = 0;

  /** `bootId`: unique to this start of the node. */
  constructor(private readonly context: DriverContext, private readonly bootId: string,
    waitersMax: number, private readonly timeoutMs: number) {
    this.waiters = new Waiters(waitersMax, context.scheduler);
  }

  /** Resolves once this node has applied every write acknowledged before the call. */
  barrier(): Promise<ReadBarrierOutcome> {
    if (this.waiters.full()) return Promise.resolve({ kind: "overloaded" });
    // A fresh context per attempt, unique across restarts too (the boot id): a delayed answer
    // to a read from before a restart must never be taken for a new read's.
    const readContext = `${this.context.id}:${this.bootId}:${++this.sequence}`;
    const result = this.context.node.readIndex(readContext);
    if (result.kind === "noLeader") {
      return Promise.resolve({ kind: "noLeader", leaderId: this.context.leaderId() });
    }
    if (result.kind === "overloaded") return Promise.resolve({ kind: "overloaded" });
    this.context.schedule();
    return this.waiters.wait(readContext, this.timeoutMs, () => ({ kind: "timeout" }));
  }

  /** Takes a Ready's read states and dropped reads, and serves those applied up to. */
  answer(ready: Ready, appliedIndex: number): void {
    for (const dropped of ready.droppedReads) {
      this.waiters.settle(dropped, { kind: "noLeader", leaderId: this.context.leaderId() });
    }
    for (const read of ready.readStates) {
      this.awaitingApply.push({ index: read.index, context: read.context });
    }
    // Serve each confirmed read once this node has applied up to its read index.
    for (let k = this.awaitingApply.length - 1; k >= 0; k--) {
      const read = this.awaitingApply[k]!;
      if (read.index > appliedIndex && this.waiters.has(read.context)) continue;
      this.awaitingApply.splice(k, 1);
      this.waiters.settle(read.context, { kind: "ready", appliedIndex });
    }
  }

  /** The node stops: no leader will confirm these. */
  stop(): void {
    this.waiters.settleAll({ kind: "noLeader", leaderId: null });
  }
}
