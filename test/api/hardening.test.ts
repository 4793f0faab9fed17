/**
 * The client API against malformed and hostile requests (issue 9). Goal: every such request
 * gets a 4xx in the `{"error":{"code","message"}}` shape, at once, with nothing logged above
 * debug: malformed percent-escapes, bodies that do not decompress, unknown encodings and
 * content types, bodies that are JSON but not objects, unknown or repeated query keys, overlong
 * path parameters, declared or streamed bodies over the limit (answered before the body is
 * read), and requests node's parser refuses; and the client server carries bounded timeouts.
 * Method: createClientApp over a FakeNodeService served by listenClientApp (as market-node
 * serves it) on 127.0.0.1, raw bytes over node:net so that nothing is normalised on the way,
 * and a pino logger at info whose output must stay empty.
 */
import { expect } from "chai";
import type { Server } from "node:http";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import pino from "pino";
import { clientServerDefaults, type AdminFaults } from "../../src/api/index.js";
import { toApiError } from "../../src/api/error-middleware.js";
import { FakeNodeService } from "./fake-node-service.js";
import { serveNode } from "./helpers.js";
import { errorShape, rawBytes, rawRequest, type RawAnswer } from "./raw-http.js";

const adminToken = "admin-secret";
const bodyLimitBytes = 4096;
const json = { "content-type": "application/json" };
const buy = JSON.stringify({ requestId: "b1", lines: [{ sku: "milk-1l", qty: 1 }] });

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) =>
    error === null ? resolve(count) : reject(error)));
}

function expectError(answer: RawAnswer, status: number, code: string): { message: string } {
  expect(answer.status, answer.body).to.equal(status);
  const error = errorShape(answer.body);
  expect(error, answer.body).to.not.equal(null);
  expect(error?.code).to.equal(code);
  return error ?? { message: "" };
}

