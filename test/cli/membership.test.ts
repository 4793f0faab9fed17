/**
 * Membership changes on a real cluster, as an operator runs them (issue 13): a learner added
 * with `market-cli member add --learner`, started with `market-node --join`, caught up and
 * promoted; the README's runbook for a node that lost its disk (its empty folder is refused
 * under the old id; member remove, member add with a new id, --join, promote); the leader
 * removed (it stops, and a new leader takes over); the refusals an operator can meet (an id used
 * before, an unknown member, a join before the add). Goal: every purchase acknowledged before
 * or between the changes is still there at the end, on every member, with equal state hashes.
 * Method: LocalCluster (market-node processes on free loopback ports, stopped in the after
 * hook), the CLI as a child process, every wait polled under a generous bound.
 */
import { rmSync } from "node:fs";
import { expect } from "chai";
import { MarketClient } from "../../src/client/index.js";
import { addedNodesCachePath } from "../../src/cluster/admin-cluster.js";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { marketNodeFlags } from "../../src/cluster/market-node-bin.js";
import { httpRequest } from "../../src/wire/http-request.js";
import { liveLockHolder } from "../../src/storage/dir-lock.js";
import { runTsScript, waitFor, type ScriptRun } from "../cluster/helpers.js";
import { spawnCli, type CliRun } from "./cli-process.js";

