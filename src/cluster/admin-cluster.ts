/**
 * The admin side of a running cluster, as the operator scripts (partition, fault) see it: the
 * cluster file's nodes, one bounded request at a time with the admin token, and the errors an
 * operator can act on as single lines (ScriptError), never stack traces.
 */
import type { Command } from "commander";
import { ClusterConfigError, type ClusterConfig } from "./cluster-config.js";

/** Bound on one request to one node: a paused node must not hang a script. */
export const scriptRequestTimeoutMs = 2000;

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
  constructor(readonly config: ClusterConfig) {}

  get ids(): string[] {
    return this.config.nodes.map((node) => node.id);
  }

  /** Throws ScriptError for a node the cluster file does not have. */
  requireNode(id: string): void {
    if (!this.ids.includes(id)) {
      throw new ScriptError(`unknown node "${id}" (nodes are: ${this.ids.join(", ")})`);
    }
  }

  urlOf(id: string): string {
    this.requireNode(id);
    const node = this.config.nodes.find((candidate) => candidate.id === id)!;
    return `http://${node.host}:${node.clientPort}`;
  }

  /** One request to one node; throws NodeRequestError if it cannot be reached or refuses. */
  async request(id: string, method: string, path: string, body?: unknown): Promise<NodeAnswer> {
    const url = `${this.urlOf(id)}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { "authorization": `Bearer ${this.config.tokens.adminToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(scriptRequestTimeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ??
        (error as Error).name;
      throw new NodeRequestError(id, `is unreachable at ${url} (${cause})`);
    }
    const text = await response.text();
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
    if (!response.ok) {
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
      } catch {
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
