/**
 * Exactly-once requests: the session table maps each requestId to the first result of the
 * command that carried it. A retry of the same request (same digest) gets that stored result
 * and is not applied again; the same requestId with a different body is a requestIdConflict.
 *
 * The table is replicated state: it changes only inside apply and travels in snapshots, so
 * every replica answers a retry identically, whichever replica the client reaches after a
 * failover. It is bounded two ways, both deterministic because they depend only on the log:
 *
 *   - expiry: the log clock is the highest timeMs applied so far (leaders' clocks may step
 *     back across a failover; the maximum does not). A session recorded at log clock t
 *     expires once the log clock reaches t + sessionTtlMs.
 *   - eviction: recording into a full table first forgets the oldest session.
 *
 * A retry later than either bound is applied as a new request; clients must retry within
 * sessionTtlMs, and sessionsMax must cover the requests of that long.
 */
import { assert } from "./assert.js";
import { canonicalJson, sha256Hex } from "./canonical.js";
import type { MarketCommand, MarketResult } from "./commands.js";
import { encodeSession } from "./encoding.js";
import { freezeResult } from "./results.js";
import { DigestedMap, type SetDigest } from "./state-digest.js";

export interface Session {
  readonly requestId: string;
  /** commandDigest of the command that created the session. */
  readonly digest: string;
  /** The log clock when the session was recorded. */
  readonly recordedAtMs: number;
  /** The log index of the command that created the session. */
  readonly index: number;
  readonly result: MarketResult;
}

/**
 * The identity of a request: the sha256 of the canonical JSON of the command without timeMs
 * (the leader's clock at proposal differs between a request and its retry).
 */
export function commandDigest(command: MarketCommand): string {
  const { timeMs: _timeMs, ...request } = command;
  return sha256Hex(canonicalJson(request));
}

export class SessionTable {
  /**
   * Invariants: Map insertion order is recording order, so `index` increases and
   * `recordedAtMs` never decreases along it (the oldest session is first, and the first to
   * expire); size <= sessionsMax.
   */
  private readonly sessions: DigestedMap<Session>;
  private newest: { index: number; recordedAtMs: number } = { index: 0, recordedAtMs: 0 };

  /** Every change to the sessions is reflected in `digest` (see state-digest.ts). */
  constructor(readonly sessionsMax: number, readonly sessionTtlMs: number, digest: SetDigest) {
    assert(Number.isSafeInteger(sessionsMax) && sessionsMax >= 1, "sessions: bad sessionsMax");
    assert(Number.isSafeInteger(sessionTtlMs) && sessionTtlMs >= 1, "sessions: bad ttl");
    this.sessions = new DigestedMap(digest, "session", encodeSession);
  }

  /** Brings the state digest up to date with every change so far (see state-digest.ts). */
  flushDigest(): void {
    this.sessions.flush();
  }

  get size(): number {
    return this.sessions.size;
  }

  lookup(requestId: string): Session | undefined {
    return this.sessions.get(requestId);
  }

  /** Forgets every session that has expired at log clock `clockMs`; returns how many. */
  expire(clockMs: number): number {
    let expiredCount = 0;
    // Bounded by the table's size; stops at the first session still alive, since the
    // sessions after it were recorded no earlier.
    for (const session of this.sessions.values()) {
      if (session.recordedAtMs + this.sessionTtlMs > clockMs) break;
      this.sessions.delete(session.requestId);
      expiredCount++;
    }
    return expiredCount;
  }

  /** Records a new session, newer than all others, evicting the oldest while full. */
  record(session: Session): void {
    assert(!this.sessions.has(session.requestId), "sessions: requestId recorded twice");
    assert(session.index > this.newest.index, "sessions: recorded out of index order");
    assert(session.recordedAtMs >= this.newest.recordedAtMs, "sessions: log clock went back");
    while (this.sessions.size >= this.sessionsMax) {
      const oldest = this.sessions.firstKey();
      assert(oldest !== undefined, "sessions: full but empty");
      this.sessions.delete(oldest);
    }
    this.sessions.set(session.requestId, Object.freeze({
      ...session, result: freezeResult(session.result),
    }));
    this.newest = { index: session.index, recordedAtMs: session.recordedAtMs };
  }

  /** Every session, oldest first: the canonical order of a snapshot (it is the FIFO order). */
  list(): Session[] {
    return [...this.sessions.values()];
  }
}
