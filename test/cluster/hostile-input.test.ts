/**
 * Hostile input against real node processes (issue 9): the peer batch that used to kill a node
 * (`[{"type":"append","from":"n1","to":"n3","term":1}]`), well-formed but impossible messages
 * (an acknowledgement far past the leader's log, a heartbeat commit past a follower's, a rival
 * leader of the current term, a snapshot no state machine can read), a couple of hundred
 * seeded mutations of valid messages, and the client requests that used to answer 500. Every
 * answer must be below 500, no process may exit, and the cluster must still elect and sell.
 *
 * Method: three market-node processes on free loopback ports (LocalCluster); requests with
 * fetch, the peer token and the cluster id; the fuzz is seeded, so a failure reproduces.
 * Waits poll with generous bounds; the cluster always stops.
 */
import { gzipSync } from "node:zlib";
import { expect } from "chai";
import { clusterIdOf } from "../../src/cluster/cluster-config.js";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { SeededRng } from "../../src/raft/index.js";
import { clusterIdHeader } from "../../src/transport/index.js";
import { waitFor } from "./helpers.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

async function send(url: string, init: RequestInit): Promise<number> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** A value of the wrong kind, or out of range, for a field. */
function mutate(rng: SeededRng, value: Json): Json {
  const choices: Json[] = [null, -1, 1.5, 2 ** 60, "x", "", [], {}, true, "a".repeat(300),
    Number.MAX_SAFE_INTEGER];
  return rng.nextFloat() < 0.2 && typeof value === "number" ? value + 1_000_000
    : choices[rng.nextInt(choices.length)]!;
}

describe("hostile input against a 3-process cluster", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  const statuses = new Map<number, number>();

  before(async () => {
    cluster = await LocalCluster.start();
  });
  after(async () => {
    await cluster?.stop();
  });

  const note = (status: number): number => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    return status;
  };

  function peerUrl(id: string): string {
    const node = cluster.config.nodes.find((candidate) => candidate.id === id)!;
    return `http://127.0.0.1:${node.peerPort}/raft/messages`;
  }

  function postPeer(id: string, body: string): Promise<number> {
    return send(peerUrl(id), { method: "POST", body, headers: {
      "content-type": "application/json", [clusterIdHeader]: clusterIdOf(cluster.config),
      authorization: `Bearer ${cluster.config.tokens.peerToken}` } }).then(note);
  }

  it("answers every hostile peer batch below 500, and no node exits", async () => {
    const leader = await cluster.waitForLeader(30_000);
    const status = (await cluster.statuses()).get(leader)!;
    const term = status.term as number;
    const followers = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    const [f1, f2] = followers as [string, string];
    // The crash: an append with nothing but its header fields.
    expect(await postPeer(f1, JSON.stringify([{ type: "append", from: leader, to: f1, term: 1 }])))
      .to.equal(400);
    // Well-formed, impossible: each reaches the core, which reports and ignores it.
    const impossible: [string, Json][] = [
      [leader, { type: "appendResponse", from: f1, to: leader, term, success: true,
        index: 1_000_000, hintIndex: 0, hintTerm: 0 }],
      [f1, { type: "heartbeat", from: leader, to: f1, term, commit: 323_000, readId: null }],
      [leader, { type: "append", from: f2, to: leader, term, prevLogIndex: 0, prevLogTerm: 0,
        entries: [], leaderCommit: 0 }],
      [f1, { type: "snapshot", from: leader, to: f1, term, offset: 0, done: true,
        meta: { index: 1_000_000, term, voters: cluster.nodes.map((node) => node.id) },
        data: "not a market snapshot" }],
    ];
    for (const [to, message] of impossible) {
      expect(await postPeer(to, JSON.stringify([message]))).to.equal(204);
    }
    // Seeded mutations of a valid message: one field made wrong each time.
    const rng = new SeededRng(9);
    const template: Record<string, Json> = { type: "append", from: leader, to: f1, term,
      prevLogIndex: 0, prevLogTerm: 0, entries: [{ index: 1, term: 1, kind: "normal",
        data: "" }], leaderCommit: 0 };
    const fields = Object.keys(template);
    for (let k = 0; k < 200; k++) {
      const field = fields[rng.nextInt(fields.length)]!;
      const broken = { ...template, [field]: mutate(rng, template[field]!) };
      const answer = await postPeer(followers[k % 2]!, JSON.stringify([broken]));
      expect(answer, `mutation ${k} of ${field}`).to.be.within(200, 499);
    }
    expect(cluster.nodes.every((node) => node.process !== null), "every node runs").to.equal(true);
  });

  it("answers the client requests that used to be 500 with 4xx", async () => {
    const url = cluster.nodes[0]!.url;
    const gzipHeaders = { "content-type": "application/json", "content-encoding": "gzip" };
    const requests: [string, RequestInit][] = [
      ["/v1/items/s%ZZ", {}],
      ["/v1/items/%C0%AF", {}],
      ["/v1/orders/%ZZ/cancel", { method: "POST", body: "{}",
        headers: { "content-type": "application/json" } }],
      ["/v1/orders", { method: "POST", body: "not gzip", headers: gzipHeaders }],
      ["/v1/orders", { method: "POST", body: gzipSync("[1,2"), headers: gzipHeaders }],
      ["/v1/items?inStock[]=true", {}],
      [`/v1/items/${"s".repeat(5000)}`, {}],
    ];
    for (const [path, init] of requests) {
      expect(note(await send(`${url}${path}`, init)), path).to.be.within(400, 499);
    }
  });

  it("still elects and sells afterwards", async () => {
    const leader = await cluster.waitForLeader(30_000);
    const created = await send(`${cluster.node(leader).url}/v1/items`, { method: "POST",
      headers: { "content-type": "application/json" }, body: JSON.stringify({
        requestId: "hostile-item", sku: "gum", name: "Gum", area: "a", priceCents: 1, stock: 5 }) });
    expect(created).to.equal(201);
    await waitFor(async () => {
      for (const node of cluster.nodes) {
        const bought = await send(`${node.url}/v1/orders`, { method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ requestId: "hostile-buy", lines: [{ sku: "gum", qty: 1 }] }) });
        if (bought === 201) return true;
      }
      return undefined;
    }, "a purchase after the hostile input");
    expect(cluster.nodes.every((node) => node.process !== null), "every node runs").to.equal(true);
    // For the record: the answers by status.
    console.log(`      hostile input answers by status: ${JSON.stringify(
      Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  });
});
