/**
 * A scriptable HTTP endpoint for MarketClient tests: it records every request (method, path,
 * JSON body) and answers from a queue of scripted answers, then from a default one. An answer
 * may also drop the connection without answering, as a crashed node would.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { serve, type Served } from "../api/helpers.js";

export interface ScriptedAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export type Script = ScriptedAnswer | "drop";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export class FakeEndpoint {
  readonly requests: RecordedRequest[] = [];
  readonly queue: Script[] = [];
  fallback: Script = { status: 200, body: {} };
  private served: Served | null = null;

  constructor(readonly nodeId: string) {}

  get url(): string {
    if (this.served === null) throw new Error("not started");
    return this.served.url;
  }

  async start(): Promise<this> {
    this.served = await serve((request, response) => void this.handle(request, response));
    return this;
  }

  async close(): Promise<void> {
    await this.served?.close();
  }

  /** Answers the next requests with these, in order. */
  script(...answers: Script[]): this {
    this.queue.push(...answers);
    return this;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    this.requests.push({ method: request.method ?? "", path: request.url ?? "",
      body: text === "" ? undefined : JSON.parse(text) });
    const answer = this.queue.shift() ?? this.fallback;
    if (answer === "drop") {
      request.socket.destroy();
      return;
    }
    response.writeHead(answer.status, { "content-type": "application/json",
      "x-raftmarket-node": this.nodeId, ...answer.headers });
    response.end(JSON.stringify(answer.body ?? {}));
  }
}

export function apiError(status: number, code: string, details: Record<string, unknown> = {}):
  ScriptedAnswer {
  return { status, body: { error: { code, message: `${code} happened`, ...details } } };
}

export const order = { orderId: "o-7", requestId: "x", lines: [{ sku: "a", qty: 1,
  priceCents: 100 }], status: "confirmed", totalCents: 100, index: 7 };

export const item = { sku: "a", name: "A", area: "X", priceCents: 100, stock: 3 };
