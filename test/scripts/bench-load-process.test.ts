/**
 * Goal: the clients of `npm run bench -- dashboard` buy from a process of their own, so that
 * the live view's server in the benchmark's process does not hold them back, and they send the
 * same load as before: the same requests, spread over the nodes, with an id per request. And
 * that process never outlives the benchmark. Method: LoadProcess against two stand-in nodes
 * (plain HTTP servers that record each request and answer some 503), on a cluster file of
 * their own.
 */
import { expect } from "chai";
import { rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { writeLocalClusterConfig } from "../../src/cluster/local-cluster.js";
import { LoadProcess } from "../../scripts/bench-load-process.js";

interface Seen {
  readonly url: string | undefined;
  readonly body: { requestId: string; lines: unknown };
  readonly status: number;
}

/** A stand-in for a node: answers every 4th purchase it gets 503 and the others 201. */
async function fakeNode(): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Seen["body"];
      const status = (seen.length + 1) % 4 === 0 ? 503 : 201;
      seen.push({ url: request.url, body, status });
      response.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }) };
}

/** Whether process `pid` exists (our children are reaped when they exit). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("bench load process", function () {
  this.timeout(30_000);
  let configRoot = "";
  let configPath = "";

  before(async () => {
    ({ root: configRoot, configPath } = await writeLocalClusterConfig());
  });
  after(() => rmSync(configRoot, { recursive: true, force: true }));

  it("sends each client's purchases to its node and reports what the nodes answered",
    async () => {
      const nodes = [await fakeNode(), await fakeNode()];
      const load = LoadProcess.start(configPath);
      try {
        expect(load.pid).to.be.a("number").and.not.equal(process.pid);
        const result = await load.run({ clients: 3, seconds: 0.5,
          nodeUrls: nodes.map((node) => node.url), sku: "widget", requestIdPrefix: "job1",
          timeoutMs: 2000 });
        const seen = nodes.flatMap((node) => node.seen);
        expect(result.okCount).to.be.greaterThan(0);
        expect(result.okCount).to.equal(seen.filter((request) => request.status === 201).length);
        expect(result.errorCount).to.equal(seen.filter((request) => request.status === 503)
          .length);
        expect(result.errorsByStatus).to.be.instanceOf(Map);
        expect(result.errorsByStatus.get(503)).to.equal(result.errorCount);
        expect(result.errorsByStatus.size).to.equal(result.errorCount > 0 ? 1 : 0);
        expect(result.latenciesMs).to.have.length(result.okCount);
        // Client c talks to node c mod 2, with one id per request and one unit of the sku.
        nodes.forEach((node, n) => {
          for (const request of node.seen) {
            expect(request.url).to.equal("/v1/orders");
            expect(request.body.lines).to.deep.equal([{ sku: "widget", qty: 1 }]);
            const client = Number(/^job1-(\d+)-\d+$/.exec(request.body.requestId)?.[1]);
            expect(client % 2).to.equal(n);
          }
        });
        const ids = seen.map((request) => request.body.requestId);
        expect(new Set(ids).size).to.equal(ids.length);
        // A second job on the same process, with its own ids.
        const second = await load.run({ clients: 1, seconds: 0.2, nodeUrls: [nodes[1]!.url],
          sku: "widget", requestIdPrefix: "job2", timeoutMs: 2000 });
        expect(second.okCount + second.errorCount).to.equal(nodes[1]!.seen
          .filter((request) => request.body.requestId.startsWith("job2-")).length);
      } finally {
        await load.stop();
        await Promise.all(nodes.map((node) => node.close()));
      }
    });

  it("reports a job that failed in the child, and stays usable", async () => {
    const node = await fakeNode();
    const load = LoadProcess.start(configPath);
    try {
      const failure = await load.run({ clients: 1, seconds: 0.2, nodeUrls: [], sku: "w",
        requestIdPrefix: "none", timeoutMs: 100 }).then(() => null, (error: unknown) => error);
      expect(String(failure)).to.match(/^Error: load process: .*Invalid URL/);
      const result = await load.run({ clients: 1, seconds: 0.2, nodeUrls: [node.url],
        sku: "w", requestIdPrefix: "after", timeoutMs: 2000 });
      expect(result.okCount).to.be.greaterThan(0);
    } finally {
      await load.stop();
      await node.close();
    }
  });

  it("rejects the job of a child that dies under it", async () => {
    const node = await fakeNode();
    const load = LoadProcess.start(configPath);
    try {
      const running = load.run({ clients: 2, seconds: 20, nodeUrls: [node.url], sku: "w",
        requestIdPrefix: "killed", timeoutMs: 2000 });
      while (node.seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      process.kill(load.pid!, "SIGKILL");
      const failure = await running.then(() => null, (error: unknown) => error);
      expect(String(failure)).to.match(/exited \(SIGKILL\)/);
    } finally {
      await load.stop();
      await node.close();
    }
  });

  it("stops its child when asked, without killing it, and refuses jobs after", async () => {
    const load = LoadProcess.start(configPath);
    const pid = load.pid!;
    const startedMs = performance.now();
    await load.stop();
    // stop() kills the child only after 5 s: a quicker end is the child's own exit.
    expect(performance.now() - startedMs).to.be.lessThan(4000);
    expect(alive(pid)).to.equal(false);
    const refused = await load.run({ clients: 1, seconds: 0.1, nodeUrls: ["http://127.0.0.1:9"],
      sku: "w", requestIdPrefix: "late", timeoutMs: 100 }).then(() => null,
      (error: unknown) => error);
    expect(String(refused)).to.match(/exited/);
  });
});
