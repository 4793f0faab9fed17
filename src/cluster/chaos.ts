/**
 * The Jepsen-style chaos runner (issue 5): a concurrent workload of create, add-stock, buy,
 * cancel (of an acknowledged order, once) and linearizable read on a few low-stock items, recorded as a history (DESIGN.md §4), while a
 * seeded nemesis partitions, kills and pauses nodes, each fault followed by healing. At the end
 * it heals everything, waits for the replicas to converge, reads every item from every node,
 * looks up every acknowledged order, and checks linearizability and the invariants.
 *
 * Outcome classification (DESIGN.md §3): 200/201 ok; 400, 404, 409 fail (certainly not
 * applied); 503 no_leader / unavailable fail, since a node answers them before proposing and a
 * forwarder answers "unavailable" only when it could not deliver (leader-forwarder.ts; set
 * `ambiguous503` to count them as info instead); a refused connection (ECONNREFUSED) fail, as
 * the request was never sent; 504, other 5xx, timeouts and other connection errors are info. A read answered 404 is an ok read of an absent item. Every write has a fresh requestId
 * and is never retried. A process whose operation ended in info is retired and its client slot
 * continues under a new process number.
 *
 * To keep the checker fast, each sku's history stays short: the workload works on
 * `skusPerGeneration` skus at a time and moves on to fresh ones every `rotateMs`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SeededRng } from "../raft/rng.js";
import {
  HistoryRecorder, writeHistory, type HistoryOp, type OpFunction, type OpValue,
} from "../verify/history.js";
import {
  checkInvariants, type FinalRead, type OrderStatus, type ReplicaState,
} from "../verify/invariants.js";
import { checkLinearizability } from "../verify/linearizability.js";
import { renderTimeline, renderTimelineSvg, type TimelineInput } from "../verify/timeline.js";
import { faultSpans } from "../verify/fault-spans.js";
import { pairOperations } from "../verify/history.js";
import {
  buildReport, exitCodeFor, formatReport, type CheckReport,
} from "../verify/report.js";
import { errorCodeOf, NodeHttpClient, type NodeAnswer } from "./admin-client.js";
import { reproduceCommand, type ChaosSettings } from "./chaos-command.js";
import {
  buildChaosSummary, describeFirstAck, formatChaosSummary, type ChaosSummary,
} from "./chaos-summary.js";
import { RaftEventCollector, type LeaderSpan } from "./raft-event-collector.js";
import { RaftEventPoller } from "./raft-event-poller.js";
import { loadClusterConfig } from "./cluster-config.js";
import { nodeClientUrl, readClusterCa } from "./cluster-tls.js";
import { LocalCluster } from "./local-cluster.js";
import { describePartition, planPartition, type PartitionCommand } from "./partitions.js";

export const nemesisKinds = ["partition", "kill", "pause", "member"] as const;

/** How long a node paused while cut off stays cut off after it resumes. */
const wakeIsolatedMs = 1000;
/** Healing tries each node this many times, healRetryMs apart. */
const healAttemptsMax = 4;
const healRetryMs = 500;
export type NemesisKind = (typeof nemesisKinds)[number];

/** What the run does (ChaosSettings: the reproducing command carries them), where, and what
 * it shows. */
export interface ChaosOptions extends ChaosSettings {
  readonly nemesis: readonly NemesisKind[];
  /** Use this LocalCluster (the caller stops it) instead of starting one. */
  readonly cluster?: LocalCluster;
  /** Show the output of the runner's own nodes (warnings and errors) on this process's. */
  readonly verboseNodes?: boolean;
  /** Where to write the files; default chaos-runs/<time>-seed<S>. null: write nothing. */
  readonly outDir?: string | null;
  readonly progressMs?: number;
  readonly log?: (line: string) => void;
}

export interface FaultEvent {
  /** Nanoseconds since the history started (the history's clock). */
  readonly time: number;
  readonly wallTime: string;
  /** The number of history events recorded when the fault started or ended. */
  readonly historyIndex: number;
  readonly phase: "start" | "end" | "heal-all";
  readonly fault: NemesisKind | "final";
  readonly description: string;
  /** A short name for the timeline's band: "kill n2 (leader)", "split n1 | n2 n3". */
  readonly label: string;
  readonly nodes: readonly string[];
  /** Nodes that could not be told (admin PUT/DELETE failed). */
  readonly unreachable?: readonly string[];
}

export interface ChaosResult {
  readonly report: CheckReport;
  /** Failures by cause, unavailability per fault, elections, the reproducing command. */
  readonly summary: ChaosSummary;
  readonly history: readonly HistoryOp[];
  readonly faults: readonly FaultEvent[];
  readonly outDir: string | null;
  readonly exitCode: 0 | 1;
  readonly counts: Readonly<Record<"ok" | "fail" | "info", number>>;
}

/** The nodes the runner talks to, and (for a local cluster) their processes. */
/** The nodes under test: the members now (the member nemesis adds and removes some). */
interface Target {
  readonly ids: string[];
  readonly clients: Map<string, NodeHttpClient>;
  readonly admins: Map<string, NodeHttpClient>;
  readonly local: LocalCluster | null;
  readonly ca: string | null;
  readonly adminToken: string;
  readonly timeoutMs: number;
}

