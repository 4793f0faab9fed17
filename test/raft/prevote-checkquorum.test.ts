/**
 * PreVote (Ongaro's thesis §9.6) and CheckQuorum (§6.2): the two extensions that keep a node
 * which was cut off from disturbing a healthy cluster, and a leader which was cut off from
 * serving as if it still led. Rules about one node's answers are tested on a single RaftNode
 * fed hand-made messages; rules about a cluster run SimCluster (src/sim/cluster.ts), a
 * deterministic in-process cluster on a reliable simulated network, with partitions made by
 * cutting links and time advanced by tick(). Each test watches terms and roles tick by tick, so
 * a term that grows or a leader that changes at any moment is caught, not only at the end.
 */
import { expect } from "chai";
import {
  makeRaftConfig,
  RaftNode,
  SeededRng,
  type NodeId,
  type RaftConfig,
  type RaftInitialState,
  type RaftMessage,
  type Ready,
  type Role,
} from "../../src/raft/index.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";

const electionTimeoutTicks = 10;
const voters = ["n1", "n2", "n3"];

function newNode(overrides: Partial<RaftConfig> = {}, initial?: RaftInitialState): RaftNode {
  return new RaftNode(makeRaftConfig({ id: "n1", voters }, overrides), new SeededRng(7), initial);
}

function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

function newCluster(size: number, config: Partial<RaftConfig> = {}, seed = 3): SimCluster {
  return new SimCluster({ ids: nodeIds(size), seed, config });
}

/** Makes `id` the leader at once (its campaign runs without ticks) and checks it won. */
function electLeader(cluster: SimCluster, id: NodeId): void {
  cluster.node(id).raft.campaign();
  cluster.stabilize();
  expect(cluster.leader()?.id).to.equal(id);
}

function termOf(cluster: SimCluster, id: NodeId): number {
  return cluster.node(id).raft.status().term;
}

function roleOf(cluster: SimCluster, id: NodeId): Role {
  return cluster.node(id).raft.status().role;
}

