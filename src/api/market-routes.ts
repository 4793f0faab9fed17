/**
 * The routes of DESIGN.md §3. Writes are validated here (a bad body is 400 without a round
 * trip), submitted to the node, and answered from the state machine's result; a follower
 * forwards them to the leader. Reads are linearizable by default (a read barrier first, then
 * the local state machine) or, with `consistency=stale`, served locally at once; both report
 * the appliedIndex they were served at.
 */
import express, { type Request, type Response } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import {
  marketLimits,
  validateAddStockRequest,
  validateBuyRequest,
  validateCancelRequest,
  validateCreateItemRequest,
  validateSearchQuery,
  type MarketResult,
  type RequestValidation,
} from "../market/index.js";
import type { NodeService, SubmitOutcome } from "../node/node-service.js";
import { logTailEntriesMax } from "../node/log-tail.js";
import { raftEventRingCapacity } from "../node/raft-event-log.js";
import {
  chartCountersOf,
  chartMetricNames,
  type ChartCounters,
  type MetricSample,
} from "../wire/chart-counters.js";
import {
  ApiError,
  invalidRequest,
  noLeader,
  rejectionToApiError,
  timeoutError,
  truncateForMessage,
} from "./api-error.js";
import { isForwarded, leaderHeader, type LeaderForwarder } from "./leader-forwarder.js";
import { sendJson } from "./send-json.js";

export interface RouteContext {
  readonly service: NodeService;
  readonly logger: Logger;
  readonly forwarder: LeaderForwarder;
  readonly requestTimeoutMs: number;
  readonly metricsRegistry: Registry;
}

export type Consistency = "linearizable" | "stale";

/** The query keys each route reads; any other key, or a key given twice, is 400. */
const queryKeys = {
  none: [],
  read: ["consistency"],
  search: ["q", "area", "inStock", "limit", "consistency"],
  events: ["after", "limit"],
  log: ["limit"],
  overview: ["logLimit", "eventsAfter", "eventsLimit"],
} as const satisfies Record<string, readonly string[]>;

