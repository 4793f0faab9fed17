import { assert } from "../invariant/assert.js";
import { realScheduler, type Scheduler, type TimerHandle } from "./scheduler.js";

/**
 * Callers waiting for an outcome by key (a log index, a read context), each with a timeout.
 * Bounded: full() tells the caller to refuse new work rather than queue without limit
 * (STYLE.md §5). Every waiter is settled exactly once: by settle(), by its timeout, or by
 * settleAll() when the node stops.
 */
interface Waiter<Value> {
  readonly resolve: (value: Value) => void;
  readonly timer: TimerHandle;
}

export class Waiters<Key, Value> {
  private readonly waiting = new Map<Key, Waiter<Value>>();

  constructor(private readonly waitersMax: number,
    private readonly scheduler: Scheduler = realScheduler) {}

  full(): boolean {
    return this.waiting.size >= this.waitersMax;
  }

  has(key: Key): boolean {
    return this.waiting.has(key);
  }

  size(): number {
    return this.waiting.size;
  }

  /** Waits for settle(key); after `timeoutMs`, resolves with onTimeout() instead. */
  wait(key: Key, timeoutMs: number, onTimeout: () => Value): Promise<Value> {
    // One waiter per key, so that each is settled exactly once: callers refuse or settle a
    // second wait on a key first (has()), or use keys never reused (read contexts).
    if (this.waiting.has(key)) assert(false, `already waiting for ${String(key)}`);
    return new Promise((resolve) => {
      const timer = this.scheduler.setTimeout(() => {
        this.waiting.delete(key);
        resolve(onTimeout());
      }, timeoutMs);
      this.waiting.set(key, { resolve, timer });
    });
  }

  /** Resolves the waiter for `key`, if any. */
  settle(key: Key, value: Value): void {
    const waiter = this.waiting.get(key);
    if (waiter === undefined) return;
    this.waiting.delete(key);
    this.scheduler.clearTimer(waiter.timer);
    waiter.resolve(value);
  }

  /** Resolves every waiter whose key passes `predicate`. */
  settleWhere(predicate: (key: Key) => boolean, value: Value): void {
    for (const key of [...this.waiting.keys()]) if (predicate(key)) this.settle(key, value);
  }

  settleAll(value: Value): void {
    for (const key of [...this.waiting.keys()]) this.settle(key, value);
  }

  /** The numeric keys at or below `bound`. */
  keysUpTo(bound: number): Key[] {
    return [...this.waiting.keys()].filter((key) => typeof key === "number" && key <= bound);
  }
}
