/**
 * The live view in headless Chromium (Debian's `chromium`, driven by playwright-core), for the
 * scripts that measure or picture it: a LocalCluster with the launcher's dashboard over it
 * (its processes are the cluster's), and a page open on that dashboard.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { loadClusterConfig } from "../src/cluster/cluster-config.js";
import type { LocalCluster } from "../src/cluster/local-cluster.js";
import type { ProcessState } from "../src/dashboard/dashboard-frame.js";
import { serveLauncherDashboard, type LauncherDashboard } from "../src/dashboard/launcher-dashboard.js";

/** CHROMIUM_PATH, else Debian's chromium; null when none is installed. */
export function chromiumPath(): string | null {
  return [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"]
    .find((candidate) => candidate !== undefined && candidate !== "" && existsSync(candidate)) ??
    null;
}

/**
 * The launcher's dashboard over `cluster`, on a free loopback port, sending a frame every
 * `frameIntervalMs` (the launcher's default when not given).
 */
export function serveLocalDashboard(cluster: LocalCluster,
  frameIntervalMs?: number): Promise<LauncherDashboard> {
  const paused = new Set<string>();
  return serveLauncherDashboard({
    config: loadClusterConfig(cluster.configPath), host: "127.0.0.1", port: 0, frameIntervalMs,
    processes: {
      states: () => new Map(cluster.nodes.map((node) => {
        const process: ProcessState = node.process === null ? "down"
          : paused.has(node.id) ? "paused" : "running";
        return [node.id, { process, pid: node.process?.pid ?? null }] as const;
      })),
      kill: async (id) => {
        await cluster.kill(id);
        paused.delete(id);
        return `killed ${id} with SIGKILL`;
      },
      restart: async (id) => {
        await cluster.kill(id);
        cluster.startNode(id);
        return `restarted ${id}`;
      },
      pause: async (id) => {
        cluster.signal(id, "SIGSTOP");
        paused.add(id);
        return `paused ${id}`;
      },
      resume: async (id) => {
        cluster.signal(id, "SIGCONT");
        paused.delete(id);
        return `resumed ${id}`;
      },
    },
  });
}

/**
 * A headless page on `url`, `width` pixels wide; close the browser when done (it is closed here
 * if the page cannot be opened). Playwright's own signal handlers are off: on Ctrl-C they
 * close the browser and exit at once, before the caller's handler has stopped what it started
 * (a benchmark's cluster); chromium still goes when this process exits.
 */
export async function openPage(url: string, width = 1400, height = 1500):
  Promise<{ browser: Browser; page: Page }> {
  const executablePath = chromiumPath();
  if (executablePath === null) {
    throw new Error("chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)");
  }
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"],
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
  try {
    const page = await browser.newPage({ viewport: { width, height } });
    await page.goto(url);
    return { browser, page };
  } catch (error) {
    await browser.close().catch(() => undefined);
    throw error;
  }
}
