/**
 * `npm run bench -- storage [--duration-seconds N] [--entry-bytes N] [--dir PATH] [--async]`
 *
 * Measures, in a temporary directory on one disk, in one run:
 *   1. the raw fdatasync rate: a small write then fdatasync, in a loop;
 *   2. FileStorage appends per second with group commit at 1, 16 and 64 concurrent proposers.
 *      A proposer is modelled as one pending entry per loop iteration: each iteration takes the
 *      N pending entries, appends them, sets the hard state (commit moves, as in the driver),
 *      and syncs once — so entries per fdatasync equals the concurrency;
 *   3. the overhead in bytes per entry: bytes written to the WAL minus the entries' data bytes,
 *      divided by the entries (record headers, entry framing, hard states, segment headers).
 * It prints them side by side, with progress on stderr while it runs.
 */
import { Command, InvalidArgumentError } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Entry } from "../src/raft/index.js";
import { FileStorage } from "../src/storage/file-storage.js";

interface BenchOptions {
  durationSeconds: number;
  entryBytes: number;
  dir: string;
  async: boolean;
}

interface Row {
  readonly label: string;
  readonly entriesPerSync: number;
  readonly entries: number;
  readonly syncs: number;
  readonly seconds: number;
  readonly syncLatenciesMs: number[];
  readonly overheadBytesPerEntry: number | null;
}

const proposerCounts = [1, 16, 64];
const compactEveryEntries = 50_000;
const compactWindowEntries = 1_000;

function positiveNumber(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!(parsed > 0)) throw new InvalidArgumentError(`${name} must be a positive number`);
    return parsed;
  };
}

function parseOptions(args: string[]): BenchOptions {
  return new Command()
    .name("npm run bench -- storage")
    .description("WAL benchmark: raw fdatasync rate vs group-commit appends per second")
    .option("--duration-seconds <seconds>", "how long each row runs",
      positiveNumber("--duration-seconds"), 3)
    .option("--entry-bytes <bytes>", "data bytes per entry", positiveNumber("--entry-bytes"), 128)
    .option("--dir <path>", "where to make the temporary directory (pick the data disk)",
      os.tmpdir())
    .option("--async", "use syncAsync() (the thread pool) instead of sync()", false)
    .showHelpAfterError()
    .parse(args, { from: "user" })
    .opts<BenchOptions>();
}

