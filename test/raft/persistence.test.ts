/**
 * Persistence (Figure 2, "persistent state on all servers"): what a node fsynced is all it keeps
 * through a crash, and that is enough. Committed entries survive the crash and restart of every
 * node, of the leader, or of followers; a restarted cluster converges on identical logs and goes
 * on committing; and a crash in the middle of persisting a Ready (some entries written, the hard
 * state perhaps not, no message sent) never loses an entry that any node applied. Method: a
 * SimCluster, whose restart() rebuilds a node from its simulated disk alone and replays the log
 * into an empty state machine; crashDuringPersist() (or crashAtNextPersist(), armed for the
 * node's next Ready) cuts the Ready's writes, entries then hard state, at a random point. A
 * SafetyMonitor fails the test if any index is ever applied with two different entries, which
 * also catches a restarted node replaying something other than what it applied before.
 */
import { expect } from "chai";
import { makeRaftConfig, RaftNode, SeededRng, type Entry } from "../../src/raft/index.js";
import type { SimCluster, SimNode } from "../../src/sim/cluster.js";
import {
  commitOne,
  electionTimeoutTicks,
  expectSameApplied,
  expectSameLogs,
  logOf,
  makeCluster,
  SafetyMonitor,
  waitForLeader,
} from "./helpers.js";

const T = electionTimeoutTicks;

/** Asserts that `node`'s disk holds exactly its in-memory log and hard state. */
function expectDiskMatchesMemory(node: SimNode): void {
  const status = node.raft.status();
  expect(node.disk.entries, `disk of ${node.id}`).to.deep.equal(logOf(node));
  expect(node.disk.hardState, `hard state of ${node.id}`)
    .to.deep.equal({ term: status.term, vote: status.vote, commit: status.commitIndex });
}

/** Asserts that every entry the monitor saw applied sits at its index in every live log. */
function expectAppliedEntriesKept(cluster: SimCluster, monitor: SafetyMonitor): void {
  for (const node of cluster.upNodes()) {
    for (const [index, entry] of monitor.appliedByIndex) {
      expect(node.raft.entries(index, index + 1), `${node.id} at ${index}`).to.deep.equal([entry]);
    }
  }
}

