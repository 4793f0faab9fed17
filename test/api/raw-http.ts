/**
 * Raw HTTP/1.1 over node:net for tests that must send what fetch refuses to (malformed
 * escapes, lying Content-Length, bad encodings, bytes that are not HTTP) and see exactly what
 * comes back, including whether the server closed the connection.
 */
import net from "node:net";

export interface RawAnswer {
  /** 0 when the connection ended (or was reset) before a whole head arrived. */
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** How the exchange ended: a whole answer, the server closing or resetting, our bound. */
  readonly ending: "answered" | "closed" | "reset" | "timeout";
  readonly elapsedMs: number;
}

export interface RawOptions {
  /** Bound on the whole exchange; past it the answer is whatever arrived. Default 5 s. */
  readonly timeoutMs?: number;
  /**
   * Half-close our side once `bytes` are written (default false). Node's server then aborts a
   * request still being handled (httpAllowHalfOpen is off), as for a client that went away.
   */
  readonly endAfterWrite?: boolean;
  /** Called once connected, to keep writing (a body that never ends, bytes sent slowly). */
  readonly onConnect?: (socket: net.Socket) => void;
}

/** Sends `bytes` to 127.0.0.1:port and reads one answer (it stops at the first complete one). */
export function rawRequest(port: number, bytes: Buffer | string, options: RawOptions = {}):
  Promise<RawAnswer> {
  const startedMs = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (ending: RawAnswer["ending"]): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseAnswer(received);
      resolve({ ...parsed, ending: parsed.status === 0 && ending === "answered" ? "closed"
        : ending, elapsedMs: Date.now() - startedMs });
    };
    const timer = setTimeout(() => finish("timeout"), options.timeoutMs ?? 5000);
    socket.on("connect", () => {
      socket.write(bytes, () => {
        if (options.endAfterWrite ?? false) socket.end();
      });
      options.onConnect?.(socket);
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (isComplete(received)) finish("answered");
    });
    socket.on("error", () => finish(isComplete(received) ? "answered" : "reset"));
    socket.on("close", () => finish(isComplete(received) ? "answered" : "closed"));
  });
}

function headerEnd(bytes: Buffer): number {
  return bytes.indexOf("\r\n\r\n");
}

function isComplete(bytes: Buffer): boolean {
  const end = headerEnd(bytes);
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(bytes.subarray(0, end).toString("latin1"));
  return length !== null && bytes.length - (end + 4) >= Number(length[1]);
}

function parseAnswer(bytes: Buffer): Pick<RawAnswer, "status" | "headers" | "body"> {
  const end = headerEnd(bytes);
  // A HEAD answer announces a length it does not send: the head alone counts once closed.
  if (end < 0) return { status: 0, headers: {}, body: "" };
  const [statusLine = "", ...lines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: bytes.subarray(end + 4).toString("utf8") };
}

/** A request's bytes: request line, headers (content-length added for a body unless given). */
export function rawBytes(method: string, target: string, headers: Record<string, string> = {},
  body?: Buffer | string): Buffer {
  const all: Record<string, string> = { host: "127.0.0.1", connection: "close", ...headers };
  const bodyBytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const named = Object.keys(all).map((name) => name.toLowerCase());
  if (body !== undefined && !named.includes("content-length") &&
    !named.includes("transfer-encoding")) {
    all["content-length"] = String(bodyBytes.length);
  }
  const head = `${method} ${target} HTTP/1.1\r\n` +
    Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n";
  return Buffer.concat([Buffer.from(head, "latin1"), bodyBytes]);
}

/** The answer's body as `{error: {code, message}}`, or null if it is not that shape. */
export function errorShape(body: string): { code: string; message: string } | null {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    const error = parsed.error;
    if (typeof error?.code === "string" && typeof error.message === "string") {
      return { code: error.code, message: error.message };
    }
  } catch {
    // Not JSON: not the shape.
  }
  return null;
}