export async function runStorageBench(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const root = fs.mkdtempSync(path.join(options.dir, "raftmarket-bench-"));
  try {
    console.log(`storage benchmark in ${root} (${fileSystemName(root)}), ` +
      `${options.entryBytes}-byte entries, ${options.durationSeconds} s per row, ` +
      `${options.async ? "syncAsync()" : "sync()"}`);
    const raw = measureFdatasync(root, options.durationSeconds);
    const rows: Row[] = [];
    for (const proposers of proposerCounts) {
      rows.push(await measureGroupCommit(root, proposers, options));
    }
    console.log("");
    console.log(formatTable(raw, rows, options.entryBytes));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Calls `step` until `seconds` pass, printing progress each second; returns its latencies. */
function timeLoop(label: string, seconds: number, step: () => void): number[] {
  const latenciesMs: number[] = [];
  const start = performance.now();
  let nextReportMs = 1000;
  process.stderr.write(`  ${label}:`);
  while (performance.now() - start < seconds * 1000) {
    const before = performance.now();
    step();
    latenciesMs.push(performance.now() - before);
    if (before - start >= nextReportMs) {
      process.stderr.write(` ${Math.round(nextReportMs / 1000)}s`);
      nextReportMs += 1000;
    }
  }
  process.stderr.write(` done (${latenciesMs.length} syncs)\n`);
  return latenciesMs;
}

function measureFdatasync(root: string, seconds: number): Row {
  const file = path.join(root, "fdatasync-probe");
  const fd = fs.openSync(file, "w");
  const block = Buffer.alloc(64, 1);
  let position = 0;
  const start = performance.now();
  const latencies = timeLoop("raw fdatasync", seconds, () => {
    // Appending, as the WAL does: fdatasync then also flushes the file's new size.
    fs.writeSync(fd, block, 0, block.length, position);
    fs.fdatasyncSync(fd);
    position += block.length;
  });
  const elapsed = (performance.now() - start) / 1000;
  fs.closeSync(fd);
  return { label: "raw fdatasync", entriesPerSync: 0, entries: 0, syncs: latencies.length,
    seconds: elapsed, syncLatenciesMs: latencies, overheadBytesPerEntry: null };
}

async function measureGroupCommit(root: string, proposers: number, options: BenchOptions):
  Promise<Row> {
  const dir = path.join(root, `wal-${proposers}`);
  const log = FileStorage.open(dir);
  const data = "x".repeat(options.entryBytes);
  let index = 0;
  const append = (): void => {
    const entries: Entry[] = [];
    for (let k = 0; k < proposers; k++) {
      entries.push({ index: ++index, term: 1, kind: "normal", data });
    }
    log.append(entries);
    log.setHardState({ term: 1, vote: "n1", commit: index });
    // Snapshots bound the log in the real node; here compaction keeps the disk bounded.
    if (index > compactWindowEntries && index % compactEveryEntries < proposers) {
      log.compactTo(index - compactWindowEntries);
    }
  };
  const label = `${proposers} proposer${proposers === 1 ? "" : "s"}`;
  const start = performance.now();
  const latencies = options.async
    ? await timeLoopAsync(label, options.durationSeconds, async () => {
      append();
      await log.syncAsync();
    })
    : timeLoop(label, options.durationSeconds, () => {
      append();
      log.sync();
    });
  const seconds = (performance.now() - start) / 1000;
  const stats = log.stats();
  log.close();
  const overhead = (stats.bytesWritten - index * options.entryBytes) / index;
  return { label, entriesPerSync: proposers, entries: index, syncs: stats.syncCount, seconds,
    syncLatenciesMs: latencies, overheadBytesPerEntry: overhead };
}

async function timeLoopAsync(label: string, seconds: number, step: () => Promise<void>):
  Promise<number[]> {
  const latenciesMs: number[] = [];
  const start = performance.now();
  process.stderr.write(`  ${label}:`);
  while (performance.now() - start < seconds * 1000) {
    const before = performance.now();
    await step();
    latenciesMs.push(performance.now() - before);
  }
  process.stderr.write(` done (${latenciesMs.length} syncs)\n`);
  return latenciesMs;
}

function percentile(values: number[], fraction: number): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

function formatTable(raw: Row, rows: Row[], entryBytes: number): string {
  const rawRate = raw.syncs / raw.seconds;
  const header = ["", "entries/s", "fdatasyncs/s", "entries/sync", "x fdatasync rate",
    "sync p50 ms", "sync p99 ms", "overhead B/entry"];
  const body = [[raw.label, "-", format(rawRate), "-", "1.0x",
    percentile(raw.syncLatenciesMs, 0.5).toFixed(3),
    percentile(raw.syncLatenciesMs, 0.99).toFixed(3), "-"]];
  for (const row of rows) {
    const entriesPerSecond = row.entries / row.seconds;
    body.push([`group commit, ${row.label}`, format(entriesPerSecond),
      format(row.syncs / row.seconds), String(row.entriesPerSync),
      `${(entriesPerSecond / rawRate).toFixed(1)}x`,
      percentile(row.syncLatenciesMs, 0.5).toFixed(3),
      percentile(row.syncLatenciesMs, 0.99).toFixed(3),
      row.overheadBytesPerEntry!.toFixed(1)]);
  }
  const widths = header.map((_, column) =>
    Math.max(...[header, ...body].map((line) => line[column]!.length)));
  const render = (line: string[]) => line.map((cell, column) =>
    column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)).join("  ");
  return [render(header), ...body.map(render), "",
    `entries carry ${entryBytes} data bytes; overhead = (WAL bytes written - data bytes) / ` +
    "entries, and includes one hard-state record per sync; sync latency includes the append."]
    .join("\n");
}

function format(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** The file system's name, from statfs's magic number, so a tmpfs run is not mistaken. */
function fileSystemName(dir: string): string {
  const names: Record<number, string> = { 0xef53: "ext4", 0x01021994: "tmpfs (no real fsync!)",
    0x58465342: "xfs", 0x9123683e: "btrfs", 0x794c7630: "overlayfs", 0x2fc12fc1: "zfs" };
  const type = fs.statfsSync(dir).type;
  return names[type] ?? `file system type 0x${type.toString(16)}`;
}
