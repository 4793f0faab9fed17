/**
 * `npm run bench -- vs-etcd`: raftmarket side by side with etcd on this machine. It starts a
 * 3-node raftmarket cluster (LocalCluster, fsync on) and a 3-member etcd cluster on 127.0.0.1
 * at the same timing (20 ms heartbeat, 150 ms election timeout: raftmarket's default 10 ms
 * tick x 2 and x 15), then runs the same closed-loop load on both, interleaved run by run
 * (A, B, A, B, ...) so that a slow phase of the shared machine hits both alike:
 *
 * - writes: purchases of one item out of 100 against etcd puts of 100-byte values to one key
 *   out of 100, at each --clients count;
 * - reads: linearizable item reads against etcd linearizable ranges, at --read-clients.
 *
 * Clients are spread over the members, client k to member k mod 3. A cell with fewer clients
 * than members (the 1-client cell) measures something else depending on whether its first
 * client talks to the leader or to a follower that forwards, so by default (--place both) such
 * a cell runs twice on each system: client k at member (first + k) mod 3, the first being the
 * leader, then the member after it (a follower), as each system names its leader before each
 * run. etcd is driven through its HTTP/JSON gateway (/v3/ on the client port), so both sides
 * pay for HTTP and JSON. For each cell it prints the median
 * throughput over the runs, p50/p99/max over all their requests, errors, leader changes (the
 * rise of the highest Raft term), and the ratios; at the end, the resident memory per member.
 * Without etcd on PATH it says how to install it and exits 0; it never installs anything.
 */
import { Command, Option } from "commander";
import { describeNodeExit, LocalCluster } from "../src/cluster/local-cluster.js";
import {
  clientCountList, clusterTermMax, createStockedItem, explainTermRise, nonNegativeInteger,
  positiveInteger,
  prefillOrders,
} from "./bench-cluster.js";
import { closedLoop, requestStatus, residentMiB, residentSplitMiB } from "./bench-load.js";
import {
  formatErrorsByStatus, formatRatio, formatTable, summarizeRuns, type LoadResult,
  type RunsSummary,
} from "./bench-stats.js";
import { EtcdCluster, etcdVersion } from "./etcd-cluster.js";

export const etcdInstallCommand = "apt-get update && apt-get install -y etcd-server";

/** raftmarket's default timing (LocalCluster: 10 ms ticks, heartbeat 2, election 15 ticks). */
const heartbeatIntervalMs = 20;
const electionTimeoutMs = 150;
const keyCount = 100;
/** Members of each system: clients are spread over them, client k to member k mod 3. */
const memberCount = 3;
const valueBytes = 100;

interface Options {
  readonly clients: number[];
  readonly readClients: number;
  readonly runs: number;
  readonly duration: number;
  readonly prefill: number;
  readonly warmup: number;
  readonly place: Placement;
}

/**
 * Where the clients of a cell with fewer clients than members start: at member 1 wherever the
 * leader is (`spread`), at the leader, at a follower, or `both` (the cell twice).
 */
const placements = ["both", "leader", "follower", "spread"] as const;
export type Placement = (typeof placements)[number];
/** The placement of one cell: `both` is run as a leader cell and a follower cell. */
export type CellPlacement = Exclude<Placement, "both">;

type Workload = "writes" | "reads";

/** One system under test, as the load sees it. */
export interface Target {
  readonly name: "raftmarket" | "etcd";
  /** Client k talks to member (firstMember + k) mod 3. */
  run(workload: Workload, clients: number, seconds: number, runId: string,
    firstMember?: number): Promise<LoadResult>;
  termMax(): Promise<number | null>;
  /**
   * Which member leads, counted from 0 in the order the clients are spread over (client k
   * talks to member k mod 3), or null when none is known: at 1 client, whether the one client
   * talks to the leader or to a follower that must forward, which moves the result.
   */
  leaderPosition(): Promise<number | null>;
  residentMiBs(): (number | null)[];
  residentSplits(): ({ anon: number; file: number } | null)[];
  /** Members that stopped since the last call, described with their last output. */
  newExits(): string[];
  /** Why the term rose since `sinceMs` (epoch ms), as the members tell it (none for etcd). */
  explainTermRise(sinceMs: number): Promise<string[]>;
}

interface CellResult {
  readonly workload: Workload;
  readonly clients: number;
  readonly placement: CellPlacement;
  readonly summaries: Map<Target["name"], RunsSummary & { leaderChanges: number | null }>;
  /** Where each system's leader was after each run (member positions from 1, "?" unknown). */
  readonly leaders: Map<Target["name"], string[]>;
  /** The members each run's clients talked to, from 1 ("2", "2+3"; "1?": no leader known). */
  readonly starts: Map<Target["name"], string[]>;
}

