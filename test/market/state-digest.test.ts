/**
 * SetDigest is the sum mod 2^256 of its records' sha256 (read as big-endian numbers). Method: drive it and
 * a bigint reference, the definition written the obvious way, with the same adds and removes
 * of random hashes, including hashes near 2^256 (carries through every word, wrapping past
 * 2^256) and removes that take the sum below zero (borrows, wrapping under 0), and compare
 * hex() after every step; fromHex() of any hex() must give a digest that goes on the same.
 */
import { expect } from "chai";
import { createHash } from "node:crypto";
import { recordHash, SetDigest } from "../../src/market/state-digest.js";

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
    const record = { sku: "apple", stock: 3 };
    const expected = createHash("sha256").update(`item:${JSON.stringify(record)}`).digest();
    expect(recordHash("item", record)).to.equal(bigintOf(expected));
    expect(recordHash("order", record)).to.not.equal(bigintOf(expected));
  });

  it("refuses a stored digest that is not 64 hex digits", () => {
    expect(() => SetDigest.fromHex("abc")).to.throw(/64 hex digits/);
    expect(() => SetDigest.fromHex("G".repeat(64))).to.throw(/64 hex digits/);
  });
});
