/**
 * `market-node --config FILE --id ID`: starts one raftmarket node: the write-ahead log and
 * snapshots in its dataDir, the peer transport on its peerPort (wrapped in a FaultyTransport
 * with no rules, so the admin API can inject network faults at runtime), the Raft driver, and
 * the client API and admin API on its clientPort. With a tls section in the cluster file, the
 * client API is HTTPS and the peer port mutual TLS, both with the node's own certificate.
 * `market-node --config FILE --id ID --repair` instead truncates a corrupt write-ahead log after
 * its last good record and says exactly what it removed. Either way it first takes the data
 * folder's LOCK (storage/dir-lock.ts), so no two processes ever work on one log.
 */
import path from "node:path";
import { Command, CommanderError } from "commander";
import pino, { type Logger } from "pino";
import { createClientApp } from "../api/index.js";
import { listenClientApp } from "../api/client-server.js";
import {
  ClusterConfigError,
  findNode,
  loadClusterConfig,
  type ClusterConfig,
  type NodeConfig,
} from "../cluster/cluster-config.js";
import { nodeClientUrl, readNodeTls, type NodeTls } from "../cluster/cluster-tls.js";
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

/** Loopback hosts: the only ones where plain HTTP is harmless (development on one machine). */
function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

async function start(config: ClusterConfig, node: NodeConfig, tls: NodeTls | null,
  logger: Logger): Promise<void> {
  if (tls === null && !isLoopbackHost(node.host)) {
    logger.warn({ host: node.host }, "listening beyond loopback without TLS: client requests, " +
      "tokens and peer traffic cross the network in clear text (npm run certs turns TLS on)");
  }
  const voters = config.nodes.map((peer) => peer.id);
  const httpTransport = new HttpTransport({
    self: node.id,
    listenHost: node.host,
    peerPort: node.peerPort,
    peers: config.nodes.filter((peer) => peer.id !== node.id),
    peerToken: config.tokens.peerToken,
    logger: logger.child({ component: "transport" }),
    ...(tls === null ? {} : { tls }),
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
    clientUrls: new Map(config.nodes.map((peer) => [peer.id, nodeClientUrl(config, peer)])),
    snapshot: config.snapshot,
  });
  await transport.start();
  const app = createClientApp({
    service: server,
    logger,
    metricsRegistry: metrics.registry,
    ...(tls === null ? {} : { forwardCa: tls.ca }),
    admin: {
      adminToken: config.tokens.adminToken,
      faults: transport,
      transferLeadership: (target) => server.transferLeadership(target),
    },
  });
  const http = await listenClientApp(app, { host: node.host, port: node.clientPort,
    ...(tls === null ? {} : { tls }) });
  logger.info({ clientPort: node.clientPort, peerPort: node.peerPort, dataDir: node.dataDir,
    tls: tls !== null }, `node ${node.id} listening`);
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
  return null;
}

async function main(): Promise<void> {
  const options = parseOptions();
  let config: ClusterConfig;
  let node: NodeConfig;
  let tls: NodeTls | null;
  try {
    config = loadClusterConfig(options.config);
    node = findNode(config, options.id);
    tls = options.repair ? null : readNodeTls(config, node);
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
  try {
    await start(config, node, tls, logger);
  } catch (error) {
    const described = describeStartupError(error);
    if (described === null) throw error;
    console.error(`error: ${described}`);
    process.exit(1);
  }
}

await main();
