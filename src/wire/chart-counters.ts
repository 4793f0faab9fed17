/**
 * The counters the live view's charts are drawn from (docs/DESIGN.md §3, `GET
 * /v1/cluster/counters`): client writes and market reads answered, the write-latency and fsync
 * histograms' cumulative buckets, the event loop's delay and the peer messages sent by target.
 * A node answers them from its metrics registry; a node older than that route is read from its
 * Prometheus text (`GET /metrics`). Both go through `chartCountersOf`, so both give the same
 * numbers from the same metrics.
 *
 * Why a route of its own: the Prometheus text holds every metric, the process's own included,
 * and producing it cost a node about 1.5 ms of CPU, parsing it the live view's server about as
 * much (2026-11-30), once a second per node while a page watches: the five series the charts
 * need cost a small fraction of that.
 */

/** One sample as Prometheus's text or prom-client's `get()` gives it. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly value: number;
}

/** The metrics the charts read (histograms by their base name: their `_bucket` samples). */
export const chartMetricNames = [
  "api_requests_total",
  "api_request_duration_seconds",
  "raft_fsync_latency_seconds",
  "node_event_loop_delay_p99_ms",
  "raft_peer_messages_sent_total",
] as const;

export interface ChartCounters {
  /** Client API writes (POST) and market reads (GET of items and orders) answered. */
  readonly writes: number;
  readonly reads: number;
  /** Cumulative buckets of the write latency, by upper bound as Prometheus writes it ("+Inf"). */
  readonly writeBuckets: Readonly<Record<string, number>>;
  readonly fsyncBuckets: Readonly<Record<string, number>>;
  readonly eventLoopDelayP99Ms: number | null;
  /** Peer messages sent, by target node. */
  readonly messagesSentTo: Readonly<Record<string, number>>;
}

/** The chart counters from `samples`; samples of other metrics are skipped. */
export function chartCountersOf(samples: Iterable<MetricSample>): ChartCounters {
  let writes = 0;
  let reads = 0;
  let eventLoopDelayP99Ms: number | null = null;
  // Without a prototype: a key is data ("__proto__" included), never an object's member.
  const writeBuckets = Object.create(null) as Record<string, number>;
  const fsyncBuckets = Object.create(null) as Record<string, number>;
  const messagesSentTo = Object.create(null) as Record<string, number>;
  const addBucket = (buckets: Record<string, number>, sample: MetricSample): void => {
    const le = sample.labels.le;
    if (le === undefined) return;
    const bound = bucketBoundText(le);
    buckets[bound] = (buckets[bound] ?? 0) + sample.value;
  };
  for (const sample of samples) {
    if (!Number.isFinite(sample.value)) continue;
    const method = String(sample.labels.method ?? "");
    const route = String(sample.labels.route ?? "");
    switch (sample.name) {
      case "api_requests_total":
        if (method === "POST" && route.startsWith("/v1/")) writes += sample.value;
        else if (method === "GET" && isMarketRead(route)) reads += sample.value;
        break;
      case "api_request_duration_seconds_bucket":
        if (method === "POST" && route.startsWith("/v1/")) addBucket(writeBuckets, sample);
        break;
      case "raft_fsync_latency_seconds_bucket":
        addBucket(fsyncBuckets, sample);
        break;
      case "node_event_loop_delay_p99_ms":
        eventLoopDelayP99Ms = sample.value;
        break;
      case "raft_peer_messages_sent_total":
        if (sample.labels.to !== undefined) {
          messagesSentTo[String(sample.labels.to)] = sample.value;
        }
        break;
    }
  }
  return { writes, reads, writeBuckets, fsyncBuckets, eventLoopDelayP99Ms, messagesSentTo };
}

function isMarketRead(route: string): boolean {
  return route.startsWith("/v1/items") || route.startsWith("/v1/orders");
}

/** A bucket's upper bound as Prometheus writes it: prom-client gives +Inf as a number. */
function bucketBoundText(le: string | number): string {
  if (typeof le === "string") return le;
  return le === Infinity ? "+Inf" : String(le);
}

/**
 * The ChartCounters in an answer of `GET /v1/cluster/counters`, or null when it is not one
 * (never numbers taken on trust: a bad answer is a gap in the charts).
 */
export function parseChartCounters(body: unknown): ChartCounters | null {
  if (typeof body !== "object" || body === null) return null;
  const value = body as Record<string, unknown>;
  const count = (x: unknown): x is number =>
    typeof x === "number" && Number.isFinite(x) && x >= 0;
  const counts = (x: unknown, keyOk: (key: string) => boolean): x is Record<string, number> =>
    typeof x === "object" && x !== null && !Array.isArray(x) &&
    Object.entries(x).every(([key, n]) => keyOk(key) && count(n));
  const bound = (key: string): boolean => key === "+Inf" || Number.isFinite(Number(key));
  const delay = value.eventLoopDelayP99Ms;
  if (!count(value.writes) || !count(value.reads) ||
    !counts(value.writeBuckets, bound) || !counts(value.fsyncBuckets, bound) ||
    !(delay === null || count(delay)) ||
    !counts(value.messagesSentTo, (key) => key.length > 0 && key.length <= 64)) {
    return null;
  }
  return { writes: value.writes, reads: value.reads, writeBuckets: value.writeBuckets,
    fsyncBuckets: value.fsyncBuckets, eventLoopDelayP99Ms: delay,
    messagesSentTo: value.messagesSentTo };
}
