/**
 * `npm run bench -- big-state [--orders N] [--dir D] [--keep]`
 *
 * A node's snapshot work with a large market (issue 10: 1,000,000 orders, "no loop stall over
 * 50 ms during a snapshot or an InstallSnapshot", "RSS per node at most 250 MiB"). Each phase
 * runs in a process of its own, so that its peak RSS (getrusage maxrss) is its own:
 *
 *   build    a market of N orders (100 items, a session for each of the newest sessionsMax
 *            orders) written straight into an LmdbStateStore (no Raft): a synthetic v3 text,
 *            installed as a follower installs one.
 *   encode   the leader's side: open the store (the reopen time), then encode a snapshot from a
 *            view into a spool file a slice at a time, as Snapshots.build does (src/node/).
 *   install  the follower's side: the leader's file read in 64 KiB slices (as the core sends
 *            them), each checked and spooled as it arrives (MarketSnapshotReceiver), then
 *            installed into a fresh store in writes of 250 records, as RaftServer does;
 *            then the installed store is reopened and its state hash compared with the leader's.
 *   restart  a RaftServer (one voter) started on the installed database: the time to open it
 *            and to answer a first linearizable read.
 *
 * Each phase reports its time, the longest stall of the event loop (the longest gap between
 * two turns of a setImmediate probe; perf_hooks monitorEventLoopDelay's max beside it) and the
 * peak RSS.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { longestStall } from "./bench-stats.js";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import {
  defaultMarketConfig,
  encodeMarketSnapshotStream,
  MarketSnapshotInstall,
  MarketStateMachine,
  type Item,
  type Order,
} from "../src/market/index.js";
import type { Session } from "../src/market/sessions.js";
import { chunkReader, MarketSnapshotReceiver } from "../src/node/snapshot-spool.js";
import { FileSnapshotData, FileSnapshotSpool, SpoolFile } from "../src/node/snapshot-spool-file.js";
import { marketNodeFlags } from "../src/cluster/market-node-bin.js";
import { RaftServer } from "../src/node/raft-server.js";
import { LmdbStateStore } from "../src/storage/lmdb-state-store.js";
import pino from "pino";

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/**
 * As RaftServer (snapshots.ts, market-adapter.ts): its snapshot chunks, records per install
 * write, records per encode slice.
 */
const chunkUnits = 64 * 1024;
const recordsPerWrite = 250;
const recordsPerSlice = 500;
let stepMsMax = 0;

interface Figures {
  totalMs: number;
  stallMs: number;
  histogramMs: number;
}

/** What the loop last did, for BIG_STATE_TRACE=1: stalls over 50 ms are printed with it. */
let activity = "idle";
const trace = process.env.BIG_STATE_TRACE === "1";

/** Peak anonymous (heap, buffers) and file-backed (the database's mapped pages) RSS, MiB. */
const rssPeak = { anonMiB: 0, fileMiB: 0 };
function sampleRss(): void {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const field = (name: string): number =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  rssPeak.anonMiB = Math.max(rssPeak.anonMiB, field("RssAnon"));
  rssPeak.fileMiB = Math.max(rssPeak.fileMiB, field("RssFile") + field("RssShmem"));
}

