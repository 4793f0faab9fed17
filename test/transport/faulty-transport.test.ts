/**
 * FaultyTransport, the network-fault injector the partition scripts, the chaos runs and the
 * admin API rely on. Goal: each fault does what its rule says on exactly the directed links it
 * names — a drop rule on both directions partitions a link, a one-way rule cuts one direction,
 * a drop rule held only by the receiver still cuts it, dropRate and jitter follow the injected
 * random draws, delay holds messages back, duplicateRate repeats them, clearRules() heals, and
 * delayed messages are bounded. Method: three nodes a, b, c, each a FaultyTransport over a
 * MemoryTransport on one MemoryNetwork, with a scripted random source so every draw is known;
 * losses are read from faultStats() at the moment of sending, arrivals by bounded polling.
 */
import { expect } from "chai";
import type { NodeId } from "../../src/raft/index.js";
import {
  FaultyTransport,
  MemoryNetwork,
  type FaultyTransportOptions,
  type LinkRule,
} from "../../src/transport/index.js";
import { Inbox, nextTurn, numbered, seqs, waitFor } from "./helpers.js";

/** A random source that returns `values` in turn and fails the test if it runs out. */
function scripted(values: number[]): () => number {
  let position = 0;
  return () => {
    const value = values[position++];
    if (value === undefined) throw new Error("the scripted random source ran out");
    return value;
  };
}

interface Node {
  readonly transport: FaultyTransport;
  readonly inbox: Inbox;
}

