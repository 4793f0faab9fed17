/**
 * `npx tsx scripts/dashboard-screenshot.ts [--seconds 60] [--clients 16] [--out FILE]`: the
 * picture of the live view in the README (docs/dashboard.png). A 3-node LocalCluster with the
 * launcher's dashboard, opened in headless chromium; the page starts the built-in workload,
 * kills the leader with its button halfway through, restarts it, and at the end the failover is
 * picked on the timeline (its moment marked in the charts) and the page saved.
 */
import { Command } from "commander";
import { LocalCluster } from "../src/cluster/local-cluster.js";
import { demoRequests } from "../src/market/index.js";
import { positiveInteger } from "./bench-cluster.js";
import { openPage, serveLocalDashboard } from "./dashboard-browser.js";

const options = new Command("dashboard-screenshot")
  .option("--seconds <seconds>", "length of the workload", positiveInteger("--seconds"), 60)
  .option("--clients <count>", "workload clients", positiveInteger("--clients"), 16)
  .option("--out <file>", "the picture", "docs/dashboard.png")
  .parse()
  .opts<{ seconds: number; clients: number; out: string }>();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = await LocalCluster.start();
try {
  const leader = await cluster.waitForLeader();
  for (const request of demoRequests()) {
    const { kind: _kind, ...body } = request as { kind: string } & Record<string, unknown>;
    await fetch(`${cluster.node(leader).url}/v1/items`, { method: "POST",
      headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }
  const dashboard = await serveLocalDashboard(cluster);
  const { browser, page } = await openPage(`${dashboard.url}/ui/`, 1400, 1500);
  try {
    await page.waitForSelector("tr[data-node][data-role=leader]", { timeout: 20_000 });
    await page.fill("[data-testid=clients]", String(options.clients));
    await page.click("button[data-action=workload-start]");
    console.log(`workload: ${options.clients} clients for ${options.seconds} s`);
    await sleep(options.seconds * 500);
    const victim = await page.getAttribute("tr[data-node][data-role=leader]", "data-node");
    await page.click(`button[data-action=kill][data-node=${victim}]`);
    console.log(`killed the leader ${victim}`);
    await sleep(5000);
    await page.click(`button[data-action=restart][data-node=${victim}]`);
    await sleep(options.seconds * 500 - 5000);
    await page.fill("#search", "");
    await page.click("[data-testid=search]");
    await page.click("button[data-buy=apple-1kg]");
    await page.waitForSelector("[data-testid=order]", { timeout: 10_000 });
    await page.locator("li[data-kind=leaderElected]").first().click();
    await sleep(1200);
    await page.screenshot({ path: options.out, fullPage: true });
    console.log(`saved ${options.out}`);
    await page.click("button[data-action=workload-stop]");
  } finally {
    await browser.close();
    await dashboard.close();
  }
} finally {
  await cluster.stop();
}
