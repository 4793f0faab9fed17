import type { Rng } from "../raft/index.js";
import type { Scheduler, TimerHandle } from "../node/scheduler.js";

/**
 * Virtual time for the simulator: one event queue for the whole simulated cluster, ordered by
 * (due time, sequence of scheduling), so that the same seed runs the same callbacks in the same
 * order. Each node sees it through its own NodeScheduler (the driver's Scheduler seam,
 * src/node/scheduler.ts); killing a node's scheduler discards everything it scheduled, as a
 * SIGKILL discards a process's timers and pending I/O.
 *
 * Promise continuations are real microtasks: after each callback the queue waits until the
 * microtask queue has drained (runUntil), so every continuation that callback started has run
 * before the next callback does, exactly as Node runs microtasks between macrotasks. No real
 * I/O or timer takes part, so nothing else runs meanwhile: the order stays the seed's.
 *
 * The next event runs from a nextTick callback: Node runs the nextTick queue only between whole
 * drains of the microtask queue. A turn of the event loop (setImmediate) would wait for the drain
 * too, but costs 3 µs against 0.3 µs: it was 45% of a seed's time. The simulated code must not
 * use process.nextTick itself (src/node and src/market do not: no streams, no EventEmitter), or
 * its ticks could interleave with the simulator's.
 */

export interface SimEvent {
  readonly atMs: number;
  readonly sequence: number;
  readonly owner: NodeScheduler | null;
  /** Replaced by a no-op when cancelled (cancelEvent). */
  callback: () => void;
  /** Set when cleared. An event whose owner was killed is dropped too (NodeScheduler.killed). */
  cancelled: boolean;
  /** For setInterval: the period, to schedule the next run. */
  readonly intervalMs: number | null;
  /** For setInterval: the handle, which moves to each next run (null: none). */
  handle: SimTimer | null;
}

function noop(): void {}

/**
 * Marks `event` cancelled, and lets go of its callback: a cancelled event stays in the heap
 * until its time comes (a client's timeout, 1.5 s on), and its callback's closure would keep
 * what it refers to alive that long, into the old generation, for the garbage collector to
 * copy and then mark.
 */
function cancelEvent(event: SimEvent): void {
  event.cancelled = true;
  event.callback = noop;
}

/** Settled once: a reaction queued on it runs in the current (or next) drain of the microtasks. */
const resolved = Promise.resolve();

/** Bounds a runaway simulation: a callback that reschedules itself forever at the same time. */
const eventsAtOneTimeMax = 1_000_000;

export class SimClock {
  private nowMsValue = 0;
  private sequence = 0;
  /** A binary min-heap by (atMs, sequence). */
  private readonly heap: SimEvent[] = [];
  /** Events run so far: the simulator's measure of work. */
  eventsRun = 0;

  nowMs(): number {
    return this.nowMsValue;
  }

  /** Schedules `callback` at nowMs() + delayMs (at least 0), for `owner` (null: the simulator). */
  schedule(owner: NodeScheduler | null, delayMs: number, callback: () => void,
    intervalMs: number | null = null): SimEvent {
    const event: SimEvent = { atMs: this.nowMsValue + Math.max(0, delayMs),
      sequence: this.sequence++, owner, callback, cancelled: false, intervalMs, handle: null };
    this.push(event);
    return event;
  }

  /** Cancels an event scheduled here: it will not run (a no-op if it ran already). */
  cancel(event: SimEvent): void {
    cancelEvent(event);
  }

  /** The due time of the next live event, or null when there is none. */
  nextEventMs(): number | null {
    this.dropCancelled();
    return this.heap[0]?.atMs ?? null;
  }

