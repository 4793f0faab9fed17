/**
 * The load generator the benchmarks share: a closed loop of N concurrent clients, each sending
 * its next request as soon as the previous one is answered, for D seconds; plain node:http(s)
 * requests on a keep-alive agent; and the resident memory of a process.
 *
 * The load generator shares the machine's cores with the servers it measures: node:http(s)
 * with a keep-alive agent costs far less CPU per request than fetch.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { LoadResult } from "./bench-stats.js";

/**
 * Sends one request (JSON body when `body` is given) and resolves with the status, 0 on a
 * connection error or a timeout. The response body is read and dropped.
 */
export function requestStatus(agent: http.Agent, method: "GET" | "POST", url: string,
  body?: unknown, timeoutMs = 5000): Promise<number> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const client = url.startsWith("https:") ? https : http;
  const headers: http.OutgoingHttpHeaders = payload === undefined ? {} :
    { "content-type": "application/json", "content-length": Buffer.byteLength(payload) };
  return new Promise((resolve) => {
    const request = client.request(url, { method, agent, timeout: timeoutMs, headers },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
        response.on("error", () => resolve(0));
      });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(0));
    request.end(payload);
  });
}

/** Like requestStatus, but resolves with the parsed JSON body of a 2xx answer, else null. */
export function requestJson(agent: http.Agent, method: "GET" | "POST", url: string,
  body?: unknown, timeoutMs = 2000): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const client = url.startsWith("https:") ? https : http;
  return new Promise((resolve) => {
    const request = client.request(url, { method, agent, timeout: timeoutMs,
      headers: payload === undefined ? {} : { "content-type": "application/json" } },
    (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        try {
          resolve(status >= 200 && status < 300
            ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : null);
        } catch {
          resolve(null);
        }
      });
      response.on("error", () => resolve(null));
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(null));
    request.end(payload);
  });
}

/**
 * Runs `clients` concurrent closed-loop clients for `seconds`. `send(client, k)` sends the k-th
 * request of a client and resolves with its HTTP status (0: no answer); `okStatus` is the one
 * status that counts as success, every other one is an error.
 */
export async function closedLoop(clients: number, seconds: number, okStatus: number,
  send: (client: number, k: number) => Promise<number>): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let okCount = 0;
  let errorCount = 0;
  const errorsByStatus = new Map<number, number>();
  const startMs = performance.now();
  const endMs = startMs + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    for (let k = 0; performance.now() < endMs; k++) {
      const sentMs = performance.now();
      const status = await send(client, k);
      if (status === okStatus) {
        okCount++;
        latenciesMs.push(performance.now() - sentMs);
      } else {
        errorCount++;
        errorsByStatus.set(status, (errorsByStatus.get(status) ?? 0) + 1);
      }
    }
  }));
  return { okCount, errorCount, errorsByStatus, latenciesMs,
    seconds: (performance.now() - startMs) / 1000 };
}

/** Resident memory of a process in MiB, from /proc (null where there is none). */
export function residentMiB(pid: number | undefined): number | null {
  return residentFieldMiB(pid, "VmRSS");
}

/**
 * The parts of the resident memory: anonymous (the heap and other private memory) and
 * file-backed (mapped files: for a node, mostly its LMDB database pages, which the kernel may
 * reclaim). Null where there is no process.
 */
export function residentSplitMiB(pid: number | undefined): { anon: number; file: number } | null {
  const anon = residentFieldMiB(pid, "RssAnon");
  const file = residentFieldMiB(pid, "RssFile");
  return anon === null || file === null ? null : { anon, file };
}

function residentFieldMiB(pid: number | undefined, field: string): number | null {
  if (pid === undefined) return null;
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
      readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
}
