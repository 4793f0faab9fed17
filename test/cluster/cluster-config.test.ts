/**
 * The cluster file's token rules and cluster id (src/cluster/cluster-config.ts). Goal: a token
 * from the environment obeys the same rule as one in the file (at least 8 characters; an empty
 * one is an error, not "unset"); the shipped development tokens and one token for both roles
 * are each named in one warning; the cluster id is a stable digest of the nodes' peer
 * addresses. Method: parseClusterConfig on JSON built in the test, with RAFTMARKET_*_TOKEN set
 * and restored around each test; the repository's own cluster.config.json for the pinned id,
 * computed independently with `printf 'raftmarket-cluster\nn1@127.0.0.1:7101\n...' | sha256sum`.
 */
import { expect } from "chai";
import path from "node:path";
import {
  clusterIdOf,
  ClusterConfigError,
  loadClusterConfig,
  parseClusterConfig,
  tokenWarnings,
} from "../../src/cluster/cluster-config.js";

const root = path.resolve(import.meta.dirname, "../..");
const environmentNames = ["RAFTMARKET_PEER_TOKEN", "RAFTMARKET_ADMIN_TOKEN"] as const;

function clusterJson(tokens = { peerToken: "peer-token-1", adminToken: "admin-token-1" }) {
  return {
    nodes: [1, 2, 3].map((k) => ({ id: `n${k}`, host: "127.0.0.1", clientPort: 7000 + k,
      peerPort: 7100 + k, dataDir: `data/n${k}` })),
    timing: { tickIntervalMs: 10, heartbeatIntervalTicks: 2, electionTimeoutTicks: 15 },
    tokens,
    snapshot: { entriesBetweenSnapshots: 1000, trailingEntries: 10 },
  };
}

describe("cluster config: tokens and cluster id", () => {
  const saved = new Map<string, string | undefined>();

  beforeEach(() => {
    for (const name of environmentNames) {
      saved.set(name, process.env[name]);
      delete process.env[name];
    }
  });

  afterEach(() => {
    for (const name of environmentNames) {
      const value = saved.get(name);
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("takes tokens from the environment when set", () => {
    process.env.RAFTMARKET_PEER_TOKEN = "environment-peer";
    const config = parseClusterConfig(clusterJson(), "c.json");
    expect(config.tokens).to.deep.equal({ peerToken: "environment-peer",
      adminToken: "admin-token-1" });
  });

  for (const value of ["", "short"]) {
    it(`refuses an environment token of ${value.length} characters, in one line`, () => {
      process.env.RAFTMARKET_ADMIN_TOKEN = value;
      expect(() => parseClusterConfig(clusterJson(), "c.json")).to.throw(ClusterConfigError,
        new RegExp("^c\\.json: invalid cluster config: RAFTMARKET_ADMIN_TOKEN \\(environment\\): " +
          "tokens are at least 8 characters$"));
    });
  }

  it("names both environment tokens when both break the rule", () => {
    process.env.RAFTMARKET_PEER_TOKEN = "";
    process.env.RAFTMARKET_ADMIN_TOKEN = "1234567";
    expect(() => parseClusterConfig(clusterJson(), "c.json")).to.throw(ClusterConfigError)
      .with.property("problems").that.has.length(2);
  });

  it("warns once about the shipped development tokens, and once about a shared token", () => {
    const shipped = loadClusterConfig(path.join(root, "cluster.config.json"));
    expect(tokenWarnings(shipped)).to.have.length(1);
    expect(tokenWarnings(shipped)[0]).to.match(/^the peer and admin tokens are the shipped development values; /);
    process.env.RAFTMARKET_ADMIN_TOKEN = "my-own-admin-token";
    expect(tokenWarnings(loadClusterConfig(path.join(root, "cluster.config.json"))))
      .to.deep.equal(["the peer token is the shipped development value; set your own in the " +
        "cluster file or in RAFTMARKET_PEER_TOKEN / RAFTMARKET_ADMIN_TOKEN"]);
    process.env.RAFTMARKET_ADMIN_TOKEN = "peer-token-1";
    const shared = parseClusterConfig(clusterJson(), "c.json");
    expect(tokenWarnings(shared)).to.deep.equal(["the peer token and the admin token are the " +
      "same; a peer could drive the admin API"]);
    delete process.env.RAFTMARKET_ADMIN_TOKEN;
    expect(tokenWarnings(parseClusterConfig(clusterJson(), "c.json"))).to.deep.equal([]);
  });

  it("derives the cluster id from the nodes' peer addresses, in any order", () => {
    const shipped = loadClusterConfig(path.join(root, "cluster.config.json"));
    expect(clusterIdOf(shipped)).to.equal("61db73c7a20532a8");
    const json = clusterJson();
    const reordered = { ...json, nodes: [...json.nodes].reverse(),
      timing: { ...json.timing, tickIntervalMs: 20 } };
    expect(clusterIdOf(parseClusterConfig(reordered, "c.json"))).to.equal("61db73c7a20532a8");
    const moved = { ...json, nodes: json.nodes.map((node) =>
      node.id === "n2" ? { ...node, peerPort: 7199 } : node) };
    expect(clusterIdOf(parseClusterConfig(moved, "c.json"))).not.to.equal("61db73c7a20532a8");
  });
});
