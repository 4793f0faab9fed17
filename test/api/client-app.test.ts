/**
 * The client API of DESIGN.md §3 on one node, over real HTTP on 127.0.0.1. Goal: every route
 * answers with the contract's status and shape, and every error code is produced where the
 * contract says. Method: createClientApp over a FakeNodeService (a real MarketStateMachine
 * behind a scriptable node: leader or follower, with one-shot scripted outcomes for submit and
 * the read barrier), requests with fetch, one app per describe, closed in after hooks.
 */
import { expect } from "chai";
import pino from "pino";
import { Writable } from "node:stream";
import { apiErrorStatus, type ApiErrorCode } from "../../src/api/index.js";
import { FakeNodeService } from "./fake-node-service.js";
import { StateStoreError } from "../../src/market/state-store.js";
import { request, serveNode, type Served } from "./helpers.js";

const apple = { sku: "apple-1kg", name: "Apples, 1 kg bag", area: "Fruit & Veg",
  priceCents: 349, stock: 120 };

describe("client API: routes", () => {
  let service: FakeNodeService;
  let served: Served;

  beforeEach(async () => {
    service = new FakeNodeService("n1").loadDemo();
    served = await serveNode(service, { bodyLimitBytes: 4096 });
  });
  afterEach(async () => served.close());

  it("POST /v1/items creates an item: 201 {item}, stamped with the node id", async () => {
    const item = { sku: "kiwi-4", name: "Kiwis", area: "Fruit & Veg", priceCents: 250, stock: 9 };
    const answer = await request(`${served.url}/v1/items`, "POST", { requestId: "r1", ...item });
    expect(answer.status).to.equal(201);
    expect(answer.body).to.deep.equal({ item });
    expect(answer.headers.get("x-raftmarket-node")).to.equal("n1");
    expect(service.submitted.at(-1)).to.deep.include({ kind: "createItem", requestId: "r1" });
  });

  it("POST /v1/items with a bad field is 400 invalid_request naming the field", async () => {
    const answer = await request(`${served.url}/v1/items`, "POST",
      { requestId: "r1", sku: "x", area: "a", priceCents: 1, stock: 1 });
    expect(answer.status).to.equal(400);
    expect(answer.body.error).to.include({ code: "invalid_request", field: "name" });
    expect(answer.body.error.message).to.be.a("string");
    expect(service.submitted).to.have.length(0);
  });

  it("POST /v1/items with a taken sku is 409 conflict", async () => {
    const answer = await request(`${served.url}/v1/items`, "POST", { requestId: "r2", ...apple });
    expect(answer.status).to.equal(409);
    expect(answer.body.error).to.include({ code: "conflict", sku: "apple-1kg" });
  });

  it("GET /v1/items searches with q, area, inStock and limit, linearizable by default",
    async () => {
      const answer = await request(`${served.url}/v1/items?q=APPLE&area=fruit%20%26%20veg` +
        "&inStock=true&limit=5");
      expect(answer.status).to.equal(200);
      expect(answer.body).to.deep.equal({ items: [apple], appliedIndex: 12 });
      expect(service.readBarrierCalls).to.equal(1);
      const limited = await request(`${served.url}/v1/items?limit=2`);
      expect(limited.body.items.map((item: { sku: string }) => item.sku))
        .to.deep.equal(["apple-1kg", "avocado-2"]);
    });

  it("GET /v1/items?consistency=stale answers locally without a read barrier", async () => {
    const answer = await request(`${served.url}/v1/items?consistency=stale&area=Bakery`);
    expect(answer.status).to.equal(200);
    expect(answer.body.items).to.have.length(3);
    expect(answer.body.appliedIndex).to.equal(12);
    expect(service.readBarrierCalls).to.equal(0);
  });

  it("GET /v1/items rejects a bad limit or consistency with 400 naming the field", async () => {
    const badLimit = await request(`${served.url}/v1/items?limit=0`);
    expect(badLimit.status).to.equal(400);
    expect(badLimit.body.error).to.include({ code: "invalid_request", field: "limit" });
    const badConsistency = await request(`${served.url}/v1/items?consistency=eventual`);
    expect(badConsistency.status).to.equal(400);
    expect(badConsistency.body.error).to.include({ field: "consistency" });
  });

  it("GET /v1/items/:sku is 200 {item, appliedIndex}, or 404 not_found", async () => {
    const answer = await request(`${served.url}/v1/items/apple-1kg?consistency=linearizable`);
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({ item: apple, appliedIndex: 12 });
    const missing = await request(`${served.url}/v1/items/durian?consistency=stale`);
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.include({ code: "not_found", sku: "durian" });
  });

  it("POST /v1/items/:sku/stock adds stock: 200 {item}; 404 unknown sku; 400 bad qty",
    async () => {
      const added = await request(`${served.url}/v1/items/apple-1kg/stock`, "POST",
        { requestId: "s1", qty: 5 });
      expect(added.status).to.equal(200);
      expect(added.body.item).to.include({ sku: "apple-1kg", stock: 125 });
      const unknown = await request(`${served.url}/v1/items/durian/stock`, "POST",
        { requestId: "s2", qty: 5 });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.error.code).to.equal("not_found");
      const zero = await request(`${served.url}/v1/items/apple-1kg/stock`, "POST",
        { requestId: "s3", qty: 0 });
      expect(zero.status).to.equal(400);
      expect(zero.body.error).to.include({ code: "invalid_request", field: "qty" });
    });

  it("POST /v1/orders buys all or nothing: 201 {order}; 409 insufficient_stock", async () => {
    const bought = await request(`${served.url}/v1/orders`, "POST",
      { requestId: "b1", lines: [{ sku: "bagel-6", qty: 15 }] });
    expect(bought.status).to.equal(201);
    expect(bought.body.order).to.include({ requestId: "b1", status: "confirmed",
      totalCents: 15 * 275, orderId: "o-13", index: 13 });
    const refused = await request(`${served.url}/v1/orders`, "POST",
      { requestId: "b2", lines: [{ sku: "milk-1l", qty: 1 }, { sku: "bagel-6", qty: 6 }] });
    expect(refused.status).to.equal(409);
    expect(refused.body.error).to.include({ code: "insufficient_stock", sku: "bagel-6",
      available: 5 });
    expect(service.machine.getItem("milk-1l")?.stock).to.equal(150);
    const lines = await request(`${served.url}/v1/orders`, "POST",
      { requestId: "b3", lines: [] });
    expect(lines.status).to.equal(400);
    expect(lines.body.error.field).to.equal("lines");
    const unknown = await request(`${served.url}/v1/orders`, "POST",
      { requestId: "b4", lines: [{ sku: "durian", qty: 1 }] });
    expect(unknown.status).to.equal(404);
  });

  it("a retried requestId returns the first result; a different body is 409 conflict",
    async () => {
      const body = { requestId: "same", lines: [{ sku: "milk-1l", qty: 2 }] };
      const first = await request(`${served.url}/v1/orders`, "POST", body);
      const again = await request(`${served.url}/v1/orders`, "POST", body);
      expect(again.status).to.equal(201);
      expect(again.body).to.deep.equal(first.body);
      expect(service.machine.getItem("milk-1l")?.stock).to.equal(148);
      const changed = await request(`${served.url}/v1/orders`, "POST",
        { requestId: "same", lines: [{ sku: "milk-1l", qty: 3 }] });
      expect(changed.status).to.equal(409);
      expect(changed.body.error).to.include({ code: "conflict", requestId: "same" });
    });

  it("GET /v1/orders/:orderId and POST /v1/orders/:orderId/cancel (restocks once)",
    async () => {
      const bought = await request(`${served.url}/v1/orders`, "POST",
        { requestId: "b1", lines: [{ sku: "milk-1l", qty: 10 }] });
      const { orderId } = bought.body.order as { orderId: string };
      const got = await request(`${served.url}/v1/orders/${orderId}`);
      expect(got.status).to.equal(200);
      expect(got.body.order).to.deep.equal(bought.body.order);
      const cancelled = await request(`${served.url}/v1/orders/${orderId}/cancel`, "POST",
        { requestId: "c1" });
      expect(cancelled.status).to.equal(200);
      expect(cancelled.body.order).to.include({ orderId, status: "cancelled" });
      await request(`${served.url}/v1/orders/${orderId}/cancel`, "POST", { requestId: "c2" });
      expect(service.machine.getItem("milk-1l")?.stock).to.equal(150);
      const missing = await request(`${served.url}/v1/orders/o-999`);
      expect(missing.status).to.equal(404);
      expect(missing.body.error).to.include({ code: "not_found", orderId: "o-999" });
      const cancelMissing = await request(`${served.url}/v1/orders/o-999/cancel`, "POST",
        { requestId: "c3" });
      expect(cancelMissing.status).to.equal(404);
      const noRequestId = await request(`${served.url}/v1/orders/${orderId}/cancel`, "POST", {});
      expect(noRequestId.body.error).to.include({ code: "invalid_request", field: "requestId" });
    });

  it("GET /v1/cluster/status reports the node's view", async () => {
    const answer = await request(`${served.url}/v1/cluster/status`);
    expect(answer.status).to.equal(200);
    expect(answer.body).to.have.all.keys("id", "role", "term", "leaderId", "commitIndex",
      "appliedIndex", "lastLogIndex", "members", "stateHash",
      // The extensions for the live view:
      "vote", "lastLogTerm", "progress", "electionElapsedTicks", "electionTimeoutTicks");
    expect(answer.body).to.include({ id: "n1", role: "leader", appliedIndex: 12 });
    expect(answer.body.stateHash).to.equal(service.machine.stateHash());
  });

  it("GET /v1/cluster/log serves the last entries' index, term and kind, bounded", async () => {
    const count = service.status().lastLogIndex;
    const answer = await request(`${served.url}/v1/cluster/log?limit=3`, "GET");
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.include({ id: "n1", term: 3, commitIndex: count,
      lastLogIndex: count, compactedIndex: 0 });
    expect((answer.body as { entries: unknown[] }).entries).to.deep.equal([count - 2, count - 1,
      count].map((index) => ({ index, term: 3, kind: "command" })));
    for (const query of ["limit=0", "limit=201", "limit=x", "after=1"]) {
      const refused = await request(`${served.url}/v1/cluster/log?${query}`, "GET");
      expect(refused.status, query).to.equal(400);
      expect((refused.body as { error: { code: string } }).error.code).to.equal("invalid_request");
    }
  });

  it("GET /v1/cluster/overview answers status, log tail and events at once, as the three routes do",
    async () => {
      service.events.record([1, 2, 3].map((index) =>
        ({ kind: "leaderElected", term: 3, index, votes: ["n1"] })), 0, 1000);
      const query = "logLimit=2&eventsAfter=1&eventsLimit=1";
      const answer = await request(`${served.url}/v1/cluster/overview?${query}`, "GET");
      expect(answer.status).to.equal(200);
      const body = answer.body as { status: unknown; log: unknown; events: unknown };
      expect(body).to.have.all.keys("status", "log", "events");
      const [status, log, events] = await Promise.all([request(`${served.url}/v1/cluster/status`),
        request(`${served.url}/v1/cluster/log?limit=2`),
        request(`${served.url}/v1/cluster/events?after=1&limit=1`)]);
      expect(body.status).to.deep.equal(status.body);
      expect(body.log).to.deep.equal(log.body);
      expect(body.events).to.deep.equal(events.body);
      expect((body.log as { entries: unknown[] }).entries).to.have.length(2);
      expect((body.events as { events: { seq: number }[] }).events.map((event) => event.seq))
        .to.deep.equal([2]);
      for (const bad of ["logLimit=0", "logLimit=201", "eventsLimit=0", "eventsAfter=-1",
        "limit=3", "eventsLimit=1&eventsLimit=2"]) {
        const refused = await request(`${served.url}/v1/cluster/overview?${bad}`, "GET");
        expect(refused.status, bad).to.equal(400);
        expect((refused.body as { error: { code: string } }).error.code, bad)
          .to.equal("invalid_request");
      }
    });

  it("GET /metrics serves the registry as Prometheus text, with request counts", async () => {
    await request(`${served.url}/v1/items/apple-1kg`);
    const answer = await request(`${served.url}/metrics`);
    expect(answer.status).to.equal(200);
    expect(answer.headers.get("content-type")).to.match(/^text\/plain/);
    expect(answer.body).to.include(
      'api_requests_total{method="GET",route="/v1/items/:sku",status="200"} 1');
  });

  it("a body larger than the limit is 413 too_large; malformed JSON is 400", async () => {
    const big = await request(`${served.url}/v1/items`, "POST",
      { requestId: "r1", ...apple, name: "x".repeat(5000) });
    expect(big.status).to.equal(413);
    expect(big.body.error.code).to.equal("too_large");
    const malformed = await request(`${served.url}/v1/orders`, "POST", "{\"requestId\":");
    expect(malformed.status).to.equal(400);
    expect(malformed.body.error).to.include({ code: "invalid_request", field: "body" });
    const notJson = await request(`${served.url}/v1/orders`, "POST", undefined);
    expect(notJson.status).to.equal(400);
    expect(notJson.body.error.field).to.equal("body");
  });

  it("an unknown path is a JSON 404 not_found", async () => {
    const answer = await request(`${served.url}/v2/nothing`);
    expect(answer.status).to.equal(404);
    expect(answer.body.error.code).to.equal("not_found");
  });
});

