/**
 * Which nodes market-cli talks to: `--endpoints URL,URL`, else MARKET_ENDPOINTS, else the
 * nodes of the cluster file (`--config FILE`, or ./cluster.config.json when it exists), else
 * the three local defaults. The cluster file, when there is one, also names the nodes, so that
 * a `leaderId` hint can be followed at once and tables can show ids for unreachable nodes.
 *
 * The CA trusted for https:// endpoints: `--cacert FILE`, else MARKET_CACERT, else the cluster
 * file's tls.ca; without any, the system's CAs.
 *
 * The admin token (for `leader transfer`): RAFTMARKET_ADMIN_TOKEN, else the cluster file's
 * tokens.adminToken, as the nodes and the operator scripts read it.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ClusterConfigError, loadClusterConfig } from "../cluster/cluster-config.js";
import { caProblem, nodeClientUrl, readClusterCa } from "../cluster/cluster-tls.js";
import { endpointsVariable, parseEndpointList } from "../client/index.js";

export const defaultConfigFile = "cluster.config.json";
export const cacertVariable = "MARKET_CACERT";
export const adminTokenVariable = "RAFTMARKET_ADMIN_TOKEN";
export const defaultEndpoints = Object.freeze(
  ["http://127.0.0.1:7001", "http://127.0.0.1:7002", "http://127.0.0.1:7003"]);

/** A mistake in how market-cli was called (exit code 128). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface EndpointChoice {
  readonly endpoints: readonly string[];
  /** Node id -> endpoint, from the cluster file (empty without one). */
  readonly nodeEndpoints: Readonly<Record<string, string>>;
  /** Where the endpoints came from, for messages. */
  readonly source: string;
  /** The CA (PEM) trusted for https:// endpoints, or null for the system's CAs. */
  readonly ca: string | null;
  /** The cluster's admin token, or null when neither the environment nor a file gives one. */
  readonly adminToken: string | null;
}

export interface EndpointFlags {
  readonly endpoints?: string;
  readonly config?: string;
  readonly cacert?: string;
}

export function resolveEndpoints(flags: EndpointFlags, env: NodeJS.ProcessEnv,
  cwd: string): EndpointChoice {
  const configFile = flags.config ?? (existsSync(path.join(cwd, defaultConfigFile))
    ? defaultConfigFile : undefined);
  const cluster = configFile === undefined ? { nodeEndpoints: {}, ca: null, adminToken: null }
    : readCluster(configFile, cwd);
  const { nodeEndpoints } = cluster;
  const ca = readCacert(flags, env, cwd) ?? cluster.ca;
  const tokenFromEnv = env[adminTokenVariable];
  const adminToken = tokenFromEnv !== undefined && tokenFromEnv !== "" ? tokenFromEnv
    : cluster.adminToken;
  const shared = { nodeEndpoints, ca, adminToken };
  if (flags.endpoints !== undefined) {
    return { endpoints: parseList(flags.endpoints, "--endpoints"), source: "--endpoints",
      ...shared };
  }
  const fromEnv = env[endpointsVariable];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return { endpoints: parseList(fromEnv, endpointsVariable), source: endpointsVariable,
      ...shared };
  }
  if (configFile !== undefined) {
    return { endpoints: Object.values(nodeEndpoints), source: configFile, ...shared };
  }
  return { endpoints: defaultEndpoints, source: "the defaults", ...shared };
}

/** The CA named by --cacert or MARKET_CACERT, or null when neither is given. */
function readCacert(flags: EndpointFlags, env: NodeJS.ProcessEnv, cwd: string): string | null {
  const fromEnv = env[cacertVariable];
  const [source, file] = flags.cacert !== undefined ? ["--cacert", flags.cacert]
    : fromEnv !== undefined && fromEnv.trim() !== "" ? [cacertVariable, fromEnv.trim()]
      : [null, null];
  if (source === null || file === null) return null;
  let pem: string;
  try {
    pem = readFileSync(path.resolve(cwd, file), "utf8");
  } catch (error) {
    throw new UsageError(`${source}: cannot read ${file} ` +
      `(${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const problem = caProblem(pem);
  if (problem !== null) throw new UsageError(`${source}: ${file} is ${problem}`);
  return pem;
}

function parseList(text: string, source: string): string[] {
  let endpoints: string[];
  try {
    endpoints = parseEndpointList(text);
  } catch (error) {
    throw new UsageError(`${source}: ${(error as Error).message}`);
  }
  if (endpoints.length === 0) throw new UsageError(`${source}: no endpoints given`);
  return endpoints;
}

/** The cluster file's nodes (https:// URLs when it has TLS), its CA and its admin token. */
function readCluster(file: string, cwd: string):
  { nodeEndpoints: Record<string, string>; ca: string | null; adminToken: string } {
  try {
    const config = loadClusterConfig(path.resolve(cwd, file));
    const nodeEndpoints = Object.fromEntries(config.nodes.map((node) =>
      [node.id, nodeClientUrl(config, node)]));
    return { nodeEndpoints, ca: readClusterCa(config), adminToken: config.tokens.adminToken };
  } catch (error) {
    if (error instanceof ClusterConfigError) throw new UsageError(error.message);
    throw error;
  }
}
