/**
 * `npm run bench -- dashboard`: what watching the cluster costs it. One 3-node cluster, one
 * load (N closed-loop clients buying, spread over the nodes), measured in rotating phases with
 * the live view closed, with only its frame stream read (GET /ui/stream by a plain HTTP client:
 * the dashboard server reads every node five times a second and sends frames, no browser draws
 * them) and open in headless chromium (closed, stream, open; then stream, open, closed; then
 * open, closed, stream; ...), after a warm-up phase that is not counted. The stream phases
 * split the cost of watching between the server side and the browser. Rotating on one cluster
 * is what makes the comparison fair on this machine: separate clusters differ by 10-30% from
 * run to run (which node leads, how warm the JIT is, how full the market is), far more than
 * the effect measured.
 *
 * `--paired N` measures the page alone more finely: one browser stays up for the whole run, and
 * its tab moves between a blank page ("closed") and the live view ("open"), N pairs of short
 * phases back to back (closed then open, then open then closed, ...; an even N puts as many
 * pairs each way), each counted from 2 s after the move (after the view's first frame, when
 * it is the view). The warm-up shows the view, so that no counted phase is its first load.
 * Each pair gives a ratio open/closed taken seconds apart, so the machine's drift, which moves
 * whole 10 s phases by 10-30%, falls on both of its sides; at the end it prints the median and
 * quartiles of the pairs' ratios, and the medians of the phases (--rounds is not used). A
 * blank tab costs chromium about nothing (chromium's CPU is printed for the closed phases
 * too), so this measures the page, not the browser's start-up.
 *
 * `--paused` (with --paired) makes each pair a triple: closed, open, and open but paused (the
 * page's own pause: the view holds still and only its header follows the stream, at every
 * frame), in all six orders in turn (N a multiple of 6 balances them). The paused page
 * receives and parses every frame and changes on screen as often as the live one, but draws
 * next to nothing: it is the floor of what any page watching the stream costs on this machine,
 * measured in the same run as the live view. It prints the median and quartiles of open/closed
 * and of paused/closed over the triples.
 *
 * The clients run in a process of their own (bench-load-process.ts). This process serves the
 * live view, as the launcher does under `npm run cluster`, and drives chromium; clients on its
 * event loop would wait behind that work, which the cluster does not cause. (So this
 * measures outside clients. The page's built-in workload runs in the launcher's process, and
 * its clients do wait behind the frames built there.)
 *
 * `--frame-ms` sets the view's frame interval (200 ms, five a second, by default), as the
 * launcher's --dashboard-frame-ms does: what a slower view would cost.
 *
 * For each phase it prints purchases/s, p99, and the CPU of the nodes, of the clients'
 * process, of this process (the live view's server, playwright's driver and, in the stream
 * phases, the stream reader) and of chromium (all its processes, listed at each phase; a new
 * browser is measured from 5 s after the page showed its first frame: chromium's own start-up
 * goes on for seconds and is not what watching costs); for the open and paused phases, also how
 * fresh the page was (the age of the frame it showed, read once a second) and how often it
 * rendered, and its body (the page's own counts). It prints a node that exits, with its last
 * output lines. At the end (without --paired): the median purchases/s of each kind of phase,
 * and the ratios to the closed phases'.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { Command } from "commander";
import type { Browser, Page } from "playwright-core";
import { describeNodeExit, LocalCluster } from "../src/cluster/local-cluster.js";
import {
  createStockedItem,
  nonNegativeInteger,
  positiveInteger,
  prefillOrders,
} from "./bench-cluster.js";
import { clusterWatcherDefaults } from "../src/dashboard/cluster-watcher.js";
import { parseFrameMs } from "../src/launcher/launcher-options.js";
import { LoadProcess } from "./bench-load-process.js";
import { median, percentile } from "./bench-stats.js";

/** The processes under ours that run a chromium binary (the browser's, every type). */
function browserProcesses(): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = statFields(Number(entry))?.[1];
    if (parent === undefined) continue;
    children.set(Number(parent), [...children.get(Number(parent)) ?? [], Number(entry)]);
  }
  const found: number[] = [];
  const stack = [...children.get(process.pid) ?? []];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    stack.push(...children.get(pid) ?? []);
    try {
      if (/chrom/.test(path.basename(readlinkSync(`/proc/${pid}/exe`)))) found.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The fields of /proc/PID/stat after the command name (state, ppid, ...), or null. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/**
 * The CPU the browser used since `before` (ticksByPid's), over its processes now: one started
 * meanwhile counts from 0, one gone meanwhile is not counted (never a negative share).
 */
function browserTicksSince(before: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ticks] of ticksByPid(browserProcesses())) total += ticks - (before.get(pid) ?? 0);
  return total;
}

