/**
 * HttpTransport, the peer transport between real nodes. Goal: beyond the shared Transport
 * contract (contract.ts), show the properties only HTTP has — the peer token is required and a
 * refusal is logged without flooding; a malformed, misaddressed or oversized body is refused
 * before the handler sees it; at most one POST per peer is in flight and whatever queued
 * meanwhile leaves as the next batch; a POST that gets no answer is abandoned after
 * rpcTimeoutMs; close() does not wait for a stuck peer. Method: transports on 127.0.0.1 that
 * listen on port 0 and learn each other's ports through setPeers(); raw requests through fetch;
 * FakePeer, a bare HTTP server that holds requests until the test answers them. Everything is
 * closed in after hooks, and every wait is bounded polling.
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import { expect } from "chai";
import { pino, type Logger } from "pino";
import type { RaftMessage } from "../../src/raft/index.js";
import {
  clusterIdHeader,
  HttpTransport,
  type HttpTransportOptions,
} from "../../src/transport/index.js";
import {
  encodeFrame,
  peerStreamPath,
  peerStreamProtocol,
} from "../../src/transport/peer-stream.js";
import { freePort } from "../../src/cluster/local-cluster.js";
import { runTransportContract, type TransportPair } from "./contract.js";
import {
  FakePeer,
  Inbox,
  numbered,
  rawPost,
  sampleMessages,
  seqs,
  waitFor,
} from "./helpers.js";

const host = "127.0.0.1";
const token = "peer-secret";
const clusterId = "test-cluster";
/** For a "b" that receives from "a" but never sends to it: "a" must be a known peer. */
/** What a peer of this cluster sends: its token and its cluster id. */
const auth = { authorization: `Bearer ${token}`, [clusterIdHeader]: clusterId };
const knowsA = { peers: [{ id: "a", host, peerPort: 1 }] };

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, {
    write: (line: string) => lines.push(JSON.parse(line) as LogLine),
  });
  return { logger, lines };
}

function transport(overrides: Partial<HttpTransportOptions> & { self: string })
  : HttpTransport {
  return new HttpTransport({
    listenHost: host, peerPort: 0, peers: [], peerToken: token, clusterId, rpcTimeoutMs: 500,
    ...overrides,
  });
}

async function makeHttpPair(options: { queueMessagesMax?: number; stream?: boolean })
  : Promise<TransportPair> {
  const a = transport({ self: "a", ...options });
  let b = transport({ self: "b", ...options });
  await a.start();
  await b.start();
  const addressA = { id: "a", host, peerPort: a.port() };
  const addressB = { id: "b", host, peerPort: b.port() };
  a.setPeers([addressB]);
  b.setPeers([addressA]);
  return {
    a,
    get b() {
      return b;
    },
    stopB: () => b.close(),
    async restartB() {
      b = transport({ self: "b", peerPort: addressB.peerPort, peers: [addressA], ...options });
      await b.start();
      return b;
    },
    async close() {
      await a.close();
      await b.close();
    },
  };
}

runTransportContract("HttpTransport", makeHttpPair);
runTransportContract("HttpTransport (stream)",
  (options) => makeHttpPair({ ...options, stream: true }));