export function marketRouter(context: RouteContext): express.Router {
  const router = express.Router();
  const write = (status: number, validate: (request: Request) => RequestValidation) =>
    async (request: Request, response: Response): Promise<void> => {
      checkQueryKeys(request, queryKeys.none);
      await handleWrite(context, request, response, validate(request), status);
    };

  router.post("/v1/items", write(201, (request) => validateCreateItemRequest(request.body)));
  router.post("/v1/items/:sku/stock", write(200, (request) =>
    validateAddStockRequest(pathParameter(request, "sku"), request.body)));
  router.post("/v1/orders", write(201, (request) => validateBuyRequest(request.body)));
  router.post("/v1/orders/:orderId/cancel", write(200, (request) =>
    validateCancelRequest(pathParameter(request, "orderId"), request.body)));

  router.get("/v1/items", async (request, response) => {
    checkQueryKeys(request, queryKeys.search);
    const checked = validateSearchQuery(request.query);
    if (!checked.ok) throw invalidRequest(checked.field, checked.message);
    const appliedIndex = await readPoint(context, request);
    const items = context.service.market().searchItems(checked.query);
    sendJson(response, 200, { items, appliedIndex });
  });
  router.get("/v1/items/:sku", async (request, response) => {
    checkQueryKeys(request, queryKeys.read);
    const sku = pathParameter(request, "sku");
    const appliedIndex = await readPoint(context, request);
    const item = context.service.market().getItem(sku);
    if (item === undefined) {
      throw new ApiError("not_found", `no item with sku ${sku}`, { resource: "item", sku });
    }
    sendJson(response, 200, { item, appliedIndex });
  });
  router.get("/v1/orders/:orderId", async (request, response) => {
    checkQueryKeys(request, queryKeys.read);
    const orderId = pathParameter(request, "orderId");
    const appliedIndex = await readPoint(context, request);
    const order = context.service.market().getOrder(orderId);
    if (order === undefined) {
      throw new ApiError("not_found", `no order ${orderId}`, { resource: "order", orderId });
    }
    sendJson(response, 200, { order, appliedIndex });
  });

  router.get("/v1/cluster/status", (request, response) => {
    checkQueryKeys(request, queryKeys.none);
    response.json(context.service.status());
  });
  // This node's recent Raft events (raft-event-log.ts), after seq `after`, oldest first.
  router.get("/v1/cluster/events", (request, response) => {
    checkQueryKeys(request, queryKeys.events);
    const after = queryInteger(request, "after", 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = queryInteger(request, "limit", 1, raftEventRingCapacity, 100);
    response.json(context.service.raftEvents(after, limit));
  });
  // The last entries of this node's log: index, term and kind, never the data (log-tail.ts).
  router.get("/v1/cluster/log", (request, response) => {
    checkQueryKeys(request, queryKeys.log);
    const limit = queryInteger(request, "limit", 1, logTailEntriesMax, 20);
    response.json(context.service.logTail(limit));
  });
  // The three above in one answer, as of one moment: what the live view reads of every node
  // five times a second (one request instead of three, for the node and for the reader).
  router.get("/v1/cluster/overview", (request, response) => {
    checkQueryKeys(request, queryKeys.overview);
    const logLimit = queryInteger(request, "logLimit", 1, logTailEntriesMax, 20);
    const eventsAfter = queryInteger(request, "eventsAfter", 0, Number.MAX_SAFE_INTEGER, 0);
    const eventsLimit = queryInteger(request, "eventsLimit", 1, raftEventRingCapacity, 100);
    response.json({ status: context.service.status(), log: context.service.logTail(logLimit),
      events: context.service.raftEvents(eventsAfter, eventsLimit) });
  });
  // The few counters the live view's charts read, without producing the whole text of
  // /metrics below (wire/chart-counters.ts says what it saves).
  router.get("/v1/cluster/counters", async (request, response) => {
    checkQueryKeys(request, queryKeys.none);
    response.json(await chartCountersIn(context.metricsRegistry));
  });
  // Not checked: a Prometheus scraper may add parameters of its own.
  router.get("/metrics", async (_request, response) => {
    const text = await context.metricsRegistry.metrics();
    response.type(context.metricsRegistry.contentType).send(text);
  });
  return router;
}

/** The chart counters of the metrics in `registry` (those it does not hold count nothing). */
async function chartCountersIn(registry: Registry): Promise<ChartCounters> {
  const samples: MetricSample[] = [];
  for (const name of chartMetricNames) {
    const metric = registry.getSingleMetric(name);
    if (metric === undefined) continue;
    for (const value of (await metric.get()).values) {
      samples.push({ name: (value as { metricName?: string }).metricName ?? name,
        labels: value.labels, value: value.value });
    }
  }
  return chartCountersOf(samples);
}

/**
 * 400 naming the first query key the route does not read, or one given as an array or an
 * object (`inStock[]=true`, `area[a]=b`, `limit=1&limit=2`): silently ignoring it would answer
 * an unfiltered search as if the filter had been applied.
 */
function checkQueryKeys(request: Request, allowed: readonly string[]): void {
  for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
    const field = truncateForMessage(key);
    if (!allowed.includes(key)) {
      throw new ApiError("invalid_request", `query parameter ${field} is not supported on this ` +
        `route (supported: ${allowed.length === 0 ? "none" : allowed.join(", ")})`, { field });
    }
    if (typeof value !== "string") {
      throw invalidRequest(field, "must be given once, as key=value");
    }
  }
}