describe("raft persistence", () => {
  it("restores a term no lower than its log's, with no vote, after a crash kept entries but not the hard state", () => {
    // A Ready that moves the term and appends entries of it is written entries first: a crash
    // part-way can keep them without the hard state (sim --core, seed 2613419681, where the
    // node then asked for pre-votes at term 2 holding entries of term 3).
    const entries: Entry[] = [1, 1, 3].map((term, k) => ({ index: k + 1, term, kind: "normal",
      data: `e${k + 1}` }));
    const voters = ["n1", "n2", "n3"];
    const node = new RaftNode(makeRaftConfig({ id: "n1", voters }), new SeededRng(3),
      { hardState: { term: 1, vote: "n2", commit: 2 }, snapshot: null, entries });
    expect([node.term, node.status().vote]).to.deep.equal([3, null]);
    // The raised term is written and synced before any vote or acknowledgement is sent.
    const ready = node.ready();
    expect(ready.hardState).to.deep.equal({ term: 3, vote: null, commit: 2 });
    expect(ready.mustSync).to.equal(true);
    node.advance();
    node.campaign();
    const asks = node.ready().messages.filter((m) => m.type === "preVote");
    expect(asks.map((m) => [m.term, m.type === "preVote" ? m.lastLogTerm : -1]))
      .to.deep.equal([[4, 3], [4, 3]]);
    // A hard state at or above the log's last term is taken as it is, vote included.
    const kept = new RaftNode(makeRaftConfig({ id: "n1", voters }), new SeededRng(3),
      { hardState: { term: 3, vote: "n2", commit: 2 }, snapshot: null, entries });
    expect([kept.term, kept.status().vote]).to.deep.equal([3, "n2"]);
    // At the raised term it votes by the log (§5.4.1): not for a log behind its own, and for
    // an up-to-date candidate of the next term, with that vote synced before its answer.
    const voter = new RaftNode(makeRaftConfig({ id: "n1", voters }), new SeededRng(3),
      { hardState: { term: 1, vote: "n2", commit: 2 }, snapshot: null, entries });
    voter.ready();
    voter.advance();
    voter.step({ type: "requestVote", from: "n2", to: "n1", term: 3, lastLogIndex: 2,
      lastLogTerm: 1, transfer: false });
    const refused = voter.ready();
    voter.advance();
    expect(refused.messages.map((m) => m.type === "requestVoteResponse" && m.granted))
      .to.deep.equal([false]);
    expect(voter.status().vote).to.equal(null);
    voter.step({ type: "requestVote", from: "n3", to: "n1", term: 4, lastLogIndex: 3,
      lastLogTerm: 3, transfer: false });
    const granted = voter.ready();
    expect(granted.hardState).to.deep.equal({ term: 4, vote: "n3", commit: 2 });
    expect(granted.mustSync).to.equal(true);
    expect(granted.messages.map((m) => m.type === "requestVoteResponse" && m.granted))
      .to.deep.equal([true]);
    expect(granted.messages.every((m) => !voter.maySendBeforePersist(m))).to.equal(true);
    voter.advance();
    // The same for a snapshot installed before the hard state that moved the term was written.
    const installed = new RaftNode(makeRaftConfig({ id: "n1", voters }), new SeededRng(3),
      { hardState: { term: 2, vote: "n3", commit: 0 }, entries: [],
        snapshot: { meta: { index: 5, term: 4, voters } } });
    expect([installed.term, installed.status().vote, installed.status().lastLogIndex])
      .to.deep.equal([4, null, 5]);
  });

  it("keeps the disk equal to the in-memory log and hard state once stable", () => {
    const cluster = makeCluster(3, 51);
    waitForLeader(cluster, 2 * T);
    for (let k = 0; k < 5; k++) commitOne(cluster, `v${k}`, 3);
    for (const node of cluster.nodes.values()) expectDiskMatchesMemory(node);
  });

  it("survives a crash and restart of every node", () => {
    const cluster = makeCluster(3, 52);
    const monitor = new SafetyMonitor(cluster);
    const first = waitForLeader(cluster, 2 * T);
    const firstTerm = first.raft.status().term;
    for (let k = 0; k < 5; k++) commitOne(cluster, `v${k}`, 3);
    const appliedBefore = cluster.node("n1").applied;
    for (const id of cluster.ids) cluster.crash(id);
    for (const id of cluster.ids) cluster.restart(id);
    // A restarted node keeps its term and vote, and replays the log from the start.
    expect(cluster.node("n1").applied).to.deep.equal([]);
    expect(cluster.node("n1").raft.status().term).to.equal(firstTerm);

    const second = waitForLeader(cluster, 4 * T);
    expect(second.raft.status().term).to.be.greaterThan(firstTerm);
    commitOne(cluster, "after", 3);
    for (const node of cluster.nodes.values()) {
      expect(node.applied.slice(0, appliedBefore.length)).to.deep.equal(appliedBefore);
    }
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    expect(monitor.appliedCount()).to.equal(cluster.node("n1").applied.length);
  });

  it("survives repeated crashes and restarts of the leader", () => {
    const cluster = makeCluster(3, 53);
    const monitor = new SafetyMonitor(cluster);
    waitForLeader(cluster, 2 * T);
    for (let round = 0; round < 5; round++) {
      commitOne(cluster, `before-${round}`, 3);
      const leader = waitForLeader(cluster, 4 * T);
      cluster.crash(leader.id);
      commitOne(cluster, `without-${round}`, 2);
      cluster.restart(leader.id);
      commitOne(cluster, `with-${round}`, 3);
      monitor.checkLeaders();
    }
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    expectAppliedEntriesKept(cluster, monitor);
  });

  it("survives crashes and restarts of followers, and waits while a majority is down", () => {
    const cluster = makeCluster(5, 54);
    const monitor = new SafetyMonitor(cluster);
    const leader = waitForLeader(cluster, 2 * T);
    commitOne(cluster, "start", 5);
    const followers = cluster.ids.filter((id) => id !== leader.id);
    cluster.crash(followers[0]!);
    cluster.crash(followers[1]!);
    commitOne(cluster, "two-down", 3);
    cluster.crash(followers[2]!);
    // Three of five down: nothing commits until one returns.
    const index = cluster.propose("three-down")!;
    cluster.tick(5 * T);
    expect(cluster.appliedCount(index, "three-down")).to.equal(0);
    for (const id of followers) cluster.restart(id);
    commitOne(cluster, "all-back", 5);
    expectSameLogs(cluster);
    expectSameApplied(cluster);
    expectAppliedEntriesKept(cluster, monitor);
    for (const node of cluster.nodes.values()) expectDiskMatchesMemory(node);
  });

  describe("crash during persist", () => {
    it("never loses an entry when the leader crashes while persisting proposals", () => {
      for (let seed = 1; seed <= 8; seed++) {
        const cluster = makeCluster(3, 60 + seed);
        const monitor = new SafetyMonitor(cluster);
        waitForLeader(cluster, 2 * T);
        commitOne(cluster, "committed", 3);
        const leader = cluster.leader()!;
        for (let k = 0; k < 3; k++) leader.raft.propose(`pending-${k}`);
        cluster.crashDuringPersist(leader);
        // What reached the disk is a prefix of what the leader held in memory.
        expect(logOf(leader).slice(0, leader.disk.entries.length))
          .to.deep.equal(leader.disk.entries);
        commitOne(cluster, "without", 2);
        cluster.restart(leader.id);
        commitOne(cluster, "after", 3);
        expectSameLogs(cluster);
        expectSameApplied(cluster);
        expectAppliedEntriesKept(cluster, monitor);
      }
    });

    it("restarts a follower that crashed while persisting a catch-up batch", () => {
      // A follower that lags receives, in one append, entries and a leaderCommit that covers
      // them, so its Ready holds both the new entries and a hard state committing them. A crash
      // that keeps only part of those entries must still leave a disk it can restart from: the
      // hard state reaches the disk only after the entries it commits (etcd's order), or a
      // restart finds a commit index beyond its log.
      for (let seed = 1; seed <= 8; seed++) {
        const cluster = makeCluster(3, seed);
        const monitor = new SafetyMonitor(cluster);
        const leader = waitForLeader(cluster, 2 * T);
        const follower = cluster.node(cluster.ids.find((id) => id !== leader.id)!);
        cluster.isolate(follower.id);
        for (let k = 0; k < 5; k++) commitOne(cluster, `missed-${k}`, 2);
        cluster.heal();
        // A new proposal makes the leader find the gap and send the follower its missing
        // entries; stop just before the follower persists them.
        leader.raft.propose("trigger");
        let roundCount = 0;
        const lagging = (): boolean => {
          const status = follower.raft.status();
          return follower.raft.hasReady() && status.commitIndex > status.stableIndex;
        };
        for (; roundCount < 20 && !lagging(); roundCount++) {
          for (const node of cluster.upNodes()) if (node !== follower) cluster.processReady(node);
          cluster.deliverDue();
          if (!lagging()) cluster.processReady(follower);
        }
        expect(lagging(), `seed ${seed}: the follower never got a committing batch`)
          .to.equal(true);
        cluster.crashDuringPersist(follower);
        expect(() => cluster.restart(follower.id), `seed ${seed}: restart of ${follower.id} ` +
          `from disk ${JSON.stringify({ hardState: follower.disk.hardState,
            lastIndex: follower.disk.entries.length })}`).to.not.throw();
        commitOne(cluster, "after", 3);
        expectSameApplied(cluster);
        expectAppliedEntriesKept(cluster, monitor);
      }
    });

    it("never loses an applied entry when random nodes crash mid-persist", () => {
      const cluster = makeCluster(5, 71);
      const monitor = new SafetyMonitor(cluster);
      const rng = new SeededRng(71);
      waitForLeader(cluster, 2 * T);
      let armedCount = 0;
      let crashCount = 0;
      for (let step = 0; step < 400; step++) {
        const leader = cluster.leader();
        const proposalCount = leader === null ? 0 : rng.nextInt(4);
        for (let k = 0; k < proposalCount; k++) leader!.raft.propose(`s${step}-${k}`);
        // Arm a crash for a node's next Ready (a vote, an append, an acknowledgement...),
        // keeping a majority up so that the run makes progress.
        const up = cluster.upNodes();
        if (up.length > 3 && rng.nextFloat() < 0.1) {
          cluster.crashAtNextPersist(up[rng.nextInt(up.length)]!.id);
          armedCount++;
        }
        cluster.tick();
        crashCount += up.filter((node) => !node.up).length;
        const down = cluster.ids.filter((id) => !cluster.node(id).up);
        if (down.length > 0 && rng.nextFloat() < 0.1) {
          cluster.restart(down[rng.nextInt(down.length)]!);
        }
        monitor.checkLeaders();
      }
      for (const id of cluster.ids) cluster.restart(id);
      commitOne(cluster, "final", 5);
      expect(crashCount, `crashes of ${armedCount} armed`).to.be.greaterThan(10);
      expect(monitor.appliedCount()).to.be.greaterThan(100);
      expectSameApplied(cluster);
      expectSameLogs(cluster);
      expectAppliedEntriesKept(cluster, monitor);
    });
  });
});