describe("client API: malformed requests", () => {
  const logged: string[] = [];
  const logger = pino({ level: "info" }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString());
      done();
    },
  }));
  const faults: AdminFaults = { setRules: () => {}, clearRules: () => {}, rules: () => [] };
  let served: Awaited<ReturnType<typeof serveNode>>;
  const send = (method: string, target: string, headers: Record<string, string> = {},
    body?: Buffer | string): Promise<RawAnswer> =>
    rawRequest(served.port, rawBytes(method, target, headers, body));

  beforeEach(async () => {
    logged.length = 0;
    served = await serveNode(new FakeNodeService("n1").loadDemo(), {
      logger, bodyLimitBytes,
      admin: { adminToken, faults, transferLeadership: () => "started" },
    });
  });
  afterEach(async () => {
    await served.close();
    expect(logged, "nothing logged at info or above").to.deep.equal([]);
  });

  it("a malformed percent-escape in a path parameter is 400 invalid_request, not logged",
    async () => {
      for (const [method, path] of [["GET", "/v1/items/s%ZZ"], ["GET", "/v1/items/%C0%AF"],
        ["GET", "/v1/orders/%E0%80"], ["POST", "/v1/orders/%ZZ/cancel"],
        ["POST", "/v1/items/%/stock"]] as const) {
        const answer = await send(method, path, json, method === "POST" ? "{}" : undefined);
        expect(expectError(answer, 400, "invalid_request").message).to.include("percent-escape");
      }
    });

  it("a body that does not decompress is 400, on the client and the admin API", async () => {
    for (const encoding of ["gzip", "deflate", "br"]) {
      const client = await send("POST", "/v1/orders",
        { ...json, "content-encoding": encoding }, buy);
      expect(expectError(client, 400, "invalid_request").message).to.include(encoding);
      const admin = await send("POST", "/admin/leadership/transfer",
        { ...json, "content-encoding": encoding, authorization: `Bearer ${adminToken}` },
        "{\"target\":\"n2\"}");
      expectError(admin, 400, "invalid_request");
    }
  });

  it("a gzip body is read; an unknown content-encoding is 415 unsupported_media_type",
    async () => {
      const zipped = await send("POST", "/v1/orders", { ...json, "content-encoding": "gzip" },
        gzipSync(buy));
      expect(zipped.status, zipped.body).to.equal(201);
      for (const encoding of ["compress", "gzip, gzip", "constructor"]) {
        const answer = await send("POST", "/v1/orders",
          { ...json, "content-encoding": encoding }, buy);
        expectError(answer, 415, "unsupported_media_type");
      }
    });

  it("a gzip body that inflates past the limit is 413 too_large", async () => {
    const bomb = gzipSync(JSON.stringify({ requestId: "x".repeat(100_000) }));
    expect(bomb.length).to.be.below(bodyLimitBytes);
    const answer = await send("POST", "/v1/orders", { ...json, "content-encoding": "gzip" },
      bomb);
    expectError(answer, 413, "too_large");
  });

  it("a non-JSON content type or charset on a write is 415 unsupported_media_type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
      "application/json; charset=latin1", "application/jsonx"]) {
      const answer = await send("POST", "/v1/orders", { "content-type": type }, buy);
      expectError(answer, 415, "unsupported_media_type");
    }
    const vendor = await send("POST", "/v1/orders",
      { "content-type": "application/vnd.raftmarket+json; charset=UTF-8" }, buy);
    expect(vendor.status, vendor.body).to.equal(201);
  });

  it("JSON that is not an object is 400 saying the body must be a JSON object", async () => {
    for (const body of ["\"str\"", "5", "null", "[]", "[{\"requestId\":\"a\"}]", "true"]) {
      const answer = await send("POST", "/v1/orders", json, body);
      expect(expectError(answer, 400, "invalid_request").message)
        .to.equal("body must be a JSON object");
      const admin = await send("PUT", "/admin/faults",
        { ...json, authorization: `Bearer ${adminToken}` }, body);
      expectError(admin, 400, "invalid_request");
    }
    const notUtf8 = await send("POST", "/v1/orders", json, Buffer.from([0x7b, 0xff, 0x7d]));
    expect(expectError(notUtf8, 400, "invalid_request").message).to.include("UTF-8");
  });

  it("an unknown, array, object or repeated query key is 400 naming the key", async () => {
    const cases: [string, string][] = [
      ["/v1/items?inStock[]=true", "inStock[]"], ["/v1/items?area[a]=b", "area[a]"],
      ["/v1/items?foo=1", "foo"], ["/v1/items?limit=1&limit=2", "limit"],
      ["/v1/items?area=Bakery&area=Dairy", "area"], ["/v1/items/apple-1kg?q=x", "q"],
      ["/v1/cluster/status?verbose=1", "verbose"], ["/v1/orders/o-1?consistency=stale&x=", "x"],
    ];
    for (const [target, key] of cases) {
      const answer = await send("GET", target);
      expectError(answer, 400, "invalid_request");
      expect(JSON.parse(answer.body).error.field, target).to.equal(key);
    }
    const write = await send("POST", "/v1/orders?dryRun=true", json, buy);
    expectError(write, 400, "invalid_request");
    const fine = await send("GET", "/v1/items?area=Bakery&inStock=true&limit=2&consistency=stale");
    expect(fine.status).to.equal(200);
  });

  it("an overlong sku or orderId is 400 without echoing the whole value", async () => {
    const long = "a".repeat(5000);
    for (const [method, path] of [["GET", `/v1/items/${long}`], ["GET", `/v1/orders/${long}`],
      ["POST", `/v1/items/${long}/stock`], ["POST", `/v1/orders/${long}/cancel`]] as const) {
      const answer = await send(method, path, json, method === "POST" ? "{}" : undefined);
      expectError(answer, 400, "invalid_request");
      expect(answer.body.length, path.slice(0, 20)).to.be.below(400);
    }
    const unknownRoute = await send("GET", `/v9/${long}`);
    expectError(unknownRoute, 404, "not_found");
    expect(unknownRoute.body.length).to.be.below(400);
  });

  it("requests node's parser refuses get the JSON shape: 400, 431", async () => {
    const garbage = await rawRequest(served.port, "NOT HTTP AT ALL\r\n\r\n");
    expectError(garbage, 400, "invalid_request");
    const badHeader = await rawRequest(served.port,
      "GET /v1/items HTTP/1.1\r\nhost: x\r\nx-bad: a\u0001b\r\n\r\n");
    expectError(badHeader, 400, "invalid_request");
    const huge = await send("GET", "/v1/items", { "x-big": "b".repeat(20_000) });
    expectError(huge, 431, "headers_too_large");
  });
});

