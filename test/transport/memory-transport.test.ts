/**
 * MemoryTransport, the in-process transport for tests: it must keep the Transport contract the
 * HttpTransport keeps (the shared suite in contract.ts), plus what only a MemoryNetwork has —
 * one started transport per id, and copies, never shared objects, on delivery. Method: a fresh
 * MemoryNetwork per test; "stopping" a node closes its transport and "restarting" starts a new
 * one under the same id.
 */
import { expect } from "chai";
import { MemoryNetwork, type MemoryTransport } from "../../src/transport/index.js";
import { runTransportContract, type TransportPair } from "./contract.js";
import { Inbox, numbered, waitFor } from "./helpers.js";

async function makeMemoryPair(options: { queueMessagesMax?: number }): Promise<TransportPair> {
  const network = new MemoryNetwork();
  const a = network.transport("a", options);
  let b: MemoryTransport = network.transport("b", options);
  await a.start();
  await b.start();
  return {
    a,
    get b() {
      return b;
    },
    stopB: () => b.close(),
    async restartB() {
      b = network.transport("b", options);
      await b.start();
      return b;
    },
    async close() {
      await a.close();
      await b.close();
    },
  };
}

runTransportContract("MemoryTransport", makeMemoryPair);

describe("MemoryTransport", () => {
  it("refuses a second started transport under one id", async () => {
    const network = new MemoryNetwork();
    const first = network.transport("a");
    await first.start();
    let error: unknown = null;
    await network.transport("a").start().catch((caught: unknown) => {
      error = caught;
    });
    expect(error).to.be.instanceOf(Error);
    expect(network.nodeIds()).to.deep.equal(["a"]);
    await first.close();
    expect(network.nodeIds()).to.deep.equal([]);
  });

  it("delivers copies, so that sender and receiver share no object", async () => {
    const network = new MemoryNetwork();
    const a = network.transport("a");
    const b = network.transport("b");
    await a.start();
    await b.start();
    const inbox = new Inbox(b);
    const sent = numbered("a", "b", 7);
    a.send([sent]);
    await waitFor(() => inbox.count() === 1, "one message");
    expect(inbox.messages()[0]).to.deep.equal(sent);
    expect(inbox.messages()[0]).not.to.equal(sent);
    await a.close();
    await b.close();
  });

  it("delivers on a later turn, not inside send()", async () => {
    const network = new MemoryNetwork();
    const a = network.transport("a");
    const b = network.transport("b");
    await a.start();
    await b.start();
    const inbox = new Inbox(b);
    a.send([numbered("a", "b", 1)]);
    expect(inbox.count()).to.equal(0);
    await waitFor(() => inbox.count() === 1, "one message");
    await a.close();
    await b.close();
  });
});
