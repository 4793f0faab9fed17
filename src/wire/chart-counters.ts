/**
 * The counters the live view's charts are drawn from (docs/DESIGN.md §3, `GET
 * /v1/cluster/counters`): client writes and market reads answered, the write-latency and fsync
 * histograms' cumulative buckets, the event loop's delay and the peer messages sent by target.
 * A node answers them from its metrics registry; a node older than that route is read from its
 * Prometheus text (`GET /metrics`). Both go through `chartCountersOf`, so both give the same
 * numbers from the same metrics.
 *
 * Why a route of its own: the Prometheus text holds every metric, the process's own included,
 * and producing it cost a node about 1.4 ms of CPU, against about 0.18 ms for this route
 * (2026-11-30), once a second per node while a page watches; parsing it cost the live view's
 * server more than the rest of its reads.
 */

import { nodeIdPattern } from "../raft/index.js";

/** A bucket's bound as Prometheus writes it: a plain decimal number of seconds, or +Inf. */
const bucketBound = /^(?:[0-9]{1,20}(?:\.[0-9]{1,20})?(?:e[-+]?[0-9]{1,3})?|\+Inf)$/;

/** One sample as Prometheus's text or prom-client's `get()` gives it. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly value: number;
}

/** At most this many buckets in a histogram, and targets of peer messages, in an answer. */
export const chartCountersKeysMax = 64;

/** One cumulative bucket: its upper bound in seconds as Prometheus writes it ("+Inf"), count. */
export type ChartBucket = readonly [bound: string, count: number];

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
  /** Cumulative buckets of the write latency, by upper bound, ascending ("+Inf" last). */
  readonly writeBuckets: readonly ChartBucket[];
  readonly fsyncBuckets: readonly ChartBucket[];
  /** Null when the node has no such metric. */
  readonly eventLoopDelayP99Ms: number | null;
  /** Peer messages sent, by target node. */
  readonly messagesSentTo: Readonly<Record<string, number>>;
}

/** The chart counters from `samples`; samples of other metrics are skipped. */
export function chartCountersOf(samples: Iterable<MetricSample>): ChartCounters {
  let writes = 0;
  let reads = 0;
  let eventLoopDelayP99Ms: number | null = null;
  const writeBuckets = new Map<string, number>();
  const fsyncBuckets = new Map<string, number>();
  // Without a prototype: a key is data ("__proto__" included), never an object's member.
  const messagesSentTo = Object.create(null) as Record<string, number>;
  const addBucket = (buckets: Map<string, number>, sample: MetricSample): void => {
    const le = sample.labels.le;
    if (le === undefined) return;
    const bound = bucketBoundText(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + sample.value);
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
  return { writes, reads, writeBuckets: ascending(writeBuckets),
    fsyncBuckets: ascending(fsyncBuckets), eventLoopDelayP99Ms, messagesSentTo };
}

/** The bound of a bucket in seconds (+Inf: Infinity). */
export function bucketBoundSeconds(bound: string): number {
  return bound === "+Inf" ? Infinity : Number(bound);
}

function ascending(buckets: ReadonlyMap<string, number>): ChartBucket[] {
  return [...buckets].sort(([a], [b]) => bucketBoundSeconds(a) - bucketBoundSeconds(b));
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
  const buckets = (x: unknown): x is ChartBucket[] =>
    Array.isArray(x) && x.length <= chartCountersKeysMax && x.every((bucket: unknown) =>
      Array.isArray(bucket) && bucket.length === 2 && typeof bucket[0] === "string" &&
      bucketBound.test(bucket[0]) && count(bucket[1])) &&
    x.every((bucket: ChartBucket, k) => k === 0 ||
      bucketBoundSeconds(bucket[0]) > bucketBoundSeconds((x[k - 1] as ChartBucket)[0]));
  const targets = (x: unknown): x is Record<string, number> =>
    typeof x === "object" && x !== null && !Array.isArray(x) &&
    Object.keys(x).length <= chartCountersKeysMax &&
    Object.entries(x).every(([key, n]) => nodeIdPattern.test(key) && count(n));
  const delay = value.eventLoopDelayP99Ms;
  if (!count(value.writes) || !count(value.reads) || !buckets(value.writeBuckets) ||
    !buckets(value.fsyncBuckets) || !(delay === null || count(delay)) ||
    !targets(value.messagesSentTo)) {
    return null;
  }
  return { writes: value.writes, reads: value.reads, writeBuckets: value.writeBuckets,
    fsyncBuckets: value.fsyncBuckets, eventLoopDelayP99Ms: delay,
    messagesSentTo: value.messagesSentTo };
}
