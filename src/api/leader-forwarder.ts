/**
 * Forwarding a client request from a follower to the leader (DESIGN.md §3: any node accepts
 * any request). The original method, path, query and JSON body go to the leader's client API
 * through one keep-alive agent, with `x-raftmarket-forwarded: 1` so that the leader, if it is
 * not the leader any more, answers instead of forwarding again (no forwarding loops). The
 * leader's status and body are relayed unchanged.
 */
import http from "node:http";
import https from "node:https";
import axios, { type AxiosInstance } from "axios";
import type { Request } from "express";
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
  private readonly client: AxiosInstance;

  constructor(private readonly timeoutMs: number, socketsPerLeaderMax = 64) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: socketsPerLeaderMax });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: socketsPerLeaderMax });
    this.client = axios.create({
      timeout: timeoutMs,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      // Relay every status and the body byte for byte: the leader's answer is the answer.
      validateStatus: () => true,
      responseType: "text",
      transformResponse: [(data: unknown) => data],
      maxRedirects: 0,
      proxy: false,
    });
  }

  /**
   * Sends `request` to the leader at `leaderUrl`. A leader that cannot be reached gives 503
   * unavailable (the request was not delivered, so it did not happen); a timeout or a
   * connection lost after sending gives 504 timeout (it may have happened).
   */
  async forward(request: Request, leaderId: string, leaderUrl: string): Promise<ForwardedResponse> {
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    try {
      const response = await this.client.request<string>({
        method: request.method,
        url: new URL(request.originalUrl, leaderUrl).toString(),
        data: hasBody ? JSON.stringify(request.body ?? null) : undefined,
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
        body: response.data,
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
  const code = axios.isAxiosError(error) ? error.code ?? "error" : "error";
  if (notDeliveredCodes.has(code)) {
    return new ApiError("unavailable", `leader ${leaderId} at ${leaderUrl} cannot be reached ` +
      `(${code}); retry shortly`, { leaderId });
  }
  const what = code === "ECONNABORTED" || code === "ETIMEDOUT"
    ? `no answer from leader ${leaderId} within ${timeoutMs} ms`
    : `the connection to leader ${leaderId} failed (${code})`;
  return new ApiError("timeout", `${what}; the outcome is unknown: retry with the same requestId`,
    { leaderId });
}
