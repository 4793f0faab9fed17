/**
 * `npm run verify -- FILE`. Goal: the command prints each item's verdict and, for a violation,
 * the operation that could not be placed; its exit status is 0 linearizable, 1 not, 2 unknown
 * or bad input; and bad input of every sort (no file, a directory, a malformed line, a history
 * the checker does not model, a bad option) is one line on stderr, never a stack trace.
 * Method: write small histories to a temporary directory and run the command in-process
 * (runVerifyCli with captured output streams).
 */
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatHistory } from "../../src/verify/history.js";
import { runVerifyCli } from "../../src/verify/verify-cli.js";
import { created, type HistoryBuilder } from "./helpers.js";

interface Run {
  readonly status: number;
  readonly out: string;
  readonly error: string;
}

function run(...argv: string[]): Run {
  let out = "";
  let error = "";
  const status = runVerifyCli(argv, {
    out: (text) => { out += text; },
    error: (text) => { error += text; },
  });
  return { status, out, error };
}

/** A single line, and nothing that looks like a stack frame. */
function expectOneLineError(result: Run, pattern: RegExp): void {
  expect(result.status).to.equal(2);
  expect(result.out).to.equal("");
  expect(result.error.trimEnd().split("\n")).to.have.length(1);
  expect(result.error).to.match(pattern).and.not.match(/\n\s+at /);
}

describe("verify: the command line", () => {
  let directory = "";
  beforeEach(() => { directory = mkdtempSync(join(tmpdir(), "raftmarket-verify-")); });
  afterEach(() => { rmSync(directory, { recursive: true, force: true }); });

  function file(name: string, content: string | HistoryBuilder): string {
    const path = join(directory, name);
    writeFileSync(path, typeof content === "string" ? content : formatHistory(content.ops()));
    return path;
  }

  it("prints help, with the exit statuses, and exits 0", () => {
    const result = run("--help");
    expect(result.status).to.equal(0);
    expect(result.out).to.contain("Usage: npm run verify -- [options] FILE")
      .and.contain("Exit status: 0 linearizable, 1 not linearizable, 2 unknown");
  });

  it("exits 0 on a linearizable history and prints each item's verdict", () => {
    const path = file("ok.jsonl", created("a", 5)
      .done(0, "create", { sku: "b", stock: 1 })
      .done(1, "buy", { sku: "a", qty: 2 })
      .done(2, "read", { sku: "a" }, { stock: 3 }));
    const result = run(path);
    expect(result.status).to.equal(0);
    expect(result.out).to.match(/ {2}a: 3 ops, \d+ steps: linearizable \(/)
      .and.match(/ {2}b: 1 ops/).and.contain("verdict: linearizable");
  });

  it("exits 1 on a violation and names the operation that could not be placed", () => {
    const path = file("stale.jsonl", created("a", 5)
      .done(1, "buy", { sku: "a", qty: 1 })
      .done(2, "read", { sku: "a" }, { stock: 5 }));
    const result = run(path);
    expect(result.status).to.equal(1);
    expect(result.out).to.contain("NOT LINEARIZABLE")
      .and.match(/blocked: ok read \{"sku":"a","stock":5\} \(index 4, process 2/)
      .and.contain("verdict: NOT LINEARIZABLE");
  });

  it("exits 2 with the reason when a search gives up", () => {
    // Even adds and an odd read within their total: only a search over subsets refutes it.
    const history = created("a", 0);
    for (let process = 1; process <= 12; process++) {
      history.invoke(process, "add", { sku: "a", qty: 2 * process });
    }
    history.done(99, "read", { sku: "a" }, { stock: 77 });
    for (let process = 1; process <= 12; process++) history.ok(process);
    const result = run("--steps-max", "50", file("hard.jsonl", history));
    expect(result.status).to.equal(2);
    expect(result.out).to.contain("UNKNOWN: search gave up after 50 steps")
      .and.contain("verdict: UNKNOWN");
  });

  it("takes initial stocks and prints JSON", () => {
    const path = file("initial.jsonl", created("b", 1).done(1, "buy", { sku: "a", qty: 2 }));
    const refused = run(path);
    expect(refused.status).to.equal(1); // a starts absent: the buy cannot have succeeded
    const result = run("--initial", "a=2", "--json", path);
    expect(result.status).to.equal(0);
    const parsed = JSON.parse(result.out) as { linearizable: unknown; items: { sku: string }[] };
    expect(parsed.linearizable).to.equal(true);
    expect(parsed.items.map((item) => item.sku)).to.deep.equal(["a", "b"]);
  });

  it("reports bad input as one line and exits 2", () => {
    expectOneLineError(run(join(directory, "missing.jsonl")), /cannot read .*: no such file/);
    expectOneLineError(run(directory), /cannot read .*: it is a directory/);
    expectOneLineError(run(file("bad.jsonl", '{"index":0}\n{not json\n')),
      /bad\.jsonl: line 1: process must be/);
    expectOneLineError(run(file("pairs.jsonl", created("a", 1).ops().slice(1)
      .map((op) => JSON.stringify(op)).join("\n"))), /completed with nothing pending/);
    expectOneLineError(run(file("multi.jsonl", created("a", 1).done(1, "buy",
      { lines: [{ sku: "a", qty: 1 }, { sku: "b", qty: 1 }] }))), /single-line buys only/);
    expectOneLineError(run(), /expected one history file, got 0/);
    expectOneLineError(run("--steps-max", "x", "f"), /--steps-max: expected an integer/);
    expectOneLineError(run("--initial", "a", "f"), /--initial a: expected SKU=STOCK/);
    expectOneLineError(run("--bogus", "f"), /Unknown option '--bogus'/);
  });
});
