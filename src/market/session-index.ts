/**
 * The heap's index of the session table: requestId -> the sequence number its session is
 * stored under (market-state-machine.ts, tables sessions and sessionQueue).
 *
 * Why the table is keyed by sequence and this index is in the heap. Sessions keyed by
 * requestId put each new session, and each one forgotten, at a place in the B-tree that the
 * client's id decides: with ids from many clients (or random ones, as market-client makes),
 * every write of a batch dirtied its own leaf page, twice over, and LMDB writes each dirty page
 * that does not neighbour another on disk with a syscall of its own. Keyed by sequence, new
 * sessions go to the end of the table and forgotten ones leave its head, as orders do: a batch
 * dirties a few pages. Measured (2026-11-30, a scratch benchmark: a market on LMDB applying
 * buys in batches of 20 with 100,000 sessions held, CPU of all the process's threads, so
 * lmdb-js's write thread too): with random ids (crypto.randomUUID, as market-client makes them)
 * 64-78 µs a buy keyed by requestId, 41-48 keyed by sequence; with ids from 64 clients each
 * counting up, 42-49 against 44-53, within the noise.
 *
 * Why hashes and not the ids. The index is kept for every session held (sessionsMax, 100,000
 * by default). A Map from the ids themselves holds each id string as well (about 130 bytes an
 * entry, measured with 36-character ids); a Map from a 30-bit hash of the id to the sequence
 * holds small integers (about 37).
 * Two ids may share a hash, so a hash gives candidates, and the caller confirms each against
 * the requestId stored in sessionQueue. The index is derived state: rebuilt from sessionQueue
 * when a market opens, never stored, and nothing it says reaches a result unconfirmed, so the
 * choice of hash cannot make two replicas differ.
 */
import { assert } from "./assert.js";

export class SessionIndex {
  /** hash -> the sequence of the one session with that hash, or of each (ascending). */
  private readonly sequencesByHash = new Map<number, number | number[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Notes that the session of `requestId` is stored under `sequence`. */
  add(requestId: string, sequence: number): void {
    const hash = requestIdHash(requestId);
    const held = this.sequencesByHash.get(hash);
    if (held === undefined) this.sequencesByHash.set(hash, sequence);
    else if (typeof held === "number") this.sequencesByHash.set(hash, [held, sequence]);
    else held.push(sequence);
    this.count++;
  }

  /** Forgets the session of `requestId` stored under `sequence`; it must be held. */
  delete(requestId: string, sequence: number): void {
    const hash = requestIdHash(requestId);
    const held = this.sequencesByHash.get(hash);
    if (held === sequence) {
      this.sequencesByHash.delete(hash);
    } else {
      const at = Array.isArray(held) ? held.indexOf(sequence) : -1;
      assert(at >= 0, `market: session ${sequence} (${requestId}) is not in the index`);
      const rest = held as number[];
      rest.splice(at, 1);
      if (rest.length === 1) this.sequencesByHash.set(hash, rest[0]!);
    }
    this.count--;
  }

  /** The sequences that may hold the session of `requestId`: each must be confirmed. */
  candidates(requestId: string): readonly number[] {
    const held = this.sequencesByHash.get(requestIdHash(requestId));
    if (held === undefined) return noSequences;
    return typeof held === "number" ? [held] : held;
  }

  clear(): void {
    this.sequencesByHash.clear();
    this.count = 0;
  }
}

const noSequences: readonly number[] = Object.freeze([]);

/**
 * FNV-1a over the id's UTF-16 code units, folded to 30 bits so that V8 keeps it as a small
 * integer. Exported for tests, which need ids that collide.
 */
export function requestIdHash(requestId: string): number {
  let hash = 0x811c9dc5;
  for (let at = 0; at < requestId.length; at++) {
    hash = Math.imul(hash ^ requestId.charCodeAt(at), 0x01000193);
  }
  return (hash ^ (hash >>> 30)) & 0x3fffffff;
}
