/**
 * Forwarding: a follower relays writes to the leader it knows (DESIGN.md §3, "any node accepts
 * any request"). Goal: the leader's status and body come back unchanged, the forwarded request
 * is marked, a forwarded request that lands on another non-leader is answered 503 no_leader
 * instead of bouncing on, and a leader that cannot be reached or is too slow gives 503 or 504.
 * Method: two or three apps over FakeNodeServices on free ports of 127.0.0.1; each app sits
 * behind a small express wrapper that records the headers of every request it receives.
 */
import express from "express";
import { expect } from "chai";
import type { IncomingHttpHeaders } from "node:http";
import { Registry } from "prom-client";
import { createClientApp } from "../../src/api/index.js";
import { FakeNodeService } from "./fake-node-service.js";
import { closedPort, request, serve, silentLogger, type Served } from "./helpers.js";

interface RecordedNode {
  readonly service: FakeNodeService;
  readonly served: Served;
  readonly received: IncomingHttpHeaders[];
}

async function startNode(service: FakeNodeService, forwardTimeoutMs = 2000):
  Promise<RecordedNode> {
  const received: IncomingHttpHeaders[] = [];
  const app = express();
  app.use((incoming, _response, next) => {
    received.push(incoming.headers);
    next();
  });
  app.use(createClientApp({ service, logger: silentLogger, metricsRegistry: new Registry(),
    forwardTimeoutMs }));
  return { service, served: await serve(app), received };
}

describe("client API: forwarding to the leader", () => {
  const started: RecordedNode[] = [];
  const buy = { requestId: "f1", lines: [{ sku: "milk-1l", qty: 2 }] };

  async function start(service: FakeNodeService, forwardTimeoutMs?: number):
    Promise<RecordedNode> {
    const node = await startNode(service, forwardTimeoutMs);
    started.push(node);
    return node;
  }

  afterEach(async () => {
    await Promise.all(started.splice(0).map((node) => node.served.close()));
  });

  it("a follower forwards a write and relays the leader's 201 and body", async () => {
    const leader = await start(new FakeNodeService("n1").loadDemo());
    const follower = await start(new FakeNodeService("n2").follow("n1"));
    follower.service.clientUrls.set("n1", leader.served.url);
    const answer = await request(`${follower.served.url}/v1/orders`, "POST", buy);
    expect(answer.status).to.equal(201);
    expect(answer.body.order).to.include({ requestId: "f1", status: "confirmed" });
    expect(answer.headers.get("x-raftmarket-leader")).to.equal("n1");
    expect(answer.headers.get("x-raftmarket-node")).to.equal("n2");
    expect(leader.received).to.have.length(1);
    expect(leader.received[0]?.["x-raftmarket-forwarded"]).to.equal("1");
    expect(leader.service.machine.getItem("milk-1l")?.stock).to.equal(148);
    expect(follower.service.machine.appliedIndex).to.equal(0);
  });

  it("relays the leader's rejection: status and body unchanged", async () => {
    const leader = await start(new FakeNodeService("n1").loadDemo());
    const follower = await start(new FakeNodeService("n2").follow("n1"));
    follower.service.clientUrls.set("n1", leader.served.url);
    const direct = await request(`${leader.served.url}/v1/items/bagel-6/stock`, "POST",
      { requestId: "s0", qty: 1 });
    expect(direct.status).to.equal(200);
    const answer = await request(`${follower.served.url}/v1/orders`, "POST",
      { requestId: "f2", lines: [{ sku: "bagel-6", qty: 50 }] });
    expect(answer.status).to.equal(409);
    expect(answer.body.error).to.include({ code: "insufficient_stock", sku: "bagel-6",
      available: 21 });
    const stock = await request(`${follower.served.url}/v1/items/bagel-6/stock`, "POST",
      { requestId: "s1", qty: 4 });
    expect(stock.status).to.equal(200);
    expect(stock.body.item.stock).to.equal(25);
  });

  it("validates before forwarding: a bad body is 400 at the follower", async () => {
    const leader = await start(new FakeNodeService("n1").loadDemo());
    const follower = await start(new FakeNodeService("n2").follow("n1"));
    follower.service.clientUrls.set("n1", leader.served.url);
    const answer = await request(`${follower.served.url}/v1/orders`, "POST",
      { requestId: "f3", lines: [{ sku: "milk-1l", qty: -1 }] });
    expect(answer.status).to.equal(400);
    expect(answer.body.error.field).to.equal("lines[0].qty");
    expect(leader.received).to.have.length(0);
  });

  it("never forwards twice: a forwarded request on a non-leader is 503 no_leader", async () => {
    // n2 believes n3 leads, n3 believes n2 leads: without the header they would ping-pong.
    const n2 = await start(new FakeNodeService("n2").loadDemo().follow("n3"));
    const n3 = await start(new FakeNodeService("n3").loadDemo().follow("n2"));
    n2.service.clientUrls.set("n3", n3.served.url);
    n3.service.clientUrls.set("n2", n2.served.url);
    const answer = await request(`${n2.served.url}/v1/orders`, "POST", buy);
    expect(answer.status).to.equal(503);
    expect(answer.body.error).to.include({ code: "no_leader", leaderId: "n2" });
    expect(n2.received).to.have.length(1);
    expect(n3.received).to.have.length(1);
    expect(n3.service.submitted).to.have.length(1);
  });

  it("a follower with no known leader, or no address for it, answers 503 no_leader",
    async () => {
      const orphan = await start(new FakeNodeService("n2").follow(null));
      const none = await request(`${orphan.served.url}/v1/orders`, "POST", buy);
      expect(none.status).to.equal(503);
      expect(none.body.error).to.include({ code: "no_leader", leaderId: null });
      orphan.service.follow("n7");
      const unknown = await request(`${orphan.served.url}/v1/orders`, "POST", buy);
      expect(unknown.status).to.equal(503);
      expect(unknown.body.error).to.include({ code: "no_leader", leaderId: "n7" });
    });

  it("a leader that refuses connections gives 503 unavailable with its id", async () => {
    const follower = await start(new FakeNodeService("n2").follow("n1"));
    follower.service.clientUrls.set("n1", `http://127.0.0.1:${await closedPort()}`);
    const answer = await request(`${follower.served.url}/v1/orders`, "POST", buy);
    expect(answer.status).to.equal(503);
    expect(answer.body.error).to.include({ code: "unavailable", leaderId: "n1" });
  });

  it("a leader that does not answer in forwardTimeoutMs gives 504 timeout", async () => {
    const leader = await start(new FakeNodeService("n1").loadDemo());
    leader.service.nextSubmit = () => new Promise(() => {});
    const follower = await start(new FakeNodeService("n2").follow("n1"), 150);
    follower.service.clientUrls.set("n1", leader.served.url);
    const answer = await request(`${follower.served.url}/v1/orders`, "POST", buy);
    expect(answer.status).to.equal(504);
    expect(answer.body.error).to.include({ code: "timeout", leaderId: "n1" });
  });

  it("linearizable reads on a follower use its read barrier; stale reads skip it", async () => {
    const follower = await start(new FakeNodeService("n2").loadDemo().follow("n1"));
    const linearizable = await request(`${follower.served.url}/v1/items/milk-1l`);
    expect(linearizable.status).to.equal(200);
    expect(follower.service.readBarrierCalls).to.equal(1);
    await request(`${follower.served.url}/v1/items?consistency=stale`);
    expect(follower.service.readBarrierCalls).to.equal(1);
  });
});
