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
import { createClientApp, listenClientApp } from "../api/index.js";
import {
  ClusterConfigError,
  clusterIdOf,
  findNode,
  loadClusterConfig,
  tokenWarnings,
  type ClusterConfig,
  type NodeConfig,
} from "../cluster/cluster-config.js";
import { nodeClientUrl, readNodeTls, type NodeTls } from "../cluster/cluster-tls.js";
import { NodeMetrics } from "../node/metrics.js";
import { awaitBootstrapVerdict } from "../node/bootstrap.js";
import { decodePublish } from "../node/members.js";
import {
  IdentityConflictError, openFileStores, RaftServer, StateBehindLogError, type NodeStores,
} from "../node/raft-server.js";
import { StateStoreError } from "../storage/state-store.js";
import { MarketSnapshotError } from "../market/index.js";
import { acquireDirLock } from "../storage/dir-lock.js";
import {
  CorruptionError,
  describeRepair,
  fenceIdentity,
  identityFileName,
  lostCommittedRange,
  newIncarnation,
  readIdentity,
  repairWal,
  StorageError,
  writeIdentity,
  type NodeIdentity,
} from "../storage/index.js";
import { nodeDashboardRouter } from "../dashboard/node-dashboard.js";
import { CountingTransport } from "../node/counting-transport.js";
import type { SnapshotMeta } from "../raft/index.js";
import { FaultyTransport } from "../transport/faulty-transport.js";
import { HttpTransport } from "../transport/http-transport.js";

const exitBadUsage = 128;

