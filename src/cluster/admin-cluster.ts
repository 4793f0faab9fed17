/**
 * The admin side of a running cluster, as the operator scripts (partition, fault) see it: the
 * cluster file's nodes, one bounded request at a time with the admin token, and the errors an
 * operator can act on as single lines (ScriptError), never stack traces. A TLS cluster is
 * reached over https://, trusting the cluster CA of the file.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { memberUrlProblem } from "../node/member-addresses.js";
import { nodeIdPattern } from "../raft/index.js";
import { httpRequest, HttpRequestError, type HttpAnswer } from "../wire/http-request.js";
import { ClusterConfigError, type ClusterConfig } from "./cluster-config.js";
import { clusterClientAgent, nodeClientUrl } from "./cluster-tls.js";

/** Bound on one request to one node: a paused node must not hang a script. */
export const scriptRequestTimeoutMs = 2000;

/**
 * Where `npm run fault` remembers the nodes of the cluster file `configPath` that were added
 * with member add (their folders and command lines, for when they are down): one small file in
 * the temporary folder per cluster file.
 */
export function addedNodesCachePath(configPath: string): string {
  const digest = createHash("sha256").update(path.resolve(configPath)).digest("hex");
  return path.join(tmpdir(), `raftmarket-added-${digest.slice(0, 16)}.json`);
}

/** An error for the operator: the script prints its message as one line and exits 1. */
export class ScriptError extends Error {
  override readonly name: string = "ScriptError";
}

/** A node that did not answer, or answered with an error; `reason` does not repeat the id. */
export class NodeRequestError extends ScriptError {
  override readonly name = "NodeRequestError";
  constructor(readonly id: string, readonly reason: string) {
    super(`${id} ${reason}`);
  }
}

export interface NodeAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What GET /v1/cluster/status answers (DESIGN.md §3), as far as the scripts read it. */
export interface NodeStatusBody {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
}

export class AdminCluster {
  private agentMade: http.Agent | null = null;
  /** Members that are not in the cluster file (added with member add), by id: client URLs. */
  protected readonly added = new Map<string, string>();

  constructor(readonly config: ClusterConfig) {}

  /**
   * Learns the members added since the cluster file was written: the client URLs the nodes
   * report (NodeStatus.clientUrls), the leader's first. Without an answer, the file's nodes.
   */
  async discover(): Promise<void> {
    const statuses = [...(await this.statuses()).values()].filter((status) => status !== null);
    statuses.sort((a, b) => Number(b!.role === "leader") - Number(a!.role === "leader"));
    for (const status of statuses) {
      const urls = (status as { clientUrls?: unknown }).clientUrls;
      if (typeof urls !== "object" || urls === null) continue;
      for (const [id, url] of Object.entries(urls as Record<string, unknown>)) {
        if (typeof url !== "string" || this.config.nodes.some((node) => node.id === id)) continue;
        if (!nodeIdPattern.test(id) || memberUrlProblem(url) !== null) continue;
        if (!this.added.has(id)) this.added.set(id, url);
      }
      break;
    }
  }

  /** Made on first use, so that a command that sends nothing needs no readable CA. */
  private get agent(): http.Agent {
    this.agentMade ??= clusterClientAgent(this.config);
    return this.agentMade;
  }

  /** The cluster file's nodes, then the members discover() found. */
  get ids(): string[] {
    return [...this.config.nodes.map((node) => node.id), ...this.added.keys()];
  }

  /** Throws ScriptError for a node the cluster file does not have. */
  requireNode(id: string): void {
    if (!this.ids.includes(id)) {
      throw new ScriptError(`unknown node "${id}" (nodes are: ${this.ids.join(", ")})`);
    }
  }

  urlOf(id: string): string {
    this.requireNode(id);
    const node = this.config.nodes.find((candidate) => candidate.id === id);
    return node === undefined ? this.added.get(id)! : nodeClientUrl(this.config, node);
  }

  /** One request to one node; throws NodeRequestError if it cannot be reached or refuses. */
  async request(id: string, method: string, path: string, body?: unknown): Promise<NodeAnswer> {
    const url = `${this.urlOf(id)}${path}`;
    let response: HttpAnswer;
    try {
      response = await httpRequest({
        method, url, agent: this.agent, timeoutMs: scriptRequestTimeoutMs,
        headers: { "authorization": `Bearer ${this.config.tokens.adminToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = error instanceof HttpRequestError ? error.code : (error as Error).name;
      throw new NodeRequestError(id, `is unreachable at ${url} (${cause})`);
    }
    const text = response.body;
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text for the error message.
    }
    if (response.status === 401) {
      throw new NodeRequestError(id, "refused the admin token (401): check " +
        `tokens.adminToken in ${this.config.path} or RAFTMARKET_ADMIN_TOKEN`);
    }
    if (response.status < 200 || response.status > 299) {
      const message = (parsed as { error?: { message?: string } }).error?.message ?? text;
      throw new NodeRequestError(id, `answered ${response.status} to ${method} ${path}: ` +
        message);
    }
    return { status: response.status, body: parsed };
  }

  /** Every node's status, or null for a node that does not answer. */
  async statuses(): Promise<Map<string, NodeStatusBody | null>> {
    const answers = await Promise.all(this.ids.map(async (id) => {
      try {
        return [id, (await this.request(id, "GET", "/v1/cluster/status")).body as
          NodeStatusBody] as const;
      } catch (error) {
        // A node that does not answer is down for now; an unreadable CA is the operator's to fix.
        if (!(error instanceof NodeRequestError)) throw error;
        return [id, null] as const;
      }
    }));
    return new Map(answers);
  }

  /** The leader of the highest term among the nodes that answer; throws ScriptError if none. */
  async findLeader(): Promise<string> {
    const statuses = [...(await this.statuses()).values()];
    const leaders = statuses.filter((status) => status?.role === "leader")
      .sort((first, second) => (second?.term ?? 0) - (first?.term ?? 0));
    const leader = leaders[0];
    if (leader === undefined || leader === null) {
      const answered = statuses.filter((status) => status !== null).length;
      throw new ScriptError(`no node reports itself leader (${answered} of ` +
        `${this.ids.length} answered): an election may be under way, try again shortly`);
    }
    return leader.id;
  }
}

/**
 * Runs an operator script's program. A ScriptError, a ClusterConfigError or one of
 * `moreOperatorErrors` is printed as one line on stderr (a cluster file's several problems
 * joined) with exit code 1; anything else is a bug and propagates with its stack.
 */
export async function runOperatorScript(program: Command,
  moreOperatorErrors: readonly (abstract new (...args: never[]) => Error)[] = []): Promise<void> {
  try {
    await program.parseAsync();
  } catch (error) {
    const operatorError = error instanceof ScriptError || error instanceof ClusterConfigError ||
      moreOperatorErrors.some((type) => error instanceof type);
    if (!operatorError) throw error;
    const [first, ...problems] = (error as Error).message.split("\n  - ");
    console.error(`error: ${first}${problems.length > 0 ? ` ${problems.join("; ")}` : ""}`);
    process.exitCode = 1;
  }
}
