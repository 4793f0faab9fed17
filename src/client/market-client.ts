/**
 * MarketClient: the client library of the API in DESIGN.md §3.
 *
 * - Endpoints: a list of node base URLs (an option, or MARKET_ENDPOINTS). Any node accepts any
 *   request, so any endpoint works; the client prefers the last one that answered, and moves to
 *   the leader when a node names it (a `leaderId` hint on 503 no_leader, or the
 *   `x-raftmarket-leader` header of a forwarded answer). Node ids are mapped to endpoints from
 *   the `nodeEndpoints` option and from the `x-raftmarket-node` header every answer carries.
 * - Exactly once: every write gets one requestId (crypto.randomUUID unless the caller gives
 *   one), and every retry of that write reuses it, so a retry never applies twice.
 * - Retries: only on 503, 504 and failures to get an answer; every other answer is final.
 *   Waits are exponential with full jitter; a call is bounded by attemptsMax and by its retry
 *   budget (an overall deadline). With failFastWithoutMajority, a call stops as soon as most
 *   endpoints refuse the connection.
 * - A circuit breaker per endpoint skips nodes that stopped answering until a cooldown passes.
 * - TLS: https:// endpoints are checked against `ca` (the cluster CA) when it is given.
 * - Deterministic tests: `random`, `sleep`, `now` and `newRequestId` can be injected.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { CreateItemBody, Item, Order, OrderLineRequest } from "../market/index.js";
import type { NodeStatus } from "../wire/node-status.js";
import type { RaftEventPage } from "../wire/raft-events.js";
import { httpRequest, HttpRequestError } from "../wire/http-request.js";
import { backoffDelayMs } from "./backoff.js";
import { EndpointSelector } from "./endpoint-selector.js";
import { endpointsFromEnv, normalizeEndpoint } from "./endpoints.js";
import { MarketClientError } from "./market-client-error.js";

export interface MarketClientOptions {
  /** Node base URLs; default: MARKET_ENDPOINTS. At least one is required. */
  readonly endpoints?: readonly string[];
  /** Known node ids and their endpoints, so that a leaderId hint can be followed at once. */
  readonly nodeEndpoints?: Readonly<Record<string, string>>;
  /** HTTP attempts per call, first included. */
  readonly attemptsMax?: number;
  /** The overall deadline of one call, retries and waits included. */
  readonly retryBudgetMs?: number;
  /** Bound on one HTTP attempt (more than the server's own commit timeout). */
  readonly attemptTimeoutMs?: number;
  /** Bound on one `status(endpoint)` request (and never more than retryBudgetMs). */
  readonly statusTimeoutMs?: number;
  /**
   * Give up on a call as soon as every endpoint has been tried in it and more than half of them
   * refused the connection (nothing listens there), instead of retrying until the budget runs
   * out: the endpoints are taken to be the whole cluster, so no leader can be elected until
   * those nodes are back. market-cli sets it, to fail in milliseconds when the cluster is down;
   * a long-running client that should ride out restarts leaves it off (the default).
   */
  readonly failFastWithoutMajority?: boolean;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** Consecutive failures to get an answer that open an endpoint's breaker. */
  readonly breakerFailuresMax?: number;
  readonly breakerCooldownMs?: number;
  /** In [0, 1); default Math.random. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly newRequestId?: () => string;
  /**
   * PEM of the CA that signs the nodes' certificates (the cluster file's tls.ca), trusted for
   * https:// endpoints instead of the system's CAs. Without it, the system's CAs.
   */
  readonly ca?: string | Buffer;
}

export const marketClientDefaults = {
  attemptsMax: 12,
  retryBudgetMs: 15_000,
  attemptTimeoutMs: 6_000,
  statusTimeoutMs: 2_000,
  backoffBaseMs: 20,
  backoffCapMs: 1_000,
  breakerFailuresMax: 3,
  breakerCooldownMs: 1_000,
} as const;

export type Consistency = "linearizable" | "stale";

