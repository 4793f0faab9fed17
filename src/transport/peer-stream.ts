import type * as http from "node:http";
import type { Duplex } from "node:stream";
import { assert } from "../invariant/assert.js";
import type { NodeId, RaftMessage } from "../raft/index.js";
import {
  acceptOutsideExpress,
  peerCheck,
  peerClusterRefusal,
  peerTokenRefusal,
  peerUrlHeader,
  type PeerAppOptions,
  type PeerRefusal,
} from "./peer-app.js";
import { parseRaftMessages } from "./peer-message-schema.js";
import { RateLimitedLog } from "./rate-limited-log.js";

/**
 * The peer stream: one long-lived connection per sending peer, opened as an HTTP upgrade on
 * the peer port (`GET /raft/stream`, `upgrade: raftmarket-peer/1`), so that it passes the same
 * token and cluster id checks as a POST of /raft/messages (401, 409), under the same TLS. After
 * `101 Switching Protocols` the connection carries frames one way, sender to receiver:
 *
 *   frame = length (uint32, big-endian, bytes of the body) + body (UTF-8 JSON: a RaftMessage[])
 *
 * A frame body is exactly what a POST would carry, and is checked the same way
 * (peer-message-schema.ts): a frame that is not JSON or not a batch of well-formed messages for
 * this node is dropped, counted and logged as a 400 would be, and the connection stays up. A
 * length over requestBytesMax closes the connection (the sender is not one of ours). The
 * receiver never writes after the 101, so there is nothing to wait for per batch: a hop costs
 * one write and one read, where a POST cost a request, express and an answer (etcd's peers
 * keep such a stream for the same reason: its rafthttp "stream" beside the "pipeline").
 */
export const peerStreamPath = "/raft/stream";
export const peerStreamProtocol = "raftmarket-peer/1";

const frameHeaderBytes = 4;

/** One frame: its length, then the body. */
export function encodeFrame(body: string): Buffer {
  const bytes = Buffer.byteLength(body);
  const frame = Buffer.allocUnsafe(frameHeaderBytes + bytes);
  frame.writeUInt32BE(bytes, 0);
  frame.write(body, frameHeaderBytes, "utf8");
  return frame;
}

/**
 * Cuts a byte stream into frame bodies. Holds at most one partial frame, whose length is
 * bounded by bytesMax (push answers "tooLarge" past it and holds nothing more).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly bytesMax: number) {}

  /** Adds `chunk` and returns the frame bodies it completes, in order. */
  push(chunk: Buffer): Buffer[] | "tooLarge" {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= frameHeaderBytes) {
      const head = this.chunks.length === 1 ? this.chunks[0]! : this.join();
      const length = head.readUInt32BE(0);
      if (length > this.bytesMax) {
        this.chunks = [];
        this.buffered = 0;
        return "tooLarge";
      }
      if (this.buffered < frameHeaderBytes + length) break;
      frames.push(head.subarray(frameHeaderBytes, frameHeaderBytes + length));
      const rest = head.subarray(frameHeaderBytes + length);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
    }
    // What stays is less than one frame, whose length passed the bound (the slice kept may pin
    // the buffer it was joined into: at most about two frames in memory).
    if (this.buffered > frameHeaderBytes + this.bytesMax) {
      assert(false, `${this.buffered} bytes held for a frame of at most ${this.bytesMax}`);
    }
    return frames;
  }

  private join(): Buffer {
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined;
  }
}

/** The receiving side of peer streams: the peer server's `upgrade` handler. */
export class PeerStreamServer {
  private readonly sockets = new Set<Duplex>();
  private readonly refusals = new RateLimitedLog();
  private readonly tokenRefusal: (req: http.IncomingMessage) => PeerRefusal | null;
  private readonly clusterRefusal: (req: http.IncomingMessage) => PeerRefusal | null;

  constructor(private readonly options: PeerAppOptions) {
    this.tokenRefusal = peerTokenRefusal(options, this.refusals);
    this.clusterRefusal = peerClusterRefusal(options, this.refusals);
  }

  /** For `server.on("upgrade", ...)`: checks the request, then reads frames until it closes. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const path = (req.url ?? "").split("?")[0];
    if (path !== peerStreamPath || req.headers.upgrade !== peerStreamProtocol) {
      refuse(socket, { status: 404, body: { error: { code: "not_found",
        message: `no upgrade to ${String(req.headers.upgrade)} at ${path}` } } });
      return;
    }
    const refusal = this.tokenRefusal(req) ?? this.clusterRefusal(req);
    if (refusal !== null) {
      refuse(socket, refusal);
      return;
    }
    socket.write("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n" +
      `upgrade: ${peerStreamProtocol}\r\n\r\n`);
    setNoDelay(socket);
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    const reader = new FrameReader(this.options.requestBytesMax);
    const isPeer = peerCheck(this.options, req.headers[peerUrlHeader]);
    const remoteAddress = req.socket.remoteAddress;
    const onData = (chunk: Buffer): void => {
      const frames = reader.push(chunk);
      if (frames === "tooLarge") {
        this.invalid(remoteAddress, "a frame over requestBytesMax; connection closed");
        socket.destroy();
        return;
      }
      for (const frame of frames) this.receiveFrame(frame, remoteAddress, isPeer);
    };
    if (head.length > 0) onData(head);
    socket.on("data", onData);
  }

  /** Closes every stream (the server's closeAllConnections does not see upgraded sockets). */
  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private receiveFrame(frame: Buffer, remoteAddress: string | undefined,
    isPeer: (id: NodeId) => boolean): void {
    let body: unknown;
    try {
      body = JSON.parse(frame.toString("utf8"));
    } catch {
      this.invalid(remoteAddress, "a frame that is not valid JSON");
      return;
    }
    const parsed = parseRaftMessages(body, this.options.self, isPeer);
    if (!parsed.ok) {
      this.invalid(remoteAddress, parsed.error);
      return;
    }
    this.options.counters.batchesReceived++;
    this.options.counters.messagesReceived += parsed.messages.length;
    acceptOutsideExpress(this.options.accept, parsed.messages as RaftMessage[]);
  }

  private invalid(remoteAddress: string | undefined, error: string): void {
    this.options.counters.requestsInvalid++;
    this.refusals.record(`invalid ${remoteAddress}`, (suppressed) => this.options.logger.warn(
      { remoteAddress, error, suppressed }, "refused an invalid peer stream frame"));
  }
}

/** Answers an upgrade request as a plain HTTP error and closes the connection. */
function refuse(socket: Duplex, refusal: PeerRefusal): void {
  const body = JSON.stringify(refusal.body);
  socket.end(`HTTP/1.1 ${refusal.status} ${refusal.status === 401 ? "Unauthorized" : "Refused"}` +
    `\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ` +
    `${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function setNoDelay(socket: Duplex): void {
  const withNoDelay = socket as Duplex & { setNoDelay?: (noDelay: boolean) => void };
  withNoDelay.setNoDelay?.(true);
}
