/**
 * `npx tsx scripts/bench-snapshot-stall.ts [--orders N] [--runs N]`
 *
 * Measures the longest synchronous stretch of the event loop while a market snapshot is
 * encoded (encodeMarketSnapshotAsync) and saved (FileSnapshotStore.saveAsync), as the driver
 * does in the background (RaftServer.maybeSnapshot). A stall that long is a stretch during
 * which a node sends no heartbeat and answers no RPC, so it is compared with the 50 ms bound
 * of issue 10 and the 150 ms election timeout.
 *
 * Method: a synthetic state of N orders, each with a session holding its result (the shape of
 * a busy market), is built first; then, per run, a probe re-arms setImmediate and records the
 * longest gap between two of its turns (perf_hooks monitorEventLoopDelay at 1 ms resolution
 * is printed beside it as a cross-check), separately for the encoding and the save.
 */
import { Command, InvalidArgumentError } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { defaultMarketConfig } from "../src/market/config.js";
import { encodeMarketSnapshotAsync, type MarketSnapshotState } from "../src/market/market-snapshot.js";
import type { Item, Order } from "../src/market/model.js";
import type { Session } from "../src/market/sessions.js";
import { FileSnapshotStore } from "../src/storage/snapshot-store.js";
import { longestStall } from "./bench-stats.js";

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function syntheticState(orderCount: number): MarketSnapshotState {
  const items: Item[] = [];
  for (let k = 0; k < 100; k++) {
    items.push(Object.freeze({ sku: `sku-${String(k).padStart(4, "0")}`, name: `Item ${k}`,
      area: "garden", priceCents: 100 + k, stock: 1_000_000 }));
  }
  const orders: Order[] = [];
  const sessions: Session[] = [];
  for (let index = 1; index <= orderCount; index++) {
    const item = items[index % items.length]!;
    const order: Order = Object.freeze({ orderId: `o-${index}`, requestId: `req-${index}`,
      lines: [{ sku: item.sku, qty: 1 + (index % 3), priceCents: item.priceCents }],
      status: "confirmed", totalCents: (1 + (index % 3)) * item.priceCents, index });
    orders.push(order);
    const session: Session = { requestId: `req-${index}`, digest: "ab".repeat(32),
      recordedAtMs: index, index, result: { ok: true, kind: "order", order } };
    sessions.push(Object.freeze(session));
  }
  return { config: defaultMarketConfig, appliedIndex: orderCount, clockMs: orderCount,
    items, orders, sessions };
}

async function main(): Promise<void> {
  const positive = (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      throw new InvalidArgumentError("must be a positive integer");
    }
    return parsed;
  };
  const options = new Command().option("--orders <n>", "orders in the state", positive, 100_000)
    .option("--runs <n>", "runs", positive, 3).parse().opts<{ orders: number; runs: number }>();
  const state = syntheticState(options.orders);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-stall-"));
  try {
    for (let run = 1; run <= options.runs; run++) {
      let data = "";
      const encoding = await longestStall(async () => {
        data = await encodeMarketSnapshotAsync(state, yieldToLoop);
      });
      const store = new FileSnapshotStore(dir);
      const saving = await longestStall(() =>
        store.saveAsync({ meta: { index: run, term: 1, voters: ["n1"] }, data }));
      const mib = (Buffer.byteLength(data) / 2 ** 20).toFixed(1);
      const show = (figures: { probeMs: number; histogramMs: number; totalMs: number }) =>
        `longest stall ${figures.probeMs.toFixed(1)} ms (histogram max ` +
        `${figures.histogramMs.toFixed(1)} ms), total ${figures.totalMs.toFixed(0)} ms`;
      console.log(`run ${run}: ${options.orders} orders, ${mib} MiB`);
      console.log(`  encode: ${show(encoding)}`);
      console.log(`  save:   ${show(saving)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