/** How long the member nemesis retries one change (a leader change, a change in flight). */
const memberChangePatienceMs = 15_000;
/** How long it waits for a new learner to catch up before promotion. */
const memberPromoteWaitMs = 30_000;
/** One membership request: answered once the change has committed. */
const memberRequestTimeoutMs = 8000;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function between(rng: SeededRng, range: readonly [number, number]): number {
  return range[0] + rng.nextInt(Math.max(1, range[1] - range[0] + 1));
}

function pick<T>(rng: SeededRng, values: readonly T[]): T {
  const value = values[rng.nextInt(values.length)];
  if (value === undefined) throw new Error("pick from an empty list");
  return value;
}

/** Parses "partition,kill" into nemesis kinds; throws on an unknown one. "none" or "": none. */
export function parseNemesis(text: string): NemesisKind[] {
  if (text.trim() === "" || text.trim() === "none") return [];
  return text.split(",").map((part) => part.trim()).map((part) => {
    if (!(nemesisKinds as readonly string[]).includes(part)) {
      throw new Error(`unknown nemesis "${part}" (known: ${nemesisKinds.join(", ")}, none)`);
    }
    return part as NemesisKind;
  });
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  if (options.attachConfig !== undefined) {
    const unsupported = options.nemesis.filter((kind) => kind !== "partition");
    if (unsupported.length > 0) {
      throw new Error(`--attach supports only the partition nemesis: ${unsupported.join(", ")} ` +
        "need the node processes, which only a cluster started by the runner has");
    }
  }
  let owned: LocalCluster | null = null;
  let target: Target;
  if (options.attachConfig !== undefined) {
    const config = loadClusterConfig(options.attachConfig);
    target = makeTarget(config.nodes.map((node) =>
      ({ id: node.id, url: nodeClientUrl(config, node) })), readClusterCa(config),
    config.tokens.adminToken, null, options.requestTimeoutMs ?? 2000);
  } else {
    const cluster = options.cluster ??
      (owned = await LocalCluster.start({ tls: options.tls ?? false,
        ...(options.verboseNodes === true ? { output: "inherit" as const } : {}) }));
    target = makeTarget(cluster.nodes.map((node) => ({ id: node.id, url: node.url })),
      cluster.ca, cluster.config.tokens.adminToken, cluster, options.requestTimeoutMs ?? 2000);
  }
  try {
    if (target.local !== null) {
      const leader = await target.local.waitForLeader(20_000);
      log(`cluster ready: ${target.ids.join(", ")} (leader ${leader})`);
    }
    return await new ChaosRun(options, target, log).run();
  } finally {
    for (const client of [...target.clients.values(), ...target.admins.values()]) client.close();
    if (owned !== null) await owned.stop();
  }
}

function makeTarget(nodes: readonly { id: string; url: string }[], ca: string | null,
  adminToken: string, local: LocalCluster | null, timeoutMs: number): Target {
  const target: Target = { ids: [], clients: new Map(), admins: new Map(), local, ca, adminToken,
    timeoutMs };
  for (const node of nodes) addToTarget(target, node.id, node.url);
  return target;
}

function addToTarget(target: Target, id: string, url: string): void {
  target.ids.push(id);
  target.clients.set(id, new NodeHttpClient(url, target.timeoutMs, undefined, target.ca));
  target.admins.set(id, new NodeHttpClient(url, 1000, target.adminToken, target.ca));
}

/** A removed member: no longer a target (its clients are closed at the end of the run). */
function removeFromTarget(target: Target, id: string): void {
  const index = target.ids.indexOf(id);
  if (index >= 0) target.ids.splice(index, 1);
}

class ChaosRun {
  private readonly workloadRng: SeededRng;
  private readonly nemesisRng: SeededRng;
  private readonly recorder: HistoryRecorder;
  private historyStart: bigint | null = null;
  /** Date.now() when the history started: turns the nodes' event times into history times. */
  private historyStartWallMs = 0;
  /** The client slot of each process: a client goes on under a new process after an info. */
  private readonly clientOfProcess = new Map<number, number>();
  private readonly collector: RaftEventCollector;
  private readonly poller: RaftEventPoller;
  private readonly faults: FaultEvent[] = [];
  private readonly runId: string;
  private stopping = false;
  private wakeNemesis: (() => void) | null = null;
  private nextProcess = 0;
  private requestCounter = 0;
  private readonly created = new Set<string>();
  /** Acknowledged orders not yet picked for cancellation, by sku. */
  private readonly cancellable = new Map<string, { orderId: string; qty: number }[]>();
  private readonly skusUsed = new Set<string>();
  private readonly counts = { ok: 0, fail: 0, info: 0 };
  /** Members the member nemesis removed: never restarted (their folders are fenced). */
  private readonly removedMembers = new Set<string>();
  private currentFault = "none";
  private startMs = 0;

  constructor(private readonly options: ChaosOptions, private readonly target: Target,
    private readonly log: (line: string) => void) {
    this.workloadRng = new SeededRng(options.seed);
    this.nemesisRng = new SeededRng((options.seed ^ 0x5bd1e995) >>> 0);
    this.runId = `c${options.seed}-${Date.now().toString(36)}`;
    this.recorder = new HistoryRecorder({ now: () => {
      const now = process.hrtime.bigint();
      if (this.historyStart === null) {
        this.historyStart = now;
        this.historyStartWallMs = Date.now();
      }
      return now;
    } });
    this.collector = new RaftEventCollector(target.ids);
    this.poller = new RaftEventPoller(target.admins, this.collector);
  }

