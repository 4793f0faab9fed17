/**
 * `npm run bench -- state-store [--writes N] [--records N] [--market-buys N] [--dir PATH]`
 *
 * Measures LmdbStateStore, in a temporary directory that it removes afterwards:
 *   1. the write path as the driver uses it: each write() reads an item and puts the item, an
 *      order and the applied index; the loop awaits committed() whenever 16 writes are pending.
 *      It reports main-thread µs per write from the event loop's busy time (write() itself plus
 *      the commit callbacks lmdb-js runs on the main thread), beside µs inside write() alone,
 *      and writes per second;
 *   2. the cost of the checksum per put and per get: encodeStateValue/decodeStateValue beside
 *      bare JSON stringify/parse of the same record, and a store.get() of a committed key;
 *   3. whether the map grows to hold `records` small records (written 10,000 per write), and
 *      the size of data.mdb then;
 *   4. the market on the store: a MarketStateMachine applying buys in batches of 20 with its
 *      session table full (sessionsMax, 100,000), once with random request ids (as market-client
 *      makes them) and once with ids of 64 clients each counting up (as the cluster benchmarks
 *      make them): CPU of the whole process (lmdb-js's write thread too) per buy, and the time
 *      a market takes to open on that store (it reads the session queue to index it).
 */
import { Command, InvalidArgumentError } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { MarketStateMachine, type MarketEntry } from "../src/market/index.js";
import { LmdbStateStore } from "../src/storage/lmdb-state-store.js";
import { decodeStateValue, encodeStateValue } from "../src/storage/state-value-codec.js";

interface BenchOptions {
  writes: number;
  records: number;
  marketBuys: number;
  dir: string;
}

const pendingWritesMax = 16;
const recordsPerWrite = 10_000;
const codecRounds = 200_000;

function positiveInteger(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!(Number.isSafeInteger(parsed) && parsed > 0)) {
      throw new InvalidArgumentError(`${name} must be a positive integer`);
    }
    return parsed;
  };
}

function parseOptions(args: string[]): BenchOptions {
  return new Command()
    .name("npm run bench -- state-store")
    .description("LmdbStateStore: main-thread µs per write, checksum cost, 1M-record file size")
    .option("--writes <count>", "writes in the write-path row", positiveInteger("--writes"), 20_000)
    .option("--records <count>", "records in the map-growth row", positiveInteger("--records"),
      1_000_000)
    .option("--market-buys <count>", "buys measured in each market row (after 120,000 to " +
      "fill the session table)", positiveInteger("--market-buys"), 60_000)
    .option("--dir <path>", "where to make the temporary directory (pick the data disk)",
      os.tmpdir())
    .showHelpAfterError()
    .parse(args, { from: "user" })
    .opts<BenchOptions>();
}

function orderRecord(index: number): Record<string, unknown> {
  return { sku: `sku-${index % 1000}`, quantity: 1 + (index % 5), clientId: "client-17",
    requestId: `req-${index}`, timeMs: 1_700_000_000_000 + index, status: "reserved" };
}

async function benchWritePath(dir: string, writes: number): Promise<void> {
  const store = LmdbStateStore.open(dir);
  store.write((writer) => {
    for (let sku = 0; sku < 1000; sku++) writer.put("items", `sku-${sku}`, { stock: 1e9 });
  });
  await store.flushed();
  let insideWriteMs = 0;
  const started = performance.now();
  const before = performance.eventLoopUtilization();
  for (let index = 0; index < writes; index++) {
    const writeStarted = performance.now();
    store.write((writer) => {
      const sku = `sku-${index % 1000}`;
      const item = writer.get("items", sku) as { stock: number };
      writer.put("items", sku, { stock: item.stock - 1 });
      writer.put("orders", index, orderRecord(index));
      writer.put("meta", "applied", index);
    });
    insideWriteMs += performance.now() - writeStarted;
    if (store.pendingWrites() >= pendingWritesMax) await store.committed();
  }
  await store.flushed();
  const busy = performance.eventLoopUtilization(before);
  const seconds = (performance.now() - started) / 1000;
  console.log(`write path (${writes} writes, 3 puts + 1 get each, committed() at `
    + `${pendingWritesMax} pending):`);
  console.log(`  main thread busy: ${(busy.active * 1000 / writes).toFixed(1)} µs per write `
    + `(inside write(): ${(insideWriteMs * 1000 / writes).toFixed(1)} µs)`);
  console.log(`  ${(writes / seconds).toFixed(0)} writes/s, event loop utilization `
    + `${(busy.utilization * 100).toFixed(0)}%`);
  const getRounds = 100_000;
  const getStarted = performance.now();
  for (let index = 0; index < getRounds; index++) store.get("orders", index % writes);
  console.log(`  store.get() of a committed order: `
    + `${((performance.now() - getStarted) * 1000 / getRounds).toFixed(2)} µs`);
  await store.close();
}

function timeUs(rounds: number, run: (index: number) => void): number {
  const started = performance.now();
  for (let index = 0; index < rounds; index++) run(index);
  return (performance.now() - started) * 1000 / rounds;
}

