/**
 * `npx tsx scripts/profile-cluster.ts --out /tmp/prof`: a real 3-node cluster on 127.0.0.1
 * (fsync on, plain HTTP), each node run under `node --cpu-prof`, loaded like `npm run bench`
 * (N closed-loop clients buying one unit each, spread over all nodes, or all on the leader with
 * --on-leader, or all on one follower with --on-follower) for D seconds, after --prefill N
 * orders if asked (a market that size, as vs-etcd's --prefill); then every
 * node is stopped with SIGINT so V8 writes its profile to `<out>/<id>/`. Prints the leader, the
 * acknowledged purchases, the load window (seconds after the spawn) and the profile files; `scripts/profile-split.ts` turns those into a
 * CPU split per category and per acknowledged write.
 *
 * The cluster's temporary folder is removed at the end; the profiles are kept.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { writeLocalClusterConfig, type NodeExit } from "../src/cluster/local-cluster.js";
import { marketNodeFlags } from "../src/cluster/market-node-bin.js";
import { closedLoop, requestJson, requestStatus } from "./bench-load.js";
import { nonNegativeInteger, positiveInteger, prefillOrders } from "./bench-cluster.js";

const marketNodeScript = fileURLToPath(new URL("../src/cli/market-node.ts", import.meta.url));

interface Options { out: string; clients: number; duration: number; cpuProf: boolean;
  onLeader: boolean; onFollower: boolean; prefill: number }

function parseOptions(): Options {
  return new Command("profile-cluster")
    .description("run a 3-node cluster under --cpu-prof, load it with purchases, keep profiles")
    .requiredOption("--out <dir>", "where the .cpuprofile files go (one folder per node)")
    .option("--clients <n>", "concurrent closed-loop clients", positiveInteger("--clients"), 64)
    .option("--duration <s>", "seconds of load", positiveInteger("--duration"), 20)
    .option("--prefill <orders>", "orders loaded first (64 clients, as vs-etcd's --prefill), " +
      "outside the load window", nonNegativeInteger("--prefill"), 0)
    .option("--no-cpu-prof", "the same run without the profiler: what profiling costs")
    .option("--on-follower", "every client buys from one follower, which forwards (as " +
      "vs-etcd's '1 client on a follower')", false)
    .option("--on-leader", "every client buys from the leader (as vs-etcd's '1 client on the " +
      "leader'), not spread over the nodes", false)
    .parse().opts<Options>();
}

/** The id of the node that reports itself leader, polling until `timeoutMs`. */
async function waitForLeader(agent: http.Agent, urls: Map<string, string>, timeoutMs: number):
  Promise<string> {
  const deadlineMs = Date.now() + timeoutMs;
  while (Date.now() < deadlineMs) {
    for (const [id, url] of urls) {
      const status = await requestJson(agent, "GET", `${url}/v1/cluster/status`);
      if (typeof status === "object" && status !== null &&
        (status as { role?: unknown }).role === "leader") return id;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no leader within ${timeoutMs} ms`);
}

async function createItem(agent: http.Agent, urls: string[], sku: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const status = await requestStatus(agent, "POST", `${urls[attempt % urls.length]!}/v1/items`,
      { requestId: `profile-create-${sku}`, sku, name: "Profile widget", area: "bench",
        priceCents: 100, stock: 1_000_000_000 });
    if (status === 201 || status === 409) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("could not create the item: no leader");
}

/** SIGINTs every child and waits (up to 30 s each, then SIGKILL) until it has exited. */
async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", () => { clearTimeout(timer); resolve(); });
    child.kill("SIGINT");
  })));
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { root, configPath, config } = await writeLocalClusterConfig();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const urls = new Map(config.nodes.map((node) =>
    [node.id, `http://127.0.0.1:${node.clientPort}`] as const));
  // The profiles start when the processes do: the load window is kept relative to the spawn.
  const spawnMs = performance.now();
  const children = config.nodes.map((node) => {
    const dir = path.resolve(options.out, node.id);
    mkdirSync(dir, { recursive: true });
    const profile = options.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
    // A market node's own flags (its heap sizing), so a profile shows the GC a node really has.
    return spawn(process.execPath, [...marketNodeFlags, ...profile, "--import", "tsx",
      marketNodeScript, "--config", configPath, "--id", node.id, "--log-level", "warn",
      "--new-cluster"], { stdio: ["ignore", "ignore", "inherit"] });
  });
  // A node that ends on its own stops the prefill at once (its stderr is this process's).
  const exits: NodeExit[] = [];
  children.forEach((child, k) => child.once("exit", (code, signal) => exits.push({
    id: config.nodes[k]!.id, code, signal, afterMs: performance.now() - spawnMs,
    lastOutput: [] })));
  try {
    await waitForLeader(agent, urls, 30_000);
    const sku = "PROFILE-1";
    await createItem(agent, [...urls.values()], sku);
    await prefillOrders({ agent, nodes: [...urls.values()].map((url) => ({ url })),
      exits: () => exits }, options.prefill, [sku]);
    // Asked after the prefill: the leader the load meets.
    const leader = await waitForLeader(agent, urls, 30_000);
    const follower = [...urls.keys()].find((id) => id !== leader)!;
    const nodeUrls = options.onLeader ? [urls.get(leader)!]
      : options.onFollower ? [urls.get(follower)!] : [...urls.values()];
    const runId = `profile-${Date.now()}`;
    const loadStartS = (performance.now() - spawnMs) / 1000;
    const result = await closedLoop(options.clients, options.duration, 201, (client, k) =>
      requestStatus(agent, "POST", `${nodeUrls[client % nodeUrls.length]!}/v1/orders`,
        { requestId: `${runId}-${client}-${k}`, lines: [{ sku, qty: 1 }] }));
    const loadEndS = (performance.now() - spawnMs) / 1000;
    const perSecond = result.okCount / options.duration;
    const summary = { leader, onLeader: options.onLeader,
      onFollower: options.onFollower ? follower : false, clients: options.clients,
      durationS: options.duration,
      acknowledged: result.okCount, errors: result.errorCount, purchasesPerS: perSecond,
      loadStartS, loadEndS };
    console.log(JSON.stringify(summary));
    writeFileSync(path.join(options.out, "run.json"), JSON.stringify(summary, null, 2));
  } finally {
    await stopAll(children);
    agent.destroy();
    rmSync(root, { recursive: true, force: true });
  }
  for (const node of config.nodes) {
    const dir = path.resolve(options.out, node.id);
    console.log(`${node.id}: ${readdirSync(dir).filter((name) => name.endsWith(".cpuprofile"))
      .map((name) => path.join(dir, name)).join(", ") || "no profile"}`);
  }
}

await main();