  async run(): Promise<ChaosResult> {
    this.poller.start();
    try {
      return await this.runAndCheck();
    } finally {
      await this.poller.stop();
    }
  }

  private async runAndCheck(): Promise<ChaosResult> {
    const o = this.options;
    this.startMs = Date.now();
    this.log(`chaos run ${this.runId}: ${o.durationMs / 1000} s, ${o.clients} clients, ` +
      `nemesis ${o.nemesis.length > 0 ? o.nemesis.join(",") : "none"}, seed ${o.seed}`);
    const progress = setInterval(() => this.printProgress(), o.progressMs ?? 5000);
    const clients = Array.from({ length: o.clients }, (_, client) => this.clientLoop(client));
    const nemesis = this.nemesisLoop();
    const stopTimer = setTimeout(() => this.stop(), o.durationMs);
    try {
      await Promise.all([...clients, nemesis]);
    } finally {
      clearTimeout(stopTimer);
      clearInterval(progress);
    }
    this.printProgress();
    this.log("workload stopped; healing everything");
    await this.healAll();
    const converged = await this.waitForConvergence(o.convergeTimeoutMs ?? 30_000);
    this.log(converged ? "replicas converged" : "replicas did not converge within the bound");
    // The last events (the elections after the final heal), before the summary reads them.
    await this.poller.stop();
    const history = this.recorder.ops();
    const report = await this.check(history, converged);
    const { summary, timeline } = this.summarize(history, report);
    const outDir = o.outDir === null ? null : o.outDir ?? path.join("chaos-runs",
      `${new Date(this.startMs).toISOString().replace(/[:.]/g, "-")}-seed${o.seed}`);
    if (outDir !== null) this.write(outDir, history, report, summary, timeline);
    return { report, summary, history, faults: this.faults, outDir,
      exitCode: exitCodeFor(report), counts: { ...this.counts } };
  }

  private async check(history: readonly HistoryOp[], converged: boolean): Promise<CheckReport> {
    const o = this.options;
    const skus = [...this.skusUsed].sort();
    const finalReads = await this.finalReads(skus);
    const replicas = await this.replicaStates();
    const orderStatuses = await this.findOrders(history);
    this.log(`checking ${history.length} events on ${skus.length} skus`);
    const linearizability = checkLinearizability(history);
    // Statuses are read from whichever node answers first: meaningful only once the replicas
    // agree, and a divergence is reported anyway.
    const invariants = checkInvariants({ history, finalReads, replicas,
      ordersFound: Object.keys(orderStatuses), ...(converged ? { orderStatuses } : {}) });
    return buildReport({
      linearizability, invariants, operationCount: history.length / 2,
      unknownIsViolation: o.strict ?? false,
      meta: {
        runId: this.runId, seed: o.seed, durationMs: o.durationMs, clients: o.clients,
        nemesis: o.nemesis.join(",") || "none", nodes: this.target.ids.join(","),
        attached: o.attachConfig ?? false, faults: this.faults.filter((f) => f.phase === "start")
          .length, ok: this.counts.ok, fail: this.counts.fail, info: this.counts.info,
        converged,
      },
    });
  }

  /** The chaos summary, and the timeline's input, with the nodes' times on the history's
   * clock (what happened before the history started is cut at its start). */
  private summarize(history: readonly HistoryOp[], report: CheckReport):
    { summary: ChaosSummary; timeline: TimelineInput } {
    const endMs = Date.now();
    const toNs = (ms: number): number => Math.max(0, (ms - this.historyStartWallMs) * 1e6);
    const inRun = <T extends { fromMs: number; toMs: number }>(spans: readonly T[]) =>
      spans.filter((span) => toNs(span.toMs) > 0).map((span) =>
        ({ ...span, fromNs: toNs(span.fromMs), toNs: toNs(span.toMs) }));
    const leaders = inRun(this.collector.leaderTrack(endMs));
    const summary = buildChaosSummary({
      reproduce: reproduceCommand(this.options),
      operations: pairOperations(history),
      spans: faultSpans(this.faults, this.elapsedNs()),
      elections: this.poller.pagesRead > 0 ? this.collector.elections() : null,
      leaders: leaders.map((span): LeaderSpan => ({ node: span.node, term: span.term,
        fromMs: span.fromNs / 1e6, toMs: span.toNs / 1e6 })),
    });
    const timeline: TimelineInput = {
      history, faults: this.faults, report, title: `raftmarket chaos run ${this.runId}`,
      clientOfProcess: this.clientOfProcess, nodes: this.target.ids,
      nodeStates: inRun(this.collector.nodeStates(endMs)), leaders,
      faultNotes: new Map(summary.faults.map((fault) => [fault.fault, describeFirstAck(fault)])),
    };
    return { summary, timeline };
  }

