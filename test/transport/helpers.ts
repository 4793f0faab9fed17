/**
 * Helpers for the transport tests: numbered messages whose order a test can check, an inbox
 * that records every batch a handler receives, bounded polling for a condition (the only kind
 * of waiting these tests do), and fake HTTP peers that record requests and answer when told.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type {
  HeartbeatRequest,
  MessageType,
  NodeId,
  RaftMessage,
} from "../../src/raft/index.js";
import type { Transport } from "../../src/transport/index.js";

/** A heartbeat that carries `seq` in its commit field, so order is visible on arrival. */
export function numbered(from: NodeId, to: NodeId, seq: number, term = 1): HeartbeatRequest {
  return { type: "heartbeat", from, to, term, commit: seq, readId: null };
}

/** The sequence numbers of messages made by numbered(). */
export function seqs(messages: readonly RaftMessage[]): number[] {
  return messages.map((message) => (message.type === "heartbeat" ? message.commit : -1));
}

/** Records what a transport's handler receives, batch by batch. */
export class Inbox {
  readonly batches: RaftMessage[][] = [];

  constructor(transport?: Transport) {
    if (transport !== undefined) this.listen(transport);
  }

  listen(transport: Transport): this {
    transport.onReceive((messages) => {
      this.batches.push([...messages]);
    });
    return this;
  }

  messages(): RaftMessage[] {
    return this.batches.flat();
  }

  count(): number {
    return this.messages().length;
  }
}

/** Polls `condition` every few milliseconds; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string,
  timeoutMs = 1500): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves on a later turn of the event loop, after pending setImmediate callbacks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface RecordedRequest {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The order in which requests arrived, over every FakePeer of the process. */
  readonly arrival: number;
  /** Answers the request: 204 by default. */
  respond(status?: number): void;
}

/** Requests that reached any FakePeer of the process: RecordedRequest.arrival. */
let arrivals = 0;

/**
 * An HTTP server on 127.0.0.1 that records every request and answers only when the test calls
 * respond() (or never), to hold a client's POST in flight.
 */
export class FakePeer {
  readonly requests: RecordedRequest[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      this.requests.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        arrival: ++arrivals,
        respond: (status = 204) => {
          res.statusCode = status;
          res.end();
        },
      });
    });
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** A POST to a peer route with fetch, for requests a transport would never make. */
export async function rawPost(port: number, body: string,
  headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/raft/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

/**
 * One well-formed message of every type, as the core would send them from `from` to `to`.
 * A Record over MessageType, so that a new message type fails to compile until it is here.
 */
export function sampleMessages(from: NodeId, to: NodeId): Record<MessageType, RaftMessage> {
  const base = { from, to, term: 3 };
  return {
    preVote: { type: "preVote", ...base, lastLogIndex: 7, lastLogTerm: 2 },
    requestVote: { type: "requestVote", ...base, lastLogIndex: 7, lastLogTerm: 2,
      transfer: false },
    preVoteResponse: { type: "preVoteResponse", ...base, granted: true },
    requestVoteResponse: { type: "requestVoteResponse", ...base, granted: false },
    append: { type: "append", ...base, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4,
      entries: [{ index: 5, term: 3, kind: "normal", data: "" },
        { index: 6, term: 3, kind: "config", data: "{\"voters\":[\"a\"]}" }] },
    appendResponse: { type: "appendResponse", ...base, success: false, index: 4, hintIndex: 2,
      hintTerm: 1 },
    heartbeat: { type: "heartbeat", ...base, commit: 4, readId: 9 },
    heartbeatResponse: { type: "heartbeatResponse", ...base, readId: null },
    timeoutNow: { type: "timeoutNow", ...base },
    readIndex: { type: "readIndex", ...base, context: "a:boot:1" },
    readIndexResponse: { type: "readIndexResponse", ...base, context: "a:boot:1", index: null },
    propose: { type: "propose", ...base, data: ["{\"op\":\"buy\"}", ""] },
    snapshot: { type: "snapshot", ...base, meta: { index: 10, term: 2, voters: ["a", "b"] },
      offset: 0, data: "state", done: true },
    snapshotResponse: { type: "snapshotResponse", ...base, snapshotIndex: 10, offset: 0,
      nextOffset: 5, installed: true },
  };
}