  /**
   * Runs events in order until virtual time would pass `untilMs`, or `stop()` says so (checked
   * after each event); time then stands at the last event run (or at untilMs when the queue ran
   * dry before it). Returns whether it stopped because of `stop`.
   *
   * Each event runs from a nextTick callback that the previous event queued through a promise
   * reaction: the reaction runs during the drain of the microtask queue, and the tick it queues
   * only once that drain is complete (Node runs the nextTick queue between whole drains), so
   * every continuation an event started has run before the next event does, as with
   * `await drainMicrotasks()` after each, without an async function's resumption, a promise and
   * its resolver for every event. The first event runs as a promise continuation, as before.
   */
  runUntil(untilMs: number, stop: () => boolean = () => false): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let atSameTime = 0;
      let ranOne = false;
      const queueStep = (): void => {
        process.nextTick(step);
      };
      const step = (): void => {
        try {
          if (ranOne && stop()) {
            resolve(true);
            return;
          }
          this.dropCancelled();
          const next = this.heap[0];
          if (next === undefined || next.atMs > untilMs) {
            this.nowMsValue = Math.max(this.nowMsValue, untilMs);
            resolve(false);
            return;
          }
          this.pop();
          atSameTime = next.atMs === this.nowMsValue ? atSameTime + 1 : 0;
          if (atSameTime > eventsAtOneTimeMax) {
            throw new Error(`simulation stuck: over ${eventsAtOneTimeMax} events at ${next.atMs} ms`);
          }
          this.nowMsValue = next.atMs;
          if (next.intervalMs !== null) {
            // Rescheduled before it runs, so that clearing it from its own callback works: its
            // handle now stands for the next run.
            const again = this.schedule(next.owner, next.intervalMs, next.callback, next.intervalMs);
            const handle = next.handle;
            if (handle !== null) {
              handle.event = again;
              again.handle = handle;
            }
          }
          this.eventsRun++;
          ranOne = true;
          next.callback();
          void resolved.then(queueStep);
        } catch (error) {
          reject(error as Error);
        }
      };
      void resolved.then(step);
    });
  }

  /** Drops the cancelled events at the top, and those of killed nodes. */
  private dropCancelled(): void {
    const heap = this.heap;
    while (heap.length > 0 && (heap[0]!.cancelled || heap[0]!.owner?.killed === true)) this.pop();
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let k = heap.length - 1;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (!before(heap[k]!, heap[parent]!)) break;
      swap(heap, k, parent);
      k = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    heap[0] = last;
    let k = 0;
    for (;;) {
      const left = 2 * k + 1;
      const right = left + 1;
      let smallest = k;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === k) break;
      swap(heap, k, smallest);
      k = smallest;
    }
    return top;
  }
}

/** Not by destructuring: that builds an array at every step of every push and pop. */
function swap(heap: SimEvent[], i: number, j: number): void {
  const held = heap[i]!;
  heap[i] = heap[j]!;
  heap[j] = held;
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
}

/**
 * One node's view of the SimClock, as the driver's Scheduler. Its wall clock is virtual time
 * plus an offset the simulator can jump forward or back (a clock fault: only session expiry
 * reads it). Its random choices come from the node's seeded Rng. kill() cancels everything
 * it scheduled and ignores what it schedules afterwards (a dead process's leftover promises).
 */
export class NodeScheduler implements Scheduler {
  /** Milliseconds added to virtual time to give this node's wall clock. */
  wallClockOffsetMs = 1_700_000_000_000;
  /**
   * Set by kill(): the clock then drops every event of this node, pending or scheduled later,
   * as it comes to it (no set of pending events to keep up at every event).
   */
  killed = false;

  constructor(private readonly clock: SimClock, private readonly rng: Rng) {}

  nowMs(): number {
    return this.clock.nowMs();
  }

  wallClockMs(): number {
    return this.clock.nowMs() + this.wallClockOffsetMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const event = this.clock.schedule(this, delayMs, callback);
    return { event } as SimTimer as unknown as TimerHandle;
  }

  setInterval(callback: () => void, intervalMs: number): TimerHandle {
    const event = this.clock.schedule(this, intervalMs, callback, Math.max(1, intervalMs));
    const handle: SimTimer = { event };
    event.handle = handle;
    return handle as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle | null): void {
    if (handle === null) return;
    this.clock.cancel((handle as unknown as SimTimer).event);
  }

  setImmediate(callback: () => void): void {
    this.clock.schedule(this, 0, callback);
  }

  randomInt(max: number): number {
    return this.rng.nextInt(max);
  }

  randomId(): string {
    const part = (): string => this.rng.nextInt(2 ** 31).toString(16).padStart(8, "0");
    return `${part()}-${part()}`;
  }

  /** Cancels every pending callback of this node, now and from now on. */
  kill(): void {
    this.killed = true;
  }
}

/** What a NodeScheduler's TimerHandle is. */
interface SimTimer {
  event: SimEvent;
}
