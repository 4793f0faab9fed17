/**
 * market-node's startup errors, as a user meets them. Goal: a configuration mistake ends the
 * process with one clear line on stderr (no stack trace) and exit code 128; so does an
 * environment token that breaks the file's rule. Method: real processes (`node --import tsx
 * src/cli/market-node.ts`), each given a cluster file in a fresh temporary folder with one
 * mistake in it: a host that does not resolve, a host that is not an address of this machine
 * (10.255.255.1: the node only tries to bind it, and sends nothing to itself), an empty
 * RAFTMARKET_PEER_TOKEN. Every other address is 127.0.0.1. Each run is bounded; the folders
 * are removed after.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
const script = path.join(root, "src/cli/market-node.ts");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runNode(config: string, env: Record<string, string>): Promise<Run> {
  // The caller's shell may set tokens of its own; only the test's count.
  const { RAFTMARKET_PEER_TOKEN: _peer, RAFTMARKET_ADMIN_TOKEN: _admin, ...inherited } =
    process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, "--config", config, "--id", "n1",
      "--log-level", "warn"], { timeout: 30_000, cwd: root, env: { ...inherited, ...env } },
    (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("market-node startup errors", function () {
  this.timeout(60_000);
  const folders: string[] = [];

  after(() => {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  /** A 3-node cluster file whose node n1 listens on `host`; the others on 127.0.0.1. */
  function clusterFile(host: string): string {
    const folder = mkdtempSync(path.join(os.tmpdir(), "raftmarket-node-"));
    folders.push(folder);
    // Ports nobody listens on for long: the node either fails before it binds or cannot bind.
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const nodes = [1, 2, 3].map((k) => ({ id: `n${k}`, host: k === 1 ? host : "127.0.0.1",
      clientPort: base + k, peerPort: base + 10 + k, dataDir: `data/n${k}` }));
    const file = path.join(folder, "cluster.config.json");
    writeFileSync(file, JSON.stringify({
      nodes,
      timing: { tickIntervalMs: 10, heartbeatIntervalTicks: 2, electionTimeoutTicks: 15 },
      tokens: { peerToken: "test-peer-token", adminToken: "test-admin-token" },
      snapshot: { entriesBetweenSnapshots: 1000, trailingEntries: 10 },
    }));
    return file;
  }

  function expectOneLine(run: Run, code: number, pattern: RegExp): void {
    const context = `exit ${run.code}, stderr:\n${run.stderr}`;
    expect(run.code, context).to.equal(code);
    expect(run.stderr.trimEnd().split("\n"), context).to.have.length(1);
    expect(run.stderr, context).to.match(pattern);
    expect(run.stderr + run.stdout, context).not.to.include("    at ");
  }

  it("a host that does not resolve: one line, exit 128", async () => {
    const run = await runNode(clusterFile("no-such-host.invalid"), {});
    expectOneLine(run, 128, /^error: unknown host "no-such-host\.invalid"/);
  });

  it("a host that is not this machine's: one line, exit 128", async () => {
    const run = await runNode(clusterFile("10.255.255.1"), {});
    expectOneLine(run, 128, /^error: address 10\.255\.255\.1:\d+ is not available/);
  });

  it("an empty RAFTMARKET_PEER_TOKEN: one line, exit 128", async () => {
    const run = await runNode(clusterFile("127.0.0.1"), { RAFTMARKET_PEER_TOKEN: "" });
    expectOneLine(run, 128,
      /^error: .*: invalid cluster config: RAFTMARKET_PEER_TOKEN \(environment\): tokens are/);
  });
});
