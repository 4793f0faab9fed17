/**
 * The streamed snapshot format (v3) and the install a bounded write at a time. Method: build a
 * market with items (one named outside ASCII), confirmed and cancelled orders and sessions;
 * encode it from a view in tiny chunks that split lines anywhere; decode it a chunk at a time
 * and install it a few records per write; the installed market must have the same hash and the
 * same v2 snapshot as the original. Then refuse malformed texts by name, and crash the store
 * after every write of an install (MemoryStateStore.crash(keep)): each cut leaves either the
 * old state, the whole new one, or a store that refuses to open, never a partial state with an
 * applied index, and redoing the install from the marked store completes it.
 */
import { expect } from "chai";
import {
  decodeMarketSnapshotChunks,
  encodeMarketSnapshotStream,
  installMarketSnapshot,
  MarketInstallInterruptedError,
  MarketSnapshotDecoder,
  MarketSnapshotError,
  MarketSnapshotInstall,
  MarketStateMachine,
} from "../../src/market/index.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";
import { buy, cancel, createItem, expectOrder, LogFeeder } from "./helpers.js";

function populated(): MarketStateMachine {
  const market = new MarketStateMachine({ sessionTtlMs: 10_000, sessionsMax: 50 },
    new MemoryStateStore());
  const log = new LogFeeder(market);
  log.apply(createItem("apple-1kg", 100, { area: "Fruit", requestId: "c1" }));
  log.apply(createItem("brot", 40, { area: "Bäckerei", name: "Brot \u{1F35E} \ud800x",
    requestId: "c2" }));
  for (let k = 0; k < 12; k++) {
    log.advance(500);
    const order = expectOrder(log.apply(buy([{ sku: "apple-1kg", qty: 1 }, { sku: "brot", qty: 2 }],
      `b${k}`)));
    if (k % 3 === 0) log.apply(cancel(order.orderId, `x${k}`));
  }
  return market;
}

async function encode(market: MarketStateMachine, chunkUnits: number): Promise<string[]> {
  const view = (market as unknown as { store: MemoryStateStore }).store.view();
  const chunks: string[] = [];
  try {
    const { source } = MarketStateMachine.snapshotSource(view);
    const length = await encodeMarketSnapshotStream(source, (chunk) => chunks.push(chunk),
      () => Promise.resolve(), { recordsPerSlice: 1, chunkUnits });
    expect(length).to.equal(chunks.join("").length);
  } finally {
    view.close();
  }
  return chunks;
}

/** Splits `text` into pieces of `size` units: lines cut anywhere. */
function pieces(text: string, size: number): string[] {
  const result: string[] = [];
  for (let k = 0; k < text.length; k += size) result.push(text.slice(k, k + size));
  return result;
}

