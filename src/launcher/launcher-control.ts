/**
 * The launcher's control socket: how `npm run fault -- restart n1` asks the `npm run cluster`
 * that owns a cluster to start a node again, so the node's output stays in the launcher's
 * terminal with the others'. HTTP on a Unix socket, so there is no port to pick or collide,
 * named by a hash of the cluster file's absolute path in the temporary folder: a path beside
 * the file could pass the 107-byte limit of a socket path, which the OS truncates silently.
 * Kill, pause and resume need no launcher: they signal the pid in the node's data folder LOCK
 * (storage/dir-lock.ts).
 */
import { createHash } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import http from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** The node states a launcher reports. */
export interface LaunchedNode {
  readonly id: string;
  /** The pid of the running process, or null when the node is down. */
  readonly pid: number | null;
}

/** What the control socket asks the launcher to do. */
export interface LauncherActions {
  nodes(): LaunchedNode[];
  /** Starts the node if it is down; returns its pid, or an error sentence. */
  start(id: string): Promise<{ pid: number } | { error: string }>;
}

/** The socket of the launcher of `configPath`, the same for every process that names it. */
export function controlSocketPath(configPath: string): string {
  const digest = createHash("sha256").update(path.resolve(configPath)).digest("hex");
  return path.join(tmpdir(), `raftmarket-launcher-${digest.slice(0, 16)}.sock`);
}

/** Whether something accepts connections on the socket `socketPath`. */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Serves `actions` on the control socket of `configPath`. Throws if another launcher of the same
 * cluster file is already listening; a socket file left by a launcher that crashed is replaced.
 */
export async function serveLauncherControl(configPath: string, actions: LauncherActions):
  Promise<{ socketPath: string; close(): void }> {
  const socketPath = controlSocketPath(configPath);
  if (existsSync(socketPath)) {
    if (await socketAnswers(socketPath)) {
      throw new Error(`a launcher for ${configPath} is already running (its control socket ` +
        `${socketPath} answers); stop it first`);
    }
    unlinkSync(socketPath);
  }
  const server = http.createServer((request, response) => {
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    const match = /^\/nodes\/([^/]+)\/start$/.exec(request.url ?? "");
    if (request.method === "GET" && request.url === "/nodes") {
      reply(200, { nodes: actions.nodes() });
    } else if (request.method === "POST" && match !== null) {
      actions.start(decodeURIComponent(match[1]!)).then(
        (result) => reply("error" in result ? 409 : 200, result),
        (error: Error) => reply(500, { error: error.message }));
    } else {
      reply(404, { error: "unknown control request" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  // Not unref'd: with every node killed, this server is what keeps the launcher alive for the
  // restart that brings them back.
  return {
    socketPath,
    close(): void {
      server.close();
      try {
        unlinkSync(socketPath);
      } catch {
        // Already gone.
      }
    },
  };
}

/** Thrown when no launcher answers on the control socket. */
export class NoLauncherError extends Error {
  override readonly name = "NoLauncherError";
}

/** One request to the launcher of `configPath`; resolves with the status and parsed body. */
export function askLauncher(configPath: string, method: "GET" | "POST", urlPath: string,
  timeoutMs = 10_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const socketPath = controlSocketPath(configPath);
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, method, path: urlPath, timeout: timeoutMs },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          try {
            resolve({ status: response.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`the launcher answered ${response.statusCode} with no JSON`));
          }
        });
      });
    request.on("timeout", () => request.destroy(new Error("the launcher did not answer in time")));
    request.on("error", (error: NodeJS.ErrnoException) => {
      reject(error.code === "ENOENT" || error.code === "ECONNREFUSED"
        ? new NoLauncherError(`no launcher is running for ${configPath} (no answer on ` +
          `${socketPath}); restart needs a cluster started with npm run cluster`)
        : error);
    });
    request.end();
  });
}