function parseOptions(args: string[]): Options {
  return new Command("bench vs-etcd")
    .description("raftmarket and a 3-member etcd side by side: the same closed-loop load, " +
      "interleaved runs.")
    .addOption(new Option("--clients <list>", "client counts for the write cells, " +
      "comma-separated").argParser(clientCountList("--clients"))
      .default([1, 16, 64, 256], "1,16,64,256"))
    .option("--read-clients <count>", "clients for the linearizable-read cell",
      positiveInteger("--read-clients"), 64)
    .option("--runs <count>", "runs per system and cell, interleaved", positiveInteger("--runs"), 3)
    .option("--duration <seconds>", "seconds per run", positiveInteger("--duration"), 30)
    .option("--prefill <orders>", "orders to load into raftmarket before measuring",
      nonNegativeInteger("--prefill"), 0)
    .option("--warmup <seconds>", "seconds of writes and of reads on each system before the " +
      "first cell, not counted (0: none)", nonNegativeInteger("--warmup"), 10)
    .addOption(new Option("--place <where>", "where the clients of a cell with fewer clients " +
      "than members start: at the leader, at a follower, both (the cell twice), or spread " +
      "(at member 1, wherever the leader is)").choices(placements).default("both"))
    .showHelpAfterError()
    .parse(args, { from: "user" })
    .opts<Options>();
}

function raftmarketTarget(cluster: LocalCluster): Target {
  const nodeUrl = (client: number) => cluster.nodes[client % cluster.nodes.length]!.url;
  let exitsReported = 0;
  return {
    newExits: () => {
      const exits = cluster.exits().slice(exitsReported);
      exitsReported += exits.length;
      return exits.map(describeNodeExit);
    },
    name: "raftmarket",
    explainTermRise: (sinceMs) => explainTermRise(cluster, sinceMs),
    run: (workload, clients, seconds, runId, firstMember = 0) => (workload === "writes"
      ? closedLoop(clients, seconds, 201, (client, k) =>
        requestStatus(cluster.agent, "POST", `${nodeUrl(firstMember + client)}/v1/orders`,
          { requestId: `${runId}-${client}-${k}`,
            lines: [{ sku: `bench-${(client + k) % keyCount}`, qty: 1 }] }))
      : closedLoop(clients, seconds, 200, (client, k) =>
        requestStatus(cluster.agent, "GET", `${nodeUrl(firstMember + client)}/v1/items/` +
          `bench-${(client + k) % keyCount}?consistency=linearizable`))),
    termMax: () => clusterTermMax(cluster),
    leaderPosition: async () => {
      const statuses = await cluster.statuses();
      const position = cluster.nodes.findIndex((node) =>
        statuses.get(node.id)?.role === "leader");
      return position < 0 ? null : position;
    },
    residentMiBs: () => cluster.nodes.map((node) => residentMiB(node.process?.pid)),
    residentSplits: () => cluster.nodes.map((node) => residentSplitMiB(node.process?.pid)),
  };
}

function etcdTarget(etcd: EtcdCluster): Target {
  const memberUrl = (client: number) => etcd.members[client % etcd.members.length]!.clientUrl;
  const keys = Array.from({ length: keyCount },
    (_, k) => Buffer.from(`bench-${k}`).toString("base64"));
  const value = Buffer.alloc(valueBytes, "v").toString("base64");
  return {
    // etcd's members are not watched: its errors and the table show a member lost.
    newExits: () => [],
    explainTermRise: async () => [],
    name: "etcd",
    run: (workload, clients, seconds, _runId, firstMember = 0) => (workload === "writes"
      ? closedLoop(clients, seconds, 200, (client, k) =>
        requestStatus(etcd.agent, "POST", `${memberUrl(firstMember + client)}/v3/kv/put`,
          { key: keys[(client + k) % keyCount], value }))
      // serializable defaults to false: a linearizable read.
      : closedLoop(clients, seconds, 200, (client, k) =>
        requestStatus(etcd.agent, "POST", `${memberUrl(firstMember + client)}/v3/kv/range`,
          { key: keys[(client + k) % keyCount] }))),
    termMax: () => etcd.termMax(),
    leaderPosition: () => etcd.leaderPosition(),
    residentMiBs: () => etcd.members.map((member) => residentMiB(member.process?.pid)),
    residentSplits: () => etcd.members.map((member) => residentSplitMiB(member.process?.pid)),
  };
}