/** Runs `work`, measuring the longest gap between turns of the loop and the peak RSS. */
async function measured(work: () => Promise<void>): Promise<Figures> {
  const sampler = setInterval(sampleRss, 20);
  const figures = await longestStall(async () => {
    await work();
    clearInterval(sampler);
    sampleRss();
  }, (gapMs) => {
    if (trace && gapMs > 50) console.log(`  stall ${gapMs.toFixed(0)} ms after ${activity}`);
  });
  return { totalMs: figures.totalMs, stallMs: figures.probeMs, histogramMs: figures.histogramMs };
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function show(name: string, figures: Figures, extra = ""): string {
  return `${name.padEnd(8)} ${(figures.totalMs / 1000).toFixed(2)} s, longest stall ` +
    `${figures.stallMs.toFixed(1)} ms (histogram ${figures.histogramMs.toFixed(1)} ms), ` +
    `peak RSS ${peakRssMiB().toFixed(0)} MiB (sampled: anonymous ${rssPeak.anonMiB.toFixed(0)}` +
    `, file-backed ${rssPeak.fileMiB.toFixed(0)} MiB)${extra}`;
}

function* syntheticOrders(orderCount: number, items: readonly Item[]): Generator<Order> {
  for (let index = 1; index <= orderCount; index++) {
    const item = items[index % items.length]!;
    const qty = 1 + (index % 3);
    yield { orderId: `o-${index}`, requestId: `req-${index}`,
      lines: [{ sku: item.sku, qty, priceCents: item.priceCents }],
      status: index % 10 === 0 ? "cancelled" : "confirmed", totalCents: qty * item.priceCents,
      index };
  }
}

function* syntheticSessions(orderCount: number, sessionCount: number, items: readonly Item[]):
  Generator<Session> {
  const first = orderCount - sessionCount + 1;
  const orders = syntheticOrders(orderCount, items);
  for (const order of orders) {
    if (order.index < first) continue;
    yield { requestId: order.requestId, digest: "ab".repeat(32), recordedAtMs: order.index,
      index: order.index, result: { ok: true, kind: "order", order } };
  }
}

async function build(dir: string, orderCount: number): Promise<void> {
  const items: Item[] = [];
  for (let k = 0; k < 100; k++) {
    items.push({ sku: `sku-${String(k).padStart(4, "0")}`, name: `Item ${k}`, area: "garden",
      priceCents: 100 + k, stock: 1_000_000 });
  }
  const sessionCount = Math.min(orderCount, defaultMarketConfig.sessionsMax);
  const textFile = path.join(dir, "synthetic.v3");
  const spool = new FileSnapshotSpool(textFile, true);
  await encodeMarketSnapshotStream({
    config: defaultMarketConfig, appliedIndex: orderCount, clockMs: orderCount, items,
    orders: syntheticOrders(orderCount, items),
    sessions: syntheticSessions(orderCount, sessionCount, items),
    counts: { items: items.length, orders: orderCount, sessions: sessionCount },
  }, (chunk) => spool.write(chunk), () => spool.drained());
  await spool.drained();
  const store = LmdbStateStore.open(path.join(dir, "leader"));
  const figures = await measured(async () => {
    await install(store, spool.data(), orderCount);
  });
  await store.close();
  fs.rmSync(textFile);
  console.log(show("build", figures, `; ${(fs.statSync(path.join(dir, "leader", "data.mdb")).size /
    2 ** 20).toFixed(0)} MiB database`));
}

/** As Snapshots.install (src/node/): bounded writes, the loop free between them. */
async function install(store: LmdbStateStore,
  data: FileSnapshotData | ReturnType<FileSnapshotSpool["data"]>, index: number):
  Promise<MarketStateMachine> {
  // As Snapshots.install: the received file is made durable first (thread pool).
  if (data instanceof FileSnapshotData) await data.spoolFile.sync();
  const run = new MarketSnapshotInstall(store, chunkReader(data), { index, term: 1, voters: ["n1"] },
    { index }, recordsPerWrite);
  for (;;) {
    const started = performance.now();
    activity = "install step";
    const done = run.step();
    activity = "install commit";
    stepMsMax = Math.max(stepMsMax, performance.now() - started);

    if (done) break;
    await store.committed();
  }
  console.log(`  (longest step ${stepMsMax.toFixed(1)} ms)`);
  await store.flushed();
  return run.market();
}

function reopen(dir: string): { market: MarketStateMachine; store: LmdbStateStore; ms: number } {
  const started = performance.now();
  const store = LmdbStateStore.open(dir);
  const market = new MarketStateMachine({}, store);
  return { market, store, ms: performance.now() - started };
}

async function encode(dir: string): Promise<void> {
  const { market, store, ms } = reopen(path.join(dir, "leader"));
  console.log(`reopen   ${ms.toFixed(0)} ms (leader, ${market.stats().orderCount} orders)`);
  const spool = new FileSnapshotSpool(path.join(dir, "snapshot.v3"), true);
  const figures = await measured(async () => {
    await store.committed();
    const view = store.view();
    try {
      activity = "encode";
      await encodeMarketSnapshotStream(MarketStateMachine.snapshotSource(view).source,
        (chunk) => spool.write(chunk), async () => {
          await spool.drained();
          await yieldToLoop();
        }, { recordsPerSlice });
      await spool.drained();
    } finally {
      view.close();
    }
  });
  console.log(show("encode", figures, `; ${(spool.length / 2 ** 20).toFixed(0)} MiB snapshot`));
  fs.writeFileSync(path.join(dir, "leader.hash"), market.stateHash());
  await store.close();
}

async function receiveAndInstall(dir: string): Promise<void> {
  const file = path.join(dir, "snapshot.v3");
  const sent = new FileSnapshotData(new SpoolFile(fs.openSync(file, "r"), file),
    fs.statSync(file).size);
  const index = Number((JSON.parse(sent.slice(0, sent.slice(0, 4096).indexOf("\n"))) as
    { appliedIndex: number }).appliedIndex);
  const receiver = new MarketSnapshotReceiver({ index, term: 1, voters: ["n1"] },
    new FileSnapshotSpool(path.join(dir, "follower-receiving"), true));
  const receiving = await measured(async () => {
    // One chunk a turn of the loop, as messages arrive (the leader's slice and the follower's
    // check together: a conservative bound on either).
    for (let offset = 0; offset < sent.length; offset += chunkUnits) {
      activity = "receive chunk";
      const problem = receiver.append(sent.slice(offset, Math.min(sent.length, offset + chunkUnits)));
      activity = "receive yield";
      if (problem !== null) throw new Error(problem);
      await yieldToLoop();
    }
    const problem = receiver.finish();
    if (problem !== null) throw new Error(problem);
  });
  console.log(show("receive", receiving));
  const store = LmdbStateStore.open(path.join(dir, "follower"));
  let installed: MarketStateMachine | null = null;
  const installing = await measured(async () => {
    installed = await install(store, receiver.data(), index);
  });
  console.log(show("install", installing));
  const hash = (installed as MarketStateMachine | null)!.stateHash();
  await store.close();
  const again = reopen(path.join(dir, "follower"));
  console.log(`reopen   ${again.ms.toFixed(0)} ms (follower, ${again.market.stats().orderCount} ` +
    `orders); state hash ${hash === fs.readFileSync(path.join(dir, "leader.hash"), "utf8")
      ? "equals the leader's" : "DIFFERS from the leader's"}`);
  await again.store.close();
}

/**
 * A node restarted on the installed database (a single voter, as the snapshot's meta says):
 * the time from start to the first linearizable read answered (ReadIndex), as a node killed
 * and restarted at that size would serve one (it replays only the log after the database).
 */
async function restart(dir: string): Promise<void> {
  const dataDir = path.join(dir, "node");
  fs.mkdirSync(dataDir, { recursive: true });
  fs.renameSync(path.join(dir, "follower"), path.join(dataDir, "state"));
  const started = performance.now();
  const server = RaftServer.start({
    id: "n1", voters: ["n1"], dataDir, logger: pino({ level: "silent" }), tickIntervalMs: 10,
    raft: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2 }, bootstrapAddresses: [],
    snapshot: { entriesBetweenSnapshots: 10_000, trailingEntries: 1000 },
    transport: { send: () => {}, onReceive: () => {}, start: async () => {}, close: async () => {} },
  });
  const openedMs = performance.now() - started;
  for (;;) {
    const outcome = await server.readBarrier();
    if (outcome.kind === "ready") break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const readMs = performance.now() - started;
  console.log(`restart  open ${openedMs.toFixed(0)} ms, first linearizable read answered after ` +
    `${readMs.toFixed(0)} ms (${server.market().stats().orderCount} orders; includes an ` +
    "election of 100-200 ms), peak RSS " + `${peakRssMiB().toFixed(0)} MiB`);
  await server.stop();
}

export async function runBigStateBench(args: string[]): Promise<void> {
  const positive = (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      throw new InvalidArgumentError("must be a positive integer");
    }
    return parsed;
  };
  const options = new Command("big-state").option("--orders <n>", "orders in the market",
    positive, 1_000_000)
    .option("--dir <dir>", "work folder (default: a temporary one, removed after)")
    .option("--keep", "keep the work folder")
    .option("--phase <phase>", "internal: run one phase in this process")
    .parse(args, { from: "user" })
    .opts<{ orders: number; dir?: string; keep?: boolean; phase?: string }>();
  if (options.phase !== undefined) {
    const dir = options.dir!;
    if (options.phase === "build") await build(dir, options.orders);
    else if (options.phase === "encode") await encode(dir);
    else if (options.phase === "install") await receiveAndInstall(dir);
    else await restart(dir);
    return;
  }
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "big-state-"));
  fs.mkdirSync(dir, { recursive: true });
  console.log(`big-state: ${options.orders} orders, node ${process.version}, ${os.cpus().length} ` +
    `cpus, work folder ${dir}`);
  try {
    for (const phase of ["build", "encode", "install", "restart"]) {
      // With a market node's own flags (marketNodeFlags: its heap sizing), as the
      // RSS measured is a node's.
      const result = spawnSync(process.execPath, [...process.execArgv, ...marketNodeFlags,
        fileURLToPath(import.meta.url),
        "--phase", phase, "--dir", dir, "--orders", String(options.orders)], { stdio: "inherit" });
      if (result.status !== 0) throw new Error(`phase ${phase} failed (${result.status})`);
    }
  } finally {
    if (options.keep !== true && options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await runBigStateBench(process.argv.slice(2));
}
