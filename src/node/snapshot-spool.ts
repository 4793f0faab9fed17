import { MarketSnapshotDecoder, MarketSnapshotError } from "../market/index.js";
import {
  ChunkedSnapshotData,
  type SnapshotData,
  type SnapshotMeta,
  type SnapshotReceiver,
} from "../raft/index.js";

/**
 * Where a node keeps a snapshot's text while it sends or receives one (issue 10): in a file,
 * read and written a chunk at a time, so that a state of hundreds of megabytes never sits in
 * the heap nor in one string (snapshot-spool-file.ts: the file wiring, apart so that what the
 * simulator runs is this module whole); or in memory (a list of chunks), for nodes without a
 * data folder (tests, the simulator). The streamed format (v3) is ASCII, so a UTF-16 offset is
 * a byte offset in the file.
 */

/** Chunks of `data` in order, `chunkUnits` at a time; null after the last. */
export function chunkReader(data: SnapshotData, chunkUnits = 256 * 1024): () => string | null {
  let offset = 0;
  return () => {
    if (offset >= data.length) return null;
    const end = Math.min(data.length, offset + chunkUnits);
    const chunk = data.slice(offset, end);
    offset = end;
    return chunk;
  };
}

/** A snapshot's text as it is written: appended to, then handed over as SnapshotData. */
export interface SnapshotSpool {
  write(chunk: string): void;
  readonly length: number;
  /** Resolves once what was written can be read back. */
  drained(): Promise<void>;
  data(): SnapshotData;
}

export class MemorySnapshotSpool implements SnapshotSpool {
  private readonly chunks: string[] = [];
  length = 0;

  write(chunk: string): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  data(): SnapshotData {
    return new ChunkedSnapshotData(this.chunks);
  }
}

/**
 * A follower's receiver for a leader's snapshot (the core's SnapshotReceiver): each chunk is
 * checked as it arrives (MarketSnapshotDecoder, a chunk's worth of work per message) and
 * spooled, so that when the last chunk comes the verdict is ready and the bytes are on disk.
 */
export class MarketSnapshotReceiver implements SnapshotReceiver {
  private readonly decoder: MarketSnapshotDecoder;

  constructor(meta: SnapshotMeta, private readonly spool: SnapshotSpool) {
    this.decoder = new MarketSnapshotDecoder({ index: meta.index });
  }

  append(data: string): string | null {
    const problem = guard(() => this.decoder.push(data));
    if (problem === null) this.spool.write(data);
    return problem;
  }

  /** Not synced here (a long fsync would stall the loop): the install syncs before it starts. */
  finish(): string | null {
    return guard(() => this.decoder.end());
  }

  data(): SnapshotData {
    return this.spool.data();
  }
}

function guard(body: () => unknown): string | null {
  try {
    body();
    return null;
  } catch (error) {
    if (error instanceof MarketSnapshotError) return error.message.slice(0, 200);
    throw error;
  }
}