/** The 100 items on raftmarket, the 100 keys on etcd: what the writes and reads touch. */
async function seed(cluster: LocalCluster, etcd: EtcdCluster): Promise<void> {
  for (let k = 0; k < keyCount; k++) await createStockedItem(cluster, `bench-${k}`);
  // One client per key: each client's first put writes its own key.
  const result = await etcdTarget(etcd).run("writes", keyCount, 0.2, "seed");
  if (result.errorCount > 0) {
    throw new Error(`etcd refused the seed puts: ${formatErrorsByStatus(result.errorsByStatus)}`);
  }
}

/**
 * When the term rose from `before` to `after` in a step that began at `sinceMs` (epoch ms),
 * prints why, as the members tell it.
 */
async function printTermRise(target: Target, before: number | null, after: number | null,
  sinceMs: number): Promise<void> {
  if (before === null || after === null || after <= before) return;
  const lines = await target.explainTermRise(sinceMs);
  if (lines.length > 0) console.log(`  ${target.name} term ${before} -> ${after}:\n${lines.join("\n")}`);
}

/**
 * Loads each target for `seconds` of writes and then of reads at 16 clients, not counted: a
 * Node.js server runs interpreted code until its hot paths are compiled, so without this the
 * first cell (1 client) measured raftmarket's warm-up, about half its warm rate. The results
 * are printed all the same, with any leader change.
 */
async function warmUp(targets: readonly Target[], seconds: number): Promise<void> {
  if (seconds === 0) return;
  for (const target of targets) {
    for (const workload of ["writes", "reads"] as const) {
      const termBefore = await target.termMax();
      const startedMs = Date.now();
      const result = await target.run(workload, 16, seconds, `warmup-${workload}-${startedMs}`);
      const termAfter = await target.termMax();
      console.log(`warm-up, not counted: ${target.name} ${workload}, 16 clients, ${seconds} s: ` +
        `${(result.okCount / result.seconds).toFixed(0)}/s, errors ${result.errorCount}, ` +
        `term ${termBefore ?? "?"} -> ${termAfter ?? "?"}`);
      await printTermRise(target, termBefore, termAfter, startedMs);
    }
  }
}

/** How a cell's placement reads after its client count ("" when spread). */
export function placementText(placement: CellPlacement, clients: number): string {
  if (placement === "spread") return "";
  return `${clients > 1 ? ", the first" : ""} on ${placement === "leader" ? "the leader"
    : "a follower"}`;
}

/**
 * The member that a placed cell's first client talks to in the next run (from 0): the leader,
 * or the member after it (a follower); member 1 when spread, or when no leader is known (said,
 * and `placed` false).
 */
export async function firstMemberFor(target: Target, placement: CellPlacement):
  Promise<{ member: number; placed: boolean }> {
  if (placement === "spread") return { member: 0, placed: false };
  const leader = await target.leaderPosition();
  if (leader === null) {
    console.log(`  ${target.name} has no leader known: this run's clients start at member 1`);
    return { member: 0, placed: false };
  }
  return { member: placement === "leader" ? leader : (leader + 1) % memberCount, placed: true };
}

/** The members a run's clients talk to, from 1 ("2" or "2+3"); "?" marks an unplaced start. */
export function membersText(firstMember: number, clients: number, placed: boolean): string {
  const members = Array.from({ length: Math.min(clients, memberCount) },
    (_, k) => String((firstMember + k) % memberCount + 1));
  return members.join("+") + (placed ? "" : "?");
}