describe("market snapshot v3 (streamed)", () => {
  it("round-trips through chunks that split lines anywhere, as ASCII, to the same state", async () => {
    const market = populated();
    const text = (await encode(market, 64)).join("");
    // eslint-disable-next-line no-control-regex
    expect(/^[\u0000-\u007e]*$/.test(text)).to.equal(true);
    expect(text.endsWith("\n")).to.equal(true);
    const lines = text.split("\n");
    expect(JSON.parse(lines[0]!)).to.include({ format: "raftmarket.market.v3", itemCount: 2,
      orderCount: 12, appliedIndex: market.appliedIndex });
    for (const size of [1, 7, 100, text.length]) {
      const decoded = decodeMarketSnapshotChunks(pieces(text, size), { index: market.appliedIndex });
      expect(decoded.records.length).to.equal(2 + 12 + market.stats().sessionCount);
      const store = new MemoryStateStore();
      const installed = installMarketSnapshot(store, pieces(text, size), { raft: size },
        { index: market.appliedIndex });
      expect(installed.stateHash()).to.equal(market.stateHash());
      expect(installed.snapshot()).to.equal(market.snapshot());
      expect(installed.raftMeta()).to.deep.equal({ raft: size });
      expect(installed.getItem("brot")!.name).to.equal("Brot \u{1F35E} \ud800x");
      expect(MarketStateMachine.interruptedInstall(store)).to.equal(null);
    }
  });

  it("writes the records in writes of recordsPerWrite, the meta last", async () => {
    const market = populated();
    const text = (await encode(market, 1000)).join("");
    const store = new MemoryStateStore();
    const chunks = pieces(text, 50);
    const install = new MarketSnapshotInstall(store, () => chunks.shift() ?? null, undefined,
      {}, 3);
    let steps = 1;
    while (!install.step()) steps++;
    const records = 2 + 12 + market.stats().sessionCount;
    // The marker, then a write per 3 records (the last one with the meta).
    expect(steps).to.be.at.least(1 + Math.floor(records / 3));
    expect(install.market().stateHash()).to.equal(market.stateHash());
  });

  it("refuses malformed texts, naming what is wrong", async () => {
    const market = populated();
    const text = (await encode(market, 1 << 20)).join("");
    const lines = text.split("\n");
    const refuse = (bad: string, expected: RegExp, index?: number): void => {
      const decoder = new MarketSnapshotDecoder({ index });
      expect(() => {
        for (const chunk of pieces(bad, 13)) decoder.push(chunk);
        decoder.end();
      }).to.throw(MarketSnapshotError, expected);
    };
    refuse(text, /at index \d+, not at 1/, 1);
    refuse(text.slice(0, -1), /does not end with a newline/);
    refuse(lines.slice(0, 4).join("\n") + "\n", /ends early/);
    refuse(`${text}{}\n`, /after the last record/);
    refuse(text.replace("\"sku\":\"brot\"", "\"sku\": \"brot\""), /items\[1\] is not in canonical form/);
    refuse(text.replace("B\\u00e4ckerei", "Bäckerei"), /items\[1\] is not in canonical form/);
    refuse(text.replace("v3", "v2"), /format must be raftmarket.market.v3/);
    refuse(text.replace("\"sku\":\"apple-1kg\",\"stock\"", "\"sku\":\"zzz\",\"stock\""),
      /items\[1\].sku must be greater than the previous sku/);
    refuse([lines[0], lines[2], lines[1], ...lines.slice(3)].join("\n"),
      /items\[1\].sku must be greater/);
    refuse(text.replace("{", "["), /header/);
    // Not JSON at all, and JSON that only JSON.parse reads (the compact reader gives up on it).
    refuse([lines[0], "{not json", ...lines.slice(2)].join("\n"), /items\[0\] is not JSON: /);
    refuse(text.replace("\"sku\":\"brot\"", "\"sku\":\"bro\\u0074\""),
      /items\[1\] is not in canonical form/);
  });

  it("leaves, after a crash at any write of an install, the old state, the new one, or a " +
    "store that refuses to open; redoing the install completes it", async () => {
    const source = populated();
    const chunks = await encode(source, 100);
    const before = new MarketStateMachine({}, new MemoryStateStore());
    const old = new LogFeeder(before);
    old.apply(createItem("old", 1, { requestId: "o1" }));
    const oldStore = (before as unknown as { store: MemoryStateStore }).store;
    await oldStore.flushed();
    // Count the writes of a whole install.
    const probe = new MarketSnapshotInstall(new MemoryStateStore(), chunkSource(chunks), undefined,
      {}, 4);
    let writes = 1;
    while (!probe.step()) writes++;
    for (let keep = 0; keep <= writes; keep++) {
      const store = copyOf(oldStore);
      const install = new MarketSnapshotInstall(store, chunkSource(chunks), { term: 3 },
        { index: source.appliedIndex }, 4);
      while (!install.step()) { /* all of it, unflushed */ }
      const crashed = store.crash(keep);
      if (keep === 0) {
        expect(new MarketStateMachine({}, crashed).stateHash()).to.equal(before.stateHash());
        continue;
      }
      if (keep === writes) {
        expect(new MarketStateMachine({}, crashed).stateHash()).to.equal(source.stateHash());
        continue;
      }
      expect(() => new MarketStateMachine({}, crashed)).to.throw(MarketInstallInterruptedError);
      const marker = MarketStateMachine.interruptedInstall(crashed);
      expect(marker).to.deep.equal({ index: source.appliedIndex, raftMeta: { term: 3 } });
      const redo = new MarketSnapshotInstall(crashed, chunkSource(chunks), marker!.raftMeta,
        { index: marker!.index! }, 4);
      while (!redo.step()) { /* redo */ }
      expect(redo.market().stateHash()).to.equal(source.stateHash());
      expect(redo.market().raftMeta()).to.deep.equal({ term: 3 });
    }
  });
});

function chunkSource(chunks: readonly string[]): () => string | null {
  let next = 0;
  return () => chunks[next++] ?? null;
}

/** A store holding what `store` holds durably (a crash now, keeping nothing unflushed). */
function copyOf(store: MemoryStateStore): MemoryStateStore {
  const copy = new MemoryStateStore();
  const view = store.view();
  copy.write((writer) => {
    for (const table of ["meta", "items", "orders", "sessions", "sessionQueue"] as const) {
      for (const { key, value } of view.range(table)) writer.put(table, key, value);
    }
  });
  view.close();
  return copy.crash(1);
}
