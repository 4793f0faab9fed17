/**
 * The verdict a node with an empty data folder reaches from its peers' answers (bootstrap.ts):
 * refuse when any peer has its id published, proceed when every peer answered without it, or
 * when a majority answered and nobody has any history (a cluster being born), wait otherwise.
 * Pure inputs, no processes: the real-process cases are in test/cluster/identity.test.ts.
 */
import { expect } from "chai";
import { decideBootstrap } from "../../src/node/bootstrap.js";
import type { PeerIdentity } from "../../src/transport/index.js";

const clusterId = "c0ffee";

function member(nodeId: string, published: string[], appliedIndex = 10): PeerIdentity {
  return { clusterId, nodeId, state: "member", appliedIndex,
    members: published.map((id, k) => ({ id, incarnation: `i-${id}`, index: k + 2 })) };
}

function joining(nodeId: string): PeerIdentity {
  return { clusterId, nodeId, state: "joining", appliedIndex: 0, members: [] };
}

function decide(answers: PeerIdentity[], peers = ["n1", "n2"], newCluster = true) {
  return decideBootstrap({ self: "n3", clusterId, peers, newCluster,
    answers: new Map(answers.map((answer) => [answer.nodeId, answer])) });
}

describe("bootstrap verdict for an empty data folder", () => {
  it("refuses when any peer has this id published, even if the other is down", () => {
    const verdict = decide([member("n2", ["n1", "n2", "n3"])]);
    expect(verdict.kind).to.equal("refuse");
    expect(verdict.kind === "refuse" && verdict.message).to.match(
      /n3 has already run in cluster c0ffee \(n2 has it published at index 4.*cannot rejoin/);
  });

  it("proceeds when every peer answered and none has this id: a late first start", () => {
    const verdict = decide([member("n1", ["n1", "n2"]), member("n2", ["n1", "n2"])]);
    expect(verdict.kind).to.equal("proceed");
  });

  it("waits while a peer with history has not answered: only all peers can vouch", () => {
    const verdict = decide([member("n1", ["n1", "n2"])]);
    expect(verdict).to.deep.include({ kind: "wait", waitingFor: ["n2"] });
  });

  it("proceeds with a majority when nobody has history: a new cluster born node by node", () => {
    expect(decide([joining("n1")]).kind).to.equal("proceed");
    // A peer that bootstrapped a moment ago, with nothing applied, has no history either.
    expect(decide([member("n1", [], 0)]).kind).to.equal("proceed");
    expect(decide([member("n1", [], 1)]).kind).to.equal("wait");
  });

  it("never takes 'no history' for a new cluster unless told it is one (simulator seed 80)",
    () => {
      // n3 lost its disk; n2 was cut off since birth (no history); n1, down, holds the log.
      expect(decide([member("n2", [], 0)], ["n1", "n2"], false).kind).to.equal("wait");
      expect(decide([joining("n1")], ["n1", "n2"], false).kind).to.equal("wait");
      expect(decide([joining("n1"), joining("n2")], ["n1", "n2"], false).kind)
        .to.equal("proceed");
    });

  it("needs a majority of the cluster even when nobody has history", () => {
    const peers = ["n1", "n2", "n4", "n5"];
    expect(decide([joining("n1")], peers).kind).to.equal("wait");
    expect(decide([joining("n1"), joining("n2")], peers).kind).to.equal("proceed");
  });

  it("ignores answers from another cluster and from nodes that are not peers", () => {
    const stranger = { ...member("n2", ["n3"]), clusterId: "other" };
    expect(decide([stranger, member("n1", ["n1"])])).to.deep.include({ kind: "wait" });
    expect(decide([member("n9", ["n3"]), joining("n1")]).kind).to.equal("proceed");
  });

  it("proceeds at once in a cluster of one", () => {
    expect(decide([], []).kind).to.equal("proceed");
  });
});
