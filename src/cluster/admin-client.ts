/**
 * A small HTTP client for the chaos runner: keep-alive JSON requests to one node with a hard
 * timeout, that never throw for an HTTP status and tell a connection error (the request may or
 * may not have reached the node) from an answer. Built on node:http so that every outcome can
 * be classified precisely (DESIGN.md §3: 504 and lost connections are "unknown"). An https://
 * base URL goes over node:https, trusting `ca` (the cluster CA).
 */
import http from "node:http";
import https from "node:https";

export type NodeAnswer =
  | { readonly kind: "answer"; readonly status: number; readonly body: unknown }
  /** No answer: timeout, refused, reset. `code` is the error code or "timeout". */
  | { readonly kind: "noAnswer"; readonly code: string };

export class NodeHttpClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  private readonly client: typeof http | typeof https;

  constructor(baseUrl: string, private readonly defaultTimeoutMs = 2000,
    private readonly adminToken?: string, ca?: string | null) {
    this.url = new URL(baseUrl);
    const options = { keepAlive: true, maxSockets: 64 };
    const secure = this.url.protocol === "https:";
    this.client = secure ? https : http;
    this.agent = secure ? new https.Agent({ ...options, ...(ca == null ? {} : { ca }) })
      : new http.Agent(options);
  }

  request(method: string, path: string, body?: unknown, timeoutMs = this.defaultTimeoutMs):
    Promise<NodeAnswer> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (answer: NodeAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { accept: "application/json" };
      if (payload !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(Buffer.byteLength(payload));
      }
      if (this.adminToken !== undefined) headers.authorization = `Bearer ${this.adminToken}`;
      const request = this.client.request({
        host: this.url.hostname, port: this.url.port, method, path, headers, agent: this.agent,
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error: NodeJS.ErrnoException) =>
          finish({ kind: "noAnswer", code: error.code ?? "error" }));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text === "" ? null : JSON.parse(text);
          } catch {
            // Not JSON: keep the text.
          }
          finish({ kind: "answer", status: response.statusCode ?? 0, body: parsed });
        });
      });
      const timer = setTimeout(() => {
        finish({ kind: "noAnswer", code: "timeout" });
        request.destroy();
      }, timeoutMs);
      request.on("error", (error: NodeJS.ErrnoException) =>
        finish({ kind: "noAnswer", code: error.code ?? "error" }));
      request.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The error code of an API error body (`{"error":{"code"}}`), or undefined. */
export function errorCodeOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: { code?: unknown } }).error;
  return typeof error?.code === "string" ? error.code : undefined;
}
