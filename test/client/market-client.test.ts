/**
 * MarketClient against scriptable HTTP endpoints on 127.0.0.1. Goal: a write keeps one
 * requestId across all its retries; retries happen only on 503, 504 and missing answers, with
 * full-jitter backoff under the cap and within the retry budget; 4xx answers are final; a
 * leaderId hint and the leader header steer the next attempt; connection errors move to the
 * next endpoint; the circuit breaker opens and recovers; with no answer at all the error code is
 * "unreachable"; with failFastWithoutMajority a call stops once most endpoints refuse the
 * connection; a status request stays within the retry budget. Method: injected `random`, `sleep` (records the delays, does not wait) and
 * `now` (a fake clock the sleeps advance), so every test is deterministic and fast.
 */
import { expect } from "chai";
import {
  backoffDelayMs,
  CircuitBreaker,
  endpointsFromEnv,
  MarketClient,
  MarketClientError,
  marketClientDefaults,
  normalizeEndpoint,
  type MarketClientOptions,
} from "../../src/client/index.js";
import { closedPort, silentServer } from "../api/helpers.js";
import { apiError, FakeEndpoint, item, order } from "./fake-endpoint.js";

/** A fake clock: sleeping advances it; every delay is recorded. */
class FakeTime {
  nowMs = 1_000_000;
  readonly delays: number[] = [];
  readonly options = {
    now: () => this.nowMs,
    sleep: async (ms: number) => {
      this.delays.push(ms);
      this.nowMs += ms;
    },
    random: () => 0.5,
  } satisfies Partial<MarketClientOptions>;
}

async function rejection(promise: Promise<unknown>): Promise<MarketClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(MarketClientError);
    return error as MarketClientError;
  }
  throw new Error("expected a MarketClientError");
}

