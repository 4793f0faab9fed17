/**
 * market-cli's diagnosis of a round of status requests. Goal: the sentence names what was seen
 * (how many nodes answered out of how many, which did not and why) and what it means for Raft
 * (a majority is needed; a majority without a leader is in an election), and the health that
 * `cluster status` turns into its exit code is unreachable, noLeader or healthy. Method: pure
 * calls on hand-made statuses and client errors, the errors worded as MarketClient words them.
 */
import { expect } from "chai";
import { MarketClientError, type EndpointStatus } from "../../src/client/index.js";
import { diagnose, unreachableReason } from "../../src/cli/cli-diagnosis.js";
import type { NodeStatus } from "../../src/node/node-service.js";

const url = (id: string): string => `http://127.0.0.1:700${id.slice(1)}`;
const idOf = (endpoint: string): string => `n${endpoint.slice(-1)}`;

function answered(id: string, role: NodeStatus["role"], term: number,
  leaderId: string | null): EndpointStatus {
  return { endpoint: url(id), error: null, status: { id, role, term, leaderId, commitIndex: 9,
    appliedIndex: 9, lastLogIndex: 9, members: ["n1", "n2", "n3"], stateHash: "ab" } };
}

function failed(id: string, reason: string): EndpointStatus {
  return { endpoint: url(id), status: null, error: new MarketClientError({ code: "unreachable",
    status: 0, message: `cannot reach ${url(id)}: ${reason}` }) };
}

const refused = (id: string): EndpointStatus =>
  failed(id, `connect ECONNREFUSED 127.0.0.1:700${id.slice(1)}`);

describe("market-cli diagnosis", () => {
  it("names the nodes that refused and the majority a minority lacks", () => {
    const diagnosis = diagnose([answered("n1", "preCandidate", 4, null), refused("n2"),
      refused("n3")], idOf);
    expect(diagnosis.message).to.equal(
      "reached 1 of 3 nodes (n2, n3 refused the connection); a majority of 2 is needed");
    expect(diagnosis).to.include({ health: "unreachable", reached: 1, nodes: 3, majority: 2 });
  });

  it("says a minority is a minority even while its node still calls itself leader", () => {
    const diagnosis = diagnose([answered("n1", "leader", 4, "n1"), refused("n2"),
      refused("n3")], idOf);
    expect(diagnosis.message).to.match(/; a majority of 2 is needed$/);
  });

  it("groups the reasons: refused, silent past a timeout", () => {
    const diagnosis = diagnose([answered("n1", "leader", 7, "n1"), refused("n2"),
      failed("n3", "ETIMEDOUT: no complete answer within 2000 ms")], idOf);
    expect(diagnosis.message).to.equal("reached 1 of 3 nodes (n2 refused the connection; n3 " +
      "did not answer within 2000 ms); a majority of 2 is needed");
  });

  it("with a majority and a leader: healthy, or unreachable while one node is down", () => {
    const all = diagnose([answered("n1", "follower", 7, "n2"), answered("n2", "leader", 7, "n2"),
      answered("n3", "follower", 7, "n2")], idOf);
    expect(all).to.include({ health: "healthy",
      message: "reached 3 of 3 nodes; n2 leads at term 7" });
    const one = diagnose([answered("n1", "follower", 7, "n2"), answered("n2", "leader", 7, "n2"),
      refused("n3")], idOf);
    expect(one).to.include({ health: "unreachable",
      message: "reached 2 of 3 nodes (n3 refused the connection); n2 leads at term 7" });
  });

  it("a majority that knows no leader is probably electing one", () => {
    const diagnosis = diagnose([answered("n1", "preCandidate", 7, null),
      answered("n2", "candidate", 8, null), answered("n3", "follower", 7, null)], idOf);
    expect(diagnosis).to.include({ health: "noLeader", message: "reached 3 of 3 nodes, and " +
      "none knows a leader at term 8: an election may be under way" });
  });

  it("when nothing answers and everything refused, asks whether the cluster runs", () => {
    const diagnosis = diagnose([refused("n1"), refused("n2")], idOf, "--endpoints");
    expect(diagnosis.message).to.equal("reached 0 of 2 nodes (n1, n2 refused the connection): " +
      "is the cluster running? (the endpoints come from --endpoints)");
    const silent = diagnose([failed("n1", "ETIMEDOUT: no complete answer within 5 ms")], idOf);
    expect(silent.message).to.equal("reached 0 of 1 node (n1 did not answer within 5 ms)");
  });

  it("counts the members no endpoint stands for as not asked, not as down", () => {
    const diagnosis = diagnose([answered("n1", "leader", 3, "n1")], idOf);
    expect(diagnosis).to.include({ health: "healthy", nodes: 3,
      message: "reached 1 of 3 nodes (n2, n3 not among the endpoints); n1 leads at term 3" });
  });

  it("words each client error as a reason", () => {
    const error = (code: "unreachable" | "unexpected_response" | "internal", message: string,
      status = 0) => new MarketClientError({ code, status, message });
    expect(unreachableReason(error("unreachable", "cannot reach x: getaddrinfo ENOTFOUND h")))
      .to.equal("has a host name that does not resolve");
    expect(unreachableReason(error("unreachable", "cannot reach x: socket hang up")))
      .to.equal("closed the connection without answering");
    expect(unreachableReason(error("internal", "boom", 500)))
      .to.equal("answered HTTP 500 internal");
    expect(unreachableReason(error("unexpected_response", "?", 502))).to.equal("answered HTTP 502");
  });
});
