/**
 * Large histories for measuring the checkers, linearizable by construction: a seeded
 * discrete-event simulation of `processCount` clients running the chaos workload's operations
 * against one correct store. Each operation gets a random latency; its effect happens at a
 * random instant strictly inside its interval, in a single global order, so its result is what
 * a linearizable store would answer. An unanswered operation (the rate is an option) ends in
 * info after its latency, or is never completed at all (a client that died), and takes effect
 * with probability 1/2 at a random instant up to three latencies after its call — possibly
 * after the client gave up on it, as a write committed after a timeout does. A client whose
 * operation went unanswered is retired, and its slot goes on under a new process number
 * (DESIGN.md §4).
 *
 * Pure and deterministic for a seed: time is the simulation's own clock, in nanoseconds.
 */
import { SeededRng } from "../raft/rng.js";
import { HistoryRecorder, type HistoryOp, type OpFunction, type OpValue } from "./history.js";

export interface HistoryGeneratorOptions {
  /** Operations invoked in all (the history has about twice as many events). */
  readonly operationCount: number;
  readonly itemCount: number;
  /** The fraction of operations left unanswered, in [0, 1]. */
  readonly unansweredRate: number;
  /** Concurrent clients. */
  readonly processCount: number;
  readonly seed: number;
}

export interface GeneratedHistory {
  readonly ops: HistoryOp[];
  /** The store's stock of each item at the end (null: never created). */
  readonly finalStocks: ReadonlyMap<string, number | null>;
}

/** Operation latency, uniform in [min, max]. */
const latencyNsMin = 200_000;
const latencyNsMax = 5_000_000;
/** A client's pause between two operations, uniform in [0, max). */
const thinkNsMax = 1_000_000;
/** The share of answered operations that fail without looking at the item (no leader). */
const unavailableRate = 0.01;

interface Running {
  readonly process: number;
  readonly slot: number;
  readonly f: OpFunction;
  readonly value: OpValue;
  /** "answer": an ok/fail completion; "info": an info completion; "none": no completion. */
  readonly ending: "answer" | "info" | "none";
  readonly unavailable: boolean;
  result: { type: "ok" | "fail"; value: OpValue } | null;
}

type Action =
  | { readonly kind: "invoke"; readonly slot: number; readonly process: number }
  | { readonly kind: "effect" | "complete"; readonly running: Running };

export function generateHistory(options: HistoryGeneratorOptions): GeneratedHistory {
  return new Simulation(options).run();
}

class Simulation {
  private readonly rng: SeededRng;
  private readonly queue = new ActionQueue();
  private nowNs = 0;
  private readonly recorder = new HistoryRecorder({ now: () => BigInt(this.nowNs) });
  private readonly skus: string[];
  private readonly stocks = new Map<string, number | null>();
  /** What the clients know: items seen to exist, and acknowledged orders not yet cancelled. */
  private readonly knownCreated = new Set<string>();
  private readonly cancellable = new Map<string, { orderId: string; qty: number }[]>();
  private invokedCount = 0;
  private nextProcess: number;
  private orderCount = 0;

  constructor(private readonly options: HistoryGeneratorOptions) {
    this.rng = new SeededRng(options.seed);
    this.skus = Array.from({ length: options.itemCount }, (_, k) => `item-${k}`);
    for (const sku of this.skus) this.stocks.set(sku, null);
    this.nextProcess = options.processCount;
  }

  run(): GeneratedHistory {
    for (let slot = 0; slot < this.options.processCount; slot++) {
      this.queue.push(this.rng.nextInt(thinkNsMax), { kind: "invoke", slot, process: slot });
    }
    for (let next = this.queue.pop(); next !== undefined; next = this.queue.pop()) {
      this.nowNs = next.timeNs;
      const action = next.action;
      if (action.kind === "invoke") this.invoke(action.slot, action.process);
      else if (action.kind === "effect") this.effect(action.running);
      else this.complete(action.running);
    }
    return { ops: [...this.recorder.ops()], finalStocks: new Map(this.stocks) };
  }

  private invoke(slot: number, process: number): void {
    if (this.invokedCount >= this.options.operationCount) return;
    this.invokedCount++;
    const { f, value } = this.chooseOperation();
    const unanswered = this.rng.nextFloat() < this.options.unansweredRate;
    const ending = !unanswered ? "answer" : this.rng.nextInt(5) === 0 ? "none" : "info";
    const running: Running = { process, slot, f, value, ending, result: null,
      unavailable: !unanswered && this.rng.nextFloat() < unavailableRate };
    this.recorder.invoke(process, f, value);
    const latencyNs = latencyNsMin + this.rng.nextInt(latencyNsMax - latencyNsMin + 1);
    if (!unanswered) {
      // Strictly inside the interval, so the effect is ordered between call and return.
      if (!running.unavailable) {
        this.queue.push(this.nowNs + 1 + this.rng.nextInt(latencyNs - 1),
          { kind: "effect", running });
      }
      this.queue.push(this.nowNs + latencyNs, { kind: "complete", running });
      return;
    }
    if (this.rng.nextInt(2) === 0) {
      this.queue.push(this.nowNs + 1 + this.rng.nextInt(3 * latencyNs),
        { kind: "effect", running });
    }
    if (ending === "info") this.queue.push(this.nowNs + latencyNs, { kind: "complete", running });
    // The slot goes on under a new process number once this one has given up.
    this.queue.push(this.nowNs + latencyNs + this.rng.nextInt(thinkNsMax),
      { kind: "invoke", slot, process: this.nextProcess++ });
  }

