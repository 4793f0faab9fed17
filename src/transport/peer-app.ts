import { timingSafeEqual } from "node:crypto";
import type * as http from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { NodeId, RaftMessage } from "../raft/index.js";
import { peerIdentityPath, type PeerIdentity } from "./peer-identity.js";
import { parseRaftMessages } from "./peer-message-schema.js";
import { RateLimitedLog } from "./rate-limited-log.js";
import type { TransportCounters } from "./transport-stats.js";

/** The one peer RPC route: a POST of a JSON array of RaftMessage, answered 204. */
export const peerMessagesPath = "/raft/messages";

/** The header that names the sender's cluster on every peer request (etcd: X-Etcd-Cluster-ID). */
export const clusterIdHeader = "x-raftmarket-cluster-id";
/** The sender's own peer URL, on every batch: how a receiver answers a peer it did not know. */
export const peerUrlHeader = "x-raftmarket-peer-url";

/** How much of a peer's cluster id an answer or a log line repeats. */
const clusterIdEchoLengthMax = 128;

export interface PeerAppOptions {
  readonly self: NodeId;
  readonly peerToken: string;
  /** This node's cluster; a request from another cluster (or none) is answered 409. */
  readonly clusterId: string;
  /** Whether `id` is a current peer: messages from anyone else are refused. */
  readonly isPeer: (id: NodeId) => boolean;
  /**
   * A sender `isPeer` does not know, whose batch carried its peer URL: may it become a peer?
   * (HttpTransport.learnPeer). Absent: unknown senders are refused.
   */
  readonly learnPeer?: (id: NodeId, url: string) => boolean;
  /** The largest request body accepted; a larger one is answered 413. */
  readonly requestBytesMax: number;
  readonly logger: Logger;
  /** Updated for every request: batches and messages received, refused, invalid. */
  readonly counters: TransportCounters;
  /** Receives each accepted batch, in arrival order, after the 204 has been sent. */
  readonly accept: (messages: RaftMessage[]) => void;
  /** Answers `GET /raft/identity`; null (or none) while the node cannot say yet (503). */
  readonly identity?: () => PeerIdentity | null;
}

/**
 * The express app behind HttpTransport's peerPort. A request must carry
 * `authorization: Bearer <peerToken>` (401 otherwise) and `x-raftmarket-cluster-id:
 * <clusterId>` (409 `cluster_mismatch` otherwise), both checked before the body is read, so an
 * unauthenticated client cannot make us parse 64 MiB; then a JSON body within requestBytesMax
 * (413) holding an array of well-formed messages addressed to this node from known peers (400,
 * peer-message-schema.ts). The answer is 204 as soon as the body is validated; the messages go
 * to `accept` after it. Any refusal is a 4xx, logged at warn at most once per sender per 10 s.
 */
export function createPeerApp(options: PeerAppOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const refusals = new RateLimitedLog();
  // The identity question needs the token, not our cluster id: the asker compares the id we
  // answer with its own (node/bootstrap.ts).
  app.get(peerIdentityPath, checkToken(options, refusals), (_req: Request, res: Response) => {
    const identity = options.identity?.() ?? null;
    if (identity === null) {
      sendError(res, 503, "unavailable", "this node cannot tell its identity yet");
      return;
    }
    res.status(200).json(identity);
  });

  app.post(peerMessagesPath,
    checkToken(options, refusals),
    checkClusterId(options, refusals),
    express.json({ limit: options.requestBytesMax, strict: true }),
    (req: Request, res: Response) => {
      const contentType = req.is("application/json");
      const parsed = contentType === "application/json"
        ? parseRaftMessages(req.body, options.self, peerCheck(options, req.headers[peerUrlHeader]))
        : { ok: false as const, error: contentType === null ? "the body is empty"
          : "the body must be sent as application/json" };
      if (!parsed.ok) {
        options.counters.requestsInvalid++;
        const remoteAddress = req.socket.remoteAddress;
        refusals.record(`invalid ${remoteAddress}`, (suppressed) => options.logger.warn(
          { remoteAddress, error: parsed.error, suppressed }, "refused an invalid peer request"));
        sendError(res, 400, "invalid_request", parsed.error);
        return;
      }
      options.counters.batchesReceived++;
      options.counters.messagesReceived += parsed.messages.length;
      res.status(204).end();
      acceptOutsideExpress(options.accept, parsed.messages);
    });

  app.use((req: Request, res: Response) => {
    sendError(res, 404, "not_found", `no route ${req.method} ${req.path}`);
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(error);
    if (status >= 400 && status < 500) {
      // body-parser's refusals: not JSON (400), too large (413), an unsupported charset or
      // encoding (415). A peer's mistake, never our 500.
      options.counters.requestsInvalid++;
      const remoteAddress = req.socket.remoteAddress;
      refusals.record(`body ${remoteAddress}`, (suppressed) => options.logger.warn(
        { remoteAddress, status, error: String(error), suppressed },
        "refused an unreadable peer request body"));
      sendError(res, status, status === 413 ? "too_large" : "invalid_request",
        status === 413 ? "request body too large" : bodyErrorMessage(status));
      return;
    }
    options.logger.error({ error }, "peer request failed");
    if (!res.headersSent) sendError(res, 500, "internal", "internal error");
  });
  return app;
}