export interface WriteOptions {
  /** The operation's identity; a fresh UUID by default. Reuse it to retry an operation. */
  readonly requestId?: string;
}

export interface ReadOptions {
  readonly consistency?: Consistency;
}

export interface SearchOptions extends ReadOptions {
  readonly q?: string;
  readonly area?: string;
  readonly inStock?: boolean;
  readonly limit?: number;
}

export interface ItemRead { readonly item: Item; readonly appliedIndex: number }
export interface ItemsRead { readonly items: Item[]; readonly appliedIndex: number }
export interface OrderRead { readonly order: Order; readonly appliedIndex?: number }

/** One row of clusterStatus(): the node's status, or why it could not be had. */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly status: NodeStatus | null;
  readonly error: MarketClientError | null;
  /**
   * The node at this endpoint gave no status, and the leader no longer lists it as a member:
   * it was removed from the cluster (member remove). Its row is not a node that is down.
   */
  readonly removedNodeId?: string;
}

export const nodeHeader = "x-raftmarket-node";
export const leaderHeader = "x-raftmarket-leader";

/** A node's answer: the status, the headers, and the body parsed as JSON (else its text). */
interface ClientResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly data: unknown;
}

type AttemptResult =
  | { readonly kind: "answer"; readonly response: ClientResponse }
  | { readonly kind: "noAnswer"; readonly reason: string; readonly delivered: boolean };

/** Connection errors that prove the request never reached the node. */
const notDeliveredCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH",
  "EAI_AGAIN"]);

export class MarketClient {
  private readonly selector: EndpointSelector;
  private readonly settings: typeof marketClientDefaults;
  private readonly failFastWithoutMajority: boolean;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly newRequestId: () => string;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpsAgent: https.Agent;

