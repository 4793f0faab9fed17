/**
 * Exactly-once requests through the replicated session table. Method: replicas fed the same
 * log by a LogFeeder, with the leader clock moved by the test. Checks: a retried requestId
 * gets the first result and is not applied again (even when the state has changed since);
 * the same requestId with another body is a requestIdConflict that leaves the session alone;
 * timeMs is not part of a request's identity; sessions expire by the log clock (the highest
 * timeMs applied, so a leader clock that steps back expires nothing early) and the oldest is
 * evicted from a full table; and two replicas fed one log expire and evict identically,
 * ending with equal state hashes.
 */
import { expect } from "chai";
import {
  encodeMarketSnapshotStream,
  MarketSnapshotInstall,
  MarketStateMachine,
} from "../../src/market/index.js";
import { StateStoreError, type StateWriter } from "../../src/market/state-store.js";
import { MemoryStateStore } from "../../src/market/memory-state-store.js";
import { canonicalJson, sha256Hex } from "../../src/market/canonical.js";
import type { BuyCommand } from "../../src/market/commands.js";
import { requestIdHash, SessionIndex } from "../../src/market/session-index.js";
import { commandDigest } from "../../src/market/sessions.js";
import {
  addStock,
  buy,
  createItem,
  expectItem,
  expectOrder,
  LogFeeder,
  newMarket,
  stockOf,
} from "./helpers.js";