  /** The chaos workload's mix, on one random item. */
  private chooseOperation(): { f: OpFunction; value: OpValue } {
    const sku = this.skus[this.rng.nextInt(this.skus.length)]!;
    const unknown = !this.knownCreated.has(sku);
    const roll = this.rng.nextFloat();
    const orders = this.cancellable.get(sku) ?? [];
    // An item not known to exist yet is created half the time, else used as any other.
    if ((unknown && this.rng.nextInt(2) === 0) || roll >= 0.97) {
      return { f: "create", value: { sku, stock: 1 + this.rng.nextInt(5) } };
    }
    if (roll < 0.27) return { f: "buy", value: { sku, qty: 1 + this.rng.nextInt(2) } };
    if (roll < 0.45) return { f: "add", value: { sku, qty: 1 + this.rng.nextInt(3) } };
    if (roll < 0.55 && orders.length > 0) {
      const [order] = orders.splice(this.rng.nextInt(orders.length), 1);
      return { f: "cancel", value: { sku, qty: order!.qty, orderId: order!.orderId } };
    }
    return { f: "read", value: { sku } };
  }

  /** Applies the operation to the store, as its state machine would, and keeps the answer. */
  private effect(running: Running): void {
    const sku = running.value.sku!;
    const stock = this.stocks.get(sku) ?? null;
    const qty = running.value.qty ?? 0;
    const ok = (value: OpValue = {}): Running["result"] => ({ type: "ok", value });
    const fail = (error: string): Running["result"] => ({ type: "fail", value: { error } });
    switch (running.f) {
      case "create":
        if (stock === null) this.stocks.set(sku, running.value.stock ?? 0);
        running.result = stock === null ? ok() : fail("conflict");
        return;
      case "add":
        if (stock !== null) this.stocks.set(sku, stock + qty);
        running.result = stock === null ? fail("not_found") : ok({ stock: stock + qty });
        return;
      case "buy":
        if (stock === null || stock < qty) {
          running.result = fail(stock === null ? "not_found" : "insufficient_stock");
          return;
        }
        this.stocks.set(sku, stock - qty);
        running.result = ok({ orderId: `o-${this.orderCount++}` });
        return;
      case "cancel":
        this.stocks.set(sku, (stock ?? 0) + qty);
        running.result = ok();
        return;
      case "read":
        running.result = ok({ stock });
        return;
    }
  }

  private complete(running: Running): void {
    if (running.ending === "info") {
      this.recorder.complete(running.process, "info", { error: "timeout" });
      return;
    }
    const result = running.unavailable ? { type: "fail" as const, value: { error: "unavailable" } }
      : running.result;
    if (result === null) throw new Error("an answered operation completed before its effect");
    this.recorder.complete(running.process, result.type, result.value);
    const sku = running.value.sku!;
    // Created, or refused because it exists: either way the clients now know the item.
    if (running.f === "create" && !running.unavailable) this.knownCreated.add(sku);
    const orderId = result.value.orderId;
    if (running.f === "buy" && result.type === "ok" && typeof orderId === "string") {
      const orders = this.cancellable.get(sku) ?? [];
      orders.push({ orderId, qty: running.value.qty ?? 0 });
      this.cancellable.set(sku, orders);
    }
    this.queue.push(this.nowNs + this.rng.nextInt(thinkNsMax),
      { kind: "invoke", slot: running.slot, process: running.process });
  }
}

/**
 * A copy of `ops` that is not linearizable: the ok read at `fraction` of the ok reads (by
 * position) reports a stock of 1,000,000, more than all the history's adds and cancels could
 * have put there (at most 3 per operation). Returns the copy and the corrupted completion.
 */
export function corruptRead(ops: readonly HistoryOp[], fraction: number):
  { ops: HistoryOp[]; corrupted: HistoryOp } {
  const reads = ops.filter((op) => op.f === "read" && op.type === "ok");
  const target = reads[Math.min(reads.length - 1, Math.floor(fraction * reads.length))];
  if (target === undefined) throw new Error("the history has no ok read to corrupt");
  const corrupted = { ...target, value: { ...target.value, stock: 1_000_000 } };
  return { ops: ops.map((op) => op === target ? corrupted : op), corrupted };
}

/** A binary min-heap of actions by time, first in first out among equal times. */
class ActionQueue {
  private readonly heap: { timeNs: number; sequence: number; action: Action }[] = [];
  private sequence = 0;

  push(timeNs: number, action: Action): void {
    const heap = this.heap;
    heap.push({ timeNs, sequence: this.sequence++, action });
    for (let child = heap.length - 1; child > 0;) {
      const parent = (child - 1) >> 1;
      if (!this.before(child, parent)) break;
      [heap[child], heap[parent]] = [heap[parent]!, heap[child]!];
      child = parent;
    }
  }

  pop(): { timeNs: number; action: Action } | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    for (let parent = 0; ;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < heap.length && this.before(left, smallest)) smallest = left;
      if (right < heap.length && this.before(right, smallest)) smallest = right;
      if (smallest === parent) break;
      [heap[smallest], heap[parent]] = [heap[parent]!, heap[smallest]!];
      parent = smallest;
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.timeNs < y.timeNs || (x.timeNs === y.timeNs && x.sequence < y.sequence);
  }
}
