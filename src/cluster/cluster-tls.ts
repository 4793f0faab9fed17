/**
 * TLS from the cluster file (DESIGN.md §3a): the one place that turns its `tls` section into
 * what the rest needs — the scheme of the client URLs, the CA that clients trust, a node's own
 * certificate and key, an agent that trusts the cluster CA — so that every command (market-node,
 * market-cli, the operator scripts, chaos, bench, the launcher) reads it the same way. Without a
 * `tls` section everything stays plain HTTP, the default for loopback development.
 *
 * The files are read and checked here, once, so that a missing or unusable file is a
 * ClusterConfigError naming the file, not a stack trace from deep inside node:tls.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { createSecureContext } from "node:tls";
import { ClusterConfigError, type ClusterConfig, type NodeConfig } from "./cluster-config.js";

/** PEM texts: the cluster CA, and this node's certificate and private key. */
export interface NodeTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

type TlsOfConfig = Pick<ClusterConfig, "tls" | "path">;

export function clusterScheme(config: Pick<ClusterConfig, "tls">): "http" | "https" {
  return config.tls === undefined ? "http" : "https";
}

/** A node listening on every interface is reached on the loopback one; IPv6 gets brackets. */
export function connectableHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "[::]") return "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** The client API base URL of `node`: https:// when the cluster has a tls section. */
export function nodeClientUrl(config: Pick<ClusterConfig, "tls">,
  node: Pick<NodeConfig, "host" | "clientPort">): string {
  return `${clusterScheme(config)}://${connectableHost(node.host)}:${node.clientPort}`;
}

/** The peer URL of `node` (Raft messages): https:// (mutual TLS) when the cluster has tls. */
export function nodePeerUrl(config: Pick<ClusterConfig, "tls">,
  node: Pick<NodeConfig, "host" | "peerPort">): string {
  return `${clusterScheme(config)}://${connectableHost(node.host)}:${node.peerPort}`;
}

function readPem(config: TlsOfConfig, place: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new ClusterConfigError(config.path, [`${place}: cannot read ${file} (${code}); ` +
      "npm run certs makes the files"]);
  }
}

/** Why `pem` is not a CA certificate, or null when it is one. */
export function caProblem(pem: string): string | null {
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(pem);
  } catch {
    return "not a PEM certificate";
  }
  return ca.ca ? null : "not a CA certificate";
}

/** The cluster CA (PEM) that clients trust, or null when the cluster has no tls section. */
export function readClusterCa(config: TlsOfConfig): string | null {
  if (config.tls === undefined) return null;
  const pem = readPem(config, "tls.ca", config.tls.ca);
  const problem = caProblem(pem);
  if (problem !== null) {
    throw new ClusterConfigError(config.path, [`tls.ca: ${config.tls.ca} is ${problem}`]);
  }
  return pem;
}

/**
 * The CA and `node`'s own certificate and key, or null when the cluster has no tls section.
 * Checks that the key belongs to the certificate (node:tls refuses a mismatched pair).
 */
export function readNodeTls(config: ClusterConfig, node: NodeConfig): NodeTls | null {
  const ca = readClusterCa(config);
  if (ca === null || node.tls === undefined) return null;
  const place = `nodes[${node.id}].tls`;
  const cert = readPem(config, `${place}.cert`, node.tls.cert);
  const key = readPem(config, `${place}.key`, node.tls.key);
  try {
    createSecureContext({ ca, cert, key });
  } catch (error) {
    throw new ClusterConfigError(config.path, [`${place}: ${node.tls.cert} and ${node.tls.key} ` +
      `are not a usable certificate and key: ${(error as Error).message}`]);
  }
  return { ca, cert, key };
}

/**
 * A keep-alive agent for the client API of the cluster: an https.Agent that trusts the cluster
 * CA (and only it) when the cluster has TLS, a plain http.Agent otherwise.
 */
export function clusterClientAgent(config: TlsOfConfig, options: http.AgentOptions = {}):
  http.Agent {
  const ca = readClusterCa(config);
  const settings = { keepAlive: true, ...options };
  return ca === null ? new http.Agent(settings) : new https.Agent({ ...settings, ca });
}