/** An integer query parameter in [min, max], `fallback` when absent; 400 naming it otherwise. */
function queryInteger(request: Request, name: string, min: number, max: number,
  fallback: number): number {
  const raw = (request.query as Record<string, string | undefined>)[name];
  if (raw === undefined) return fallback;
  const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidRequest(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A path parameter, refused (and echoed only in part) if no sku or orderId can be so long. */
function pathParameter(request: Request, name: "sku" | "orderId"): string {
  const raw: unknown = request.params[name];
  const value = typeof raw === "string" ? raw : "";
  const lengthMax = name === "sku" ? marketLimits.skuLengthMax : marketLimits.orderIdLengthMax;
  if (value.length > lengthMax) {
    throw new ApiError("invalid_request", `${name} must be at most ${lengthMax} characters ` +
      `(got ${truncateForMessage(value)})`, { field: name });
  }
  return value;
}

async function handleWrite(context: RouteContext, request: Request, response: Response,
  validation: RequestValidation, successStatus: number): Promise<void> {
  if (!validation.ok) throw invalidRequest(validation.field, validation.message);
  const outcome = await withTimeout(context.service.submit(validation.request),
    context.requestTimeoutMs, { kind: "timeout" } satisfies SubmitOutcome);
  switch (outcome.kind) {
    case "applied":
      sendResult(response, outcome.result, successStatus);
      return;
    case "notLeader":
      await forwardToLeader(context, request, response, outcome.leaderId);
      return;
    case "overloaded":
      throw new ApiError("unavailable", "the node is overloaded (its proposal queue is full); " +
        "retry shortly");
    case "timeout":
      throw timeoutError(`the write was not committed within the node's bound`);
    case "unknown":
      throw new ApiError("timeout", "leadership changed while the write was pending; the " +
        "outcome is unknown: retry with the same requestId", { leaderId: outcome.leaderId });
    default:
      throw new Error(`unhandled submit outcome ${JSON.stringify(outcome satisfies never)}`);
  }
}

function sendResult(response: Response, result: MarketResult, successStatus: number): void {
  if (!result.ok) throw rejectionToApiError(result);
  if (result.kind === "item") sendJson(response, successStatus, { item: result.item });
  else sendJson(response, successStatus, { order: result.order });
}

/**
 * A follower relays a write to the leader it knows. A request that was already forwarded is
 * never forwarded again: two nodes with stale views of each other would bounce it forever.
 */
async function forwardToLeader(context: RouteContext, request: Request, response: Response,
  leaderId: string | null): Promise<void> {
  const { service } = context;
  if (leaderId === null || leaderId === service.id) throw noLeader(leaderId);
  if (isForwarded(request)) {
    throw noLeader(leaderId, `node ${service.id} is not the leader (it believes ${leaderId} ` +
      "is) and does not forward a forwarded request; retry shortly");
  }
  const leaderUrl = service.clientUrlOf(leaderId);
  if (leaderUrl === null) throw noLeader(leaderId, `leader ${leaderId} has no known address`);
  const relayed = await context.forwarder.forward(request, leaderId, leaderUrl);
  context.logger.debug({ leaderId, status: relayed.status, url: request.originalUrl },
    "forwarded to the leader");
  response.status(relayed.status).type(relayed.contentType).set(leaderHeader, leaderId)
    .send(relayed.body);
}

export function parseConsistency(value: unknown): Consistency {
  if (value === undefined || value === "linearizable") return "linearizable";
  if (value === "stale") return "stale";
  throw invalidRequest("consistency", "must be linearizable or stale");
}

/**
 * Waits until this node may answer a read: at once for a stale read, after a read barrier for
 * a linearizable one. Returns the appliedIndex the answer is served at.
 */
async function readPoint(context: RouteContext, request: Request): Promise<number> {
  const { service } = context;
  if (parseConsistency(request.query.consistency) === "stale") {
    return service.market().appliedIndex;
  }
  const outcome = await withTimeout(service.readBarrier(), context.requestTimeoutMs,
    { kind: "timeout" } as const);
  switch (outcome.kind) {
    case "ready":
      return service.market().appliedIndex;
    case "noLeader":
      throw noLeader(outcome.leaderId);
    case "overloaded":
      throw new ApiError("unavailable", "the node is overloaded (too many pending reads); " +
        "retry shortly");
    case "timeout":
      throw new ApiError("timeout", "the read could not be confirmed by the leader in time; " +
        "retry, or read with consistency=stale");
    default:
      throw new Error(`unhandled read outcome ${JSON.stringify(outcome satisfies never)}`);
  }
}

/** `promise`, or `onTimeout` if it has not settled within `timeoutMs`. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, onTimeout: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout), timeoutMs);
    // The server keeps the process alive while it serves; a pending wait alone should not.
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