describe("MarketClient", () => {
  const endpoints: FakeEndpoint[] = [];
  const clients: MarketClient[] = [];

  async function endpoint(id: string): Promise<FakeEndpoint> {
    const started = await new FakeEndpoint(id).start();
    endpoints.push(started);
    return started;
  }

  function client(options: MarketClientOptions): MarketClient {
    const made = new MarketClient(options);
    clients.push(made);
    return made;
  }

  afterEach(async () => {
    for (const made of clients.splice(0)) made.close();
    await Promise.all(endpoints.splice(0).map((started) => started.close()));
  });

  it("retries a write on 503 and 504 with the same requestId", async () => {
    const node = (await endpoint("n1")).script(apiError(503, "unavailable"),
      apiError(504, "timeout"), { status: 201, body: { order } });
    const time = new FakeTime();
    const market = client({ endpoints: [node.url], ...time.options });
    const bought = await market.buy([{ sku: "a", qty: 1 }]);
    expect(bought).to.deep.equal(order);
    expect(node.requests).to.have.length(3);
    const ids = node.requests.map((request) => (request.body as { requestId: string }).requestId);
    expect(new Set(ids).size).to.equal(1);
    expect(ids[0]).to.match(/^[0-9a-f-]{36}$/);
    expect(node.requests[0]).to.deep.include({ method: "POST", path: "/v1/orders" });
    expect(time.delays).to.deep.equal([10, 20]);
  });

  it("uses the caller's requestId and sends each write's fields", async () => {
    const node = (await endpoint("n1")).script({ status: 201, body: { item } },
      { status: 200, body: { item } }, { status: 200, body: { order } });
    const market = client({ endpoints: [node.url], newRequestId: () => "generated" });
    await market.createItem({ sku: "a", name: "A", area: "X", priceCents: 100, stock: 3 },
      { requestId: "mine" });
    await market.addStock("a b", 2);
    await market.cancel("o-7");
    expect(node.requests.map((request) => [request.path, request.body])).to.deep.equal([
      ["/v1/items", { requestId: "mine", sku: "a", name: "A", area: "X", priceCents: 100,
        stock: 3 }],
      ["/v1/items/a%20b/stock", { requestId: "generated", qty: 2 }],
      ["/v1/orders/o-7/cancel", { requestId: "generated" }],
    ]);
  });

  it("builds read queries and returns the bodies", async () => {
    const node = (await endpoint("n1")).script(
      { status: 200, body: { items: [item], appliedIndex: 4 } },
      { status: 200, body: { item, appliedIndex: 5 } },
      { status: 200, body: { order, appliedIndex: 6 } });
    const market = client({ endpoints: [node.url] });
    expect(await market.searchItems({ q: "a", area: "X", inStock: true, limit: 3,
      consistency: "stale" })).to.deep.equal({ items: [item], appliedIndex: 4 });
    expect((await market.getItem("a")).appliedIndex).to.equal(5);
    expect((await market.getOrder("o-7", { consistency: "linearizable" })).order)
      .to.deep.equal(order);
    expect(node.requests.map((request) => request.path)).to.deep.equal([
      "/v1/items?q=a&area=X&inStock=true&limit=3&consistency=stale",
      "/v1/items/a",
      "/v1/orders/o-7?consistency=linearizable",
    ]);
  });

  for (const [status, code] of [[400, "invalid_request"], [404, "not_found"],
    [409, "conflict"], [413, "too_large"], [500, "internal"]] as const) {
    it(`does not retry a ${status} ${code}: it is final`, async () => {
      const node = (await endpoint("n1")).script(apiError(status, code, { field: "qty" }));
      const market = client({ endpoints: [node.url], ...new FakeTime().options });
      const error = await rejection(market.addStock("a", 1));
      expect(error).to.include({ code, status, attempts: 1 });
      expect(error.details).to.deep.equal({ field: "qty" });
      expect(node.requests).to.have.length(1);
    });
  }

  it("reports insufficient_stock with its sku and available count", async () => {
    const node = (await endpoint("n1")).script(apiError(409, "insufficient_stock",
      { sku: "apple-1kg", available: 0 }));
    const error = await rejection(client({ endpoints: [node.url] })
      .buy([{ sku: "apple-1kg", qty: 1 }]));
    expect(error.code).to.equal("insufficient_stock");
    expect(error.details).to.deep.equal({ sku: "apple-1kg", available: 0 });
  });

  it("follows a leaderId hint to that node's endpoint", async () => {
    const [n1, n2, n3] = [await endpoint("n1"), await endpoint("n2"), await endpoint("n3")];
    n1.script(apiError(503, "no_leader", { leaderId: "n3" }));
    n3.script({ status: 201, body: { order } });
    const market = client({ endpoints: [n1.url, n2.url, n3.url],
      nodeEndpoints: { n3: n3.url }, ...new FakeTime().options });
    await market.buy([{ sku: "a", qty: 1 }]);
    expect([n1.requests.length, n2.requests.length, n3.requests.length]).to.deep.equal([1, 0, 1]);
    expect(market.preferredEndpoint).to.equal(n3.url);
  });

  it("learns node ids from answers, and goes to the leader a follower forwarded to", async () => {
    const [n1, n2] = [await endpoint("n1"), await endpoint("n2")];
    const market = client({ endpoints: [n1.url, n2.url], ...new FakeTime().options });
    n2.script({ status: 200, body: { id: "n2", role: "follower" } });
    expect((await market.status(n2.url)).role).to.equal("follower");
    n1.script({ status: 201, body: { order }, headers: { "x-raftmarket-leader": "n2" } });
    await market.buy([{ sku: "a", qty: 1 }]);
    expect(market.endpointOf("n2")).to.equal(n2.url);
    expect(market.preferredEndpoint).to.equal(n2.url);
  });

  it("moves to the next endpoint on a connection error and remembers the one that answered",
    async () => {
      const dead = `http://127.0.0.1:${await closedPort()}`;
      const live = (await endpoint("n2")).script({ status: 200, body: { item, appliedIndex: 1 } },
        { status: 200, body: { item, appliedIndex: 2 } });
      const time = new FakeTime();
      const market = client({ endpoints: [dead, live.url], ...time.options });
      expect((await market.getItem("a")).appliedIndex).to.equal(1);
      expect(market.preferredEndpoint).to.equal(live.url);
      expect((await market.getItem("a")).appliedIndex).to.equal(2);
      expect(live.requests).to.have.length(2);
    });

  it("with no endpoint answering, fails with code unreachable within its bounds", async () => {
    const dead = [await closedPort(), await closedPort()].map((port) =>
      `http://127.0.0.1:${port}`);
    const time = new FakeTime();
    const market = client({ endpoints: dead, attemptsMax: 5, breakerFailuresMax: 100,
      ...time.options });
    const error = await rejection(market.getItem("a"));
    expect(error).to.include({ code: "unreachable", status: 0, attempts: 5,
      outcomeUnknown: false });
    expect(error.message).to.include("ECONNREFUSED");
    expect(time.delays).to.have.length(4);
  });

  it("with failFastWithoutMajority, gives up once most endpoints refuse the connection",
    async () => {
      const alone = await endpoint("n1");
      alone.fallback = apiError(503, "no_leader", { leaderId: null });
      const dead = [await closedPort(), await closedPort()].map((port) =>
        `http://127.0.0.1:${port}`);
      const time = new FakeTime();
      const market = client({ endpoints: [alone.url, ...dead], failFastWithoutMajority: true,
        ...time.options });
      const error = await rejection(market.buy([{ sku: "a", qty: 1 }]));
      // Each endpoint once: the live one answers no_leader, the other two refuse.
      expect(error).to.include({ code: "no_leader", attempts: 3 });
      expect(alone.requests).to.have.length(1);
      expect(time.delays).to.have.length(2);
      const single = client({ endpoints: [dead[0]!], failFastWithoutMajority: true,
        ...time.options });
      const refused = await rejection(single.getItem("a"));
      expect(refused).to.include({ code: "unreachable", attempts: 1 });
      expect(refused.message).to.include("ECONNREFUSED");
      expect(time.delays).to.have.length(2);
    });

  it("with failFastWithoutMajority, keeps retrying while a majority answers", async () => {
    const nodes = [await endpoint("n1"), await endpoint("n2")];
    for (const node of nodes) node.fallback = apiError(503, "no_leader", { leaderId: null });
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const time = new FakeTime();
    const market = client({ endpoints: [...nodes.map((node) => node.url), dead],
      failFastWithoutMajority: true, attemptsMax: 9, breakerFailuresMax: 100, ...time.options });
    const error = await rejection(market.buy([{ sku: "a", qty: 1 }]));
    expect(error).to.include({ code: "no_leader", attempts: 9 });
  });

  it("bounds each status request by the retry budget when that is shorter", async () => {
    const silent = await silentServer();
    try {
      const market = client({ endpoints: [silent.url], retryBudgetMs: 150 });
      const started = Date.now();
      const [row] = await market.clusterStatus();
      expect(row?.error?.code).to.equal("unreachable");
      expect(row?.error?.message).to.include("within 150 ms");
      expect(Date.now() - started).to.be.below(marketClientDefaults.statusTimeoutMs);
    } finally {
      await silent.close();
    }
  });

  it("keeps every backoff under the cap and stops at the retry budget", async () => {
    const node = await endpoint("n1");
    node.fallback = apiError(503, "no_leader", { leaderId: null });
    const time = new FakeTime();
    const market = client({ endpoints: [node.url], attemptsMax: 1000, retryBudgetMs: 3000,
      backoffBaseMs: 20, backoffCapMs: 400, ...time.options, random: () => 0.999 });
    const error = await rejection(market.buy([{ sku: "a", qty: 1 }]));
    expect(error).to.include({ code: "no_leader", status: 503 });
    expect(Math.max(...time.delays)).to.be.at.most(400);
    expect(time.delays.slice(0, 5)).to.deep.equal([19, 39, 79, 159, 319]);
    expect(time.delays.reduce((sum, delay) => sum + delay, 0)).to.be.below(3000);
    expect(error.attempts).to.equal(node.requests.length);
    expect(error.attempts).to.be.below(15);
  });

  it("marks a write whose outcome is unknown after 504s", async () => {
    const node = await endpoint("n1");
    node.fallback = apiError(504, "timeout");
    const market = client({ endpoints: [node.url], attemptsMax: 3, ...new FakeTime().options });
    const error = await rejection(market.buy([{ sku: "a", qty: 1 }]));
    expect(error).to.include({ code: "timeout", status: 504, outcomeUnknown: true, attempts: 3 });
  });

  it("opens an endpoint's breaker after consecutive failures, and closes it on a trial",
    async () => {
      const node = await endpoint("n1");
      node.fallback = "drop";
      const time = new FakeTime();
      const market = client({ endpoints: [node.url], attemptsMax: 2, breakerFailuresMax: 2,
        breakerCooldownMs: 5000, retryBudgetMs: 1000, ...time.options });
      const first = await rejection(market.buy([{ sku: "a", qty: 1 }]));
      expect(first).to.include({ code: "unreachable", attempts: 2, outcomeUnknown: true });
      // Open: the next call does not even try within the cooldown.
      const second = await rejection(market.getItem("a"));
      expect(second).to.include({ code: "unreachable", attempts: 0 });
      expect(node.requests).to.have.length(2);
      // After the cooldown one trial goes through; it succeeds, and the breaker closes.
      time.nowMs += 5000;
      node.fallback = { status: 200, body: { item, appliedIndex: 9 } };
      expect((await market.getItem("a")).appliedIndex).to.equal(9);
      expect((await market.getItem("a")).appliedIndex).to.equal(9);
      expect(node.requests).to.have.length(4);
    });

  it("clusterStatus asks every endpoint; an unreachable one carries its error", async () => {
    const n1 = (await endpoint("n1")).script({ status: 200, body: { id: "n1", role: "leader" } });
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const market = client({ endpoints: [n1.url, dead] });
    const rows = await market.clusterStatus();
    expect(rows[0]).to.deep.include({ endpoint: n1.url, error: null });
    expect(rows[0]?.status?.role).to.equal("leader");
    expect(rows[1]?.status).to.equal(null);
    expect(rows[1]?.error?.code).to.equal("unreachable");
    expect(market.endpointOf("n1")).to.equal(n1.url);
  });

  it("reads MARKET_ENDPOINTS and normalizes endpoints", () => {
    expect(endpointsFromEnv({ MARKET_ENDPOINTS: " 127.0.0.1:7001, http://h:7002/ ,," }))
      .to.deep.equal(["http://127.0.0.1:7001", "http://h:7002"]);
    expect(normalizeEndpoint("https://example.com/api/")).to.equal("https://example.com/api");
    expect(() => normalizeEndpoint("ftp://x")).to.throw(TypeError);
    expect(() => new MarketClient({ endpoints: [] })).to.throw(/no endpoints/);
  });
});

