/**
 * The launcher's dashboard over a real 3-process cluster, without a browser. Goal: bad input
 * to its endpoints is answered in the API's error shape and never a 5xx (a body that is not
 * JSON is 415, which also keeps other sites' forms from posting actions; a bad field is 400
 * naming it; an unknown path is 404); the market routes it relays answer as a node does; the
 * built-in workload buys and stops, and a leadership transfer is carried out, each on the
 * timeline. Method: LocalCluster (stopped in the after hook) with serveLocalDashboard, fetch.
 */
import { expect } from "chai";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import type { LauncherDashboard } from "../../src/dashboard/launcher-dashboard.js";
import { serveLocalDashboard } from "../../scripts/dashboard-browser.js";
import { request } from "../api/helpers.js";
import { waitFor } from "../cluster/helpers.js";

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
