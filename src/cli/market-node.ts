/**
 * `market-node --config FILE --id ID`: starts one raftmarket node: the write-ahead log and
 * snapshots in its dataDir, the peer transport on its peerPort (wrapped in a FaultyTransport
 * with no rules, so the admin API can inject network faults at runtime), the Raft driver, and
 * the client API and admin API on its clientPort. `market-node --config FILE --id ID --repair`
 * instead truncates a corrupt write-ahead log after its last good record and says exactly what
 * it removed. Either way it first takes the data folder's LOCK (storage/dir-lock.ts), so no two
 * processes ever work on one log.
 */
import path from "node:path";
import { Command, CommanderError } from "commander";
import pino, { type Logger } from "pino";
import { createClientApp } from "../api/index.js";
import {
  clusterIdOf,
  ClusterConfigError,
  findNode,
  loadClusterConfig,
  tokenWarnings,
  type ClusterConfig,
  type NodeConfig,
} from "../cluster/cluster-config.js";
import { NodeMetrics } from "../node/metrics.js";
import { RaftServer } from "../node/raft-server.js";
import { acquireDirLock } from "../storage/dir-lock.js";
import { CorruptionError, describeRepair, repairWal, StorageError } from "../storage/index.js";
import { FaultyTransport } from "../transport/faulty-transport.js";
import { HttpTransport } from "../transport/http-transport.js";

const exitBadUsage = 128;

interface Options {
  config: string;
  id: string;
  repair: boolean;
  logLevel: string;
  pretty: boolean;
}

function parseOptions(): Options {
  const program = new Command()
    .name("market-node")
    .description("Start one raftmarket node (or repair its write-ahead log).")
    .option("--config <file>", "the cluster file", "cluster.config.json")
    .requiredOption("--id <id>", "this node's id in the cluster file")
    .option("--repair", "truncate a corrupt write-ahead log after its last good record, then exit",
      false)
    .option("--log-level <level>", "trace, debug, info, warn, error or fatal", "info")
    .option("--pretty", "human-readable logs (pino-pretty)", false)
    .exitOverride()
    .showHelpAfterError();
  try {
    program.parse();
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) process.exit(0);
    process.exit(exitBadUsage);
  }
  return program.opts<Options>();
}

function makeLogger(options: Options, id: string): Logger {
  const transport = options.pretty
    ? { target: "pino-pretty", options: { colorize: process.env.NO_COLOR === undefined,
      translateTime: "HH:MM:ss.l", ignore: "pid,hostname,node", singleLine: true } }
    : undefined;
  return pino({ level: options.logLevel, base: { node: id }, transport });
}

function repair(node: NodeConfig): void {
  const walDir = path.join(node.dataDir, "wal");
  const report = repairWal(walDir);
  console.log(describeRepair(report));
}

