/**
 * TLS on the wire (issue 9). Goal: with a tls section in the cluster file, the client API is
 * HTTPS with each node's own certificate and the peer port is mutual TLS: a peer must present a
 * certificate signed by the cluster CA or the handshake fails, before any token or body is
 * looked at. Method: LocalCluster with `tls` makes a development CA and node certificates
 * (dev-certs.ts, the code behind `npm run certs`) in its temporary folder and runs three real
 * market-node processes on free loopback ports; MarketClient (trusting the cluster CA) and
 * market-cli (reading the CA from the cluster file, or from --cacert) buy through a follower,
 * which forwards to the leader over HTTPS. Then raw requests probe the edges: to the peer port
 * with no client certificate, with one from another CA, and (the control, which must succeed)
 * with a node's own; plain HTTP to the client port; a client that does not trust the CA. Waits
 * poll with generous bounds; the cluster is always stopped in an after hook.
 */
import { readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import tls from "node:tls";
import path from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { CliSession, runMarketCli } from "../../src/cli/market-cli-program.js";
import { MarketClient, MarketClientError } from "../../src/client/index.js";
import {
  ClusterConfigError,
  clusterIdOf,
  parseClusterConfig,
} from "../../src/cluster/cluster-config.js";
import { clusterIdHeader } from "../../src/transport/index.js";
import { makeCertificateAuthority, makeNodeCertificate } from "../../src/cluster/dev-certs.js";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import {
  httpRequest, HttpRequestError, type HttpAnswer,
} from "../../src/wire/http-request.js";
import { runTsScript } from "./helpers.js";

const marketNodeScript = path.resolve("src/cli/market-node.ts");

/** The answer, or the error code when no HTTP answer came. */
async function answerOrCode(request: Promise<HttpAnswer>): Promise<number | string> {
  try {
    return (await request).status;
  } catch (error) {
    expect(error).to.be.instanceOf(HttpRequestError);
    return (error as HttpRequestError).code;
  }
}

/**
 * Opens a TLS connection and sends nothing, so that the server's alert is read rather than lost
 * to a reset: resolves with the error code, "closed" if the server hangs up without one, or
 * "open" if the server keeps the connection open for 2 s (waiting for a request).
 */
function handshakeOutcome(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("open");
    }, 2000);
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? "error");
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

async function runCli(argv: string[], cwd: string): Promise<{ code: number; stdout: string;
  stderr: string }> {
  let stdout = "";
  let stderr = "";
  const session = new CliSession({ stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text), env: {}, cwd, stdoutIsTTY: false,
    stdin: Readable.from([]), stdinIsTTY: false });
  try {
    return { code: await runMarketCli(argv, session), stdout, stderr };
  } finally {
    session.close();
  }
}