function ticksByPid(pids: readonly number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuTicks([pid])]));
}

/** CPU time (user + system) of the processes, in clock ticks (100 per second here). */
function cpuTicks(pids: readonly number[]): number {
  return pids.reduce((total, pid) => {
    const fields = statFields(pid);
    return fields === null ? total : total + Number(fields[11]) + Number(fields[12]);
  }, 0);
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

interface OpenPage { browser: Browser; page: Page }

/** A node of the measured cluster exited: the run cannot go on. */
class NodeLostError extends Error {}

/**
 * Chromium goes on starting up (its own pages, components) for seconds after the page shows its
 * first frame, at up to a core: a phase measures the page once that is over.
 */
const browserSettleMs = 5000;

/**
 * In --paired mode the browser stays up and its one tab moves between the live view and a blank
 * page; after each move it waits this long before the phase counts (the page's own start: its
 * script, the first frames, the charts' set-up).
 */
const navigationSettleMs = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Opens `url` (the page, or about:blank) in a new browser, then waits for it to settle. */
async function openLiveView(url: string): Promise<OpenPage> {
  const { openPage } = await import("./dashboard-browser.js");
  const { browser, page } = await openPage(url);
  try {
    if (url !== "about:blank") await waitForFirstFrame(page);
    await sleep(browserSettleMs);
  } catch (error) {
    await browser.close().catch(() => undefined);
    throw error;
  }
  return { browser, page };
}

function waitForFirstFrame(page: Page): Promise<void> {
  return page.locator("[data-testid=frame-time]").waitFor({ timeout: 30_000 });
}

/**
 * Page freshness while a phase runs, sampled once a second inside the page: the age of the frame
 * shown, and how many times the page rendered (the page counts its renders). The sampler is a
 * timer in the page, read once when the phase ends: asking playwright once a second instead
 * (a locator's evaluate: several protocol round trips and playwright's injected script) cost
 * chromium about 1.2 points of a core and this process about 0.7 more, under 16 clients
 * (.scratch measurement, three 12 s windows each), which is a cost of the benchmark, not of
 * watching. The sampler is source text: a function passed to page.evaluate would carry the
 * helpers tsx wraps named functions in, which the page does not have.
 */
const installSamplerScript = `(() => {
  const seen = [];
  const sample = () => {
    const element = document.querySelector("[data-testid=frame-time]");
    if (element === null) return;
    seen.push([Date.now() - Number(element.getAttribute("data-time-ms")), performance.now(),
      Number(element.getAttribute("data-renders")),
      Number(document.querySelector("[data-testid=body]")?.getAttribute("data-renders"))]);
  };
  sample();
  window.benchSampler = { timer: setInterval(sample, 1000), seen };
})()`;
const collectSamplerScript = `(() => {
  if (window.benchSampler === undefined) return [];
  clearInterval(window.benchSampler.timer);
  return window.benchSampler.seen;
})()`;

async function watchPage(page: Page):
  Promise<{ finish: () => Promise<{ agesMs: number[]; rendersPerSecond: number;
    bodyRendersPerSecond: number }> }> {
  const installed = await page.evaluate(installSamplerScript).then(() => true, (error: Error) => {
    console.error(`page sampler: ${error.message}`);
    return false;
  });
  return {
    finish: async () => {
      const seen = !installed ? [] : await page.evaluate(collectSamplerScript)
        .then((rows) => rows as number[][], (error: Error) => {
          console.error(`page sampler: ${error.message}`);
          return [];
        });
      const first = seen[0];
      const last = seen.at(-1);
      const perSecond = (column: number): number => first === undefined || last === undefined ||
        last[1] === first[1] ? NaN : (last[column]! - first[column]!) / (last[1]! - first[1]!) *
        1000;
      return { agesMs: seen.map((row) => row[0]!), rendersPerSecond: perSecond(2),
        bodyRendersPerSecond: perSecond(3) };
    },
  };
}

/**
 * Reads the dashboard's frame stream (server-sent events) as a page would, without drawing it;
 * stop() ends it and returns the frames read.
 */
function readFrameStream(url: string): { stop(): number } {
  let frames = 0;
  // The last character of the previous chunk: an event's blank line may span two chunks.
  let previous = "";
  const request = http.get(url, (response) => {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      const text = previous + chunk;
      for (let at = text.indexOf("\n\n"); at >= 0; at = text.indexOf("\n\n", at + 2)) frames++;
      previous = chunk.endsWith("\n") && !text.endsWith("\n\n") ? "\n" : "";
    });
    response.on("error", () => undefined);
  });
  request.on("error", (error) => console.error(`frame stream: ${error.message}`));
  return {
    stop: () => {
      request.destroy();
      return frames;
    },
  };
}

