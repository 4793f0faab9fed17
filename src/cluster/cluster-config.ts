import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { nodeIdPattern } from "../raft/index.js";
import { z } from "zod";

/**
 * cluster.config.json (DESIGN.md §3a): the nodes, the timing, the tokens and the snapshot
 * settings of one cluster. Every command that reads it takes --config FILE. Validation names
 * every problem at once, with its place in the file, so a user fixes the file in one pass.
 */

const portSchema = z.number().int().min(1).max(65535);
/** The same rule for a token in the file and one from the environment. */
const tokenSchema = z.string().min(8, "tokens are at least 8 characters");

/** A node's own certificate and private key (PEM files), relative to the cluster file. */
const nodeTlsSchema = z.object({
  cert: z.string().min(1),
  key: z.string().min(1),
}).strict();

const nodeSchema = z.object({
  id: z.string().regex(nodeIdPattern, "ids are 1-32 letters, digits, _ or -"),
  host: z.string().min(1),
  clientPort: portSchema,
  peerPort: portSchema,
  dataDir: z.string().min(1),
  tls: nodeTlsSchema.optional(),
}).strict();

const clusterSchema = z.object({
  nodes: z.array(nodeSchema).min(1).max(9),
  timing: z.object({
    tickIntervalMs: z.number().int().min(1).max(1000),
    heartbeatIntervalTicks: z.number().int().min(1),
    electionTimeoutTicks: z.number().int().min(2),
  }).strict(),
  tokens: z.object({
    peerToken: tokenSchema,
    adminToken: tokenSchema,
  }).strict(),
  snapshot: z.object({
    entriesBetweenSnapshots: z.number().int().min(1),
    trailingEntries: z.number().int().min(0),
  }).strict(),
  /**
   * TLS on every link (etcd's --trusted-ca-file): with it, each node serves its client API
   * over HTTPS and its peer port over mutual TLS, with the certificate in its nodes[i].tls.
   */
  tls: z.object({ ca: z.string().min(1) }).strict().optional(),
}).strict();

export type ClusterConfigFile = z.infer<typeof clusterSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;

/** A validated cluster, with each node's dataDir and TLS files resolved against its folder. */
export interface ClusterConfig extends ClusterConfigFile {
  readonly path: string;
}

export class ClusterConfigError extends Error {
  override readonly name = "ClusterConfigError";
  constructor(readonly file: string, readonly problems: readonly string[]) {
    // One problem fits on one line; several get a list, so each is read on its own.
    super(problems.length === 1 ? `${file}: invalid cluster config: ${problems[0]}`
      : `${file}: invalid cluster config:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Checks what the schema cannot: uniqueness and the relationships between values. */
function relationProblems(config: ClusterConfigFile): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const endpoints = new Map<string, string>();
  config.nodes.forEach((node, k) => {
    if (ids.has(node.id)) problems.push(`nodes[${k}].id: duplicate id "${node.id}"`);
    ids.add(node.id);
    for (const port of ["clientPort", "peerPort"] as const) {
      const endpoint = `${node.host}:${node[port]}`;
      const user = endpoints.get(endpoint);
      if (user !== undefined) problems.push(`nodes[${k}].${port}: ${endpoint} is also ${user}`);
      endpoints.set(endpoint, `nodes[${k}].${port}`);
    }
  });
  problems.push(...tlsProblems(config));
  const dataDirs = config.nodes.map((node) => node.dataDir);
  if (new Set(dataDirs).size !== dataDirs.length) problems.push("nodes: two nodes share a dataDir");
  const { heartbeatIntervalTicks, electionTimeoutTicks } = config.timing;
  if (electionTimeoutTicks <= heartbeatIntervalTicks * 2) {
    problems.push(`timing: electionTimeoutTicks (${electionTimeoutTicks}) must be more than ` +
      `twice heartbeatIntervalTicks (${heartbeatIntervalTicks}), or one lost heartbeat ` +
      "starts an election");
  }
  return problems;
}

/** TLS is all or nothing: a node without a certificate could not join a TLS cluster. */
function tlsProblems(config: ClusterConfigFile): string[] {
  const problems: string[] = [];
  config.nodes.forEach((node, k) => {
    if (config.tls !== undefined && node.tls === undefined) {
      problems.push(`nodes[${k}].tls: required when the cluster has a tls section ` +
        "({cert, key} of this node; npm run certs makes them)");
    }
    if (config.tls === undefined && node.tls !== undefined) {
      problems.push(`nodes[${k}].tls: needs the cluster-wide tls.ca as well`);
    }
  });
  return problems;
}

/** Validates parsed JSON; throws ClusterConfigError naming every problem. */
export function parseClusterConfig(json: unknown, file: string): ClusterConfig {
  const parsed = clusterSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`);
    throw new ClusterConfigError(file, problems);
  }
  const problems = relationProblems(parsed.data);
  if (problems.length > 0) throw new ClusterConfigError(file, problems);
  const folder = path.dirname(path.resolve(file));
  const tokens = tokensWithEnvironment(parsed.data.tokens, file);
  return {
    ...parsed.data,
    tokens,
    nodes: parsed.data.nodes.map((node) => resolveNodeFiles(node, folder)),
    ...(parsed.data.tls === undefined ? {}
      : { tls: { ca: path.resolve(folder, parsed.data.tls.ca) } }),
    path: path.resolve(file),
  };
}