describe("a 3-process cluster with TLS", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let root: string;
  const file = (relative: string): string => readFileSync(path.join(root, relative), "utf8");

  before(async () => {
    cluster = await LocalCluster.start({ tls: true });
    root = path.dirname(cluster.configPath);
    await cluster.waitForLeader(30_000);
  });

  after(async () => {
    await cluster?.stop();
  });

  const peerPortOf = (id: string): number =>
    cluster.config.nodes.find((candidate) => candidate.id === id)!.peerPort;

  /** One POST of an empty batch to `id`'s peer port with these TLS options. */
  function peerPost(id: string, options: https.AgentOptions): Promise<number | string> {
    const agent = new https.Agent({ ...options, keepAlive: false });
    return answerOrCode(httpRequest({ method: "POST", agent, timeoutMs: 10_000,
      url: `https://127.0.0.1:${peerPortOf(id)}/raft/messages`, body: "[]",
      headers: { "content-type": "application/json",
        [clusterIdHeader]: clusterIdOf(cluster.config),
        authorization: `Bearer ${cluster.config.tokens.peerToken}` } }))
      .finally(() => agent.destroy());
  }

  it("buys through a follower over HTTPS, with MarketClient and with market-cli", async () => {
    const leaderId = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leaderId)!;
    expect(follower.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new MarketClient({ endpoints: [follower.url], ca: cluster.ca! });
    try {
      await client.createItem({ sku: "tea-100", name: "Green tea", area: "Pantry",
        priceCents: 450, stock: 5 });
      const order = await client.buy([{ sku: "tea-100", qty: 2 }]);
      expect(order.status).to.equal("confirmed");
      expect((await client.getItem("tea-100")).item.stock).to.equal(3);
    } finally {
      client.close();
    }
    // The cluster file gives market-cli both the https:// endpoints and the CA.
    const viaConfig = await runCli(["--config", cluster.configPath, "buy", "--item", "tea-100"],
      root);
    expect(viaConfig.stderr).to.equal("");
    expect(viaConfig.code).to.equal(0);
    const viaCacert = await runCli(["-w", "json", "--endpoints", follower.url, "--cacert",
      "certs/ca.crt", "item", "get", "tea-100"], root);
    expect(viaCacert.code).to.equal(0);
    expect(JSON.parse(viaCacert.stdout).item.stock).to.equal(2);
  });

  it("refuses a client that does not trust the cluster CA", async () => {
    const client = new MarketClient({ endpoints: [cluster.nodes[0]!.url] });
    try {
      const error = await client.status(cluster.nodes[0]!.url).then(() => null,
        (caught: unknown) => caught);
      expect(error).to.be.instanceOf(MarketClientError);
      expect((error as MarketClientError).message).to.match(/certificate/i);
    } finally {
      client.close();
    }
  });

  it("gets no HTTP answer for plain HTTP on the client port", async () => {
    const node = cluster.config.nodes[0]!;
    const result = await answerOrCode(httpRequest({ method: "GET", timeoutMs: 10_000,
      url: `http://127.0.0.1:${node.clientPort}/v1/cluster/status` }));
    expect(result).to.be.a("string");
  });

  it("accepts a peer presenting a node certificate of the cluster CA (the control)", async () => {
    expect(await peerPost("n1", { ca: file("certs/ca.crt"), cert: file("certs/n2.crt"),
      key: file("certs/n2.key") })).to.equal(204);
  });

  it("refuses, at the TLS layer, a peer without a client certificate", async () => {
    // With the right token: the request never gets as far as the token check.
    expect(await peerPost("n1", { ca: file("certs/ca.crt") })).to.be.a("string");
    expect(await handshakeOutcome(peerPortOf("n1"), { ca: file("certs/ca.crt") }))
      .to.equal("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
  });

  it("refuses, at the TLS layer, a peer whose certificate is from another CA", async () => {
    const rogue = await makeCertificateAuthority("rogue CA");
    const impostor = await makeNodeCertificate(rogue, { id: "n2", host: "127.0.0.1" });
    const options = { ca: file("certs/ca.crt"), cert: impostor.certPem, key: impostor.keyPem };
    expect(await peerPost("n1", options)).to.be.a("string");
    // node:tls checks a presented certificate once the handshake is done and, refused, closes
    // the connection at once, without an alert (a missing one is refused by OpenSSL, above).
    expect(await handshakeOutcome(peerPortOf("n1"), options)).to.equal("closed");
    // The control: the same connection with n2's own certificate stays open.
    expect(await handshakeOutcome(peerPortOf("n1"), { ca: file("certs/ca.crt"),
      cert: file("certs/n2.crt"), key: file("certs/n2.key") })).to.equal("open");
  });

  it("market-node names an unreadable certificate and exits 128, no stack trace", async () => {
    const config = JSON.parse(file("cluster.config.json"));
    config.nodes[0].tls.cert = "certs/missing.crt";
    const configPath = path.join(root, "broken.config.json");
    writeFileSync(configPath, JSON.stringify(config));
    const run = await runTsScript(marketNodeScript, ["--config", configPath, "--id", "n1"]);
    expect(run.code).to.equal(128);
    expect(run.stderr).to.contain("nodes[n1].tls.cert: cannot read");
    expect(run.stderr).to.contain("missing.crt (ENOENT)");
    expect(run.stderr).not.to.match(/\n\s+at /);
  });
});

describe("the cluster file's tls section", () => {
  const base = {
    nodes: [{ id: "n1", host: "127.0.0.1", clientPort: 7001, peerPort: 7101, dataDir: "d/n1" },
      { id: "n2", host: "127.0.0.1", clientPort: 7002, peerPort: 7102, dataDir: "d/n2" }],
    timing: { tickIntervalMs: 10, heartbeatIntervalTicks: 2, electionTimeoutTicks: 15 },
    tokens: { peerToken: "peer-token-1", adminToken: "admin-token-1" },
    snapshot: { entriesBetweenSnapshots: 100, trailingEntries: 10 },
  };

  it("names every node that lacks its certificate, and a node certificate without a CA", () => {
    const problems = (json: unknown): readonly string[] => {
      try {
        parseClusterConfig(json, "/c/cluster.config.json");
        return [];
      } catch (error) {
        expect(error).to.be.instanceOf(ClusterConfigError);
        return (error as ClusterConfigError).problems;
      }
    };
    const noNodeTls = problems({ ...base, tls: { ca: "certs/ca.crt" } });
    expect(noNodeTls).to.have.length(2);
    expect(noNodeTls[0]).to.match(/^nodes\[0\]\.tls: required/);
    expect(noNodeTls[1]).to.match(/^nodes\[1\]\.tls: required/);
    const noCa = problems({ ...base, nodes: [{ ...base.nodes[0], tls: { cert: "a", key: "b" } },
      base.nodes[1]] });
    expect(noCa).to.deep.equal(["nodes[0].tls: needs the cluster-wide tls.ca as well"]);
    expect(problems({ ...base, tls: { ca: "" } })[0]).to.match(/^tls\.ca:/);
  });

  it("resolves the files against the cluster file's folder", () => {
    const config = parseClusterConfig({ ...base, tls: { ca: "certs/ca.crt" },
      nodes: base.nodes.map((node) => ({ ...node,
        tls: { cert: `certs/${node.id}.crt`, key: `certs/${node.id}.key` } })) },
    "/c/cluster.config.json");
    expect(config.tls?.ca).to.equal("/c/certs/ca.crt");
    expect(config.nodes[1]!.tls).to.deep.equal({ cert: "/c/certs/n2.crt",
      key: "/c/certs/n2.key" });
  });
});
