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
import { nodeClientUrl, nodePeerUrl, readNodeTls, type NodeTls } from "../cluster/cluster-tls.js";
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
  type BootstrapRecord,
  type NodeIdentity,
} from "../storage/index.js";
import { nodeDashboardRouter } from "../dashboard/node-dashboard.js";
import { CountingTransport } from "../node/counting-transport.js";
import type { SnapshotMeta } from "../raft/index.js";
import { FaultyTransport } from "../transport/faulty-transport.js";
import {
  memberUrlProblem,
  normalizeMemberUrl,
  peerEndpointOf,
  type MemberAddress,
} from "../node/member-addresses.js";
import { askToJoin, type JoinAsk } from "./market-node-join.js";
import { HttpTransport } from "../transport/http-transport.js";

const exitBadUsage = 128;

interface Options {
  config: string;
  id: string;
  join?: string;
  peerUrl?: string;
  clientUrl?: string;
  dataDir?: string;
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
    .option("--join <urls>", "join a running cluster: the client URL of one of its members " +
      "(or several, comma-separated, asked in turn). " +
      "The node must have been added first (market-cli member add ID --peer-url URL " +
      "--client-url URL); give the same URLs with --peer-url and --client-url, and --data-dir. " +
      "The cluster file (--config) still gives the tokens and timing. Restart it with the same " +
      "command")
    .option("--peer-url <url>", "with --join: where this node listens for Raft messages, " +
      "e.g. http://127.0.0.1:7104")
    .option("--client-url <url>", "with --join: where this node serves the client API, " +
      "e.g. http://127.0.0.1:7004")
    .option("--data-dir <dir>", "with --join: this node's data folder")
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
    "from a backup, or replace the node with a new member: market-cli member remove, member " +
    "add with a new id, and market-node --join (README: a node lost its disk).");
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
  /** market-node --join: the member to ask, and this node's addresses. */
  readonly join: JoinAsk | null;
}

/** The cluster file's nodes as an address book (member-addresses.ts). */
function configAddresses(config: ClusterConfig): MemberAddress[] {
  return config.nodes.map((peer) => ({ id: peer.id, peerUrl: nodePeerUrl(config, peer),
    clientUrl: nodeClientUrl(config, peer) }));
}

