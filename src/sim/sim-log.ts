import type { Entry, HardState, Rng } from "../raft/index.js";
import type { Scheduler } from "../node/scheduler.js";
import type { MemoryStorage} from "../storage/index.js";
import { StorageError, type DurableLog } from "../storage/index.js";

/** The disk faults a simulated write-ahead log can show (issue 11). */
export interface SimLogFaults {
  /** Each fsync takes a random time in [0, fsyncMsMax] of virtual time (slow disks). */
  fsyncMsMax: number;
  /** When set, the next fsync fails: the driver must stop the node rather than go on. */
  failNextSync: boolean;
  /**
   * When set, the process dies while its next fsync runs: this is called instead of completing
   * it (the caller crashes the node), so the writes it covered may be lost, as may everything
   * the node sent meanwhile that it should not have sent before the fsync.
   */
  crashDuringNextSync: (() => void) | null;
}

/**
 * A node's write-ahead log under simulation: the real in-memory log (MemoryStorage, with its
 * crash model) behind the same DurableLog seam FileStorage fills, with fsyncs that take virtual
 * time and can fail. Like FileStorage, a sync covers the writes buffered when its turn comes,
 * and syncs run one after another: a sync covers the writes buffered when its turn comes.
 */
export class SimLog implements DurableLog {
  private chain: Promise<void> = Promise.resolve();
  private crashed = false;

  constructor(
    private inner: MemoryStorage,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    readonly faults: SimLogFaults,
  ) {}

  firstIndex(): number {
    return this.inner.firstIndex();
  }

  lastIndex(): number {
    return this.inner.lastIndex();
  }

  entries(indexLow: number, indexHigh: number): readonly Entry[] {
    return this.inner.entries(indexLow, indexHigh);
  }

  append(entries: readonly Entry[]): void {
    this.inner.append(entries);
  }

  compactTo(index: number): void {
    this.inner.compactTo(index);
  }

  hardState(): HardState {
    return this.inner.hardState();
  }

  setHardState(state: HardState): void {
    this.inner.setHardState(state);
  }

  resetTo(index: number, term: number): void {
    this.inner.resetTo(index, term);
  }

  sync(): void {
    this.takeFailure();
    this.inner.sync();
  }

  syncAsync(): Promise<void> {
    const run = this.chain.then(() => new Promise<void>((resolve, reject) => {
      // The writes buffered now, not those that come while the fsync runs.
      const mark = this.inner.pendingMark();
      const delayMs = this.faults.fsyncMsMax === 0 ? 0 : this.rng.nextInt(this.faults.fsyncMsMax + 1);
      this.scheduler.setTimeout(() => {
        const crash = this.faults.crashDuringNextSync;
        if (crash !== null) {
          this.faults.crashDuringNextSync = null;
          crash();
          return;
        }
        try {
          this.takeFailure();
          this.inner.syncThrough(mark);
          resolve();
        } catch (error) {
          reject(error as Error);
        }
      }, delayMs);
    }));
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): void {
    // A killed process's leftover continuations may still try to close its log: nothing to do.
    if (this.crashed) return;
    this.inner.close();
  }

  /**
   * What a crash now leaves on disk (MemoryStorage.crash). This log is dead afterwards: any
   * other use throws, which the dead node's leftover code can only report to nobody.
   */
  crash(rng: Rng): MemoryStorage {
    this.crashed = true;
    return this.inner.crash(rng);
  }

  private takeFailure(): void {
    if (!this.faults.failNextSync) return;
    this.faults.failNextSync = false;
    throw new StorageError("simulated fdatasync failure (EIO)");
  }
}
