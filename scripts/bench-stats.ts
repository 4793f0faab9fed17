import { monitorEventLoopDelay } from "node:perf_hooks";
/**
 * Pure helpers the benchmarks share: percentiles, medians, the summary of a set of load runs,
 * and plain-text tables. No I/O, so a unit test covers them (test/scripts/bench-stats.test.ts).
 */

/**
 * The value at `fraction` (0..1) of an ascending array by nearest rank: the smallest value with
 * at least that fraction of the values at or below it (p99 of 1..100 is 99, p50 is 50); NaN
 * when empty. The epsilon keeps a product like 0.07 * 100 (7.000000000000001) on its rank.
 */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(sorted.length * fraction - 1e-9);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** The median of `values` (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** What one closed-loop run measured. */
export interface LoadResult {
  readonly okCount: number;
  readonly errorCount: number;
  /** Failed requests by HTTP status (0: no answer, a connection error or a timeout). */
  readonly errorsByStatus: Map<number, number>;
  /** Latency of each successful request, in completion order. */
  readonly latenciesMs: number[];
  readonly seconds: number;
}

/** Several runs of one cell, summarized. */
export interface RunsSummary {
  /** Median over the runs of successful requests per second. */
  readonly perSecondMedian: number;
  /** Percentiles over the successful requests of all runs together. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errorCount: number;
  readonly errorsByStatus: Map<number, number>;
}

export function summarizeRuns(runs: readonly LoadResult[]): RunsSummary {
  const latencies: number[] = [];
  const errorsByStatus = new Map<number, number>();
  for (const run of runs) {
    // A loop, not push(...spread): a 30 s run can hold more latencies than the argument limit.
    for (const latencyMs of run.latenciesMs) latencies.push(latencyMs);
    for (const [status, count] of run.errorsByStatus) {
      errorsByStatus.set(status, (errorsByStatus.get(status) ?? 0) + count);
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    perSecondMedian: median(runs.map((run) => (run.seconds > 0 ? run.okCount / run.seconds : 0))),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length === 0 ? NaN : latencies[latencies.length - 1]!,
    errorCount: runs.reduce((total, run) => total + run.errorCount, 0),
    errorsByStatus,
  };
}

/** "503×2, 0×1", or "none". */
export function formatErrorsByStatus(errorsByStatus: ReadonlyMap<number, number>): string {
  const parts = [...errorsByStatus].sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** `numerator / denominator` with two decimals, or "-" when either is not a positive number. */
export function formatRatio(numerator: number, denominator: number): string {
  if (!(numerator >= 0) || !(denominator > 0)) return "-";
  return (numerator / denominator).toFixed(2);
}

/**
 * A plain-text table: the first column left-aligned, the others right-aligned, every column as
 * wide as its widest cell, two spaces between columns.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]):
  string {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all.map((row) => widths.map((width, column) => {
    const cell = row[column] ?? "";
    return column === 0 ? cell.padEnd(width) : cell.padStart(width);
  }).join("  ").trimEnd()).join("\n");
}

/** What longestStall measured: the longest gap between turns of the loop, two ways. */
export interface StallFigures {
  /** The longest gap between two turns of a setImmediate probe, ms. */
  readonly probeMs: number;
  /** perf_hooks monitorEventLoopDelay's max over the same time, ms. */
  readonly histogramMs: number;
  readonly totalMs: number;
}

/**
 * Runs `work` while measuring the longest gap between turns of the event loop. `onGap`, when
 * given, sees every gap (with its length in ms), for a trace of what stalled.
 */
export async function longestStall(work: () => Promise<void>,
  onGap?: (gapMs: number) => void): Promise<StallFigures> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Its first sample is only a baseline: take it before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 5));
  let running = true;
  let last = performance.now();
  let longest = 0;
  const probe = (): void => {
    const now = performance.now();
    onGap?.(now - last);
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(probe);
  };
  setImmediate(probe);
  const start = performance.now();
  await work();
  const totalMs = performance.now() - start;
  running = false;
  probe();
  // The histogram's timer records a stall only when it next fires: let it, after the work.
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  return { probeMs: longest, histogramMs: histogram.max / 1e6, totalMs };
}