describe("market sessions", () => {
  it("applies a retried request once and returns the first result", () => {
    const market = newMarket();
    const log = new LogFeeder(market);
    log.apply(createItem("a", 10));
    const request = buy([{ sku: "a", qty: 3 }], "retry-me");
    const first = log.apply(request);
    log.advance(5_000);
    const second = log.apply(request);
    expect(second).to.deep.equal(first);
    expect(expectOrder(second).index).to.equal(2);
    expect(stockOf(market, "a")).to.equal(7);
    expect(market.stats().orderCount).to.equal(1);
  });

  it("returns a stored rejection on retry, even after the state changed", () => {
    const market = newMarket();
    const log = new LogFeeder(market);
    log.apply(createItem("a", 1));
    const request = buy([{ sku: "a", qty: 2 }], "too-many");
    const first = log.apply(request);
    expect(first).to.include({ error: "insufficientStock", available: 1 });
    log.apply(addStock("a", 10));
    expect(log.apply(request)).to.deep.equal(first);
    expect(stockOf(market, "a")).to.equal(11);
  });

  it("rejects a reused requestId with a different body and keeps the first session", () => {
    const market = newMarket();
    const log = new LogFeeder(market);
    log.apply(createItem("a", 10));
    const first = log.apply(buy([{ sku: "a", qty: 1 }], "same-id"));
    const conflict = log.apply(buy([{ sku: "a", qty: 2 }], "same-id"));
    expect(conflict).to.include({ ok: false, error: "requestIdConflict", requestId: "same-id" });
    expect(log.apply(addStock("a", 1, "same-id"))).to.include({ error: "requestIdConflict" });
    expect(log.apply(buy([{ sku: "a", qty: 1 }], "same-id"))).to.deep.equal(first);
    expect(stockOf(market, "a")).to.equal(9);
  });

  it("treats the same body at another leader time as the same request", () => {
    const market = newMarket();
    const log = new LogFeeder(market);
    const first = log.apply(createItem("a", 1, { requestId: "create-a" }));
    log.advance(60_000);
    expect(log.apply(createItem("a", 1, { requestId: "create-a" }))).to.deep.equal(first);
  });

  it("digests a buy as the sha256 of its canonical JSON without timeMs", () => {
    const texts = ["a", "quote \" and \\ slash", "\u0000ctl\n", "\ud800 lone", "caf\u00e9 \u{1f34e}"];
    for (let k = 0; k < texts.length; k++) {
      const command: BuyCommand = {
        kind: "buy", requestId: `r-${texts[k]!}`, timeMs: 1_764_480_000_000 + k,
        lines: Array.from({ length: k + 1 }, (_, line) => ({
          sku: texts[(k + line) % texts.length]!, qty: 1 + line * 999,
        })),
      };
      const { timeMs: _timeMs, ...request } = command;
      expect(commandDigest(command), texts[k]).to.equal(sha256Hex(canonicalJson(request)));
    }
  });

  it("expires a session once the log clock passes its TTL; a late retry applies anew", () => {
    const market = newMarket({ sessionTtlMs: 1_000 });
    const log = new LogFeeder(market);
    log.apply(createItem("a", 0));
    const request = addStock("a", 5, "late");
    log.apply(request);
    log.advance(999);
    expect(expectItem(log.apply(request)).stock).to.equal(5);
    expect(market.stats().sessionCount).to.equal(2);
    log.advance(1);
    expect(expectItem(log.apply(request)).stock).to.equal(10);
  });

  it("never expires early when the leader clock steps back", () => {
    const market = newMarket({ sessionTtlMs: 1_000 });
    const log = new LogFeeder(market);
    log.apply(createItem("a", 0));
    log.advance(900);
    const request = addStock("a", 5, "recorded-late");
    log.apply(request);
    // A new leader whose clock is behind: the log clock stays at its maximum.
    log.advance(-10_000);
    log.apply(createItem("b", 0));
    expect(market.stats().clockMs).to.equal(log.timeMs + 10_000);
    log.advance(10_000 + 999);
    expect(expectItem(log.apply(request)).stock).to.equal(5);
    log.advance(1);
    expect(expectItem(log.apply(request)).stock).to.equal(10);
  });

  it("evicts the oldest session from a full table", () => {
    const market = newMarket({ sessionsMax: 3 });
    const log = new LogFeeder(market);
    log.apply(createItem("a", 0, { requestId: "s1" }));
    log.apply(addStock("a", 1, "s2"));
    log.apply(addStock("a", 1, "s3"));
    log.apply(addStock("a", 1, "s4"));
    expect(market.stats().sessionCount).to.equal(3);
    // s2 is still remembered; s1 was evicted, so its retry is applied (and finds the sku).
    expect(expectItem(log.apply(addStock("a", 1, "s2"))).stock).to.equal(1);
    expect(log.apply(createItem("a", 0, { requestId: "s1" }))).to.include({
      error: "alreadyExists",
    });
    expect(stockOf(market, "a")).to.equal(3);
  });

  it("expires and evicts identically on two replicas fed the same log", () => {
    const replicas = [newMarket({ sessionsMax: 4, sessionTtlMs: 500 }),
      newMarket({ sessionsMax: 4, sessionTtlMs: 500 })];
    const log = new LogFeeder(replicas);
    log.apply(createItem("a", 100));
    for (let k = 0; k < 40; k++) {
      log.advance([0, 90, 200, -300, 600][k % 5]!);
      // Retries of recent and old requests: some are remembered, some expired or evicted.
      log.apply(buy([{ sku: "a", qty: 1 }], `b-${k % 7}`));
      expect(replicas[0]!.stateHash()).to.equal(replicas[1]!.stateHash());
    }
    expect(replicas[0]!.snapshot()).to.equal(replicas[1]!.snapshot());
    expect(replicas[0]!.stats().sessionCount).to.be.at.most(4);
    expect(stockOf(replicas[0]!, "a")).to.be.below(100 - 7);
  });

  it("tells apart requestIds whose index hashes collide, kept and forgotten", () => {
    // The index (session-index.ts) maps a hash of each requestId to its session's sequence;
    // two ids with one hash must still each get their own session, and forgetting one must
    // not forget the other. A market opened again on the same store rebuilds the index.
    const [first, second] = collidingIds();
    expect(requestIdHash(first)).to.equal(requestIdHash(second));
    const store = new MemoryStateStore();
    const log = new LogFeeder(new MarketStateMachine({ sessionsMax: 3 }, store));
    log.apply(createItem("a", 10, { requestId: "s0" }));
    const one = log.apply(buy([{ sku: "a", qty: 1 }], first));
    const two = log.apply(buy([{ sku: "a", qty: 2 }], second));
    expect(expectOrder(two).index).to.not.equal(expectOrder(one).index);
    const retries = (feeder: LogFeeder) => {
      expect(feeder.apply(buy([{ sku: "a", qty: 1 }], first))).to.deep.equal(one);
      expect(feeder.apply(buy([{ sku: "a", qty: 2 }], second))).to.deep.equal(two);
      expect(feeder.apply(buy([{ sku: "a", qty: 2 }], first))).to.include({
        error: "requestIdConflict" });
    };
    retries(log);
    const reopened = new LogFeeder(new MarketStateMachine({}, store));
    reopened.index = log.index;
    reopened.timeMs = log.timeMs;
    retries(reopened);
    // s1 pushes s0 out of the full table, s2 the first id; the second is still known.
    reopened.apply(addStock("a", 1, "s1"));
    reopened.apply(addStock("a", 1, "s2"));
    expect(reopened.apply(buy([{ sku: "a", qty: 2 }], second))).to.deep.equal(two);
    expect(expectOrder(reopened.apply(buy([{ sku: "a", qty: 1 }], first))).index)
      .to.be.above(expectOrder(two).index);
  });

  it("keeps its index of sessions as the table: added, forgotten, colliding", () => {
    const index = new SessionIndex();
    const [first, second] = collidingIds();
    index.add(first, 7);
    index.add(second, 9);
    index.add("other", 8);
    expect(index.size).to.equal(3);
    expect([index.candidate(first), index.candidate(second)]).to.deep.equal([7, 9]);
    expect(index.candidate("missing")).to.equal(undefined);
    index.delete(first, 7);
    expect([index.candidate(first), index.candidate(second)]).to.deep.equal([undefined, 9]);
    expect(() => index.delete(first, 7)).to.throw(/not in the index/);
    index.delete(second, 9);
    expect(index.candidate(second)).to.equal(undefined);
    expect(index.size).to.equal(1);
  });

  it("gives each of many ids made to share one hash its own sequence, not a list", () => {
    // FNV-1a keeps equal states equal: two blocks that take its start state to one state, then
    // two that do so from the state after the first block, make four ids with one hash; more
    // blocks make as many as an attacker likes. Each must still cost one candidate. The blocks
    // were found by a birthday search over `b${n}-` (about 10^6 tries each, too slow for
    // every run), and are checked here.
    const [a1, a2, b1, b2] = ["b997969-", "b1003506-", "b972746-", "b1356020-"];
    expect(fnvState(a1, fnvStart)).to.equal(fnvState(a2, fnvStart));
    const afterA = fnvState(a1, fnvStart);
    expect(fnvState(b1, afterA)).to.equal(fnvState(b2, afterA));
    const ids = [a1 + b1, a1 + b2, a2 + b1, a2 + b2];
    expect(new Set(ids.map(requestIdHash)).size).to.equal(1);
    const index = new SessionIndex();
    ids.forEach((id, sequence) => index.add(id, sequence));
    ids.forEach((id, sequence) => expect(index.candidate(id)).to.equal(sequence));
    index.delete(ids[0]!, 0);
    // The first id's hash is free again: an unknown id of that hash gets a candidate only once
    // another id takes it, and the ids kept by themselves are unchanged.
    expect(index.candidate(ids[0]!)).to.equal(undefined);
    index.add(ids[0]!, 4);
    ids.slice(1).forEach((id, at) => expect(index.candidate(id)).to.equal(at + 1));
    expect(index.candidate(ids[0]!)).to.equal(4);
    expect(index.size).to.equal(4);
  });

  it("answers retries after a snapshot install or a restore, from the index each built",
    async () => {
      // The install writes 5 records at a time, so its sessions span several writes; each
      // copy must answer a retry of every held id with its first result, a changed body with
      // requestIdConflict, and apply an id it no longer holds (r0: sessionsMax 10) anew.
      const sourceStore = new MemoryStateStore();
      const source = new MarketStateMachine({ sessionsMax: 10 }, sourceStore);
      const log = new LogFeeder(source);
      log.apply(createItem("a", 100, { requestId: "item" }));
      const ids = Array.from({ length: 11 }, (_, k) => `r${k}`);
      const firsts = ids.map((id) => log.apply(buy([{ sku: "a", qty: 1 }], id)));
      const chunks: string[] = [];
      const view = sourceStore.view();
      try {
        await encodeMarketSnapshotStream(MarketStateMachine.snapshotSource(view).source,
          (chunk) => chunks.push(chunk), () => Promise.resolve());
      } finally {
        view.close();
      }
      const installStore = new MemoryStateStore();
      const install = new MarketSnapshotInstall(installStore, () => chunks.shift() ?? null,
        undefined, { index: log.index }, 5);
      let writes = 0;
      while (!install.step()) writes++;
      expect(writes).to.be.above(3);
      const restoreStore = new MemoryStateStore();
      const restored = MarketStateMachine.restore(source.snapshot(), restoreStore);
      for (const copy of [install.market(), restored]) {
        const feeder = new LogFeeder(copy);
        feeder.index = log.index;
        feeder.timeMs = log.timeMs;
        ids.slice(1).forEach((id, k) => {
          expect(feeder.apply(buy([{ sku: "a", qty: 1 }], id))).to.deep.equal(firsts[k + 1]);
          expect(feeder.apply(buy([{ sku: "a", qty: 2 }], id))).to.include({
            error: "requestIdConflict" });
        });
        expect(expectOrder(feeder.apply(buy([{ sku: "a", qty: 1 }], "r0"))).index)
          .to.be.above(expectOrder(firsts.at(-1)!).index);
      }
    });

  it("refuses to open a store whose session queue does not match its meta", () => {
    const damage: [string, (writer: StateWriter) => void, RegExp][] = [
      ["a gap", (writer) => writer.remove("sessionQueue", 1), /holds 2 .* expects 1/],
      ["a value that is no id", (writer) => writer.put("sessionQueue", 1, 7), /holds 1 -> 7/],
      ["one id twice", (writer) => writer.put("sessionQueue", 2, "s0"), /"s0" at 0 and 2/],
      ["an entry past the tail", (writer) => writer.put("sessionQueue", 3, "s3"), /no more/],
      ["a short queue", (writer) => writer.remove("sessionQueue", 2), /ends at 2, .* says 3/],
    ];
    for (const [what, damageIt, message] of damage) {
      const store = new MemoryStateStore();
      const log = new LogFeeder(new MarketStateMachine({}, store));
      log.apply(createItem("a", 1, { requestId: "s0" }));
      for (const id of ["s1", "s2"]) log.apply(addStock("a", 1, id));
      store.write(damageIt);
      expect(() => new MarketStateMachine({}, store), what).to.throw(StateStoreError, message);
    }
  });

  it("validates the session config", () => {
    expect(() => new MarketStateMachine({ sessionsMax: 0 })).to.throw(/sessionsMax/);
    expect(() => new MarketStateMachine({ sessionTtlMs: 1.5 })).to.throw(/sessionTtlMs/);
  });
});

/** Two requestIds with one index hash (30 bits: found among some 10^5 ids). */
function collidingIds(): [string, string] {
  const seen = new Map<number, string>();
  for (let n = 0; ; n++) {
    const id = `c-${n}`;
    const hash = requestIdHash(id);
    const earlier = seen.get(hash);
    if (earlier !== undefined) return [earlier, id];
    seen.set(hash, id);
  }
}

const fnvStart = 0x811c9dc5;

/** FNV-1a's whole 32-bit state after `text` from `state` (requestIdHash folds it). */
function fnvState(text: string, state: number): number {
  let hash = state;
  for (let at = 0; at < text.length; at++) hash = Math.imul(hash ^ text.charCodeAt(at), 0x01000193);
  return hash >>> 0;
}
