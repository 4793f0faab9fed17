/**
 * The live view's charts from a node's counters (GET /v1/cluster/counters, or for an older
 * node the few series they come from, read out of its GET /metrics text: no other parser is
 * needed for them): two readings a second apart become rates and latency quantiles over that
 * second (histogram buckets subtracted, then interpolated within the bucket, as PromQL's
 * histogram_quantile does).
 */
import {
  bucketBoundSeconds,
  chartCountersOf,
  type ChartBucket,
  type ChartCounters,
  type MetricSample,
} from "../wire/chart-counters.js";
import type { NodeRates } from "./dashboard-frame.js";

/** The sums and buckets the charts need, from one reading. */
export interface MetricsReading {
  readonly timeMs: number;
  /** Client API writes (POST) and market reads (GET of items and orders) answered. */
  readonly writes: number;
  readonly reads: number;
  /** Cumulative buckets of the write latency, by upper bound in seconds. */
  readonly writeBuckets: ReadonlyMap<number, number>;
  readonly fsyncBuckets: ReadonlyMap<number, number>;
  readonly eventLoopDelayP99Ms: number | null;
  /** Peer messages sent, by target (raft_peer_messages_sent_total). */
  readonly messagesSentTo: ReadonlyMap<string, number>;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;
const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of Prometheus text whose names start like a chart metric's. */
function* textSamples(text: string): Generator<MetricSample> {
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const first = line.charCodeAt(0);
    // Only api_*, raft_* and node_* lines matter: skip the rest cheaply.
    if (first !== 97 && first !== 114 && first !== 110) continue;
    const match = sampleLine.exec(line);
    if (match === null) continue;
    const [, name, labelText, valueText] = match;
    const value = Number(valueText);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const found of (labelText ?? "").matchAll(label)) labels[found[1]!] = found[2]!;
    yield { name: name!, labels, value };
  }
}

/**
 * The reading of one /metrics text (a node without GET /v1/cluster/counters, or one whose
 * answer to it was not counters).
 */
export function readMetrics(text: string, timeMs: number): MetricsReading {
  return readingOf(chartCountersOf(textSamples(text)), timeMs);
}

/** The reading of a node's chart counters taken at `timeMs`. */
export function readingOf(counters: ChartCounters, timeMs: number): MetricsReading {
  const buckets = (byBound: readonly ChartBucket[]): Map<number, number> =>
    new Map(byBound.map(([bound, count]) => [bucketBoundSeconds(bound), count] as const)
      .filter(([bound]) => !Number.isNaN(bound)));
  return { timeMs, writes: counters.writes, reads: counters.reads,
    writeBuckets: buckets(counters.writeBuckets), fsyncBuckets: buckets(counters.fsyncBuckets),
    eventLoopDelayP99Ms: counters.eventLoopDelayP99Ms,
    messagesSentTo: new Map(Object.entries(counters.messagesSentTo)) };
}

/**
 * The `quantile` (0-1) of the observations between two cumulative bucket readings, in ms;
 * null when none fell in between. Linear within the bucket; the +Inf bucket answers its lower
 * bound.
 */
export function bucketQuantileMs(before: ReadonlyMap<number, number> | undefined,
  after: ReadonlyMap<number, number>, quantile: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => (after.get(bound) ?? 0) - (before?.get(bound) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = quantile * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const [k, bound] of bounds.entries()) {
    const count = counts[k]!;
    if (count >= rank) {
      if (bound === Infinity) return previousBound * 1000;
      const inBucket = count - previousCount;
      const fraction = inBucket <= 0 ? 1 : (rank - previousCount) / inBucket;
      return (previousBound + (bound - previousBound) * fraction) * 1000;
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound * 1000;
}

/** The rates between two readings of one node (a restart, counters going back, gives null). */
export function ratesBetween(before: MetricsReading | undefined, after: MetricsReading):
  NodeRates {
  const seconds = before === undefined ? 0 : (after.timeMs - before.timeMs) / 1000;
  const usable = before !== undefined && seconds > 0 && after.writes >= before.writes &&
    after.reads >= before.reads;
  const round = (value: number | null): number | null =>
    value === null ? null : Math.round(value * 100) / 100;
  return {
    writesPerSecond: usable ? round((after.writes - before.writes) / seconds) : null,
    readsPerSecond: usable ? round((after.reads - before.reads) / seconds) : null,
    writeP50Ms: usable ? round(bucketQuantileMs(before.writeBuckets, after.writeBuckets, 0.5)) : null,
    writeP99Ms: usable ? round(bucketQuantileMs(before.writeBuckets, after.writeBuckets, 0.99))
      : null,
    fsyncP99Ms: usable ? round(bucketQuantileMs(before.fsyncBuckets, after.fsyncBuckets, 0.99))
      : null,
    eventLoopDelayP99Ms: after.eventLoopDelayP99Ms,
    messagesPerSecondTo: usable ? Object.fromEntries([...after.messagesSentTo].map(([to, count]) =>
      [to, Math.max(0, Math.round((count - (before.messagesSentTo.get(to) ?? 0)) / seconds))]))
      : {},
  };
}
