/**
 * The live view's routes under a node (/ui), over real HTTP on 127.0.0.1. Goal: the page, its
 * info and its frames are served read-only; a frame comes through the SSE stream with the
 * nodes' status and log; actions need the admin token (401 in the API's shape without it),
 * bad action bodies are 400 invalid_request naming the field, and a network action sets the
 * same link rules the partition scripts set. Method: two FakeNodeServices served with the
 * client app (one with the admin API and a recording fault table, one with the /ui router
 * watching both), requests with fetch, everything closed in after hooks.
 */
import { expect } from "chai";
import type { RequestHandler } from "express";
import type { ClusterConfig } from "../../src/cluster/cluster-config.js";
import { AdminCluster } from "../../src/cluster/admin-cluster.js";
import { ClusterWatcher } from "../../src/dashboard/cluster-watcher.js";
import { networkActions, planCuts } from "../../src/dashboard/dashboard-actions.js";
import type { DashboardFrame } from "../../src/dashboard/dashboard-frame.js";
import { dashboardRouter } from "../../src/dashboard/dashboard-router.js";
import type { LinkRule } from "../../src/transport/faulty-transport.js";
import { FakeNodeService } from "../api/fake-node-service.js";
import { request, serveNode, type Served } from "../api/helpers.js";

const token = "test-admin-token";

class RecordingFaults {
  current: LinkRule[] = [];
  setRules(rules: readonly LinkRule[]): void {
    this.current = [...rules];
  }
  clearRules(): void {
    this.current = [];
  }
  rules(): LinkRule[] {
    return [...this.current];
  }
}

/** The first SSE frame of `url`, read from the stream within `timeoutMs`. */
async function firstFrame(url: string, timeoutMs = 5000): Promise<DashboardFrame> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, { signal: controller.signal });
    expect(response.headers.get("content-type")).to.match(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      text += Buffer.from(value).toString();
      const match = /event: frame\ndata: (.*)\n\n/.exec(text);
      if (match !== null) {
        const frame = JSON.parse(match[1]!) as DashboardFrame;
        if (frame.nodes.every((node) => node.status !== null)) return frame;
        text = text.slice(match.index + match[0].length);
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe("dashboard: the /ui routes of a node", () => {
  const faults = { n1: new RecordingFaults(), n2: new RecordingFaults() };
  let n1: Served;
  let n2: Served;
  let watcher: ClusterWatcher;

  before(async () => {
    const admin = (id: "n1" | "n2") => ({ adminToken: token, faults: faults[id],
      transferLeadership: () => "started" });
    n1 = await serveNode(new FakeNodeService("n1").loadDemo(), { admin: admin("n1") });
    // n2's own URL is known only once it listens: its view, which watches n1 and n2, is
    // made after and reached through this handler.
    let router: RequestHandler | null = null;
    n2 = await serveNode(new FakeNodeService("n2").follow("n1"), { admin: admin("n2"),
      ui: (request, response, next) => router!(request, response, next) });
    const config = {
      path: "test", timing: { tickIntervalMs: 10, heartbeatIntervalTicks: 2,
        electionTimeoutTicks: 15 },
      tokens: { adminToken: token, peerToken: "peer" },
      nodes: [{ id: "n1", host: "127.0.0.1", clientPort: n1.port, peerPort: 1, dataDir: "a" },
        { id: "n2", host: "127.0.0.1", clientPort: n2.port, peerPort: 2, dataDir: "b" }],
    } as unknown as ClusterConfig;
    watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
      nodes: [{ id: "n1", url: n1.url }, { id: "n2", url: n2.url }] });
    router = dashboardRouter({ mode: "node", title: "test", watcher, requiredToken: token,
      offered: networkActions, actions: { watcher, admin: new AdminCluster(config) } });
  });

  after(async () => {
    watcher?.close();
    await n2?.close();
    await n1?.close();
  });

  it("serves the page, redirects /ui to /ui/, and tells what it offers", async () => {
    const page = await fetch(`${n2.url}/ui/`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.include('<script type="module" src="assets/dashboard.js">');
    const bare = await fetch(`${n2.url}/ui`, { redirect: "manual" });
    expect(bare.status).to.equal(302);
    expect(bare.headers.get("location")).to.equal("/ui/");
    const info = await request(`${n2.url}/ui/info`);
    expect(info.body).to.deep.equal({ mode: "node", actions: [...networkActions],
      tokenRequired: true });
    const missing = await request(`${n2.url}/ui/assets/nope.js`);
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal("not_found");
  });

  it("streams frames with every node's status and log tail", async () => {
    const frame = await firstFrame(`${n2.url}/ui/stream`);
    expect(frame.mode).to.equal("node");
    expect(frame.ids).to.deep.equal(["n1", "n2"]);
    const [first, second] = frame.nodes;
    expect(first!.status).to.include({ id: "n1", role: "leader" });
    expect(second!.status).to.include({ id: "n2", role: "follower", leaderId: "n1" });
    expect(first!.log!.entries.at(-1)).to.deep.include({ index: first!.status!.lastLogIndex });
    expect(first!.faults).to.equal(null);
  });

  it("refuses actions without the admin token, in the API's error shape", async () => {
    const answer = await request(`${n2.url}/ui/actions`, "POST", { action: "heal" });
    expect(answer.status).to.equal(401);
    expect(answer.body.error.code).to.equal("unauthorized");
    const wrong = await request(`${n2.url}/ui/actions`, "POST", { action: "heal" },
      { authorization: "Bearer nope" });
    expect(wrong.status).to.equal(401);
  });

  it("answers bad action bodies 400 invalid_request naming the field", async () => {
    const headers = { authorization: `Bearer ${token}` };
    const cases: [unknown, string][] = [
      [{ action: "explode" }, "action"],
      [{ action: "kill", node: "n1" }, "action"],
      [{ action: "cut", from: "n1", to: "n9" }, "to"],
      [{ action: "cut", from: "n1", to: "n1" }, "to"],
      [{ action: "isolate", node: "n1", extra: 1 }, "extra"],
      [[1, 2], "body"],
    ];
    for (const [body, field] of cases) {
      const answer = await request(`${n2.url}/ui/actions`, "POST", body, headers);
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(answer.body.error, JSON.stringify(body)).to.include({ code: "invalid_request",
        field });
    }
    const notJson = await request(`${n2.url}/ui/actions`, "POST", "{", headers);
    expect(notJson.status).to.equal(400);
    expect(notJson.body.error.code).to.equal("invalid_request");
  });

  it("cuts and heals a link by setting every node's rules, as the partition scripts do",
    async () => {
      const headers = { authorization: `Bearer ${token}` };
      const cut = await request(`${n2.url}/ui/actions`, "POST",
        { action: "cut", from: "n1", to: "n2" }, headers);
      expect(cut.status).to.equal(200);
      expect(cut.body.message).to.equal("cut the link n1 - n2 (both ways)");
      const planned = planCuts(["n1", "n2"], new Set(["n1|n2"]));
      expect(faults.n1.current).to.deep.equal(planned.get("n1"));
      expect(faults.n2.current).to.deep.equal(planned.get("n2"));
      const healed = await request(`${n2.url}/ui/actions`, "POST", { action: "heal" }, headers);
      expect(healed.body.message).to.equal("healed every link");
      expect(faults.n1.current).to.deep.equal([]);
      expect(watcher.frame().events.some((event) => event.source === "action" &&
        event.kind === "cut")).to.equal(true);
    });
});