  private write(outDir: string, history: readonly HistoryOp[], report: CheckReport,
    summary: ChaosSummary, timeline: TimelineInput): void {
    mkdirSync(outDir, { recursive: true });
    writeHistory(path.join(outDir, "history.jsonl"), history);
    const lines = (values: readonly unknown[]): string =>
      values.map((value) => JSON.stringify(value)).join("\n") + "\n";
    writeFileSync(path.join(outDir, "faults.jsonl"), lines(this.faults));
    writeFileSync(path.join(outDir, "raft-events.jsonl"), lines([...this.collector.rawEvents()]
      .sort((a, b) => a.timeMs - b.timeMs || a.node.localeCompare(b.node) || a.seq - b.seq)));
    writeFileSync(path.join(outDir, "report.json"),
      JSON.stringify({ ...report, chaos: summary }, null, 2) + "\n");
    writeFileSync(path.join(outDir, "report.txt"),
      `${formatReport(report)}\n${formatChaosSummary(summary)}`);
    writeFileSync(path.join(outDir, "timeline.html"), renderTimeline(timeline));
    writeFileSync(path.join(outDir, "timeline.svg"), renderTimelineSvg(timeline));
  }

  private stop(): void {
    this.stopping = true;
    this.wakeNemesis?.();
  }

  private elapsedNs(): number {
    return this.historyStart === null ? 0 : Number(process.hrtime.bigint() - this.historyStart);
  }

  private printProgress(): void {
    const seconds = ((Date.now() - this.startMs) / 1000).toFixed(0);
    const { ok, fail, info } = this.counts;
    this.log(`[${seconds}s] ops ${ok + fail + info} (ok ${ok}, fail ${fail}, info ${info}), ` +
      `fault: ${this.currentFault}`);
  }

  // ---- workload ----

  private activeSkus(): string[] {
    const generation = Math.floor((Date.now() - this.startMs) / (this.options.rotateMs ?? 15_000));
    const count = this.options.skusPerGeneration ?? 3;
    return Array.from({ length: count }, (_, k) => `${this.runId}-g${generation}-s${k}`);
  }

  private async clientLoop(client: number): Promise<void> {
    const think = this.options.thinkMs ?? [20, 80];
    let processId = this.newProcess(client);
    while (!this.stopping) {
      await sleep(between(this.workloadRng, think));
      if (this.stopping) break;
      const type = await this.operation(processId);
      if (type === "info") processId = this.newProcess(client);
    }
  }

  private newProcess(client: number): number {
    const processId = this.nextProcess++;
    this.clientOfProcess.set(processId, client);
    return processId;
  }

  private requestId(): string {
    return `${this.runId}-r${this.requestCounter++}`;
  }

  /** One operation, recorded; returns its completion type. */
  private async operation(processId: number): Promise<"ok" | "fail" | "info"> {
    const rng = this.workloadRng;
    const skus = this.activeSkus();
    const sku = pick(rng, skus);
    const node = pick(rng, this.target.ids);
    const client = this.target.clients.get(node);
    if (client === undefined) throw new Error(`no client for ${node}`);
    const roll = rng.nextFloat();
    let f: OpFunction;
    const orders = this.cancellable.get(sku) ?? [];
    if (!this.created.has(sku) && roll < 0.4) f = "create";
    else if (roll < 0.45) f = "buy";
    else if (roll < 0.5 && orders.length > 0) f = "cancel";
    else if (roll < 0.65) f = "add";
    else if (roll < 0.97) f = "read";
    else f = "create";
    this.skusUsed.add(sku);
    if (f === "read") {
      this.recorder.invoke(processId, "read", { sku, node });
      const answer = await client.request("GET",
        `/v1/items/${encodeURIComponent(sku)}?consistency=linearizable`);
      if (answer.kind === "answer" && answer.status === 200) {
        return this.complete(processId, "ok", { stock: stockOf(answer.body) });
      }
      if (answer.kind === "answer" && answer.status === 404) {
        return this.complete(processId, "ok", { stock: null });
      }
      return this.complete(processId, ...this.classify(answer));
    }
    const requestId = this.requestId();
    if (f === "create") {
      const stock = 1 + rng.nextInt(3);
      this.recorder.invoke(processId, "create", { sku, stock, node, requestId });
      const answer = await client.request("POST", "/v1/items", {
        requestId, sku, name: `chaos item ${sku}`, area: "chaos", priceCents: 100, stock });
      if (answer.kind === "answer" && answer.status === 201) {
        this.created.add(sku);
        return this.complete(processId, "ok", {});
      }
      if (answer.kind === "answer" && answer.status === 409) this.created.add(sku);
      return this.complete(processId, ...this.classify(answer));
    }
    if (f === "add") {
      const qty = 1 + rng.nextInt(3);
      this.recorder.invoke(processId, "add", { sku, qty, node, requestId });
      const answer = await client.request("POST", `/v1/items/${encodeURIComponent(sku)}/stock`,
        { requestId, qty });
      if (answer.kind === "answer" && answer.status === 200) {
        const stock = stockOf(answer.body);
        return this.complete(processId, "ok", typeof stock === "number" ? { stock } : {});
      }
      return this.complete(processId, ...this.classify(answer));
    }
    if (f === "cancel") {
      // Each order is picked once: the checkers model one cancel per order (item-ops.ts).
      const [order] = orders.splice(rng.nextInt(orders.length), 1);
      if (order === undefined) throw new Error("cancel with no cancellable order");
      this.recorder.invoke(processId, "cancel",
        { sku, qty: order.qty, orderId: order.orderId, node, requestId });
      const answer = await client.request("POST",
        `/v1/orders/${encodeURIComponent(order.orderId)}/cancel`, { requestId });
      if (answer.kind === "answer" && answer.status === 200) return this.complete(processId, "ok", {});
      return this.complete(processId, ...this.classify(answer));
    }
    const qty = 1 + rng.nextInt(2);
    this.recorder.invoke(processId, "buy", { sku, qty, node, requestId });
    const answer = await client.request("POST", "/v1/orders",
      { requestId, lines: [{ sku, qty }] });
    if (answer.kind === "answer" && answer.status === 201) {
      const orderId = (answer.body as { order?: { orderId?: unknown } } | null)?.order?.orderId;
      if (typeof orderId !== "string") return this.complete(processId, "ok", {});
      const list = this.cancellable.get(sku);
      if (list === undefined) this.cancellable.set(sku, [{ orderId, qty }]);
      else list.push({ orderId, qty });
      return this.complete(processId, "ok", { orderId });
    }
    return this.complete(processId, ...this.classify(answer));
  }

