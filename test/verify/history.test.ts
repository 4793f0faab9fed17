/**
 * The history layer: the recorder, the JSON-lines file format of DESIGN.md §4 and the pairing
 * of invocations with completions. Goal: a history survives a round trip through a file
 * unchanged, a malformed file is rejected with the number of its bad line, and the pairing
 * rules (one pending operation per process, no operation after info, an unfinished operation
 * counts as info) are enforced. Method: build small histories with an injected clock, write
 * them to a temporary directory, read them back, and feed hand-written bad lines.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HistoryError, HistoryRecorder, pairOperations, parseHistory, readHistory, writeHistory,
  type HistoryOp,
} from "../../src/verify/history.js";
import { created } from "./helpers.js";

describe("verify: history", () => {
  let directory = "";
  beforeEach(() => { directory = mkdtempSync(join(tmpdir(), "raftmarket-history-")); });
  afterEach(() => { rmSync(directory, { recursive: true, force: true }); });

  it("records indexes in order and times from the injected clock", () => {
    let clock = 1000n;
    const recorder = new HistoryRecorder({ now: () => (clock += 5n) });
    recorder.invoke(1, "buy", { sku: "a", qty: 1 });
    recorder.complete(1, "ok", { orderId: "o-3" });
    expect(recorder.ops()).to.deep.equal([
      { index: 0, process: 1, type: "invoke", f: "buy", value: { sku: "a", qty: 1 }, time: 5 },
      { index: 1, process: 1, type: "ok", f: "buy",
        value: { sku: "a", qty: 1, orderId: "o-3" }, time: 10 },
    ]);
  });

  it("refuses a second invocation while one is pending, and any after info", () => {
    const recorder = new HistoryRecorder({ now: () => 0n });
    recorder.invoke(1, "read", { sku: "a" });
    expect(() => recorder.invoke(1, "read", { sku: "a" })).to.throw(HistoryError, /pending/);
    recorder.complete(1, "info", { error: "timeout" });
    expect(() => recorder.invoke(1, "read", { sku: "a" })).to.throw(HistoryError, /info/);
    expect(() => recorder.complete(2, "ok")).to.throw(HistoryError, /nothing pending|no op/);
  });

  it("round-trips a history through writeHistory and readHistory", () => {
    const ops = created("a", 3)
      .invoke(1, "buy", { sku: "a", qty: 2 })
      .invoke(2, "add", { sku: "a", qty: 1 })
      .fail(1, { error: "insufficient_stock" })
      .info(2, { error: "timeout" })
      .done(3, "read", { sku: "a" }, { stock: 4 })
      .ops();
    const path = join(directory, "history.jsonl");
    writeHistory(path, ops);
    expect(readHistory(path)).to.deep.equal(ops);
  });

  it("rejects a malformed line and names its number", () => {
    const path = join(directory, "bad.jsonl");
    const good = JSON.stringify({ index: 0, process: 1, type: "invoke", f: "read",
      value: { sku: "a" }, time: 1 });
    writeFileSync(path, `${good}\n\n{"index":1,"process":1,"type":"ok",\n`);
    expect(() => readHistory(path)).to.throw(HistoryError, /bad\.jsonl: line 3: invalid JSON/);
    expect(() => parseHistory(`${good}\n{"index":1,"process":1,"type":"done","f":"read",` +
      `"value":{},"time":2}`)).to.throw(HistoryError, /line 2: type must be one of/);
    expect(() => parseHistory("[1]")).to.throw(HistoryError, /line 1: expected a JSON object/);
  });

  it("pairs per process and counts an unfinished invocation as info", () => {
    const ops = created("a", 3)
      .invoke(1, "buy", { sku: "a", qty: 1 })
      .invoke(2, "read", { sku: "a" })
      .ok(2, { stock: 3 })
      .ops();
    const paired = pairOperations(ops);
    expect(paired.map((operation) => [operation.f, operation.type]))
      .to.deep.equal([["create", "ok"], ["buy", "info"], ["read", "ok"]]);
    expect(paired[1]?.completion).to.equal(null);
    expect(paired[2]?.value).to.deep.equal({ sku: "a", stock: 3 });
  });

  it("rejects histories that break the pairing rules", () => {
    const event = (index: number, type: HistoryOp["type"], f: HistoryOp["f"] = "read"):
      HistoryOp => ({ index, process: 1, type, f, value: { sku: "a" }, time: index });
    expect(() => pairOperations([event(0, "ok")])).to.throw(HistoryError, /nothing pending/);
    expect(() => pairOperations([event(0, "invoke"), event(1, "invoke")]))
      .to.throw(HistoryError, /pending/);
    expect(() => pairOperations([event(0, "invoke"), event(1, "info"), event(2, "invoke")]))
      .to.throw(HistoryError, /ended in info/);
    expect(() => pairOperations([event(0, "invoke"), event(1, "ok", "buy")]))
      .to.throw(HistoryError, /completes read 0 as buy/);
    expect(() => pairOperations([event(3, "invoke"), event(2, "ok")]))
      .to.throw(HistoryError, /indexes must increase/);
  });
});
