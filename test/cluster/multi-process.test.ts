/**
 * Three real market-node processes on 127.0.0.1 with fsync on, driven through MarketClient as
 * a user's program would. Buys go through a follower (which forwards to the leader); stale and
 * linearizable reads are both exercised; then the leader is killed with SIGKILL while a client
 * keeps buying, and the books must balance exactly: every acknowledged order exists once,
 * stock fell by exactly the acknowledged quantity (nothing lost, nothing applied twice), and
 * the replicas converge to one state hash. Last, every node is killed at once mid-load (issue
 * 10's crash bar: a power cut of the whole cluster, as far as a process can tell) and
 * restarted, and every order acknowledged before must be there. Waits poll with generous bounds; the cluster is
 * always stopped in an after hook.
 */
import { existsSync, readFileSync } from "node:fs";
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { marketNodeFlags } from "../../src/cluster/market-node-bin.js";
import { MarketClient, MarketClientError } from "../../src/client/index.js";
import { waitFor, waitForConvergence } from "./helpers.js";


/**
 * Four buyers of one unit of `sku` each, in a loop until stop() (which waits for them), through
 * the client `clientFor` gives each. An error is an outcome the client reports; it must not
 * have applied (the tests check that through the stock count, which would then be short).
 */
function startBuyers(sku: string, clientFor: () => { client: MarketClient; owned: boolean }) {
  const acknowledged: string[] = [];
  const counts = { failed: 0 };
  let running = true;
  const buyers = Array.from({ length: 4 }, async () => {
    const { client, owned } = clientFor();
    try {
      while (running) {
        try {
          acknowledged.push((await client.buy([{ sku, qty: 1 }])).orderId);
        } catch (error) {
          counts.failed++;
          if (!(error instanceof MarketClientError)) throw error;
        }
      }
    } finally {
      if (owned) client.close();
    }
  });
  return {
    acknowledged,
    get failed(): number {
      return counts.failed;
    },
    stop: async (): Promise<void> => {
      running = false;
      await Promise.all(buyers);
    },
  };
}

describe("a 3-process cluster", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: MarketClient;

  before(async () => {
    cluster = await LocalCluster.start();
    client = new MarketClient({ endpoints: cluster.nodes.map((node) => node.url),
      nodeEndpoints: Object.fromEntries(cluster.nodes.map((node) => [node.id, node.url])) });
    await cluster.waitForLeader(30_000);
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it("runs every node with marketNodeFlags (they bound a node's memory)", function () {
    if (!existsSync("/proc/self/cmdline")) this.skip(); // Linux's record of a command line
    for (const node of cluster.nodes) {
      // The kernel's record of the process's own command line: what Node was really given.
      const argv = readFileSync(`/proc/${node.process!.pid}/cmdline`, "utf8").split("\0");
      expect(argv.slice(1, 1 + marketNodeFlags.length), node.id).to.deep.equal(marketNodeFlags);
    }
  });

  it("buys through a follower and serves stale and linearizable reads", async () => {
    const leaderId = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leaderId)!;
    const viaFollower = new MarketClient({ endpoints: [follower.url] });
    try {
      await viaFollower.createItem({ sku: "tea-100", name: "Green tea", area: "Pantry",
        priceCents: 450, stock: 5 });
      const order = await viaFollower.buy([{ sku: "tea-100", qty: 2 }]);
      expect(order.status).to.equal("confirmed");
      // Linearizable on the follower: the acknowledged purchase must be visible.
      const fresh = await viaFollower.getItem("tea-100");
      expect(fresh.item.stock).to.equal(3);
      // Stale reads answer locally and say how far this replica has applied.
      const stale = await viaFollower.searchItems({ q: "tea", consistency: "stale" });
      expect(stale.appliedIndex).to.be.a("number");
      const insufficient = await viaFollower.buy([{ sku: "tea-100", qty: 4 }])
        .then(() => null, (error: unknown) => error);
      expect(insufficient).to.be.instanceOf(MarketClientError);
      expect((insufficient as MarketClientError).code).to.equal("insufficient_stock");
    } finally {
      viaFollower.close();
    }
  });

  it("loses and duplicates no purchase when the leader is SIGKILLed mid-load", async () => {
    const initialStock = 100_000;
    await client.createItem({ sku: "widget", name: "Widget", area: "Bench", priceCents: 100,
      stock: initialStock });
    const buyers = startBuyers("widget", () => ({ client, owned: false }));
    const { acknowledged } = buyers;
    await waitFor(async () => (acknowledged.length >= 30 ? true : undefined), "some purchases");
    const oldLeader = await cluster.waitForLeader();
    await cluster.kill(oldLeader);
    const countAtKill = acknowledged.length;
    await waitFor(async () => (acknowledged.length >= countAtKill + 30 ? true : undefined),
      "purchases after the leader was killed");
    await buyers.stop();
    const failed = buyers.failed;
    cluster.startNode(oldLeader);
    // Every acknowledged order exists, once.
    expect(new Set(acknowledged).size).to.equal(acknowledged.length);
    for (const orderId of acknowledged.slice(-20)) {
      const { order } = await client.getOrder(orderId);
      expect(order.status).to.equal("confirmed");
    }
    const { item } = await client.getItem("widget");
    // Failed writes may still have applied (outcome unknown), so stock may be lower by at most
    // the failures; an acknowledged purchase can never be missing.
    expect(initialStock - item.stock).to.be.at.least(acknowledged.length);
    expect(initialStock - item.stock).to.be.at.most(acknowledged.length + failed);
    // The restarted node catches up and every replica reaches the same state.
    await waitForConvergence(cluster, 30_000);
  });

  it("loses no acknowledged purchase when every node is SIGKILLed at once mid-load", async () => {
    const initialStock = 100_000;
    await client.createItem({ sku: "gadget", name: "Gadget", area: "Bench", priceCents: 100,
      stock: initialStock });
    // One client per buyer: after the kill each gives up on its own, not on a shared breaker.
    const buyers = startBuyers("gadget", () => ({ owned: true,
      client: new MarketClient({ endpoints: cluster.nodes.map((node) => node.url),
        retryBudgetMs: 2_000 }) }));
    const { acknowledged } = buyers;
    await waitFor(async () => (acknowledged.length >= 100 ? true : undefined), "some purchases");
    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    const countAtKill = acknowledged.length;
    await buyers.stop();
    const failed = buyers.failed;
    for (const node of cluster.nodes) cluster.startNode(node.id);
    await cluster.waitForLeader(30_000);
    // Answers that were on their way when the processes died may have landed after the kill.
    expect(acknowledged.length).to.be.at.least(countAtKill);
    expect(new Set(acknowledged).size).to.equal(acknowledged.length);
    for (const orderId of acknowledged) {
      const { order } = await client.getOrder(orderId);
      expect(order.status, orderId).to.equal("confirmed");
    }
    const { item } = await client.getItem("gadget");
    expect(initialStock - item.stock).to.be.at.least(acknowledged.length);
    expect(initialStock - item.stock).to.be.at.most(acknowledged.length + failed);
    await waitForConvergence(cluster, 30_000);
  });
});