/** Runs one cell: `runs` runs on each target, interleaved, with progress lines. */
async function runCell(targets: readonly Target[], workload: Workload, clients: number,
  placement: CellPlacement, options: Options, label: string): Promise<CellResult> {
  const runs = new Map<Target["name"], LoadResult[]>(targets.map((target) => [target.name, []]));
  const leaderChanges = new Map<Target["name"], number | null>(
    targets.map((target) => [target.name, 0]));
  const leaders = new Map<Target["name"], string[]>(targets.map((target) => [target.name, []]));
  const starts = new Map<Target["name"], string[]>(targets.map((target) => [target.name, []]));
  for (let run = 1; run <= options.runs; run++) {
    for (const target of targets) {
      console.log(`${label} ${workload}, ${clients} client(s)` +
        `${placementText(placement, clients)}: ${target.name} run ${run}/${options.runs} ` +
        `(${options.duration} s) ...`);
      const { member: firstMember, placed } = await firstMemberFor(target, placement);
      const talkedTo = membersText(firstMember, clients, placed || placement === "spread");
      starts.get(target.name)!.push(talkedTo);
      const termBefore = await target.termMax();
      const startedMs = Date.now();
      const result = await target.run(workload, clients, options.duration,
        `${workload}-${clients}-${run}-${startedMs}`, firstMember);
      const termAfter = await target.termMax();
      const leaderPosition = await target.leaderPosition();
      const leader = leaderPosition === null ? "?" : String(leaderPosition + 1);
      leaders.get(target.name)!.push(leader);
      runs.get(target.name)!.push(result);
      const changes = leaderChanges.get(target.name);
      leaderChanges.set(target.name, termBefore === null || termAfter === null ||
        changes === null || changes === undefined ? null : changes + termAfter - termBefore);
      // A member that stopped explains the errors: say so at once, with its last words.
      for (const exit of target.newExits()) console.log(exit);
      const summary = summarizeRuns([result]);
      console.log(`  ${summary.perSecondMedian.toFixed(0)}/s, ` +
        `p50 ${summary.p50Ms.toFixed(2)} ms, ` +
        `p99 ${summary.p99Ms.toFixed(2)} ms, errors ${result.errorCount}, ` +
        `term ${termBefore ?? "?"} -> ${termAfter ?? "?"}, leader: member ${leader}` +
        (clients < memberCount ? `, clients at member ${talkedTo}` : ""));
      await printTermRise(target, termBefore, termAfter, startedMs);
    }
  }
  return { workload, clients, placement, leaders, starts,
    summaries: new Map(targets.map((target) => [target.name, {
    ...summarizeRuns(runs.get(target.name)!), leaderChanges: leaderChanges.get(target.name)!,
  }])) };
}

function formatCell(cell: CellResult, options: Options): string {
  const title = `${cell.workload} at ${cell.clients} client(s)` +
    `${placementText(cell.placement, cell.clients)}: ` +
    (cell.workload === "writes" ? "raftmarket purchases vs etcd puts" : "linearizable reads") +
    `, ${options.runs} run(s) of ${options.duration} s each`;
  const row = (name: string, summary: RunsSummary & { leaderChanges: number | null }) =>
    [name, summary.perSecondMedian.toFixed(0), summary.p50Ms.toFixed(2), summary.p99Ms.toFixed(2),
      summary.maxMs.toFixed(1), String(summary.errorCount), String(summary.leaderChanges ?? "?")];
  const market = cell.summaries.get("raftmarket")!;
  const etcd = cell.summaries.get("etcd")!;
  const table = formatTable(["", "ops/s", "p50 ms", "p99 ms", "max ms", "errors", "leader changes"],
    [row("raftmarket", market), row("etcd", etcd),
      ["raftmarket/etcd", formatRatio(market.perSecondMedian, etcd.perSecondMedian),
        formatRatio(market.p50Ms, etcd.p50Ms), formatRatio(market.p99Ms, etcd.p99Ms),
        formatRatio(market.maxMs, etcd.maxMs), "", ""]]);
  // Few clients land on few members: say whether they talked to the leader.
  const members = (name: Target["name"], of: CellResult["leaders"]) => `${of.get(name)!
    .join(", ")} (${name})`;
  const unplaced = [...cell.starts.values()].flat().some((talked) => talked.endsWith("?"));
  const placed = cell.placement === "spread" ? "" : `, the first ${cell.placement === "leader"
    ? "the leader" : "a follower"} when the run began` +
    (unplaced ? ' ("?": no leader was known, so member 1)' : "");
  const where = cell.clients >= memberCount ? "" : `\nthe clients talked to member ` +
    `${members("raftmarket", cell.starts)} and ${members("etcd", cell.starts)}${placed}; the ` +
    `leader after each run was member ${members("raftmarket", cell.leaders)} and ` +
    `${members("etcd", cell.leaders)}`;
  return `${title}\n${table}\nerrors by HTTP status (0: no answer): raftmarket ` +
    `${formatErrorsByStatus(market.errorsByStatus)}; ` +
    `etcd ${formatErrorsByStatus(etcd.errorsByStatus)}${where}`;
}

/** One line per cell: the figures the README keeps. */
function formatSummary(cells: readonly CellResult[]): string {
  return formatTable(["cell", "raftmarket/s", "etcd/s", "ratio", "p99 ms raftmarket", "p99 ms etcd",
    "leader changes"], cells.map((cell) => {
    const market = cell.summaries.get("raftmarket")!;
    const etcd = cell.summaries.get("etcd")!;
    return [`${cell.workload}, ${cell.clients} client(s)` +
      placementText(cell.placement, cell.clients),
      market.perSecondMedian.toFixed(0),
      etcd.perSecondMedian.toFixed(0), formatRatio(market.perSecondMedian, etcd.perSecondMedian),
      market.p99Ms.toFixed(1), etcd.p99Ms.toFixed(1),
      `${market.leaderChanges ?? "?"} / ${etcd.leaderChanges ?? "?"}`];
  }));
}

