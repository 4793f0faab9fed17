import { assert } from "./assert.js";
import type { NodeId } from "./messages.js";

/**
 * The leader's pending ReadIndex requests (thesis §6.4). Each request records the commit index
 * when it arrived and gets a fresh `readId`; a heartbeat round carries the newest readId, and
 * once a majority has answered it, that request and every older one are safe to serve: the
 * leader was still the leader after they arrived.
 */
export interface PendingRead {
  readonly readId: number;
  readonly index: number;
  readonly context: string;
  /** Who asked: this node, or the follower that forwarded the read. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  /** Ordered by readId. Invariant: length <= pendingMax. */
  private pending: PendingRead[] = [];
  private readonly pendingMax: number;

  constructor(pendingMax: number) {
    this.pendingMax = pendingMax;
  }

  full(): boolean {
    return this.pending.length >= this.pendingMax;
  }

  size(): number {
    return this.pending.length;
  }

  add(read: PendingRead): void {
    assert(!this.full(), "pending reads are bounded");
    const last = this.pending[this.pending.length - 1];
    assert(last === undefined || read.readId > last.readId, "readIds increase");
    this.pending.push(read);
  }

  /** The newest pending readId, which a heartbeat round should confirm. */
  lastReadId(): number | null {
    return this.pending[this.pending.length - 1]?.readId ?? null;
  }

  /**
   * Records that `from` answered the heartbeat round for `readId`. An answer confirms every
   * request up to that readId. Returns the voters that have confirmed `readId`, or null when no
   * such request is pending (it was already released, or belongs to an earlier leadership).
   */
  recordAck(readId: number, from: NodeId): ReadonlySet<NodeId> | null {
    let acks: ReadonlySet<NodeId> | null = null;
    for (const read of this.pending) {
      if (read.readId > readId) break;
      read.acks.add(from);
      if (read.readId === readId) acks = read.acks;
    }
    return acks;
  }

  /** Removes and returns every request with a readId at or below `readId`, oldest first. */
  releaseTo(readId: number): PendingRead[] {
    let count = 0;
    while (count < this.pending.length && this.pending[count]!.readId <= readId) count++;
    return this.pending.splice(0, count);
  }

  /** Drops every request, for a leader that steps down. Returns them so callers can fail them. */
  clear(): PendingRead[] {
    return this.pending.splice(0, this.pending.length);
  }
}
