/**
 * Forwarding a client request from a follower to the leader (DESIGN.md §3: any node accepts
 * any request). The original method, path, query and JSON body go to the leader's client API
 * through one keep-alive agent, with `x-raftmarket-forwarded: 1` so that the leader, if it is
 * not the leader any more, answers instead of forwarding again (no forwarding loops). The
 * leader's status and body are relayed unchanged.
 */
import http from "node:http";
import https from "node:https";
import type { Request } from "express";
import { httpRequest, HttpRequestError } from "../wire/http-request.js";
import { ApiError } from "./api-error.js";

export const forwardedHeader = "x-raftmarket-forwarded";
/** Set on a relayed answer: the id of the leader that produced it. */
export const leaderHeader = "x-raftmarket-leader";

export interface ForwardedResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Whether `request` already came through a follower. */
export function isForwarded(request: Request): boolean {
  return request.get(forwardedHeader) !== undefined;
}

export class LeaderForwarder {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  /** `ca`: the CA that signs the leaders' certificates, for https:// leader URLs. */
  constructor(private readonly timeoutMs: number, socketsPerLeaderMax = 64,
    ca?: string | Buffer) {
    const options = { keepAlive: true, maxSockets: socketsPerLeaderMax };
    this.httpAgent = new http.Agent(options);
    this.httpsAgent = new https.Agent({ ...options, ...(ca === undefined ? {} : { ca }) });
  }

  /**
   * Sends `request` to the leader at `leaderUrl`. A leader that cannot be reached gives 503
   * unavailable (the request was not delivered, so it did not happen); a timeout or a
   * connection lost after sending gives 504 timeout (it may have happened).
   */
  async forward(request: Request, leaderId: string, leaderUrl: string): Promise<ForwardedResponse> {
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    try {
      // Every status and the body are relayed byte for byte: the leader's answer is the answer.
      const response = await httpRequest({
        method: request.method,
        url: new URL(request.originalUrl, leaderUrl).toString(),
        body: hasBody ? JSON.stringify(request.body ?? null) : undefined,
        agent: leaderUrl.startsWith("https:") ? this.httpsAgent : this.httpAgent,
        timeoutMs: this.timeoutMs,
        headers: {
          [forwardedHeader]: "1",
          accept: "application/json",
          ...(hasBody ? { "content-type": "application/json" } : {}),
        },
      });
      const contentType = response.headers["content-type"];
      return {
        status: response.status,
        contentType: typeof contentType === "string" ? contentType : "application/json",
        body: response.body,
      };
    } catch (error) {
      throw forwardError(error, leaderId, leaderUrl, this.timeoutMs);
    }
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Connection errors that mean the request never reached the leader. */
const notDeliveredCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH",
  "EAI_AGAIN", "ERR_INVALID_URL"]);

function forwardError(error: unknown, leaderId: string, leaderUrl: string,
  timeoutMs: number): ApiError {
  // new URL() throws a TypeError with code ERR_INVALID_URL before anything is sent.
  const code = error instanceof HttpRequestError ? error.code
    : (error as { code?: unknown }).code === "ERR_INVALID_URL" ? "ERR_INVALID_URL" : "error";
  if (notDeliveredCodes.has(code)) {
    return new ApiError("unavailable", `leader ${leaderId} at ${leaderUrl} cannot be reached ` +
      `(${code}); retry shortly`, { leaderId });
  }
  const what = code === "ETIMEDOUT"
    ? `no answer from leader ${leaderId} within ${timeoutMs} ms`
    : `the connection to leader ${leaderId} failed (${code})`;
  return new ApiError("timeout", `${what}; the outcome is unknown: retry with the same requestId`,
    { leaderId });
}
