/**
 * An incremental digest of the replicated state, so that stateHash() costs O(1) however large
 * the tables grow, instead of hashing a snapshot of tens of megabytes on the event loop.
 *
 * The state is a set of records (items, orders, sessions), each carrying its own key and
 * order (sku, index), so the set alone determines the state. SetDigest keeps the sum modulo
 * 2^256 of the sha256 of each record's tagged canonical encoding (AdHash, Bellare and
 * Micciancio 1997): adding, removing or replacing a record is one hash and one addition, done
 * by the state machine as it writes the record (a few microseconds a record).
 * It detects divergence between replicas; it is not meant to resist a deliberate forger.
 * Restore rebuilds the sum from scratch, and the tests compare the two.
 */
import { assert } from "./assert.js";
import { sha256Hex } from "./canonical.js";

const modulusMask = (1n << 256n) - 1n;

export class SetDigest {
  /** Invariant: the sum mod 2^256 of recordHash over the records in the set. */
  private sum = 0n;

  add(hash: bigint): void {
    this.sum = (this.sum + hash) & modulusMask;
  }

  remove(hash: bigint): void {
    this.sum = (this.sum - hash) & modulusMask;
  }

  hex(): string {
    return this.sum.toString(16).padStart(64, "0");
  }

  /** The digest whose hex() is `hex` (as stored beside the records). */
  static fromHex(hex: string): SetDigest {
    assert(/^[0-9a-f]{64}$/.test(hex), "setDigest: stored digest is not 64 hex digits");
    const digest = new SetDigest();
    digest.sum = BigInt(`0x${hex}`);
    return digest;
  }
}

/** The hash of one record: `tag` separates the kinds of record ("item", "order", ...). */
export function recordHash(tag: string, encoded: object): bigint {
  return BigInt(`0x${sha256Hex(`${tag}:${JSON.stringify(encoded)}`)}`);
}
