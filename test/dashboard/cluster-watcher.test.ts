/**
 * The live view's watcher on its own: how often it sends frames, and that a frame shows what
 * its own round read (not the round before), also while one node does not answer at all.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { ClusterWatcher, clusterWatcherDefaults } from "../../src/dashboard/cluster-watcher.js";
import type { DashboardFrame } from "../../src/dashboard/dashboard-frame.js";
import { FakeNodeService } from "../api/fake-node-service.js";
import { serveNode, type Served } from "../api/helpers.js";

/** Frames as they arrive, each with the time it came (ms since `startMs`). */
function collect(watcher: ClusterWatcher, startMs: number):
  { frames: { atMs: number; frame: DashboardFrame }[]; stop: () => void } {
  const frames: { atMs: number; frame: DashboardFrame }[] = [];
  const stop = watcher.watch((frame) => {
    frames.push({ atMs: Date.now() - startMs, frame });
    return true;
  });
  return { frames, stop };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadlineMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("dashboard: the cluster watcher's frames", () => {
  let n1: Served;
  let n2: Served;
  /** Accepts connections and never answers: a paused node. */
  let silent: net.Server;
  let silentUrl: string;
  const held: net.Socket[] = [];

  before(async () => {
    n1 = await serveNode(new FakeNodeService("n1").loadDemo());
    n2 = await serveNode(new FakeNodeService("n2").follow("n1"));
    silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });

  after(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await n2.close();
    await n1.close();
  });

  it("sends five frames a second by default, the first already with every node's status",
    async () => {
      expect(clusterWatcherDefaults.intervalMs).to.equal(200);
      const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
        nodes: [{ id: "n1", url: n1.url }, { id: "n2", url: n2.url }] });
      const { frames, stop } = collect(watcher, Date.now());
      try {
        await waitFor(() => frames.length >= 4, 5000);
        // The first frame waited for the first round's reads.
        expect(frames[0]!.frame.nodes.map((node) => node.status?.role))
          .to.deep.equal(["leader", "follower"]);
        expect(frames[0]!.frame.nodes[0]!.log).to.not.equal(null);
        // A frame waits for its round's reads, so single gaps vary; their mean is the rate.
        const gapsMs = frames.slice(1).map((each, k) => each.atMs - frames[k]!.atMs);
        for (const gapMs of gapsMs) expect(gapMs).to.be.within(0, 1500);
        const meanGapMs = (frames.at(-1)!.atMs - frames[0]!.atMs) / (frames.length - 1);
        expect(meanGapMs).to.be.within(150, 400);
      } finally {
        stop();
        watcher.close();
      }
    });

  it("shows what its own round read: a change is in the next frame", async () => {
    const service = new FakeNodeService("n3").loadDemo();
    const n3 = await serveNode(service);
    const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
      intervalMs: 400, nodes: [{ id: "n3", url: n3.url }] });
    const { frames, stop } = collect(watcher, Date.now());
    try {
      await waitFor(() => frames.length >= 1, 5000);
      expect(frames[0]!.frame.nodes[0]!.status?.role).to.equal("leader");
      service.follow("n9");
      const changedAt = frames.length;
      await waitFor(() => frames.length >= changedAt + 2, 5000);
      // The first round after the change read it, and that round's frame shows it.
      expect(frames[changedAt]!.frame.nodes[0]!.status?.role).to.equal("follower");
    } finally {
      stop();
      watcher.close();
      await n3.close();
    }
  });

  it("does not hold the frames back for a node that does not answer", async () => {
    const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
      intervalMs: 400, requestTimeoutMs: 3000,
      nodes: [{ id: "n1", url: n1.url }, { id: "n4", url: silentUrl }] });
    const startMs = Date.now();
    const { frames, stop } = collect(watcher, startMs);
    try {
      // A frame every 400 ms or so, though n4's reads take 3 s to time out.
      await waitFor(() => frames.length >= 4, 2500);
      const last = frames.at(-1)!.frame;
      expect(last.nodes[0]!.status?.role).to.equal("leader");
      expect(last.nodes[1]!.status).to.equal(null);
    } finally {
      stop();
      watcher.close();
    }
  });

  it("reads a node with one request a round, and a node without the overview route with three; " +
    "its charts' counters from /v1/cluster/counters, or from /metrics on a node without it",
    async () => {
      const service = new FakeNodeService("n5").loadDemo();
      const n5 = await serveNode(service);
      // Counts the paths asked of n5, through a proxy that answers 404 to the overview and the
      // counters when `older` (a node of an earlier version).
      const asked = new Map<string, number>();
      let older = false;
      const proxy = http.createServer((request, response) => {
        const path = (request.url ?? "").split("?")[0]!;
        asked.set(path, (asked.get(path) ?? 0) + 1);
        if (older && (path === "/v1/cluster/overview" || path === "/v1/cluster/counters")) {
          response.writeHead(404, { "content-type": "application/json" });
          response.end(JSON.stringify({ error: { code: "not_found", message: "no route" } }));
          return;
        }
        void fetch(`${n5.url}${request.url ?? ""}`).then(async (answer) => {
          response.writeHead(answer.status, { "content-type": "application/json" });
          response.end(await answer.text());
        }, () => response.destroy());
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      let term = 3;
      const elect = (): void => {
        term++;
        service.events.record([{ kind: "leaderElected", term, index: term, votes: ["n5"] }], 0,
          Date.now());
      };
      /** Watches n5 for a few frames, with one election before and one during the watch. */
      const watch = async (): Promise<DashboardFrame[]> => {
        asked.clear();
        elect();
        const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
          intervalMs: 200, metricsIntervalMs: 60_000, nodes: [{ id: "n5", url }] });
        const { frames, stop } = collect(watcher, Date.now());
        try {
          await waitFor(() => frames.length >= 2, 5000);
          elect();
          const seen = frames.length;
          await waitFor(() => frames.length >= seen + 2, 5000);
        } finally {
          stop();
          watcher.close();
        }
        return frames.map((each) => each.frame);
      };
      /** The terms of the elections the frames put on the timeline, in order, repeats kept. */
      const electedTerms = (frames: DashboardFrame[]): (number | null)[] => frames
        .flatMap((frame) => frame.events)
        .filter((event) => event.source === "raft" && event.kind === "leaderElected")
        .map((event) => event.term);
      try {
        const frames = await watch();
        expect(asked.get("/v1/cluster/overview") ?? 0).to.be.at.least(4);
        // The counters once (the first round; the next is a minute away), never /metrics.
        expect([...asked.keys()].filter((path) => path !== "/v1/cluster/overview").sort())
          .to.deep.equal(["/v1/cluster/counters"]);
        for (const frame of [frames[0]!, frames.at(-1)!]) {
          expect(frame.nodes[0]!.status?.role).to.equal("leader");
          expect(frame.nodes[0]!.log?.entries.length).to.be.greaterThan(0);
        }
        // Each election once: the one before the watch, and the one during it.
        expect(electedTerms(frames)).to.deep.equal([4, 5]);

        older = true;
        const olderFrames = await watch();
        expect(asked.get("/v1/cluster/overview")).to.equal(1);
        expect(asked.get("/v1/cluster/counters")).to.equal(1);
        expect(asked.get("/metrics")).to.equal(1);
        for (const path of ["/v1/cluster/status", "/v1/cluster/log", "/v1/cluster/events"]) {
          expect(asked.get(path) ?? 0, path).to.be.at.least(3);
        }
        expect(olderFrames.at(-1)!.nodes[0]!.status?.role).to.equal("leader");
        expect(olderFrames.at(-1)!.nodes[0]!.log?.entries.length).to.be.greaterThan(0);
        // A new watcher reads the node's events from its start.
        expect(electedTerms(olderFrames)).to.deep.equal([4, 5, 6, 7]);
      } finally {
        await new Promise((resolve) => proxy.close(resolve));
        await n5.close();
      }
    });

  it("reads the charts' counters from /v1/cluster/counters; from /metrics on a node without " +
    "the route (asked once) or when the route answers something else (asked again)",
  async () => {
    const n6 = await serveNode(new FakeNodeService("n6").loadDemo());
    const asked = new Map<string, number>();
    let mode: "new" | "older" | "bad" = "new";
    const proxy = http.createServer((request, response) => {
      const path = (request.url ?? "").split("?")[0]!;
      asked.set(path, (asked.get(path) ?? 0) + 1);
      if (mode !== "new" && path === "/v1/cluster/counters") {
        response.writeHead(mode === "older" ? 404 : 200, { "content-type": "application/json" });
        response.end(mode === "older"
          ? JSON.stringify({ error: { code: "not_found", message: "no route" } })
          : JSON.stringify({ writes: "many" }));
        return;
      }
      void fetch(`${n6.url}${request.url ?? ""}`).then(async (answer) => {
        response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ??
          "application/json" });
        response.end(await answer.text());
      }, () => response.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    /** Watches until 4 samples carry n6's rates; the rates of the last. */
    const watch = async (): Promise<unknown> => {
      asked.clear();
      const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
        intervalMs: 100, metricsIntervalMs: 250, nodes: [{ id: "n6", url }] });
      const { frames, stop } = collect(watcher, Date.now());
      const rated = () => frames.flatMap((each) => each.frame.samples)
        .filter((sample) => typeof sample.nodes.n6?.writesPerSecond === "number");
      try {
        await waitFor(() => rated().length >= 4, 10_000);
      } finally {
        stop();
        watcher.close();
      }
      return rated().at(-1)!.nodes.n6;
    };
    try {
      expect(await watch()).to.include({ writesPerSecond: 0, readsPerSecond: 0 });
      expect(asked.get("/v1/cluster/counters")).to.be.at.least(5);
      expect(asked.get("/metrics")).to.equal(undefined);
      mode = "older";
      expect(await watch()).to.include({ writesPerSecond: 0, readsPerSecond: 0 });
      expect(asked.get("/v1/cluster/counters")).to.equal(1);
      expect(asked.get("/metrics")).to.be.at.least(5);
      mode = "bad";
      expect(await watch()).to.include({ writesPerSecond: 0, readsPerSecond: 0 });
      expect(asked.get("/v1/cluster/counters")).to.be.at.least(5);
      expect(asked.get("/metrics")).to.equal(asked.get("/v1/cluster/counters"));
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      await n6.close();
    }
  });

  it("refuses a frame interval outside its bounds", () => {
    for (const intervalMs of [0, 99, 5001, 250.5]) {
      expect(() => new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10, intervalMs,
        nodes: [] })).to.throw(RangeError, /from 100 to 5000/);
    }
  });

  it("sends the pending frame to a page that comes back within the wait, none after close",
    async () => {
      const watcher = new ClusterWatcher({ mode: "node", ca: null, tickIntervalMs: 10,
        intervalMs: 400, requestTimeoutMs: 3000,
        nodes: [{ id: "n1", url: n1.url }, { id: "n4", url: silentUrl }] });
      const first = collect(watcher, Date.now());
      // The first round's frame waits for n4, which never answers: stop watching meanwhile.
      first.stop();
      const second = collect(watcher, Date.now());
      try {
        await waitFor(() => second.frames.length >= 1, 1000);
        expect(second.frames[0]!.frame.nodes[0]!.status?.role).to.equal("leader");
        await waitFor(() => second.frames.length >= 3, 2500);
      } finally {
        second.stop();
      }
      const third = collect(watcher, Date.now());
      await waitFor(() => third.frames.length >= 1, 1000);
      watcher.close();
      const count = third.frames.length;
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(third.frames.length).to.equal(count);
    });

  it("npm run cluster refuses --dashboard-frame-ms outside them, with no stack trace",
    () => {
      const launcher = fileURLToPath(new URL("../../src/launcher/launcher.ts", import.meta.url));
      const result = spawnSync(process.execPath, ["--import", "tsx", launcher,
        "--config", "/nonexistent/cluster.json", "--dashboard-frame-ms", "50"],
      { encoding: "utf8", timeout: 30_000 });
      expect(result.status).to.equal(1);
      expect(result.stderr).to.include("must be whole milliseconds from 100 to 5000");
      expect(result.stderr).to.not.match(/\n\s+at /);
    });
});