  private complete(processId: number, type: "ok" | "fail" | "info", value: OpValue):
    "ok" | "fail" | "info" {
    this.recorder.complete(processId, type, value);
    this.counts[type]++;
    return type;
  }

  /** A non-success answer as fail (certainly not applied) or info (unknown). */
  private classify(answer: NodeAnswer): ["fail" | "info", OpValue] {
    if (answer.kind === "noAnswer") {
      // A refused connection never carried the request; anything else may have.
      return [answer.code === "ECONNREFUSED" ? "fail" : "info", { error: answer.code }];
    }
    const code = errorCodeOf(answer.body) ?? `http_${answer.status}`;
    const status = answer.status;
    if (status === 400 || status === 404 || status === 409 || status === 413) {
      // The stock the refusal saw: the checker reads it as an exact observation.
      const available = (answer.body as { error?: { available?: unknown } } | null)?.error
        ?.available;
      return ["fail", code === "insufficient_stock" && typeof available === "number"
        ? { error: code, available } : { error: code }];
    }
    if (status === 503 && !(this.options.ambiguous503 ?? false)) return ["fail", { error: code }];
    return ["info", { error: code }];
  }

  // ---- nemesis ----

  private async nemesisSleep(ms: number): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeNemesis = done;
    });
    this.wakeNemesis = null;
  }

  private async nemesisLoop(): Promise<void> {
    const kinds = this.options.nemesis;
    if (kinds.length === 0) return;
    const rng = this.nemesisRng;
    await this.nemesisSleep(between(rng, [2000, 4000]));
    while (!this.stopping) {
      const kind = pick(rng, kinds);
      const hold = between(rng, this.options.faultHoldMs ?? [2000, 5000]);
      const heal = await this.startFault(kind);
      try {
        await this.nemesisSleep(hold);
      } finally {
        await heal();
      }
      await this.nemesisSleep(between(rng, this.options.quietMs ?? [2000, 5000]));
    }
  }

  private recordFault(phase: FaultEvent["phase"], fault: FaultEvent["fault"], label: string,
    description: string, nodes: readonly string[], unreachable: readonly string[] = []): void {
    const event: FaultEvent = {
      time: this.elapsedNs(), wallTime: new Date().toISOString(),
      historyIndex: this.recorder.ops().length, phase, fault, label, description, nodes,
      ...(unreachable.length > 0 ? { unreachable } : {}),
    };
    this.faults.push(event);
    const seconds = ((Date.now() - this.startMs) / 1000).toFixed(1);
    this.log(`[${seconds}s] nemesis ${phase} ${fault}: ${description}` +
      (unreachable.length > 0 ? ` (could not reach ${unreachable.join(", ")})` : ""));
  }

  /** Starts a fault and returns the function that heals it. */
  private async startFault(kind: NemesisKind): Promise<() => Promise<void>> {
    const rng = this.nemesisRng;
    const ids = this.target.ids;
    const leader = await this.findLeader();
    const victim = leader !== null && rng.nextFloat() < 0.5 ? leader : pick(rng, ids);
    const role = victim === leader ? " (the leader)" : "";
    const roleLabel = victim === leader ? " (leader)" : "";
    if (kind === "partition") {
      const command = this.partitionCommand(leader);
      const description = describePartition(command, ids)[0] ?? command.kind;
      const unreachable = await this.applyRules(planPartition(command, ids));
      this.currentFault = `partition: ${description}`;
      this.recordFault("start", "partition", partitionLabel(command), description, ids,
        unreachable);
      return async () => {
        const failed = await this.healPartitions();
        this.currentFault = "none";
        this.recordFault("end", "partition", "heal", "healed: every link restored", ids, failed);
      };
    }
    const local = this.target.local;
    if (local === null) throw new Error(`the ${kind} nemesis needs a local cluster`);
    if (kind === "member") return await this.changeMembers(local, leader);
    if (kind === "kill") {
      // Its last events, before they die with its process.
      await this.poller.poll(victim);
      await local.kill(victim);
      this.collector.nodeDown(victim, Date.now());
      this.currentFault = `kill ${victim}${role}`;
      this.recordFault("start", "kill", `kill ${victim}${roleLabel}`, `SIGKILL ${victim}${role}`,
        [victim]);
      return async () => {
        this.collector.nodeUp(victim, Date.now());
        local.startNode(victim);
        this.currentFault = "none";
        this.recordFault("end", "kill", `restart ${victim}`, `restarted ${victim}`, [victim]);
      };
    }
    // Half the pauses stall the node while it is cut off, and it wakes up still cut off: the
    // long-GC-pause case that defeats a leader lease. A stalled leader's clock stops, so on
    // waking it still believes it leads for up to two election timeouts (CheckQuorum runs once
    // per timeout), while the majority has meanwhile elected a new leader and committed writes.
    // Only a read confirmed by a quorum (ReadIndex, thesis §6.4) is safe in that window; one
    // served from local state is stale, and the checker sees it.
    const isolated = rng.nextFloat() < 0.5;
    let unreachable: string[] = [];
    if (isolated) {
      unreachable = await this.applyRules(planPartition({ kind: "isolate", node: victim }, ids));
    }
    local.signal(victim, "SIGSTOP");
    this.collector.nodePaused(victim, Date.now());
    const how = isolated ? ", cut off from its peers" : "";
    this.currentFault = `pause ${victim}${role}${how}`;
    this.recordFault("start", "pause", `pause ${victim}${roleLabel}${isolated ? ", cut off" : ""}`,
      `SIGSTOP ${victim}${role}${how}`, [victim], unreachable);
    return async () => {
      local.signal(victim, "SIGCONT");
      this.collector.nodeResumed(victim, Date.now());
      if (!isolated) {
        this.currentFault = "none";
        this.recordFault("end", "pause", `resume ${victim}`, `SIGCONT ${victim}`, [victim]);
        return;
      }
      this.currentFault = `${victim} resumed, still cut off`;
      this.recordFault("end", "pause", `resume ${victim}`, `SIGCONT ${victim}; it stays cut ` +
        `off for ${wakeIsolatedMs} ms`, [victim]);
      await sleep(wakeIsolatedMs);
      const failed = await this.healPartitions();
      this.currentFault = "none";
      this.recordFault("end", "pause", "heal", `healed: ${victim} reaches its peers again`, ids,
        failed);
    };
  }

  /**
   * The member nemesis (issue 13): grows the cluster to 5 voters, shrinks it to 3, or replaces
   * a voter, through the admin API as an operator would (member add --learner, market-node
   * --join, promote once caught up, member remove; the leader too), while the clients run. A
   * change is permanent: its "heal" only records the end. A removed node stops by itself and
   * leaves the target; a new one joins it.
   */
  private async changeMembers(local: LocalCluster, leader: string | null):
    Promise<() => Promise<void>> {
    const rng = this.nemesisRng;
    const view = leader === null ? null : await this.adminJson(leader, "GET", "/admin/members");
    const voters = (view?.conf as { voters?: string[] } | undefined)?.voters ?? [];
    if (leader === null || voters.length === 0) {
      this.recordFault("start", "member", "member: no leader", "no leader to make a change", []);
      return async () => {
        this.recordFault("end", "member", "member: none", "no change made", []);
      };
    }
    const roll = rng.nextFloat();
    const action = voters.length <= 3 ? (roll < 0.7 ? "grow" : "replace")
      : voters.length >= 5 ? (roll < 0.7 ? "shrink" : "replace")
        : roll < 0.4 ? "grow" : roll < 0.8 ? "shrink" : "replace";
    const outgoing = rng.nextFloat() < 0.4 ? leader : pick(rng, voters);
    const label = action === "grow" ? "grow" : action === "shrink" ? `remove ${outgoing}`
      : `replace ${outgoing}`;
    this.currentFault = `member ${label}`;
    this.recordFault("start", "member", `member ${label}${outgoing === leader &&
      action !== "grow" ? " (leader)" : ""}`, `membership: ${label} (voters ${voters.join(", ")})`,
    voters);
    const notes: string[] = [];
    if (action !== "shrink") notes.push(await this.addVoter(local, leader));
    if (action !== "grow") notes.push(await this.removeMember(outgoing));
    return async () => {
      this.currentFault = "none";
      this.recordFault("end", "member", `member ${label} done`, notes.join("; "),
        [...this.target.ids]);
    };
  }

  /** Adds a learner under a new id, starts it with --join, and promotes it once caught up. */
  private async addVoter(local: LocalCluster, leader: string): Promise<string> {
    const id = `n${this.nextMemberNumber(local)}`;
    // Every member, the leader first: the one it asks may be removed before it starts.
    const urls = [leader, ...this.target.ids.filter((other) => other !== leader)]
      .map((member) => local.node(member).url);
    const join = await local.prepareJoiningNode(id, urls.join(","));
    const added = await this.sendChange("POST", "/admin/members", { id, peerUrl: join.peerUrl,
      clientUrl: join.clientUrl, learner: true });
    if (added !== null) return `add ${id}: ${added}`;
    local.startNode(id);
    addToTarget(this.target, id, join.clientUrl);
    this.collector.addNode(id, Date.now());
    const promoted = await this.sendChange("POST", `/admin/members/${id}/promote`, undefined,
      memberPromoteWaitMs);
    return promoted === null ? `added and promoted ${id}` : `added ${id}; promote: ${promoted}`;
  }

  private async removeMember(id: string): Promise<string> {
    const removed = await this.sendChange("DELETE", `/admin/members/${id}`, undefined);
    if (removed !== null) return `remove ${id}: ${removed}`;
    // It stops by itself once it applies its removal; it is no longer a node under test.
    removeFromTarget(this.target, id);
    this.removedMembers.add(id);
    return `removed ${id}`;
  }

  /**
   * Sends a change to whichever node leads, again while the answer says to retry (another
   * leader, a change in flight, a learner still catching up), for up to `patienceMs`. Returns
   * null when it applied, else why not.
   */
  private async sendChange(method: string, path: string, body: unknown,
    patienceMs = memberChangePatienceMs): Promise<string | null> {
    const deadline = Date.now() + patienceMs;
    let last = "no leader";
    // Set once a try may have been applied without our seeing it (504, or no answer).
    let maybeApplied = false;
    while (Date.now() < deadline && !this.stopping) {
      const leader = await this.findLeader();
      const client = leader === null ? undefined : this.target.admins.get(leader);
      if (client !== undefined) {
        const answer = await client.request(method, path, body, memberRequestTimeoutMs);
        if (answer.kind === "answer" && answer.status < 300) return null;
        const error = answer.kind === "answer"
          ? (answer.body as { error?: { reason?: unknown; message?: unknown } } | null)?.error
          : undefined;
        last = answer.kind === "answer" ? `${answer.status} ${String(error?.reason ??
          error?.message ?? "")}` : answer.code;
        // A retry refused as already done (the id in use, no longer a member, already a
        // voter) after a try that may have applied: that try applied.
        const alreadyDone = answer.kind === "answer" && (answer.status === 400 ||
          (answer.status === 409 && /idUsed/.test(last)));
        if (alreadyDone) return maybeApplied ? null : last;
        if (answer.kind !== "answer" || answer.status === 504) maybeApplied = true;
      }
      await sleep(250);
    }
    return last;
  }

  private async adminJson(id: string, method: string, path: string):
    Promise<Record<string, unknown> | null> {
    const answer = await this.target.admins.get(id)?.request(method, path);
    return answer?.kind === "answer" && answer.status === 200 && typeof answer.body === "object" &&
      answer.body !== null ? answer.body as Record<string, unknown> : null;
  }

  /** A number no node of the local cluster has had: ids are never reused. */
  private nextMemberNumber(local: LocalCluster): number {
    const numbers = local.nodes.map((node) => Number(/^n(\d+)$/.exec(node.id)?.[1] ?? 0));
    return Math.max(0, ...numbers) + 1;
  }

  private partitionCommand(leader: string | null): PartitionCommand {
    const rng = this.nemesisRng;
    const ids = [...this.target.ids];
    const choice = rng.nextInt(4);
    if (choice === 0) return { kind: "isolate", node: pick(rng, ids) };
    if (choice === 1) return { kind: "isolate", node: leader ?? pick(rng, ids) };
    if (choice === 2 && ids.length >= 2) {
      for (let k = ids.length - 1; k > 0; k--) {
        const j = rng.nextInt(k + 1);
        const a = ids[k] as string;
        ids[k] = ids[j] as string;
        ids[j] = a;
      }
      const cut = Math.floor(ids.length / 2);
      return { kind: "split", halves: [ids.slice(0, cut), ids.slice(cut)] };
    }
    if (ids.length >= 3) return { kind: "bridge", bridge: pick(rng, ids) };
    return { kind: "isolate", node: pick(rng, ids) };
  }

  /** PUTs each node its rules; returns the nodes that did not take them. */
  private async applyRules(plan: Map<string, unknown[]>): Promise<string[]> {
    const answers = await Promise.all([...plan].map(async ([id, rules]) => {
      const answer = await this.target.admins.get(id)?.request("PUT", "/admin/faults", { rules });
      return answer?.kind === "answer" && answer.status < 300 ? null : id;
    }));
    return answers.filter((id) => id !== null);
  }

  /**
   * DELETEs every node's rules, retrying the nodes that did not answer (a node busy writing a
   * snapshot can miss the 1 s admin timeout); returns those that never did.
   */
  private async healPartitions(): Promise<string[]> {
    let pending: readonly string[] = this.target.ids;
    for (let attempt = 1; ; attempt++) {
      const answers = await Promise.all(pending.map(async (id) => {
        const answer = await this.target.admins.get(id)?.request("DELETE", "/admin/faults");
        return answer?.kind === "answer" && answer.status < 300 ? null : id;
      }));
      pending = answers.filter((id) => id !== null);
      if (pending.length === 0 || attempt >= healAttemptsMax) return [...pending];
      await sleep(healRetryMs);
    }
  }

  private async statuses(): Promise<Map<string, Record<string, unknown>>> {
    const answers = await Promise.all(this.target.ids.map(async (id) => {
      const answer = await this.target.admins.get(id)?.request("GET", "/v1/cluster/status");
      return answer?.kind === "answer" && answer.status === 200 && typeof answer.body === "object"
        && answer.body !== null ? [id, answer.body as Record<string, unknown>] as const : null;
    }));
    return new Map(answers.filter((answer) => answer !== null));
  }

  /** The leader of the highest term among the nodes that answer, or null. */
  private async findLeader(): Promise<string | null> {
    let best: { id: string; term: number } | null = null;
    for (const [id, status] of await this.statuses()) {
      const term = typeof status.term === "number" ? status.term : -1;
      if (status.role === "leader" && (best === null || term > best.term)) best = { id, term };
    }
    return best?.id ?? null;
  }

  // ---- end of run ----

  private async healAll(): Promise<void> {
    const local = this.target.local;
    if (local !== null) {
      for (const node of local.nodes) {
        if (this.removedMembers.has(node.id) || !this.target.ids.includes(node.id)) continue;
        if (node.process === null) {
          this.collector.nodeUp(node.id, Date.now());
          local.startNode(node.id);
        } else {
          local.signal(node.id, "SIGCONT");
          this.collector.nodeResumed(node.id, Date.now());
        }
      }
    }
    // After the resumes, so no retry waits on a paused node. A node still starting may miss
    // the DELETE; it starts with no rules anyway.
    const failed = await this.healPartitions();
    this.recordFault("heal-all", "final", "heal all", (local !== null ? "SIGCONT and restart every node, " : "") +
      "DELETE /admin/faults everywhere", this.target.ids, failed);
  }

  /**
   * Waits (bounded) until every node answers, one is leader, and all report the same
   * appliedIndex and stateHash on two polls in a row.
   */
  private async waitForConvergence(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let previous = "";
    while (Date.now() < deadline) {
      const statuses = await this.statuses();
      const values = [...statuses.values()];
      const applied = new Set(values.map((status) => status.appliedIndex));
      const hashes = new Set(values.map((status) => status.stateHash));
      const hasLeader = values.some((status) => status.role === "leader");
      const key = `${[...applied].join()}|${[...hashes].join()}`;
      if (statuses.size === this.target.ids.length && hasLeader && applied.size === 1 &&
        hashes.size === 1) {
        if (key === previous) return true;
        previous = key;
      } else {
        previous = "";
      }
      await sleep(200);
    }
    return false;
  }

  private async finalReads(skus: readonly string[]): Promise<FinalRead[]> {
    const reads: FinalRead[] = [];
    for (const node of this.target.ids) {
      const client = this.target.admins.get(node);
      if (client === undefined) continue;
      await forEachLimited(skus, 16, async (sku) => {
        const answer = await client.request("GET",
          `/v1/items/${encodeURIComponent(sku)}?consistency=stale`, undefined, 3000);
        if (answer.kind !== "answer") return;
        if (answer.status === 404) reads.push({ node, sku, stock: null });
        else if (answer.status === 200) {
          const stock = stockOf(answer.body);
          if (typeof stock === "number") reads.push({ node, sku, stock });
        }
      });
    }
    return reads;
  }

  private async replicaStates(): Promise<ReplicaState[]> {
    return [...await this.statuses()].flatMap(([node, status]) =>
      typeof status.appliedIndex === "number" && typeof status.stateHash === "string"
        ? [{ node, appliedIndex: status.appliedIndex, stateHash: status.stateHash }] : []);
  }

  /**
   * The acknowledged orders found on some node, with their status (every ok buy with an orderId
   * is looked up; the replicas have converged, so any node's answer stands for all).
   */
  private async findOrders(history: readonly HistoryOp[]):
    Promise<Record<string, OrderStatus>> {
    const orderIds = history.flatMap((op) => op.f === "buy" && op.type === "ok" &&
      typeof op.value.orderId === "string" ? [op.value.orderId] : []);
    const found: Record<string, OrderStatus> = {};
    await forEachLimited(orderIds, 16, async (orderId) => {
      for (const node of this.target.ids) {
        const answer = await this.target.admins.get(node)?.request("GET",
          `/v1/orders/${encodeURIComponent(orderId)}?consistency=stale`, undefined, 3000);
        const status = (answer?.kind === "answer" ? answer.body as
          { order?: { status?: unknown } } | null : null)?.order?.status;
        if (answer?.kind === "answer" && answer.status === 200 &&
          (status === "confirmed" || status === "cancelled")) {
          found[orderId] = status;
          return;
        }
      }
    });
    return found;
  }
}

/** A partition's short name for the timeline: "isolate n1", "split n1 | n2 n3". */
function partitionLabel(command: PartitionCommand): string {
  switch (command.kind) {
    case "isolate":
      return `isolate ${command.node}`;
    case "split":
      return `split ${command.halves[0].join(" ")} | ${command.halves[1].join(" ")}`;
    case "bridge":
      return `bridge via ${command.bridge}`;
    default:
      return command.kind;
  }
}

function stockOf(body: unknown): number | undefined {
  const stock = (body as { item?: { stock?: unknown } } | null)?.item?.stock;
  return typeof stock === "number" ? stock : undefined;
}

async function forEachLimited<T>(values: readonly T[], limit: number,
  task: (value: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < values.length) {
      const value = values[next++] as T;
      await task(value);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, values.length) }, worker));
}
