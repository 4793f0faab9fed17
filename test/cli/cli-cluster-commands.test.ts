/**
 * `cluster events`, `cluster watch` and `leader transfer` end to end against real client API
 * apps over FakeNodeServices (n1 leads, n2 follows) on free ports of 127.0.0.1. Goal: events
 * print merged by time as lines or JSON lines and exit 2 naming a node that did not answer;
 * --follow prints events recorded while it runs, once each, and stops on Ctrl-C or at
 * --timeout; watch prints one snapshot per refresh without ANSI off a terminal and redraws in
 * place on one, restoring the cursor; leader transfer sends the leader the admin token and
 * waits for the target to lead, and exits 128 without a token, 1 on a refused token or an
 * unknown id. Method: runMarketCli in-process with captured output; the fake leader's admin
 * route hands leadership over by flipping the fakes' roles.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { LinkRule } from "../../src/transport/faulty-transport.js";
import { FakeNodeService } from "../api/fake-node-service.js";
import { closedPort, serveNode, type Served } from "../api/helpers.js";
import { runInProcess, type Run, type RunOptions } from "./cli-in-process.js";

const adminToken = "test-admin-token";

const noFaults = {
  setRules: (_rules: readonly LinkRule[]): void => undefined,
  clearRules: (): void => undefined,
  rules: (): LinkRule[] => [],
};

describe("market-cli cluster events, cluster watch, leader transfer", function () {
  this.timeout(15_000);
  let n1: FakeNodeService;
  let n2: FakeNodeService;
  let served: Served[];
  let workDir: string;
  let transfers: string[];

  function run(argv: string[], options: Partial<RunOptions> = {}): Promise<Run> {
    return runInProcess(["--endpoints", served.map(({ url }) => url).join(","), ...argv],
      { cwd: workDir, ...options });
  }

  /** n1 leads; its admin route hands over to n2 (n1 follows it), as a transfer does. */
  beforeEach(async () => {
    n1 = new FakeNodeService("n1");
    n2 = new FakeNodeService("n2").follow("n1");
    transfers = [];
    const transferLeadership = (target: string): string => {
      transfers.push(target);
      if (target !== "n2") return "unknownTarget";
      n1.term = n2.term = 4;
      n1.follow("n2");
      n2.role = "leader";
      n2.leaderId = "n2";
      return "started";
    };
    served = [await serveNode(n1, { admin: { adminToken, faults: noFaults,
      transferLeadership } }), await serveNode(n2)];
    workDir = mkdtempSync(path.join(tmpdir(), "market-cli-"));
  });
  afterEach(async () => {
    await Promise.all(served.map((server) => server.close()));
    rmSync(workDir, { recursive: true, force: true });
  });

  it("cluster events prints every node's events merged by time, or as JSON lines", async () => {
    n1.events.record([{ kind: "leaderElected", term: 3, index: 1, votes: ["n1", "n2"] }], 0, 2000);
    n2.events.record([{ kind: "voteGranted", term: 3, index: 0, candidate: "n1",
      preVote: false, candidateTerm: 3 }], 0, 1000);
    const result = await run(["cluster", "events"]);
    expect(result).to.deep.include({ code: 0, stderr: "" });
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^TIME\s+NODE\s+TERM\s+INDEX\s+KIND\s+MESSAGE$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(1, 5))).to.deep.equal([
      ["n2", "3", "0", "voteGranted"], ["n1", "3", "1", "leaderElected"]]);
    expect(lines[2]).to.match(/elected leader of term 3 with the votes of n1, n2$/);
    const json = await run(["-w", "json", "cluster", "events"]);
    expect(json.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as
      { node: string; seq: number }).map(({ node, seq }) => `${node}/${seq}`))
      .to.deep.equal(["n2/1", "n1/1"]);
  });

  it("cluster events exits 2 naming a node that did not answer, after the others' events",
    async () => {
      n1.events.record([{ kind: "leaderElected", term: 3, index: 1, votes: ["n1"] }], 0, 5);
      const deadUrl = `http://127.0.0.1:${await closedPort()}`;
      const result = await runInProcess(["--endpoints", `${served[0]!.url},${deadUrl}`,
        "cluster", "events"], { cwd: workDir });
      expect(result.code).to.equal(2);
      expect(result.stdout).to.include("leaderElected");
      expect(result.stderr).to.equal(`error: events from 1 of 2 nodes (${deadUrl} refused the ` +
        "connection)\n");
    });

  it("cluster events --follow prints new events once each and stops on Ctrl-C", async () => {
    n1.events.record([{ kind: "leaderElected", term: 3, index: 1, votes: ["n1"] }], 0, 5);
    let interrupt: (() => void) | null = null;
    const running = run(["cluster", "events", "--follow"], { onInterrupt: (handler) => {
      interrupt = handler;
      return () => void (interrupt = null);
    } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    n2.events.record([{ kind: "voteGranted", term: 4, index: 1, candidate: "n2",
      preVote: false, candidateTerm: 4 }], 0, Date.now());
    // Two polls (500 ms apart) see it; it must still print once.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(interrupt).to.not.equal(null);
    interrupt!();
    const result = await running;
    expect(result).to.deep.include({ code: 0, stderr: "" });
    const kinds = result.stdout.trimEnd().split("\n").slice(1)
      .map((line) => line.split(/\s+/)[4]);
    expect(kinds).to.deep.equal(["leaderElected", "voteGranted"]);
    expect(interrupt).to.equal(null);
  });

  it("cluster watch: one JSON line or plain table per refresh off a terminal, until --timeout",
    async () => {
      const json = await run(["-w", "json", "cluster", "watch", "--interval", "200ms",
        "--timeout", "700ms"]);
      expect(json).to.deep.include({ code: 0, stderr: "" });
      const snapshots = json.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as
        { nodes: { id: string; role: string }[] });
      expect(snapshots.length).to.be.within(2, 5);
      expect(snapshots[0]!.nodes.map(({ id, role }) => `${id} ${role}`))
        .to.deep.equal(["n1 leader", "n2 follower"]);
      const plain = await run(["cluster", "watch", "--interval", "200ms", "--timeout", "500ms"]);
      expect(plain.code).to.equal(0);
      expect(plain.stdout).to.not.include("\u001b");
      expect(plain.stdout).to.match(/^ID\s+ROLE\s+TERM\s+LEADER\s+LAST LOG\s+COMMIT\s+APPLIED/m);
    });

  it("cluster watch on a terminal redraws in place and restores the cursor", async () => {
    const result = await run(["cluster", "watch", "--interval", "100ms", "--timeout", "450ms"],
      { tty: true });
    expect(result.code).to.equal(0);
    expect(result.stdout.startsWith("\u001b[?25l")).to.equal(true);
    expect(result.stdout.endsWith("\u001b[?25h")).to.equal(true);
    expect(result.stdout).to.include("\u001b[4F\u001b[J").and.to.include("\u001b[32mleader");
  });

  it("leader transfer sends the leader the admin token and waits until the target leads",
    async () => {
      const env = { RAFTMARKET_ADMIN_TOKEN: adminToken };
      const moved = await run(["leader", "transfer", "--to", "n2"], { env });
      expect(moved).to.deep.include({ code: 0, stderr: "" });
      expect(moved.stdout).to.equal("n2 leads at term 4 (was n1 at term 3)\n");
      expect(transfers).to.deep.equal(["n2"]);
      const again = await run(["-w", "json", "leader", "transfer", "--to", "n2"], { env });
      expect(JSON.parse(again.stdout)).to.deep.include({ leaderId: "n2", term: 4 });
      expect(transfers).to.have.length(1);
    });

  it("leader transfer: 128 without a token, 1 for a wrong token or an unknown id", async () => {
    const noToken = await run(["leader", "transfer", "--to", "n2"]);
    expect(noToken.code).to.equal(128);
    expect(noToken.stderr).to.match(/^error: leader transfer needs the cluster's admin token/);
    const wrong = await run(["leader", "transfer", "--to", "n2"],
      { env: { RAFTMARKET_ADMIN_TOKEN: "not-it" } });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.match(/^error: n1 refused the admin token/);
    const unknown = await run(["-w", "json", "leader", "transfer", "--to", "n7"],
      { env: { RAFTMARKET_ADMIN_TOKEN: adminToken } });
    expect(unknown.code).to.equal(1);
    expect(JSON.parse(unknown.stderr)).to.deep.equal({ error: { code: "unknown_node",
      message: "n7 is not a voting member of the cluster (members: n1, n2, n3)", target: "n7" } });
    expect(transfers).to.deep.equal([]);
  });
});