describe("client API: unavailability and errors", () => {
  let service: FakeNodeService;
  let served: Served;
  const logged: string[] = [];
  const logger = pino({ level: "error" }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString());
      done();
    },
  }));
  const buy = { requestId: "b1", lines: [{ sku: "milk-1l", qty: 1 }] };

  beforeEach(async () => {
    service = new FakeNodeService("n1").loadDemo();
    served = await serveNode(service, { logger, requestTimeoutMs: 200 });
  });
  afterEach(async () => served.close());

  const cases: { outcome: Awaited<ReturnType<FakeNodeService["submit"]>>; code: ApiErrorCode }[] =
    [
      { outcome: { kind: "overloaded" }, code: "unavailable" },
      { outcome: { kind: "timeout" }, code: "timeout" },
      { outcome: { kind: "unknown", leaderId: "n2" }, code: "timeout" },
      { outcome: { kind: "notLeader", leaderId: null }, code: "no_leader" },
    ];
  for (const { outcome, code } of cases) {
    it(`a submit answered ${outcome.kind} is ${apiErrorStatus[code]} ${code}`, async () => {
      service.nextSubmit = () => Promise.resolve(outcome);
      const answer = await request(`${served.url}/v1/orders`, "POST", buy);
      expect(answer.status).to.equal(apiErrorStatus[code]);
      expect(answer.body.error.code).to.equal(code);
      if (code === "no_leader") expect(answer.body.error.leaderId).to.equal(null);
    });
  }

  it("a submit that never settles is 504 timeout after requestTimeoutMs", async () => {
    service.nextSubmit = () => new Promise(() => {});
    const answer = await request(`${served.url}/v1/orders`, "POST", buy);
    expect(answer.status).to.equal(504);
    expect(answer.body.error.code).to.equal("timeout");
  });

  it("a state-machine limit is 409 limit_exceeded", async () => {
    const small = new FakeNodeService("n9", { itemsMax: 1 });
    const smallServed = await serveNode(small);
    try {
      const item = { sku: "a", name: "A", area: "X", priceCents: 1, stock: 1 };
      await request(`${smallServed.url}/v1/items`, "POST", { requestId: "1", ...item });
      const answer = await request(`${smallServed.url}/v1/items`, "POST",
        { requestId: "2", ...item, sku: "b" });
      expect(answer.status).to.equal(409);
      expect(answer.body.error).to.include({ code: "limit_exceeded", field: "items", limit: 1 });
    } finally {
      await smallServed.close();
    }
  });

  const reads: { outcome: Awaited<ReturnType<FakeNodeService["readBarrier"]>>;
    code: ApiErrorCode }[] = [
    { outcome: { kind: "noLeader", leaderId: "n3" }, code: "no_leader" },
    { outcome: { kind: "overloaded" }, code: "unavailable" },
    { outcome: { kind: "timeout" }, code: "timeout" },
  ];
  for (const { outcome, code } of reads) {
    it(`a read barrier answered ${outcome.kind} is ${apiErrorStatus[code]} ${code}`, async () => {
      service.nextRead = () => Promise.resolve(outcome);
      const answer = await request(`${served.url}/v1/items/apple-1kg`);
      expect(answer.status).to.equal(apiErrorStatus[code]);
      expect(answer.body.error.code).to.equal(code);
      if (code === "no_leader") expect(answer.body.error.leaderId).to.equal("n3");
    });
  }

  it("a stale read is served even without a leader", async () => {
    service.follow(null);
    const linearizable = await request(`${served.url}/v1/items/apple-1kg`);
    expect(linearizable.status).to.equal(503);
    const stale = await request(`${served.url}/v1/items/apple-1kg?consistency=stale`);
    expect(stale.status).to.equal(200);
    expect(stale.body.appliedIndex).to.equal(12);
  });

  it("a query that meets damaged storage is 503 unavailable and stops the node, never a 500",
    async () => {
      service.marketError = new StateStoreError("damaged state store: checksum mismatch in " +
        "table items at key apple-1kg");
      const answer = await request(`${served.url}/v1/items/apple-1kg?consistency=stale`);
      expect(answer.status).to.equal(503);
      expect(answer.body.error.code).to.equal("unavailable");
      expect(answer.body.error.message).to.match(/another node/);
      expect(service.storageFailures.map((error) => error.message)).to.deep.equal([
        "damaged state store: checksum mismatch in table items at key apple-1kg"]);
    });

  it("an unexpected error is a logged 500 internal without details", async () => {
    service.statusError = new Error("boom: secret detail");
    const answer = await request(`${served.url}/v1/cluster/status`);
    expect(answer.status).to.equal(500);
    expect(answer.body).to.deep.equal({ error: { code: "internal", message: "internal error" } });
    expect(logged.join("")).to.include("boom: secret detail");
  });
});
