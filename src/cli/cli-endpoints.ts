/**
 * Which nodes market-cli talks to: `--endpoints URL,URL`, else MARKET_ENDPOINTS, else the
 * nodes of the cluster file (`--config FILE`, or ./cluster.config.json when it exists), else
 * the three local defaults. The cluster file, when there is one, also names the nodes, so that
 * a `leaderId` hint can be followed at once and tables can show ids for unreachable nodes.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { ClusterConfigError, loadClusterConfig } from "../cluster/cluster-config.js";
import { endpointsVariable, parseEndpointList } from "../client/index.js";

export const defaultConfigFile = "cluster.config.json";
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
}

export interface EndpointFlags {
  readonly endpoints?: string;
  readonly config?: string;
}

export function resolveEndpoints(flags: EndpointFlags, env: NodeJS.ProcessEnv,
  cwd: string): EndpointChoice {
  const configFile = flags.config ?? (existsSync(path.join(cwd, defaultConfigFile))
    ? defaultConfigFile : undefined);
  const nodeEndpoints = configFile === undefined ? {} : readNodeEndpoints(configFile, cwd);
  if (flags.endpoints !== undefined) {
    return { endpoints: parseList(flags.endpoints, "--endpoints"), nodeEndpoints,
      source: "--endpoints" };
  }
  const fromEnv = env[endpointsVariable];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return { endpoints: parseList(fromEnv, endpointsVariable), nodeEndpoints,
      source: endpointsVariable };
  }
  if (configFile !== undefined) {
    return { endpoints: Object.values(nodeEndpoints), nodeEndpoints, source: configFile };
  }
  return { endpoints: defaultEndpoints, nodeEndpoints, source: "the defaults" };
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

function readNodeEndpoints(file: string, cwd: string): Record<string, string> {
  try {
    const config = loadClusterConfig(path.resolve(cwd, file));
    return Object.fromEntries(config.nodes.map((node) =>
      [node.id, `http://${connectableHost(node.host)}:${node.clientPort}`]));
  } catch (error) {
    if (error instanceof ClusterConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** A node listening on every interface is reached on the loopback one. */
function connectableHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "[::]") return "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
