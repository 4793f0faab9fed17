import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { pino, type Logger } from "pino";
import type { NodeId, RaftMessage } from "../raft/index.js";
import { BoundedQueue } from "./bounded-queue.js";
import { expressServerClasses } from "../wire/express-classes.js";
import { httpRequest, HttpRequestError } from "../wire/http-request.js";
import {
  clusterIdHeader, createPeerApp, peerUrlHeader, peerMessagesPath, type PeerAppOptions,
} from "./peer-app.js";
import { encodeFrame, PeerStreamServer, peerStreamPath, peerStreamProtocol } from "./peer-stream.js";
import { parsePeerIdentity, peerIdentityPath, type PeerIdentity } from "./peer-identity.js";
import { RateLimitedLog } from "./rate-limited-log.js";
import {
  newPeerCounters,
  newTransportCounters,
  summarizeStats,
  type PeerCounters,
  type TransportStats,
} from "./transport-stats.js";
import type { PeerAddress, Transport } from "./transport.js";

export const httpTransportDefaults = {
  rpcTimeoutMs: 1000,
  queueMessagesMax: 4096,
  /** Snapshot chunks are up to 256 KiB and a batch may carry many appends. */
  requestBytesMax: 64 * 1024 * 1024,
  inflightRequestsMax: 1,
  stream: false,
} as const;

/**
 * After a stream connection fails, the first retry waits this long; each failure doubles it, up
 * to the max. The max stays below an election timeout (150 ms at the default timing): a peer
 * that restarts must be reachable within one, or the next election waits for a retry (with a
 * 1 s max, a failover took a median 394 ms instead of 237 ms). A refused connect on a live
 * host costs well under a millisecond, so ten tries a second to a dead peer cost nothing.
 */
const streamRetryMsMin = 25;
const streamRetryMsMax = 100;

export interface HttpTransportOptions {
  readonly self: NodeId;
  readonly listenHost: string;
  /** The port to listen on; 0 picks a free one (see port()). */
  readonly peerPort: number;
  /** Where the other nodes listen; an entry for `self` is ignored. */
  readonly peers: readonly PeerAddress[];
  /** The cluster's shared secret: sent as `authorization: Bearer <peerToken>`, required. */
  readonly peerToken: string;
  /**
   * The cluster this node belongs to: sent on every batch as `x-raftmarket-cluster-id`, and
   * required on every batch received (409 otherwise), so that nodes of two clusters that share
   * a token never exchange messages. Printable ASCII without spaces, at most 128 characters.
   */
  readonly clusterId: string;
  /** Bound on one POST from start to answer; a slower one is aborted and its batch dropped. */
  readonly rpcTimeoutMs?: number;
  /** Messages queued per peer; when full the OLDEST is dropped. */
  readonly queueMessagesMax?: number;
  /** Largest request body, both accepted by the server and built by the client. */
  readonly requestBytesMax?: number;
  /** Outstanding POSTs per peer. 1 keeps per-peer order; more may reorder batches. */
  readonly inflightRequestsMax?: number;
  /**
   * Send over one long-lived connection per peer (peer-stream.ts: an HTTP upgrade, then
   * length-prefixed frames) instead of a POST per batch. The server always accepts both.
   */
  readonly stream?: boolean;
  readonly logger?: Logger;
  /** Mutual TLS on the peer links; without it, plain HTTP. */
  readonly tls?: PeerTlsOptions;
  /**
   * This node's own peer URL, sent with every batch (`x-raftmarket-peer-url`), so that a peer
   * that does not know it yet (it was added while that peer was behind) can answer it, as
   * etcd's transport does.
   */
  readonly advertisePeerUrl?: string;
}

/** At most this many peers learned from their batches, beyond those set by setPeers. */
const learnedPeersMax = 32;

/**
 * PEM texts for mutual TLS between peers (etcd's --peer-cert-file, --peer-key-file,
 * --peer-trusted-ca-file): the server requires a client certificate signed by `ca` and refuses
 * the handshake otherwise; the client presents `cert` and checks the peer's against `ca`.
 */
