import { assert } from "./assert.js";
import type { Snapshot } from "./messages.js";

/**
 * The leader's view of one follower's log (etcd tracker/progress.go).
 *
 *   probe ---(append accepted)---> replicate
 *     ^  ^                             |
 *     |  +----(append rejected)--------+
 *     |
 *     +--(snapshot installed)-- snapshot <--(needed entries compacted)-- probe
 *
 * In probe state the leader sends one append at a time and waits for its answer (or a heartbeat
 * answer) before the next: it does not yet know where the logs match. In replicate state the
 * logs are known to match up to `match`, and appends are pipelined, bounded by `Inflights`. In
 * snapshot state the follower needs entries the leader has compacted; the leader streams a
 * snapshot to it one chunk at a time, resuming from the offset the follower asks for. When the
 * driver keeps the snapshot data (snapshot-supply.ts), the follower waits in probe, sent
 * nothing, until the driver offers a snapshot.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** A snapshot being streamed to one follower. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** The offset of the chunk outstanding, or of the next to send. */
  offset: number;
  /** The chunk at `offset` is out and unanswered. */
  chunkInflight: boolean;
  /** Ticks since the chunk went out: after an election timeout it is taken as lost. */
  ticksSinceChunk: number;
}

export class Progress {
  /** The highest index known to be replicated on the follower (Figure 2's matchIndex). */
  match = 0;
  /** The next index to send (Figure 2's nextIndex). Invariant: match < next. */
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is outstanding, so wait before sending another. */
  probeSent = false;
  /** Set by any message from the follower; CheckQuorum reads and clears it. */
  recentActive = false;
  /** Leader ticks since the follower was last heard from (markActive); never cleared by ticks. */
  ticksSinceActive = 0;
  readonly inflights: Inflights;
  /** Set only in snapshot state. */
  snapshotTransfer: SnapshotTransfer | null = null;

  constructor(next: number, inflightAppendsMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightAppendsMax, inflightBytesMax);
  }

  /** The follower was heard from. */
  markActive(): void {
    this.recentActive = true;
    this.ticksSinceActive = 0;
  }

  becomeProbe(): void {
    // Resend from just after the known match: anything sent after it is in doubt.
    this.state = "probe";
    this.probeSent = false;
    this.next = this.match + 1;
    this.inflights.reset();
    this.snapshotTransfer = null;
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.probeSent = false;
    this.next = this.match + 1;
    this.inflights.reset();
    this.snapshotTransfer = null;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = "snapshot";
    this.probeSent = false;
    this.inflights.reset();
    this.snapshotTransfer = { snapshot, offset: 0, chunkInflight: false, ticksSinceChunk: 0 };
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        // Appends wait until the snapshot is installed; chunks have their own flow control.
        return true;
    }
  }

  /** Records entries sent in one append; `lastIndex` is the last entry's index. */
  sentEntries(entryCount: number, lastIndex: number, bytes: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        assert(lastIndex >= this.next, "pipelined entries start at next");
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else {
      this.probeSent = true;
    }
  }

  /** A successful append answer for `index`. Returns false when it tells nothing new. */
  maybeUpdate(index: number): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of an append whose prevLogIndex was `rejected`. `nextProbe` is where the leader
   * thinks the logs may match, from the follower's hint. Returns false for a stale rejection.
   */
  maybeDecreaseTo(rejected: number, nextProbe: number): boolean {
    if (this.state === "snapshot") return false;
    if (this.state === "replicate") {
      // Stale unless it rejects something past what we know matches.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the answer to the outstanding probe counts, and a rejection at or
    // below match is stale (reordered before the acknowledgement it predates): taking it would
    // leave next where it is and resend the same probe at once, for ever, to a follower that
    // lost what it had acknowledged.
    if (this.next - 1 !== rejected || rejected <= this.match) return false;
    this.next = Math.max(Math.min(rejected, nextProbe + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }
}

/**
 * The bounded window of appends sent to one follower and not yet acknowledged: a ring of the
 * last index of each append with its size. Full when either bound is reached.
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizesBytes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly countMax: number,
    private readonly bytesMax: number,
  ) {}

  add(lastIndex: number, sizeBytes: number): void {
    assert(!this.full(), "cannot add to a full inflight window");
    const previous = this.lastIndexes[this.lastIndexes.length - 1];
    assert(previous === undefined || lastIndex > previous, "inflight indexes increase");
    this.lastIndexes.push(lastIndex);
    this.sizesBytes.push(sizeBytes);
    this.bytes += sizeBytes;
  }

  /** Frees every append whose last index is at or below `index`. */
  freeTo(index: number): void {
    let count = 0;
    while (count < this.lastIndexes.length && this.lastIndexes[count]! <= index) count++;
    this.freeFirst(count);
  }

  /** Frees the oldest append; used when a heartbeat answer shows the follower is alive but
   * the window is full, in case its acknowledgements were lost. */
  freeFirstOne(): void {
    this.freeFirst(Math.min(1, this.lastIndexes.length));
  }

  private freeFirst(count: number): void {
    for (let k = 0; k < count; k++) this.bytes -= this.sizesBytes[k]!;
    this.lastIndexes.splice(0, count);
    this.sizesBytes.splice(0, count);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.countMax || this.bytes >= this.bytesMax;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.freeFirst(this.lastIndexes.length);
  }
}