async function start(config: ClusterConfig, node: NodeConfig, logger: Logger,
  { tls, newCluster, join }: StartOptions): Promise<void> {
  if (tls === null && !isLoopbackHost(node.host)) {
    logger.warn({ host: node.host }, "listening beyond loopback without TLS: client requests, " +
      "tokens and peer traffic cross the network in clear text (npm run certs turns TLS on)");
  }
  const identity = checkIdentity(config, node, logger, join !== null);
  const initialAddresses = join === null ? identity?.bootstrap?.addresses ?? configAddresses(config)
    : [...identity?.join?.addresses ?? []];
  const httpTransport = new HttpTransport({
    self: node.id,
    listenHost: node.host,
    peerPort: node.peerPort,
    peers: initialAddresses.filter((peer) => peer.id !== node.id).map(peerEndpointOf),
    peerToken: config.tokens.peerToken,
    // The id recorded at bootstrap; the cluster file's for a node bootstrapping now.
    clusterId: identity?.clusterId ?? clusterIdOf(config),
    logger: logger.child({ component: "transport" }),
    // One long-lived connection per peer: a hop is a write and a read, not a POST.
    stream: true,
    // Sent with every batch: a peer behind the membership changes can answer this node.
    advertisePeerUrl: join?.peerUrl ?? nodePeerUrl(config, node),
    ...(tls === null ? {} : { tls }),
  });
  // Without rules it passes every message straight through; "partition" incoming faults (the
  // default) make a cut hold even when only one end of the link received the rule.
  // Under the faults, a counter of the messages that leave (the live view's link rates).
  const counting = new CountingTransport(httpTransport);
  const transport = new FaultyTransport(counting, { self: node.id });
  const stores = openFileStores(node.dataDir, logger);
  const settled = join === null
    ? await settleIdentity({ config, node, logger, identity, httpTransport,
      hasState: hasRaftState(stores), newCluster,
      publishedIncarnation: () => publishedIncarnationIn(stores, node.id) })
    : await settleJoin(join, node, logger, identity, hasRaftState(stores));
  // The configuration the log replays from, recorded once: a later edit of the cluster file
  // must not change it (a replay from another starting point could reach another
  // configuration). A folder from before the record takes the cluster file's, once.
  const incarnation = settled.bootstrap !== undefined ? settled : recordBootstrap(node, settled,
    { voters: config.nodes.map((peer) => peer.id), addresses: configAddresses(config) }, logger);
  const bootstrap = incarnation.bootstrap!;
  const electionTimeoutMs = config.timing.tickIntervalMs * config.timing.electionTimeoutTicks;
  // Removed from the cluster (member remove): the folder is fenced at once, so that it never
  // starts again under this id; the process stops after two election timeouts, in which a
  // removed leader hands over and the others learn that the change committed. The removal may
  // be found while the server starts (an entry applied before a crash, a snapshot), before
  // there is anything to stop: the stop then waits for the start to finish.
  let removedAt: number | null = null;
  let stopAfterRemoval: ((index: number) => void) | null = null;
  const onRemoved = (index: number): void => {
    if (removedAt !== null) return;
    removedAt = index;
    fenceIdentity(node.dataDir, { reason: `removed from the cluster at index ${index}`,
      at: new Date().toISOString() }, incarnation);
    const message = `node ${node.id} was removed from the cluster by the change at index ` +
      `${index}; it stops, and this data folder will not start again as ${node.id}`;
    logger.warn(message);
    console.error(message);
    stopAfterRemoval?.(index);
  };
  const metrics = new NodeMetrics(node.id);
  metrics.eventLoop.start();
  const server = startServerOrFence(node, incarnation, () => RaftServer.start({
    id: node.id,
    voters: bootstrap.voters,
    dataDir: node.dataDir,
    transport,
    logger,
    metrics,
    tickIntervalMs: config.timing.tickIntervalMs,
    raft: {
      electionTimeoutTicks: config.timing.electionTimeoutTicks,
      heartbeatIntervalTicks: config.timing.heartbeatIntervalTicks,
    },
    bootstrapAddresses: bootstrap.addresses,
    ...(incarnation.join === undefined ? {} : { knownAddresses: incarnation.join.addresses }),
    // Members added later become peers as soon as a change naming them is in the log.
    onPeersChanged: (known) => httpTransport.setPeers(known.filter((peer) => peer.id !== node.id)
      .map(peerEndpointOf)),
    onRemoved,
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
      membership: {
        members: () => ({ ...server.members(), clusterId: incarnation.clusterId }),
        changeMembership: (request) => server.changeMembership(request),
      },
      process: () => ({ id: node.id, pid: process.pid, dataDir: node.dataDir,
        argv: process.argv, execArgv: process.execArgv }),
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
  stopAfterRemoval = () => {
    setTimeout(() => void stop("removed"), 2 * electionTimeoutMs).unref();
  };
  if (removedAt !== null) stopAfterRemoval(removedAt);
}

/** Records the bootstrap configuration in a folder's identity that has none yet. */
function recordBootstrap(node: NodeConfig, identity: NodeIdentity, bootstrap: BootstrapRecord,
  logger: Logger): NodeIdentity {
  const recorded: NodeIdentity = { ...identity, bootstrap };
  writeIdentity(node.dataDir, recorded);
  logger.info({ voters: bootstrap.voters }, "recorded the bootstrap configuration in the " +
    "identity file");
  return recorded;
}

/**
 * A node started with --join: a folder with Raft state restarts with the join record it
 * made; an empty one asks the cluster (market-node-join.ts) until it is told to join or
 * refused, then records what it learned in its identity file.
 */
async function settleJoin(ask: JoinAsk, node: NodeConfig, logger: Logger,
  identity: NodeIdentity | null, hasState: boolean): Promise<NodeIdentity> {
  if (hasState) {
    if (identity?.join !== undefined) return identity;
    console.error(`error: the data folder ${node.dataDir} holds a log that --join did not ` +
      "make: start this node without --join, as one of the cluster file's nodes");
    process.exit(exitBadUsage);
  }
  let lastReason = "";
  let lastProgressMs = 0;
  for (let attempt = 0, delayMs = 100; ; attempt++, delayMs = Math.min(2000, delayMs * 2)) {
    // Each member in turn: the one named first may have left the cluster since.
    const url = ask.urls[attempt % ask.urls.length]!;
    const verdict = await askToJoin(ask, url, 3000);
    if (verdict.kind === "refuse") {
      console.error(`error: ${verdict.message}`);
      process.exit(1);
    }
    if (verdict.kind === "join") {
      const joined: NodeIdentity = { format: 1, clusterId: verdict.clusterId, nodeId: node.id,
        incarnation: newIncarnation(), origin: "joined", fence: null,
        bootstrap: verdict.bootstrap, join: verdict.join };
      writeIdentity(node.dataDir, joined);
      logger.info({ clusterId: verdict.clusterId, role: verdict.role,
        bootstrapVoters: verdict.bootstrap.voters }, `node ${node.id} joins the cluster ` +
        `as a ${verdict.role}; it catches up from the leader`);
      return joined;
    }
    const nowMs = Date.now();
    if (verdict.reason !== lastReason || nowMs - lastProgressMs > 5000) {
      lastReason = verdict.reason;
      lastProgressMs = nowMs;
      logger.warn(`waiting to join through ${ask.urls.join(", ")}: ${verdict.reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** The node a --join start describes (it is not in the cluster file), or a usage error. */
function joiningNode(config: ClusterConfig, options: Options): { node: NodeConfig; ask: JoinAsk } {
  const problems: string[] = [];
  for (const [flag, value] of [["--peer-url", options.peerUrl], ["--client-url",
    options.clientUrl]] as const) {
    const problem = memberUrlProblem(value);
    if (problem !== null) problems.push(`${flag} ${value === undefined ? "is required with --join" : problem}`);
  }
  const joinUrls = (options.join ?? "").split(",").map((url) => url.trim()).filter((url) =>
    url !== "");
  if (joinUrls.length === 0) problems.push("--join needs the client URL of a member");
  for (const url of joinUrls) {
    const joinProblem = memberUrlProblem(url);
    if (joinProblem !== null) problems.push(`--join ${joinProblem}`);
  }
  if (options.dataDir === undefined) problems.push("--data-dir is required with --join");
  if (config.nodes.some((peer) => peer.id === options.id)) {
    problems.push(`${options.id} is one of the cluster file's nodes: start it without --join`);
  }
  if (config.tls !== undefined) {
    problems.push("--join does not support a cluster with TLS yet (a joining node has no " +
      "certificate in the cluster file)");
  }
  if (problems.length === 0 && new URL(options.peerUrl!).hostname !==
    new URL(options.clientUrl!).hostname) {
    problems.push("--peer-url and --client-url must name the same host (one listen address)");
  }
  if (problems.length > 0) throw new ClusterConfigError(config.path, problems);
  const peerUrl = normalizeMemberUrl(options.peerUrl!);
  const clientUrl = normalizeMemberUrl(options.clientUrl!);
  const peer = new URL(peerUrl);
  const node: NodeConfig = { id: options.id, host: peer.hostname.replace(/^\[(.*)\]$/, "$1"),
    peerPort: Number(peer.port), clientPort: Number(new URL(clientUrl).port),
    dataDir: path.resolve(options.dataDir!) };
  return { node, ask: { urls: joinUrls, id: options.id, peerUrl, clientUrl,
    adminToken: config.tokens.adminToken } };
}

/**
 * The folder's identity, checked before anything else: a folder of another node, or one that
 * `--repair` fenced, is refused with one line (exit 128 for the former: the configuration
 * points at the wrong folder; 1 for the latter).
 */
function checkIdentity(config: ClusterConfig, node: NodeConfig, logger: Logger,
  joining: boolean): NodeIdentity | null {
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
      "member: market-cli member remove, then member add with a new id and market-node --join " +
      "(README: a node lost its disk)");
    process.exit(1);
  }
  const derived = clusterIdOf(config);
  if (!joining && identity.origin !== "joined" && identity.clusterId !== derived) {
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
    incarnation: newIncarnation(), origin: identity?.origin ?? "bootstrap", fence: null,
    ...(identity?.bootstrap === undefined ? {} : { bootstrap: identity.bootstrap }) };
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
  let join: JoinAsk | null = null;
  try {
    config = loadClusterConfig(options.config);
    if (options.join === undefined) {
      node = findNode(config, options.id);
    } else {
      ({ node, ask: join } = joiningNode(config, options));
    }
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
    await start(config, node, logger, { tls, newCluster: options.newCluster, join });
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