async function start(config: ClusterConfig, node: NodeConfig, logger: Logger): Promise<void> {
  const voters = config.nodes.map((peer) => peer.id);
  const httpTransport = new HttpTransport({
    self: node.id,
    listenHost: node.host,
    peerPort: node.peerPort,
    peers: config.nodes.filter((peer) => peer.id !== node.id),
    peerToken: config.tokens.peerToken,
    clusterId: clusterIdOf(config),
    logger: logger.child({ component: "transport" }),
  });
  // Without rules it passes every message straight through; "partition" incoming faults (the
  // default) make a cut hold even when only one end of the link received the rule.
  const transport = new FaultyTransport(httpTransport, { self: node.id });
  const metrics = new NodeMetrics(node.id);
  const server = RaftServer.start({
    id: node.id,
    voters,
    dataDir: node.dataDir,
    transport,
    logger,
    metrics,
    tickIntervalMs: config.timing.tickIntervalMs,
    raft: {
      electionTimeoutTicks: config.timing.electionTimeoutTicks,
      heartbeatIntervalTicks: config.timing.heartbeatIntervalTicks,
    },
    clientUrls: new Map(config.nodes.map((peer) => [peer.id,
      `http://${peer.host}:${peer.clientPort}`])),
    snapshot: config.snapshot,
  });
  await transport.start();
  const app = createClientApp({
    service: server,
    logger,
    metricsRegistry: metrics.registry,
    admin: {
      adminToken: config.tokens.adminToken,
      faults: transport,
      transferLeadership: (target) => server.transferLeadership(target),
    },
  });
  const http = app.listen(node.clientPort, node.host);
  await new Promise<void>((resolve, reject) => {
    http.once("listening", resolve);
    http.once("error", reject);
  });
  logger.info({ clientPort: node.clientPort, peerPort: node.peerPort, dataDir: node.dataDir },
    `node ${node.id} listening`);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    http.close();
    await server.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/** Operating errors the user can act on: one clear line, no stack trace. */
function describeStartupError(error: unknown): string | null {
  if (error instanceof ClusterConfigError) return error.message;
  if (error instanceof CorruptionError) {
    if (/\.snap$/.test(error.file)) {
      // The message already says why no older snapshot can stand in. Not advice to delete
      // anything: the folder also holds this node's term and vote, which Raft must not forget.
      return `${error.message}\n  the node refuses to start on a corrupt snapshot that no older ` +
        "one can replace";
    }
    return `${error.message}\n  the node refuses to start on a corrupt log; inspect it, then ` +
      "run market-node with --repair to truncate after the last good record";
  }
  if (error instanceof StorageError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return `a port is already in use: ${(error as Error).message}`;
  const { hostname, address, port } = error as { hostname?: string; address?: string;
    port?: number };
  if (code === "ENOTFOUND") {
    return `unknown host "${hostname}": this node's host in the cluster file does not resolve`;
  }
  if (code === "EAI_AGAIN") {
    return `cannot resolve host "${hostname}" now (temporary DNS failure); try again`;
  }
  if (code === "EADDRNOTAVAIL") {
    return `address ${address}:${port} is not available on this machine: this node's host in ` +
      "the cluster file must be one of this machine's addresses";
  }
  if (code === "EACCES") return `not allowed to listen on ${address}:${port}`;
  return null;
}

/** Exit 128 for what the user must fix in the configuration, 1 for everything else. */
function startupExitCode(error: unknown): number {
  if (error instanceof ClusterConfigError) return exitBadUsage;
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOTFOUND" || code === "EADDRNOTAVAIL" || code === "EACCES" ? exitBadUsage : 1;
}

async function main(): Promise<void> {
  const options = parseOptions();
  let config: ClusterConfig;
  let node: NodeConfig;
  try {
    config = loadClusterConfig(options.config);
    node = findNode(config, options.id);
  } catch (error) {
    console.error(`error: ${describeStartupError(error) ?? String(error)}`);
    process.exit(exitBadUsage);
  }
  try {
    // Before anything opens the log: a second process (another node, or --repair) on a live
    // node's folder would corrupt it. Given back on every exit; a crash leaves a stale lock
    // that the next start takes over.
    const lock = acquireDirLock(node.dataDir);
    process.on("exit", () => lock.release());
  } catch (error) {
    console.error(`error: ${describeStartupError(error) ?? String(error)}`);
    process.exit(1);
  }
  if (options.repair) {
    try {
      repair(node);
      process.exit(0);
    } catch (error) {
      console.error(`error: ${describeStartupError(error) ?? String(error)}`);
      process.exit(1);
    }
  }
  const logger = makeLogger(options, node.id);
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "crashed");
    process.exit(1);
  });
  for (const warning of tokenWarnings(config)) logger.warn(warning);
  try {
    await start(config, node, logger);
  } catch (error) {
    const described = describeStartupError(error);
    if (described === null) throw error;
    console.error(`error: ${described}`);
    process.exit(startupExitCode(error));
  }
}

await main();
