/**
 * express-classes.ts: node makes each request and response of an express app's server with the
 * app's prototypes already (so express's setPrototypeOf changes nothing), and everything express
 * gives a route still works, through a mounted sub-app too.
 */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { createClientServer } from "../../src/api/client-server.js";
import { expressServerClasses } from "../../src/wire/express-classes.js";

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe("express-classes: an express app's request and response classes", () => {
  it("creates each request and response with the app's prototypes, before express sees them",
    async () => {
      const app = express();
      const arrived: { request: object | null; response: object | null }[] = [];
      app.get("/probe", (request, response) => {
        response.json({ host: request.get("host") === undefined ? null : "set",
          isNodeRequest: request instanceof http.IncomingMessage,
          isNodeResponse: response instanceof http.ServerResponse,
          // Express's setPrototypeOf left them as node made them.
          unchanged: Object.getPrototypeOf(request) === arrived[0]?.request &&
            Object.getPrototypeOf(response) === arrived[0]?.response,
          app: request.app === app && response.app === app });
      });
      const server = createClientServer(app);
      // Runs before the app: what node made, before express's setPrototypeOf.
      server.prependListener("request", (request, response) => {
        arrived.push({ request: Object.getPrototypeOf(request) as object | null,
          response: Object.getPrototypeOf(response) as object | null });
      });
      const url = await listen(server);
      try {
        const answer = await fetch(`${url}/probe`);
        expect(answer.status).to.equal(200);
        expect(await answer.json()).to.deep.equal({ host: "set", isNodeRequest: true,
          isNodeResponse: true, unchanged: true, app: true });
        expect(arrived).to.have.length(1);
        expect(arrived[0]!.request).to.equal(app.request);
        expect(arrived[0]!.response).to.equal(app.response);
      } finally {
        await close(server);
      }
    });

  it("keeps a mounted sub-app working, and the parent's prototypes after it", async () => {
    const app = express();
    const sub = express();
    sub.get("/hello", (request, response) => {
      response.status(201).json({ path: request.path, baseUrl: request.baseUrl });
    });
    sub.get("/pass", (_request, _response, next) => next());
    app.use("/sub", sub);
    app.get("/sub/pass", (request, response) => {
      response.json({ parentPrototype: Object.getPrototypeOf(request) === app.request });
    });
    const server = createClientServer(app);
    const url = await listen(server);
    try {
      const hello = await fetch(`${url}/sub/hello`);
      expect(hello.status).to.equal(201);
      expect(await hello.json()).to.deep.equal({ path: "/hello", baseUrl: "/sub" });
      const passed = await fetch(`${url}/sub/pass`);
      expect(await passed.json()).to.deep.equal({ parentPrototype: true });
    } finally {
      await close(server);
    }
  });

  it("keeps req.app the sub-app's when it got its classes before it was mounted", async () => {
    const sub = express();
    sub.get("/who", (request, response) => {
      response.json({ app: request.app === sub ? "sub" : "other",
        resApp: response.app === sub ? "sub" : "other" });
    });
    const own = createClientServer(sub);
    const app = express();
    app.use("/sub", sub);
    const parent = createClientServer(app);
    const ownUrl = await listen(own);
    const parentUrl = await listen(parent);
    try {
      for (const url of [`${ownUrl}/who`, `${parentUrl}/sub/who`]) {
        expect(await (await fetch(url)).json()).to.deep.equal({ app: "sub", resApp: "sub" });
      }
    } finally {
      await close(parent);
      await close(own);
    }
  });

  it("gives a second server of the same app the same classes", () => {
    const app = express();
    const request = app.request;
    const response = app.response;
    const first = expressServerClasses(app);
    expect(expressServerClasses(app)).to.equal(first);
    expect(Object.getPrototypeOf(first.IncomingMessage.prototype)).to.equal(request);
    expect(Object.getPrototypeOf(first.ServerResponse.prototype)).to.equal(response);
    expect(app.request).to.equal(first.IncomingMessage.prototype);
  });
});
