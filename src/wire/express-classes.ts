/**
 * Request and response classes for node's HTTP server whose prototypes are an express app's,
 * so that express finds every request already shaped as it wants it.
 *
 * Why: for each request express's app.handle calls Object.setPrototypeOf on node's request and
 * response, from node's IncomingMessage and ServerResponse prototypes to the app's (which add
 * req.get, res.json, ...). V8 then moves both objects to other hidden classes partway through
 * their lives, so node's own HTTP code, which reads and writes them through the whole request,
 * meets more shapes than it was optimized for. Whatever the exact mechanism, the cost is
 * measured: on this 2-core machine, 64 clients from another process at 4,000 purchases a
 * second (2026-11-29, interleaved), a bare node handler doing the purchase route's work took
 * 50-72 µs of server CPU per request, the same with the two setPrototypeOf calls added
 * 102-116, a one-route express app 138-168, and the same app with these classes 73-79. The
 * client API (createClientApp) over a service that answers at once: 174-209 µs before, 92-123
 * with them; as fast as it goes, 164 µs at 6,600 requests a second before, 73-76 at
 * 13,000-14,000 with them. A real 3-node cluster under 64 clients went from 3,600-3,850 to
 * 4,700 purchases a second, its nodes from 132-165 to 102-114 µs of CPU per purchase.
 *
 * How: node makes every request and response with the classes given to createServer (options
 * IncomingMessage and ServerResponse, honoured by https.createServer too). Subclasses whose
 * prototype objects inherit from the app's request and response are installed as the app's own
 * (app.request, app.response: express documents them as the prototypes it gives req and res,
 * and express 5's app.handle reads them afresh for each request), so express's setPrototypeOf
 * sets the prototype the object already has, which V8 skips. Every method express and the
 * routes use is where it was on the chain (the subclass prototype, then the app's, then
 * express's, then node's), `instanceof` holds for node's classes, and `req.app` and `res.app`
 * are the app's own properties of the new prototypes, as express gives them on its own (so they
 * stay right when the app is later mounted under another, which re-parents app.request). Add to
 * app.request and app.response after this, not to the objects they were before.
 */
import http from "node:http";
import type express from "express";

export interface ServerClasses {
  readonly IncomingMessage: typeof http.IncomingMessage;
  readonly ServerResponse: typeof http.ServerResponse;
}

/** What express's app.handle reads: the prototypes it gives each request and response. */
interface AppPrototypes {
  request: object;
  response: object;
}

const installed = new WeakMap<object, ServerClasses>();

/**
 * The classes for http.createServer (or https) serving `app`; installs their prototypes as the
 * app's the first time (the same classes after that, for a second server of the same app).
 */
export function expressServerClasses(app: express.Application): ServerClasses {
  const known = installed.get(app);
  if (known !== undefined) return known;
  const prototypes = app as unknown as AppPrototypes;
  class AppRequest extends http.IncomingMessage {}
  class AppResponse extends http.ServerResponse {}
  Object.setPrototypeOf(AppRequest.prototype, prototypes.request);
  Object.setPrototypeOf(AppResponse.prototype, prototypes.response);
  // As express's createApplication defines them on app.request and app.response.
  const appProperty = { configurable: true, enumerable: true, writable: true, value: app };
  Object.defineProperty(AppRequest.prototype, "app", appProperty);
  Object.defineProperty(AppResponse.prototype, "app", appProperty);
  prototypes.request = AppRequest.prototype;
  prototypes.response = AppResponse.prototype;
  const classes: ServerClasses = { IncomingMessage: AppRequest,
    ServerResponse: AppResponse as typeof http.ServerResponse };
  installed.set(app, classes);
  return classes;
}
