/**
 * The live view served by `npm run cluster` (dashboard: http://127.0.0.1:PORT): the page of
 * dashboard-router.ts with every action, carried out by the launcher, which holds the admin
 * token (it never reaches the browser), owns the node processes (and starts the learners
 * the page adds) and runs the built-in workload; and the market routes the page uses (search,
 * buy, an order), relayed to the leader, or to any node that answers, and answered as the node
 * answered them.
 */
import http from "node:http";
import express from "express";
import pino from "pino";
import { ApiError } from "../api/api-error.js";
import { errorMiddleware, unknownRouteHandler } from "../api/error-middleware.js";
import { jsonBody } from "../api/json-body.js";
import { AdminCluster } from "../cluster/admin-cluster.js";
import type { ClusterConfig } from "../cluster/cluster-config.js";
import { clusterClientAgent, nodeClientUrl, readClusterCa } from "../cluster/cluster-tls.js";
import { expressServerClasses } from "../wire/express-classes.js";
import { httpRequest } from "../wire/http-request.js";
import { ClusterWatcher } from "./cluster-watcher.js";
import {
  networkActions,
  newNodeActions,
  processActions,
  workloadActions,
  type NewNodeControl,
  type ProcessControl,
} from "./dashboard-actions.js";
import type { ProcessState } from "./dashboard-frame.js";
import { dashboardRouter } from "./dashboard-router.js";
import { Workload } from "./workload.js";

export interface LauncherDashboardOptions {
  readonly config: ClusterConfig;
  readonly host: string;
  /** 0: a free port. */
  readonly port: number;
  /** How often a page gets a frame (ClusterWatcher's intervalMs); absent: its default. */
  readonly frameIntervalMs?: number;
  readonly processes: ProcessControl & {
    states(): ReadonlyMap<string, { process: ProcessState; pid: number | null }>;
  };
  /** Adding learners from the page (member-add); absent: not offered. */
  readonly newNodes?: NewNodeControl;
  /**
   * Nodes outside the cluster file that the launcher runs from its start (added from the page
   * in an earlier run): watched from the start, since the watcher otherwise learns members
   * only from a leader it watches, and such a node may be the leader.
   */
  readonly addedNodes?: readonly { readonly id: string; readonly url: string }[];
}

export interface LauncherDashboard {
  readonly url: string;
  readonly watcher: ClusterWatcher;
  close(): Promise<void>;
}

const bodyLimitBytes = 64 * 1024;
const relayTimeoutMs = 15_000;

export async function serveLauncherDashboard(options: LauncherDashboardOptions):
  Promise<LauncherDashboard> {
  const { config } = options;
  const ca = readClusterCa(config);
  const urls = new Map(config.nodes.map((node) => [node.id, nodeClientUrl(config, node)]));
  const workload = new Workload([...urls.values()], Object.fromEntries(urls), ca);
  const watcher = new ClusterWatcher({
    mode: "launcher",
    nodes: [...[...urls].map(([id, url]) => ({ id, url })), ...options.addedNodes ?? []],
    tickIntervalMs: config.timing.tickIntervalMs,
    ca,
    adminToken: config.tokens.adminToken,
    processes: () => options.processes.states(),
    workload: { view: () => workload.view(), takeRates: () => workload.takeRates() },
    intervalMs: options.frameIntervalMs,
  });
  const logger = pino({ level: "warn" });
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.get("/", (_request, response) => response.redirect(302, "/ui/"));
  app.get("/favicon.ico", (_request, response) => response.status(204).end());
  app.use("/ui", dashboardRouter({
    mode: "launcher", title: `raftmarket: ${config.nodes.length} nodes of ${config.path}`,
    watcher, requiredToken: null,
    offered: [...processActions, ...networkActions, ...workloadActions,
      ...options.newNodes === undefined ? [] : newNodeActions],
    actions: {
      watcher, admin: new AdminCluster(config), processes: options.processes,
      ...options.newNodes === undefined ? {} : { newNodes: options.newNodes },
      workload: {
        start: (clients) => workload.start(clients),
        stop: () => workload.stop(),
      },
    },
  }));
  app.use(marketRelay(watcher, urls, clusterClientAgent(config)));
  app.use(unknownRouteHandler);
  app.use(errorMiddleware(logger, bodyLimitBytes, () => undefined));
  const server = http.createServer(expressServerClasses(app), app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    watcher,
    async close(): Promise<void> {
      await workload.stop();
      workload.close();
      watcher.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The market routes the page uses, relayed to the leader (else the nodes in turn). */
function marketRelay(watcher: ClusterWatcher, urls: ReadonlyMap<string, string>,
  agent: http.Agent): express.Router {
  const router = express.Router();
  const relay = async (request: express.Request, response: express.Response): Promise<void> => {
    const leader = watcher.leader();
    const order = [...urls.keys()].sort((a, b) => Number(b === leader) - Number(a === leader));
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    for (const id of order) {
      const answer = await httpRequest({ method: request.method, url: `${urls.get(id)}` +
        request.originalUrl, agent, timeoutMs: relayTimeoutMs,
      headers: body === undefined ? {} : { "content-type": "application/json" }, body })
        .catch(() => null);
      if (answer === null) continue;
      response.status(answer.status).type(String(answer.headers["content-type"] ??
        "application/json")).set("x-raftmarket-node", id).send(answer.body);
      return;
    }
    throw new ApiError("unavailable", "no node answered: is the cluster running?");
  };
  router.get("/v1/items", relay);
  router.get("/v1/items/:sku", relay);
  router.get("/v1/orders/:orderId", relay);
  router.post("/v1/orders", jsonBody(bodyLimitBytes), relay);
  return router;
}
