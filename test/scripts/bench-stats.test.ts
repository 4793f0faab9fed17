/**
 * Goal: the figures the benchmarks print are computed as their headers say. Method: the pure
 * helpers of scripts/bench-stats.ts on small hand-made inputs whose percentiles, medians,
 * pooled summaries, ratios and table layout are known; no process, socket or clock.
 */
import { expect } from "chai";
import {
  formatErrorsByStatus, formatRatio, formatTable, median, percentile, summarizeRuns,
  type LoadResult,
} from "../../scripts/bench-stats.js";

function run(okCount: number, seconds: number, latenciesMs: number[],
  errorsByStatus: [number, number][] = []): LoadResult {
  const errors = new Map(errorsByStatus);
  return { okCount, seconds, latenciesMs, errorsByStatus: errors,
    errorCount: [...errors.values()].reduce((total, count) => total + count, 0) };
}

describe("bench stats", () => {
  it("takes the nearest-rank percentile of a sorted array, NaN when empty", () => {
    const sorted = Array.from({ length: 100 }, (_, k) => k + 1);
    expect(percentile(sorted, 0.5)).to.equal(50);
    expect(percentile(sorted, 0.99)).to.equal(99);
    expect(percentile(sorted, 0.07)).to.equal(7);
    expect(percentile(sorted, 0.995)).to.equal(100);
    expect(percentile(sorted, 1)).to.equal(100);
    expect(percentile(sorted, 0)).to.equal(1);
    expect(percentile([1, 2, 3], 0.5)).to.equal(2);
    expect(percentile([7], 0.99)).to.equal(7);
    expect(Number.isNaN(percentile([], 0.5))).to.equal(true);
  });

  it("takes the median of unsorted values, the mean of the middle two for an even count", () => {
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(Number.isNaN(median([]))).to.equal(true);
  });

  it("summarizes runs: median throughput, percentiles over all requests, summed errors", () => {
    const summary = summarizeRuns([
      run(100, 1, [1, 2, 3], [[503, 2]]),
      run(300, 1, [10, 20], [[503, 1], [0, 4]]),
      run(250, 1, [5]),
    ]);
    expect(summary.perSecondMedian).to.equal(250);
    // Pooled and sorted: 1, 2, 3, 5, 10, 20 (p50 by nearest rank: the 3rd of 6).
    expect(summary.p50Ms).to.equal(3);
    expect(summary.p99Ms).to.equal(20);
    expect(summary.maxMs).to.equal(20);
    expect(summary.errorCount).to.equal(7);
    expect(formatErrorsByStatus(summary.errorsByStatus)).to.equal("0×4, 503×3");
    expect(formatErrorsByStatus(new Map())).to.equal("none");
  });

  it("formats ratios only between measured figures", () => {
    expect(formatRatio(2437, 5350)).to.equal("0.46");
    expect(formatRatio(0, 10)).to.equal("0.00");
    expect(formatRatio(1, 0)).to.equal("-");
    expect(formatRatio(NaN, 3)).to.equal("-");
  });

  it("lays out a table: first column left, others right, widths from the widest cell", () => {
    expect(formatTable(["", "ops/s"], [["raftmarket", "99"], ["etcd", "1530"]])).to.equal(
      "            ops/s\nraftmarket     99\netcd         1530");
  });
});
