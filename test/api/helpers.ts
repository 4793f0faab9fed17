/**
 * Helpers for tests that serve an express app or a plain handler on 127.0.0.1 with a free
 * port (port 0) and close it, connections included, in an after hook.
 */
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { Registry } from "prom-client";
import {
  createClientApp,
  listenClientApp,
  type ClientAppOptions,
  type ClientServerSettings,
} from "../../src/api/index.js";
import type { NodeService } from "../../src/node/node-service.js";

export const silentLogger: Logger = pino({ level: "silent" });

export interface Served {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function serve(handler: http.RequestListener): Promise<Served> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return served(server);
}

function served(server: http.Server): Served {
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The client app over a FakeNodeService, served as market-node serves it (listenClientApp). */
export async function serveNode(service: NodeService,
  options: Partial<ClientAppOptions> = {},
  settings: Partial<ClientServerSettings> = {}): Promise<Served & { server: http.Server }> {
  const app = createClientApp({
    service, logger: silentLogger, metricsRegistry: new Registry(), ...options,
  });
  const server = await listenClientApp(app, 0, "127.0.0.1", { settings });
  return { ...served(server), server };
}

/** A port that was free a moment ago and has nothing listening on it now. */
export async function closedPort(): Promise<number> {
  const served = await serve((_request, response) => response.end());
  await served.close();
  return served.port;
}

/**
 * A server on 127.0.0.1 that accepts connections and never answers, as a paused (SIGSTOP) node
 * seems to its clients: the kernel completes the handshake, nobody reads. close() drops every
 * connection.
 */
export async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface JsonAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One request with a JSON body (or raw text), answered as JSON when it parses. */
export async function request(url: string, method = "GET", body?: unknown,
  headers: Record<string, string> = {}): Promise<JsonAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "content-type": "application/json", ...headers };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (the metrics page): keep the text.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
