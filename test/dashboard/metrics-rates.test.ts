/**
 * The live view's charts from /metrics. Goal: the series it plots are read from Prometheus
 * text (writes and market reads from api_requests_total, write latency and fsync histograms,
 * event-loop delay), and two readings become per-second rates and interpolated quantiles; a
 * restarted node (counters going back) gives no rate rather than a negative one.
 */
import { expect } from "chai";
import { bucketQuantileMs, ratesBetween, readMetrics } from "../../src/dashboard/metrics-rates.js";

function text(writes: number, reads: number, fastWrites: number, slowWrites: number): string {
  return [
    "# HELP api_requests_total Client API requests",
    `api_requests_total{method="POST",route="/v1/orders",status="201",node="n1"} ${writes}`,
    `api_requests_total{method="GET",route="/v1/items",status="200",node="n1"} ${reads}`,
    `api_requests_total{method="GET",route="/v1/cluster/status",status="200",node="n1"} 99`,
    `api_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/orders",node="n1"} ${fastWrites}`,
    `api_request_duration_seconds_bucket{le="0.01",method="POST",route="/v1/orders",node="n1"} ${fastWrites + slowWrites}`,
    `api_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/orders",node="n1"} ${fastWrites + slowWrites}`,
    `raft_fsync_latency_seconds_bucket{le="0.002",node="n1"} ${writes}`,
    `raft_fsync_latency_seconds_bucket{le="+Inf",node="n1"} ${writes}`,
    `node_event_loop_delay_p99_ms{node="n1"} 12.5`,
    `raft_peer_messages_sent_total{to="n2",node="n1"} ${writes * 2}`,
  ].join("\n");
}

describe("dashboard: rates from /metrics", () => {
  it("reads the plotted series and ignores the rest", () => {
    const reading = readMetrics(text(10, 4, 8, 2), 1000);
    expect(reading).to.include({ writes: 10, reads: 4, eventLoopDelayP99Ms: 12.5 });
    expect([...reading.writeBuckets]).to.deep.equal([[0.001, 8], [0.01, 10], [Infinity, 10]]);
  });

  it("turns two readings a second apart into rates and quantiles", () => {
    const before = readMetrics(text(10, 4, 8, 2), 1000);
    const after = readMetrics(text(110, 24, 58, 52), 2000);
    const rates = ratesBetween(before, after);
    expect(rates).to.include({ writesPerSecond: 100, readsPerSecond: 20,
      eventLoopDelayP99Ms: 12.5 });
    expect(rates.messagesPerSecondTo).to.deep.equal({ n2: 200 });
    // 50 fast (under 1 ms) and 50 slow (1-10 ms): the median is at the first bucket's edge.
    expect(rates.writeP50Ms).to.equal(1);
    expect(rates.writeP99Ms).to.be.closeTo(9.82, 0.01);
    expect(ratesBetween(undefined, after).writesPerSecond).to.equal(null);
    // A restart: the counters start again from zero.
    expect(ratesBetween(after, readMetrics(text(1, 0, 1, 0), 3000)).writesPerSecond)
      .to.equal(null);
  });

  it("gives no quantile without observations, and the +Inf bucket its lower bound", () => {
    const buckets = new Map([[0.01, 5], [Infinity, 5]]);
    expect(bucketQuantileMs(buckets, buckets, 0.5)).to.equal(null);
    expect(bucketQuantileMs(new Map([[0.01, 0], [Infinity, 0]]),
      new Map([[0.01, 0], [Infinity, 3]]), 0.99)).to.equal(10);
  });
});
