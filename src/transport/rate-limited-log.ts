import { performance } from "node:perf_hooks";

/** At most one line per key per interval about refused or failing peer traffic. */
export const refusalLogIntervalMs = 10_000;

/** Keys remembered at once; beyond that the table starts over (a burst logs a line more). */
const keysMax = 1024;

/**
 * Decides which of many similar events gets logged, so that a misconfigured or hostile peer
 * cannot flood the log: the first event of a key at once, then at most one per intervalMs, with
 * the number suppressed in between. A clock is fine here: it decides only what is logged,
 * never anything the protocol does.
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, { lastLogMs: number; suppressed: number }>();

  constructor(private readonly intervalMs = refusalLogIntervalMs) {}

  /** Calls `log` with the count suppressed since the last line, or counts this event. */
  record(key: string, log: (suppressed: number) => void): void {
    const nowMs = performance.now();
    const state = this.keys.get(key);
    if (state !== undefined && nowMs - state.lastLogMs < this.intervalMs) {
      state.suppressed++;
      return;
    }
    if (state === undefined && this.keys.size >= keysMax) this.keys.clear();
    log(state?.suppressed ?? 0);
    this.keys.set(key, { lastLogMs: nowMs, suppressed: 0 });
  }
}
