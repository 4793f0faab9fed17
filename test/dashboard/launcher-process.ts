/**
 * `npm run cluster` as a child process for the live view's tests: a temporary cluster file on
 * free loopback ports, the launcher with its dashboard on a free port (its URL read from the
 * `dashboard:` line it prints), and stop(), which always ends the launcher and any node process
 * it left (by the pid in each data folder's LOCK, the folders of nodes added from the page
 * included: they sit beside the others, under data/), then removes the folder. again() starts
 * a new launcher on the same cluster file and data, as a user runs `npm run cluster` again.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeLocalClusterConfig } from "../../src/cluster/local-cluster.js";
import type { ClusterConfigFile } from "../../src/cluster/cluster-config.js";
import { liveLockHolder } from "../../src/storage/dir-lock.js";
import { waitFor } from "../cluster/helpers.js";

const launcherScript = fileURLToPath(new URL("../../src/launcher/launcher.ts", import.meta.url));

export class LauncherProcess {
  private output = "";

  private constructor(readonly root: string, readonly configPath: string,
    readonly config: ClusterConfigFile, private readonly child: ChildProcess,
    public dashboardUrl = "") {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    }
  }

  static async start(extraArgs: readonly string[] = ["--demo-data"],
    files?: { root: string; configPath: string; config: ClusterConfigFile }):
    Promise<LauncherProcess> {
    const { root, configPath, config } = files ?? await writeLocalClusterConfig();
    const child = spawn(process.execPath, ["--import", "tsx", launcherScript, "--config",
      configPath, "--log-level", "warn", "--dashboard-port", "0", ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"] });
    const launcher = new LauncherProcess(root, configPath, config, child);
    try {
      launcher.dashboardUrl = await waitFor(async () =>
        /dashboard: (http:\/\/\S+)/.exec(launcher.output)?.[1], "the dashboard line", 30_000);
    } catch (error) {
      await launcher.stop();
      throw new Error(`${(error as Error).message}; the launcher printed: ${launcher.output}`);
    }
    return launcher;
  }

  /**
   * A new launcher on this one's cluster file and data folder, once this one has exited
   * (terminate()); its stop() then removes the folder.
   */
  async again(extraArgs: readonly string[]): Promise<LauncherProcess> {
    if (this.exitCode === null && this.child.signalCode === null) {
      throw new Error("again() needs the launcher to have exited: terminate() it first");
    }
    return await LauncherProcess.start(extraArgs, this);
  }

  get log(): string {
    return this.output;
  }

  urlOf(id: string): string {
    const node = this.config.nodes.find((candidate) => candidate.id === id)!;
    return `http://${node.host}:${node.clientPort}`;
  }

  /** The launcher's exit code once it has exited, else null. */
  get exitCode(): number | null {
    return this.child.exitCode;
  }

  /** SIGTERMs the launcher (Ctrl-C) and waits, at most 10 s, for it to exit; then SIGKILL. */
  async terminate(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }

  /** The data folders of every node, the file's and those added (data/ID). */
  dataDirs(): string[] {
    const parent = path.join(this.root, "data");
    let names: string[] = [];
    try {
      names = readdirSync(parent);
    } catch {
      // No node has made its folder yet.
    }
    return names.map((name) => path.join(parent, name));
  }

  async stop(): Promise<void> {
    await this.terminate();
    for (const dataDir of this.dataDirs()) {
      const pid = liveLockHolder(dataDir);
      if (pid !== null) {
        process.kill(pid, "SIGCONT");
        process.kill(pid, "SIGKILL");
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
