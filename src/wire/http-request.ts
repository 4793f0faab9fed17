/**
 * One HTTP request on node:http, for every caller in src/: the hot paths between nodes (the
 * peer transport's POSTs, a follower forwarding a client request to the leader), MarketClient,
 * and the tools (the launcher, the admin client, local clusters, market-node --join). It replaces axios
 * there: axios's config merging and interceptors cost several per cent of a node's CPU at
 * thousands of requests per second, loading axios costs a command-line client more than a
 * hundred milliseconds at each start, and these callers need none of it. The body goes out as given and the
 * answer comes back as text, whatever the status; the caller decides what a status means.
 *
 * Bounded: `timeoutMs` bounds the whole exchange, from the start to the last byte of the
 * answer; `responseBytesMax` bounds the answer. Failures reject with an HttpRequestError whose
 * `code` says whether the request can have reached the server: connection errors keep the
 * system's code (ECONNREFUSED: it never left), our timeout is ETIMEDOUT, an abort ERR_ABORTED.
 * An https:// URL goes through node:https; its `agent` must then be an https.Agent (which
 * carries the trusted CA and any client certificate).
 */
import http from "node:http";
import https from "node:https";

export interface HttpRequestOptions {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly agent?: http.Agent;
  readonly timeoutMs: number;
  readonly responseBytesMax?: number;
  readonly signal?: AbortSignal;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export class HttpRequestError extends Error {
  override readonly name = "HttpRequestError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export const responseBytesMaxDefault = 16 * 1024 * 1024;

export function httpRequest(options: HttpRequestOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const bytesMax = options.responseBytesMax ?? responseBytesMaxDefault;
    let settled = false;
    const finish = (error: HttpRequestError | null, answer?: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (error !== null) {
        request.destroy();
        reject(error);
      } else {
        resolve(answer!);
      }
    };
    const onAbort = (): void => finish(new HttpRequestError("ERR_ABORTED", "request aborted"));
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers["content-length"] = Buffer.byteLength(options.body);
    const client = options.url.startsWith("https:") ? https : http;
    const request = client.request(options.url, { method: options.method, headers,
      agent: options.agent }, (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > bytesMax) {
          finish(new HttpRequestError("ERR_RESPONSE_TOO_LARGE",
            `answer larger than ${bytesMax} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => finish(null, { status: response.statusCode ?? 0,
        headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", (error: NodeJS.ErrnoException) =>
        finish(new HttpRequestError(error.code ?? "ECONNRESET", error.message)));
    });
    // Before anything can destroy the request: a destroyed request emits an error.
    request.on("error", (error: NodeJS.ErrnoException) =>
      finish(new HttpRequestError(error.code ?? "ECONNRESET", error.message)));
    const timer = setTimeout(() => finish(new HttpRequestError("ETIMEDOUT",
      `no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    if (options.signal?.aborted === true) {
      onAbort();
      return;
    }
    options.signal?.addEventListener("abort", onAbort);
    request.end(options.body);
  });
}
