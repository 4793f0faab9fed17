/**
 * The Transport contract suite (STYLE.md §6): MemoryTransport and HttpTransport run the same
 * tests, so the in-process transport the tests rely on cannot drift from the real one. Goal:
 * pin down what the driver may assume of any transport — messages reach their addressee in
 * per-link order; every message sent to a peer in one turn arrives as one batch; a peer that is
 * down, unknown or behind costs dropped messages (counted), never an exception; a full queue
 * sheds its oldest messages; a restarted peer receives again. Method: a factory builds two
 * started transports "a" and "b" that know each other, plus hooks to stop and restart "b";
 * tests drive them only through the Transport interface and stats(), and wait by bounded
 * polling on what arrives.
 */
import { expect } from "chai";
import type { Transport, TransportStats } from "../../src/transport/index.js";
import { Inbox, nextTurn, numbered, seqs, waitFor } from "./helpers.js";

export interface TransportUnderTest extends Transport {
  stats(): TransportStats;
}

export interface TransportPair {
  readonly a: TransportUnderTest;
  /** The current "b": after restartB(), the new one. */
  readonly b: TransportUnderTest;
  /** Closes "b" as a crash would: messages sent to it are lost. */
  stopB(): Promise<void>;
  /** Starts a new "b" at the same address and returns it. */
  restartB(): Promise<TransportUnderTest>;
  /** Closes whatever is still open. */
  close(): Promise<void>;
}

export interface PairOptions {
  readonly queueMessagesMax?: number;
}

export type MakePair = (options: PairOptions) => Promise<TransportPair>;

export function runTransportContract(name: string, makePair: MakePair): void {
  describe(`Transport contract: ${name}`, function () {
    this.timeout(5000);
    let pair: TransportPair | null = null;

    async function open(options: PairOptions = {}): Promise<TransportPair> {
      pair = await makePair(options);
      return pair;
    }

    afterEach(async () => {
      await pair?.close();
      pair = null;
    });

    it("delivers each message to its addressee, in order", async () => {
      const { a, b } = await open();
      const inboxA = new Inbox(a);
      const inboxB = new Inbox(b);
      for (let turn = 0; turn < 3; turn++) {
        for (let k = 0; k < 10; k++) a.send([numbered("a", "b", turn * 10 + k)]);
        b.send([numbered("b", "a", turn)]);
        await nextTurn();
      }
      // The sender counts a batch as sent when its peer's answer comes back, which can be a
      // moment after the peer has handed the messages on.
      await waitFor(() => inboxB.count() === 30 && inboxA.count() === 3 &&
        a.stats().peers.b?.messagesSent === 30, "all messages, and their answers");
      expect(seqs(inboxB.messages())).to.deep.equal([...Array(30).keys()]);
      expect(seqs(inboxA.messages())).to.deep.equal([0, 1, 2]);
      expect(inboxB.messages().every((message) => message.to === "b" && message.from === "a"))
        .to.equal(true);
      expect(inboxA.messages().every((message) => message.to === "a")).to.equal(true);
      expect(a.stats().peers.b?.messagesSent).to.equal(30);
      expect(b.stats().messagesReceived).to.equal(30);
    });

    it("sends every message queued for a peer in one turn as one batch", async () => {
      const { a, b } = await open();
      const inbox = new Inbox(b);
      for (let seq = 0; seq < 50; seq++) a.send([numbered("a", "b", seq)]);
      await waitFor(() => inbox.count() === 50 && (a.stats().peers.b?.batchesSent ?? 0) >= 1,
        "50 messages, and the answer");
      expect(inbox.batches).to.have.length(1);
      expect(b.stats().batchesReceived).to.equal(1);
      expect(a.stats().peers.b?.batchesSent).to.equal(1);
    });

    it("drops messages for an unknown node without throwing", async () => {
      const { a } = await open();
      expect(() => a.send([numbered("a", "nobody", 1), numbered("a", "a", 2)])).not.to.throw();
      await waitFor(() => a.stats().messagesDropped === 2, "2 drops");
      expect(a.stats().messagesSent).to.equal(0);
    });

    it("drops messages for a peer that is down, without throwing", async () => {
      const current = await open();
      await current.stopB();
      expect(() => current.a.send([1, 2, 3].map((seq) => numbered("a", "b", seq))))
        .not.to.throw();
      await waitFor(() => current.a.stats().peers.b?.messagesDropped === 3, "3 drops");
      expect(current.a.stats().peers.b?.messagesSent).to.equal(0);
    });

    it("drops the oldest messages when a peer's queue is full", async () => {
      const { a, b } = await open({ queueMessagesMax: 8 });
      const inbox = new Inbox(b);
      a.send([...Array(20).keys()].map((seq) => numbered("a", "b", seq)));
      expect(a.stats().peers.b?.messagesQueued).to.equal(8);
      expect(a.stats().peers.b?.messagesDropped).to.equal(12);
      await waitFor(() => inbox.count() === 8, "the 8 newest messages");
      expect(seqs(inbox.messages())).to.deep.equal([12, 13, 14, 15, 16, 17, 18, 19]);
    });

    it("delivers again after the peer restarts", async () => {
      const current = await open();
      const before = new Inbox(current.b);
      current.a.send([numbered("a", "b", 0)]);
      await waitFor(() => before.count() === 1, "the first message");
      await current.stopB();
      current.a.send([numbered("a", "b", 1)]);
      await waitFor(() => current.a.stats().peers.b?.messagesDropped === 1, "a drop");
      const restarted = await current.restartB();
      const after = new Inbox(restarted);
      // Like Raft's heartbeats: resend until something gets through, bounded.
      for (let seq = 2; after.count() === 0; seq++) {
        expect(seq).to.be.below(200, "nothing arrived after the restart");
        current.a.send([numbered("a", "b", seq)]);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      current.a.send([numbered("a", "b", 1000), numbered("a", "b", 1001)]);
      // A resend still queued or in flight when the first arrived may land before 1000 (per-link
      // order keeps it before), so wait for 1001 itself rather than for a count.
      await waitFor(() => seqs(after.messages()).includes(1001), "two more messages");
      expect(seqs(after.messages()).slice(-2)).to.deep.equal([1000, 1001]);
      expect(before.count()).to.equal(1);
    });

    it("counts queued messages as dropped on close and ignores later sends", async () => {
      const { a } = await open();
      a.send([numbered("a", "b", 1), numbered("a", "b", 2)]);
      await a.close();
      expect(a.stats().peers.b?.messagesDropped).to.equal(2);
      expect(() => a.send([numbered("a", "b", 3)])).not.to.throw();
    });
  });
}