describe("backoff and circuit breaker", () => {
  it("backoffDelayMs is full jitter under min(cap, base * 2^retry)", () => {
    const options = { baseMs: 20, capMs: 1000 };
    expect([0, 1, 2, 3, 10].map((retry) => backoffDelayMs(retry, options, () => 0.999)))
      .to.deep.equal([19, 39, 79, 159, 999]);
    expect(backoffDelayMs(5, options, () => 0)).to.equal(0);
    expect(backoffDelayMs(1_000, options, () => 0.5)).to.equal(500);
  });

  it("the breaker goes closed -> open -> half-open (one trial) -> closed or open", () => {
    const breaker = new CircuitBreaker({ failuresMax: 3, cooldownMs: 100 });
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    breaker.recordSuccess();
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    expect(breaker.state).to.equal("closed");
    breaker.recordFailure(10);
    expect(breaker.state).to.equal("open");
    expect(breaker.tryAcquire(50)).to.equal(false);
    expect(breaker.availableAtMs(50)).to.equal(110);
    expect(breaker.tryAcquire(110)).to.equal(true);
    expect(breaker.state).to.equal("halfOpen");
    expect(breaker.tryAcquire(111)).to.equal(false);
    breaker.recordFailure(120);
    expect(breaker.state).to.equal("open");
    expect(breaker.tryAcquire(219)).to.equal(false);
    expect(breaker.tryAcquire(220)).to.equal(true);
    breaker.recordSuccess();
    expect(breaker.state).to.equal("closed");
    expect(breaker.tryAcquire(221)).to.equal(true);
  });
});
