/**
 * The launcher's dashboard without a browser. Goal: bad input to its endpoints is answered in
 * the API's error shape and never a 5xx (a body that is not JSON is 415, which also keeps other
 * sites' forms from posting actions; a bad field is 400 naming it; an unknown path is 404); the
 * market routes it relays answer as a node does; the built-in workload buys and stops, and a
 * leadership transfer is carried out, each on the timeline. Then, on the real `npm run cluster`
 * (a child process): a learner added from the page (member-add) joins as a learner, catches up,
 * is promoted, killed, restarted, paused and resumed by the launcher; a member the launcher did
 * not start is refused those actions (409); a removed member's exit is not a crash, and its
 * fenced folder is not started again; Ctrl-C stops the added node too. The launcher remembers
 * the node it added: `npm run cluster` started again on the same cluster file and data starts
 * it again as its own process, which catches up; with that node's port taken by another
 * process, its failed start is reported as its exit, and the launcher runs on. Method: first a
 * LocalCluster with serveLocalDashboard, then a LauncherProcess, started again on its folder
 * (each stopped in its after hook, every process by pid), fetch, and bounded waits on
 * conditions.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, LocalCluster } from "../../src/cluster/local-cluster.js";
import type { LauncherDashboard } from "../../src/dashboard/launcher-dashboard.js";
import { serveLocalDashboard } from "../../scripts/dashboard-browser.js";
import { request } from "../api/helpers.js";
import { runTsScript, waitFor } from "../cluster/helpers.js";
import { liveLockHolder } from "../../src/storage/dir-lock.js";
import { readIdentity } from "../../src/storage/index.js";
import { LauncherProcess } from "./launcher-process.js";

const faultScript = fileURLToPath(new URL("../../scripts/fault.ts", import.meta.url));

describe("the launcher's dashboard on a 3-process cluster", function () {
  this.timeout(60_000);
  let cluster: LocalCluster;
  let dashboard: LauncherDashboard | undefined;

  before(async () => {
    cluster = await LocalCluster.start();
    await cluster.waitForLeader(30_000);
    dashboard = await serveLocalDashboard(cluster);
  });

  after(async () => {
    await dashboard?.close();
    await cluster?.stop();
  });

  it("answers bad input in the API's error shape, never a 5xx", async () => {
    const url = dashboard!.url;
    const cases: [string, string, unknown, Record<string, string>, number, string][] = [
      ["/ui/actions", "POST", "action=heal", { "content-type": "text/plain" }, 415,
        "unsupported_media_type"],
      ["/ui/actions", "POST", { action: "workload-start", clients: 0 }, {}, 400, "invalid_request"],
      ["/ui/actions", "POST", { action: "pause" }, {}, 400, "invalid_request"],
      ["/ui/actions", "POST", "{oops", {}, 400, "invalid_request"],
      ["/v1/items?bogus=1", "GET", undefined, {}, 400, "invalid_request"],
      ["/v1/orders", "POST", { requestId: "r", lines: [] }, {}, 400, "invalid_request"],
      ["/v1/orders/o-999999", "GET", undefined, {}, 404, "not_found"],
      ["/nothing", "GET", undefined, {}, 404, "not_found"],
    ];
    for (const [path, method, body, headers, status, code] of cases) {
      const answer = await request(`${url}${path}`, method, body, headers);
      expect(answer.status, `${method} ${path}`).to.equal(status);
      expect(answer.body.error.code, `${method} ${path}`).to.equal(code);
    }
  });

  it("runs the workload, transfers leadership, and puts both on the timeline", async () => {
    const url = dashboard!.url;
    const started = await request(`${url}/ui/actions`, "POST",
      { action: "workload-start", clients: 4 });
    expect(started.status).to.equal(200);
    await waitFor(async () => dashboard!.watcher.frame().workload!.ordersOk >= 20 ? true
      : undefined, "20 workload orders", 20_000);
    const stopped = await request(`${url}/ui/actions`, "POST", { action: "workload-stop" });
    expect(stopped.body.message).to.match(/^stopped the workload after \d+ orders \(0 failed\)$/);
    // The transfer needs the leader as the watcher last read it: watch for a moment.
    const unwatch = dashboard!.watcher.watch(() => true);
    try {
      const leader = await waitFor(async () => dashboard!.watcher.leader() ?? undefined,
        "the watcher to see a leader");
      const moved = await request(`${url}/ui/actions`, "POST", { action: "transfer" });
      expect(moved.status).to.equal(200);
      expect(moved.body.message).to.match(new RegExp(`^asked ${leader} to hand leadership to n\\d$`));
      await waitFor(async () => {
        const now = await cluster.waitForLeader();
        return now !== leader ? now : undefined;
      }, "the new leader");
    } finally {
      unwatch();
    }
    const kinds = dashboard!.watcher.frame().events.filter((event) => event.source === "action")
      .map((event) => event.kind);
    expect(kinds).to.include.members(["workload-start", "workload-stop", "transfer"]);
  });

  it("removes a member through the leader, and refuses promoting a voter", async () => {
    const url = dashboard!.url;
    const unwatch = dashboard!.watcher.watch(() => true);
    try {
      const leader = await waitFor(async () => dashboard!.watcher.leader() ?? undefined,
        "the watcher to see a leader");
      const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader)!;
      // Just after the transfer above, the leader the watcher saw may have moved (503), or not
      // yet committed an entry of its term (409 leaderNotReady): asked again until the leader
      // answers about the change itself.
      const voter = await waitFor(async () => {
        const answer = await request(`${url}/ui/actions`, "POST",
          { action: "member-promote", node: follower });
        return answer.status === 409 || answer.status === 503 ? undefined : answer;
      }, "an answer about the promotion itself");
      expect(voter.status).to.equal(400);
      expect(voter.body.error.message).to.include(`${follower} is already a voter`);
      const removed = await request(`${url}/ui/actions`, "POST",
        { action: "member-remove", node: follower });
      expect(removed.status, JSON.stringify(removed.body)).to.equal(200);
      expect(removed.body.message).to.match(new RegExp(`^removed ${follower} from the cluster`));
      expect(await cluster.exited(follower)).to.equal(0);
      const status = (await cluster.statuses()).get(leader) as { members?: string[] };
      expect(status.members).to.not.include(follower);
    } finally {
      unwatch();
    }
  });
});

describe("the real launcher adds a learner from its page, and acts on it", function () {
  this.timeout(120_000);
  let launcher: LauncherProcess | undefined;
  const watching = new AbortController();
  /** The learner the page added, its client URL and data folder. */
  let added = { id: "", url: "", dataDir: "" };

  /** At info, so that the added node's prefixed output can be seen. */
  const launcherArgs = ["--log-level", "info"];

  /** An open stream is what makes the launcher's watcher read the nodes (as a page does). */
  async function watch(): Promise<void> {
    const stream = await fetch(`${launcher!.dashboardUrl}/ui/stream`, { signal: watching.signal });
    void stream.body?.pipeTo(new WritableStream()).catch(() => undefined);
  }

  before(async () => {
    launcher = await LauncherProcess.start(launcherArgs);
    await watch();
    await waitFor(async () => leaderOf(await frame()), "a leader on the page", 30_000);
  });

  after(async () => {
    watching.abort();
    await launcher?.stop();
  });

  interface FrameNode { id: string; url: string; process: string; pid: number | null;
    managed: boolean; status: { role: string; commitIndex: number; appliedIndex: number } | null }

  async function frame(): Promise<FrameNode[]> {
    return (await request(`${launcher!.dashboardUrl}/ui/frame`)).body.nodes as FrameNode[];
  }

  function leaderOf(nodes: FrameNode[]): FrameNode | undefined {
    return nodes.find((node) => node.status?.role === "leader");
  }

  function act(body: Record<string, unknown>): ReturnType<typeof request> {
    return request(`${launcher!.dashboardUrl}/ui/actions`, "POST", body);
  }

  /** Asks again while the answer is one that clears by itself (503, or 409 but `final`). */
  async function actUntilSettled(body: Record<string, unknown>,
    final: (message: string) => boolean = () => false): ReturnType<typeof request> {
    return await waitFor(async () => {
      const answer = await act(body);
      const settled = answer.status === 200 || answer.status === 400 ||
        (answer.status === 409 && final(String(answer.body.error?.message)));
      return settled ? answer : undefined;
    }, `an answer to ${JSON.stringify(body)}`, 60_000);
  }

  /** The leader's GET /admin/members, with the cluster's admin token. */
  async function members(): Promise<{ members: { id: string; role: string }[] }> {
    const leader = await waitFor(async () => leaderOf(await frame()), "a leader", 30_000);
    // The leader may be the added node, which is not in the cluster file.
    const answer = await request(`${leader.url}/admin/members`, "GET",
      undefined, { authorization: `Bearer ${launcher!.config.tokens.adminToken}` });
    expect(answer.status).to.equal(200);
    return answer.body;
  }

  /** Waits until the node `id` has applied what the leader had committed. */
  async function caughtUp(id: string): Promise<void> {
    await waitFor(async () => {
      const nodes = await frame();
      const status = nodes.find((each) => each.id === id)?.status;
      const commit = leaderOf(nodes)?.status?.commitIndex ?? Infinity;
      return status != null && status.appliedIndex >= commit ? true : undefined;
    }, `${id} to catch up`, 30_000);
  }

  it("refuses a bad member-add body with 400 naming the field", async () => {
    for (const [body, field] of [[{ action: "member-add", node: "n1" }, "node"],
      [{ action: "member-add", id: 4 }, "id"]] as const) {
      const answer = await act(body);
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(answer.body.error.code).to.equal("invalid_request");
      expect(answer.body.error.field).to.equal(field);
    }
    const info = await request(`${launcher!.dashboardUrl}/ui/info`);
    expect(info.body.actions).to.include("member-add");
  });

  it("adds a learner that the leader lists and that catches up", async () => {
    const answer = await actUntilSettled({ action: "member-add" });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const match = new RegExp("^added (n\\d+) as a learner \\(at index \\d+\\) and started it " +
      "\\(pid \\d+, client (\\S+), data (\\S+)\\):").exec(answer.body.message);
    expect(match, answer.body.message).to.not.equal(null);
    added = { id: match![1]!, url: match![2]!, dataDir: match![3]!.replace(/\)$/, "") };
    expect(["n1", "n2", "n3"]).to.not.include(added.id);
    const member = (await members()).members.find((each) => each.id === added.id);
    expect(member?.role).to.equal("learner");
    // Caught up: its applied index reaches what the leader had committed.
    const node = await waitFor(async () => (await frame()).find((each) =>
      each.id === added.id && each.status !== null), "the learner on the page", 30_000);
    expect(node.managed).to.equal(true);
    await caughtUp(added.id);
    // Its output reaches the launcher through a pipe (and pino's transport thread): waited for.
    const joins = new RegExp(`\\[${added.id}\\] .*joins the cluster`);
    await waitFor(async () => (joins.test(launcher!.log) ? true : undefined),
      `${added.id}'s "joins the cluster" in the launcher's output`, 30_000);
  });

  it("promotes the learner, then kills, restarts, pauses and resumes it", async () => {
    const promoted = await actUntilSettled({ action: "member-promote", node: added.id });
    expect(promoted.status, JSON.stringify(promoted.body)).to.equal(200);
    expect((await members()).members.find((each) => each.id === added.id)?.role)
      .to.equal("voter");
    const killed = await act({ action: "kill", node: added.id });
    expect(killed.body.message).to.equal(`killed ${added.id} with SIGKILL`);
    expect(liveLockHolder(added.dataDir)).to.equal(null);
    await waitFor(async () => (await frame()).find((each) => each.id === added.id)?.process ===
      "down" ? true : undefined, "the node down on the page");
    const restarted = await act({ action: "restart", node: added.id });
    expect(restarted.body.message).to.match(new RegExp(`^started ${added.id} \\(pid \\d+\\)$`));
    await waitFor(async () => {
      const node = (await frame()).find((each) => each.id === added.id);
      return node?.process === "running" && node.status !== null ? true : undefined;
    }, "the restarted node to answer", 30_000);
    expect((await act({ action: "pause", node: added.id })).body.message)
      .to.equal(`paused ${added.id} with SIGSTOP`);
    expect((await act({ action: "resume", node: added.id })).body.message)
      .to.equal(`resumed ${added.id} with SIGCONT`);
  });

  it("refuses process actions on a member it did not start (409)", async () => {
    // A learner added through the admin API alone, with no process: the watcher learns it
    // from the leader, but the launcher has nothing to signal.
    const leader = leaderOf(await frame())!;
    const [peerPort, clientPort] = [await freePort(), await freePort()];
    const byHand = await request(`${launcher!.urlOf(leader.id)}/admin/members`, "POST",
      { id: "byhand", peerUrl: `http://127.0.0.1:${peerPort}`,
        clientUrl: `http://127.0.0.1:${clientPort}`, learner: true },
      { authorization: `Bearer ${launcher!.config.tokens.adminToken}` });
    expect(byHand.status, JSON.stringify(byHand.body)).to.equal(201);
    await waitFor(async () => (await frame()).some((each) => each.id === "byhand") ? true
      : undefined, "the watcher to learn the member");
    const node = (await frame()).find((each) => each.id === "byhand")!;
    expect(node.managed).to.equal(false);
    for (const action of ["kill", "restart", "pause", "resume"]) {
      const answer = await act({ action, node: "byhand" });
      expect(answer.status, action).to.equal(409);
      expect(answer.body.error.message).to.include("was not started by this launcher");
    }
    const removed = await actUntilSettled({ action: "member-remove", node: "byhand" });
    expect(removed.status, JSON.stringify(removed.body)).to.equal(200);
  });

  it("does not restart a removed member, and stops the added ones on Ctrl-C", async () => {
    // Add a second learner, then remove it: it fences its folder and exits 0 by itself.
    const second = await actUntilSettled({ action: "member-add" });
    expect(second.status, JSON.stringify(second.body)).to.equal(200);
    const [, id, dataDir] = /^added (n\d+) .* data (\S+)\):/.exec(second.body.message)!;
    expect(id).to.not.equal(added.id);
    await waitFor(async () => (await frame()).some((each) => each.id === id &&
      each.status !== null) ? true : undefined, "the second learner to answer", 30_000);
    const removed = await actUntilSettled({ action: "member-remove", node: id! });
    expect(removed.status, JSON.stringify(removed.body)).to.equal(200);
    // It stops by itself once it applies its removal, or the launcher stops it after a grace
    // period (it may never learn of it); either way it is down, with its folder fenced.
    await waitFor(async () => liveLockHolder(dataDir!) === null &&
      readIdentity(dataDir!)?.fence != null ? true : undefined,
    "the removed member to stop, fenced", 30_000);
    const again = await act({ action: "restart", node: id });
    expect(again.status).to.equal(409);
    expect(again.body.error.message).to.include("fenced");
    // Nor does npm run fault's restart: the removed member is no member it knows of (and the
    // launcher's control socket would refuse its fenced folder, as the page's restart does).
    const faultRestart = await runTsScript(faultScript,
      ["--config", launcher!.configPath, "restart", id!]);
    expect(faultRestart.code, faultRestart.stdout + faultRestart.stderr).to.not.equal(0);
    expect(faultRestart.stdout + faultRestart.stderr).to.match(/unknown node|fenced/);
    expect(liveLockHolder(dataDir!)).to.equal(null);
    expect(launcher!.exitCode).to.equal(null);
    // Ctrl-C: the launcher stops every node, the added one included, then exits 0.
    const pid = liveLockHolder(added.dataDir);
    expect(pid).to.not.equal(null);
    await launcher!.terminate();
    expect(launcher!.exitCode).to.equal(0);
    expect(liveLockHolder(added.dataDir)).to.equal(null);
  });

  it("starts the node it added again when it is started again on the same data", async () => {
    // The test above stopped the launcher as Ctrl-C does; the removed learner is forgotten.
    expect(launcher!.exitCode).to.equal(0);
    const record = JSON.parse(readFileSync(path.join(launcher!.root, "data",
      "launcher-nodes.json"), "utf8")) as { nodes: { id: string }[] };
    expect(record.nodes.map((node) => node.id)).to.deep.equal([added.id]);
    launcher = await launcher!.again(launcherArgs);
    await watch();
    expect(launcher.log).to.match(new RegExp(`\\[cluster\\] starting ${added.id}, a node ` +
      "added earlier from the page"));
    // The promoted voter is a member again, run by this launcher, and catches up.
    const member = await waitFor(async () => (await members()).members.find((each) =>
      each.id === added.id), `${added.id} among the members`, 30_000);
    expect(member.role).to.equal("voter");
    const node = await waitFor(async () => (await frame()).find((each) =>
      each.id === added.id && each.status !== null), `${added.id} on the page`, 30_000);
    expect(node.managed).to.equal(true);
    expect(node.process).to.equal("running");
    expect(node.pid).to.equal(liveLockHolder(added.dataDir));
    await caughtUp(added.id);
    // Its output reaches the launcher through a pipe (and pino's transport thread): waited for.
    await waitFor(async () => (new RegExp(`\\[${added.id}\\] `).test(launcher!.log) ? true
      : undefined), `${added.id}'s output in the launcher's`, 30_000);
  });

  it("reports an added node whose port is taken as its exit, and runs on", async () => {
    await launcher!.terminate();
    expect(launcher!.exitCode).to.equal(0);
    // Another process now listens on the added node's client port.
    const squatter: Server = createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(Number(new URL(added.url).port), "127.0.0.1", resolve);
    });
    try {
      launcher = await launcher!.again(launcherArgs);
      await waitFor(async () => new RegExp(`\\[cluster\\] ${added.id} exited \\(code \\d+\\)`)
        .test(launcher!.log) ? true : undefined, `${added.id}'s exit`, 30_000);
      // The node's own last lines come through its pipe, and may follow the launcher's line.
      const portTaken = new RegExp(`\\[${added.id}\\] .*port is already in use`);
      await waitFor(async () => (portTaken.test(launcher!.log) ? true : undefined),
        `${added.id}'s "port is already in use"`, 30_000);
      expect(launcher.log).to.not.match(/^\s+at /m);
      expect(launcher.exitCode).to.equal(null);
      const node = await waitFor(async () => (await frame()).find((each) =>
        each.id === added.id), `${added.id} on the page`, 30_000);
      expect(node.managed).to.equal(true);
      expect(node.process).to.equal("down");
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
