/**
 * The HTTP server of the client port: the one place its limits are set, used by market-node
 * and by the tests. Like the peer server (transport/http-transport.ts) it bounds the time a
 * client may take to send its headers and its whole request (slowloris), how long an idle
 * keep-alive connection stays open and how many connections are open at once; and it answers a
 * request node's parser refuses (bad request line, headers too large, timeout) with the API's
 * JSON error shape instead of node's empty answer. With the node's certificate it is HTTPS
 * (etcd's --cert-file/--key-file); clients are not asked for a certificate: TLS gives them
 * privacy and the node's identity, the admin routes keep their token.
 */
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type express from "express";
import type { Logger } from "pino";
import { ApiError, type ApiErrorCode } from "./api-error.js";
import { expressServerClasses } from "../wire/express-classes.js";

export interface ClientServerSettings {
  /** Bound on receiving a request's headers. */
  readonly headersTimeoutMs: number;
  /** Bound on receiving a whole request, body included (not on answering it). */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
  /** How often node checks the two bounds above; the bounds are met within this much. */
  readonly timeoutCheckIntervalMs: number;
  /** Connections beyond this many are closed as soon as they are accepted. */
  readonly connectionsMax: number;
}

export const clientServerDefaults: ClientServerSettings = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckIntervalMs: 1_000,
  connectionsMax: 1_024,
});

/** PEM texts of the node's certificate and key. */
export interface ClientServerTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** A server for the client app, with the limits above; HTTPS with `tls`. Not listening yet. */
export function createClientServer(app: express.Application,
  settings: Partial<ClientServerSettings> = {}, logger?: Logger, tls?: ClientServerTls):
  http.Server {
  const bounds = { ...clientServerDefaults, ...definedOnly(settings) };
  const limits = {
    // An express app's own request and response classes (express-classes.ts).
    ...expressServerClasses(app),
    headersTimeout: bounds.headersTimeoutMs,
    requestTimeout: bounds.requestTimeoutMs,
    keepAliveTimeout: bounds.keepAliveTimeoutMs,
    connectionsCheckingInterval: bounds.timeoutCheckIntervalMs,
  };
  const server: http.Server = tls === undefined ? http.createServer(limits, app)
    : https.createServer({ ...limits, cert: tls.cert, key: tls.key }, app);
  server.maxConnections = bounds.connectionsMax;
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    logger?.debug({ code: error.code, reason: error.message }, "malformed request refused");
    answerClientError(error, socket);
  });
  // Without a listener node drops a CONNECT silently; the API answers it like any bad request.
  server.on("connect", (_request: http.IncomingMessage, socket: Socket) => {
    answerClientError(Object.assign(new Error("CONNECT is not supported"),
      { code: "CONNECT" }), socket);
  });
  return server;
}

/** Listens on host:port (0: a free port) with createClientServer; rejects if it cannot. */
export async function listenClientApp(app: express.Application, port: number, host: string,
  options: { settings?: Partial<ClientServerSettings>; logger?: Logger;
    tls?: ClientServerTls } = {}): Promise<http.Server> {
  const server = createClientServer(app, options.settings, options.logger, options.tls);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

/** The code node's parser errors map to; anything else it refuses is a malformed request. */
function codeOfParserError(code: string | undefined): ApiErrorCode {
  switch (code) {
    case "HPE_HEADER_OVERFLOW": return "headers_too_large";
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW": return "too_large";
    case "ERR_HTTP_REQUEST_TIMEOUT": return "request_timeout";
    default: return "invalid_request";
  }
}

/**
 * Node's default, in the API's shape: answer only if nothing of a response was written on this
 * socket yet (a half-written answer must not be corrupted), then close the connection.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const code = codeOfParserError(error.code);
  const messages: Record<string, string> = {
    headers_too_large: "the request headers are too large",
    too_large: "a chunk extension is too large",
    request_timeout: "the request did not arrive in time",
  };
  if (error.code === "CONNECT") messages.invalid_request = "the client API does not tunnel";
  const apiError = new ApiError(code, messages[code] ?? "the request is not valid HTTP/1.1");
  const body = JSON.stringify(apiError.toBody());
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${apiError.status} ${http.STATUS_CODES[apiError.status] ?? ""}\r\n` +
    "content-type: application/json; charset=utf-8\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function definedOnly(settings: Partial<ClientServerSettings>): Partial<ClientServerSettings> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}
