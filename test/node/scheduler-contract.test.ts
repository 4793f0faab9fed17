/**
 * The Scheduler seam's contract (src/node/scheduler.ts), run against both implementations: Node's
 * (realScheduler) and the simulator's (NodeScheduler over a SimClock). The driver relies on it:
 * callbacks never run inside the call that schedules them; setImmediate callbacks run in order,
 * after the promise continuations queued before them; a timer never fires before its delay on
 * nowMs(), and a cleared one never fires; nowMs never goes back. The real one is driven by real
 * time (delays of a few milliseconds, waited for with a margin); the simulated one by runUntil.
 */
import { expect } from "chai";
import { SeededRng } from "../../src/raft/index.js";
import { realScheduler, type Scheduler } from "../../src/node/scheduler.js";
import { NodeScheduler, SimClock } from "../../src/sim/sim-clock.js";

interface Harness {
  readonly scheduler: Scheduler;
  /** Lets at least `ms` of the scheduler's time pass, running what falls due. */
  advance(ms: number): Promise<void>;
}

function schedulerContract(name: string, make: () => Harness): void {
  describe(`Scheduler contract: ${name}`, () => {
    it("never runs a callback inside the call that schedules it", async () => {
      const { scheduler, advance } = make();
      let ran = 0;
      scheduler.setImmediate(() => ran++);
      scheduler.setTimeout(() => ran++, 0);
      expect(ran).to.equal(0);
      await advance(5);
      expect(ran).to.equal(2);
    });

    it("runs setImmediate callbacks in order, after the continuations queued before them", async () => {
      const { scheduler, advance } = make();
      const order: string[] = [];
      scheduler.setImmediate(() => {
        void Promise.resolve().then(() => order.push("continuation of a"));
        order.push("a");
      });
      scheduler.setImmediate(() => order.push("b"));
      scheduler.setImmediate(() => order.push("c"));
      await advance(5);
      expect(order).to.deep.equal(["a", "continuation of a", "b", "c"]);
    });

    it("fires a timer no earlier than its delay on nowMs, and never a cleared one", async () => {
      const { scheduler, advance } = make();
      const startedMs = scheduler.nowMs();
      let firedAtMs: number | null = null;
      let clearedFired = false;
      scheduler.setTimeout(() => {
        firedAtMs = scheduler.nowMs();
      }, 15);
      const cleared = scheduler.setTimeout(() => {
        clearedFired = true;
      }, 5);
      scheduler.clearTimer(cleared);
      scheduler.clearTimer(null);
      await advance(40);
      expect(firedAtMs, "the timer fired").to.not.equal(null);
      // Node keeps its loop time in whole milliseconds: a timer may run up to 1 ms short on
      // performance.now, never more.
      expect(firedAtMs! - startedMs).to.be.at.least(14);
      expect(clearedFired).to.equal(false);
    });

    it("repeats an interval until cleared, also from its own callback", async () => {
      const { scheduler, advance } = make();
      let runs = 0;
      const handle = scheduler.setInterval(() => {
        runs++;
        if (runs === 3) scheduler.clearTimer(handle);
      }, 5);
      await advance(80);
      expect(runs).to.equal(3);
    });

    it("keeps nowMs monotonic, gives an epoch wall clock, and random values in range", async () => {
      const { scheduler, advance } = make();
      const readings: number[] = [];
      for (let k = 0; k < 5; k++) {
        readings.push(scheduler.nowMs());
        await advance(2);
      }
      expect(readings).to.deep.equal([...readings].sort((a, b) => a - b));
      expect(scheduler.wallClockMs()).to.be.greaterThan(Date.UTC(2020, 0, 1));
      for (let k = 0; k < 100; k++) expect(scheduler.randomInt(7)).to.be.within(0, 6);
      const ids = new Set(Array.from({ length: 50 }, () => scheduler.randomId()));
      expect(ids.size).to.equal(50);
    });
  });
}

schedulerContract("realScheduler (Node's timers)", () => ({
  scheduler: realScheduler,
  advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms + 10)),
}));

schedulerContract("NodeScheduler (the simulator's virtual time)", () => {
  const clock = new SimClock();
  return {
    scheduler: new NodeScheduler(clock, new SeededRng(7)),
    advance: (ms) => clock.runUntil(clock.nowMs() + ms).then(() => undefined),
  };
});
