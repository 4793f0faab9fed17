import { randomInt, randomUUID } from "node:crypto";

/**
 * The driver's clock, timers and random choices, behind one seam, so that the simulator can run
 * the production driver (RaftServer, its waiters, its snapshot work) in virtual time from a
 * seed, as TigerBeetle's VOPR and FoundationDB's simulator run their production code.
 * Nothing in src/node/ reads Date.now, performance.now, crypto's random or Node's timers
 * directly: it asks its Scheduler. The real one (realScheduler) is Node's; the simulated one
 * (src/sim/sim-scheduler.ts) is an event queue in virtual time.
 *
 * Ordering contract, which both implementations keep and the driver relies on:
 *   - callbacks never run inside the call that schedules them;
 *   - setImmediate callbacks run in the order they were scheduled, after the promise
 *     continuations queued before them (Node runs microtasks between callbacks);
 *   - a timer never fires before its delay has passed on nowMs(), and a cleared one never fires.
 */
export interface Scheduler {
  /** A monotonic clock in milliseconds (performance.now): durations and timeouts. */
  nowMs(): number;
  /** The wall clock in milliseconds since the epoch (Date.now): command timestamps only. */
  wallClockMs(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  setInterval(callback: () => void, intervalMs: number): TimerHandle;
  clearTimer(handle: TimerHandle | null): void;
  /** Runs `callback` after the current turn (Node's setImmediate: after polling for I/O). */
  setImmediate(callback: () => void): void;
  /** A random integer in [0, max). */
  randomInt(max: number): number;
  /** A random identifier (a boot id, a temporary file name). */
  randomId(): string;
}

/** An opaque timer: what setTimeout and setInterval return, for clearTimer. */
export interface TimerHandle {
  readonly timerBrand: unique symbol;
}

/** Node's clock, timers and crypto's random source. */
export const realScheduler: Scheduler = {
  nowMs: () => performance.now(),
  wallClockMs: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs) as unknown as TimerHandle,
  setInterval: (callback, intervalMs) =>
    setInterval(callback, intervalMs) as unknown as TimerHandle,
  clearTimer: (handle) => {
    // clearTimeout and clearInterval are interchangeable in Node.
    if (handle !== null) clearTimeout(handle as unknown as NodeJS.Timeout);
  },
  setImmediate: (callback) => {
    setImmediate(callback);
  },
  randomInt: (max) => randomInt(max),
  randomId: () => randomUUID(),
};

/** A promise that resolves on the scheduler's next turn: lets timers and I/O run. */
export function yieldTurn(scheduler: Scheduler): Promise<void> {
  return new Promise((resolve) => scheduler.setImmediate(resolve));
}