interface Options {
  config: string;
  id: string;
  repair: boolean;
  newCluster: boolean;
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
    .option("--new-cluster", "this node is one of a cluster being created: with an empty data " +
      "folder it may start once a majority of the cluster, itself included, answers with no " +
      "history (npm run cluster passes it when every folder is empty). Never use it to bring " +
      "back a node that lost its disk", false)
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

/**
 * `--repair`: truncates the log after its last good record and prints what went. When the cut
 * was at corruption (not a torn tail), the removed records had been synced and may have been
 * acknowledged, to a leader or to a candidate: the node is fenced (node-identity.ts) and will
 * not start as a voter again. Returns the exit code: 0, or 1 when the node was fenced.
 */
function repair(config: ClusterConfig, node: NodeConfig): number {
  const walDir = path.join(node.dataDir, "wal");
  const report = repairWal(walDir);
  console.log(describeRepair(report));
  if (!report.acknowledgedMayBeLost) return 0;
  const lost = lostCommittedRange(report.lastIndexKept, report.commitIndexRecorded);
  const reason = `--repair removed synced records after the corruption at ${
    report.problem?.file ?? "?"} byte ${report.problem?.offset ?? 0}` + (lost === null
    ? ", which this node may have acknowledged"
    : `, among them entries ${lost} at or below its recorded commit index ${
      report.commitIndexRecorded}`);
  fenceIdentity(node.dataDir, { reason, at: new Date().toISOString() }, {
    clusterId: clusterIdOf(config), nodeId: node.id, incarnation: newIncarnation(),
    origin: "adopted" });
  console.log(`  fenced: node ${node.id} will refuse to start as a voter: ${reason}. Its ` +
    "votes and acknowledgements can no longer be trusted (Raft §5.1). Restore the folder " +
    "from a backup, or replace the node with a new member (member remove/add is not in this " +
    "version yet).");
  return 1;
}

/**
 * Starts the server; if its own snapshot shows this id published by another incarnation (the
 * folder lost its log after the snapshot was made elsewhere), the folder is fenced first, so
 * that a restart does not try again, and the error goes on to the one-line report.
 */
function startServerOrFence(node: NodeConfig, identity: NodeIdentity,
  startServer: () => RaftServer): RaftServer {
  try {
    return startServer();
  } catch (error) {
    if (error instanceof IdentityConflictError) {
      fenceIdentity(node.dataDir, { reason: error.message, at: new Date().toISOString() },
        identity);
    }
    throw error;
  }
}

/** Loopback hosts: the only ones where plain HTTP is harmless (development on one machine). */
function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

interface StartOptions {
  readonly tls: NodeTls | null;
  readonly newCluster: boolean;
}

async function start(config: ClusterConfig, node: NodeConfig, logger: Logger,
  { tls, newCluster }: StartOptions): Promise<void> {
  if (tls === null && !isLoopbackHost(node.host)) {
    logger.warn({ host: node.host }, "listening beyond loopback without TLS: client requests, " +
      "tokens and peer traffic cross the network in clear text (npm run certs turns TLS on)");
  }
  const identity = checkIdentity(config, node, logger);
  const voters = config.nodes.map((peer) => peer.id);
  const httpTransport = new HttpTransport({
    self: node.id,
    listenHost: node.host,
    peerPort: node.peerPort,
    peers: config.nodes.filter((peer) => peer.id !== node.id),
    peerToken: config.tokens.peerToken,
    // The id recorded at bootstrap; the cluster file's for a node bootstrapping now.
    clusterId: identity?.clusterId ?? clusterIdOf(config),
    logger: logger.child({ component: "transport" }),
    // One long-lived connection per peer: a hop is a write and a read, not a POST.
    stream: true,
    ...(tls === null ? {} : { tls }),
  });
  // Without rules it passes every message straight through; "partition" incoming faults (the
  // default) make a cut hold even when only one end of the link received the rule.
  // Under the faults, a counter of the messages that leave (the live view's link rates).
  const counting = new CountingTransport(httpTransport);
  const transport = new FaultyTransport(counting, { self: node.id });
  const stores = openFileStores(node.dataDir, logger);
  const incarnation = await settleIdentity({ config, node, logger, identity, httpTransport,
    hasState: hasRaftState(stores), newCluster,
    publishedIncarnation: () => publishedIncarnationIn(stores, node.id) });
  const metrics = new NodeMetrics(node.id);
  metrics.eventLoop.start();
  const server = startServerOrFence(node, incarnation, () => RaftServer.start({
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
    openStorage: () => stores,
    incarnation: incarnation.incarnation,
    onIdentityConflict: (message) => {
      // Remembered in the folder: a restart must not make it a voter again.
      try {
        fenceIdentity(node.dataDir, { reason: message, at: new Date().toISOString() },
          incarnation);
      } finally {
        console.error(`error: ${message}`);
        process.exit(1);
      }
    },
  }));
  httpTransport.setIdentityProvider(() => ({ clusterId: incarnation.clusterId, nodeId: node.id,
    state: "member", appliedIndex: server.status().appliedIndex,
    members: server.publishedMembers() }));
  if (!httpTransport.isListening()) await transport.start();
  counting.registerIn(metrics.registry);
  const view = nodeDashboardRouter(config, node);
  const app = createClientApp({
    ui: view.router,
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
  const http = await listenClientApp(app, node.clientPort, node.host,
    { logger, ...(tls === null ? {} : { tls }) });
  logger.info({ clientPort: node.clientPort, peerPort: node.peerPort, dataDir: node.dataDir,
    tls: tls !== null }, `node ${node.id} listening`);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    http.close();
    view.close();
    await server.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/**
 * The folder's identity, checked before anything else: a folder of another node, or one that
 * `--repair` fenced, is refused with one line (exit 128 for the former: the configuration
 * points at the wrong folder; 1 for the latter).
 */
function checkIdentity(config: ClusterConfig, node: NodeConfig, logger: Logger):
  NodeIdentity | null {
  const identity = readIdentity(node.dataDir);
  if (identity === null) return null;
  if (identity.nodeId !== node.id) {
    console.error(`error: the data folder ${node.dataDir} belongs to node ${identity.nodeId}, ` +
      `not ${node.id}: check dataDir in the cluster file`);
    process.exit(exitBadUsage);
  }
  if (identity.fence !== null) {
    console.error(`error: node ${node.id} cannot take part as a voter under this id: ` +
      `${identity.fence.reason} (fenced ${identity.fence.at}, ${path.join(node.dataDir,
        identityFileName)}). Restore the folder from a backup, or replace the node with a new ` +
      "member (this version has no member remove/add yet, so until then the node cannot " +
      "rejoin under this id)");
    process.exit(1);
  }
  const derived = clusterIdOf(config);
  if (identity.clusterId !== derived) {
    logger.warn({ stored: identity.clusterId, fromClusterFile: derived }, "the cluster file's " +
      "members changed since this node was bootstrapped; it keeps the cluster id it recorded");
  }
  return identity;
}

/** Whether the stores hold anything Raft promised: a term, a vote, entries or a snapshot. */
function hasRaftState(stores: NodeStores): boolean {
  const hardState = stores.log.hardState();
  return hardState.term > 0 || hardState.vote !== null || stores.log.lastIndex() > 0 ||
    stores.state.get("meta", "raft") !== undefined || stores.snapshots.latest() !== null;
}

/**
 * The first incarnation of `id` that the stores published (members.ts): in the Raft meta the
 * state database holds (or an earlier version's snapshot), or in the log.
 */
function publishedIncarnationIn(stores: NodeStores, id: string): string | null {
  const stored = stores.state.get("meta", "raft") as SnapshotMeta | undefined;
  const fromSnapshot = (stored ?? stores.snapshots.latest()?.meta)?.members?.find((record) =>
    record.id === id);
  if (fromSnapshot !== undefined) return fromSnapshot.incarnation;
  const { log } = stores;
  for (const entry of log.entries(log.firstIndex(), log.lastIndex() + 1)) {
    const publication = entry.kind === "normal" ? decodePublish(entry.data) : null;
    if (publication?.nodeId === id) return publication.incarnation;
  }
  return null;
}

interface SettleIdentityInput {
  readonly config: ClusterConfig;
  readonly node: NodeConfig;
  readonly logger: Logger;
  readonly identity: NodeIdentity | null;
  readonly httpTransport: HttpTransport;
  readonly hasState: boolean;
  readonly newCluster: boolean;
  /** The incarnation this node's stores show it published, if they show one. */
  readonly publishedIncarnation: () => string | null;
}

/**
 * Makes sure the folder has an identity this node may run under. A folder with Raft state keeps
 * its identity (or adopts one, if it predates identities). A folder without any first asks the
 * peers whether this id ran in the cluster before (bootstrap.ts), answering their own such
 * questions meanwhile as "joining"; a refusal ends the process with one line.
 */
async function settleIdentity(input: SettleIdentityInput): Promise<NodeIdentity> {
  const { config, node, logger, identity, httpTransport, hasState, newCluster } = input;
  const clusterId = identity?.clusterId ?? clusterIdOf(config);
  if (hasState) {
    if (identity !== null) return identity;
    // The log survived its identity file: it says which incarnation it published, if any.
    const published = input.publishedIncarnation();
    const adopted: NodeIdentity = { format: 1, clusterId, nodeId: node.id,
      incarnation: published ?? newIncarnation(), origin: "adopted", fence: null };
    writeIdentity(node.dataDir, adopted);
    logger.info({ clusterId, incarnation: adopted.incarnation },
      "recorded an identity for a data folder that had none");
    return adopted;
  }
  httpTransport.setIdentityProvider(() => ({ clusterId, nodeId: node.id, state: "joining",
    appliedIndex: 0, members: [] }));
  await httpTransport.start();
  const verdict = await awaitBootstrapVerdict({ self: node.id, clusterId, newCluster,
    peers: config.nodes.map((peer) => peer.id).filter((id) => id !== node.id),
    query: (peer) => httpTransport.queryIdentity(peer, 1000), logger });
  if (verdict === null || verdict.kind === "refuse") {
    console.error(`error: ${verdict?.message ?? "stopped before the peers answered"}`);
    process.exit(1);
  }
  logger.info(`node ${node.id} starts with an empty data folder: ${verdict.reason}`);
  // A new incarnation even when an identity survived: the log it ran with is gone, and should
  // it have been published, the new publication shows the loss (members.ts).
  const fresh: NodeIdentity = { format: 1, clusterId, nodeId: node.id,
    incarnation: newIncarnation(), origin: identity?.origin ?? "bootstrap", fence: null };
  writeIdentity(node.dataDir, fresh);
  return fresh;
}

/** Operating errors the user can act on: one clear line, no stack trace. */
function describeStartupError(error: unknown): string | null {
  if (error instanceof ClusterConfigError) return error.message;
  if (error instanceof IdentityConflictError) return error.message;
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
  if (error instanceof StateStoreError) {
    return `${error.message}\n  the node refuses to start on a damaged state database; the ` +
      "other replicas hold the same state: restore this folder from a backup, or replace the node";
  }
  if (error instanceof StateBehindLogError) return error.message;
  if (error instanceof MarketSnapshotError) return error.message;
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
      process.exit(repair(config, node));
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
    await start(config, node, logger, { tls, newCluster: options.newCluster });
  } catch (error) {
    const described = describeStartupError(error);
    if (described === null) {
      // Not one we foresaw: still one line for the person, the stack in the log for us.
      logger.debug({ err: error }, "startup failed");
      console.error(`error: the node could not start: ${String(error)}`);
      process.exit(1);
    }
    console.error(`error: ${described}`);
    process.exit(startupExitCode(error));
  }
}

await main();