function formatResident(targets: readonly Target[]): string {
  return targets.map((target) => `RSS MiB per member, ${target.name}: ` + target.residentMiBs()
    .map((mib) => (mib === null ? "-" : mib.toFixed(0))).join(" / ") +
    "  (anonymous + file-backed: " + target.residentSplits()
    .map((split) => (split === null ? "-" : `${split.anon.toFixed(0)} + ${split.file.toFixed(0)}`))
    .join(" / ") + ")").join("\n");
}

/** The cells a client count gives: a count below the member count is placed (twice for both). */
export function cellPlacements(clients: number, place: Placement): CellPlacement[] {
  if (clients >= memberCount) return ["spread"];
  return place === "both" ? ["leader", "follower"] : [place];
}

async function measure(cluster: LocalCluster, etcd: EtcdCluster, options: Options):
  Promise<void> {
  await Promise.all([cluster.waitForLeader(), etcd.waitHealthy()]);
  const targets = [raftmarketTarget(cluster), etcdTarget(etcd)];
  // The terms at each step before the cells, so that a leader change outside them is placed.
  const terms = async (): Promise<string> => (await Promise.all(targets.map(async (target) =>
    `${target.name} term ${(await target.termMax()) ?? "?"}`))).join(", ");
  console.log(`both clusters up (${await terms()}); creating 100 items on raftmarket and ` +
    "100 keys on etcd ...");
  // The first term with a leader: a rise after it is a leader change.
  const upTerm = await targets[0]!.termMax();
  const upMs = Date.now();
  await seed(cluster, etcd);
  await prefillOrders(cluster, options.prefill,
    Array.from({ length: keyCount }, (_, k) => `bench-${k}`));
  console.log(`${options.prefill > 0 ? "after the prefill" : "seeded"}: ${await terms()}`);
  await printTermRise(targets[0]!, upTerm, await targets[0]!.termMax(), upMs);
  await warmUp(targets, options.warmup);
  const plan = [...options.clients.map((clients) => ["writes", clients] as const),
    ["reads", options.readClients] as const].flatMap(([workload, clients]) =>
    cellPlacements(clients, options.place)
      .map((placement) => [workload, clients, placement] as const));
  const cells: CellResult[] = [];
  for (const [index, [workload, clients, placement]] of plan.entries()) {
    const label = `[${index + 1}/${plan.length}]`;
    const cell = await runCell(targets, workload, clients, placement, options, label);
    cells.push(cell);
    console.log(`\n${formatCell(cell, options)}\n`);
  }
  console.log("\n=== raftmarket vs etcd ===\n");
  for (const cell of cells) console.log(`${formatCell(cell, options)}\n`);
  console.log(formatSummary(cells));
  console.log(`\n${formatResident(targets)}`);
  console.log("leader changes: the rise of the highest Raft term over the runs of a cell " +
    "(raftmarket /v1/cluster/status, etcd /v3/maintenance/status)");
}

async function vsEtcd(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const version = etcdVersion();
  if (version === null) {
    console.log("etcd is not installed (no `etcd` on PATH); this benchmark needs it. " +
      `Install Debian's etcd 3.4 with:\n\n  ${etcdInstallCommand}\n`);
    return;
  }
  console.log(`${version}; starting a 3-node raftmarket and a 3-member etcd on 127.0.0.1 ` +
    `(heartbeat ${heartbeatIntervalMs} ms, election timeout ${electionTimeoutMs} ms) ...`);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = () => Promise.all(stops.map((stop) => stop()));
  // Ctrl-C: stop both clusters and remove their folders before exiting.
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping both clusters ...`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const etcd = await EtcdCluster.start({ heartbeatIntervalMs, electionTimeoutMs });
    stops.push(() => etcd.stop());
    const cluster = await LocalCluster.start({ timing: { tickIntervalMs: 10,
      heartbeatIntervalTicks: heartbeatIntervalMs / 10,
      electionTimeoutTicks: electionTimeoutMs / 10 } });
    stops.push(() => cluster.stop());
    await measure(cluster, etcd, options);
  } finally {
    await stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export async function runVsEtcdBench(args: string[]): Promise<void> {
  await vsEtcd(args);
}