describe("FaultyTransport", function () {
  this.timeout(5000);
  let nodes: Map<NodeId, Node>;

  async function cluster(options: Partial<FaultyTransportOptions> = {},
    ids: NodeId[] = ["a", "b", "c"]): Promise<(id: NodeId) => Node> {
    const network = new MemoryNetwork();
    nodes = new Map();
    for (const id of ids) {
      const transport = new FaultyTransport(network.transport(id), { self: id, ...options });
      await transport.start();
      nodes.set(id, { transport, inbox: new Inbox(transport) });
    }
    return (id) => nodes.get(id)!;
  }

  function setRulesEverywhere(rules: LinkRule[]): void {
    for (const node of nodes.values()) node.transport.setRules(rules);
  }

  afterEach(async () => {
    for (const node of nodes.values()) await node.transport.close();
  });

  it("passes every message through, in its batch, when there are no rules", async () => {
    const node = await cluster();
    node("a").transport.send([1, 2, 3].map((seq) => numbered("a", "b", seq)));
    await waitFor(() => node("b").inbox.count() === 3, "3 messages");
    expect(node("b").inbox.batches).to.have.length(1);
    expect(seqs(node("b").inbox.messages())).to.deep.equal([1, 2, 3]);
  });

  it("partitions a link both ways with a drop rule on each direction", async () => {
    const node = await cluster();
    setRulesEverywhere([{ from: "a", to: "b", drop: true }, { from: "b", to: "a", drop: true }]);
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "c", 2)]);
    node("b").transport.send([numbered("b", "a", 3), numbered("b", "c", 4)]);
    expect(node("a").transport.faultStats().messagesDroppedByRule).to.equal(1);
    expect(node("b").transport.faultStats().messagesDroppedByRule).to.equal(1);
    node("c").transport.send([numbered("c", "a", 5), numbered("c", "b", 6)]);
    await waitFor(() => node("c").inbox.count() === 2, "a->c and b->c");
    await waitFor(() => node("a").inbox.count() === 1 && node("b").inbox.count() === 1,
      "c->a and c->b");
    expect(seqs(node("a").inbox.messages())).to.deep.equal([5]);
    expect(seqs(node("b").inbox.messages())).to.deep.equal([6]);
  });

  it("cuts one direction only with a one-way rule", async () => {
    const node = await cluster();
    setRulesEverywhere([{ from: "a", to: "b", drop: true }]);
    node("a").transport.send([numbered("a", "b", 1)]);
    node("b").transport.send([numbered("b", "a", 2)]);
    expect(node("a").transport.faultStats().messagesDroppedByRule).to.equal(1);
    await waitFor(() => node("a").inbox.count() === 1, "b->a");
    expect(node("b").inbox.count()).to.equal(0);
    expect(node("b").transport.faultStats().messagesDroppedByRule).to.equal(0);
  });

  it("cuts a link with a drop rule that only the receiver holds", async () => {
    const node = await cluster();
    node("b").transport.setRules([{ from: "a", to: "*", drop: true }]);
    node("a").transport.send([numbered("a", "b", 1)]);
    node("a").transport.send([numbered("a", "c", 2)]);
    await waitFor(() => node("b").transport.faultStats().messagesDroppedByRule === 1,
      "the receiver's drop");
    await waitFor(() => node("c").inbox.count() === 1, "a->c");
    expect(node("b").inbox.count()).to.equal(0);
  });

  it("leaves rates and delays to the sender by default", async () => {
    const node = await cluster();
    node("b").transport.setRules([{ from: "a", to: "b", dropRate: 1, delayMs: 10_000 }]);
    node("a").transport.send([numbered("a", "b", 1)]);
    await waitFor(() => node("b").inbox.count() === 1, "a->b");
  });

  it("applies every fault on receipt too with incomingFaults: all", async () => {
    const node = await cluster({ incomingFaults: "all", random: () => 0 });
    node("b").transport.setRules([{ from: "a", to: "b", dropRate: 0.5 }]);
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "c", 2)]);
    await waitFor(() => node("c").inbox.count() === 1, "a->c");
    await waitFor(() => node("b").transport.faultStats().messagesDroppedByRule === 1,
      "the receiver's drop");
  });

  it("drops exactly the messages whose draw is below dropRate", async () => {
    const node = await cluster({ random: scripted([0.1, 0.6, 0.49, 0.5, 0.9]) });
    node("a").transport.setRules([{ from: "a", to: "b", dropRate: 0.5 }]);
    node("a").transport.send([0, 1, 2, 3, 4].map((seq) => numbered("a", "b", seq)));
    expect(node("a").transport.faultStats().messagesDroppedByRule).to.equal(2);
    await waitFor(() => node("b").inbox.count() === 3, "3 survivors");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([1, 3, 4]);
  });

  it("holds messages back for delayMs, keeping their order", async () => {
    const node = await cluster();
    node("a").transport.setRules([{ to: "b", delayMs: 120 }]);
    const startedMs = performance.now();
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
    node("a").transport.send([numbered("a", "c", 3)]);
    expect(node("a").transport.faultStats()).to.include({ messagesDelayed: 2,
      messagesDelayedPending: 2 });
    await waitFor(() => node("c").inbox.count() === 1, "the undelayed a->c");
    expect(node("b").inbox.count()).to.equal(0);
    await waitFor(() => node("b").inbox.count() === 2, "the delayed messages");
    expect(performance.now() - startedMs).to.be.at.least(100);
    expect(seqs(node("b").inbox.messages())).to.deep.equal([1, 2]);
    expect(node("a").transport.faultStats().messagesDelayedPending).to.equal(0);
  });

  it("draws jitter per message, so delayed messages may reorder", async () => {
    const node = await cluster({ random: scripted([0.9, 0.1]) });
    node("a").transport.setRules([{ from: "a", to: "b", delayMs: 10, jitterMs: 100 }]);
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
    await waitFor(() => node("b").inbox.count() === 2, "both messages");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([2, 1]);
  });

  it("delivers every message twice with duplicateRate 1", async () => {
    const node = await cluster({ random: () => 0.5 });
    node("a").transport.setRules([{ from: "a", to: "b", duplicateRate: 1 }]);
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
    await waitFor(() => node("b").inbox.count() === 4, "4 copies");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([1, 1, 2, 2]);
    expect(node("a").transport.faultStats().messagesDuplicated).to.equal(2);
  });

  it("combines every matching rule", async () => {
    const node = await cluster({ random: scripted([0.7, 0.8]) });
    node("a").transport.setRules([
      { from: "*", to: "b", dropRate: 0.5 },
      { from: "a", to: "*", dropRate: 0.5 },
    ]);
    // Combined: 1 - 0.5 * 0.5 = 0.75, so 0.7 drops and 0.8 passes.
    node("a").transport.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
    expect(node("a").transport.faultStats().messagesDroppedByRule).to.equal(1);
    await waitFor(() => node("b").inbox.count() === 1, "the survivor");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([2]);
  });

  it("heals every link on clearRules()", async () => {
    const node = await cluster();
    setRulesEverywhere([{ from: "a", drop: true }, { to: "a", drop: true }]);
    node("a").transport.send([numbered("a", "b", 1)]);
    expect(node("a").transport.faultStats().messagesDroppedByRule).to.equal(1);
    for (const each of nodes.values()) each.transport.clearRules();
    expect(node("a").transport.rules()).to.deep.equal([]);
    node("a").transport.send([numbered("a", "b", 2)]);
    node("b").transport.send([numbered("b", "a", 3)]);
    await waitFor(() => node("a").inbox.count() === 1 && node("b").inbox.count() === 1,
      "both directions");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([2]);
  });

  it("drops delayed messages beyond delayedMessagesMax", async () => {
    const node = await cluster({ delayedMessagesMax: 3 });
    node("a").transport.setRules([{ to: "b", delayMs: 20 }]);
    node("a").transport.send([1, 2, 3, 4, 5].map((seq) => numbered("a", "b", seq)));
    expect(node("a").transport.faultStats()).to.include({ messagesDelayedPending: 3,
      messagesDroppedDelayFull: 2 });
    await waitFor(() => node("b").inbox.count() === 3, "3 delayed messages");
    expect(seqs(node("b").inbox.messages())).to.deep.equal([1, 2, 3]);
  });

  it("cancels delayed messages on close()", async () => {
    const node = await cluster();
    node("a").transport.setRules([{ to: "b", delayMs: 50 }]);
    node("a").transport.send([numbered("a", "b", 1)]);
    await node("a").transport.close();
    expect(node("a").transport.faultStats().messagesDelayedPending).to.equal(0);
    await nextTurn();
  });

  it("rejects an invalid rule and keeps the rules it had", async () => {
    const node = await cluster();
    const rules: LinkRule[] = [{ from: "a", to: "b", drop: true }];
    node("a").transport.setRules(rules);
    expect(() => node("a").transport.setRules([{ dropRate: 1.5 }])).to.throw(/dropRate/);
    expect(() => node("a").transport.setRules([{ delayMs: -1 }])).to.throw(/delayMs/);
    expect(() => node("a").transport.setRules([{ from: "" }])).to.throw(/from/);
    expect(node("a").transport.rules()).to.deep.equal(rules);
  });
});
