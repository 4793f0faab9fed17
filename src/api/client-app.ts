/**
 * The client API of one node (DESIGN.md §3) as an express application. createClientApp wires
 * the JSON body reader (json-body.ts: bounded, refusals answered before the body is read),
 * request logging and metrics,
 * the routes of market-routes.ts, the admin API under /admin when `admin` is given
 * (admin-routes.ts), a JSON 404 for unknown paths and the one error middleware. The app serves
 * requests only; the caller listens (listenClientApp in client-server.ts sets the server's
 * limits) and closes.
 */
import express from "express";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import type { NodeService } from "../node/node-service.js";
import { adminRouter, type AdminOptions } from "./admin-routes.js";
import { errorMiddleware, unknownRouteHandler } from "./error-middleware.js";
import { jsonBody } from "./json-body.js";
import { LeaderForwarder } from "./leader-forwarder.js";
import { marketRouter, type RouteContext } from "./market-routes.js";

export interface ClientAppOptions {
  readonly service: NodeService;
  readonly logger: Logger;
  /** GET /metrics serves this registry; the API adds its request metrics to it. */
  readonly metricsRegistry: Registry;
  /**
   * Upper bound on the wait for a commit or a read barrier, beyond the service's own bound;
   * past it the answer is 504 timeout. Default 10 s.
   */
  readonly requestTimeoutMs?: number;
  /** Bound on one request forwarded to the leader. Default 10 s. */
  readonly forwardTimeoutMs?: number;
  /** The CA that the leader's https:// client URL is checked against (the cluster CA). */
  readonly forwardCa?: string | Buffer;
  /** Largest JSON body accepted; larger is 413 too_large. Default 64 KiB. */
  readonly bodyLimitBytes?: number;
  /** Mounts the admin API under /admin (faults, leadership transfer). Without it: 404. */
  readonly admin?: AdminOptions;
  /** Mounted under /ui: the live view (src/dashboard/node-dashboard.ts). Without it: 404. */
  readonly ui?: express.RequestHandler;
}

export const clientAppDefaults = {
  requestTimeoutMs: 10_000,
  forwardTimeoutMs: 10_000,
  bodyLimitBytes: 64 * 1024,
} as const;

/** The header every answer carries: the id of the node that answered. */
export const nodeHeader = "x-raftmarket-node";

export function createClientApp(options: ClientAppOptions): express.Application {
  const bodyLimitBytes = options.bodyLimitBytes ?? clientAppDefaults.bodyLimitBytes;
  const logger = options.logger.child({ component: "api" });
  const context: RouteContext = {
    service: options.service,
    logger,
    forwarder: new LeaderForwarder(options.forwardTimeoutMs ?? clientAppDefaults.forwardTimeoutMs,
      undefined, options.forwardCa),
    requestTimeoutMs: options.requestTimeoutMs ?? clientAppDefaults.requestTimeoutMs,
    metricsRegistry: options.metricsRegistry,
  };
  const app = express();
  app.disable("x-powered-by");
  // Reads must always be fresh: no conditional GETs answered 304 from an ETag.
  app.set("etag", false);
  app.use(requestObserver(options.service.id, logger, options.metricsRegistry));
  // Before the body parser: the admin router checks the token first, then parses its body.
  if (options.admin !== undefined) {
    app.use("/admin", adminRouter(options.admin, logger.child({ component: "admin" }),
      bodyLimitBytes));
  }
  // Before the body parser too: the view parses the body of its actions itself.
  if (options.ui !== undefined) app.use("/ui", options.ui);
  app.use(jsonBody(bodyLimitBytes));
  app.use(marketRouter(context));
  app.use(unknownRouteHandler);
  app.use(errorMiddleware(logger, bodyLimitBytes,
    (error) => options.service.storageFailed(error)));
  return app;
}

interface RequestMetrics {
  readonly requests: Counter<"method" | "route" | "status">;
  readonly durationSeconds: Histogram<"method" | "route">;
}

/**
 * The metrics are looked up before they are made: several apps may share one registry (a
 * test, or a restarted API in one process), and prom-client refuses a name registered twice.
 */
function requestMetrics(registry: Registry): RequestMetrics {
  const requests = registry.getSingleMetric("api_requests_total") as
    Counter<"method" | "route" | "status"> | undefined ?? new Counter({
    name: "api_requests_total", help: "Client API requests by method, route and status",
    labelNames: ["method", "route", "status"], registers: [registry],
  });
  const durationSeconds = registry.getSingleMetric("api_request_duration_seconds") as
    Histogram<"method" | "route"> | undefined ?? new Histogram({
    name: "api_request_duration_seconds", help: "Client API request duration",
    labelNames: ["method", "route"], registers: [registry],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  return { requests, durationSeconds };
}

/** Stamps the node id on every answer, then logs (at debug) and counts it once it is sent. */
function requestObserver(nodeId: string, logger: Logger, registry: Registry):
  express.RequestHandler {
  const metrics = requestMetrics(registry);
  return (request, response, next) => {
    const startedNs = process.hrtime.bigint();
    response.setHeader(nodeHeader, nodeId);
    response.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
      const route = (request.route as { path?: string } | undefined)?.path ?? "unmatched";
      metrics.requests.inc({ method: request.method, route, status: response.statusCode });
      metrics.durationSeconds.observe({ method: request.method, route }, seconds);
      logger.debug({ method: request.method, url: request.originalUrl,
        status: response.statusCode, ms: Math.round(seconds * 1e4) / 10 }, "request");
    });
    next();
  };
}