export interface PeerTlsOptions {
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** The outgoing side of one peer link. Invariant: 0 <= inflight <= inflightRequestsMax. */
interface PeerChannel {
  readonly address: PeerAddress;
  readonly url: string;
  readonly agent: http.Agent;
  readonly queue: BoundedQueue<RaftMessage>;
  readonly counters: PeerCounters;
  /** POSTs outstanding; with a stream, 1 while its write buffer is full (waiting for drain). */
  inflight: number;
  /** The open stream to the peer (stream mode), or null. */
  stream: Duplex | null;
  streamConnecting: boolean;
  /** Aborts the connection attempt in progress, if any. */
  streamAbort: (() => void) | null;
  /** The wait before the next connection attempt after a failure, and its timer. */
  streamRetryMs: number;
  streamRetryAtMs: number;
  streamTimer: NodeJS.Timeout | null;
}

/**
 * The real Transport (DESIGN.md §1): express on peerPort receives, node:http with one
 * keep-alive agent per peer sends (http-request.ts); with `tls`, node:https both ways, mutual.
 *
 * Batching: send() only queues, per peer, and schedules one flush per turn of the event loop
 * (setImmediate), so every message sent to a peer in that turn leaves in one POST; flushNow()
 * sends what is queued at once (the driver's appends, which should not wait for the turn).
 * In-flight bound: a peer has at most inflightRequestsMax POSTs outstanding (default 1);
 * messages queued meanwhile wait and leave together in the next POST as soon as one returns,
 * which keeps per-peer order and lets the core pipeline appends without a request per message.
 * Drops: a full queue drops its oldest message; a failed, refused or timed-out POST drops its
 * batch (counted, logged at debug) and is never retried here: Raft resends what matters.
 * Stream (option `stream`, what market-node uses): instead of POSTs, one long-lived connection
 * per peer (peer-stream.ts), opened by an HTTP upgrade that passes the same token and cluster id
 * checks; each flush writes the queued messages as frames of at most requestBytesMax, and a full
 * socket buffer stands in for the in-flight POST (the next frames wait for its drain, at most
 * rpcTimeoutMs). A failed or refused opening drops what is queued, as a failed POST drops its
 * batch, and the next attempt waits 50 ms, doubling up to 1 s. The server accepts both.
 * Nothing here throws to the caller of send(), and no protocol decision reads a clock or a
 * random source.
 */
export class HttpTransport implements Transport {
  readonly self: NodeId;
  private readonly options: Required<Omit<HttpTransportOptions, "peers" | "logger" | "tls" | "advertisePeerUrl">>;
  private readonly tls: PeerTlsOptions | null;
  private readonly logger: Logger;
  private readonly channels = new Map<NodeId, PeerChannel>();
  private readonly received = new Map<NodeId, number>();
  private readonly totals = newTransportCounters();
  /** One controller per in-flight POST: aborted by its timeout or by close(). */
  private readonly inflightAborts = new Set<AbortController>();
  /** Says at most once per peer per 10 s that a peer refused us as another cluster's. */
  private readonly mismatchLog = new RateLimitedLog();
  private handler: ((messages: readonly RaftMessage[]) => void) | null = null;
  private identityProvider: (() => PeerIdentity | null) | null = null;
  private server: http.Server | https.Server | null = null;
  private streamServer: PeerStreamServer | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  /** The peers named by the messages sent since the last flush, in the order first named. */
  private readonly sendOrder = new Set<NodeId>();
  private closed = false;

  /** Peers learned from the URL their batches carry (learnPeer), kept across setPeers. */
  private readonly learned = new Map<NodeId, PeerAddress>();
  private readonly advertisePeerUrl: string | null;

