/**
 * The heap's index of the session table: requestId -> the sequence number its session is
 * stored under (market-state-machine.ts, tables sessions and sessionQueue).
 *
 * Why the table is keyed by sequence and this index is in the heap. Sessions keyed by
 * requestId put each new session, and each one forgotten, at a place in the B-tree that the
 * client's id decides: with ids from many clients (or random ones, as market-client makes),
 * every buy of a batch dirtied leaf pages of its own, twice over, each a page LMDB copies in the
 * transaction and writes at commit. Keyed by sequence, new
 * sessions go to the end of the table and forgotten ones leave its head, as orders do: a batch
 * dirties a few pages. Measured with `npm run bench -- state-store` (2026-11-30: a market on
 * LMDB applying buys in batches of 20 with 100,000 sessions held, CPU of the whole process, so
 * lmdb-js's write thread too), two runs each: with random ids (crypto.randomUUID, as
 * market-client makes them) 67.0-67.4 µs a buy keyed by requestId, 43.3-47.9 keyed by
 * sequence; with ids of 64 clients each counting up, 42.7-47.0 against 39.9-42.6. The cost is
 * at open: the index is built from the queue, 150-250 ms at 100,000 sessions.
 *
 * Why hashes and not the ids. The index is kept for every session held (sessionsMax, 100,000
 * by default). A Map from the ids themselves holds each id string as well (about 130 bytes an
 * entry, measured with 36-character ids); a Map from a 30-bit hash of the id to the sequence
 * holds small integers (about 37). The hash gives a candidate, which the caller confirms
 * against the requestId stored in sessionQueue. An id whose hash another held id already has
 * is kept by the id itself, in a second Map: so every id has at most one candidate, and ids
 * made to collide (FNV-1a is easily steered: whole families of ids share a hash) cost memory,
 * bounded by sessionsMax, never a scan. The index is derived state: rebuilt from sessionQueue
 * when a market opens, never stored; it holds every held session (an invariant the market
 * asserts after each batch), and nothing it says reaches a result unconfirmed, so the choice of
 * hash cannot make two replicas differ.
 */
import { assert } from "./assert.js";

export class SessionIndex {
  /** hash -> the sequence of the first held id with that hash. */
  private readonly sequenceByHash = new Map<number, number>();
  /** requestId -> sequence, for ids whose hash was taken when they came. */
  private readonly sequenceById = new Map<string, number>();

  /** The sessions held. */
  get size(): number {
    return this.sequenceByHash.size + this.sequenceById.size;
  }

  /** Notes that the session of `requestId` is stored under `sequence`. */
  add(requestId: string, sequence: number): void {
    const hash = requestIdHash(requestId);
    if (!this.sequenceByHash.has(hash)) this.sequenceByHash.set(hash, sequence);
    else this.sequenceById.set(requestId, sequence);
  }

  /** Forgets the session of `requestId` stored under `sequence`; it must be held. */
  delete(requestId: string, sequence: number): void {
    if (this.sequenceById.get(requestId) === sequence) {
      this.sequenceById.delete(requestId);
      return;
    }
    const hash = requestIdHash(requestId);
    assert(this.sequenceByHash.get(hash) === sequence,
      `market: session ${sequence} (${requestId}) is not in the index`);
    this.sequenceByHash.delete(hash);
  }

  /**
   * The one sequence that may hold the session of `requestId` (the caller must confirm it
   * against sessionQueue), or undefined when no held session can be it.
   */
  candidate(requestId: string): number | undefined {
    return this.sequenceById.get(requestId) ?? this.sequenceByHash.get(requestIdHash(requestId));
  }
}

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
