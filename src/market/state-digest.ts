/**
 * An incremental digest of the replicated state, so that stateHash() costs O(1) however large
 * the tables grow, instead of hashing a snapshot of tens of megabytes on the event loop.
 *
 * The state is a set of records (items, orders, sessions), each carrying its own key and
 * order (sku, index), so the set alone determines the state. SetDigest keeps the sum modulo
 * 2^256 of the sha256 of each record's tagged canonical encoding (AdHash, Bellare and
 * Micciancio 1997): adding, removing or replacing a record is one hash and one addition, and
 * DigestedMap defers even that hash until the digest is read.
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
}

/** The hash of one record: `tag` separates the kinds of record ("item", "order", ...). */
export function recordHash(tag: string, encoded: object): bigint {
  return BigInt(`0x${sha256Hex(`${tag}:${JSON.stringify(encoded)}`)}`);
}

/**
 * A Map from string keys to records that keeps a SetDigest in step. Hashing is lazy: a set
 * or delete costs no hash, it only drops the record's old hash from the digest (if it had been
 * computed) and marks the key pending; flush() hashes the pending records. So apply() stays
 * cheap, and stateHash() costs one hash per record changed since the previous call (a record
 * changed many times in between is hashed once). Iteration is in insertion order; replacing
 * a value keeps its place.
 */
export class DigestedMap<V> {
  /** Invariant: hash is null exactly for the keys in `pending`. */
  private readonly entries = new Map<string, { readonly value: V; hash: bigint | null }>();
  private readonly pending = new Set<string>();

  constructor(
    private readonly digest: SetDigest,
    private readonly tag: string,
    private readonly encode: (value: V) => object,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: V): void {
    this.forget(key);
    this.entries.set(key, { value, hash: null });
    this.pending.add(key);
  }

  delete(key: string): boolean {
    if (!this.entries.has(key)) return false;
    this.forget(key);
    return this.entries.delete(key);
  }

  /** Adds the hash of every pending record to the digest. Bounded by the map's size. */
  flush(): void {
    for (const key of this.pending) {
      const entry = this.entries.get(key);
      assert(entry !== undefined && entry.hash === null, "digestedMap: pending key is stale");
      entry.hash = recordHash(this.tag, this.encode(entry.value));
      this.digest.add(entry.hash);
    }
    this.pending.clear();
  }

  /** The oldest key, or undefined when empty. */
  firstKey(): string | undefined {
    const first = this.entries.keys().next();
    return first.done === true ? undefined : first.value;
  }

  *values(): IterableIterator<V> {
    for (const entry of this.entries.values()) yield entry.value;
  }

  /** Takes the record at `key` (if any) out of the digest, or out of the pending set. */
  private forget(key: string): void {
    const previous = this.entries.get(key);
    if (previous === undefined) return;
    if (previous.hash === null) this.pending.delete(key);
    else this.digest.remove(previous.hash);
  }
}
