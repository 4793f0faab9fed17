/**
 * The event-loop delay on /metrics. Goal: after the loop has stalled, the node's /metrics page
 * carries node_event_loop_delay_{p50,p99,max}_ms with values that match the stall (the max at
 * least most of it, p50 <= p99 <= max, nothing negative or absurd), the window counter moves
 * once per closed window, and stop() ends the sampling. Method: a NodeMetrics registry without
 * process metrics served by the real client app over a FakeNodeService on 127.0.0.1; the
 * stall is a synchronous busy-wait, and the test closes windows itself (closeWindow) instead
 * of waiting for the interval, so it takes well under a second.
 */
import { expect } from "chai";
import { parseEventLoopDelay } from "../../src/node/event-loop-delay.js";
import { NodeMetrics } from "../../src/node/metrics.js";
import { FakeNodeService } from "../api/fake-node-service.js";
import { request, serveNode, type Served } from "../api/helpers.js";

const stallMs = 80;

function busyWait(durationMs: number): void {
  const endMs = performance.now() + durationMs;
  while (performance.now() < endMs) { /* the stall under test */ }
}

/** Lets the loop turn for `durationMs` so the sampling timer records what came before. */
function turns(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}

describe("node: event-loop delay metrics", () => {
  let metrics: NodeMetrics;
  let served: Served;

  beforeEach(async () => {
    metrics = new NodeMetrics("n1", { processMetrics: false });
    served = await serveNode(new FakeNodeService("n1"),
      { metricsRegistry: metrics.registry });
  });

  afterEach(async () => {
    metrics.eventLoop.stop();
    await served.close();
  });

  async function scrape(): Promise<string> {
    const answer = await request(`${served.url}/metrics`);
    expect(answer.status).to.equal(200);
    return answer.body as string;
  }

  it("publishes p50, p99 and max in ms after a window with a stall", async () => {
    metrics.eventLoop.start();
    expect(parseEventLoopDelay(await scrape()), "no window closed yet").to.equal(null);
    await turns(50);
    busyWait(stallMs);
    await turns(50);
    metrics.eventLoop.closeWindow();
    const text = await scrape();
    expect(text).to.match(/# HELP node_event_loop_delay_max_ms .*last complete 5 s window/);
    expect(text).to.match(/^node_event_loop_delay_p99_ms\{node="n1"\} /m);
    const figures = parseEventLoopDelay(text)!;
    expect(figures.windows).to.equal(1);
    // The sampling timer fires once across the stall, late by the stall less one resolution.
    expect(figures.maxMs).to.be.at.least(stallMs - 20).and.below(10_000);
    expect(figures.p50Ms).to.be.at.least(0).and.at.most(figures.p99Ms);
    expect(figures.p99Ms).to.be.at.most(figures.maxMs);
  });

  it("each window stands alone, and stop() ends the sampling", async () => {
    metrics.eventLoop.start();
    busyWait(stallMs);
    await turns(30);
    metrics.eventLoop.closeWindow();
    await turns(60);
    metrics.eventLoop.closeWindow();
    const quiet = parseEventLoopDelay(await scrape())!;
    expect(quiet.windows).to.equal(2);
    expect(quiet.maxMs, "the stall belongs to the first window").to.be.below(stallMs - 20);
    metrics.eventLoop.stop();
    metrics.eventLoop.closeWindow();
    expect(parseEventLoopDelay(await scrape())!.windows).to.equal(2);
  });
});
