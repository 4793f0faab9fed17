/**
 * `npm run bench -- memory [--orders N] [--reads K] [--clients C] [--duration S]`
 *
 * A node's resident memory with a large market, on a real local 3-node cluster (issue 10: "RSS
 * per node is at most 250 MiB with 1,000,000 orders in the market, every one retrievable by
 * id"). Phases:
 *
 *   prefill  N orders through the API (prefillOrders: 64 clients, as fast as it allows);
 *   reads    K orders read back by id (`GET /v1/orders/o-<index>`), indexes drawn at random
 *            from 1..N, spread over the nodes (an index that holds no order, such as the
 *            item's creation or a leader's no-op, answers 404 and is counted apart);
 *   load     C clients buying for S seconds;
 *   idle     5 s with no load.
 *
 * After each phase it prints every node's resident memory, split into anonymous (heap and other
 * private memory) and file-backed (mapped files: the node binary and LMDB's database pages,
 * which stay mapped unless the state store's remapEveryCommits is set, off by default); at the
 * end, each node's database size.
 */
import { statSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { LocalCluster } from "../src/cluster/local-cluster.js";
import { createStockedItem, nonNegativeInteger, positiveInteger, prefillOrders } from
  "./bench-cluster.js";
import { closedLoop, requestJson, requestStatus, residentSplitMiB } from "./bench-load.js";
import { percentile } from "./bench-stats.js";

const sku = "memory-widget";

function residentLine(cluster: LocalCluster, phase: string): string {
  const parts = cluster.nodes.map((node) => {
    const split = residentSplitMiB(node.process?.pid);
    return split === null ? `${node.id} -`
      : `${node.id} ${(split.anon + split.file).toFixed(0)} (${split.anon.toFixed(0)} + ` +
        `${split.file.toFixed(0)})`;
  });
  return `${phase.padEnd(14)} RSS MiB (anonymous + file-backed): ${parts.join(", ")}`;
}

async function readBack(cluster: LocalCluster, orders: number, reads: number): Promise<string> {
  let found = 0;
  let notFound = 0;
  let errors = 0;
  const latenciesMs: number[] = [];
  for (let k = 0; k < reads; k++) {
    const index = 1 + Math.floor(Math.random() * orders);
    const url = `${cluster.nodes[k % cluster.nodes.length]!.url}/v1/orders/o-${index}`;
    const startMs = performance.now();
    const body = await requestJson(cluster.agent, "GET", url) as
      { order?: { orderId?: unknown } } | null;
    latenciesMs.push(performance.now() - startMs);
    if (body?.order?.orderId === `o-${index}`) found++;
    else if (await requestStatus(cluster.agent, "GET", url) === 404) notFound++;
    else errors++;
  }
  latenciesMs.sort((a, b) => a - b);
  return `reads by id: ${reads} at random, ${found} found, ${notFound} not an order (404), ` +
    `${errors} errors; p50 ${percentile(latenciesMs, 0.5).toFixed(2)} ms, ` +
    `p99 ${percentile(latenciesMs, 0.99).toFixed(2)} ms`;
}

export async function runMemoryBench(args: string[]): Promise<void> {
  const options = new Command("bench memory")
    .description("Resident memory per node of a local 3-node cluster holding N orders.")
    .option("--orders <count>", "orders loaded through the API first",
      nonNegativeInteger("--orders"), 1_000_000)
    .option("--reads <count>", "orders read back by id, at random", nonNegativeInteger("--reads"),
      2000)
    .option("--clients <count>", "clients of the load phase", positiveInteger("--clients"), 64)
    .option("--duration <seconds>", "seconds of the load phase", positiveInteger("--duration"), 20)
    .showHelpAfterError()
    .parse(args, { from: "user" })
    .opts<{ orders: number; reads: number; clients: number; duration: number }>();
  console.log(`starting a 3-node cluster; ${options.orders} orders, then ${options.reads} reads ` +
    `by id, then ${options.clients} clients for ${options.duration} s ...`);
  const cluster = await LocalCluster.start({});
  try {
    await cluster.waitForLeader();
    await createStockedItem(cluster, sku);
    await prefillOrders(cluster, options.orders, [sku]);
    const lines = [residentLine(cluster, "after prefill")];
    if (options.reads > 0 && options.orders > 0) {
      lines.push(await readBack(cluster, options.orders, options.reads));
      lines.push(residentLine(cluster, "after reads"));
    }
    const runId = `memory-${Date.now()}`;
    const load = await closedLoop(options.clients, options.duration, 201, (client, k) =>
      requestStatus(cluster.agent, "POST",
        `${cluster.nodes[client % cluster.nodes.length]!.url}/v1/orders`,
        { requestId: `${runId}-${client}-${k}`, lines: [{ sku, qty: 1 }] }));
    lines.push(`load: ${options.clients} clients, ${(load.okCount / load.seconds).toFixed(0)} ` +
      `purchases/s, ${load.errorCount} errors`);
    lines.push(residentLine(cluster, "after load"));
    await new Promise((resolve) => setTimeout(resolve, 5000));
    lines.push(residentLine(cluster, "5 s idle"));
    lines.push(`database per node (data.mdb): ${cluster.nodes.map((node) =>
      `${node.id} ${(statSync(path.join(cluster.dataDir(node.id), "state", "data.mdb")).size /
        2 ** 20).toFixed(1)} MiB`).join(", ")}`);
    console.log("");
    for (const line of lines) console.log(line);
  } finally {
    await cluster.stop();
  }
}
