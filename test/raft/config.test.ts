/**
 * Config validation: a bad RaftConfig is refused up front with a readable message that names
 * every problem, before any node starts (hashicorp ValidateConfig, etcd Config.validate).
 */
import { expect } from "chai";
import { makeRaftConfig, RaftConfigError, RaftNode, SeededRng } from "../../src/raft/index.js";

describe("raft config validation", () => {
  const base = { id: "n1", voters: ["n1", "n2", "n3"] };

  it("accepts the defaults", () => {
    expect(() => new RaftNode(makeRaftConfig(base), new SeededRng(1))).not.to.throw();
  });

  it("refuses an election timeout that does not exceed the heartbeat interval", () => {
    const config = makeRaftConfig(base, { electionTimeoutTicks: 2, heartbeatIntervalTicks: 2 });
    expect(() => new RaftNode(config, new SeededRng(1)))
      .to.throw(RaftConfigError, /electionTimeoutTicks \(2\) must exceed heartbeatIntervalTicks/);
  });

  it("names every problem at once", () => {
    const config = makeRaftConfig({ id: "n9", voters: ["n1", "n1"] }, { inflightAppendsMax: 0 });
    try {
      new RaftNode(config, new SeededRng(1));
      expect.fail("expected a RaftConfigError");
    } catch (error) {
      expect(error).to.be.instanceOf(RaftConfigError);
      const problems = (error as RaftConfigError).problems;
      expect(problems.some((p) => p.includes("inflightAppendsMax"))).to.equal(true);
      expect(problems.some((p) => p.includes("repeat"))).to.equal(true);
    }
    expect(() => new RaftNode(makeRaftConfig({ id: "n1", voters: [] }), new SeededRng(1)))
      .to.throw(RaftConfigError, /at least one node/);
  });

  it("accepts a node outside the starting voters: it waits to be added, never campaigning", () => {
    const node = new RaftNode(makeRaftConfig({ id: "n4", voters: ["n1", "n2", "n3"] }),
      new SeededRng(1));
    for (let tick = 0; tick < 100; tick++) node.tick();
    expect(node.status()).to.include({ role: "follower", term: 0 });
    expect(node.ready().messages).to.deep.equal([]);
  });
});
