import { assert } from "./assert.js";
import type { SnapshotData, SnapshotMeta } from "./messages.js";

/**
 * Snapshot data as a list of chunks, sliced by offset without ever being joined: a V8 string
 * stops at 2^29 UTF-16 units (about 3M orders of the market), and joining hundreds of
 * megabytes would stall the loop and double the memory for a moment. Pure: the driver builds
 * one from chunks it encoded, a follower's core from chunks it received.
 */
export class ChunkedSnapshotData implements SnapshotData {
  readonly length: number;
  /** starts[k] is the offset of chunks[k]; ascending. */
  private readonly starts: number[] = [];

  constructor(readonly chunks: readonly string[]) {
    let length = 0;
    for (const chunk of chunks) {
      this.starts.push(length);
      length += chunk.length;
    }
    this.length = length;
  }

  slice(start: number, end: number): string {
    assert(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end &&
      end <= this.length, `snapshot slice [${start}, ${end}) of ${this.length}`);
    if (start === end) return "";
    // The last chunk starting at or before `start`.
    let low = 0;
    let high = this.chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle]! <= start) low = middle;
      else high = middle - 1;
    }
    const parts: string[] = [];
    for (let k = low; k < this.chunks.length && this.starts[k]! < end; k++) {
      const chunkStart = this.starts[k]!;
      parts.push(this.chunks[k]!.slice(Math.max(0, start - chunkStart), end - chunkStart));
    }
    return parts.join("");
  }
}

/** The whole of `data` as one string: for small snapshots only (tests, the simulator). */
export function snapshotText(data: SnapshotData): string {
  return typeof data === "string" ? data : data.slice(0, data.length);
}

/**
 * Where a follower puts the chunks of a snapshot as they arrive (§7), one receiver per
 * transfer: the core keeps none of the bytes itself, so that the driver can check them as they
 * come and keep them out of the heap (a staging file, say). Its answers must depend only on the
 * chunks it was given. A receiver the core stops using (a transfer cut short or replaced) is
 * simply dropped; the next one may reuse its place.
 */
export interface SnapshotReceiver {
  /** Takes the next chunk: a problem with the bytes so far (the snapshot is refused), or null. */
  append(data: string): string | null;
  /** Every chunk is in: a problem with the whole, or null; then data() is the snapshot's data. */
  finish(): string | null;
  data(): SnapshotData;
}

/** The receiver the core uses when the driver gives none: the chunks in memory. */
export class MemorySnapshotReceiver implements SnapshotReceiver {
  private readonly chunks: string[] = [];

  constructor(private readonly meta: SnapshotMeta,
    private readonly problem?: (snapshot: { meta: SnapshotMeta; data: SnapshotData }) => string | null) {}

  append(data: string): string | null {
    this.chunks.push(data);
    return null;
  }

  finish(): string | null {
    return this.problem?.({ meta: this.meta, data: this.data() }) ?? null;
  }

  /** A snapshot sent in one chunk is that chunk's string; a longer one is never joined. */
  data(): SnapshotData {
    return this.chunks.length === 1 ? this.chunks[0]! : new ChunkedSnapshotData(this.chunks);
  }
}