describe("HttpTransport", function () {
  this.timeout(5000);
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function started(overrides: Partial<HttpTransportOptions> & { self: string })
    : Promise<HttpTransport> {
    const instance = transport(overrides);
    cleanups.push(() => instance.close());
    await instance.start();
    return instance;
  }

  async function fakePeer(): Promise<{ peer: FakePeer; port: number }> {
    const peer = new FakePeer();
    const port = await peer.start();
    cleanups.push(() => peer.close());
    return { peer, port };
  }

  const valid = (to = "b"): string => JSON.stringify([numbered("a", to, 1)]);

  describe("peers learned from their batches (x-raftmarket-peer-url)", () => {
    for (const stream of [false, true]) {
      it(`takes a stranger's messages when it names its peer URL, and can answer it` +
        `${stream ? " (stream)" : ""}`, async () => {
        // "a" knows nobody: the others were added while it was behind.
        const a = await started({ self: "a", stream });
        const toA = [{ id: "a", host, peerPort: a.port() }];
        const inboxA = new Inbox(a);
        // Without its URL, a stranger is refused: a could not answer it.
        const anonymous = await started({ self: "b", stream, peers: toA });
        anonymous.send([numbered("b", "a", 1)]);
        await waitFor(() => a.stats().requestsInvalid > 0, "the stranger refused");
        expect(inboxA.count()).to.equal(0);
        // With it, its messages are taken, and a's answer reaches it.
        const port = await freePort();
        const named = await started({ self: "c", stream, peers: toA, peerPort: port,
          advertisePeerUrl: `http://${host}:${port}` });
        const inboxC = new Inbox(named);
        named.send([numbered("c", "a", 1)]);
        await waitFor(() => inboxA.count() === 1, "the named stranger's message taken");
        a.send([numbered("a", "c", 2)]);
        await waitFor(() => inboxC.count() === 1, "a's answer to the learned peer");
        // A learned peer survives a new peer list that does not name it.
        a.setPeers([]);
        a.send([numbered("a", "c", 3)]);
        await waitFor(() => inboxC.count() === 2, "a second answer after setPeers");
      });
    }
  });

  describe("peer token", () => {
    it("answers 401 without the token or with a wrong one; the handler sees nothing", async () => {
      const b = await started({ self: "b", ...knowsA });
      const inbox = new Inbox(b);
      expect((await rawPost(b.port(), valid())).status).to.equal(401);
      const wrong = await rawPost(b.port(), valid(), { authorization: "Bearer nope" });
      expect(wrong.status).to.equal(401);
      expect(JSON.parse(wrong.text)).to.deep.include({ error: {
        code: "unauthorized", message: "peer RPC requires the cluster's peer token" } });
      expect((await rawPost(b.port(), valid(), { authorization: token })).status).to.equal(401);
      const good = await rawPost(b.port(), valid(), auth);
      expect(good.status).to.equal(204);
      await waitFor(() => inbox.count() === 1, "the authorized message");
      expect(b.stats().requestsRefused).to.equal(3);
      expect(b.stats().messagesReceived).to.equal(1);
    });

    it("logs refusals at warn without flooding the log", async () => {
      const lines: { level: number; msg: string; suppressed?: number }[] = [];
      const logger = pino({ level: "debug" }, {
        write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]),
      });
      const b = await started({ self: "b", ...knowsA, logger });
      for (let k = 0; k < 25; k++) {
        expect((await rawPost(b.port(), valid(), { authorization: "Bearer x" })).status)
          .to.equal(401);
      }
      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings).to.have.length(1);
      expect(warnings[0]?.msg).to.match(/refused peer request/);
      expect(JSON.stringify(lines)).not.to.include(token);
      expect(b.stats().requestsRefused).to.equal(25);
    });

    it("counts a peer with the wrong token as request errors, never delivering", async () => {
      const b = await started({ self: "b", ...knowsA });
      const inbox = new Inbox(b);
      const a = await started({ self: "a", peerToken: "other-secret",
        peers: [{ id: "b", host, peerPort: b.port() }] });
      a.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
      await waitFor(() => a.stats().peers.b?.requestErrors === 1, "a refused request");
      expect(a.stats().peers.b?.messagesDropped).to.equal(2);
      expect(b.stats().requestsRefused).to.equal(1);
      expect(inbox.count()).to.equal(0);
    });
  });

  describe("request validation", () => {
    const message = numbered("a", "b", 1);
    const invalidBodies: [string, string][] = [
      ["not JSON", "[{"],
      ["an object, not an array", JSON.stringify(message)],
      ["an array of non-objects", "[1, 2]"],
      ["a message without a term", JSON.stringify([{ ...message, term: undefined }])],
      ["a message with a string term", JSON.stringify([{ ...message, term: "1" }])],
      ["a message without from", JSON.stringify([{ ...message, from: undefined }])],
      ["an unknown message type", JSON.stringify([{ ...message, type: "gossip" }])],
      ["a message addressed to another node", JSON.stringify([message, { ...message, to: "c" }])],
      ["a propose whose data is not strings",
        JSON.stringify([{ type: "propose", from: "a", to: "b", term: 1, data: [1] }])],
      ["a propose without data", JSON.stringify([{ type: "propose", from: "a", to: "b", term: 1 }])],
    ];
    for (const [what, body] of invalidBodies) {
      it(`answers 400 to ${what}`, async () => {
        const b = await started({ self: "b", ...knowsA });
        const inbox = new Inbox(b);
        const response = await rawPost(b.port(), body, auth);
        expect(response.status).to.equal(400);
        expect(JSON.parse(response.text)).to.have.nested.property("error.code",
          "invalid_request");
        expect(b.stats().requestsInvalid).to.equal(1);
        expect(b.stats().messagesReceived).to.equal(0);
        expect(inbox.count()).to.equal(0);
      });
    }

    it("answers 400 to a body that is not sent as JSON", async () => {
      const b = await started({ self: "b", ...knowsA });
      const response = await rawPost(b.port(), valid(), { ...auth, "content-type": "text/plain" });
      expect(response.status).to.equal(400);
    });

    it("answers 413 to a body over requestBytesMax", async () => {
      const b = await started({ self: "b", ...knowsA, requestBytesMax: 1024 });
      const inbox = new Inbox(b);
      const big = JSON.stringify([{ type: "readIndex", from: "a", to: "b", term: 1,
        context: "x".repeat(2000) }]);
      const response = await rawPost(b.port(), big, auth);
      expect(response.status).to.equal(413);
      expect(JSON.parse(response.text)).to.have.nested.property("error.code", "too_large");
      expect(inbox.count()).to.equal(0);
    });

    it("accepts an empty batch", async () => {
      const b = await started({ self: "b", ...knowsA });
      expect((await rawPost(b.port(), "[]", auth)).status).to.equal(204);
    });

    it("delivers a well-formed message of every type, as sent", async () => {
      const b = await started({ self: "b" });
      const inbox = new Inbox(b);
      const a = await started({ self: "a", peers: [{ id: "b", host, peerPort: b.port() }] });
      b.setPeers([{ id: "a", host, peerPort: a.port() }]);
      const samples = Object.values(sampleMessages("a", "b"));
      a.send(samples);
      await waitFor(() => inbox.count() === samples.length, "every sample");
      expect(inbox.messages()).to.deep.equal(samples);
      expect(b.stats().requestsInvalid).to.equal(0);
    });

    const samples = sampleMessages("a", "b");
    const badShapes: [string, unknown, RegExp][] = [
      ["an append without entries", { ...samples.append, entries: undefined },
        /^messages\[0\]\.entries: Required$/],
      ["an entry with an unknown kind", { ...samples.append, entries: [{ index: 1, term: 1,
        kind: "weird", data: "" }] }, /^messages\[0\]\.entries\[0\]\.kind: /],
      ["a negative prevLogIndex", { ...samples.append, prevLogIndex: -1 },
        /^messages\[0\]\.prevLogIndex: /],
      ["a fractional term", { ...samples.heartbeat, term: 1.5 }, /^messages\[0\]\.term: /],
      ["a term past 2^53", { ...samples.heartbeat, term: 2 ** 60 }, /^messages\[0\]\.term: /],
      ["an unknown field", { ...samples.timeoutNow, extra: 1 }, /^messages\[0\]: Unrecognized/],
      ["a snapshot without meta.voters", { ...samples.snapshot, meta: { index: 1, term: 1 } },
        /^messages\[0\]\.meta\.voters: Required$/],
      ["a heartbeat with a string readId", { ...samples.heartbeat, readId: "1" },
        /^messages\[0\]\.readId: /],
      ["a message from a node that is not a peer", { ...samples.timeoutNow, from: "z" },
        /^messages\[0\]\.from: z is not a known peer/],
    ];
    for (const [what, message, error] of badShapes) {
      it(`refuses the whole batch with 400 naming the field: ${what}`, async () => {
        const b = await started({ self: "b", ...knowsA });
        const inbox = new Inbox(b);
        const response = await rawPost(b.port(), JSON.stringify([message, samples.heartbeat]),
          auth);
        expect(response.status).to.equal(400);
        const body = JSON.parse(response.text) as { error: { code: string; message: string } };
        expect(body.error.code).to.equal("invalid_request");
        expect(body.error.message).to.match(error);
        expect(inbox.count()).to.equal(0);
      });
    }

    it("logs invalid requests at warn, once per sender per interval, without a stack", async () => {
      const { logger, lines } = recordingLogger();
      const b = await started({ self: "b", ...knowsA, logger });
      for (let k = 0; k < 10; k++) {
        expect((await rawPost(b.port(), "[{}]", auth)).status).to.equal(400);
      }
      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings).to.have.length(1);
      expect(warnings[0]?.msg).to.equal("refused an invalid peer request");
      expect(JSON.stringify(lines)).not.to.match(/ {4}at /);
    });
  });

  describe("cluster id", () => {
    it("answers 409 cluster_mismatch to a missing or foreign cluster id; delivers nothing",
      async () => {
        const b = await started({ self: "b", ...knowsA });
        const inbox = new Inbox(b);
        const token = { authorization: auth.authorization };
        const missing = await rawPost(b.port(), valid(), token);
        expect(missing.status).to.equal(409);
        expect(JSON.parse(missing.text)).to.deep.nested.include({
          "error.code": "cluster_mismatch", "error.clusterId": clusterId,
          "error.senderClusterId": null });
        const foreign = await rawPost(b.port(), valid(), { ...token,
          [clusterIdHeader]: "other-cluster" });
        expect(foreign.status).to.equal(409);
        const body = JSON.parse(foreign.text) as { error: { message: string } };
        expect(body.error.message).to.include(clusterId).and.to.include("other-cluster");
        expect(b.stats().requestsRefused).to.equal(2);
        expect(b.stats().messagesReceived).to.equal(0);
        expect(inbox.count()).to.equal(0);
      });

    it("a peer of another cluster is refused and both sides warn once per interval",
      async () => {
        const receiver = recordingLogger();
        const b = await started({ self: "b", ...knowsA, logger: receiver.logger });
        const inbox = new Inbox(b);
        const sender = recordingLogger();
        const a = await started({ self: "a", clusterId: "other-cluster", logger: sender.logger,
          peers: [{ id: "b", host, peerPort: b.port() }] });
        for (let seq = 0; seq < 5; seq++) {
          a.send([numbered("a", "b", seq)]);
          await waitFor(() => a.stats().peers.b?.requestErrors === seq + 1, "a refusal");
        }
        expect(a.stats().peers.b?.messagesDropped).to.equal(5);
        expect(inbox.count()).to.equal(0);
        const warned = (lines: LogLine[]): LogLine[] => lines.filter((line) => line.level === 40);
        expect(warned(receiver.lines).map((line) => line.msg))
          .to.deep.equal(["refused peer request from another cluster"]);
        expect(warned(sender.lines).map((line) => line.msg))
          .to.deep.equal(["peer b belongs to another cluster; it refuses our messages"]);
        expect(warned(sender.lines)[0]).to.include({ peerClusterId: clusterId });
      });

    it("rejects a cluster id that could not travel in a header", () => {
      expect(() => transport({ self: "a", clusterId: "" })).to.throw(/clusterId/);
      expect(() => transport({ self: "a", clusterId: "a b" })).to.throw(/clusterId/);
      expect(() => transport({ self: "a", clusterId: "x\n" })).to.throw(/clusterId/);
    });
  });

  describe("client", () => {
    it("keeps one POST in flight per peer and sends what queued meanwhile next", async () => {
      const { peer, port } = await fakePeer();
      const a = await started({ self: "a", peers: [{ id: "b", host, peerPort: port }] });
      a.send([numbered("a", "b", 0)]);
      await waitFor(() => peer.requests.length === 1, "the first POST");
      a.send([numbered("a", "b", 1)]);
      await new Promise((resolve) => setImmediate(resolve));
      a.send([numbered("a", "b", 2), numbered("a", "b", 3)]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(a.stats().peers.b).to.include({ requestsInflight: 1, messagesQueued: 3 });
      const first = peer.requests[0]!;
      expect(first.headers.authorization).to.equal(`Bearer ${token}`);
      expect(first.headers.connection).to.equal("keep-alive");
      expect(seqs(JSON.parse(first.body) as RaftMessage[])).to.deep.equal([0]);
      first.respond();
      await waitFor(() => peer.requests.length === 2, "the second POST");
      expect(seqs(JSON.parse(peer.requests[1]!.body) as RaftMessage[])).to.deep.equal([1, 2, 3]);
      peer.requests[1]!.respond();
      await waitFor(() => a.stats().peers.b?.messagesSent === 4, "4 messages sent");
      expect(a.stats().peers.b).to.include({ batchesSent: 2, requestsInflight: 0,
        messagesDropped: 0 });
    });

    it("writes to the peers in the order the messages named them, not in the peer list's",
      async () => {
        const { peer: b, port: portB } = await fakePeer();
        const { peer: c, port: portC } = await fakePeer();
        const a = await started({ self: "a", peers: [{ id: "b", host, peerPort: portB },
          { id: "c", host, peerPort: portC }] });
        // One POST each first, so that both connections are open when the order is asked. (A
        // stream is flushed by the same loop, flush(); between two receivers in one process
        // the arrival of frames was not a reliable witness of the order they were written in.)
        a.send([numbered("a", "b", 0), numbered("a", "c", 0)]);
        await waitFor(() => b.requests.length === 1 && c.requests.length === 1, "both POSTs");
        b.requests[0]!.respond();
        c.requests[0]!.respond();
        await waitFor(() => a.stats().peers.c?.messagesSent === 1 &&
          a.stats().peers.b?.messagesSent === 1, "both answered");
        a.send([numbered("a", "c", 1), numbered("a", "b", 1)]);
        a.flushNow();
        await waitFor(() => b.requests.length === 2 && c.requests.length === 2, "the next two");
        expect(c.requests[1]!.arrival).to.be.below(b.requests[1]!.arrival);
        b.requests[1]!.respond();
        c.requests[1]!.respond();
      });

    it("abandons a POST after rpcTimeoutMs and drops its batch", async () => {
      const { peer, port } = await fakePeer();
      const a = await started({ self: "a", rpcTimeoutMs: 150,
        peers: [{ id: "b", host, peerPort: port }] });
      const startedMs = performance.now();
      a.send([numbered("a", "b", 0), numbered("a", "b", 1)]);
      await waitFor(() => a.stats().peers.b?.requestErrors === 1, "a timeout");
      expect(performance.now() - startedMs).to.be.within(100, 1000);
      expect(a.stats().peers.b).to.include({ messagesDropped: 2, requestsInflight: 0 });
      expect(peer.requests).to.have.length(1);
    });

    it("counts a non-204 answer as an error", async () => {
      const { peer, port } = await fakePeer();
      const a = await started({ self: "a", peers: [{ id: "b", host, peerPort: port }] });
      a.send([numbered("a", "b", 0)]);
      await waitFor(() => peer.requests.length === 1, "the POST");
      peer.requests[0]!.respond(500);
      await waitFor(() => a.stats().peers.b?.requestErrors === 1, "an error");
      expect(a.stats().peers.b?.messagesDropped).to.equal(1);
    });

    it("close() aborts a POST that is stuck and does not wait for it", async () => {
      const { peer, port } = await fakePeer();
      const a = transport({ self: "a", rpcTimeoutMs: 60_000,
        peers: [{ id: "b", host, peerPort: port }] });
      await a.start();
      a.send([numbered("a", "b", 0)]);
      await waitFor(() => peer.requests.length === 1, "the POST");
      const startedMs = performance.now();
      await a.close();
      expect(performance.now() - startedMs).to.be.below(500);
      await waitFor(() => a.stats().peers.b?.requestsInflight === 0, "the abort");
    });

    it("splits what is queued into requests of at most requestBytesMax", async () => {
      const options = { requestBytesMax: 2048 };
      const b = await started({ self: "b", ...knowsA, ...options });
      const inbox = new Inbox(b);
      const a = await started({ self: "a", ...options,
        peers: [{ id: "b", host, peerPort: b.port() }] });
      const context = (seq: number, length: number): RaftMessage =>
        ({ type: "readIndex", from: "a", to: "b", term: 1, context: `${seq}:`.padEnd(length) });
      const messages = [...Array(12).keys()].map((seq) => context(seq, 400));
      messages.splice(5, 0, context(99, 4000));
      a.send(messages);
      await waitFor(() => inbox.count() === 12, "12 messages");
      const received = inbox.messages().map((message) =>
        message.type === "readIndex" ? Number(message.context.split(":")[0]) : -1);
      expect(received).to.deep.equal([...Array(12).keys()]);
      expect(inbox.batches.length).to.be.at.least(3);
      expect(a.stats().peers.b?.messagesDropped).to.equal(1);
      expect(b.stats().requestsInvalid).to.equal(0);
    });
  });

  describe("stream", () => {
    /** Opens a peer stream to `port` by hand and resolves with the socket, or the refusal. */
    function openStream(port: number, headers: Record<string, string>)
      : Promise<{ socket: Duplex } | { status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const request = http.request({ host, port, path: peerStreamPath, method: "GET",
          headers: { connection: "upgrade", upgrade: peerStreamProtocol, ...headers } });
        request.on("upgrade", (_response, socket: Duplex) => resolve({ socket }));
        request.on("response", (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => (body += chunk.toString()));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on("error", reject);
        request.end();
      });
    }

    it("refuses an upgrade without the token (401) or from another cluster (409)", async () => {
      const b = await started({ self: "b", ...knowsA });
      const inbox = new Inbox(b);
      const noToken = await openStream(b.port(), { [clusterIdHeader]: clusterId });
      expect(noToken).to.include({ status: 401 });
      const foreign = await openStream(b.port(), { ...auth, [clusterIdHeader]: "other" });
      expect(foreign).to.include({ status: 409 });
      expect(JSON.parse((foreign as { body: string }).body)).to.deep.nested.include({
        "error.code": "cluster_mismatch", "error.clusterId": clusterId });
      expect(b.stats().requestsRefused).to.equal(2);
      expect(inbox.count()).to.equal(0);
    });

    it("drops an invalid frame, keeps the stream, and closes it on an oversized one",
      async () => {
        const b = await started({ self: "b", ...knowsA, requestBytesMax: 4096 });
        const inbox = new Inbox(b);
        const opened = await openStream(b.port(), auth);
        if (!("socket" in opened)) throw new Error(`refused: ${opened.status}`);
        const { socket } = opened;
        socket.write(encodeFrame("not json"));
        socket.write(encodeFrame(JSON.stringify([{ type: "heartbeat", from: "a" }])));
        socket.write(encodeFrame(valid()));
        await waitFor(() => inbox.count() === 1, "the valid frame");
        expect(b.stats().requestsInvalid).to.equal(2);
        const closed = new Promise((resolve) => socket.once("close", resolve));
        const header = Buffer.alloc(4);
        header.writeUInt32BE(4097, 0);
        socket.write(header);
        await closed;
        expect(b.stats().requestsInvalid).to.equal(3);
      });

    it("a peer of another cluster is refused and both sides warn once per interval",
      async () => {
        const receiver = recordingLogger();
        const b = await started({ self: "b", ...knowsA, logger: receiver.logger });
        const inbox = new Inbox(b);
        const sender = recordingLogger();
        const a = await started({ self: "a", clusterId: "other-cluster", logger: sender.logger,
          stream: true, peers: [{ id: "b", host, peerPort: b.port() }] });
        for (let seq = 0; seq < 3; seq++) {
          a.send([numbered("a", "b", seq)]);
          await waitFor(() => a.stats().peers.b?.requestErrors === seq + 1, "a refusal");
        }
        expect(a.stats().peers.b?.messagesDropped).to.equal(3);
        expect(inbox.count()).to.equal(0);
        const warned = (lines: LogLine[]): LogLine[] => lines.filter((line) => line.level === 40);
        expect(warned(receiver.lines).map((line) => line.msg))
          .to.deep.equal(["refused peer request from another cluster"]);
        expect(warned(sender.lines).map((line) => line.msg))
          .to.deep.equal(["peer b belongs to another cluster; it refuses our messages"]);
      });

    it("splits what is queued into frames of at most requestBytesMax, in order", async () => {
      const options = { requestBytesMax: 2048 };
      const b = await started({ self: "b", ...knowsA, ...options });
      const inbox = new Inbox(b);
      const a = await started({ self: "a", ...options, stream: true,
        peers: [{ id: "b", host, peerPort: b.port() }] });
      const context = (seq: number, length: number): RaftMessage =>
        ({ type: "readIndex", from: "a", to: "b", term: 1, context: `${seq}:`.padEnd(length) });
      const messages = [...Array(12).keys()].map((seq) => context(seq, 400));
      messages.splice(5, 0, context(99, 4000));
      a.send(messages);
      await waitFor(() => inbox.count() === 12, "12 messages");
      const received = inbox.messages().map((message) =>
        message.type === "readIndex" ? Number(message.context.split(":")[0]) : -1);
      expect(received).to.deep.equal([...Array(12).keys()]);
      expect(inbox.batches.length).to.be.at.least(3);
      expect(a.stats().peers.b?.messagesDropped).to.equal(1);
      expect(b.stats().requestsInvalid).to.equal(0);
    });
  });

  describe("lifecycle", () => {
    it("start() rejects when the port is taken", async () => {
      const first = await started({ self: "a" });
      const second = transport({ self: "b", peerPort: first.port() });
      let error: unknown = null;
      await second.start().catch((caught: unknown) => {
        error = caught;
      });
      expect(error).to.have.property("code", "EADDRINUSE");
      await second.close();
    });

    it("setPeers() adds a peer at runtime and ignores an entry for itself", async () => {
      const b = await started({ self: "b", ...knowsA });
      const inbox = new Inbox(b);
      const a = await started({ self: "a" });
      a.send([numbered("a", "b", 0)]);
      expect(a.stats().messagesDropped).to.equal(1);
      a.setPeers([{ id: "a", host, peerPort: a.port() }, { id: "b", host, peerPort: b.port() }]);
      expect(Object.keys(a.stats().peers)).to.deep.equal(["b"]);
      a.send([numbered("a", "b", 1)]);
      await waitFor(() => inbox.count() === 1, "a message");
      expect(seqs(inbox.messages())).to.deep.equal([1]);
    });

    it("rejects invalid options with a readable error", () => {
      expect(() => transport({ self: "a", peerToken: "" })).to.throw(/peerToken/);
      expect(() => transport({ self: "a", queueMessagesMax: 0 })).to.throw(/queueMessagesMax/);
      expect(() => transport({ self: "a", rpcTimeoutMs: 1.5 })).to.throw(/rpcTimeoutMs/);
    });
  });
});
