/**
 * httpRequest, the node:http helper of every caller (src/wire/http-request.ts). Goal: it
 * returns any status with its body, bounds the whole exchange and the answer's size, and names
 * each failure by a code that tells whether the request can have reached the server. Method: a
 * real server on 127.0.0.1 (a free port) that answers, stalls, or answers too much.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { httpRequest, HttpRequestError } from "../../src/wire/http-request.js";
import { freePort } from "../../src/cluster/local-cluster.js";

async function failureOf(promise: Promise<unknown>): Promise<HttpRequestError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(HttpRequestError);
    return error as HttpRequestError;
  }
  throw new Error("expected a failure");
}

describe("httpRequest", () => {
  let server: http.Server;
  let base: string;
  const stalled: http.ServerResponse[] = [];

  before(async () => {
    server = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        if (request.url === "/echo") {
          response.writeHead(418, { "content-type": "text/plain" });
          response.end(`${request.method} ${request.headers["x-test"]} ${body}`);
        } else if (request.url === "/big") {
          response.end("x".repeat(5000));
        } else {
          stalled.push(response);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const response of stalled) response.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("returns any status with its headers and body, sending the body and headers given", async () => {
    const answer = await httpRequest({ method: "POST", url: `${base}/echo`, body: "hé",
      headers: { "x-test": "yes" }, timeoutMs: 2000 });
    expect(answer.status).to.equal(418);
    expect(answer.headers["content-type"]).to.equal("text/plain");
    expect(answer.body).to.equal("POST yes hé");
  });

  it("bounds the whole exchange (ETIMEDOUT) and the answer's size", async () => {
    const started = Date.now();
    expect((await failureOf(httpRequest({ method: "GET", url: `${base}/stall`,
      timeoutMs: 100 }))).code).to.equal("ETIMEDOUT");
    expect(Date.now() - started).to.be.below(2000);
    expect((await failureOf(httpRequest({ method: "GET", url: `${base}/big`, timeoutMs: 2000,
      responseBytesMax: 1000 }))).code).to.equal("ERR_RESPONSE_TOO_LARGE");
  });

  it("stops on an abort, even one signalled before the start", async () => {
    const controller = new AbortController();
    const pending = httpRequest({ method: "GET", url: `${base}/stall`, timeoutMs: 5000,
      signal: controller.signal });
    controller.abort();
    expect((await failureOf(pending)).code).to.equal("ERR_ABORTED");
    expect((await failureOf(httpRequest({ method: "GET", url: `${base}/echo`, timeoutMs: 5000,
      signal: controller.signal }))).code).to.equal("ERR_ABORTED");
  });

  it("says ECONNREFUSED when nothing listens: the request never left", async () => {
    const port = await freePort();
    expect((await failureOf(httpRequest({ method: "GET", url: `http://127.0.0.1:${port}/`,
      timeoutMs: 2000 }))).code).to.equal("ECONNREFUSED");
  });
});