/** The environment's tokens, where set, replace the file's; they obey the same rule. */
function tokensWithEnvironment(tokens: ClusterConfigFile["tokens"], file: string)
  : ClusterConfigFile["tokens"] {
  const problems: string[] = [];
  const fromEnvironment = (name: string, fallback: string): string => {
    const value = process.env[name];
    if (value === undefined) return fallback;
    const checked = tokenSchema.safeParse(value);
    if (!checked.success) {
      problems.push(`${name} (environment): ${checked.error.issues[0]?.message ?? "invalid"}`);
    }
    return value;
  };
  const result = {
    peerToken: fromEnvironment("RAFTMARKET_PEER_TOKEN", tokens.peerToken),
    adminToken: fromEnvironment("RAFTMARKET_ADMIN_TOKEN", tokens.adminToken),
  };
  if (problems.length > 0) throw new ClusterConfigError(file, problems);
  return result;
}

/** The development tokens shipped in the repository's cluster.config.json: public knowledge. */
export const developmentTokens: readonly string[] =
  ["dev-peer-token-change-me", "dev-admin-token-change-me"];

/**
 * Token choices that work but are unsafe, one line each, for a node to log at warn on start:
 * the shipped development tokens (anyone who read the repository holds them), and one token
 * for both roles (whoever may send peer traffic could also drive the admin API).
 */
export function tokenWarnings(config: ClusterConfig): string[] {
  const warnings: string[] = [];
  const { peerToken, adminToken } = config.tokens;
  const shipped: string[] = [];
  if (developmentTokens.includes(peerToken)) shipped.push("peer");
  if (developmentTokens.includes(adminToken)) shipped.push("admin");
  if (shipped.length > 0) {
    const which = shipped.length > 1
      ? "the peer and admin tokens are the shipped development values"
      : `the ${shipped[0]} token is the shipped development value`;
    warnings.push(`${which}; set your own in the cluster file or in RAFTMARKET_PEER_TOKEN / ` +
      "RAFTMARKET_ADMIN_TOKEN");
  }
  if (peerToken === adminToken) {
    warnings.push("the peer token and the admin token are the same; a peer could drive the " +
      "admin API");
  }
  return warnings;
}

/**
 * A cluster's identity, sent on every peer request (x-raftmarket-cluster-id) so that nodes
 * of two clusters never exchange messages: the first 16 hex digits of a SHA-256 over the
 * sorted `id@host:peerPort` lines of its nodes. Two files that describe the same nodes give
 * the same id, whatever their order or other settings.
 */
export function clusterIdOf(config: Pick<ClusterConfigFile, "nodes">): string {
  const lines = config.nodes.map((node) => `${node.id}@${node.host}:${node.peerPort}`).sort();
  return createHash("sha256").update("raftmarket-cluster\n" + lines.join("\n"))
    .digest("hex").slice(0, 16);
}

function resolveNodeFiles(node: NodeConfig, folder: string): NodeConfig {
  const tls = node.tls === undefined ? {} : {
    tls: { cert: path.resolve(folder, node.tls.cert), key: path.resolve(folder, node.tls.key) },
  };
  return { ...node, dataDir: path.resolve(folder, node.dataDir), ...tls };
}

/** Reads and validates a cluster file; throws ClusterConfigError with a readable message. */
export function loadClusterConfig(file: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ClusterConfigError(file, [code === "ENOENT" ? "no such file" : `cannot read: ${code}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClusterConfigError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseClusterConfig(json, file);
}

export function findNode(config: ClusterConfig, id: string): NodeConfig {
  const node = config.nodes.find((candidate) => candidate.id === id);
  if (node === undefined) {
    const known = config.nodes.map((candidate) => candidate.id).join(", ");
    throw new ClusterConfigError(config.path, [`no node "${id}" (nodes are: ${known})`]);
  }
  return node;
}
