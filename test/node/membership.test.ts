/**
 * The driver's membership (src/node/membership.ts) as a node starts or installs a snapshot.
 * Goal: a node whose stored state (or a leader's snapshot) already has it removed reports its
 * removal once, even though the entry that removed it is not applied again (the crash came
 * between applying and reporting it); a node still in the configuration reports nothing; and the
 * configuration and addresses come from the meta, the bootstrap book only without one. Method: a
 * Membership over a minimal driver context (no core needed on these paths).
 */
import { expect } from "chai";
import pino from "pino";
import type { DriverContext } from "../../src/node/driver-context.js";
import { Membership } from "../../src/node/membership.js";
import { NodeMetrics } from "../../src/node/metrics.js";
import { realScheduler } from "../../src/node/scheduler.js";
import type { RaftNode, SnapshotMeta } from "../../src/raft/index.js";

const addresses = ["n1", "n2", "n3"].map((id, k) => ({ id,
  peerUrl: `http://127.0.0.1:710${k + 1}`, clientUrl: `http://127.0.0.1:700${k + 1}` }));

function context(id: string): DriverContext {
  return { id, node: {} as RaftNode, scheduler: realScheduler, metrics: new NodeMetrics(id),
    logger: pino({ level: "silent" }), leaderId: () => null, schedule: () => {},
    stopped: () => false, running: () => true, fail: () => {} };
}

function membership(id: string, base: SnapshotMeta | null, removals: number[]): Membership {
  return new Membership(context(id), { bootstrapVoters: ["n1", "n2", "n3"],
    bootstrapAddresses: addresses, timeoutMs: 1000, publishedIds: () => [],
    onRemoved: (index) => removals.push(index) }, base, []);
}

describe("membership at start and at snapshot install", () => {
  const removedN3: SnapshotMeta = { index: 12, term: 2, voters: ["n1", "n2", "n4"],
    addresses: [...addresses.slice(0, 2), { ...addresses[2]!, removedAtIndex: 11 },
      { id: "n4", peerUrl: "http://127.0.0.1:7104", clientUrl: "http://127.0.0.1:7004" }] };

  it("reports a removal the stored state already holds, once", () => {
    const removals: number[] = [];
    const restored = membership("n3", removedN3, removals);
    expect(removals).to.deep.equal([11]);
    restored.reset(removedN3);
    expect(removals).to.deep.equal([11]);
  });

  it("reports a removal that arrives in a leader's snapshot", () => {
    const removals: number[] = [];
    const running = membership("n3", null, removals);
    expect(removals).to.deep.equal([]);
    running.reset(removedN3);
    expect(removals).to.deep.equal([11]);
    expect(running.conf().voters).to.deep.equal(["n1", "n2", "n4"]);
  });

  it("reports nothing for a member, and takes the book from the meta", () => {
    const removals: number[] = [];
    const member = membership("n4", removedN3, removals);
    expect(removals).to.deep.equal([]);
    expect(member.metaAddresses().map(({ id }) => id)).to.deep.equal(["n1", "n2", "n3", "n4"]);
    const fresh = membership("n1", null, removals);
    expect(fresh.metaAddresses()).to.deep.equal(addresses);
    expect(fresh.conf().voters).to.deep.equal(["n1", "n2", "n3"]);
  });
});