function benchChecksum(): void {
  const packr = { pack: (value: unknown) => Buffer.from(JSON.stringify(value)),
    unpack: (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8")) };
  const record = orderRecord(42);
  const packed = packr.pack(record);
  const encoded = encodeStateValue("orders", 42, record);
  // Warm both paths before timing them.
  timeUs(codecRounds, () => decodeStateValue("orders", 42, encodeStateValue("orders", 42, record)));
  timeUs(codecRounds, () => packr.unpack(packr.pack(record)));
  const packUs = timeUs(codecRounds, () => packr.pack(record));
  const encodeUs = timeUs(codecRounds, (index) => encodeStateValue("orders", index, record));
  const unpackUs = timeUs(codecRounds, () => packr.unpack(packed));
  const decodeUs = timeUs(codecRounds, () => decodeStateValue("orders", 42, encoded));
  console.log(`checksum (a ${packed.length}-byte order record, ${codecRounds} rounds):`);
  console.log(`  put: JSON ${packUs.toFixed(2)} µs, JSON + crc32 `
    + `${encodeUs.toFixed(2)} µs `
    + `(+${(encodeUs - packUs).toFixed(2)} µs)`);
  console.log(`  get: parse ${unpackUs.toFixed(2)} µs, crc32 + parse ${decodeUs.toFixed(2)} µs `
    + `(+${(decodeUs - unpackUs).toFixed(2)} µs)`);
}

async function benchMapGrowth(dir: string, records: number): Promise<void> {
  const store = LmdbStateStore.open(dir);
  const started = performance.now();
  for (let first = 0; first < records; first += recordsPerWrite) {
    store.write((writer) => {
      const last = Math.min(first + recordsPerWrite, records);
      for (let index = first; index < last; index++) {
        writer.put("orders", index, { sku: index % 1000, quantity: 1 });
      }
    });
    if (store.pendingWrites() >= 4) await store.committed();
  }
  await store.flushed();
  const seconds = (performance.now() - started) / 1000;
  const last = store.get("orders", records - 1);
  if (JSON.stringify(last) !== JSON.stringify({ sku: (records - 1) % 1000, quantity: 1 })) {
    throw new Error(`record ${records - 1} reads back as ${JSON.stringify(last)}`);
  }
  await store.close();
  const fileBytes = fs.statSync(path.join(dir, "data.mdb")).size;
  console.log(`map growth: ${records} small records in ${seconds.toFixed(1)} s; data.mdb `
    + `${(fileBytes / 2 ** 20).toFixed(1)} MiB (${(fileBytes / records).toFixed(0)} bytes/record)`);
}

const marketBatch = 20;
const marketFillBuys = 120_000;

/** Buys in batches of marketBatch, committed() every 100 batches as the driver's backlog does. */
async function applyBuys(market: MarketStateMachine, store: LmdbStateStore, count: number,
  next: { index: number; timeMs: number }, requestId: (index: number) => string):
  Promise<void> {
  for (let batch = 0; batch * marketBatch < count; batch++) {
    const entries: MarketEntry[] = [];
    for (let k = 0; k < marketBatch; k++) {
      next.index++;
      next.timeMs++;
      entries.push({ index: next.index, data: JSON.stringify({ kind: "buy",
        requestId: requestId(next.index), timeMs: next.timeMs, lines: [{ sku: "w", qty: 1 }] }) });
    }
    market.applyBatch(entries);
    if (batch % 100 === 99) await store.committed();
  }
  await store.flushed();
}

async function benchMarket(dir: string, ids: "random" | "counting", buys: number):
  Promise<void> {
  const requestId = ids === "random" ? () => randomUUID()
    : (index: number) => `client-${index % 64}-${index}`;
  let store = LmdbStateStore.open(dir);
  const market = new MarketStateMachine({}, store);
  const next = { index: 1, timeMs: 1_700_000_000_000 };
  market.applyBatch([{ index: next.index, data: JSON.stringify({ kind: "createItem",
    requestId: "item", timeMs: next.timeMs, sku: "w", name: "w", area: "bench",
    priceCents: 100, stock: 1_000_000_000 }) }]);
  await applyBuys(market, store, marketFillBuys, next, requestId);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await applyBuys(market, store, buys, next, requestId);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  const sessions = market.stats().sessionCount;
  await store.close();
  store = LmdbStateStore.open(dir);
  const openStarted = performance.now();
  new MarketStateMachine({}, store);
  const openMs = performance.now() - openStarted;
  await store.close();
  console.log(`market on the store, ${ids} request ids (${buys} buys after ${marketFillBuys}, ` +
    `${sessions} sessions held):`);
  console.log(`  ${((cpu.user + cpu.system) / buys).toFixed(1)} µs of process CPU per buy, ` +
    `${(buys / seconds).toFixed(0)} buys/s; a market opens on it in ${openMs.toFixed(0)} ms`);
}

export async function runStateStoreBench(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const root = fs.mkdtempSync(path.join(options.dir, "raftmarket-bench-state-"));
  try {
    await benchWritePath(path.join(root, "write-path"), options.writes);
    benchChecksum();
    await benchMapGrowth(path.join(root, "map-growth"), options.records);
    for (const ids of ["random", "counting"] as const) {
      await benchMarket(path.join(root, `market-${ids}`), ids, options.marketBuys);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
