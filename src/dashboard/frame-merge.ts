/**
 * How the page folds a frame into the series it holds (timeline events, metric samples). Pure,
 * shared by the page (src/dashboard/web/main.ts) and its unit test; types only from
 * dashboard-frame.ts, so the browser bundle imports nothing of the server.
 *
 * The first frame of a connection carries the server's whole backlog (cluster-watcher.ts):
 * every event and sample it holds, with the same bounds the page keeps. So that frame replaces
 * what the page held instead of being appended to it. Appended, a reconnection (a node's /ui
 * whose node restarted, a lost connection that EventSource opened again) showed every sample
 * twice, the charts' times going back; and a restarted server numbers its events from 1 again,
 * so the page, keeping those above the last number it had seen, dropped every new event until
 * the count passed the old one.
 */
import type { DashboardFrame, MetricsSample, TimelineEvent } from "./dashboard-frame.js";

export interface HeldSeries {
  readonly events: readonly TimelineEvent[];
  readonly samples: readonly MetricsSample[];
}

export interface SeriesBounds {
  readonly eventsMax: number;
  readonly samplesMax: number;
}

/**
 * What the server keeps and the page holds: one bound for both, so that a backlog replacing the
 * page's series never holds less than appending would have kept. Samples: five minutes at one
 * a second.
 */
export const seriesBounds: SeriesBounds = { eventsMax: 600, samplesMax: 300 };

/**
 * The series after `frame`; `first`: the first frame since the stream (re)opened. Returns the
 * same arrays while nothing is new, so that what is memoized on them is not rendered again.
 * Later frames add only events numbered above the last held and samples later than the last
 * held (a frame the server repeats adds nothing).
 */
export function mergeFrame(held: HeldSeries, frame: Pick<DashboardFrame, "events" | "samples">,
  first: boolean, bounds: SeriesBounds): HeldSeries {
  if (first) {
    return { events: frame.events.slice(-bounds.eventsMax),
      samples: frame.samples.slice(-bounds.samplesMax) };
  }
  const lastSeq = held.events.at(-1)?.seq ?? 0;
  const freshEvents = frame.events.filter((event) => event.seq > lastSeq);
  const lastSampleMs = held.samples.at(-1)?.timeMs ?? -Infinity;
  const freshSamples = frame.samples.filter((sample) => sample.timeMs > lastSampleMs);
  return {
    events: freshEvents.length === 0 ? held.events
      : [...held.events, ...freshEvents].slice(-bounds.eventsMax),
    samples: freshSamples.length === 0 ? held.samples
      : [...held.samples, ...freshSamples].slice(-bounds.samplesMax),
  };
}
