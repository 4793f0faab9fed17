/**
 * The live view's HTTP routes, the same under the launcher and under a node's `/ui`:
 *
 * | method and path      | answer                                                     |
 * |----------------------|------------------------------------------------------------|
 * | `GET /ui/`           | the page (HTML); `/ui` redirects here                      |
 * | `GET /ui/assets/:f`  | the bundled script and stylesheet                          |
 * | `GET /ui/info`       | `{mode, actions, tokenRequired}`                           |
 * | `GET /ui/stream`     | Server-Sent Events: one `frame` (dashboard-frame.ts) per 200 ms |
 * | `GET /ui/frame`      | one frame as JSON                                          |
 * | `POST /ui/actions`   | `{action, ...}` -> `200 {message}`                         |
 *
 * Errors are the API's (`{"error":{"code","message",...}}`, api-error.ts). Under a node the
 * actions need `authorization: Bearer <adminToken>`, which the page sends from what the user
 * typed and keeps in memory only; the launcher holds the token itself and never sends it.
 */
import express, { type Request, type Response } from "express";
import { requireAdminToken } from "../api/admin-routes.js";
import { ApiError } from "../api/api-error.js";
import { jsonBody } from "../api/json-body.js";
import type { ClusterWatcher } from "./cluster-watcher.js";
import { parseAction, runAction, type ActionContext } from "./dashboard-actions.js";
import { dashboardAssets, dashboardHtml } from "./dashboard-assets.js";
import type { DashboardInfo, DashboardMode } from "./dashboard-frame.js";

export interface DashboardRouterOptions {
  readonly mode: DashboardMode;
  readonly title: string;
  readonly watcher: ClusterWatcher;
  readonly actions: ActionContext;
  /** The actions offered. */
  readonly offered: readonly string[];
  /** Under a node: the token actions must carry. Under the launcher: null (none asked). */
  readonly requiredToken: string | null;
  readonly bodyLimitBytes?: number;
}

/** Largest body of an action. */
const actionBodyLimitBytes = 4096;

export function dashboardRouter(options: DashboardRouterOptions): express.Router {
  const router = express.Router({ strict: true });
  const html = dashboardHtml(options.title);
  router.get("/", (request, response) => {
    if (!request.originalUrl.split("?")[0]!.endsWith("/")) {
      response.redirect(302, `${request.baseUrl}/`);
      return;
    }
    response.set("cache-control", "no-store").type("html").send(html);
  });
  router.get("/favicon.ico", (_request, response) => {
    response.status(204).end();
  });
  router.get("/assets/:name", async (request, response) => {
    const name = request.params.name;
    const asset = (await dashboardAssets()).get(typeof name === "string" ? name : "");
    if (asset === undefined) {
      throw new ApiError("not_found", "no such asset", { resource: "asset" });
    }
    response.set("cache-control", "no-cache").type(asset.contentType).send(asset.body);
  });
  const info: DashboardInfo = { mode: options.mode, actions: options.offered,
    tokenRequired: options.requiredToken !== null };
  router.get("/info", (_request, response) => {
    response.json(info);
  });
  router.get("/frame", (_request, response) => {
    response.json(options.watcher.frame());
  });
  router.get("/stream", (request, response) => streamFrames(options.watcher, request, response));
  router.post("/actions", ...(options.requiredToken === null ? []
    : [requireAdminToken(options.requiredToken)]),
  jsonBody(options.bodyLimitBytes ?? actionBodyLimitBytes), async (request, response) => {
    const action = parseAction(request.body, options.watcher.ids, options.offered);
    const message = await runAction(action, options.actions);
    response.json({ message });
  });
  return router;
}

/** Server-Sent Events: a frame per round; a client that cannot keep up skips frames. */
function streamFrames(watcher: ClusterWatcher, request: Request, response: Response): void {
  response.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  response.write("retry: 1000\n\n");
  let blocked = false;
  response.on("drain", () => (blocked = false));
  const stop = watcher.watch((frame) => {
    // A reader that cannot keep up skips frames; the events and samples of a skipped frame
    // come with the next one it takes.
    if (blocked) return false;
    blocked = !response.write(`event: frame\ndata: ${JSON.stringify(frame)}\n\n`);
    return true;
  });
  request.on("close", stop);
  response.on("close", stop);
}