describe("membership changes on a real cluster (member add/promote/remove, --join)", function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  const orders: string[] = [];

  function cli(...argv: string[]): Promise<CliRun> {
    return spawnCli(["--config", cluster.configPath, "--timeout", "20s", ...argv]);
  }

  async function status(url: string): Promise<Record<string, unknown> | undefined> {
    try {
      const answer = await httpRequest({ method: "GET", url: `${url}/v1/cluster/status`,
        timeoutMs: 1000 });
      return answer.status === 200 ? JSON.parse(answer.body) as Record<string, unknown> : undefined;
    } catch {
      return undefined;
    }
  }

  async function buy(): Promise<void> {
    const run = await cli("-w", "json", "buy", "--item", "mug");
    expect(run.code, run.stderr).to.equal(0);
    orders.push((JSON.parse(run.stdout) as { order: { orderId: string } }).order.orderId);
  }

  /** Waits until node `id` reports applied index >= the leader's commit index now. */
  async function caughtUp(id: string): Promise<void> {
    const leader = await cluster.waitForLeader(30_000);
    const target = Number((await status(cluster.node(leader).url))?.commitIndex ?? 0);
    await waitFor(async () => {
      const own = await status(cluster.node(id).url);
      return own !== undefined && Number(own.appliedIndex) >= target ? true : undefined;
    }, `${id} to apply up to ${target}`, 30_000);
  }

  async function addAndJoin(id: string, learner: boolean): Promise<void> {
    const leader = await cluster.waitForLeader(30_000);
    const join = await cluster.prepareJoiningNode(id, cluster.node(leader).url);
    const added = await cli("member", "add", id, "--peer-url", join.peerUrl, "--client-url",
      join.clientUrl, ...(learner ? ["--learner"] : []), "--data-dir", join.dataDir);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.include(`added ${id} as a ${learner ? "learner" : "voter"}`);
    expect(added.stdout).to.include(`--join ${cluster.node(leader).url}`);
    cluster.startNode(id);
    await caughtUp(id);
  }

  before(async () => {
    cluster = await LocalCluster.start();
    await cluster.waitForLeader(30_000);
    const created = await cli("item", "create", "--sku", "mug", "--name", "Mug", "--area",
      "Home", "--price-cents", "500", "--stock", "1000");
    expect(created.code, created.stderr).to.equal(0);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("adds a learner that joins, catches up without voting, and is promoted", async () => {
    await buy();
    await addAndJoin("n4", true);
    const learnerView = await status(cluster.node("n4").url);
    expect(learnerView?.learners).to.deep.equal(["n4"]);
    expect(learnerView?.members).to.deep.equal(["n1", "n2", "n3"]);
    const listed = await cli("member", "list");
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/^n4\s+learner\s+follower\s+http:\/\/127\.0\.0\.1:\d+/m);
    const statusTable = await cli("cluster", "status");
    expect(statusTable.code, statusTable.stderr).to.equal(0);
    expect(statusTable.stdout).to.include("learners (no vote): n4");
    await buy();

    const promoted = await cli("member", "promote", "n4", "--wait");
    expect(promoted.code, promoted.stderr).to.equal(0);
    expect(promoted.stdout).to.match(/^promoted n4 to voter at index \d+/);
    const voterView = await status(cluster.node("n4").url);
    expect(voterView?.members).to.deep.equal(["n1", "n2", "n3", "n4"]);
    await buy();
  });

  it("npm run fault and npm run partition work on a member added later", async () => {
    const fault = (...argv: string[]): Promise<ScriptRun> =>
      runTsScript("scripts/fault.ts", ["--config", cluster.configPath, ...argv], 60_000);
    const listed = await fault("status");
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/^n4\s+\d+\s+running\s+(leader|follower)/m);
    const killed = await fault("kill", "n4");
    expect(killed.code, killed.stderr).to.equal(0);
    expect((await fault("status")).stdout).to.match(/^n4\s+-\s+down/m);
    let logFile: string | null = null;
    try {
      // Not the launcher's node: the script starts it again as it was started (--join ...).
      const restarted = await fault("restart", "n4");
      logFile = /its output goes to (\S+);/.exec(restarted.stdout)?.[1] ?? null;
      expect(restarted.code, restarted.stderr).to.equal(0);
      expect(restarted.stdout).to.match(/n4 answers after \d+ ms/);
      // Started again with Node's own options too (GET /admin/node's execArgv), not only argv:
      // as the restarted process itself reports what Node parsed.
      const own = await httpRequest({ method: "GET", url: `${cluster.node("n4").url}/admin/node`,
        headers: { authorization: "Bearer local-admin-token" }, timeoutMs: 5000 });
      expect(own.status, own.body).to.equal(200);
      expect((JSON.parse(own.body) as { execArgv?: unknown }).execArgv).to.deep.equal(
        marketNodeFlags);
      const isolated = await runTsScript("scripts/partition.ts", ["--config", cluster.configPath,
        "isolate", "n4"]);
      expect(isolated.code, isolated.stderr).to.equal(0);
      expect(isolated.stdout).to.include("n4 can no longer reach");
      const healed = await runTsScript("scripts/partition.ts", ["--config", cluster.configPath,
        "heal"]);
      expect(healed.code, healed.stderr).to.equal(0);
    } finally {
      // The restarted process is the script's, not LocalCluster's: stopped here, by its pid.
      const pid = liveLockHolder(cluster.dataDir("n4"));
      if (pid !== null) process.kill(pid, "SIGKILL");
      await waitFor(async () => liveLockHolder(cluster.dataDir("n4")) === null ? true : undefined,
        "the restarted n4 to exit", 20_000);
      // What the script remembered of n4 goes with this cluster, and so does n4's output.
      rmSync(addedNodesCachePath(cluster.configPath), { force: true });
      if (logFile !== null) rmSync(logFile, { force: true });
    }
    cluster.startNode("n4");
    await caughtUp("n4");
  });

  it("refuses what would break the rules, with what to do instead", async () => {
    const again = await cli("member", "add", "n4", "--peer-url", "http://127.0.0.1:1",
      "--client-url", "http://127.0.0.1:2");
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include("n4 is already a member of this cluster");
    const unknown = await cli("member", "remove", "n9");
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.include("n9 is not a member");
    const voter = await cli("member", "promote", "n2");
    expect(voter.code).to.equal(1);
    const badUrl = await cli("member", "add", "n7", "--peer-url", "not-a-url", "--client-url",
      "http://127.0.0.1:2");
    expect(badUrl.code).to.equal(128);
    expect(badUrl.stderr).to.include("--peer-url");
    // A node started with --join before anyone added it is told to add it first.
    const leader = await cluster.waitForLeader(30_000);
    await cluster.prepareJoiningNode("n8", cluster.node(leader).url);
    cluster.startNode("n8");
    expect(await cluster.exited("n8")).to.equal(1);
  });

  it("replaces a node that lost its disk (the README's runbook)", async () => {
    const leader = await cluster.waitForLeader(30_000);
    const lost = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    await cluster.kill(lost);
    rmSync(cluster.dataDir(lost), { recursive: true, force: true });
    // Under its old id, with an empty folder, it is refused: it ran in this cluster before.
    cluster.startNode(lost);
    expect(await cluster.exited(lost)).to.equal(1);
    // The cluster keeps how each node ended, with its last words (what a benchmark prints).
    const exits = cluster.exits().filter((exit) => exit.id === lost);
    expect(exits.map((exit) => [exit.code, exit.signal])).to.deep.equal([[null, "SIGKILL"],
      [1, null]]);
    expect(exits[1]!.lastOutput.join("\n")).to.include(`node ${lost} has already run in cluster`);
    await buy();

    const removed = await cli("member", "remove", lost);
    expect(removed.code, removed.stderr).to.equal(0);
    expect(removed.stdout).to.include(`removed ${lost}`);
    const reused = await cli("member", "add", lost, "--peer-url", "http://127.0.0.1:1",
      "--client-url", "http://127.0.0.1:2");
    expect(reused.code).to.equal(1);
    expect(reused.stderr).to.include("never given to a new node");

    await addAndJoin("n5", true);
    const promoted = await cli("member", "promote", "n5", "--wait");
    expect(promoted.code, promoted.stderr).to.equal(0);
    await buy();
    const statusTable = await cli("cluster", "status");
    expect(statusTable.code, statusTable.stderr).to.equal(0);
    expect(statusTable.stdout).to.match(new RegExp(`^${lost}\\s+removed`, "m"));
    expect(statusTable.stdout).to.match(/^n5\s+(leader|follower)/m);
 
    // A client configured with one original node learns the members added since, and goes on
    // through them when that node is down.
    const original = ["n1", "n2", "n3"].find((id) => id !== lost)!;
    const client = new MarketClient({ endpoints: [cluster.node(original).url], retryBudgetMs: 20_000 });
    try {
      await client.clusterStatus();
      expect(client.endpoints).to.include.members([cluster.node("n4").url, cluster.node("n5").url]);
      await cluster.kill(original);
      const bought = await client.buy([{ sku: "mug", qty: 1 }]);
      orders.push(bought.orderId);
    } finally {
      client.close();
      cluster.startNode(original);
    }
  });

  it("removes the leader: it stops, another leads, and no acknowledged order is lost", async () => {
    const leader = await cluster.waitForLeader(30_000);
    const removed = await cli("member", "remove", leader);
    expect(removed.code, removed.stderr).to.equal(0);
    // The removed leader stops by itself (exit 0), and its folder is fenced.
    expect(await cluster.exited(leader)).to.equal(0);
    cluster.startNode(leader);
    expect(await cluster.exited(leader)).to.equal(1);
    const next = await waitFor(async () => {
      for (const node of cluster.nodes) {
        const own = await status(node.url);
        if (own?.role === "leader" && own.id !== leader) return own.id as string;
      }
      return undefined;
    }, "a new leader", 30_000);
    expect(next).to.not.equal(leader);
    await buy();

    // Every member holds every acknowledged order, at one applied index and state hash.
    const members = (await status(cluster.node(next).url))?.members as string[];
    expect(members).to.have.length(3);
    await waitFor(async () => {
      const views = await Promise.all(members.map((id) => status(cluster.node(id).url)));
      const states = new Set(views.map((view) => `${view?.appliedIndex}/${view?.stateHash}`));
      return views.every((view) => view !== undefined) && states.size === 1 ? true : undefined;
    }, "the members to converge", 30_000);
    for (const id of members) {
      for (const orderId of orders) {
        const answer = await httpRequest({ method: "GET",
          url: `${cluster.node(id).url}/v1/orders/${orderId}`, timeoutMs: 5000 });
        expect(answer.status, `${orderId} on ${id}`).to.equal(200);
      }
    }
  });
});
