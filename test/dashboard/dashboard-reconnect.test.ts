/**
 * The live view reconnecting to a restarted server, in a real browser (headless Chromium, as
 * dashboard-browser.test.ts). A restarted dashboard server (a node's /ui after its node
 * restarts, or a launcher's) numbers its timeline from 1 again; the page used to keep only
 * events numbered above the last it had seen, so it dropped every new event, an election
 * included, until the new count passed the old one. The first frame of a connection now
 * replaces the page's series (src/dashboard/frame-merge.ts). Method: a 3-node LocalCluster, its
 * dashboard on a free loopback port with twenty "heal all" actions on its timeline (a count the
 * restarted server's re-read Raft events stay below), then the server closed and served again
 * on the same port; the page reconnects by itself, and a leadership transfer made then must
 * show its election on the timeline. Every wait is a condition with a bound; the cluster, the
 * server and the browser are always stopped.
 */
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { chromiumPath, openPage } from "../../scripts/dashboard-browser.js";
import { loadClusterConfig } from "../../src/cluster/cluster-config.js";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import {
  serveLauncherDashboard,
  type LauncherDashboard,
} from "../../src/dashboard/launcher-dashboard.js";

describe("the live view after its server restarts (browser)", function () {
  this.timeout(90_000);
  let cluster: LocalCluster | undefined;
  let dashboard: LauncherDashboard | undefined;
  let browser: Browser | undefined;

  before(function () {
    if (chromiumPath() === null) {
      console.log("    skipped: chromium is not installed (apt-get install chromium, or set " +
        "CHROMIUM_PATH)");
      this.skip();
    }
  });

  // Each step on its own: one that throws must not leave the others running.
  after(async () => {
    await browser?.close().catch(() => undefined);
    await dashboard?.close().catch(() => undefined);
    await cluster?.stop();
  });

  /** The launcher's dashboard over `cluster` on `port` (0: a free one); no process actions. */
  function serve(port: number): Promise<LauncherDashboard> {
    const none = async (): Promise<string> => "not managed here";
    return serveLauncherDashboard({ config: loadClusterConfig(cluster!.configPath),
      host: "127.0.0.1", port, processes: { states: () => new Map(), kill: none, restart: none,
        pause: none, resume: none } });
  }

  async function act(body: Record<string, unknown>): Promise<void> {
    const response = await fetch(`${dashboard!.url}/ui/actions`, { method: "POST",
      headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(response.status, await response.text()).to.equal(200);
  }

  it("shows a new election on the timeline after the server restarted", async () => {
    cluster = await LocalCluster.start({});
    await cluster.waitForLeader();
    dashboard = await serve(0);
    const port = Number(new URL(dashboard.url).port);
    let page: Page;
    ({ browser, page } = await openPage(`${dashboard.url}/ui/`));
    await page.waitForSelector("[data-testid=connection]:has-text('live')", { timeout: 20_000 });
    for (let k = 0; k < 20; k++) await act({ action: "heal" });
    await page.waitForFunction('document.querySelectorAll("ol.timeline li[data-source=action]")' +
      ".length >= 20", undefined, { timeout: 10_000 });
    const term = Number(await page.getAttribute("tr[data-node][data-role=leader]", "data-term"));

    await dashboard.close();
    dashboard = undefined;
    dashboard = await serve(port);
    const restartedMs = Date.now();
    // Reconnected: a frame from the new server on screen (EventSource retries each second).
    await page.waitForFunction('Number(document.querySelector("[data-testid=frame-time]")' +
      `?.getAttribute("data-time-ms")) > ${restartedMs}`, undefined, { timeout: 20_000 });
    // The new server knows the leader once its first reads are in (a busy machine: later
    // than its first frame).
    const deadlineMs = Date.now() + 15_000;
    while (dashboard.watcher.leader() === null) {
      expect(Date.now(), "the restarted server to see a leader").to.be.below(deadlineMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await act({ action: "transfer" });
    await page.waitForFunction('[...document.querySelectorAll("li[data-kind=leaderElected]")]' +
      `.some((item) => Number(item.querySelector(".term")?.textContent ?? "0") > ${term})`,
    undefined, { timeout: 15_000 });
  });
});