describe("client API: limits before the body is read", () => {
  let served: Awaited<ReturnType<typeof serveNode>>;

  beforeEach(async () => {
    served = await serveNode(new FakeNodeService("n1").loadDemo(), { bodyLimitBytes });
  });
  afterEach(async () => served.close());

  it("a declared Content-Length over the limit is 413 at once, with 5 bytes of 100 MB sent",
    async () => {
      const bytes = rawBytes("POST", "/v1/orders",
        { ...json, "content-length": String(100 * 1024 * 1024) }, "{\"a\":");
      const answer = await rawRequest(served.port, bytes,
        { timeoutMs: 3000 });
      expect(answer.ending).to.equal("answered");
      expectError(answer, 413, "too_large");
      expect(answer.headers.connection).to.equal("close");
      expect(answer.elapsedMs).to.be.below(2000);
    });

  it("a chunked body is cut off at the limit: 413 while the client is still sending",
    async () => {
      let sentBytes = 0;
      const chunk = `400\r\n${" ".repeat(0x400)}\r\n`;
      const answer = await rawRequest(served.port,
        rawBytes("POST", "/v1/orders", { ...json, "transfer-encoding": "chunked" }), {
          timeoutMs: 5000,
          // Keeps sending 1 KiB chunks without ever ending the body.
          onConnect: (socket) => {
            const timer = setInterval(() => {
              if (socket.destroyed) clearInterval(timer);
              else {
                socket.write(chunk);
                sentBytes += chunk.length;
              }
            }, 1);
            socket.on("close", () => clearInterval(timer));
          },
        });
      expect(answer.ending).to.equal("answered");
      expectError(answer, 413, "too_large");
      expect(sentBytes).to.be.below(1024 * 1024);
    });

  it("the limit of the JSON body still lets a body of exactly the limit through", async () => {
    const body = JSON.stringify({ requestId: "r", lines: [{ sku: "milk-1l", qty: 1 }] });
    const padded = body.padEnd(bodyLimitBytes, " ");
    const answer = await rawRequest(served.port, rawBytes("POST", "/v1/orders", json, padded));
    expect(answer.status, answer.body).to.equal(201);
  });
});

