/**
 * Process faults on a cluster started as a user starts it: `npm run cluster` (the launcher) on a
 * temporary cluster file with free loopback ports, driven by `npm run fault` as a child process.
 * Goal: kill, pause, resume and restart do what they print and what Raft promises (a new leader
 * after the leader's crash, a restarted node that catches up, a paused node that comes back),
 * repeat calls are harmless, bad input is one line and exit 1, and the data folder lock and the
 * launcher's control socket keep a second process off a running node or cluster. The launcher is
 * always stopped, and any node process it leaves is killed by the pid in its LOCK file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { askLauncher, NoLauncherError } from "../../src/launcher/launcher-control.js";
import { writeLocalClusterConfig } from "../../src/cluster/local-cluster.js";
import { liveLockHolder, readLockPid } from "../../src/storage/dir-lock.js";
import { runTsScript, waitFor } from "./helpers.js";

const launcherScript = fileURLToPath(new URL("../../src/launcher/launcher.ts", import.meta.url));
const faultScript = fileURLToPath(new URL("../../scripts/fault.ts", import.meta.url));
const marketNodeScript = fileURLToPath(new URL("../../src/cli/market-node.ts", import.meta.url));

interface Status {
  readonly role: string;
  readonly term: number;
  readonly appliedIndex: number;
}

describe("npm run fault on a cluster started by npm run cluster", function () {
  this.timeout(120_000);
  let root: string;
  let configPath: string;
  let urls: Map<string, string>;
  let launcher: ChildProcess;
  let launcherOutput = "";
  let sequence = 0;

  const fault = (...args: string[]) => runTsScript(faultScript, ["--config", configPath, ...args]);
  const dataDir = (id: string): string => path.join(root, "data", id);

  async function status(id: string): Promise<Status | null> {
    try {
      const response = await fetch(`${urls.get(id)}/v1/cluster/status`,
        { signal: AbortSignal.timeout(1000) });
      return response.ok ? await response.json() as Status : null;
    } catch {
      return null;
    }
  }

  async function leaderAmong(ids: readonly string[]): Promise<string | undefined> {
    for (const id of ids) if ((await status(id))?.role === "leader") return id;
    return undefined;
  }

  async function buy(id: string): Promise<number> {
    const response = await fetch(`${urls.get(id)}/v1/orders`, { method: "POST",
      headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(5000),
      body: JSON.stringify({ requestId: `fault-script-${++sequence}`,
        lines: [{ sku: "tea", qty: 1 }] }) }).catch(() => null);
    return response?.status ?? 0;
  }

  before(async () => {
    const written = await writeLocalClusterConfig();
    ({ root, configPath } = written);
    urls = new Map(written.config.nodes.map((node) =>
      [node.id, `http://${node.host}:${node.clientPort}`]));
    launcher = spawn(process.execPath, ["--import", "tsx", launcherScript, "--config", configPath,
      "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [launcher.stdout, launcher.stderr]) {
      stream?.on("data", (chunk: Buffer) => (launcherOutput += chunk.toString()));
    }
    const ids = [...urls.keys()];
    const leader = await waitFor(() => leaderAmong(ids), "a leader", 30_000);
    const created = await fetch(`${urls.get(leader)}/v1/items`, { method: "POST",
      headers: { "content-type": "application/json" }, body: JSON.stringify({
        requestId: "create-tea", sku: "tea", name: "Tea", area: "Drinks", priceCents: 300,
        stock: 1000 }) });
    expect(created.status).to.equal(201);
  });

  after(async () => {
    if (launcher !== undefined && launcher.exitCode === null && launcher.signalCode === null) {
      const exited = new Promise((resolve) => launcher.once("exit", resolve));
      launcher.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      launcher.kill("SIGKILL");
    }
    // Whatever the launcher left behind, by the locks (pid and start time) of the data folders.
    for (const id of urls?.keys() ?? []) {
      const pid = liveLockHolder(dataDir(id));
      if (pid !== null) {
        process.kill(pid, "SIGCONT");
        process.kill(pid, "SIGKILL");
      }
    }
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it("status shows every node running, with its pid and Raft role", async () => {
    const run = await fault("status");
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).to.match(/^node\s+pid\s+process\s+raft$/);
    for (const id of urls.keys()) {
      const pid = readLockPid(dataDir(id));
      expect(lines.find((line) => line.startsWith(id))).to.match(
        new RegExp(`^${id}\\s+${pid}\\s+running\\s+(leader|follower), term \\d+`));
    }
  });

  it("kill leader: the others elect a leader and sell; a second kill is a no-op; restart " +
    "brings the node back and it catches up", async () => {
    const killed = await fault("kill", "leader");
    expect(killed.code, killed.stderr).to.equal(0);
    const id = /^The leader is (\S+)\.$/m.exec(killed.stdout)?.[1];
    expect(id, killed.stdout).to.be.a("string");
    expect(killed.stdout).to.match(new RegExp(`Killed ${id} \\(pid \\d+\\) with SIGKILL`));
    const others = [...urls.keys()].filter((other) => other !== id);
    await waitFor(async () => ((await buy(others[0]!)) === 201 ? true : undefined),
      "a sale on the surviving majority");
    const again = await fault("kill", id!);
    expect(again.code).to.equal(0);
    expect(again.stdout.trim()).to.equal(`${id} is already down; nothing to do.`);
    expect((await fault("status")).stdout).to.match(new RegExp(`^${id}\\s+-\\s+down`, "m"));

    const restarted = await fault("restart", id!);
    expect(restarted.code, restarted.stderr).to.equal(0);
    expect(restarted.stdout).to.match(new RegExp(`${id} answers after \\d+ ms`));
    expect(launcherOutput).to.include(`${id} restarted`);
    const target = (await status(others[0]!))!.appliedIndex;
    await waitFor(async () => ((await status(id!))?.appliedIndex ?? 0) >= target ? true
      : undefined, `${id} catching up to ${target}`);
  });

  it("pause freezes a node and resume brings it back; repeats are no-ops", async () => {
    const ids = [...urls.keys()];
    const paused = await fault("pause", "n1");
    expect(paused.code, paused.stderr).to.equal(0);
    expect(paused.stdout).to.match(/^Paused n1 \(pid \d+\) with SIGSTOP/);
    expect((await fault("pause", "n1")).stdout).to.match(/n1 \(pid \d+\) is already paused/);
    expect((await fault("status")).stdout).to.match(/^n1\s+\d+\s+paused\s+-/m);
    expect(await status("n1")).to.equal(null);
    // The two others hold a majority and keep (or elect) a leader that sells.
    await waitFor(async () => ((await buy("n2")) === 201 ? true : undefined),
      "a sale while n1 is paused");
    const resumed = await fault("resume", "all");
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.stdout).to.match(/^Resumed n1 \(pid \d+\) with SIGCONT\.$/m);
    expect(resumed.stdout).to.match(/^n2 \(pid \d+\) is not paused; nothing to do\.$/m);
    await waitFor(async () => ((await status("n1")) !== null ? true : undefined), "n1 answering");
    expect(await waitFor(() => leaderAmong(ids), "a leader")).to.be.a("string");
  });

  it("the launcher stays up with every node killed, and restarts them", async () => {
    const ids = [...urls.keys()];
    for (const id of ids) expect((await fault("kill", id)).code).to.equal(0);
    await waitFor(async () => launcherOutput.includes("every node is down") ? true : undefined,
      "the launcher to notice");
    expect(launcher.exitCode).to.equal(null);
    for (const id of ids) {
      const restarted = await fault("restart", id);
      expect(restarted.code, restarted.stderr).to.equal(0);
    }
    await waitFor(() => leaderAmong(ids), "a leader after the restarts");
    await waitFor(async () => ((await buy("n1")) === 201 ? true : undefined), "a sale");
  });

  it("refuses bad input with one line and exit 1", async () => {
    const unknown = await fault("kill", "n9");
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr.trim()).to.equal('error: unknown node "n9" (nodes are: n1, n2, n3)');
    const badConfig = await runTsScript(faultScript,
      ["--config", path.join(root, "missing.json"), "status"]);
    expect(badConfig.code).to.equal(1);
    expect(badConfig.stderr.trim().split("\n")).to.have.length(1);
  });

  it("keeps a second node process off a running node's data folder", async () => {
    const holder = readLockPid(dataDir("n2"));
    const second = await runTsScript(marketNodeScript, ["--config", configPath, "--id", "n2"]);
    expect(second.code).to.equal(1);
    expect(second.stderr).to.include(`is in use by process ${holder}`);
    expect(readLockPid(dataDir("n2"))).to.equal(holder);
    expect(await status("n2")).to.not.equal(null);
  });

  it("keeps a second launcher off the same cluster file", async () => {
    const second = await runTsScript(launcherScript, ["--config", configPath]);
    expect(second.code).to.equal(1);
    expect(second.stderr.trim()).to.match(/^error: a launcher for .* is already running/);
  });

  it("restart without a launcher is refused before anything is killed", async () => {
    const lone = await writeLocalClusterConfig();
    try {
      let caught: unknown = null;
      await askLauncher(lone.configPath, "GET", "/nodes").catch((error) => (caught = error));
      expect(caught).to.be.instanceOf(NoLauncherError);
      const run = await runTsScript(faultScript, ["--config", lone.configPath, "restart", "n1"]);
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.match(/^error: no launcher is running for .*npm run cluster$/);
    } finally {
      rmSync(lone.root, { recursive: true, force: true });
    }
  });
});
