/**
 * `npx tsx scripts/profile-split.ts <profile-or-node-folder>... [--writes N] [--top K]`: where a
 * node's CPU goes, from V8 .cpuprofile files (`node --cpu-prof`, e.g. written by
 * scripts/profile-cluster.ts). Self time is summed by category: each frame of our code, of
 * express, pino, zod or of node's socket internals belongs to its category; a builtin (JSON.parse,
 * a native write) or another node internal belongs to the category of its caller, so it is
 * charged to whoever called it. zod is split by whether the peer message schema called it.
 *
 * Prints, per profile: % of busy CPU (all but idle) and µs per acknowledged write per category,
 * and on request the functions with the most self time (`--top`) and the steps of our code
 * (src/) with the most inclusive time (`--inclusive`: a step with all it calls synchronously);
 * the acknowledged writes, and the load window (start-up left out), come from `--writes` or
 * from the `run.json` that profile-cluster.ts leaves next to the node folders. A folder stands for the profile in it with the most busy
 * time (the main thread; tsx's loader thread writes a second, small one).
 *
 * V8 samples on a wall clock: on a loaded machine a sample taken while the process waits for a
 * core counts as busy, so the µs per write are rough; the shares are steadier across runs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { nonNegativeInteger, positiveInteger } from "./bench-cluster.js";

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Categories by the frame's script url, first match wins; null: charge to the caller. */
const urlRules: readonly (readonly [RegExp, string])[] = [
  [/\/src\/api\/json-body\.ts/, "body reading / JSON parse"],
  [/\/src\/api\/leader-forwarder\.ts/, "leader forwarding"],
  [/\/src\/api\//, "API routes"],
  [/\/src\/transport\/peer-message-schema\.ts/, "zod peer validation"],
  [/\/src\/transport\//, "peer transport"],
  [/\/src\/raft\//, "Raft core"],
  [/\/src\/storage\//, "WAL / storage"],
  [/\/src\/market\//, "market state machine"],
  [/\/src\/node\//, "node service glue"],
  [/\/src\//, "other src"],
  [/\/node_modules\/zod\//, "zod"],
  [/\/node_modules\/(pino|sonic-boom|thread-stream|pino-std-serializers|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify)\//,
    "pino logging"],
  [/\/node_modules\/(express|router|body-parser|finalhandler|send|serve-static|path-to-regexp|qs|type-is|accepts|mime-types|content-type|raw-body|iconv-lite|parseurl|depd|debug|on-finished|statuses|http-errors|vary|etag|fresh|proxy-addr|forwarded|encodeurl|escape-html|cookie|cookie-signature|setprototypeof|merge-descriptors|utils-merge|range-parser|media-typer|negotiator|bytes|ee-first|unpipe|content-disposition|is-promise|once|wrappy)\//,
    "express / router"],
  [/\/node_modules\/(tsx|esbuild|get-tsconfig)\//, "tsx loader"],
  [/\/node_modules\//, "other libraries"],
  [/^node:(_http_|http|https|net|stream|internal\/(streams|http|stream_base|net|dns|url))/,
    "node:http/net/stream sockets"],
];

function ownCategory(frame: CallFrame): string | null {
  if (frame.functionName === "(garbage collector)") return "GC";
  if (frame.functionName === "(idle)") return "idle";
  if (frame.functionName === "(program)" || frame.functionName === "(root)") return "program";
  for (const [pattern, category] of urlRules) {
    if (pattern.test(frame.url)) return category;
  }
  return null;
}

/** Category of every node id: its own, else its caller's (a root without one: "other"). */
function categorise(profile: CpuProfile): Map<number, string> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }
  const categories = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = categories.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    let category = ownCategory(node.callFrame);
    if (category === null) {
      const parent = parentOf.get(id);
      const inherited = parent === undefined ? "program" : resolve(parent);
      category = category ?? (inherited === "program" ? "node internals / other" : inherited);
    }
    if (category === "zod") {
      category = hasAncestor(id, parentOf, byId, /peer-message-schema\.ts/)
        ? "zod peer validation" : "zod (other)";
    }
    categories.set(id, category);
    return category;
  };
  for (const node of profile.nodes) resolve(node.id);
  return categories;
}

function hasAncestor(id: number, parentOf: Map<number, number>, byId: Map<number, ProfileNode>,
  url: RegExp): boolean {
  for (let at = parentOf.get(id); at !== undefined; at = parentOf.get(at)) {
    if (url.test(byId.get(at)!.callFrame.url)) return true;
  }
  return false;
}

/** Seconds after the profile's start: only samples inside count (null: all). */
interface Window { fromS: number; toS: number }

/**
 * Self time in µs per node id, of the samples inside `window`: a sample lasts until the next
 * one (V8's timeDeltas).
 */
function selfTimeUs(profile: CpuProfile, window: Window | null): Map<number, number> {
  const times = new Map<number, number>();
  let atUs = 0;
  for (let k = 0; k < profile.samples.length; k++) {
    atUs += profile.timeDeltas[k] ?? 0;
    if (window !== null && (atUs < window.fromS * 1e6 || atUs > window.toS * 1e6)) continue;
    const durationUs = profile.timeDeltas[k + 1] ?? 0;
    const id = profile.samples[k]!;
    times.set(id, (times.get(id) ?? 0) + Math.max(0, durationUs));
  }
  return times;
}

interface Split { file: string; totalUs: number; busyUs: number; byCategory: Map<string, number>;
  topFunctions: [string, number][]; topInclusive: [string, number][] }

/** "name file:line" of a frame, the path from src/ or node_modules/ on. */
function frameKey(frame: CallFrame): string {
  if (frame.url === "") return frame.functionName || "(anonymous)";
  const file = frame.url.replace(/^.*\/(src|node_modules)\//, "$1/");
  // tsx's output keeps no useful line numbers for our code: the name and file say enough.
  const line = /^src\//.test(file) ? "" : `:${frame.lineNumber + 1}`;
  return `${frame.functionName || "(anonymous)"} ${file}${line}`;
}

/**
 * Inclusive time of each function of our code (src/): the samples with it anywhere on the
 * stack, counted once per sample. Only the synchronous part of a step: what it does after an
 * await is charged to whatever resumes it.
 */
function inclusiveOfOurCode(profile: CpuProfile, selfTimes: Map<number, number>):
  [string, number][] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfTimes) {
    if (byId.get(id)!.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!frame.url.includes("/src/")) continue;
      const key = frameKey(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  return [...inclusive].sort((a, b) => b[1] - a[1]);
}

function split(file: string, window: Window | null): Split {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const categories = categorise(profile);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalUs = 0;
  const selfTimes = selfTimeUs(profile, window);
  for (const [id, us] of selfTimes) {
    totalUs += us;
    const category = categories.get(id)!;
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
    const key = `${frameKey(byId.get(id)!.callFrame)} [${category}]`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const busyUs = totalUs - (byCategory.get("idle") ?? 0);
  const topFunctions = [...byFunction].filter(([key]) => !key.includes("[idle]"))
    .sort((a, b) => b[1] - a[1]);
  return { file, totalUs, busyUs, byCategory, topFunctions,
    topInclusive: inclusiveOfOurCode(profile, selfTimes) };
}

/** A folder stands for its profile with the most busy time; a file for itself. */
function mainProfile(target: string): string {
  if (!statSync(target).isDirectory()) return target;
  const files = readdirSync(target).filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => path.join(target, name));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${target}`);
  const splits = files.map((file) => ({ file, busyUs: split(file, null).busyUs }));
  return splits.sort((a, b) => b.busyUs - a.busyUs)[0]!.file;
}

interface RunInfo { acknowledged?: number; loadStartS?: number; loadEndS?: number }

/** The run.json profile-cluster.ts leaves beside the node folders, or {} when there is none. */
function runInfo(target: string): RunInfo {
  const nodeDir = statSync(target).isDirectory() ? target : path.dirname(target);
  const candidate = path.join(path.dirname(path.resolve(nodeDir)), "run.json");
  return existsSync(candidate) ? JSON.parse(readFileSync(candidate, "utf8")) as RunInfo : {};
}

interface PrintOptions { top: number; inclusive: number }

function print(result: Split, writes: number | null, options: PrintOptions,
  window: Window | null): void {
  console.log(`\n${result.file}` + (window === null ? " (whole profile)" :
    ` (${window.fromS.toFixed(1)}-${window.toS.toFixed(1)} s after its start)`));
  console.log(`sampled ${(result.totalUs / 1e6).toFixed(1)} s, busy (not idle) ` +
    `${(result.busyUs / 1e6).toFixed(1)} s` + (writes === null ? "" :
    `, ${writes} acknowledged writes: ${(result.busyUs / writes).toFixed(0)} µs busy per write`));
  console.log(`| category | % of busy CPU | µs per write |\n|---|---:|---:|`);
  for (const [category, us] of [...result.byCategory].sort((a, b) => b[1] - a[1])) {
    const share = category === "idle" ? "(idle)" : `${(100 * us / result.busyUs).toFixed(1)}`;
    console.log(`| ${category} | ${share} | ${writes === null ? "-" : (us / writes).toFixed(1)} |`);
  }
  const list = (title: string, rows: [string, number][], count: number): void => {
    if (count === 0) return;
    console.log(`${title} (% of busy${writes === null ? "" : ", µs per write"}):`);
    for (const [name, us] of rows.slice(0, count)) {
      const perWrite = writes === null ? "" : `${(us / writes).toFixed(1).padStart(7)}  `;
      console.log(`  ${(100 * us / result.busyUs).toFixed(1).padStart(5)}%  ${perWrite}${name}`);
    }
  };
  list(`top ${options.top} functions by self time`, result.topFunctions, options.top);
  list(`top ${options.inclusive} functions of src/ by inclusive (synchronous) time`,
    result.topInclusive, options.inclusive);
}

function main(): void {
  const program = new Command("profile-split")
    .description("CPU split by category (and per acknowledged write) of .cpuprofile files")
    .argument("<targets...>", ".cpuprofile files, or node folders from profile-cluster.ts")
    .option("--writes <n>", "acknowledged writes during the profile (default: run.json)",
      positiveInteger("--writes"))
    .option("--all", "the whole profile, start-up included (default: run.json's load window)")
    .option("--top <k>", "also list the k functions with the most self time",
      nonNegativeInteger("--top"), 0)
    .option("--inclusive <k>", "also list the k functions of src/ with the most inclusive time " +
      "(a step of the write path with what it calls)", nonNegativeInteger("--inclusive"), 0)
    .parse();
  const options = program.opts<{ writes?: number; top: number; inclusive: number;
    all?: boolean }>();
  for (const target of program.args) {
    if (!existsSync(target)) throw new Error(`no such file or folder: ${target}`);
    const file = mainProfile(target);
    const run = runInfo(target);
    const window = options.all !== true && run.loadStartS !== undefined &&
      run.loadEndS !== undefined ? { fromS: run.loadStartS, toS: run.loadEndS } : null;
    print(split(file, window), options.writes ?? run.acknowledged ?? null, options, window);
  }
}

try {
  main();
} catch (error) {
  console.error(`profile-split: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
