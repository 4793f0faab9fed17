/**
 * `npm run cluster [-- --config FILE] [--demo-data]`: starts one market-node child process per
 * node of the cluster file, prefixes each line of their output with the node's id, and stops
 * them all on Ctrl-C (SIGINT) or SIGTERM. With --demo-data it loads the demo catalogue once a
 * leader is up (fixed requestIds make a reload harmless).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { demoRequests } from "../market/index.js";
import { ClusterConfigError, loadClusterConfig, type ClusterConfig } from "./cluster-config.js";

const marketNodeScript = fileURLToPath(new URL("../cli/market-node.ts", import.meta.url));
const colors = [36, 33, 35, 32, 34, 31, 96, 93, 95];
const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

function prefixFor(id: string, k: number): string {
  const label = `[${id}]`.padEnd(6);
  return useColor ? `\u001b[${colors[k % colors.length]}m${label}\u001b[0m` : label;
}

function startNode(config: ClusterConfig, id: string, k: number, extraArgs: string[]): ChildProcess {
  const child = spawn(process.execPath,
    ["--import", "tsx", marketNodeScript, "--config", config.path, "--id", id, ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  const prefix = prefixFor(id, k);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => console.log(`${prefix} ${line}`));
  }
  return child;
}

async function loadDemoData(config: ClusterConfig, deadlineMs: number): Promise<void> {
  const urls = config.nodes.map((node) => `http://${node.host}:${node.clientPort}`);
  for (const request of demoRequests()) {
    const { kind: _kind, ...body } = request as { kind: string } & Record<string, unknown>;
    for (let attempt = 0; ; attempt++) {
      const url = urls[attempt % urls.length]!;
      const answer = await fetch(`${url}/v1/items`, { method: "POST",
        headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
        .then((response) => response.status, () => 0);
      if (answer === 201 || answer === 409) break;
      if (Date.now() > deadlineMs) throw new Error("no leader accepted the demo data in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  console.log(`[cluster] demo data loaded: ${demoRequests().length} items ` +
    `(try: npx market-cli search, npx market-cli buy --item apple-1kg)`);
}

async function main(): Promise<void> {
  const program = new Command()
    .name("cluster")
    .description("Start every node of a raftmarket cluster file as a child process.")
    .option("--config <file>", "the cluster file", "cluster.config.json")
    .option("--demo-data", "load a small demo catalogue once a leader is elected", false)
    .option("--log-level <level>", "node log level (trace, debug, info, warn, error)", "info")
    .showHelpAfterError()
    .parse();
  const options = program.opts<{ config: string; demoData: boolean; logLevel: string }>();
  let config: ClusterConfig;
  try {
    config = loadClusterConfig(options.config);
  } catch (error) {
    if (!(error instanceof ClusterConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(128);
  }
  console.log(`[cluster] starting ${config.nodes.length} nodes from ${config.path}; ` +
    "Ctrl-C stops them all");
  const children = config.nodes.map((node, k) =>
    startNode(config, node.id, k, ["--log-level", options.logLevel, "--pretty"]));
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`[cluster] ${signal}: stopping ${children.length} nodes`);
    for (const child of children) child.kill("SIGTERM");
    // A node that does not stop in time is killed, so Ctrl-C always ends the cluster.
    setTimeout(() => children.forEach((child) => child.kill("SIGKILL")), 5000).unref();
  };
  process.on("SIGINT", () => stopAll("SIGINT"));
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  let exited = 0;
  children.forEach((child, k) => child.on("exit", (code, signal) => {
    exited++;
    console.log(`[cluster] ${config.nodes[k]!.id} exited (${signal ?? `code ${code}`})`);
    if (exited === children.length) process.exit(stopping ? 0 : 1);
  }));
  if (options.demoData) {
    await loadDemoData(config, Date.now() + 30_000).catch((error: Error) =>
      console.error(`[cluster] could not load demo data: ${error.message}`));
  }
}

await main();
