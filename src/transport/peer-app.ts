import { timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { MessageType, NodeId, RaftMessage } from "../raft/index.js";
import { peerIdentityPath, type PeerIdentity } from "./peer-identity.js";
import type { TransportCounters } from "./transport-stats.js";

/** The one peer RPC route: a POST of a JSON array of RaftMessage, answered 204. */
export const peerMessagesPath = "/raft/messages";

/** At most one warning per interval about refused (unauthenticated) requests. */
export const refusalLogIntervalMs = 10_000;

export interface PeerAppOptions {
  readonly self: NodeId;
  readonly peerToken: string;
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
 * `authorization: Bearer <peerToken>` (401 otherwise, checked before the body is read, so an
 * unauthenticated client cannot make us parse 64 MiB), a JSON body within requestBytesMax (413),
 * and an array of messages that all look like RaftMessages addressed to this node (400). The
 * answer is 204 as soon as the body is validated; the messages go to `accept` after it.
 */
export function createPeerApp(options: PeerAppOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const refusals = new RefusalLog(options.logger);
  const expected = Buffer.from(`Bearer ${options.peerToken}`);

  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    if (header !== undefined && tokenMatches(Buffer.from(header), expected)) {
      next();
      return;
    }
    options.counters.requestsRefused++;
    refusals.record(header === undefined ? "missing" : "wrong", req.socket.remoteAddress);
    res.set("connection", "close");
    sendError(res, 401, "unauthorized", "peer RPC requires the cluster's peer token");
  };

  app.get(peerIdentityPath, authenticate, (_req: Request, res: Response) => {
    const identity = options.identity?.() ?? null;
    if (identity === null) {
      sendError(res, 503, "unavailable", "this node cannot tell its identity yet");
      return;
    }
    res.status(200).json(identity);
  });

  app.post(peerMessagesPath,
    authenticate,
    express.json({ limit: options.requestBytesMax, strict: true }),
    (req: Request, res: Response) => {
      const parsed = parseRaftMessages(req.body, options.self);
      if (!parsed.ok) {
        options.counters.requestsInvalid++;
        options.logger.debug({ error: parsed.error }, "invalid peer request");
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
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(error);
    if (status === 413 || status === 400) {
      options.counters.requestsInvalid++;
      options.logger.debug({ error: String(error) }, "invalid peer request body");
      sendError(res, status, status === 413 ? "too_large" : "invalid_request",
        status === 413 ? "request body too large" : "request body is not valid JSON");
      return;
    }
    options.logger.error({ error }, "peer request failed");
    if (!res.headersSent) sendError(res, 500, "internal", "internal error");
  });
  return app;
}

export type ParseResult =
  | { readonly ok: true; readonly messages: RaftMessage[] }
  | { readonly ok: false; readonly error: string };

/** Exhaustive on purpose: a new message type fails to compile until it is listed here. */
const messageTypes: Readonly<Record<MessageType, true>> = {
  preVote: true, requestVote: true, preVoteResponse: true, requestVoteResponse: true,
  append: true, appendResponse: true, heartbeat: true, heartbeatResponse: true,
  timeoutNow: true, readIndex: true, readIndexResponse: true, snapshot: true,
  snapshotResponse: true, propose: true,
};

/**
 * A minimal shape check of a peer request body: an array of objects with a known string
 * `type`, string `from` and `to`, a finite numeric `term`, and `to` equal to `self`. The core
 * trusts its peers (they share the token) beyond that, as hashicorp/raft trusts its decoder.
 */
export function parseRaftMessages(body: unknown, self: NodeId): ParseResult {
  if (!Array.isArray(body)) return { ok: false, error: "body must be a JSON array of messages" };
  for (let position = 0; position < body.length; position++) {
    const message: unknown = body[position];
    const error = messageShapeError(message, self);
    if (error !== null) return { ok: false, error: `message ${position}: ${error}` };
  }
  return { ok: true, messages: body as RaftMessage[] };
}

function messageShapeError(message: unknown, self: NodeId): string | null {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    return "must be an object";
  }
  const fields = message as Record<string, unknown>;
  if (typeof fields.type !== "string" || !Object.hasOwn(messageTypes, fields.type)) {
    return "type must be a raft message type";
  }
  if (typeof fields.from !== "string") return "from must be a string";
  if (typeof fields.to !== "string") return "to must be a string";
  if (typeof fields.term !== "number" || !Number.isFinite(fields.term)) {
    return "term must be a number";
  }
  if (fields.to !== self) return `addressed to ${fields.to}, this node is ${self}`;
  if (fields.type === "propose" && !(Array.isArray(fields.data) &&
    fields.data.every((item) => typeof item === "string"))) {
    return "a propose message's data must be an array of strings";
  }
  return null;
}

function tokenMatches(actual: Buffer, expected: Buffer): boolean {
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
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
function acceptOutsideExpress(accept: (messages: RaftMessage[]) => void,
  messages: RaftMessage[]): void {
  try {
    accept(messages);
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

/**
 * Logs refused requests without flooding the log: the first refusal at once, then at most one
 * line per refusalLogIntervalMs with the number suppressed in between. A clock is fine here:
 * it decides only what is logged, never anything the protocol does.
 */
class RefusalLog {
  private lastLogMs = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(private readonly logger: Logger) {}

  record(reason: "missing" | "wrong", remoteAddress: string | undefined): void {
    const nowMs = performance.now();
    if (nowMs - this.lastLogMs < refusalLogIntervalMs) {
      this.suppressed++;
      return;
    }
    this.logger.warn({ reason, remoteAddress, suppressed: this.suppressed },
      "refused peer request: missing or wrong peer token");
    this.lastLogMs = nowMs;
    this.suppressed = 0;
  }
}