  constructor(options: MarketClientOptions = {}) {
    const endpoints = [...new Set((options.endpoints ?? endpointsFromEnv())
      .map(normalizeEndpoint))];
    if (endpoints.length === 0) {
      throw new TypeError("MarketClient: no endpoints (pass endpoints or set MARKET_ENDPOINTS)");
    }
    this.settings = { ...marketClientDefaults, ...definedOnly(options) };
    if (!(this.settings.attemptsMax >= 1 && this.settings.retryBudgetMs > 0)) {
      throw new RangeError("MarketClient: attemptsMax >= 1 and retryBudgetMs > 0");
    }
    this.selector = new EndpointSelector(endpoints, {
      failuresMax: this.settings.breakerFailuresMax, cooldownMs: this.settings.breakerCooldownMs,
    }, new Map(Object.entries(options.nodeEndpoints ?? {})
      .map(([id, url]) => [id, normalizeEndpoint(url)])));
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.newRequestId = options.newRequestId ?? randomUUID;
    this.failFastWithoutMajority = options.failFastWithoutMajority ?? false;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256,
      ...(options.ca === undefined ? {} : { ca: options.ca }) });
  }

  // --- writes -------------------------------------------------------------------------------

  async createItem(item: CreateItemBody, options: WriteOptions = {}): Promise<Item> {
    const body = await this.write("/v1/items", { ...item }, options);
    return field<Item>(body, "item");
  }

  async addStock(sku: string, qty: number, options: WriteOptions = {}): Promise<Item> {
    const body = await this.write(`/v1/items/${encodeURIComponent(sku)}/stock`, { qty }, options);
    return field<Item>(body, "item");
  }

  /** One order of one or more lines, all or nothing. */
  async buy(lines: readonly OrderLineRequest[], options: WriteOptions = {}): Promise<Order> {
    const body = await this.write("/v1/orders", { lines }, options);
    return field<Order>(body, "order");
  }

  async cancel(orderId: string, options: WriteOptions = {}): Promise<Order> {
    const body = await this.write(`/v1/orders/${encodeURIComponent(orderId)}/cancel`, {},
      options);
    return field<Order>(body, "order");
  }

  // --- reads --------------------------------------------------------------------------------

  async getItem(sku: string, options: ReadOptions = {}): Promise<ItemRead> {
    return await this.call("GET", `/v1/items/${encodeURIComponent(sku)}${query(options)}`) as
      unknown as ItemRead;
  }

  async searchItems(options: SearchOptions = {}): Promise<ItemsRead> {
    return await this.call("GET", `/v1/items${query(options)}`) as unknown as ItemsRead;
  }

  async getOrder(orderId: string, options: ReadOptions = {}): Promise<OrderRead> {
    return await this.call("GET", `/v1/orders/${encodeURIComponent(orderId)}${query(options)}`) as
      unknown as OrderRead;
  }

  /**
   * One node's status: a single attempt, no retries (it asks about that node only), bounded by
   * statusTimeoutMs, the retry budget and `timeoutMs`, whichever is shortest.
   */
  async status(endpoint: string, options: { timeoutMs?: number } = {}): Promise<NodeStatus> {
    const url = normalizeEndpoint(endpoint);
    const status = await this.askNode(url, "GET", "/v1/cluster/status", options) as
      unknown as NodeStatus;
    if (typeof status.id === "string") this.selector.learn(status.id, url);
    return status;
  }

  /**
   * One node's recent Raft events after seq `after` (GET /v1/cluster/events): one attempt,
   * bounded as status() is. Seqs are that node's own, and start again when it restarts.
   */
  async raftEvents(endpoint: string, options: { after?: number; limit?: number;
    timeoutMs?: number } = {}): Promise<RaftEventPage> {
    const params = new URLSearchParams({ after: String(options.after ?? 0),
      limit: String(options.limit ?? 100) });
    return await this.askNode(normalizeEndpoint(endpoint), "GET",
      `/v1/cluster/events?${params.toString()}`, options) as unknown as RaftEventPage;
  }

  /**
   * Asks the node at `endpoint` (the leader) to hand leadership to `target` (POST
   * /admin/leadership/transfer, with the cluster's admin token): one attempt, bounded as
   * status() is. Resolves to the leader's result ("started" or "alreadyLeader"); a node that is
   * not the leader answers 409 conflict, an unknown target 400, a wrong token 401.
   */
  async transferLeadership(endpoint: string, target: string,
    options: { adminToken: string; timeoutMs?: number }): Promise<string> {
    const body = await this.askNode(normalizeEndpoint(endpoint), "POST",
      "/admin/leadership/transfer", options, { target },
      { authorization: `Bearer ${options.adminToken}` });
    return String(body.result);
  }

  /**
   * One admin request (`/admin/...`, with the cluster's admin token) to the node at
   * `endpoint`: one attempt, bounded by the retry budget and `timeoutMs` only (a membership
   * change answers once it has committed). Resolves to the 2xx body; any other answer throws
   * MarketClientError with the node's code and details (for example `reason` and `leaderId`).
   */
  async admin(endpoint: string, method: "GET" | "POST" | "DELETE", path: string,
    options: { adminToken: string; timeoutMs?: number; body?: unknown }):
    Promise<Record<string, unknown>> {
    return await this.askNode(normalizeEndpoint(endpoint), method, path,
      { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) },
      options.body, { authorization: `Bearer ${options.adminToken}` },
      this.settings.retryBudgetMs);
  }

  /** One attempt at one node, no retries, bounded by statusTimeoutMs, the budget and timeoutMs. */
  private async askNode(url: string, method: "GET" | "POST" | "DELETE", path: string,
    options: { timeoutMs?: number }, body?: unknown, headers: Record<string, string> = {},
    boundMs: number = this.settings.statusTimeoutMs): Promise<Record<string, unknown>> {
    const result = await this.attempt(url, method, path, body,
      Math.max(1, Math.min(boundMs, this.settings.retryBudgetMs,
        options.timeoutMs ?? Infinity)), headers);
    if (result.kind === "noAnswer") {
      throw new MarketClientError({ code: "unreachable", status: 0, endpoint: url,
        message: `cannot reach ${url}: ${result.reason}` });
    }
    const { response } = result;
    this.selector.learn(headerText(response, nodeHeader), url);
    if (response.status < 200 || response.status > 299 || !isRecord(response.data)) {
      throw answerError(response, url, 1, false);
    }
    return response.data;
  }

  /**
   * The status of every endpoint, in the order of `endpoints`, asked in parallel; then of the
   * members the cluster names (NodeStatus.clientUrls: members added later) that are not among
   * the endpoints. A configured endpoint that gives no status and whose node the leader no
   * longer lists is marked `removedNodeId`.
   */
  async clusterStatus(options: { timeoutMs?: number } = {}): Promise<EndpointStatus[]> {
    const rows = await this.statusesOf(this.endpoints, options);
    const statuses = rows.flatMap((row) => row.status === null ? [] : [row.status]);
    const termMax = Math.max(0, ...statuses.map((status) => status.term));
    const leader = statuses.find((status) => status.role === "leader" && status.term === termMax);
    const known = new Set(rows.map((row) => row.endpoint));
    const extra: string[] = [];
    for (const status of leader === undefined ? statuses : [leader]) {
      for (const [id, url] of Object.entries(status.clientUrls ?? {})) {
        let endpoint: string;
        try {
          endpoint = normalizeEndpoint(url);
        } catch {
          continue;
        }
        if (known.has(endpoint)) continue;
        known.add(endpoint);
        extra.push(endpoint);
        // Tried by later calls too: a member added after this client was configured.
        this.selector.addEndpoint(endpoint, id);
      }
    }
    const all = extra.length === 0 ? rows : [...rows, ...await this.statusesOf(extra, options)];
    // The leader may be one of the members found just now.
    const found = all.flatMap((row) => row.status === null ? [] : [row.status]);
    const termTop = Math.max(0, ...found.map((status) => status.term));
    const leading = found.find((status) => status.role === "leader" && status.term === termTop);
    if (leading?.clientUrls === undefined) return all;
    const members = new Set(Object.keys(leading.clientUrls));
    return all.map((row) => {
      if (row.status !== null) return row;
      const id = this.idOf(row.endpoint);
      return id === null || members.has(id) ? row : { ...row, removedNodeId: id };
    });
  }

  private async statusesOf(endpoints: readonly string[], options: { timeoutMs?: number }):
    Promise<EndpointStatus[]> {
    return await Promise.all(endpoints.map(async (endpoint) => {
      try {
        return { endpoint, status: await this.status(endpoint, options), error: null };
      } catch (error) {
        if (!(error instanceof MarketClientError)) throw error;
        return { endpoint, status: null, error };
      }
    }));
  }

  /** The id of the node configured or learned at `endpoint`, or null. */
  idOf(endpoint: string): string | null {
    return this.selector.idOf(endpoint);
  }

  /** The endpoints: those configured, then the members learned from the cluster. */
  get endpoints(): readonly string[] {
    return this.selector.endpoints;
  }

  /** The endpoint of node `id`, when configured or learned from an answer. */
  endpointOf(id: string): string | null {
    return this.selector.endpointOf(id);
  }

  /** The endpoint the next call tries first. */
  get preferredEndpoint(): string {
    return this.selector.preferredEndpoint;
  }

  /** Releases the keep-alive sockets. The client must not be used afterwards. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // --- the retry loop -----------------------------------------------------------------------

  private async write(path: string, body: Record<string, unknown>,
    options: WriteOptions): Promise<Record<string, unknown>> {
    const requestId = options.requestId ?? this.newRequestId();
    return await this.call("POST", path, { requestId, ...body });
  }

  /**
   * One logical call: attempts on the preferred endpoint and its successors until an answer
   * is final, attemptsMax attempts are spent, or the retry budget would be exceeded.
   */
  private async call(method: "GET" | "POST", path: string,
    body?: unknown): Promise<Record<string, unknown>> {
    const deadlineMs = this.now() + this.settings.retryBudgetMs;
    const progress: CallProgress = { attempts: 0, lastAnswer: null, lastReason: null,
      outcomeUnknown: false, lastEndpoint: null, tried: new Set(), refused: new Set() };
    for (let round = 0; round < this.settings.attemptsMax; round++) {
      if (round > 0 && !(await this.backoff(round - 1, deadlineMs))) break;
      const index = this.selector.pick(this.now());
      if (index === null) {
        if (!(await this.waitForBreaker(deadlineMs))) break;
        continue;
      }
      const url = this.selector.url(index);
      const timeoutMs = Math.max(1, Math.min(this.settings.attemptTimeoutMs,
        deadlineMs - this.now()));
      progress.attempts += 1;
      progress.lastEndpoint = url;
      const result = await this.attempt(url, method, path, body, timeoutMs);
      progress.tried.add(index);
      if (result.kind === "noAnswer") {
        this.selector.recordNoAnswer(index, this.now());
        progress.lastReason = result.reason;
        if (method === "POST" && result.delivered) progress.outcomeUnknown = true;
        if (result.delivered) progress.refused.delete(index);
        else progress.refused.add(index);
      } else {
        progress.refused.delete(index);
        this.selector.recordAnswer(index);
        const answer = this.handleAnswer(index, result.response, method, progress);
        if (answer !== null) return answer;
      }
      if (this.failFastWithoutMajority && this.majorityRefused(progress)) break;
    }
    throw finalError(progress, this.endpoints, method);
  }

  /**
   * Learns from an answer and returns its body if it is a success. A final error is thrown; a
   * retryable one (503, 504) is recorded in `progress` and chooses the next endpoint.
   */
  private handleAnswer(index: number, response: ClientResponse, method: string,
    progress: CallProgress): Record<string, unknown> | null {
    const url = this.selector.url(index);
    this.selector.learn(headerText(response, nodeHeader), url);
    if (response.status >= 200 && response.status < 300 && isRecord(response.data)) {
      this.selector.preferAfterSuccess(index, headerText(response, leaderHeader));
      return response.data;
    }
    const error = answerError(response, url, progress.attempts,
      progress.outcomeUnknown && method === "POST");
    if (!error.retryable) throw error;
    progress.lastAnswer = error;
    if (method === "POST" && error.status === 504) progress.outcomeUnknown = true;
    if (error.code === "unavailable") {
      // Overloaded, not lost: going elsewhere would only be forwarded back here.
      this.selector.stay(index);
    } else {
      const leaderId = error.details.leaderId;
      this.selector.followHint(index, typeof leaderId === "string" ? leaderId : null);
    }
    return null;
  }

  /** Whether every endpoint was tried in this call and more than half refused the connection. */
  private majorityRefused(progress: CallProgress): boolean {
    return progress.tried.size === this.endpoints.length &&
      progress.refused.size > this.endpoints.length / 2;
  }

  /** Every breaker is open: waits for the first to allow a trial, if the deadline allows. */
  private async waitForBreaker(deadlineMs: number): Promise<boolean> {
    const nowMs = this.now();
    const readyMs = this.selector.availableAtMs(nowMs);
    if (readyMs >= deadlineMs) return false;
    await this.sleep(Math.max(readyMs - nowMs, 1));
    return true;
  }

  /** Waits before retry number `retry`; false when the wait would pass the deadline. */
  private async backoff(retry: number, deadlineMs: number): Promise<boolean> {
    const delayMs = backoffDelayMs(retry,
      { baseMs: this.settings.backoffBaseMs, capMs: this.settings.backoffCapMs }, this.random);
    if (this.now() + delayMs >= deadlineMs) return false;
    if (delayMs > 0) await this.sleep(delayMs);
    return true;
  }

  private async attempt(url: string, method: "GET" | "POST" | "DELETE", path: string,
    body: unknown,
    timeoutMs: number, headers: Record<string, string> = {}): Promise<AttemptResult> {
    const agent = url.startsWith("https:") ? this.httpsAgent : this.httpAgent;
    try {
      const answer = await httpRequest({
        method, url: `${url}${path}`, agent, timeoutMs,
        headers: { ...headers, accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { kind: "answer",
        response: { status: answer.status, headers: answer.headers, data: parsed(answer.body) } };
    } catch (error) {
      const code = error instanceof HttpRequestError ? error.code : "ERROR";
      const reason = error instanceof Error && error.message !== "" ? error.message : code;
      return { kind: "noAnswer", reason: reason.includes(code) ? reason : `${code}: ${reason}`,
        delivered: !notDeliveredCodes.has(code) };
    }
  }
}

interface CallProgress {
  attempts: number;
  /** The last retryable error a node answered with. */
  lastAnswer: MarketClientError | null;
  /** Why the last attempt without an answer failed. */
  lastReason: string | null;
  outcomeUnknown: boolean;
  lastEndpoint: string | null;
  /** The indexes of the endpoints tried in this call. */
  readonly tried: Set<number>;
  /** Those whose last attempt never reached the node (connection refused, no such host). */
  readonly refused: Set<number>;
}

function finalError(progress: CallProgress, endpoints: readonly string[],
  method: string): MarketClientError {
  const { lastAnswer, attempts } = progress;
  if (lastAnswer !== null) {
    return new MarketClientError({ code: lastAnswer.code, status: lastAnswer.status,
      message: lastAnswer.message, details: lastAnswer.details, endpoint: lastAnswer.endpoint,
      attempts, outcomeUnknown: progress.outcomeUnknown && method === "POST" });
  }
  const reason = progress.lastReason ?? "every endpoint's circuit breaker is open";
  return new MarketClientError({ code: "unreachable", status: 0, endpoint: progress.lastEndpoint,
    attempts, outcomeUnknown: progress.outcomeUnknown,
    message: `cannot reach the cluster at ${endpoints.join(", ")} (last error: ${reason})` });
}

/** The MarketClientError for a non-success answer. */
function answerError(response: ClientResponse, endpoint: string, attempts: number,
  outcomeUnknown: boolean): MarketClientError {
  const body = isRecord(response.data) ? response.data.error : undefined;
  if (isRecord(body) && typeof body.code === "string" && typeof body.message === "string") {
    const { code, message, ...details } = body;
    return new MarketClientError({ code: code as MarketClientError["code"],
      status: response.status, message, details, endpoint, attempts,
      outcomeUnknown: outcomeUnknown || response.status === 504 });
  }
  return new MarketClientError({ code: "unexpected_response", status: response.status,
    endpoint, attempts, outcomeUnknown,
    message: `unexpected answer from ${endpoint}: HTTP ${response.status}` });
}

function field<T>(body: Record<string, unknown>, key: string): T {
  const value = body[key];
  if (!isRecord(value)) {
    throw new MarketClientError({ code: "unexpected_response", status: 200,
      message: `the answer has no "${key}"` });
  }
  return value as T;
}

function query(options: SearchOptions): string {
  const params = new URLSearchParams();
  if (options.q !== undefined) params.set("q", options.q);
  if (options.area !== undefined) params.set("area", options.area);
  if (options.inStock !== undefined) params.set("inStock", String(options.inStock));
  if (options.limit !== undefined) params.set("limit", String(options.limit));
  if (options.consistency !== undefined) params.set("consistency", options.consistency);
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function headerText(response: ClientResponse, name: string): string | null {
  const value: unknown = response.headers[name];
  return typeof value === "string" && value !== "" ? value : null;
}

/** A body as JSON, or as its text when it is not JSON (an answer that is not the API's). */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The numeric settings given in `options`, so that undefined never hides a default. */
function definedOnly(options: MarketClientOptions): Partial<typeof marketClientDefaults> {
  const settings: Record<string, number> = {};
  for (const key of Object.keys(marketClientDefaults)) {
    const value = (options as Record<string, unknown>)[key];
    if (typeof value === "number") settings[key] = value;
  }
  return settings as Partial<typeof marketClientDefaults>;
}