describe("client API: server timeouts", () => {
  it("listenClientApp bounds headers, requests, keep-alive and connections", async () => {
    const served = await serveNode(new FakeNodeService("n1"));
    try {
      expect(served.server.headersTimeout).to.equal(clientServerDefaults.headersTimeoutMs);
      expect(served.server.requestTimeout).to.equal(clientServerDefaults.requestTimeoutMs);
      expect(served.server.keepAliveTimeout).to.equal(clientServerDefaults.keepAliveTimeoutMs);
      expect(served.server.maxConnections).to.equal(clientServerDefaults.connectionsMax);
      for (const bound of [served.server.headersTimeout, served.server.requestTimeout,
        served.server.keepAliveTimeout, served.server.maxConnections]) {
        expect(bound).to.be.above(0).and.below(100_000);
      }
    } finally {
      await served.close();
    }
  });

  it("a client that never finishes its headers (slowloris) gets 408 and is closed", async () => {
    const served = await serveNode(new FakeNodeService("n1"), {},
      { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 100 });
    try {
      const answer = await rawRequest(served.port, "GET /v1/items HTTP/1.1\r\nhost: x\r\n",
        { timeoutMs: 5000 });
      expectError(answer, 408, "request_timeout");
      expect(answer.elapsedMs).to.be.below(3000);
    } finally {
      await served.close();
    }
  });

  it("a client that never finishes its body gets 408 after requestTimeout", async () => {
    const served = await serveNode(new FakeNodeService("n1"), {},
      { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 100 });
    try {
      const answer = await rawRequest(served.port,
        rawBytes("POST", "/v1/orders", { ...json, "content-length": "100" }, "{"),
        { timeoutMs: 5000 });
      expectError(answer, 408, "request_timeout");
      expect(answer.elapsedMs).to.be.below(3000);
    } finally {
      await served.close();
    }
  });

  it("connections beyond connectionsMax are closed at once", async () => {
    const served = await serveNode(new FakeNodeService("n1"), {}, { connectionsMax: 1 });
    try {
      // The first connection holds its slot by never finishing its request.
      const holder = rawRequest(served.port, "GET /v1/items HTTP/1.1\r\n",
        { timeoutMs: 800 });
      while (await connectionCount(served.server) < 1) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const refused = await rawRequest(served.port, rawBytes("GET", "/v1/cluster/status"),
        { timeoutMs: 1500 });
      expect(refused.status).to.equal(0);
      expect(refused.ending).to.be.oneOf(["closed", "reset"]);
      await holder;
    } finally {
      await served.close();
    }
  });
});

describe("client API: errors of the HTTP stack", () => {
  const limit = 4096;
  const cases: { name: string; error: unknown; status: number; code: string }[] = [
    { name: "a URIError (malformed escape)", error: new URIError("URI malformed"), status: 400,
      code: "invalid_request" },
    { name: "express's param decode error", error: Object.assign(new URIError("Failed to " +
      "decode param '%ZZ'"), { status: 400 }), status: 400, code: "invalid_request" },
    { name: "entity.parse.failed", error: Object.assign(new SyntaxError("Unexpected token"),
      { status: 400, type: "entity.parse.failed" }), status: 400, code: "invalid_request" },
    { name: "entity.too.large", error: Object.assign(new Error("request entity too large"),
      { status: 413, statusCode: 413, expose: true, type: "entity.too.large" }), status: 413,
    code: "too_large" },
    { name: "encoding.unsupported", error: Object.assign(new Error("unsupported content " +
      "encoding"), { status: 415, type: "encoding.unsupported" }), status: 415,
    code: "unsupported_media_type" },
    { name: "charset.unsupported", error: Object.assign(new Error("unsupported charset"),
      { status: 415, type: "charset.unsupported" }), status: 415, code: "unsupported_media_type" },
    { name: "request.aborted", error: Object.assign(new Error("request aborted"),
      { status: 400, type: "request.aborted" }), status: 400, code: "invalid_request" },
    { name: "a 4xx statusCode only", error: Object.assign(new Error("gone"),
      { statusCode: 408 }), status: 408, code: "request_timeout" },
    { name: "an exposed error of another 4xx", error: Object.assign(new Error("teapot"),
      { status: 418, expose: true }), status: 400, code: "invalid_request" },
  ];
  for (const { name, error, status, code } of cases) {
    it(`maps ${name} to ${status} ${code}`, () => {
      const apiError = toApiError(error, limit);
      expect(apiError?.code).to.equal(code);
      expect(apiError?.status).to.equal(status);
    });
  }

  it("leaves a bug (no 4xx status, or a 5xx one) to the 500 path", () => {
    expect(toApiError(new Error("boom"), limit)).to.equal(null);
    expect(toApiError(Object.assign(new Error("x"), { status: 500 }), limit)).to.equal(null);
    expect(toApiError("a string", limit)).to.equal(null);
  });
});
