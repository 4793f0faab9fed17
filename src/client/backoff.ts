/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"): the k-th retry waits a uniformly random time in [0, min(capMs, baseMs * 2^k)), so
 * that clients that failed together do not retry together.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
}

/** The wait before retry number `retry` (0 for the first retry); `random` is in [0, 1). */
export function backoffDelayMs(retry: number, options: BackoffOptions,
  random: () => number): number {
  const exponent = Math.min(Math.max(retry, 0), 30);
  const ceilingMs = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  const fraction = Math.min(Math.max(random(), 0), 1);
  return Math.floor(fraction * ceilingMs);
}
