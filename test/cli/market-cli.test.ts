/**
 * market-cli end to end against a real client API app over a FakeNodeService (the demo
 * catalogue, one leader), on free ports of 127.0.0.1. Goal: every command prints what it
 * should as a table or as JSON, errors are one line on stderr (JSON under -w json) that say
 * what was seen, and the exit codes are 0 success, 1 error, 2 cannot reach the cluster, 128
 * bad usage (cluster status: 1 no leader, 2 a node unreachable); a refused connection fails at
 * once, --timeout bounds every command, an unknown option is named before a missing required
 * one, and the repl completes on Tab. Method: runMarketCli in-process
 * with captured output (fast, and the repl gets a scripted stdin), plus a few runs of the real
 * launcher bin/market-cli.js as a child process (help, usage errors, a JSON search).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { completeLine } from "../../src/cli/cli-repl.js";
import { buildProgram, CliSession } from "../../src/cli/market-cli-program.js";
import { marketClientDefaults } from "../../src/client/index.js";
import { FakeNodeService } from "../api/fake-node-service.js";
import { closedPort, serveNode, silentServer, type Served } from "../api/helpers.js";
import { runInProcess, type Run, type RunOptions } from "./cli-in-process.js";
import { spawnCli } from "./cli-process.js";

describe("market-cli", function () {
  this.timeout(15_000);
  let service: FakeNodeService;
  let served: Served;
  let deadUrl: string;
  let workDir: string;

  function run(argv: string[], options: Partial<RunOptions> = {}): Promise<Run> {
    return runInProcess(argv, { cwd: workDir, ...options });
  }

  /** Runs against the fake node. */
  function market(...argv: string[]): Promise<Run> {
    return run(["--endpoints", served.url, ...argv]);
  }

  beforeEach(async () => {
    service = new FakeNodeService("n1").loadDemo();
    served = await serveNode(service);
    deadUrl = `http://127.0.0.1:${await closedPort()}`;
    workDir = mkdtempSync(path.join(tmpdir(), "market-cli-"));
  });
  afterEach(async () => {
    await served.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("search prints a table of matching items", async () => {
    const result = await market("search", "apple");
    expect(result).to.deep.include({ code: 0, stderr: "" });
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^SKU\s+NAME\s+AREA\s+PRICE\s+STOCK$/);
    expect(lines[1]).to.match(/^apple-1kg\s+Apples, 1 kg bag\s+Fruit & Veg\s+3\.49\s+120$/);
    expect(lines).to.have.length(2);
  });

  it("search filters by area, stock and limit, and --stale skips the read barrier", async () => {
    service.applyNow({ kind: "buy", requestId: "all-bagels", lines: [{ sku: "bagel-6",
      qty: 20 }] });
    const result = await market("-w", "json", "search", "--area", "Bakery", "--in-stock",
      "--limit", "5", "--stale");
    expect(result.code).to.equal(0);
    const body = JSON.parse(result.stdout) as { items: { sku: string }[]; appliedIndex: number };
    expect(body.items.map((item) => item.sku)).to.deep.equal(["croissant-4", "sourdough-800g"]);
    expect(body.appliedIndex).to.equal(13);
    expect(service.readBarrierCalls).to.equal(0);
  });

  it("buy creates an order; -w json prints it as JSON", async () => {
    const table = await market("buy", "--item", "milk-1l", "--qty", "3");
    expect(table.code).to.equal(0);
    expect(table.stdout).to.match(/^ORDER\s+STATUS\s+TOTAL\s+INDEX\s+LINES\n/);
    expect(table.stdout).to.match(/o-13\s+confirmed\s+3\.57\s+13\s+milk-1l x3/);
    const json = await market("buy", "--item", "milk-1l", "-w", "json",
      "--request-id", "fixed-1");
    const { order } = JSON.parse(json.stdout) as { order: { requestId: string } };
    expect(order.requestId).to.equal("fixed-1");
    expect(service.machine.getItem("milk-1l")?.stock).to.equal(146);
  });

  it("a rejected buy is one line on stderr and exit code 1", async () => {
    const result = await market("buy", "--item", "olive-oil-750ml", "--qty", "19");
    expect(result).to.deep.equal({ code: 1, stdout: "",
      stderr: "error: insufficient stock for olive-oil-750ml: 18 available\n" });
    const missing = await market("item", "get", "durian");
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.equal("error: no item with sku durian\n");
  });

  it("item create, item get, item list, stock add, order get and order cancel", async () => {
    const created = await market("item", "create", "--sku", "kiwi-4", "--name", "Kiwis",
      "--area", "Fruit & Veg", "--price-cents", "250", "--stock", "9");
    expect(created.code).to.equal(0);
    expect(created.stdout).to.match(/kiwi-4\s+Kiwis\s+Fruit & Veg\s+2\.50\s+9/);
    const added = await market("-w", "json", "stock", "add", "kiwi-4", "--qty", "6");
    expect(JSON.parse(added.stdout).item.stock).to.equal(15);
    const got = await market("-w", "json", "item", "get", "kiwi-4");
    expect(JSON.parse(got.stdout).item).to.include({ sku: "kiwi-4", stock: 15 });
    const listed = await market("item", "list", "--area", "fruit & veg");
    expect(listed.stdout.trimEnd().split("\n")).to.have.length(6);
    const bought = await market("-w", "json", "buy", "--item", "kiwi-4", "--qty", "5");
    const { orderId } = JSON.parse(bought.stdout).order as { orderId: string };
    const order = await market("order", "get", orderId);
    expect(order.stdout).to.match(new RegExp(`${orderId}\\s+confirmed\\s+12\\.50`));
    const cancelled = await market("order", "cancel", orderId);
    expect(cancelled.stdout).to.match(new RegExp(`${orderId}\\s+cancelled`));
    expect(service.machine.getItem("kiwi-4")?.stock).to.equal(15);
  });

  it("cluster status is a table with one row per endpoint, errors in ERRORS", async () => {
    const result = await run(["--endpoints", `${served.url},${deadUrl}`, "cluster", "status"]);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.equal(`error: reached 1 of 3 nodes (${deadUrl} refused the ` +
      "connection; 1 not among the endpoints); n1 leads at term 3\n");
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(
      /^ID\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+HASH\s+ERRORS$/);
    expect(lines[1]).to.match(new RegExp(`^n1\\s+leader\\s+3\\s+n1\\s+12\\s+12\\s+` +
      `${service.machine.stateHash().slice(0, 12)}\\s+-$`));
    expect(lines[2]).to.include(deadUrl).and.to.include("ECONNREFUSED");
    const json = await run(["-w", "json", "--endpoints", `${served.url},${deadUrl}`,
      "cluster", "status"]);
    const rows = JSON.parse(json.stdout) as { status: unknown; error: { code: string } | null }[];
    expect(rows[1]?.error?.code).to.equal("unreachable");
    const error = JSON.parse(json.stderr) as { error: { code: string; diagnosis: unknown } };
    expect(error.error).to.deep.include({ code: "unreachable" });
    expect(error.error.diagnosis).to.deep.include({ health: "unreachable", reached: 1,
      nodes: 3, majority: 2, leader: { id: "n1", term: 3 } });
  });

  it("cluster status exits 0 with a leader, 1 without one, and says which in its help",
    async () => {
      const healthy = await market("cluster", "status");
      expect(healthy).to.deep.include({ code: 0, stderr: "" });
      service.follow(null);
      const leaderless = await market("cluster", "status");
      expect(leaderless.code).to.equal(1);
      expect(leaderless.stdout).to.match(/^n1\s+follower\s+3\s+-/m);
      expect(leaderless.stderr).to.equal("error: reached 1 of 3 nodes (n2, n3 not among the " +
        "endpoints)\n");
      const help = await run(["cluster", "status", "--help"]);
      expect(help.stdout).to.match(/Exit status: 0 every node answered and a leader is known; 1/);
    });

  it("leader and member list", async () => {
    const leader = await market("-w", "json", "leader");
    expect(JSON.parse(leader.stdout)).to.deep.equal({ leaderId: "n1", term: 3,
      endpoint: served.url });
    const members = await market("member", "list");
    expect(members.code).to.equal(0);
    const lines = members.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^ID\s+ENDPOINT\s+ROLE\s+TERM\s+APPLIED$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).to.deep.equal(["n1", "n2", "n3"]);
    expect(lines[2]).to.match(/^n2\s+-\s+unreachable/);
    service.follow(null);
    const none = await market("leader");
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/^error: no leader/);
  });

  it("exit code 2 at once when no endpoint can be reached, naming what was seen", async () => {
    // Without failing fast the client retries a refused endpoint until its breaker opens and
    // again after the cooldown (1 s): seconds, not milliseconds.
    const started = Date.now();
    const result = await run(["--endpoints", deadUrl, "search"]);
    expect(Date.now() - started).to.be.below(1000);
    expect(result).to.deep.equal({ code: 2, stdout: "", stderr: `error: reached 0 of 1 node ` +
      `(${deadUrl} refused the connection): is the cluster running? (the endpoints come ` +
      "from --endpoints)\n" });
    const status = await run(["--endpoints", deadUrl, "cluster", "status"]);
    expect(status.code).to.equal(2);
  });

  it("--timeout bounds every command, leader included, and takes units", async () => {
    const silent = await silentServer();
    try {
      // A node that accepts connections and never answers (a paused node): without the bound,
      // each status request waits its own 2 s.
      const started = Date.now();
      const leader = await run(["--endpoints", silent.url, "leader", "--timeout", "0.3s"]);
      expect(Date.now() - started).to.be.below(marketClientDefaults.statusTimeoutMs);
      expect(leader.code).to.equal(2);
      const within = /^error: reached 0 of 1 node \(\S+ did not answer within (\d+) ms\)\n$/
        .exec(leader.stderr);
      expect(within, leader.stderr).to.not.equal(null);
      expect(Number(within?.[1])).to.be.within(250, 300);
    } finally {
      await silent.close();
    }
    const bad = await market("leader", "--timeout", "soon");
    expect(bad.code).to.equal(128);
    expect(bad.stderr).to.include("\"soon\" is not a duration");
  });

  it("names an unknown option as such, even when a required one is missing", async () => {
    const typo = await market("buy", "--itme", "milk-1l");
    expect(typo.code).to.equal(128);
    expect(typo.stderr).to.match(/^error: unknown option '--itme'\n\(Did you mean --item\?\)/);
    const missing = await market("buy", "--qty", "2");
    expect(missing.stderr).to.match(/^error: required option '--item <sku>' not specified/);
    expect(service.submitted).to.have.length(0);
  });

  it("prints every error as one JSON line under -w json", async () => {
    const rejected = await market("-w", "json", "buy", "--item", "olive-oil-750ml", "--qty", "19");
    expect(rejected.code).to.equal(1);
    expect(rejected.stderr.endsWith("}\n")).to.equal(true);
    expect(JSON.parse(rejected.stderr)).to.deep.equal({ error: { code: "insufficient_stock",
      message: "insufficient stock for olive-oil-750ml: 18 available", status: 409,
      sku: "olive-oil-750ml", available: 18, requested: 19 } });
    for (const argv of [["buy", "--itme", "x", "--output", "json"], ["-wjson", "bogus"],
      ["--output=json", "buy", "--qty", "0", "--item", "x"]]) {
      const usage = await market(...argv);
      expect(usage.code, argv.join(" ")).to.equal(128);
      expect(usage.stderr.trimEnd().split("\n"), argv.join(" ")).to.have.length(1);
      expect(JSON.parse(usage.stderr).error.code, argv.join(" ")).to.equal("usage");
    }
    expect(JSON.parse((await market("buy", "--itme", "x", "-w", "json")).stderr)).to.deep.equal(
      { error: { code: "usage", message: "unknown option '--itme' (Did you mean --item?)" } });
    const unreachable = await run(["-w", "json", "--endpoints", deadUrl, "item", "get", "x"]);
    const body = JSON.parse(unreachable.stderr) as { error: Record<string, unknown> };
    expect(body.error).to.deep.include({ code: "unreachable", status: 0 });
    expect(body.error.message).to.match(/^reached 0 of 1 node/);
    const badFile = await run(["-w", "json", "--config", "missing.json", "search"]);
    expect(JSON.parse(badFile.stderr).error.code).to.equal("usage");
  });

  it("exit code 128 on bad usage", async () => {
    for (const argv of [["bogus"], ["buy"], ["buy", "--item", "a", "--qty", "0"],
      ["-w", "xml", "search"], ["stock", "add", "a"], ["--endpoints", "ftp://x", "search"], []]) {
      const result = await market(...argv);
      expect(result.code, argv.join(" ")).to.equal(128);
      expect(result.stderr, argv.join(" ")).to.match(/error|Usage/);
    }
  });

  it("help on every command, exit code 0", async () => {
    const top = await run(["--help"]);
    expect(top.code).to.equal(0);
    expect(top.stdout).to.include("Usage: market-cli").and.to.include("Exit codes");
    for (const argv of [["buy"], ["search"], ["item", "create"], ["stock", "add"],
      ["order", "cancel"], ["cluster", "status"], ["cluster", "events"], ["cluster", "watch"],
      ["member", "list"], ["leader"], ["leader", "transfer"], ["repl"]]) {
      const help = await run([...argv, "--help"]);
      expect(help.code, argv.join(" ")).to.equal(0);
      expect(help.stdout, argv.join(" ")).to.include(`Usage: market-cli ${argv.join(" ")}`);
    }
  });

  it("reads endpoints from MARKET_ENDPOINTS, then from the cluster file", async () => {
    const fromEnv = await run(["search", "milk"], { env: { MARKET_ENDPOINTS: served.url } });
    expect(fromEnv.stdout).to.include("milk-1l");
    const file = path.join(workDir, "cluster.config.json");
    writeFileSync(file, JSON.stringify({
      nodes: [{ id: "n1", host: "127.0.0.1", clientPort: served.port, peerPort: 1,
        dataDir: "d1" }],
      timing: { tickIntervalMs: 10, heartbeatIntervalTicks: 2, electionTimeoutTicks: 15 },
      tokens: { peerToken: "peer-token-1", adminToken: "admin-token-1" },
      snapshot: { entriesBetweenSnapshots: 100, trailingEntries: 10 },
    }));
    const fromFile = await run(["search", "milk"]);
    expect(fromFile.stdout).to.include("milk-1l");
    writeFileSync(file, "{}");
    const broken = await run(["--config", file, "search"]);
    expect(broken.code).to.equal(128);
    expect(broken.stderr).to.match(/^error: .*cluster\.config\.json: invalid cluster config/);
  });

  it("uses color only on a terminal without NO_COLOR", async () => {
    const argv = ["--endpoints", served.url, "item", "get", "milk-1l"];
    const colored = await run(argv, { tty: true });
    expect(colored.stdout).to.include("\u001b[1m");
    const noColor = await run(argv, { tty: true, env: { NO_COLOR: "1" } });
    expect(noColor.stdout).to.not.include("\u001b[");
    const piped = await run(argv, { tty: false });
    expect(piped.stdout).to.not.include("\u001b[");
  });

  it("repl runs each line as a command, reports errors and goes on until exit", async () => {
    const result = await run(["--endpoints", served.url, "-w", "json", "repl"], {
      stdin: ["search milk\n", "bogus\n", "buy --item \"milk-1l\" --qty 2\n",
        "-w table item get milk-1l\n", "help\n", "exit\n", "search never-run\n"],
    });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include("\"sku\": \"milk-1l\"");
    expect(result.stdout).to.match(/milk-1l\s+Whole milk, 1 l\s+Dairy\s+1\.19\s+148/);
    expect(result.stdout).to.include("help, exit");
    expect(result.stderr).to.include("unknown command 'bogus'");
    expect(result.stdout).to.not.include("never-run");
    expect(service.submitted).to.have.length(1);
  });

  it("repl completes commands, subcommands, options and their choices on Tab", async () => {
    const program = buildProgram(new CliSession({ stdout: () => undefined,
      stderr: () => undefined, env: {}, cwd: workDir, stdoutIsTTY: false,
      stdin: Readable.from([]), stdinIsTTY: false }));
    expect(completeLine(program, "cl")).to.deep.equal([["cluster "], "cl"]);
    expect(completeLine(program, "")[0]).to.include.members(["buy", "cluster", "exit", "help"])
      .and.not.to.include("repl");
    expect(completeLine(program, "order c")).to.deep.equal([["cancel "], "c"]);
    expect(completeLine(program, "buy --it")).to.deep.equal([["--item "], "--it"]);
    expect(completeLine(program, "buy --item x --")[0]).to.include.members(["--qty",
      "--request-id", "--endpoints", "--timeout", "--help"]);
    expect(completeLine(program, "-w ")).to.deep.equal([["json", "table"], ""]);
    expect(completeLine(program, "search --area Bak")).to.deep.equal([[], "Bak"]);
    expect(completeLine(program, "cluster ")).to.deep.equal([["events", "status", "watch"], ""]);
    expect(completeLine(program, "leader tr")).to.deep.equal([["transfer "], "tr"]);
    expect(completeLine(program, "cluster events --f")).to.deep.equal([["--follow "], "--f"]);
    // On a terminal, Tab completes the line that the repl then runs. Each key is a chunk of its
    // own, as typed: readline completes only on a Tab that ends a chunk (a paste has none).
    const result = await run(["--endpoints", served.url, "repl"],
      { stdin: ["cluster sta", "\t", "\r", "exit\r"], stdinTty: true });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include("cluster status");
    expect(result.stdout).to.match(/ID\s+ROLE\s+TERM\s+LEADER/);
  });
});

describe("market-cli as a process (bin/market-cli.js)", function () {
  this.timeout(15_000);
  let served: Served;

  before(async () => {
    served = await serveNode(new FakeNodeService("n1").loadDemo());
  });
  after(async () => served.close());

  it("prints help (0), rejects bad usage (128) and searches as JSON (0)", async () => {
    const [help, usage, search] = await Promise.all([
      spawnCli(["--help"]),
      spawnCli(["buy", "--qty", "2"]),
      spawnCli(["-w", "json", "--endpoints", served.url, "search", "bagel"]),
    ]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include("Usage: market-cli");
    expect(usage.code).to.equal(128);
    expect(usage.stderr).to.include("required option '--item <sku>' not specified");
    expect(search.code, search.stderr).to.equal(0);
    expect(JSON.parse(search.stdout).items[0].sku).to.equal("bagel-6");
  });
});