/** Counts every message put on the wire, by sender and type. */
function countSends(cluster: SimCluster): (from: NodeId, type: RaftMessage["type"]) => number {
  const counts = new Map<string, number>();
  cluster.observer = {
    onSend: (node, message) => {
      const key = `${node.id}:${message.type}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
  };
  return (from, type) => counts.get(`${from}:${type}`) ?? 0;
}

describe("PreVote (thesis §9.6)", () => {
  it("asks for pre-votes at term+1 on timeout without changing its term or vote", () => {
    const node = newNode({}, { hardState: { term: 3, vote: "n2", commit: 0 }, snapshot: null,
      entries: [{ index: 1, term: 2, kind: "normal", data: "a" }] });
    drain(node);
    let ready: Ready | null = null;
    for (let tick = 0; tick < 2 * electionTimeoutTicks && ready === null; tick++) {
      node.tick();
      const next = drain(node);
      if (next.messages.length > 0) ready = next;
    }
    expect(ready, "no pre-campaign within 2T").to.not.equal(null);
    expect(ready!.hardState, "nothing to persist").to.equal(null);
    expect(ready!.messages).to.deep.equal(["n2", "n3"].map((to) => ({ type: "preVote",
      from: "n1", to, term: 4, lastLogIndex: 1, lastLogTerm: 2 })));
    expect(node.status()).to.include({ role: "preCandidate", term: 3, vote: "n2" });
  });

  it("grants a pre-vote without changing the voter's term or vote", () => {
    const node = newNode({}, { hardState: { term: 2, vote: "n3", commit: 0 }, snapshot: null,
      entries: [] });
    drain(node);
    node.step({ type: "preVote", from: "n2", to: "n1", term: 3, lastLogIndex: 0,
      lastLogTerm: 0 });
    const ready = drain(node);
    expect(ready.messages).to.deep.equal([{ type: "preVoteResponse", from: "n1", to: "n2",
      term: 3, granted: true }]);
    expect(ready.hardState).to.equal(null);
    expect(node.status()).to.include({ term: 2, vote: "n3", role: "follower" });
  });

  it("a pre-candidate that loses returns to follower without a term bump", () => {
    const node = newNode({}, { hardState: { term: 5, vote: null, commit: 0 }, snapshot: null,
      entries: [] });
    drain(node);
    node.campaign();
    expect(drain(node).messages.map((m) => [m.type, m.term])).to.deep.equal(
      [["preVote", 6], ["preVote", 6]]);
    node.step({ type: "preVoteResponse", from: "n2", to: "n1", term: 5, granted: false });
    expect(node.status().role, "1 refusal of 3").to.equal("preCandidate");
    node.step({ type: "preVoteResponse", from: "n3", to: "n1", term: 5, granted: false });
    expect(node.status()).to.include({ role: "follower", term: 5, vote: null });
    const ready = drain(node);
    expect(ready.hardState).to.equal(null);
    expect(ready.messages).to.deep.equal([]);
  });

  it("does not grow the term of a partitioned node while it is isolated", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    const sent = countSends(cluster);
    cluster.isolate("n3");
    for (let tick = 0; tick < 10 * electionTimeoutTicks; tick++) {
      cluster.tick();
      expect(termOf(cluster, "n3"), `tick ${tick}`).to.equal(1);
    }
    // It did try, again and again, but only with pre-votes.
    expect(sent("n3", "preVote")).to.be.at.least(2 * 5);
    expect(sent("n3", "requestVote")).to.equal(0);
    expect(roleOf(cluster, "n3")).to.equal("preCandidate");
  });

  it("lets a partitioned node rejoin without disrupting a healthy leader", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    const sent = countSends(cluster);
    cluster.isolate("n3");
    cluster.tick(5 * electionTimeoutTicks);
    cluster.heal();
    for (let tick = 0; tick < 5 * electionTimeoutTicks; tick++) {
      cluster.tick();
      expect(cluster.leaders().map((node) => node.id), `tick ${tick}`).to.deep.equal(["n1"]);
      for (const id of voters) expect(termOf(cluster, id), `${id} at tick ${tick}`).to.equal(1);
    }
    expect(cluster.node("n3").raft.status()).to.include({ role: "follower", leaderId: "n1" });
    expect(sent("n1", "requestVote") + sent("n2", "requestVote") + sent("n3", "requestVote"))
      .to.equal(0);
  });

  it("refuses pre-votes to a node whose log is behind, which never becomes candidate", () => {
    const cluster = newCluster(3);
    electLeader(cluster, "n1");
    cluster.isolate("n3");
    const index = cluster.propose("a");
    cluster.stabilize();
    expect(cluster.node("n2").raft.status().commitIndex).to.equal(index);
    // n1 dies; n3 comes back and can reach n2 only.
    cluster.crash("n1");
    cluster.heal();
    const n3Roles = new Set<Role>();
    cluster.observer = { onReady: (node, ready) => {
      if (node.id === "n3" && ready.softState !== null) n3Roles.add(ready.softState.role);
    } };
    const elected = cluster.tickUntil(() => cluster.leader()?.id === "n2",
      6 * electionTimeoutTicks);
    expect(elected, "n2 is elected").to.equal(true);
    expect([...n3Roles]).to.not.include("candidate");
    expect(termOf(cluster, "n2")).to.equal(2);
  });
});

describe("CheckQuorum (thesis §6.2)", () => {
  /** Ticks the cluster until n1 is no longer leader; returns the ticks taken, or null. */
  const ticksUntilStepDown = (cluster: SimCluster, ticksMax: number): number | null => {
    for (let tick = 1; tick <= ticksMax; tick++) {
      cluster.tick();
      if (roleOf(cluster, "n1") !== "leader") return tick;
    }
    return null;
  };

  it("a leader partitioned from the majority steps down within about an election timeout",
    () => {
      for (const size of [3, 5]) {
        const cluster = newCluster(size);
        electLeader(cluster, "n1");
        cluster.tick(3);
        // In the 5-node cluster n1 still hears from n2, which is not a majority.
        const minority = size === 3 ? ["n1"] : ["n1", "n2"];
        cluster.partition(minority, nodeIds(size).filter((id) => !minority.includes(id)));
        const ticks = ticksUntilStepDown(cluster, 4 * electionTimeoutTicks);
        // The leader checks once per election timeout, so it may pass one check on the
        // answers it had before the cut: at most 2T.
        expect(ticks, `${size} nodes`).to.not.equal(null);
        expect(ticks!, `${size} nodes`).to.be.at.most(2 * electionTimeoutTicks);
        expect(cluster.node("n1").raft.status(), `${size} nodes`).to.include({
          role: "follower", term: 1, leaderId: null });
      }
    });

  it("without CheckQuorum, a partitioned leader goes on believing it leads", () => {
    const cluster = newCluster(3, { checkQuorum: false });
    electLeader(cluster, "n1");
    cluster.isolate("n1");
    expect(ticksUntilStepDown(cluster, 6 * electionTimeoutTicks)).to.equal(null);
  });

  it("a follower in its lease ignores a vote request from a higher-term candidate", () => {
    const node = newNode();
    node.step({ type: "heartbeat", from: "n2", to: "n1", term: 1, commit: 0, readId: null });
    drain(node);
    const request: RaftMessage = { type: "requestVote", from: "n3", to: "n1", term: 2,
      lastLogIndex: 0, lastLogTerm: 0, transfer: false };
    for (let tick = 0; tick < electionTimeoutTicks - 1; tick++) {
      node.tick();
      node.step(request);
      expect(drain(node).messages, `tick ${tick}`).to.deep.equal([]);
      expect(node.status(), `tick ${tick}`).to.include({ term: 1, leaderId: "n2", vote: null });
    }
    // Once the lease has run out with no word from the leader, the request is honoured.
    node.tick();
    node.step(request);
    expect(drain(node).messages).to.deep.equal([{ type: "requestVoteResponse", from: "n1",
      to: "n3", term: 2, granted: true }]);
    expect(node.status()).to.include({ term: 2, vote: "n3" });
  });

  it("a node stuck at a higher term (PreVote off on it) does not block the cluster forever",
    () => {
      const cluster = newCluster(3);
      // n3 runs without PreVote, so isolated it bumps its term at each timeout.
      const n3 = cluster.node("n3");
      n3.raft = new RaftNode(makeRaftConfig({ id: "n3", voters }, { preVote: false }),
        new SeededRng(11));
      electLeader(cluster, "n1");
      cluster.isolate("n3");
      const index = cluster.propose("a")!;
      cluster.stabilize();
      cluster.tickUntil(() => termOf(cluster, "n3") >= 4, 10 * electionTimeoutTicks);
      const stuckTerm = termOf(cluster, "n3");
      expect(stuckTerm).to.be.at.least(4);
      cluster.heal();
      // Its log is behind, so it cannot win; the others must rise above its term and lead.
      const recovered = cluster.tickUntil(() => {
        const leader = cluster.leader();
        return leader !== null && leader.id !== "n3" &&
          voters.every((id) => cluster.node(id).raft.status().leaderId === leader.id);
      }, 20 * electionTimeoutTicks);
      expect(recovered, "a leader all three follow").to.equal(true);
      expect(termOf(cluster, cluster.leader()!.id)).to.be.above(stuckTerm);
      const next = cluster.propose("b");
      expect(next).to.not.equal(null);
      cluster.tick(3);
      expect(cluster.appliedCount(index, "a")).to.equal(3);
      expect(cluster.appliedCount(next!, "b")).to.equal(3);
    });
});
