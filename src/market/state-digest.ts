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
import { itemJson, orderJson, sessionJson } from "./encoding.js";
import type { Item, Order } from "./model.js";
import type { Session } from "./sessions.js";

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

/**
 * The hash of one record, given the JSON text of its encoding (encoding.ts): `tag` separates
 * the kinds of record ("item", "order", ...).
 */
export function recordHash(tag: string, json: string): bigint {
  return BigInt(`0x${sha256Hex(`${tag}:${json}`)}`);
}

export function itemHash(item: Item): bigint {
  return recordHash("item", itemJson(item));
}

export function orderHash(order: Order): bigint {
  return recordHash("order", orderJson(order));
}

/** `resultOrderJson` as sessionJson takes it. */
export function sessionHash(session: Session, resultOrderJson?: string): bigint {
  return recordHash("session", sessionJson(session, resultOrderJson));
}

const laneMask = (1n << 64n) - 1n;
/** SessionRing's slots at first. */
const initialSlots = 1024;

/**
 * The hash and the time of each session held, by sequence, so that the market checks the
 * oldest session for expiry, and drops it (at every buy, once the table is full), without
 * reading it from the store and hashing it again. It holds the sequences recorded since it
 * was made: a market opened on a store, or restored, starts it at the store's sessionTail, and
 * reads the sessions from before that as before. Bounded: at most `capacity` (the config's
 * sessionsMax) slots of 40 bytes, in typed arrays outside the heap, grown by doubling as
 * sessions come (a market opened only to be read or restored does not pay 4 MB for an empty
 * table); the table never holds more sessions than that, so no two sessions held share a slot.
 * A dropped session held here is not read from the store: damage to its stored value goes
 * unseen, but so does the value, which is deleted.
 */
export class SessionRing {
  /** Four 64-bit lanes of the hash per slot, least significant first. */
  private hashLanes: BigUint64Array;
  private recordedAtMs: Float64Array;
  /** The slots allocated: sequence s is in slot s % slots. */
  private slots: number;
  /** Invariant: the slots of sequences in [from, next) hold theirs; next - from <= slots. */
  private from: number;
  private next: number;

  constructor(private readonly capacity: number, firstSequence: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "sessionRing: capacity must be positive");
    this.slots = Math.min(capacity, initialSlots);
    this.hashLanes = new BigUint64Array(this.slots * 4);
    this.recordedAtMs = new Float64Array(this.slots);
    this.from = firstSequence;
    this.next = firstSequence;
  }

  /**
   * Records the session just recorded under `sequence` (the next one); `oldestHeld` is the
   * table's oldest session (its head), so that the sessions dropped before it free their slots.
   */
  set(sequence: number, hash: bigint, recordedAtMs: number, oldestHeld: number): void {
    assert(sequence === this.next, `sessionRing: session ${sequence} recorded after ${this.next - 1}`);
    assert(oldestHeld <= sequence, `sessionRing: oldest session ${oldestHeld} after ${sequence}`);
    this.from = Math.max(this.from, oldestHeld);
    if (this.next - this.from === this.slots && this.slots < this.capacity) this.grow();
    const slot = sequence % this.slots;
    const base = slot * 4;
    this.hashLanes[base] = hash & laneMask;
    this.hashLanes[base + 1] = (hash >> 64n) & laneMask;
    this.hashLanes[base + 2] = (hash >> 128n) & laneMask;
    this.hashLanes[base + 3] = hash >> 192n;
    this.recordedAtMs[slot] = recordedAtMs;
    this.next++;
    this.from = Math.max(this.from, this.next - this.slots);
  }

  /** Doubles the slots (up to capacity), moving each session held to its new slot. */
  private grow(): void {
    const slots = Math.min(this.capacity, this.slots * 2);
    const hashLanes = new BigUint64Array(slots * 4);
    const recordedAtMs = new Float64Array(slots);
    for (let sequence = this.from; sequence < this.next; sequence++) {
      const from = sequence % this.slots;
      const to = sequence % slots;
      hashLanes.set(this.hashLanes.subarray(from * 4, from * 4 + 4), to * 4);
      recordedAtMs[to] = this.recordedAtMs[from]!;
    }
    this.hashLanes = hashLanes;
    this.recordedAtMs = recordedAtMs;
    this.slots = slots;
  }

  /** The slots allocated (for the tests). */
  get slotCount(): number {
    return this.slots;
  }

  /** Whether the session under `sequence` is held here. */
  holds(sequence: number): boolean {
    return sequence >= this.from && sequence < this.next;
  }

  /** The hash of the session under `sequence`, which holds() must confirm. */
  hash(sequence: number): bigint {
    assert(this.holds(sequence), `sessionRing: session ${sequence} is not held`);
    const base = (sequence % this.slots) * 4;
    return this.hashLanes[base]! | (this.hashLanes[base + 1]! << 64n)
      | (this.hashLanes[base + 2]! << 128n) | (this.hashLanes[base + 3]! << 192n);
  }

  /** The log clock when the session under `sequence` was recorded; holds() must confirm. */
  recordedAt(sequence: number): number {
    assert(this.holds(sequence), `sessionRing: session ${sequence} is not held`);
    return this.recordedAtMs[sequence % this.slots]!;
  }
}
