/**
 * GET /v1/cluster/counters: the counters the live view's charts read. Goal: from one registry
 * it gives exactly what the node's /metrics text gives the charts (so a node of either version
 * draws the same lines), refuses query keys as every route does, and a reader refuses an
 * answer that is not counters instead of drawing it.
 */
import { expect } from "chai";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { readingOf, readMetrics } from "../../src/dashboard/metrics-rates.js";
import { CountingTransport } from "../../src/node/counting-transport.js";
import { NodeMetrics } from "../../src/node/metrics.js";
import type { RaftMessage } from "../../src/raft/index.js";
import type { Transport } from "../../src/transport/transport.js";
import { chartCountersOf, parseChartCounters } from "../../src/wire/chart-counters.js";
import { FakeNodeService } from "./fake-node-service.js";
import { request, serveNode, type Served } from "./helpers.js";

describe("api: GET /v1/cluster/counters", () => {
  let served: Served;
  const registry = new Registry();

  before(async () => {
    registry.setDefaultLabels({ node: "n1" });
    const fsync = new Histogram({ name: "raft_fsync_latency_seconds", help: "fsync",
      buckets: [0.001, 0.002, 0.005], registers: [registry] });
    for (const seconds of [0.0004, 0.0015, 0.0015, 0.003, 0.2]) fsync.observe(seconds);
    new Gauge({ name: "node_event_loop_delay_p99_ms", help: "delay", registers: [registry] })
      .set(12.5);
    const sent = new Counter({ name: "raft_peer_messages_sent_total", help: "sent",
      labelNames: ["to"], registers: [registry] });
    sent.inc({ to: "n2" }, 7);
    sent.inc({ to: "__proto__" }, 3);
    // Not a chart's: left out.
    new Counter({ name: "raft_elections_total", help: "other", registers: [registry] }).inc(4);
    served = await serveNode(new FakeNodeService("n1").loadDemo(), { metricsRegistry: registry });
    for (const [k, qty] of [1, 2, 3].entries()) {
      const bought = await request(`${served.url}/v1/orders`, "POST",
        { requestId: `c${k}`, lines: [{ sku: "bagel-6", qty }] });
      expect(bought.status).to.equal(201);
    }
    expect((await request(`${served.url}/v1/items`)).status).to.equal(200);
    expect((await request(`${served.url}/v1/items/bagel-6`)).status).to.equal(200);
    expect((await request(`${served.url}/v1/cluster/status`)).status).to.equal(200);
  });

  after(async () => {
    await served.close();
  });

  it("answers what the /metrics text gives the charts", async () => {
    const answer = await request(`${served.url}/v1/cluster/counters`);
    expect(answer.status).to.equal(200);
    const counters = parseChartCounters(answer.body);
    expect(counters).to.not.equal(null);
    // Three writes, two market reads (the status read is neither).
    expect(counters).to.deep.include({ writes: 3, reads: 2, eventLoopDelayP99Ms: 12.5 });
    expect({ ...counters!.messagesSentTo }).to.deep.equal({ n2: 7, ["__proto__"]: 3 });
    expect(counters!.fsyncBuckets).to.deep.equal(
      [["0.001", 1], ["0.002", 3], ["0.005", 4], ["+Inf", 5]]);
    // Ascending bounds, +Inf last, as the histogram's own.
    expect(counters!.writeBuckets.map(([bound]) => bound)).to.deep.equal(["0.0005", "0.001",
      "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
      "+Inf"]);
    expect(counters!.writeBuckets.at(-1)).to.deep.equal(["+Inf", 3]);
    const text = (await request(`${served.url}/metrics`)).body as string;
    expect(text).to.contain("raft_elections_total");
    // The text was read after the counters: it also counts the GET of the counters (not a
    // market read), so the charts' numbers are the same.
    expect(readingOf(counters!, 1000)).to.deep.equal(readMetrics(text, 1000));
  });

  it("gives what /metrics gives on a node's own registry (process metrics, event loop, peers)",
    async () => {
      const metrics = new NodeMetrics("n1", { eventLoopWindowMs: 60_000 });
      const counting = new CountingTransport({ send: () => undefined } as unknown as Transport);
      counting.registerIn(metrics.registry);
      counting.send([{ to: "n2" }, { to: "n2" }, { to: "n3" }] as unknown as RaftMessage[]);
      metrics.fsyncLatencySeconds.observe(0.0003);
      metrics.fsyncLatencySeconds.observe(0.02);
      metrics.eventLoop.start();
      metrics.eventLoop.closeWindow();
      const node = await serveNode(new FakeNodeService("n1").loadDemo(),
        { metricsRegistry: metrics.registry });
      try {
        const bought = await request(`${node.url}/v1/orders`, "POST",
          { requestId: "r1", lines: [{ sku: "bagel-6", qty: 1 }] });
        expect(bought.status).to.equal(201);
        const counters = parseChartCounters(
          (await request(`${node.url}/v1/cluster/counters`)).body);
        expect(counters).to.deep.include({ writes: 1, messagesSentTo: { n2: 2, n3: 1 } });
        expect(counters!.eventLoopDelayP99Ms).to.be.a("number");
        expect(counters!.fsyncBuckets.at(-1)).to.deep.equal(["+Inf", 2]);
        const text = (await request(`${node.url}/metrics`)).body as string;
        expect(text).to.contain("process_cpu_seconds_total");
        expect(readingOf(counters!, 5)).to.deep.equal(readMetrics(text, 5));
      } finally {
        metrics.eventLoop.stop();
        await node.close();
      }
    });

  it("answers a failure to read the metrics in the API's error shape", async () => {
    const failing = new Registry();
    new Gauge({ name: "node_event_loop_delay_p99_ms", help: "delay", registers: [failing],
      collect() {
        throw new Error("the monitor is gone");
      } });
    const node = await serveNode(new FakeNodeService("n1"), { metricsRegistry: failing });
    try {
      const answer = await request(`${node.url}/v1/cluster/counters`);
      expect(answer.status).to.equal(500);
      expect(answer.body.error.code).to.be.a("string");
      expect((await request(`${node.url}/v1/cluster/status`)).status).to.equal(200);
    } finally {
      await node.close();
    }
  });

  it("refuses a query key, as every route does", async () => {
    const answer = await request(`${served.url}/v1/cluster/counters?all=1`);
    expect(answer.status).to.equal(400);
    expect(answer.body.error).to.include({ code: "invalid_request", field: "all" });
  });

  it("a reader refuses an answer that is not chart counters", () => {
    const good = { writes: 1, reads: 2, writeBuckets: [["0.01", 1], ["1e-3", 1], ["+Inf", 1]]
      .sort(([a], [b]) => Number(a === "+Inf" ? Infinity : a) - Number(b === "+Inf" ? Infinity
        : b)),
    fsyncBuckets: [], eventLoopDelayP99Ms: null, messagesSentTo: { n2: 4 } };
    expect(parseChartCounters(good)).to.deep.equal(good);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, k) => [`n${k}`, 1]));
    for (const bad of [null, [], "text", { ...good, writes: -1 }, { ...good, reads: "2" },
      { ...good, writeBuckets: { "0.01": 1 } }, { ...good, writeBuckets: [["soon", 1]] },
      { ...good, writeBuckets: [["", 1]] }, { ...good, writeBuckets: [[" ", 1]] },
      { ...good, writeBuckets: [["0x10", 1]] }, { ...good, writeBuckets: [["-5", 1]] },
      { ...good, writeBuckets: [["+Inf", 1], ["0.01", 1]] },
      { ...good, writeBuckets: [["0.01", 1], ["0.01", 1]] },
      { ...good, writeBuckets: [["0.01", 1, 2]] }, { ...good, fsyncBuckets: [1] },
      { ...good, fsyncBuckets: Array.from({ length: 65 }, (_, k) => [String(k), k]) },
      { ...good, eventLoopDelayP99Ms: Number.NaN }, { ...good, eventLoopDelayP99Ms: "1" },
      { ...good, messagesSentTo: { "": 1 } }, { ...good, messagesSentTo: { "n 2": 1 } },
      { ...good, messagesSentTo: many }, { ...good, messagesSentTo: [] },
      { ...good, messagesSentTo: undefined }]) {
      expect(parseChartCounters(bad), JSON.stringify(bad)).to.equal(null);
    }
  });

  it("adds a histogram's buckets over its label sets and skips other samples", () => {
    const counters = chartCountersOf([
      { name: "api_request_duration_seconds_bucket",
        labels: { le: 0.01, method: "POST", route: "/v1/orders" }, value: 2 },
      { name: "api_request_duration_seconds_bucket",
        labels: { le: 0.01, method: "POST", route: "/v1/items" }, value: 3 },
      { name: "api_request_duration_seconds_bucket",
        labels: { le: Infinity, method: "POST", route: "/v1/orders" }, value: 4 },
      { name: "api_request_duration_seconds_bucket",
        labels: { le: 0.01, method: "GET", route: "/v1/items" }, value: 50 },
      { name: "api_requests_total", labels: { method: "POST", route: "/v1/orders" },
        value: Number.NaN },
      { name: "something_else", labels: {}, value: 9 },
    ]);
    expect(counters.writeBuckets).to.deep.equal([["0.01", 5], ["+Inf", 4]]);
    expect(counters.writes).to.equal(0);
  });
});
