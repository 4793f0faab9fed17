/**
 * Lost and repaired disks on real processes (issue 9's data-loss scenarios). A node whose data
 * folder was wiped, or whose log `--repair` cut at corruption, must never take part as its old
 * self again: the first restarted at term 0 with an empty log and voted in a leader that lacked
 * 50 acknowledged orders; the second helped elect a leader without committed entries. Both now
 * refuse to start, with one line that says why and what to do, and the orders acknowledged
 * while they were away survive. A node that starts late the first time still joins.
 *
 * Method: three market-node processes on free loopback ports (LocalCluster), orders through the
 * client API, folders wiped or bytes flipped while the node is down, and `market-node --repair`
 * run as a user runs it. Waits poll with generous bounds; every process is stopped.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { scanSegment } from "../../src/storage/wal.js";
import { runTsScript, waitFor, waitForConvergence } from "./helpers.js";

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown> | null;
}

async function call(url: string, method = "GET", body?: unknown): Promise<Answer> {
  try {
    const response = await fetch(url, { method, signal: AbortSignal.timeout(3000),
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  } catch {
    return { status: 0, body: null };
  }
}

describe("lost and repaired disks on a 3-process cluster", function () {
  this.timeout(180_000);
  let cluster: LocalCluster | null = null;
  let sequence = 0;
  const lines = new Map<string, string[]>();

  async function start(initialNodes?: string[]): Promise<LocalCluster> {
    lines.clear();
    cluster = await LocalCluster.start({ initialNodes, output: (id, line) => {
      lines.set(id, [...(lines.get(id) ?? []), line]);
    } });
    return cluster;
  }

  afterEach(async () => {
    await cluster?.stop();
    cluster = null;
  });

  /** Writes through any node that takes them; returns the order ids acknowledged. */
  async function buy(running: LocalCluster, count: number, sku = "apple"): Promise<string[]> {
    const orderIds: string[] = [];
    for (let k = 0; k < count; k++) {
      const requestId = `identity-${++sequence}`;
      const orderId = await waitFor(async () => {
        for (const node of running.nodes) {
          if (node.process === null) continue;
          const answer = await call(`${node.url}/v1/orders`, "POST",
            { requestId, lines: [{ sku, qty: 1 }] });
          if (answer.status === 201) {
            return (answer.body!.order as Record<string, unknown>).orderId as string;
          }
        }
        return undefined;
      }, `order ${requestId} acknowledged`, 30_000);
      orderIds.push(orderId);
    }
    return orderIds;
  }

  async function createItem(running: LocalCluster, sku = "apple"): Promise<void> {
    const requestId = `identity-item-${sku}`;
    await waitFor(async () => {
      for (const node of running.nodes) {
        if (node.process === null) continue;
        const answer = await call(`${node.url}/v1/items`, "POST", { requestId, sku,
          name: sku, area: "fruit", priceCents: 100, stock: 100_000 });
        if (answer.status === 201) return true;
      }
      return undefined;
    }, `item ${sku} created`, 30_000);
  }

  /** Waits until every running node has published itself (it then answers its peers). */
  async function waitPublished(running: LocalCluster, ids: string[]): Promise<void> {
    await waitFor(async () => {
      const statuses = await running.statuses();
      return ids.every((id) => statuses.has(id)) ? true : undefined;
    }, `${ids.join(", ")} answering`, 30_000);
    // A publication is one log entry per node; a write after they are all applied orders it.
    await waitForConvergence(running, 30_000);
  }

  async function expectRefusal(running: LocalCluster, id: string, words: RegExp):
    Promise<string> {
    lines.delete(id);
    running.startNode(id);
    const code = await Promise.race([running.exited(id),
      new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 30_000))]);
    expect(code, `${id} must exit`).to.equal(1);
    const errorLines = (lines.get(id) ?? []).filter((line) => line.startsWith("error:"));
    expect(errorLines, `one error line in ${(lines.get(id) ?? []).join("\n")}`).to.have.length(1);
    expect(errorLines[0]).to.match(words);
    expect((lines.get(id) ?? []).join("\n")).not.to.match(/\n\s+at /);
    return errorLines[0]!;
  }

  async function expectOrders(running: LocalCluster, id: string, orderIds: string[]):
    Promise<void> {
    const url = running.node(id).url;
    for (const orderId of orderIds) {
      const answer = await waitFor(async () => {
        const got = await call(`${url}/v1/orders/${orderId}`);
        // 503: no leader known yet, right after an election.
        return got.status === 0 || got.status === 503 ? undefined : got;
      }, `order ${orderId} readable at ${id}`);
      expect(answer.status, `order ${orderId} at ${id}`).to.equal(200);
    }
  }

  it("refuses a follower whose folder was wiped; the orders acknowledged without it survive",
    async () => {
      const running = await start();
      await running.waitForLeader();
      await createItem(running);
      await waitPublished(running, ["n1", "n2", "n3"]);
      // n2 goes down; orders are acknowledged by n1 and n3 alone.
      await running.kill("n2");
      const whileDown = await buy(running, 20);
      // The issue's loss: n1 and n3 stop, n3's folder is wiped, n2 and n3 start. Before the
      // fix, empty n3 voted n2 (which lacks the 20 orders) in.
      await running.kill("n1");
      await running.kill("n3");
      rmSync(running.dataDir("n3"), { recursive: true, force: true });
      running.startNode("n2");
      const line = await expectRefusal(running, "n3", /cannot rejoin as a voter/);
      expect(line).to.match(/n2 has it published/);
      // n2 alone elects no one; with n1 back, the orders are all there.
      running.startNode("n1");
      await running.waitForLeader(30_000);
      await expectOrders(running, "n2", whileDown);
    });

  it("lets a node that starts late the first time join a running cluster", async () => {
    const running = await start(["n1", "n2"]);
    await running.waitForLeader();
    await createItem(running);
    const early = await buy(running, 5);
    running.startNode("n3");
    await waitPublished(running, ["n1", "n2", "n3"]);
    await expectOrders(running, "n3", early);
    const joined = (lines.get("n3") ?? []).join("\n");
    expect(joined).not.to.match(/^error:/m);
  });

  it("lets a node that lost only its identity file back in, as the incarnation its log shows",
    async () => {
      const running = await start();
      await running.waitForLeader();
      await createItem(running);
      await waitPublished(running, ["n1", "n2", "n3"]);
      const identityFile = path.join(running.dataDir("n3"), "IDENTITY");
      const before = JSON.parse(readFileSync(identityFile, "utf8")) as { incarnation: string };
      await running.kill("n3");
      rmSync(identityFile);
      running.startNode("n3");
      const orders = await buy(running, 3);
      await waitPublished(running, ["n1", "n2", "n3"]);
      await expectOrders(running, "n3", orders);
      const after = JSON.parse(readFileSync(identityFile, "utf8")) as { incarnation: string;
        fence: unknown };
      expect(after).to.deep.include({ incarnation: before.incarnation, fence: null });
    });

  it("fences a node whose log --repair cut at corruption, so it never votes again",
    async () => {
      const running = await start();
      await running.waitForLeader();
      await createItem(running);
      await buy(running, 30);
      await waitPublished(running, ["n1", "n2", "n3"]);
      await running.kill("n3");
      flipByteInFirstSegment(path.join(running.dataDir("n3"), "wal"));
      // The corrupt log is refused at start, with the advice to repair.
      await expectRefusal(running, "n3", /corrupt/);
      const repair = await runTsScript("src/cli/market-node.ts",
        ["--config", running.configPath, "--id", "n3", "--repair"], 60_000);
      expect(repair.code, repair.stdout + repair.stderr).to.equal(1);
      expect(repair.stdout).to.match(/fenced: node n3 will refuse to start as a voter/);
      expect(repair.stdout).to.match(/at or below .*commit index/);
      // The loss: n1 down, n2 and the repaired n3 elected n2 without the entries.
      const afterRepair = await buy(running, 5);
      await running.kill("n1");
      await expectRefusal(running, "n3", /cannot take part as a voter/);
      running.startNode("n1");
      await running.waitForLeader(30_000);
      await expectOrders(running, "n2", afterRepair);
    });
});

/**
 * Flips one byte a third of the way into the oldest segment's records (not into the zeros
 * preallocated after them): records after it still verify.
 */
function flipByteInFirstSegment(walDir: string): void {
  const segment = readdirSync(walDir).filter((name) => name.endsWith(".log")).sort()[0];
  expect(segment, `a segment in ${walDir}`).to.be.a("string");
  const file = path.join(walDir, segment!);
  const bytes = readFileSync(file);
  const recordBytes = scanSegment(bytes).goodBytes;
  expect(recordBytes).to.be.greaterThan(3000);
  const at = Math.floor(recordBytes / 3);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(file, bytes);
}
