/**
 * The live view in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) on the dashboard of `npm run cluster` with 3 nodes. Goal, as issue 14 puts
 * it: the page shows 3 nodes and exactly one leader; killing the leader with its button shows
 * a new leader, a higher term and the election on the timeline within 3 s; isolating a follower
 * shows it cut off and lagging, and healing shows it catch up; buying through the page shows
 * the order and its Raft index, in every node's log; "add learner" starts a fourth node that the
 * page shows running, answering, with its process buttons. Method: one launcher (a child process on
 * free loopback ports, stopped in the after hook with any node it left) and one page for the
 * five tests, every wait a condition with a bound (written as strings of page code: the test
 * is typechecked without the DOM, and tsx would wrap a function in helpers the page lacks);
 * each test saves a screenshot to
 * test-output/dashboard/. Without chromium the suite is skipped with one line saying how to
 * install it.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { chromium, type Browser, type Page } from "playwright-core";
import { LauncherProcess } from "./launcher-process.js";

const chromiumPaths = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
const chromiumPath = chromiumPaths.find((candidate) => candidate !== undefined &&
  candidate !== "" && existsSync(candidate));
const screenshotDir = path.resolve("test-output", "dashboard");

describe("the live view in a browser (3-node npm run cluster)", function () {
  this.timeout(60_000);
  let launcher: LauncherProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async function () {
    if (chromiumPath === undefined) {
      console.log("    skipped: chromium is not installed (apt-get install chromium, or set " +
        "CHROMIUM_PATH)");
      this.skip();
    }
    mkdirSync(screenshotDir, { recursive: true });
    launcher = await LauncherProcess.start();
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
      args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    await page.goto(`${launcher.dashboardUrl}/`);
  });

  // Each step on its own: a browser that fails to close must not leave the launcher running.
  after(async () => {
    await browser?.close().catch(() => undefined);
    await launcher?.stop();
  });

  async function screenshot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
  }

  /** The page's nodes table: id, role and term of each row. */
  function rows(): Promise<{ id: string; role: string; term: number; state: string }[]> {
    return page.$$eval("tr[data-node]", (elements) => elements.map((element) => ({
      id: element.getAttribute("data-node") ?? "",
      role: element.getAttribute("data-role") ?? "",
      term: Number(element.getAttribute("data-term") || "0"),
      state: element.getAttribute("data-state") ?? "",
    })));
  }

  async function oneLeader(timeoutMs = 20_000): Promise<{ id: string; term: number }> {
    await page.waitForFunction('document.querySelectorAll("tr[data-node]").length === 3 && ' +
      'document.querySelectorAll("tr[data-node][data-role=leader]").length === 1', undefined,
    { timeout: timeoutMs });
    const leader = (await rows()).find((row) => row.role === "leader")!;
    return { id: leader.id, term: leader.term };
  }

  it("shows 3 nodes and exactly one leader", async () => {
    await oneLeader();
    // The other two settle as followers a moment after the first leader shows: one CI run
    // read a row that was not yet a follower there (not seen in 2 local runs since).
    await page.waitForFunction(
      'document.querySelectorAll("tr[data-node][data-role=follower]").length === 2', undefined,
      { timeout: 20_000 });
    const shown = await rows();
    expect(shown.map((row) => row.id)).to.deep.equal(["n1", "n2", "n3"]);
    expect(shown.filter((row) => row.role === "leader")).to.have.length(1);
    expect(shown.filter((row) => row.role === "follower")).to.have.length(2);
    await page.waitForSelector("[data-testid=connection]:has-text('live')");
    await screenshot("1-three-nodes");
  });

  it("kill the leader with its button: a new leader, a higher term and the election on " +
    "the timeline within 3 s", async () => {
    const old = await oneLeader();
    const clickedMs = Date.now();
    await page.click(`button[data-action=kill][data-node=${old.id}]`);
    const leader = 'document.querySelector("tr[data-node][data-role=leader]")';
    await page.waitForFunction(`${leader} !== null && ` +
      `${leader}.getAttribute("data-node") !== "${old.id}" && ` +
      `Number(${leader}.getAttribute("data-term")) > ${old.term} && ` +
      '[...document.querySelectorAll("li[data-kind=leaderElected]")].some((item) => ' +
      `Number(item.querySelector(".term")?.textContent ?? "0") > ${old.term}) && ` +
      `document.querySelector("tr[data-node=${old.id}]")?.getAttribute("data-process") === ` +
      '"down"', undefined, { timeout: 3000 });
    const shownMs = Date.now() - clickedMs;
    await screenshot("2-leader-killed");
    expect(shownMs).to.be.below(3000);
    // The down node's link rules cannot be read: the network view says so, and does not show
    // its links as "ok".
    await page.waitForSelector(`[data-testid=rules-unknown]:has-text("${old.id}")`,
      { timeout: 5000 });
    expect(await page.textContent(`button[data-action=cut][data-from=${old.id}]`)).to.equal("?");
    // Bring it back for the next tests.
    await page.click(`button[data-action=restart][data-node=${old.id}]`);
    await page.waitForFunction(`document.querySelector("tr[data-node=${old.id}]")` +
      '?.getAttribute("data-role") === "follower" && ' +
      'document.querySelector("[data-testid=rules-unknown]") === null', undefined,
    { timeout: 20_000 });
  });

  it("isolate a follower: cut off and lagging; heal: it catches up", async () => {
    const leader = await oneLeader();
    const follower = (await rows()).find((row) => row.role === "follower")!.id;
    await page.click(`button[data-action=isolate][data-node=${follower}]`);
    await page.waitForSelector(`tr[data-node=${follower}][data-cut=true]`, { timeout: 5000 });
    // Writes the isolated follower cannot get.
    for (let k = 0; k < 5; k++) {
      const answer = await fetch(`${launcher!.urlOf(leader.id)}/v1/orders`, { method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ requestId: `browser-isolate-${k}`,
          lines: [{ sku: "apple-1kg", qty: 1 }] }) });
      expect(answer.status).to.equal(201);
    }
    await page.waitForSelector(`tr[data-follower=${follower}][data-lagging=true]`,
      { timeout: 5000 });
    await screenshot("3-follower-isolated");
    await page.click("button[data-action=heal]");
    await page.waitForSelector(`tr[data-node=${follower}][data-cut=false]`, { timeout: 5000 });
    const lastIndexCell = (id: string): string =>
      `document.querySelector("tr[data-node=${id}]")?.children[8]?.textContent?.trim()`;
    await page.waitForFunction(`document.querySelector("tr[data-follower=${follower}]")` +
      `?.getAttribute("data-lagging") === "false" && ${lastIndexCell(follower)} === ` +
      `${lastIndexCell(leader.id)}`, undefined, { timeout: 10_000 });
    await screenshot("4-follower-caught-up");
  });

  it("buy through the page: the order and its Raft index appear, in every log", async () => {
    await page.fill("#search", "apple");
    await page.click("[data-testid=search]");
    await page.click("button[data-buy=apple-1kg]", { timeout: 10_000 });
    const order = await page.waitForSelector("[data-testid=order]", { timeout: 10_000 });
    const index = Number(await order.getAttribute("data-index"));
    expect(await order.getAttribute("data-order-id")).to.match(/^o-\d+$/);
    expect(index).to.be.above(0);
    expect(await order.textContent()).to.include(`Raft index ${index}`);
    // Every node's log holds the entry, committed.
    await page.waitForFunction('[...document.querySelectorAll("li[data-log]")].filter((item) => ' +
      `Number(item.dataset.commit) >= ${index} && ` +
      `item.dataset.entries.split(" ").some((entry) => entry.startsWith("${index}:"))).length ` +
      "=== 3", undefined, { timeout: 10_000 });
    await screenshot("5-order-bought");
  });

  it("pause the view: it holds still while the stream goes on; resume, or act: the latest",
    async () => {
      const leader = await oneLeader();
      const commitShown = async (): Promise<number> => Number(await page.evaluate(
        `document.querySelector("tr[data-node=${leader.id}]")?.children[6]?.textContent?.trim()`));
      const bodyRenders = async (): Promise<number> =>
        Number(await page.getAttribute("[data-testid=body]", "data-renders"));
      await page.click("[data-testid=pause]");
      try {
        const paused = await page.waitForSelector("[data-testid=paused]", { timeout: 5000 });
        const pausedAtMs = Number(await paused.getAttribute("data-time-ms"));
        const commitBefore = await commitShown();
        const rendersBefore = await bodyRenders();
        // A write the paused view must not show.
        const answer = await fetch(`${launcher!.urlOf(leader.id)}/v1/orders`, { method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ requestId: "browser-pause-1",
            lines: [{ sku: "apple-1kg", qty: 1 }] }) });
        expect(answer.status).to.equal(201);
        // The header follows the stream: frames a second after the write came in (a live view
        // shows the write's commit by then).
        const writtenMs = Date.now();
        await page.waitForFunction('Number(document.querySelector("[data-testid=frame-time]")' +
          `?.getAttribute("data-time-ms")) > ${writtenMs + 1000}`, undefined, { timeout: 10_000 });
        expect(await commitShown()).to.equal(commitBefore);
        expect(await bodyRenders()).to.equal(rendersBefore);
        expect(Number(await page.getAttribute("[data-testid=paused]", "data-time-ms")))
          .to.equal(pausedAtMs);
        expect(await page.textContent("[data-testid=pause]")).to.include("resume");
        await page.click("[data-testid=pause]");
        await page.waitForFunction(`Number(document.querySelector("tr[data-node=${leader.id}]")` +
          `?.children[6]?.textContent?.trim()) > ${commitBefore}`, undefined, { timeout: 5000 });
        expect(await page.$("[data-testid=paused]")).to.equal(null);
        expect(await page.textContent("[data-testid=pause]")).to.include("pause view");
        // An action resumes a paused view, for its effect to be seen.
        await page.click("[data-testid=pause]");
        await page.waitForSelector("[data-testid=paused]", { timeout: 5000 });
        await page.click("button[data-action=heal]");
        await page.waitForSelector("[data-testid=paused]", { state: "detached", timeout: 5000 });
      } finally {
        // Live again for the next tests, whatever failed above.
        if (await page.$("[data-testid=paused]") !== null) await page.click("[data-testid=pause]");
      }
    });

  it("add learner: a fourth node joins, shown running with its process buttons", async () => {
    await oneLeader();
    await page.click("button[data-action=member-add]");
    const result = await page.waitForSelector("[data-testid=action-result].ok:has-text('added ')",
      { timeout: 20_000 });
    const id = /^added (n\d+) as a learner/.exec((await result.textContent()) ?? "")?.[1];
    expect(id).to.equal("n4");
    await page.waitForSelector(`tr[data-node=${id}][data-process=running]:not([data-role=""])`,
      { timeout: 20_000 });
    expect(await page.$(`button[data-action=kill][data-node=${id}]`)).to.not.equal(null);
    await screenshot("6-learner-added");
  });
});
