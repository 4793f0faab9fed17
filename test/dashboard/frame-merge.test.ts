/**
 * How the page folds frames into its series (src/dashboard/frame-merge.ts): later frames add
 * only what is new; the first frame of a connection, the server's backlog, replaces what was
 * held, so a reconnection neither doubles the samples nor loses a restarted server's events.
 */
import { expect } from "chai";
import type { MetricsSample, TimelineEvent } from "../../src/dashboard/dashboard-frame.js";
import { mergeFrame, type HeldSeries } from "../../src/dashboard/frame-merge.js";

function event(seq: number): TimelineEvent {
  return { seq, timeMs: 1000 + seq, source: "raft", node: "n1", kind: "leaderElected", term: 1,
    message: `event ${seq}` };
}

function sample(timeMs: number): MetricsSample {
  return { timeMs, nodes: {}, workload: null };
}

const bounds = { eventsMax: 4, samplesMax: 3 };

function seqs(held: HeldSeries): number[] {
  return held.events.map((each) => each.seq);
}

function times(held: HeldSeries): number[] {
  return held.samples.map((each) => each.timeMs);
}

describe("the page's series from frames (frame-merge)", () => {
  it("appends only new events and samples, bounded, and keeps the arrays while nothing is new",
    () => {
      let held: HeldSeries = mergeFrame({ events: [], samples: [] },
        { events: [event(1), event(2)], samples: [sample(10)] }, true, bounds);
      expect(seqs(held)).to.deep.equal([1, 2]);
      held = mergeFrame(held, { events: [event(2), event(3)], samples: [sample(10), sample(11)] },
        false, bounds);
      expect(seqs(held)).to.deep.equal([1, 2, 3]);
      expect(times(held)).to.deep.equal([10, 11]);
      const same = mergeFrame(held, { events: [], samples: [] }, false, bounds);
      expect(same.events).to.equal(held.events);
      expect(same.samples).to.equal(held.samples);
      held = mergeFrame(held, { events: [event(4), event(5)], samples: [sample(12), sample(13)] },
        false, bounds);
      expect(seqs(held)).to.deep.equal([2, 3, 4, 5]);
      expect(times(held)).to.deep.equal([11, 12, 13]);
    });

  it("replaces the series with a reconnection's backlog: no sample twice, times ascending", () => {
    const before = mergeFrame({ events: [], samples: [] },
      { events: [event(1), event(2)], samples: [sample(10), sample(11)] }, true, bounds);
    // The same server again: its backlog holds what the page had, and more.
    // Bounds wider than the series, so that appending (the bug) could not be hidden by a cut.
    const after = mergeFrame(before, { events: [event(1), event(2), event(3)],
      samples: [sample(10), sample(11), sample(12)] }, true, { eventsMax: 10, samplesMax: 10 });
    expect(seqs(after)).to.deep.equal([1, 2, 3]);
    expect(times(after)).to.deep.equal([10, 11, 12]);
  });

  it("takes a restarted server's events, numbered from 1 again", () => {
    let held: HeldSeries = mergeFrame({ events: [], samples: [] },
      { events: [event(7), event(8), event(9)], samples: [sample(10)] }, true, bounds);
    held = mergeFrame(held, { events: [event(1)], samples: [sample(20)] }, true, bounds);
    expect(seqs(held)).to.deep.equal([1]);
    held = mergeFrame(held, { events: [event(2)], samples: [] }, false, bounds);
    expect(seqs(held)).to.deep.equal([1, 2]);
    expect(times(held)).to.deep.equal([20]);
  });
});
