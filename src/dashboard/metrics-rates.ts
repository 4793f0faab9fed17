/**
 * The live view's charts from a node's GET /metrics: the few series it plots are read out of
 * the Prometheus text (no other parser is needed for them), and two readings a second apart
 * become rates and latency quantiles over that second (histogram buckets subtracted, then
 * interpolated within the bucket, as PromQL's histogram_quantile does).
 */
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

const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;
const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string | undefined): Map<string, string> {
  const labels = new Map<string, string>();
  if (text === undefined) return labels;
  for (const match of text.matchAll(label)) labels.set(match[1]!, match[2]!);
  return labels;
}

function addBucket(buckets: Map<number, number>, labels: Map<string, string>, value: number):
  void {
  const le = labels.get("le");
  if (le === undefined) return;
  const bound = le === "+Inf" ? Infinity : Number(le);
  buckets.set(bound, (buckets.get(bound) ?? 0) + value);
}

/** The reading of one /metrics text taken at `timeMs`. Lines it does not need are skipped. */
export function readMetrics(text: string, timeMs: number): MetricsReading {
  let writes = 0;
  let reads = 0;
  let eventLoopDelayP99Ms: number | null = null;
  const writeBuckets = new Map<number, number>();
  const fsyncBuckets = new Map<number, number>();
  const messagesSentTo = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const first = line.charCodeAt(0);
    // Only api_*, raft_fsync_* and node_event_loop_* lines matter: skip the rest cheaply.
    if (first !== 97 && first !== 114 && first !== 110) continue;
    const match = sample.exec(line);
    if (match === null) continue;
    const [, name, labelText, valueText] = match;
    const value = Number(valueText);
    if (!Number.isFinite(value) && valueText !== "+Inf") continue;
    if (name === "api_requests_total") {
      const labels = labelsOf(labelText);
      const route = labels.get("route") ?? "";
      if (labels.get("method") === "POST" && route.startsWith("/v1/")) writes += value;
      else if (labels.get("method") === "GET" && isMarketRead(route)) reads += value;
    } else if (name === "api_request_duration_seconds_bucket") {
      const labels = labelsOf(labelText);
      if (labels.get("method") === "POST" && (labels.get("route") ?? "").startsWith("/v1/")) {
        addBucket(writeBuckets, labels, value);
      }
    } else if (name === "raft_fsync_latency_seconds_bucket") {
      addBucket(fsyncBuckets, labelsOf(labelText), value);
    } else if (name === "node_event_loop_delay_p99_ms") {
      eventLoopDelayP99Ms = value;
    } else if (name === "raft_peer_messages_sent_total") {
      const to = labelsOf(labelText).get("to");
      if (to !== undefined) messagesSentTo.set(to, value);
    }
  }
  return { timeMs, writes, reads, writeBuckets, fsyncBuckets, eventLoopDelayP99Ms,
    messagesSentTo };
}

function isMarketRead(route: string): boolean {
  return route.startsWith("/v1/items") || route.startsWith("/v1/orders");
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