function checkToken(options: PeerAppOptions, refusals: RateLimitedLog) {
  const refuse = peerTokenRefusal(options, refusals);
  return (req: Request, res: Response, next: NextFunction): void => {
    const refusal = refuse(req);
    if (refusal === null) {
      next();
      return;
    }
    res.set("connection", "close");
    res.status(refusal.status).json(refusal.body);
  };
}

/**
 * A node of another cluster that shares our token and an address (a reused host, a copied
 * cluster file) must not vote in our elections or append to our log: refuse its traffic.
 */
function checkClusterId(options: PeerAppOptions, refusals: RateLimitedLog) {
  const refuse = peerClusterRefusal(options, refusals);
  return (req: Request, res: Response, next: NextFunction): void => {
    const refusal = refuse(req);
    if (refusal === null) {
      next();
      return;
    }
    res.status(refusal.status).json(refusal.body);
  };
}

/** Why a peer request is refused before its body is read: the status and the JSON answer. */
export interface PeerRefusal {
  readonly status: number;
  readonly body: unknown;
}

/**
 * isPeer, or, for a sender it does not know, learnPeer with the peer URL its batch carried.
 * Checked only after the token and the cluster id.
 */
export function peerCheck(options: Pick<PeerAppOptions, "isPeer" | "learnPeer">,
  header: string | string[] | undefined): (id: NodeId) => boolean {
  const url = typeof header === "string" && header.length <= 256 ? header : undefined;
  return (id) => options.isPeer(id) ||
    (url !== undefined && options.learnPeer !== undefined && options.learnPeer(id, url));
}

type RefusalOptions = Pick<PeerAppOptions, "peerToken" | "clusterId" | "logger" | "counters">;

/**
 * The token check of every peer request (POST and stream upgrade alike): null when the
 * request carries `authorization: Bearer <peerToken>`; otherwise counted, logged (rate-limited)
 * and answered 401.
 */
export function peerTokenRefusal(options: RefusalOptions, refusals: RateLimitedLog):
  (req: http.IncomingMessage) => PeerRefusal | null {
  const expected = Buffer.from(`Bearer ${options.peerToken}`);
  return (req) => {
    const header = req.headers.authorization;
    if (header !== undefined && tokenMatches(Buffer.from(header), expected)) return null;
    options.counters.requestsRefused++;
    const reason = header === undefined ? "missing" : "wrong";
    const remoteAddress = req.socket.remoteAddress;
    // One key for every sender: token refusals are one problem, however many hosts have it.
    refusals.record("token", (suppressed) => options.logger.warn(
      { reason, remoteAddress, suppressed }, "refused peer request: missing or wrong peer token"));
    return { status: 401, body: errorBody("unauthorized",
      "peer RPC requires the cluster's peer token") };
  };
}

/** The cluster id check of every peer request carrying messages: null when it names ours. */
export function peerClusterRefusal(options: RefusalOptions, refusals: RateLimitedLog):
  (req: http.IncomingMessage) => PeerRefusal | null {
  return (req) => {
    const header = req.headers[clusterIdHeader];
    if (header === options.clusterId) return null;
    options.counters.requestsRefused++;
    const senderClusterId = typeof header === "string"
      ? header.slice(0, clusterIdEchoLengthMax) : null;
    const remoteAddress = req.socket.remoteAddress;
    refusals.record(`cluster ${remoteAddress}`, (suppressed) => options.logger.warn(
      { remoteAddress, clusterId: options.clusterId, senderClusterId, suppressed },
      "refused peer request from another cluster"));
    const message = senderClusterId === null
      ? `this node belongs to cluster ${options.clusterId}; the request names no cluster ` +
        `(header ${clusterIdHeader})`
      : `this node belongs to cluster ${options.clusterId}, the sender to ${senderClusterId}`;
    return { status: 409, body: { error: { code: "cluster_mismatch", message,
      clusterId: options.clusterId, senderClusterId } } };
  };
}

function bodyErrorMessage(status: number): string {
  return status === 415 ? "unsupported charset or content encoding"
    : "request body is not valid JSON";
}

function tokenMatches(actual: Buffer, expected: Buffer): boolean {
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function errorBody(code: string, message: string): unknown {
  return { error: { code, message } };
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json(errorBody(code, message));
}

function httpStatusOf(error: unknown): number {
  if (typeof error === "object" && error !== null && "status" in error) {
    const status = (error as { status: unknown }).status;
    if (typeof status === "number") return status;
  }
  return 500;
}

/**
 * Runs the receive handler outside express, so that a bug (an InvariantError thrown by the
 * core) is not turned into a 500 by express's error handling but reaches the process's crash
 * handler, as STYLE.md §4 asks.
 */
export function acceptOutsideExpress(accept: (messages: RaftMessage[]) => void,
  messages: RaftMessage[]): void {
  try {
    accept(messages);
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}