  constructor(options: HttpTransportOptions) {
    this.advertisePeerUrl = options.advertisePeerUrl ?? null;
    this.options = {
      self: options.self,
      listenHost: options.listenHost,
      peerPort: options.peerPort,
      peerToken: options.peerToken,
      clusterId: options.clusterId,
      rpcTimeoutMs: options.rpcTimeoutMs ?? httpTransportDefaults.rpcTimeoutMs,
      queueMessagesMax: options.queueMessagesMax ?? httpTransportDefaults.queueMessagesMax,
      requestBytesMax: options.requestBytesMax ?? httpTransportDefaults.requestBytesMax,
      inflightRequestsMax:
        options.inflightRequestsMax ?? httpTransportDefaults.inflightRequestsMax,
      stream: options.stream ?? httpTransportDefaults.stream,
    };
    validateHttpTransportOptions(this.options);
    this.tls = options.tls ?? null;
    this.self = options.self;
    this.logger = (options.logger ?? pino({ level: "silent" }))
      .child({ component: "transport", self: options.self });
    this.setPeers(options.peers);
  }

  send(messages: readonly RaftMessage[]): void {
    if (this.closed) {
      this.totals.messagesDroppedUnroutable += messages.length;
      return;
    }
    for (const message of messages) {
      const channel = this.channels.get(message.to);
      if (channel === undefined) {
        this.totals.messagesDroppedUnroutable++;
        continue;
      }
      if (channel.queue.push(message)) channel.counters.messagesDropped++;
      this.sendOrder.add(message.to);
    }
    this.scheduleFlush();
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.handler = handler;
  }

  /** Sets what `GET /raft/identity` answers (peer-identity.ts); null answers 503. */
  setIdentityProvider(provider: () => PeerIdentity | null): void {
    this.identityProvider = provider;
  }

  /**
   * Asks peer `id` for its identity. Null when it cannot be had: the peer is unknown, down,
   * not ready (503), or answers something that is not an identity.
   */
  async queryIdentity(id: NodeId, timeoutMs: number): Promise<PeerIdentity | null> {
    const channel = this.channels.get(id);
    if (channel === undefined || this.closed) return null;
    try {
      const answer = await httpRequest({
        method: "GET", url: channel.url.replace(peerMessagesPath, peerIdentityPath),
        agent: channel.agent, headers: { authorization: `Bearer ${this.options.peerToken}` },
        timeoutMs, responseBytesMax: 4 * 1024 * 1024,
      });
      if (answer.status !== 200) return null;
      return parsePeerIdentity(JSON.parse(answer.body));
    } catch (error) {
      this.logger.debug({ peer: id, ...describeError(error) }, "identity query failed");
      return null;
    }
  }