export async function runDashboardBench(args: string[]): Promise<void> {
  const options = new Command("bench dashboard")
    .description("Purchases/s with the live view closed, with only its frame stream read, and " +
      "open in headless chromium, in rotating phases on one 3-node cluster (what watching " +
      "costs the cluster, and which side it costs).")
    .option("--clients <count>", "closed-loop clients buying", positiveInteger("--clients"), 64)
    .option("--duration <seconds>", "seconds per phase", positiveInteger("--duration"), 10)
    .option("--rounds <count>", "rounds of three phases (closed, stream only, open)",
      positiveInteger("--rounds"), 4)
    .option("--prefill <orders>", "orders to load before the warm-up, as fast as the API " +
      "allows (a market that fills during the run slows as it fills: README)",
    nonNegativeInteger("--prefill"), 0)
    .option("--paused", "with --paired: triples of the page closed, open, and open but paused " +
      "(the floor: the page follows the stream in its header only), in all six orders in turn " +
      "(a multiple of 6 balances them)")
    .option("--paired <pairs>", "instead of the rounds: this many pairs of a closed and an open " +
      "phase back to back (in alternating order), one browser kept running whose tab moves " +
      "between the live view and a blank page; prints the ratio of each pair and their median " +
      "(short phases, e.g. --duration 4, put the machine's drift on both sides of a pair)",
    nonNegativeInteger("--paired"), 0)
    .option("--frame-ms <ms>", "milliseconds between the live view's frames, 100-5000, as " +
      "`npm run cluster -- --dashboard-frame-ms` takes them (what a slower view costs)",
    parseFrameMs, clusterWatcherDefaults.intervalMs)
    .showHelpAfterError()
    .parse(args, { from: "user" })
    .opts<{ clients: number; duration: number; rounds: number; prefill: number;
      paired: number; paused?: boolean; frameMs: number }>();
  if (options.paused === true && options.paired === 0) {
    console.error("--paused needs --paired N");
    process.exitCode = 1;
    return;
  }
  const { chromiumPath, serveLocalDashboard } = await import("./dashboard-browser.js");
  if (chromiumPath() === null) {
    console.error("chromium is not installed: apt-get install -y chromium (or set CHROMIUM_PATH)");
    process.exitCode = 1;
    return;
  }
  console.log(`the live view: a frame every ${options.frameMs} ms ` +
    `(${(1000 / options.frameMs).toFixed(1)} a second)`);
  console.log("starting a 3-node cluster ...");
  const cluster = await LocalCluster.start({});
  let open: OpenPage | null = null;
  let closeDashboard = async (): Promise<void> => undefined;
  let load: LoadProcess | null = null;
  let exitsReported = 0;
  /** Prints the node exits not reported yet; returns whether there were any. */
  const reportExits = (): boolean => {
    const exits = cluster.exits().slice(exitsReported);
    for (const exit of exits) console.log(describeNodeExit(exit));
    exitsReported += exits.length;
    return exits.length > 0;
  };
  // Once, from the finally below or from Ctrl-C: the browser, the dashboard, the clients, the
  // cluster and its folder.
  let cleanup: Promise<void> | null = null;
  const stopAll = (): Promise<void> => cleanup ??= (async () => {
    // `open` is set inside runPhase; a failed phase may leave the browser running.
    await (open as OpenPage | null)?.browser.close().catch(() => undefined);
    await closeDashboard();
    reportExits();
    await (load as LoadProcess | null)?.stop();
    await cluster.stop();
  })();
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping the browser, the clients and the cluster ...`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const clients = LoadProcess.start(cluster.configPath);
    load = clients;
    await cluster.waitForLeader();
    await createStockedItem(cluster, "dashboard-widget");
    try {
      await prefillOrders(cluster, options.prefill, ["dashboard-widget"]);
    } finally {
      // A node lost during the prefill is in the prefill's own error: not printed again.
      exitsReported = cluster.exits().length;
    }
    const dashboard = await serveLocalDashboard(cluster, options.frameMs);
    closeDashboard = () => dashboard.close();
    const url = `${dashboard.url}/ui/`;
    const rates = { closed: [] as number[], stream: [] as number[], open: [] as number[],
      paused: [] as number[] };
    const paired = options.paired > 0;
    // --paired: one browser for the whole run, on a blank page when the view is closed.
    if (paired) open = await openLiveView("about:blank");
    let phase = 0;
    const runPhase = async (page: "warm-up" | keyof typeof rates): Promise<number> => {
      // The view is loaded during the warm-up too, so that the first open phase is not its
      // first load (a cold cache, the script compiled).
      const showView = page === "open" || page === "paused" || page === "warm-up";
      if (paired) {
        await open!.page.goto(showView ? url : "about:blank");
        if (showView) await waitForFirstFrame(open!.page);
        if (page === "paused") {
          await open!.page.click("[data-testid=pause]");
          await open!.page.locator("[data-testid=paused]").waitFor({ timeout: 10_000 });
        }
        await sleep(navigationSettleMs);
      } else if (page === "open") {
        open = await openLiveView(url);
      }
      const stream = page === "stream" ? readFrameStream(`${url}stream`) : null;
      const nodePids = cluster.nodes.map((node) => node.process?.pid ?? 0);
      const nodesBefore = cpuTicks(nodePids);
      // Listed again at each phase: a navigation may start a renderer of its own.
      const browserBefore = open === null ? new Map<number, number>()
        : ticksByPid(browserProcesses());
      const selfBefore = process.cpuUsage();
      const clientsBefore = cpuTicks([clients.pid ?? 0]);
      const watch = open === null || (page !== "open" && page !== "paused") ? null
        : await watchPage(open.page);
      phase++;
      const result = await clients.run({ clients: options.clients, seconds: options.duration,
        nodeUrls: cluster.nodes.map((node) => node.url), sku: "dashboard-widget",
        requestIdPrefix: `dashboard-${phase}`, timeoutMs: 5000 });
      const perSecond = result.okCount / result.seconds;
      const share = (ticks: number): string => `${(ticks / result.seconds).toFixed(1)}%`;
      const sorted = [...result.latenciesMs].sort((a, b) => a - b);
      const parts = [`${page.padEnd(7)} ${perSecond.toFixed(0).padStart(6)} purchases/s`,
        `p99 ${percentile(sorted, 0.99).toFixed(1)} ms`, `errors ${result.errorCount}`,
        `nodes ${share(cpuTicks(nodePids) - nodesBefore)} of a core`,
        `clients ${share(cpuTicks([clients.pid ?? 0]) - clientsBefore)}`,
        `this process ${share(cpuMicros(process.cpuUsage(selfBefore)) / 10_000)}`];
      if (open !== null) parts.push(`chromium ${share(browserTicksSince(browserBefore))}`);
      if (watch !== null) {
        const seen = await watch.finish();
        const ages = seen.agesMs.sort((a, b) => a - b);
        parts.push(`page renders ${seen.rendersPerSecond.toFixed(1)}/s (its body ` +
          `${seen.bodyRendersPerSecond.toFixed(1)}/s)`,
          `frame age median ${median(ages).toFixed(0)} ms, max ${(ages.at(-1) ?? NaN)
            .toFixed(0)} ms`);
      }
      if (!paired && open !== null) {
        await open.browser.close();
        open = null;
      }
      if (stream !== null) {
        parts.push(`frames read ${(stream.stop() / result.seconds).toFixed(1)}/s`);
      }
      console.log(parts.join(", "));
      // A node lost mid-run makes every later phase measure a smaller cluster: say which, and
      // why, and stop.
      if (reportExits()) {
        throw new NodeLostError("a node exited during the run (above); the phases after it " +
          "would measure a smaller cluster, so the run stops here without a summary");
      }
      if (page !== "warm-up") rates[page].push(perSecond);
      return perSecond;
    };
    if (paired && options.paused === true) {
      console.log(`${options.clients} clients, ${options.duration} s phases (each after ` +
        `${navigationSettleMs / 1000} s for the tab to settle): a warm-up, then ` +
        `${options.paired} triples of the page closed (a blank tab), open, and open but paused, ` +
        "in all six orders in turn");
    } else if (paired) {
      console.log(`${options.clients} clients, ${options.duration} s phases (each after ` +
        `${navigationSettleMs / 1000} s for the tab to settle): a warm-up, then ` +
        `${options.paired} pairs of the page closed (a blank tab) and open, in alternating order`);
    } else {
      console.log(`${options.clients} clients, ${options.duration} s phases: a warm-up, then ` +
        `${options.rounds} rounds of the page closed, its stream only and the page open, rotating`);
    }
    const kinds = ["closed", "stream", "open"] as const;
    const pairRatios: number[] = [];
    const pausedRatios: number[] = [];
    // All six orders in turn: each kind comes first, second and third, and after each other
    // kind, equally often in every six triples (so a drift within the run, such as a market
    // slowing as it fills, favours no kind).
    const tripleOrders = [["closed", "open", "paused"], ["paused", "open", "closed"],
      ["open", "paused", "closed"], ["closed", "paused", "open"], ["paused", "closed", "open"],
      ["open", "closed", "paused"]] as const;
    try {
      await runPhase("warm-up");
      for (let triple = 0; options.paused === true && triple < options.paired; triple++) {
        const rateOf = new Map<string, number>();
        for (const kind of tripleOrders[triple % tripleOrders.length]!) {
          rateOf.set(kind, await runPhase(kind));
        }
        const closedRate = rateOf.get("closed")!;
        pairRatios.push(rateOf.get("open")! / closedRate);
        pausedRatios.push(rateOf.get("paused")! / closedRate);
        console.log(`  triple ${triple + 1}/${options.paired}: open/closed ` +
          `${pairRatios.at(-1)!.toFixed(3)}, paused/closed ${pausedRatios.at(-1)!.toFixed(3)}`);
      }
      for (let pair = 0; options.paused !== true && pair < options.paired; pair++) {
        const first = pair % 2 === 0 ? "closed" : "open";
        const firstRate = await runPhase(first);
        const secondRate = await runPhase(first === "closed" ? "open" : "closed");
        const ratio = first === "closed" ? secondRate / firstRate : firstRate / secondRate;
        pairRatios.push(ratio);
        console.log(`  pair ${pair + 1}/${options.paired}: open/closed ${ratio.toFixed(3)}`);
      }
      for (let round = 0; !paired && round < options.rounds; round++) {
        for (let k = 0; k < kinds.length; k++) await runPhase(kinds[(round + k) % kinds.length]!);
      }
    } catch (error) {
      if (!(error instanceof NodeLostError)) throw error;
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    const closed = median(rates.closed);
    const streamed = median(rates.stream);
    const opened = median(rates.open);
    const less = (rate: number) => `${(rate / closed).toFixed(3)}x (` +
      `${(Math.abs(1 - rate / closed) * 100).toFixed(1)}% ${rate > closed ? "more" : "less"})`;
    if (paired && options.paused === true) {
      const spread = (ratios: number[]): string => {
        const sorted = [...ratios].sort((a, b) => a - b);
        return `median of the triples ${median(sorted).toFixed(3)}x (quartiles ` +
          `${percentile(sorted, 0.25).toFixed(3)}-${percentile(sorted, 0.75).toFixed(3)})`;
      };
      console.log(`\npurchases/s at ${options.clients} clients, ${options.paired} triples: page ` +
        `open/closed, ${spread(pairRatios)}; paused/closed (the floor), ` +
        `${spread(pausedRatios)}; medians of the phases: closed ${closed.toFixed(0)}, open ` +
        `${opened.toFixed(0)}: ${less(opened)}, paused ${median(rates.paused).toFixed(0)}: ` +
        `${less(median(rates.paused))}; target with the page open: at most 5% less`);
      return;
    }
    if (paired) {
      const sorted = [...pairRatios].sort((a, b) => a - b);
      console.log(`\npurchases/s at ${options.clients} clients, ${options.paired} pairs: page ` +
        `open/closed, median of the pairs ${median(sorted).toFixed(3)}x (quartiles ` +
        `${percentile(sorted, 0.25).toFixed(3)}-${percentile(sorted, 0.75).toFixed(3)}); medians ` +
        `of the phases: closed ${closed.toFixed(0)}, open ${opened.toFixed(0)}: ` +
        `${less(opened)}; target with the page open: at most 5% less`);
      return;
    }
    console.log(`\npurchases/s at ${options.clients} clients, median of ${options.rounds} ` +
      `phases each: page closed ${closed.toFixed(0)}; stream only ${streamed.toFixed(0)}: ` +
      `${less(streamed)}; page open ${opened.toFixed(0)}: ${less(opened)}; ` +
      "target with the page open: at most 5% less");
  } finally {
    await stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
