/**
 * sendJson writes what express's res.status(s).json(body) writes, with this app's settings (no
 * ETag): method, two routes on one express app answering the same bodies, one each way, read
 * with node's client; the raw header lines (the Date aside), the status and the body bytes
 * must be equal, for GET, POST and HEAD and for bodies with non-ASCII text.
 */
import { expect } from "chai";
import express from "express";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { sendJson } from "../../src/api/send-json.js";

interface Raw { status: number; headers: string[]; body: string }

function fetchRaw(port: number, method: string, path: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, method, path }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => { body += chunk; });
      response.on("end", () => {
        const headers: string[] = [];
        for (let k = 0; k < response.rawHeaders.length; k += 2) {
          if (response.rawHeaders[k]!.toLowerCase() !== "date") {
            headers.push(`${response.rawHeaders[k]}: ${response.rawHeaders[k + 1]}`);
          }
        }
        resolve({ status: response.statusCode ?? 0, headers, body });
      });
    });
    request.on("error", reject);
    request.end();
  });
}

describe("sendJson", () => {
  it("answers exactly as express's res.status().json() does", async () => {
    const bodies: unknown[] = [{ order: { orderId: "o-1", lines: [{ sku: "ä-ü", qty: 1 }] } },
      { items: [], appliedIndex: 0 }, { text: "\u2028 \"quoted\" \\ é" }];
    const app = express();
    app.disable("x-powered-by");
    app.set("etag", false);
    app.all("/express/:k/:status", (request, response) => {
      response.status(Number(request.params.status)).json(bodies[Number(request.params.k)]);
    });
    app.all("/lean/:k/:status", (request, response) => {
      sendJson(response, Number(request.params.status), bodies[Number(request.params.k)]);
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const method of ["GET", "POST", "HEAD"]) {
        for (let k = 0; k < bodies.length; k++) {
          for (const status of [200, 201]) {
            const viaExpress = await fetchRaw(port, method, `/express/${k}/${status}`);
            const lean = await fetchRaw(port, method, `/lean/${k}/${status}`);
            expect(lean, `${method} body ${k} status ${status}`).to.deep.equal(viaExpress);
            expect(lean.status).to.equal(status);
            if (method !== "HEAD") expect(JSON.parse(lean.body)).to.deep.equal(bodies[k]);
          }
        }
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