  /** Listens on listenHost:peerPort. Rejects if the port is taken. */
  async start(): Promise<void> {
    if (this.closed) throw new Error("a closed HttpTransport cannot start again");
    if (this.server !== null) throw new Error("HttpTransport already started");
    const appOptions: PeerAppOptions = {
      self: this.self,
      peerToken: this.options.peerToken,
      clusterId: this.options.clusterId,
      isPeer: (id) => this.channels.has(id),
      learnPeer: (id, url) => this.learnPeer(id, url),
      requestBytesMax: this.options.requestBytesMax,
      logger: this.logger,
      counters: this.totals,
      accept: (messages) => this.accept(messages),
      identity: () => this.identityProvider?.() ?? null,
    };
    const app = createPeerApp(appOptions);
    const streams = new PeerStreamServer(appOptions);
    this.streamServer = streams;
    const timeouts = { requestTimeout: 30_000, headersTimeout: 10_000,
      ...expressServerClasses(app) };
    // With TLS, a peer without a certificate from the cluster CA fails the handshake: it never
    // reaches the token check or the body parser.
    const server = this.tls === null ? http.createServer(timeouts, app)
      : https.createServer({ ...timeouts, ...this.tls, requestCert: true,
        rejectUnauthorized: true }, app);
    // Longer than the client's idle gaps (heartbeats are far more frequent), so that a
    // keep-alive socket is rarely closed by the server just as the client reuses it.
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.peerPort, this.options.listenHost, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => this.logger.error({ error }, "peer server error"));
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      streams.handleUpgrade(req, socket, head));
    this.server = server;
    this.logger.debug({ port: this.port() }, "peer transport listening");
  }

  /** Closes the server and every connection, aborts in-flight POSTs, drops queued messages. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
    this.sendOrder.clear();
    for (const abort of this.inflightAborts) abort.abort();
    this.inflightAborts.clear();
    for (const channel of this.channels.values()) this.closeChannel(channel);
    this.streamServer?.closeAll();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Whether start() has completed and close() has not been called. */
  isListening(): boolean {
    return this.server !== null;
  }

  /** The port the server listens on (useful with peerPort 0). */
  port(): number {
    const address = this.server?.address();
    if (address === null || address === undefined || typeof address === "string") {
      throw new Error("HttpTransport is not listening");
    }
    return (address as AddressInfo).port;
  }

  /**
   * Replaces the peer list (membership changes, or tests that learn ports late). A new peer
   * gets a channel; a removed one loses its queue; a moved one (new host or port) keeps its
   * queue but gets a fresh agent.
   */
  setPeers(peers: readonly PeerAddress[]): void {
    const next = new Map<NodeId, PeerChannel>();
    for (const id of peers.map((address) => address.id)) this.learned.delete(id);
    for (const address of [...peers, ...this.learned.values()]) {
      if (address.id === this.self) continue;
      const current = this.channels.get(address.id);
      if (current !== undefined && sameAddress(current.address, address)) {
        next.set(address.id, current);
        continue;
      }
      const channel = this.openChannel(address);
      if (current !== undefined) {
        for (const message of current.queue.drain()) channel.queue.push(message);
        Object.assign(channel.counters, current.counters);
        current.agent.destroy();
        this.closeStream(current);
      }
      next.set(address.id, channel);
    }
    for (const [id, channel] of this.channels) {
      if (!next.has(id)) this.closeChannel(channel);
    }
    this.channels.clear();
    for (const [id, channel] of next) this.channels.set(id, channel);
    if (!this.closed) this.scheduleFlush();
  }

  /**
   * A sender this node does not know, whose batch named its peer URL (`x-raftmarket-peer-url`,
   * behind the peer token and the cluster id): it becomes a peer, so that its messages are taken
   * and can be answered. A node behind the membership changes learns the members added since
   * (one of which may lead) this way, then from the log. Bounded; false when refused.
   */
  learnPeer(id: NodeId, url: string): boolean {
    if (this.channels.has(id)) return true;
    if (id === this.self || this.learned.size >= learnedPeersMax) return false;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    const scheme = this.tls === null ? "http:" : "https:";
    if (parsed.protocol !== scheme || parsed.port === "" || parsed.pathname !== "/") return false;
    const address: PeerAddress = { id, host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
      peerPort: Number(parsed.port) };
    this.learned.set(id, address);
    this.channels.set(id, this.openChannel(address));
    this.logger.info({ peer: id, url }, `learned peer ${id} at ${url} from its messages`);
    return true;
  }

  stats(): TransportStats {
    const sources = new Map([...this.channels].map(([id, channel]) => {
      const counters = { ...channel.counters, messagesReceived: this.received.get(id) ?? 0 };
      return [id, { counters, messagesQueued: channel.queue.length,
        requestsInflight: channel.inflight }];
    }));
    return summarizeStats(this.totals, sources);
  }

  /** A peer refused our batch as another cluster's: a configuration error worth a warning. */
  private logClusterMismatch(channel: PeerChannel, body: string): void {
    const peer = channel.address.id;
    this.mismatchLog.record(peer, (suppressed) => this.logger.warn({ peer,
      clusterId: this.options.clusterId, peerClusterId: peerClusterIdOf(body), suppressed },
    `peer ${peer} belongs to another cluster; it refuses our messages`));
  }

  private accept(messages: RaftMessage[]): void {
    // Per-peer counts only for known peers, so that the map stays bounded by the peer list.
    for (const message of messages) {
      if (!this.channels.has(message.from)) continue;
      this.received.set(message.from, (this.received.get(message.from) ?? 0) + 1);
    }
    if (this.closed || this.handler === null || messages.length === 0) return;
    this.handler(messages);
  }

  private openChannel(address: PeerAddress): PeerChannel {
    const sockets = this.options.inflightRequestsMax;
    const agentOptions = { keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets };
    const scheme = this.tls === null ? "http" : "https";
    return {
      address,
      url: `${scheme}://${hostForUrl(address.host)}:${address.peerPort}${peerMessagesPath}`,
      agent: this.tls === null ? new http.Agent(agentOptions)
        : new https.Agent({ ...agentOptions, ...this.tls }),
      queue: new BoundedQueue(this.options.queueMessagesMax),
      counters: newPeerCounters(),
      inflight: 0,
      stream: null,
      streamConnecting: false,
      streamAbort: null,
      streamRetryMs: 0,
      streamRetryAtMs: 0,
      streamTimer: null,
    };
  }

  private closeChannel(channel: PeerChannel): void {
    channel.counters.messagesDropped += channel.queue.length;
    channel.queue.clear();
    channel.agent.destroy();
    this.closeStream(channel);
  }

  /** Ends a channel's stream, or its attempt to open one, and its retry timer. */
  private closeStream(channel: PeerChannel): void {
    channel.streamAbort?.();
    channel.stream?.destroy();
    channel.stream = null;
    if (channel.streamTimer !== null) clearTimeout(channel.streamTimer);
    channel.streamTimer = null;
  }

  flushNow(): void {
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== null || this.closed) return;
    this.flushImmediate = setImmediate(() => this.flush());
  }

  /**
   * Writes to the peers in the order the messages since the last flush named them (sendOrder),
   * then to the rest: the driver puts first the peer whose client waits (RaftServer's
   * lastForwarder), and each socket write here costs tens of microseconds.
   */
  private flush(): void {
    this.flushImmediate = null;
    if (this.closed) return;
    for (const id of this.sendOrder) {
      const channel = this.channels.get(id);
      if (channel !== undefined) this.flushChannel(channel);
    }
    for (const [id, channel] of this.channels) {
      if (!this.sendOrder.has(id)) this.flushChannel(channel);
    }
    this.sendOrder.clear();
  }

  private flushChannel(channel: PeerChannel): void {
    if (this.options.stream) {
      this.flushStream(channel);
      return;
    }
    while (channel.inflight < this.options.inflightRequestsMax && channel.queue.length > 0) {
      const batch = this.takeBatch(channel);
      if (batch !== null) this.post(channel, batch);
    }
  }

  /**
   * Takes the oldest queued messages that fit in one request body, at least one. A message
   * that alone exceeds requestBytesMax is dropped: the peer would refuse it with 413.
   */
  private takeBatch(channel: PeerChannel): { messages: RaftMessage[]; body: string } | null {
    const messages: RaftMessage[] = [];
    const parts: string[] = [];
    let bytes = 2; // The brackets.
    const bytesMax = this.options.requestBytesMax;
    for (let message = channel.queue.peek(); message !== undefined;
      message = channel.queue.peek()) {
      const json = JSON.stringify(message);
      const size = Buffer.byteLength(json) + 1; // The comma.
      if (bytes + size > bytesMax) {
        if (messages.length > 0) break;
        channel.queue.shift();
        channel.counters.messagesDropped++;
        this.logger.warn({ peer: channel.address.id, type: message.type, bytes: size },
          "dropped a message larger than requestBytesMax");
        continue;
      }
      channel.queue.shift();
      messages.push(message);
      parts.push(json);
      bytes += size;
    }
    return messages.length === 0 ? null : { messages, body: `[${parts.join(",")}]` };
  }

  /**
   * Writes what is queued for the peer to its stream, in frames of at most requestBytesMax,
   * until the socket's buffer is full; then waits for it to drain (at most rpcTimeoutMs, after
   * which the stream is closed and a new one opened). Without a stream, opens one first.
   */
  private flushStream(channel: PeerChannel): void {
    if (channel.queue.length === 0 || channel.inflight > 0) return;
    const socket = channel.stream;
    if (socket === null) {
      this.connectStream(channel);
      return;
    }
    while (channel.queue.length > 0) {
      const batch = this.takeBatch(channel);
      if (batch === null) break;
      const count = batch.messages.length;
      const writable = socket.write(encodeFrame(batch.body), (error) => {
        if (error === undefined || error === null) {
          channel.counters.messagesSent += count;
          channel.counters.batchesSent++;
        } else {
          channel.counters.requestErrors++;
          channel.counters.messagesDropped += count;
        }
      });
      if (!writable) {
        channel.inflight = 1;
        const timer = setTimeout(() => socket.destroy(), this.options.rpcTimeoutMs);
        // Each wait removes both of its listeners: a long-lived socket waits many times.
        const onClose = (): void => {
          clearTimeout(timer);
          socket.off("drain", onDrain);
        };
        const onDrain = (): void => {
          clearTimeout(timer);
          socket.off("close", onClose);
          if (channel.stream !== socket) return;
          channel.inflight = 0;
          this.scheduleFlush();
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
        return;
      }
    }
  }

  /**
   * Opens the stream to a peer: an upgrade request carrying the token and the cluster id. A
   * refusal or a failure drops what is queued (as a failed POST drops its batch; Raft resends)
   * and delays the next attempt, from streamRetryMsMin doubling to streamRetryMsMax.
   */
  private connectStream(channel: PeerChannel): void {
    if (channel.streamConnecting || this.closed) return;
    const nowMs = performance.now();
    if (nowMs < channel.streamRetryAtMs) {
      if (channel.streamTimer === null) {
        channel.streamTimer = setTimeout(() => {
          channel.streamTimer = null;
          this.scheduleFlush();
        }, channel.streamRetryAtMs - nowMs);
      }
      return;
    }
    channel.streamConnecting = true;
    const client = this.tls === null ? http : https;
    const request = client.request(channel.url.replace(peerMessagesPath, peerStreamPath), {
      method: "GET", agent: false, ...(this.tls ?? {}),
      headers: { connection: "upgrade", upgrade: peerStreamProtocol,
        authorization: `Bearer ${this.options.peerToken}`,
        [clusterIdHeader]: this.options.clusterId,
        ...(this.advertisePeerUrl === null ? {} : { [peerUrlHeader]: this.advertisePeerUrl }) },
    });
    let settled = false;
    const finish = (error: HttpRequestError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      channel.streamConnecting = false;
      channel.streamAbort = null;
      if (error === null) return;
      request.destroy();
      channel.counters.requestErrors++;
      channel.counters.messagesDropped += channel.queue.length;
      channel.queue.clear();
      channel.streamRetryMs = Math.min(streamRetryMsMax,
        Math.max(streamRetryMsMin, channel.streamRetryMs * 2));
      channel.streamRetryAtMs = performance.now() + channel.streamRetryMs;
      this.logger.debug({ peer: channel.address.id, ...describeError(error) },
        "peer stream failed to open; queued messages dropped");
    };
    channel.streamAbort = () => finish(new HttpRequestError("ERR_ABORTED", "closed"));
    const timer = setTimeout(() => finish(new HttpRequestError("ETIMEDOUT",
      `no upgrade within ${this.options.rpcTimeoutMs} ms`)), this.options.rpcTimeoutMs);
    request.on("upgrade", (_response: http.IncomingMessage, socket: Duplex) => {
      const late = settled;
      finish(null);
      if (late || this.closed || this.channels.get(channel.address.id) !== channel) {
        socket.destroy();
        return;
      }
      this.openedStream(channel, socket);
    });
    request.on("response", (response: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= 64 * 1024) chunks.push(chunk);
      });
      response.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (response.statusCode === 409) this.logClusterMismatch(channel, body);
        finish(new HttpRequestError(`HTTP_${response.statusCode}`,
          `peer answered ${response.statusCode}: ${body.slice(0, 200)}`));
      });
      response.on("error", (error: NodeJS.ErrnoException) =>
        finish(new HttpRequestError(error.code ?? "ECONNRESET", error.message)));
    });
    request.on("error", (error: NodeJS.ErrnoException) =>
      finish(new HttpRequestError(error.code ?? "ECONNRESET", error.message)));
    request.end();
  }

  private openedStream(channel: PeerChannel, socket: Duplex): void {
    (socket as Duplex & { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
    channel.stream = socket;
    channel.streamRetryMs = 0;
    channel.streamRetryAtMs = 0;
    // The receiver never writes on the stream; reading keeps the close and errors visible.
    socket.on("data", () => undefined);
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.logger.debug({ peer: channel.address.id, code: error.code, message: error.message },
        "peer stream failed");
    });
    socket.on("close", () => {
      if (channel.stream !== socket) return;
      channel.stream = null;
      channel.inflight = 0;
      if (channel.queue.length > 0) this.scheduleFlush();
    });
    this.scheduleFlush();
  }

  private post(channel: PeerChannel, batch: { messages: RaftMessage[]; body: string }): void {
    channel.inflight++;
    const count = batch.messages.length;
    // close() aborts whatever is in flight; rpcTimeoutMs bounds the whole exchange.
    const abort = new AbortController();
    this.inflightAborts.add(abort);
    httpRequest({
      method: "POST", url: channel.url, body: batch.body, agent: channel.agent,
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${this.options.peerToken}`,
        [clusterIdHeader]: this.options.clusterId,
        ...(this.advertisePeerUrl === null ? {} : { [peerUrlHeader]: this.advertisePeerUrl }),
      },
      signal: abort.signal, timeoutMs: this.options.rpcTimeoutMs, responseBytesMax: 64 * 1024,
    }).then((answer) => {
      if (answer.status === 409) this.logClusterMismatch(channel, answer.body);
      if (answer.status !== 204) {
        throw new HttpRequestError(`HTTP_${answer.status}`, `peer answered ${answer.status}: ` +
          answer.body.slice(0, 200));
      }
    }).then(() => {
      channel.counters.messagesSent += count;
      channel.counters.batchesSent++;
    }, (error: unknown) => {
      channel.counters.requestErrors++;
      channel.counters.messagesDropped += count;
      this.logger.debug({ peer: channel.address.id, messages: count, ...describeError(error) },
        "peer request failed; batch dropped");
    }).finally(() => {
      this.inflightAborts.delete(abort);
      channel.inflight--;
      if (channel.queue.length > 0) this.scheduleFlush();
    });
  }
}

/** Printable ASCII without spaces: safe in a header, readable in a log line. */
const clusterIdPattern = /^[\x21-\x7e]{1,128}$/;

function validateHttpTransportOptions(
  options: Required<Omit<HttpTransportOptions, "peers" | "logger" | "tls" | "advertisePeerUrl">>): void {
  if (options.self.length === 0) throw new TypeError("self must be a non-empty node id");
  if (options.peerToken.length === 0) throw new TypeError("peerToken must not be empty");
  if (!clusterIdPattern.test(options.clusterId)) {
    throw new TypeError("clusterId must be 1-128 printable ASCII characters without spaces, " +
      `got ${JSON.stringify(options.clusterId.slice(0, 200))}`);
  }
  if (!Number.isInteger(options.peerPort) || options.peerPort < 0 || options.peerPort > 65535) {
    throw new RangeError(`peerPort must be a port number, got ${options.peerPort}`);
  }
  const positive: [string, number][] = [
    ["rpcTimeoutMs", options.rpcTimeoutMs],
    ["queueMessagesMax", options.queueMessagesMax],
    ["requestBytesMax", options.requestBytesMax],
    ["inflightRequestsMax", options.inflightRequestsMax],
  ];
  for (const [name, value] of positive) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
}

/** The peer's own cluster id, as its 409 answer names it, if it does. */
function peerClusterIdOf(body: string): string | null {
  try {
    const answer = JSON.parse(body) as { error?: { clusterId?: unknown } };
    const id = answer.error?.clusterId;
    return typeof id === "string" ? id.slice(0, 128) : null;
  } catch {
    return null;
  }
}

function sameAddress(left: PeerAddress, right: PeerAddress): boolean {
  return left.host === right.host && left.peerPort === right.peerPort;
}

/** IPv6 literals need brackets in a URL. */
function hostForUrl(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function describeError(error: unknown): { code?: string; message: string } {
  if (error instanceof HttpRequestError) return { code: error.code, message: error.message };
  return { message: String(error) };
}
