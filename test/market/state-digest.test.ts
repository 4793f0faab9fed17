/**
 * SetDigest is the sum mod 2^256 of its records' sha256 (read as big-endian numbers). Method: drive it and
 * a bigint reference, the definition written the obvious way, with the same adds and removes
 * of random hashes, including hashes near 2^256 (carries through every word, wrapping past
 * 2^256) and removes that take the sum below zero (borrows, wrapping under 0), and compare
 * hex() after every step; fromHex() of any hex() must give a digest that goes on the same.
 */
import { expect } from "chai";
import { createHash } from "node:crypto";
import type { MarketResult } from "../../src/market/commands.js";
import {
  encodeItem, encodeOrder, encodeSession, itemJson, orderJson, sessionJson,
} from "../../src/market/encoding.js";
import type { Item, Order } from "../../src/market/model.js";
import * as marketResults from "../../src/market/results.js";
import type { Session } from "../../src/market/sessions.js";
import { recordHash, SessionRing, SetDigest } from "../../src/market/state-digest.js";

const modulus = 1n << 256n;

function bigintOf(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

function referenceHex(sum: bigint): string {
  return (((sum % modulus) + modulus) % modulus).toString(16).padStart(64, "0");
}

/** A deterministic 32-byte value: mostly sha256 output, sometimes all ones or near zero. */
function hashNumber(k: number): Uint8Array {
  if (k % 7 === 0) return new Uint8Array(32).fill(0xff);
  if (k % 11 === 0) {
    const small = new Uint8Array(32);
    small[31] = k % 256;
    return small;
  }
  return createHash("sha256").update(`value ${k}`).digest();
}

describe("SetDigest", () => {
  it("is the sum mod 2^256 of the hashes added, less those removed, after every step", () => {
    let digest = new SetDigest();
    let reference = 0n;
    const added: Uint8Array[] = [];
    for (let step = 0; step < 2000; step++) {
      if (step % 3 === 2 && added.length > 0) {
        const removed = added.splice((step * 31) % added.length, 1)[0]!;
        digest.remove(bigintOf(removed));
        reference -= bigintOf(removed);
      } else if (step % 13 === 5) {
        // Removing a hash never added: the sum goes negative and must wrap.
        const stranger = hashNumber(step + 100_000);
        digest.remove(bigintOf(stranger));
        reference -= bigintOf(stranger);
      } else {
        const hash = hashNumber(step);
        digest.add(bigintOf(hash));
        added.push(hash);
        reference += bigintOf(hash);
      }
      expect(digest.hex(), `step ${step}`).to.equal(referenceHex(reference));
      if (step % 97 === 0) digest = SetDigest.fromHex(digest.hex());
    }
  });

  it("is the same set digest whatever the order of adds and removes", () => {
    const hashes = Array.from({ length: 50 }, (_, k) => hashNumber(k));
    const forward = new SetDigest();
    for (const hash of hashes) forward.add(bigintOf(hash));
    const backward = new SetDigest();
    for (const hash of [...hashes].reverse()) backward.add(bigintOf(hash));
    expect(forward.hex()).to.equal(backward.hex());
    for (const hash of hashes) forward.remove(bigintOf(hash));
    expect(forward.hex()).to.equal("0".repeat(64));
  });

  it("hashes a record as the sha256 of its tag and JSON", () => {
    const json = JSON.stringify({ sku: "apple", stock: 3 });
    const expected = createHash("sha256").update(`item:${json}`).digest();
    expect(recordHash("item", json)).to.equal(bigintOf(expected));
    expect(recordHash("order", json)).to.not.equal(bigintOf(expected));
  });

  it("refuses a stored digest that is not 64 hex digits", () => {
    expect(() => SetDigest.fromHex("abc")).to.throw(/64 hex digits/);
    expect(() => SetDigest.fromHex("G".repeat(64))).to.throw(/64 hex digits/);
  });
});

describe("the records' JSON text, written out", () => {
  // Strings a hand-written encoder could get wrong: quotes, backslashes, control characters,
  // lone surrogates, non-ASCII.
  const names = ["apple", "say \"hi\"", "back\\slash", "tab\tnew\nline\u0001", "\ud800 lone",
    "caf\u00e9 \u{1f34e}", ""];
  const items: Item[] = names.map((name, k) => ({
    sku: `sku-${k}${name.slice(0, 3)}`, name, area: names[(k + 3) % names.length]!,
    priceCents: k * 1_000_003, stock: k === 0 ? 0 : 10 ** k,
  }));
  const orders: Order[] = names.map((name, k) => ({
    orderId: `o-${k}`, requestId: `r-${name}`, status: k % 2 === 0 ? "confirmed" : "cancelled",
    index: 2 ** (k * 7), totalCents: k * 99,
    lines: Array.from({ length: k % 4 }, (_, line) => ({
      sku: names[(k + line) % names.length]!, qty: line + 1, priceCents: line * 33,
    })),
  }));
  const results: MarketResult[] = [
    ...items.map((item): MarketResult => ({ ok: true, kind: "item", item })),
    ...orders.map((order): MarketResult => ({ ok: true, kind: "order", order })),
    { ok: false, error: "invalidCommand", field: "lines[0].qty", message: "must be \"positive\"" },
    marketResults.insufficientStock(items[1]!, 30),
    marketResults.requestIdConflict("r-\u00e9"),
  ];
  const sessions: Session[] = results.map((result, k) => ({
    requestId: `r-${names[k % names.length]!}`, digest: "ab".repeat(32), index: k + 1,
    recordedAtMs: 1_764_480_000_000 + k, result,
  }));

  it("is JSON.stringify of each record's encoding", () => {
    for (const item of items) expect(itemJson(item)).to.equal(JSON.stringify(encodeItem(item)));
    for (const order of orders) {
      expect(orderJson(order)).to.equal(JSON.stringify(encodeOrder(order)));
    }
    for (const session of sessions) {
      const expected = JSON.stringify(encodeSession(session));
      expect(sessionJson(session)).to.equal(expected);
      if (session.result.ok && session.result.kind === "order") {
        expect(sessionJson(session, orderJson(session.result.order))).to.equal(expected);
      }
    }
  });
});

describe("SessionRing", () => {
  const hashOf = (sequence: number) => bigintOf(hashNumber(sequence));

  it("gives back the hash and time of each of the last `capacity` sessions, nothing older", () => {
    const ring = new SessionRing(5, 10);
    expect(ring.holds(10)).to.equal(false);
    for (let sequence = 10; sequence < 40; sequence++) {
      ring.set(sequence, hashOf(sequence), 1_000 * sequence, 10);
      for (let back = 0; back < 8; back++) {
        const held = sequence - back;
        const expected = back < 5 && held >= 10;
        expect(ring.holds(held), `at ${sequence}, session ${held}`).to.equal(expected);
        if (expected) {
          expect(ring.hash(held), `at ${sequence}, session ${held}`).to.equal(hashOf(held));
          expect(ring.recordedAt(held)).to.equal(1_000 * held);
        } else {
          expect(() => ring.hash(held)).to.throw(/not held/);
        }
      }
      expect(ring.holds(sequence + 1)).to.equal(false);
    }
  });

  it("holds nothing recorded before it was made, and refuses a sequence out of turn", () => {
    const ring = new SessionRing(100, 7);
    expect(ring.holds(6)).to.equal(false);
    expect(() => ring.set(8, 1n, 0, 0)).to.throw(/recorded after/);
    ring.set(7, (1n << 256n) - 1n, 5, 0);
    expect(ring.hash(7)).to.equal((1n << 256n) - 1n);
    expect(() => ring.set(7, 1n, 0, 0)).to.throw(/recorded after/);
    expect(() => ring.set(8, 1n, 0, 9)).to.throw(/oldest session 9 after 8/);
  });

  it("grows as the sessions held grow, keeping each, up to its capacity and no further", () => {
    const capacity = 5_000;
    const ring = new SessionRing(capacity, 3);
    const initialSlots = ring.slotCount;
    expect(initialSlots).to.be.below(capacity);
    // A table that fills to capacity: every session recorded is still held.
    for (let sequence = 3; sequence < 3 + 2 * capacity; sequence++) {
      ring.set(sequence, hashOf(sequence), sequence, Math.max(3, sequence + 1 - capacity));
      if (sequence % 997 === 0 || sequence === 3 + initialSlots) {
        for (const held of [Math.max(3, sequence + 1 - capacity), sequence - 1, sequence]) {
          expect(ring.hash(held), `at ${sequence}, session ${held}`).to.equal(hashOf(held));
          expect(ring.recordedAt(held)).to.equal(held);
        }
      }
    }
    expect(ring.slotCount).to.equal(capacity);
    // A table whose sessions expire (at most 100 held) does not grow.
    const expiring = new SessionRing(capacity, 0);
    for (let sequence = 0; sequence < 3 * capacity; sequence++) {
      expiring.set(sequence, hashOf(sequence), sequence, Math.max(0, sequence - 99));
    }
    expect(expiring.slotCount).to.equal(initialSlots);
    expect(expiring.hash(3 * capacity - 100)).to.equal(hashOf(3 * capacity - 100));
  });
});
