import { rejectionToApiError } from "../api/api-error.js";
import { orderIdForIndex } from "../market/model.js";
import { validateRequest, validateSearchQuery } from "../market/validate.js";
import type { Item, MarketRequest, MarketResult } from "../market/index.js";
import { StateStoreError, type StateKey, type StateTable } from "../market/state-store.js";
import { MarketStateMachine } from "../market/market-state-machine.js";
import { SeededRng, type NodeId, type Rng } from "../raft/index.js";
import type { SubmitOutcome } from "../node/node-service.js";
import { HistoryRecorder, type HistoryOp, type OpValue } from "../verify/history.js";
import { checkInvariants, describeViolation, type FinalRead, type ReplicaState } from
  "../verify/invariants.js";
import { checkLinearizability } from "../verify/linearizability.js";
import { nodeIds } from "./cluster.js";
import { diskPromiseTap, type DurableView } from "./disk-promise-checker.js";
import {
  ServerCluster,
  simIncarnationOf,
  type ServerNodeDisk,
  type ServerSimNode,
} from "./server-cluster.js";
import {
  MembershipOperator,
  membershipWeights,
  simAddressOf,
  type MembershipKind,
} from "./server-membership.js";
import { confOfServer, MembershipChecker } from "./server-membership-checker.js";
import { SimClock } from "./sim-clock.js";
import { SimNetwork, type SimNetworkFaults } from "./sim-network.js";

/**
 * One seeded run of production RaftServers (issue 11): a cluster of real drivers with real
 * market state machines (server-cluster.ts) in virtual time, clients that call the same
 * NodeService methods the HTTP API calls (submit on any node, including followers that
 * forward; read barriers then reads), and a nemesis that partitions, crashes, restarts, slows
 * and fails disks and jumps clocks. Then everything heals, and the run must end live (a new
 * write applied everywhere) and correct:
 *   - no node stopped on a fatal error the simulator did not cause;
 *   - equal state hashes at equal applied index, sampled every tick, and at the end;
 *   - the client history is linearizable per item (src/verify, the same checker as chaos);
 *   - every acknowledged order is present after healing, stock is conserved, no requestId is
 *     applied twice (verify/invariants.ts, plus an exactly-once count here).
 * The same seed gives the same run: every choice comes from the seed's Rng and every callback
 * from the SimClock.
 */

export interface ServerSimOptions {
  readonly seed: number;
  readonly nodeCount?: number;
  /** Virtual milliseconds of faults and workload before the heal. */
  readonly faultMs?: number;
  /** Virtual milliseconds allowed after the heal for the cluster to take and apply a write. */
  readonly livenessMsMax?: number;
  /**
   * Membership changes in the schedule (server-membership.ts): learners added and promoted,
   * followers and leaders removed, voters replaced, disks lost and their nodes replaced, with
   * the checks of server-membership-checker.ts.
   */
  readonly membership?: boolean;
  /**
   * With membership: a node refuses (and cannot answer) messages from a node it has no
   * address for, as HttpTransport does today, instead of learning it as etcd's transport does
   * (SimTransport.learnsUnknownPeers). A node that falls behind while members are added then
   * never catches up: a known bug, kept reproducible by this option.
   */
  readonly refuseUnknownPeers?: boolean;
}

export interface ServerSimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: string | null;
  readonly trace: readonly string[];
  readonly history: readonly HistoryOp[];
  readonly stats: {
    readonly nodeCount: number;
    readonly virtualMs: number;
    readonly events: number;
    readonly ok: number;
    readonly fail: number;
    readonly info: number;
    readonly crashes: number;
    readonly fsyncFailures: number;
    /** Membership changes answered as applied (with --membership). */
    readonly membershipChanges: number;
  };
}

export const defaultServerSimFaultMs = 6000;
export const defaultServerSimLivenessMsMax = 5000;

const tickIntervalMs = 10;
const skus = ["sim-a", "sim-b", "sim-c"];
const initialStock = 20;
/** A client gives up on an operation after this long: its outcome is unknown (info). */
const clientTimeoutMs = 1500;
const traceLengthMax = 300;

type FaultKind = "heal" | "halves" | "isolate" | "isolateLeader" | "oneWay" | "crash" |
  "crashLeader" | "crashDuringSync" | "restart" | "slowDisk" | "failFsync" | "clockJump" |
  "damageLog" | "damageState";

/**
 * Drawn with these weights. Crashes in the middle of an fsync come often: the driver's most
 * dangerous promise is what it sends before its writes are durable (votes, acknowledgements).
 */
const faultWeights: Readonly<Record<FaultKind, number>> = {
  heal: 3, halves: 1, isolate: 1, isolateLeader: 1, oneWay: 1, crash: 1, crashLeader: 2,
  crashDuringSync: 3, restart: 5, slowDisk: 1, failFsync: 1, clockJump: 1, damageLog: 1,
  damageState: 1,
};
const faultKinds: readonly FaultKind[] = Object.entries(faultWeights)
  .flatMap(([kind, weight]) => Array<FaultKind>(weight).fill(kind as FaultKind));
/** With membership changes: the same faults, then the changes (the default draws unchanged). */
const membershipFaultKinds: readonly (FaultKind | MembershipKind)[] = [...faultKinds,
  ...Object.entries(membershipWeights).flatMap(([kind, weight]) =>
    Array<MembershipKind>(weight).fill(kind as MembershipKind))];
/** How often the operator looks at its runbook (server-membership.ts). */
const operatorEveryMs = 50;
/** A removed node stops this long after it applies its removal (market-node: two election
 * timeouts, for its leadership transfer to go out). */
const removedStopMs = 300;

class Violation extends Error {}

export async function runServerSimulation(options: ServerSimOptions): Promise<ServerSimResult> {
  const rng = new SeededRng(options.seed);
  const nodeCount = options.nodeCount ?? (rng.nextFloat() < 0.7 ? 3 : 5);
  const faultMs = options.faultMs ?? defaultServerSimFaultMs;
  const livenessMsMax = options.livenessMsMax ?? defaultServerSimLivenessMsMax;
  const clock = new SimClock();
  const trace: string[] = [];
  const note = (line: string): void => {
    trace.push(`${String(clock.nowMs()).padStart(6)} ms  ${line}`);
    if (trace.length > traceLengthMax) trace.shift();
  };
  const faults: SimNetworkFaults = {
    dropRate: rng.nextFloat() * 0.1,
    duplicateRate: rng.nextFloat() * 0.05,
    latencyMsMin: 0,
    latencyMsMax: 1 + rng.nextInt(8),
  };
  const network = new SimNetwork(clock, new SeededRng(rng.nextInt(2 ** 31)), faults);
  let violation: string | null = null;
  const ids = nodeIds(nodeCount);
  const withMembership = options.membership === true;
  const publishIncarnations = publishesIncarnations(options.seed, withMembership);
  const cluster: ServerCluster = new ServerCluster({
    ids, clock, network, rng: new SeededRng(rng.nextInt(2 ** 31)), tickIntervalMs,
    raft: { electionTimeoutTicks: 15, heartbeatIntervalTicks: 3 },
    snapshot: rng.nextFloat() < 0.6
      ? { entriesBetweenSnapshots: 5 + rng.nextInt(40), trailingEntries: rng.nextInt(6) }
      : { entriesBetweenSnapshots: 1_000_000, trailingEntries: 1000 },
    onUnexpectedFatal: (node, error) => {
      violation ??= `node ${node.id} stopped on an unexpected fatal error: ${error.message}`;
    },
    publishIncarnations,
    ...(withMembership ? {
      addressOf: simAddressOf,
      learnsUnknownPeers: options.refuseUnknownPeers !== true,
      onRemoved: (node: ServerSimNode, index: number) => {
        // market-node fences its folder and stops: it never starts again under its id.
        node.retired = `removed from the cluster at index ${index}`;
        note(`${node.id} applied its removal at index ${index}: it stops`);
        const server = node.server;
        clock.schedule(null, removedStopMs, () => {
          if (node.server === server) cluster.crash(node.id);
        });
      },
    } : {}),
  });
  const fail = (message: string): void => {
    violation ??= message;
  };
  const checker = withMembership ? new MembershipChecker(cluster, fail) : null;
  // One view per incarnation's disks (a crash replaces node.disk), not one per message.
  const durableViews = new WeakMap<ServerNodeDisk, DurableView>();
  const diskPromises = diskPromiseTap((id) => {
    const node = cluster.nodes.get(id);
    if (node === undefined || node.log === null) return null;
    const disk = node.disk;
    let view = durableViews.get(disk);
    if (view === undefined) {
      const flushed = { get: (table: StateTable, key: StateKey) => disk.state.durableGet(table, key) };
      view = { log: disk.log, appliedIndex: () => MarketStateMachine.appliedIndexIn(flushed) };
      durableViews.set(disk, view);
    }
    return view;
  }, fail);
  network.onSend = checker === null ? diskPromises : (from, message) => {
    diskPromises(from, message);
    checker.observeSend(from, message);
  };
  const stats = { crashes: 0, fsyncFailures: 0 };
  // Every disk takes some time to sync, so that a crash can fall inside an fsync.
  const fsyncMsMax = rng.nextInt(4);
  for (const node of cluster.nodes.values()) node.logFaults.fsyncMsMax = fsyncMsMax;
  for (const id of ids) cluster.start(id);
  note(`start ${nodeCount} nodes; network ${JSON.stringify(faults)}`);
  const operator = checker === null ? null : new MembershipOperator({ clock, cluster,
    rng: new SeededRng(rng.nextInt(2 ** 31)), checker, note, fsyncMsMax,
    firstIdNumber: nodeCount + 1 });

  const recorder = new HistoryRecorder({ now: () => BigInt(clock.nowMs()) * 1_000_000n });
  const workload = new Workload(clock, cluster, recorder, new SeededRng(rng.nextInt(2 ** 31)), note);
  const hashes = new HashSampler(cluster);
  const sampleEveryTick = (): void => {
    const problem = hashes.sample();
    if (problem !== null) violation ??= problem;
    checker?.poll();
    if (clock.nowMs() < faultMs + livenessMsMax) clock.schedule(null, tickIntervalMs, sampleEveryTick);
  };
  clock.schedule(null, tickIntervalMs, sampleEveryTick);
  workload.start(faultMs);

  // The nemesis: a fault every so often, chosen by the seed.
  const faultEveryMs = 100 + rng.nextInt(rng.nextFloat() < 0.5 ? 200 : 800);
  const nemesis = (): void => {
    if (clock.nowMs() >= faultMs) return;
    if (operator === null) {
      injectFault(faultKinds[rng.nextInt(faultKinds.length)]!, cluster, network, rng, note, stats);
    } else {
      const kind = membershipFaultKinds[rng.nextInt(membershipFaultKinds.length)]!;
      if (kind in membershipWeights) operator.inject(kind as MembershipKind);
      else injectFault(kind as FaultKind, cluster, network, rng, note, stats, operator);
    }
    // Jittered, so that faults do not fall on the ticks' grid only.
    clock.schedule(null, faultEveryMs + rng.nextInt(faultEveryMs), nemesis);
  };
  clock.schedule(null, faultEveryMs, nemesis);
  if (operator !== null) {
    // The operator follows its runbook until the heal, then only starts the nodes it added.
    const operate = (): void => {
      if (clock.nowMs() >= faultMs) operator.stop();
      operator.tick();
      if (clock.nowMs() < faultMs + livenessMsMax) clock.schedule(null, operatorEveryMs, operate);
    };
    clock.schedule(null, operatorEveryMs, operate);
  }

  // A promise of the cluster's code that rejects with nobody waiting is a bug of that code.
  const onUnhandled = (reason: unknown): void => {
    violation ??= `unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`;
  };
  process.on("unhandledRejection", onUnhandled);
  try {
    await clock.runUntil(faultMs, () => violation !== null);
    if (violation === null) {
      // Heal: every link, every node up, disks and clocks sound.
      network.healAll();
      for (const node of cluster.nodes.values()) {
        node.logFaults.fsyncMsMax = 1;
        node.logFaults.failNextSync = false;
        node.logFaults.crashDuringNextSync = null;
        node.fatalExpected = false;
        if (!node.up) cluster.start(node.id);
      }
      note("heal all");
      workload.stop();
      await livenessCheck(clock, cluster, workload, livenessMsMax, note, () => violation);
      const finalNodes = (): ServerSimNode[] => operator === null ? cluster.upNodes()
        : currentMembers(cluster);
      if (violation === null) await waitForConvergence(clock, finalNodes, livenessMsMax);
      violation ??= finalChecks(finalNodes(), recorder.ops(), workload,
        options.seed % digestRebuildEvery === digestRebuildResidue);
      if (checker !== null) violation ??= checker.finalCheck(finalNodes());
      if (publishIncarnations && violation === null) {
        violation = await waitForPublications(clock, finalNodes, livenessMsMax);
        for (const node of finalNodes()) {
          const published = node.server!.publishedMembers()
            .map((record) => `${record.id}=${record.incarnation}`);
          note(`${node.id} holds the published members ${published.join(", ")}`);
        }
      }
    }
  } catch (error) {
    violation ??= error instanceof Violation ? error.message
      : `simulation error: ${(error as Error).stack ?? String(error)}`;
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  for (const id of cluster.nodes.keys()) cluster.crash(id);
  const counts = countTypes(recorder.ops());
  return {
    seed: options.seed, ok: violation === null, violation, trace, history: recorder.ops(),
    stats: { nodeCount, virtualMs: clock.nowMs(), events: clock.eventsRun, ...counts,
      crashes: stats.crashes, fsyncFailures: stats.fsyncFailures,
      membershipChanges: operator?.stats.applied ?? 0 },
  };
}

function injectFault(kind: FaultKind, cluster: ServerCluster, network: SimNetwork, rng: Rng,
  note: (line: string) => void, stats: { crashes: number; fsyncFailures: number },
  membership: MembershipOperator | null = null): void {
  const ids = [...cluster.nodes.keys()];
  const pick = (): NodeId => ids[rng.nextInt(ids.length)]!;
  const isolate = (id: NodeId): void => {
    for (const other of ids) {
      if (other === id) continue;
      network.cut(id, other);
      network.cut(other, id);
    }
  };
  switch (kind) {
    case "heal":
      network.healAll();
      note("heal network");
      return;
    case "halves": {
      const shuffled = ids.map((id) => ({ id, key: rng.nextFloat() }))
        .sort((a, b) => a.key - b.key).map((entry) => entry.id);
      const cutAt = 1 + rng.nextInt(ids.length - 1);
      const left = new Set(shuffled.slice(0, cutAt));
      for (const a of ids) for (const b of ids) if (left.has(a) !== left.has(b)) network.cut(a, b);
      note(`partition ${[...left].join(",")} | ${shuffled.slice(cutAt).join(",")}`);
      return;
    }
    case "isolate": {
      const id = pick();
      isolate(id);
      note(`isolate ${id}`);
      return;
    }
    case "isolateLeader": {
      const leader = cluster.leader();
      if (leader === null) return;
      isolate(leader.id);
      note(`isolate leader ${leader.id}`);
      return;
    }
    case "oneWay": {
      const from = pick();
      const to = pick();
      if (from === to) return;
      network.cut(from, to);
      note(`cut ${from} -> ${to}`);
      return;
    }
    case "crash": {
      const id = pick();
      if (!cluster.node(id).up) return;
      cluster.crash(id);
      stats.crashes++;
      note(`crash ${id}`);
      return;
    }
    case "crashLeader": {
      const leader = cluster.leader();
      if (leader === null) return;
      cluster.crash(leader.id);
      stats.crashes++;
      note(`crash leader ${leader.id}`);
      return;
    }
    case "crashDuringSync": {
      const node = cluster.node(pick());
      if (!node.up) return;
      node.logFaults.crashDuringNextSync = () => {
        cluster.crash(node.id);
        stats.crashes++;
        note(`crash ${node.id} during an fsync`);
      };
      note(`${node.id} will crash during its next fsync`);
      return;
    }
    case "restart": {
      const down = ids.filter((id) => !cluster.node(id).up && cluster.node(id).retired === null);
      if (down.length === 0) return;
      const id = down[rng.nextInt(down.length)]!;
      const up = cluster.start(id);
      note(up ? `restart ${id}` : `${id} refuses to start: ${cluster.node(id).retired}`);
      return;
    }
    case "slowDisk": {
      const node = cluster.node(pick());
      node.logFaults.fsyncMsMax = [0, 2, 10, 40][rng.nextInt(4)]!;
      note(`fsync of ${node.id} takes up to ${node.logFaults.fsyncMsMax} ms`);
      return;
    }
    case "failFsync": {
      const node = cluster.node(pick());
      if (!node.up) return;
      node.logFaults.failNextSync = true;
      node.fatalExpected = true;
      stats.fsyncFailures++;
      note(`the next fsync of ${node.id} fails`);
      return;
    }
    case "damageLog":
    case "damageState": {
      // A minority at most: the rest of the cluster must stay live without the damaged nodes
      // (with membership changes: of every voter set in force, counting the nodes gone).
      const damaged = ids.filter((id) => cluster.node(id).damaged);
      if (membership === null && damaged.length + 1 > Math.floor((ids.length - 1) / 2)) return;
      const node = cluster.node(pick());
      if (!node.up || node.damaged) return;
      if (membership !== null && (MembershipOperator.gone(node) || !membership.mayLose(node.id))) {
        return;
      }
      const where = kind === "damageLog" ? "log" : "state";
      cluster.crash(node.id, where);
      node.damaged = true;
      stats.crashes++;
      note(`crash ${node.id} with a damaged ${where === "log" ? "record in its log" : "value in its database"}`);
      return;
    }
    case "clockJump": {
      const node = cluster.node(pick());
      const jumpMs = (rng.nextFloat() < 0.5 ? -1 : 1) * (1 + rng.nextInt(120_000));
      node.wallClockSkewMs += jumpMs;
      if (node.scheduler !== null) node.scheduler.wallClockOffsetMs += jumpMs;
      note(`wall clock of ${node.id} jumps ${jumpMs} ms`);
      return;
    }
  }
}

/**
 * Clients: a few processes, each with one operation at a time on a random node that is up,
 * through NodeService (RaftServer.submit, readBarrier then market()), as the HTTP API calls it.
 * An operation that does not finish within clientTimeoutMs is recorded as info (unknown) and
 * its process retired, as Jepsen does; its late answer, if any, is ignored.
 */
class Workload {
  private stopped = false;
  private nextProcess = 0;
  /** The error code of the last completion, if it carried one. */
  private lastError: string | null = null;
  private requestSequence = 0;
  /** orderIds acknowledged, for the checks at the end. */
  readonly acknowledgedOrders = new Set<string>();
  /** Acknowledged single-line orders not yet chosen for a cancel. */
  private readonly cancellable: { orderId: string; sku: string; qty: number }[] = [];

  constructor(
    private readonly clock: SimClock,
    private readonly cluster: ServerCluster,
    private readonly recorder: HistoryRecorder,
    private readonly rng: Rng,
    private readonly note: (line: string) => void,
  ) {}

  start(untilMs: number): void {
    const clients = 2 + this.rng.nextInt(5);
    // The items first, by one process, before the others begin.
    let creator = this.nextProcess++;
    let created = 0;
    const createNext = (): void => {
      if (created === skus.length) {
        for (let k = 0; k < clients; k++) this.clock.schedule(null, this.rng.nextInt(50), () => this.loop(this.nextProcess++, untilMs));
        return;
      }
      const sku = skus[created]!;
      void this.write(creator, "create", { sku, stock: initialStock }, {
        kind: "createItem", requestId: this.requestId(), sku, name: sku, area: "sim",
        priceCents: 100, stock: initialStock,
      }).then((type) => {
        // Created, or refused as existing: next item. Refused for want of a leader: again.
        if (type === "ok" || this.lastError === "conflict") created++;
        // An unknown outcome retires the process (history.ts): go on with a fresh one. The
        // retry reuses nothing: a create that did apply makes the next one a conflict.
        if (type === "info") creator = this.nextProcess++;
        this.clock.schedule(null, 20, createNext);
      });
    };
    this.clock.schedule(null, 50, createNext);
  }

  stop(): void {
    this.stopped = true;
  }

  private requestId(): string {
    return `sim-${++this.requestSequence}`;
  }

  private loop(process: number, untilMs: number): void {
    if (this.stopped || this.clock.nowMs() >= untilMs) return;
    const sku = skus[this.rng.nextInt(skus.length)]!;
    const roll = this.rng.nextFloat();
    let done: Promise<"ok" | "fail" | "info">;
    if (roll < 0.05 && this.cancellable.length > 0) {
      // Each acknowledged order is cancelled at most once (the checkers' rule, item-ops.ts).
      const order = this.cancellable.splice(this.rng.nextInt(this.cancellable.length), 1)[0]!;
      done = this.write(process, "cancel", { sku: order.sku, qty: order.qty,
        orderId: order.orderId }, { kind: "cancel", requestId: this.requestId(),
        orderId: order.orderId });
    } else if (roll < 0.08) {
      done = this.malformedRequest();
    } else if (roll < 0.5) {
      const qty = 1 + this.rng.nextInt(3);
      done = this.write(process, "buy", { sku, qty }, {
        kind: "buy", requestId: this.requestId(), lines: [{ sku, qty }] });
    } else if (roll < 0.7) {
      // Enough restocking that buys both succeed and run out.
      const qty = 1 + this.rng.nextInt(8);
      done = this.write(process, "add", { sku, qty }, {
        kind: "addStock", requestId: this.requestId(), sku, qty });
    } else {
      done = this.read(process, sku);
    }
    void done.then((type) => {
      // A process whose operation ended in info is retired (history.ts): go on as a new one.
      const next = type === "info" ? this.nextProcess++ : process;
      this.clock.schedule(null, this.rng.nextInt(30), () => this.loop(next, untilMs));
    });
  }

  /**
   * A malformed request: the API's validation (validateRequest, as a client library's or a
   * forwarded request is checked) must refuse it, and when one reaches the log anyway (a log
   * entry is input too) every replica must refuse it the same way. Not an operation on an
   * item, so not in the history; the state hashes compared across replicas cover it.
   */
  private async malformedRequest(): Promise<"fail"> {
    const requestId = this.requestId();
    const shapes: unknown[] = [
      { kind: "buy", requestId, lines: [] },
      { kind: "buy", requestId, lines: [{ sku: "sim-a", qty: 0 }] },
      { kind: "buy", requestId, lines: [{ sku: "", qty: 1 }] },
      { kind: "buy", requestId: "", lines: [{ sku: "sim-a", qty: 1 }] },
      { kind: "addStock", requestId, sku: "sim-a", qty: -3 },
      { kind: "createItem", requestId, sku: "bad sku!", name: "", area: "sim", priceCents: -1,
        stock: 1 },
      { kind: "cancel", requestId, orderId: 42 },
      { kind: "teleport", requestId },
      "not an object",
    ];
    const shape = shapes[this.rng.nextInt(shapes.length)];
    const checked = validateRequest(shape);
    if (checked.ok) throw new Violation(`validation accepted ${JSON.stringify(shape)}`);
    const node = this.pickNode();
    if (node === null || this.rng.nextFloat() < 0.5) return "fail";
    await this.withTimeout(node.server!.submit(shape as MarketRequest));
    return "fail";
  }

  private pickNode(): ServerSimNode | null {
    const up = this.cluster.upNodes();
    return up.length === 0 ? null : up[this.rng.nextInt(up.length)]!;
  }

  /** Runs `attempt` against a node with the client's timeout: null when it timed out. */
  private withTimeout<T>(attempt: Promise<T>): Promise<T | null> {
    return new Promise((resolve) => {
      let settled = false;
      const timeout = this.clock.schedule(null, clientTimeoutMs, () => {
        if (!settled) {
          settled = true;
          resolve(null);
        }
      });
      void attempt.then((value) => {
        if (!settled) {
          settled = true;
          // Not left to run for nothing: each event the clock runs costs a turn of the loop.
          this.clock.cancel(timeout);
          resolve(value);
        }
      });
    });
  }

  /**
   * The liveness probe after the heal: an add of one unit through `node`, recorded in the
   * history like any write (it changes the stock the final checks account for).
   */
  livenessWrite(node: ServerSimNode): Promise<"ok" | "fail" | "info"> {
    return this.write(this.nextProcess++, "add", { sku: skus[0]!, qty: 1 },
      { kind: "addStock", requestId: this.requestId(), sku: skus[0]!, qty: 1 }, node);
  }

  private async write(process: number, f: "create" | "add" | "buy" | "cancel", value: OpValue,
    request: MarketRequest, via?: ServerSimNode): Promise<"ok" | "fail" | "info"> {
    // Checked as the API checks what it forwards or what a client library sends.
    const checked = validateRequest(request);
    if (!checked.ok) throw new Violation(`the workload made an invalid request: ${checked.message}`);
    const node = via ?? this.pickNode();
    const invokeValue = f === "buy"
      ? { sku: value.sku, qty: value.qty, requestId: request.requestId }
      : { ...value, requestId: request.requestId };
    this.recorder.invoke(process, f, { ...invokeValue, node: node?.id ?? null });
    if (node === null) return this.complete(process, "fail", { error: "no_node_up" });
    const outcome = await this.withTimeout(node.server!.submit(request));
    return this.completeWrite(process, f, outcome);
  }

  private completeWrite(process: number, f: "create" | "add" | "buy" | "cancel",
    outcome: SubmitOutcome | null): "ok" | "fail" | "info" {
    if (outcome === null) return this.complete(process, "info", { error: "client_timeout" });
    switch (outcome.kind) {
      case "applied":
        return this.completeApplied(process, f, outcome.result);
      case "notLeader":
      case "overloaded":
        // Never proposed: certainly not applied.
        return this.complete(process, "fail", { error: outcome.kind });
      case "timeout":
      case "unknown":
        return this.complete(process, "info", { error: outcome.kind });
    }
  }

  private completeApplied(process: number, f: "create" | "add" | "buy" | "cancel",
    result: MarketResult): "ok" | "fail" {
    // The code the HTTP API would answer with, as chaos histories record it.
    if (!result.ok) return this.complete(process, "fail", { error: rejectionToApiError(result).code });
    if (f === "buy" && result.kind === "order") {
      this.acknowledgedOrders.add(result.order.orderId);
      const line = result.order.lines[0];
      if (line !== undefined) {
        this.cancellable.push({ orderId: result.order.orderId, sku: line.sku, qty: line.qty });
      }
      return this.complete(process, "ok", { orderId: result.order.orderId });
    }
    if (f === "add" && result.kind === "item") {
      return this.complete(process, "ok", { stock: result.item.stock });
    }
    return this.complete(process, "ok", {});
  }

  private async read(process: number, sku: string): Promise<"ok" | "fail" | "info"> {
    const node = this.pickNode();
    this.recorder.invoke(process, "read", { sku, node: node?.id ?? null });
    if (node === null) return this.complete(process, "fail", { error: "no_node_up" });
    const server = node.server!;
    const outcome = await this.withTimeout(server.readBarrier());
    // A read that observed nothing tells nothing: recorded as failed (Jepsen drops them).
    if (outcome === null || outcome.kind !== "ready") {
      return this.complete(process, "fail", { error: outcome?.kind ?? "client_timeout" });
    }
    // The node may have crashed since: a dead node answers nothing.
    if (node.server !== server) return this.complete(process, "fail", { error: "node_down" });
    let item: Item | undefined;
    try {
      const market = server.market();
      // Now and then by search, as GET /v1/items does with its query strings.
      item = market.getItem(sku);
      if (this.rng.nextFloat() < 0.2) {
        const query = validateSearchQuery({ q: sku, area: "sim", inStock: "false", limit: "20" });
        if (!query.ok) throw new Violation(`a sound search query was refused: ${query.message}`);
        item = market.searchItems(query.query).find((found) => found.sku === sku);
        for (const bad of [{ limit: "0" }, { inStock: "maybe" }, { q: ["a", "b"] }]) {
          if (validateSearchQuery(bad).ok) throw new Violation(`search accepted ${JSON.stringify(bad)}`);
        }
      }
    } catch (error) {
      // As the API does (error-middleware.ts): the node stops, the client hears 503.
      if (!(error instanceof StateStoreError)) throw error;
      server.storageFailed(error);
      return this.complete(process, "fail", { error: "unavailable" });
    }
    return this.complete(process, "ok", { stock: item?.stock ?? null });
  }

  private complete<T extends "ok" | "fail" | "info">(process: number, type: T, value: OpValue): T {
    this.lastError = typeof value.error === "string" ? value.error : null;
    this.recorder.complete(process, type, value);
    return type;
  }
}

/** Equal applied index must mean equal state: checked whenever a node's index moves. */
class HashSampler {
  private readonly byIndex = new Map<number, { hash: string; node: NodeId }>();
  private readonly lastIndex = new Map<NodeId, number>();

  constructor(private readonly cluster: ServerCluster) {}

  sample(): string | null {
    for (const node of this.cluster.nodes.values()) {
      const server = node.server;
      if (server === null) continue;
      const appliedIndex = server.brief().appliedIndex;
      if (this.lastIndex.get(node.id) === appliedIndex) continue;
      this.lastIndex.set(node.id, appliedIndex);
      const seen = this.byIndex.get(appliedIndex);
      const stateHash = server.stateHash();
      if (seen === undefined) {
        this.byIndex.set(appliedIndex, { hash: stateHash, node: node.id });
      } else if (seen.hash !== stateHash) {
        return `state hashes differ at applied index ${appliedIndex}: ${seen.node} ` +
          `${seen.hash.slice(0, 12)}, ${node.id} ${stateHash.slice(0, 12)}`;
      }
    }
    return null;
  }
}

async function livenessCheck(clock: SimClock, cluster: ServerCluster, workload: Workload,
  livenessMsMax: number, note: (line: string) => void,
  violation: () => string | null): Promise<void> {
  const deadlineMs = clock.nowMs() + livenessMsMax;
  let applied = false;
  const attempt = (): void => {
    if (applied || clock.nowMs() >= deadlineMs) return;
    const leader = cluster.leader();
    if (leader === null) {
      clock.schedule(null, 20, attempt);
      return;
    }
    void workload.livenessWrite(leader).then((type) => {
      if (type === "ok") {
        applied = true;
        note(`liveness write applied through ${leader.id}`);
      } else {
        clock.schedule(null, 20, attempt);
      }
    });
  };
  clock.schedule(null, 0, attempt);
  await clock.runUntil(deadlineMs, () => applied || violation() !== null);
  if (!applied && violation() === null) {
    throw new Violation(`liveness: no write applied within ${livenessMsMax} ms after the heal`);
  }
}

/**
 * The nodes that are up and members (voters or learners) of the configuration in force at the
 * leader: the ones the final checks hold to the cluster's state (a removed node that never
 * heard of its removal stays behind, rightly).
 */
function currentMembers(cluster: ServerCluster): ServerSimNode[] {
  const leader = cluster.leader();
  if (leader === null) return cluster.upNodes();
  const conf = confOfServer(leader.server!);
  const ids = new Set([...conf.voters, ...conf.learners, ...conf.votersOutgoing]);
  return cluster.upNodes().filter((node) => ids.has(node.id));
}

/** Runs until every node of `nodes()` has applied the same index, or the bound passes. */
async function waitForConvergence(clock: SimClock, nodes: () => ServerSimNode[],
  boundMs: number): Promise<void> {
  const converged = (): boolean => {
    const indexes = nodes().map((node) => node.server!.brief());
    return indexes.every((status) => status.appliedIndex === indexes[0]!.appliedIndex &&
      status.commitIndex === status.appliedIndex);
  };
  // Heartbeats carry the commit index to every follower; a few rounds suffice.
  let stable = 0;
  await clock.runUntil(clock.nowMs() + boundMs, () => {
    stable = converged() ? stable + 1 : 0;
    return stable > 50;
  });
}

/**
 * One seed in this many also rebuilds a node's state digest from its records at the end
 * (rebuiltDigestDiffers). It hashes every record again: on every node of every seed that cost
 * a fifth of the simulator's speed, and one node in every fourth seed still cost a few percent
 * (measured, single worker); in every twentieth, nothing measurable. Replicas update their
 * digests by the same code, so one node suffices: a planted drift (an item's old hash left in
 * now and then) fails seeds 7, 27, 47 and 67 here, where the replicas' hashes all agree (seed
 * 87 catches it by the replicas' hashes, as a node that installs a snapshot sums its digest anew).
 */
const digestRebuildEvery = 20;
/** Not 0: the seeds divisible by 10 run membership changes by default (seed-pool.ts). */
const digestRebuildResidue = 7;

/**
 * Seeds whose nodes run with incarnations, each published through the log (member-publisher.ts)
 * and applied and tracked by every node: those that leave 9 when divided by 10, and, of the
 * seeds with membership changes, those that leave 10 when divided by 20 (joiners publish too,
 * and an id once published is refused to a new member). Not every seed: the publications are
 * entries of their own and change every run they are in, and the regression seeds kept in the
 * tests (374, 14386, 25867; 123 and 3003 with membership changes), found before, would no
 * longer replay the runs that caught their bugs; none of them is among these.
 */
function publishesIncarnations(seed: number, withMembership: boolean): boolean {
  return seed % 10 === 9 || (withMembership && seed % 20 === 10);
}

/**
 * After the heal, with incarnations: every node of `nodes()` must come to hold every one's own
 * publication (a node publishes once it knows a leader, and again each second until applied).
 * A description of the first one missing after `boundMs`, else null.
 */
async function waitForPublications(clock: SimClock, nodes: () => ServerSimNode[],
  boundMs: number): Promise<string | null> {
  const missing = (): string | null => {
    const all = nodes();
    for (const holder of all) {
      const held = new Map(holder.server!.publishedMembers()
        .map((record) => [record.id, record.incarnation]));
      for (const member of all) {
        if (held.get(member.id) !== simIncarnationOf(member.id)) {
          return `${holder.id} does not hold ${member.id}'s published incarnation`;
        }
      }
    }
    return null;
  };
  if (missing() === null) return null;
  await clock.runUntil(clock.nowMs() + boundMs, () => missing() === null);
  const still = missing();
  return still === null ? null : `liveness: ${still} ${boundMs} ms after the final checks`;
}

function finalChecks(nodes: readonly ServerSimNode[], history: readonly HistoryOp[],
  workload: Workload, rebuildDigest: boolean): string | null {
  const replicas: ReplicaState[] = nodes.map((node) => {
    const status = node.server!.status();
    return { node: node.id, appliedIndex: status.appliedIndex, stateHash: status.stateHash };
  });
  const finalReads: FinalRead[] = nodes.flatMap((node) => skus.map((sku) => ({
    node: node.id, sku, stock: node.server!.market().getItem(sku)?.stock ?? null })));
  // Orders are read from a node whose disk no fault damaged (a damaged one may not have read
  // the damaged value yet: it would fail the read, as it must).
  const market = (nodes.find((node) => !node.damaged) ?? nodes[0]!).server!.market();
  const ordersFound = [...workload.acknowledgedOrders]
    .filter((orderId) => market.getOrder(orderId) !== undefined);
  // And on every node checked (a member added late holds them too, once caught up).
  for (const node of nodes) {
    if (node.damaged) continue;
    const missing = [...workload.acknowledgedOrders]
      .find((orderId) => node.server!.market().getOrder(orderId) === undefined);
    if (missing !== undefined) return `acknowledged order ${missing} missing on ${node.id}`;
  }
  if (rebuildDigest) {
    const node = nodes.find((candidate) => !candidate.damaged) ?? nodes[0]!;
    const differs = rebuiltDigestDiffers(node.id, node.server!.market());
    if (differs !== null) return differs;
  }
  const invariants = checkInvariants({ history, finalReads, replicas, ordersFound });
  if (!invariants.ok) {
    return `invariants: ${invariants.violations.map(describeViolation).join("; ")}`;
  }
  // Exactly once: each request applied at most once, so no two orders share a requestId.
  const requestIds = new Set<string>();
  for (let index = 1; index <= market.appliedIndex; index++) {
    const order = market.getOrder(orderIdForIndex(index));
    if (order === undefined) continue;
    if (requestIds.has(order.requestId)) return `request ${order.requestId} applied twice`;
    requestIds.add(order.requestId);
  }
  const linearizability = checkLinearizability(history, { stepsMaxPerItem: 2_000_000 });
  if (linearizability.linearizable === false) {
    const bad = linearizability.items.find((item) => item.linearizable === false);
    return `not linearizable: ${bad === undefined || bad.linearizable !== false ? "?"
      : `${bad.sku}: ${bad.explanation.message}`}`;
  }
  return null;
}

/**
 * The incremental state digest (state-digest.ts: one hash added or removed per record written,
 * since the node's last snapshot install, which sums it anew, across its crashes and restarts,
 * which read it back as stored) against one summed from scratch: `market`'s records exported
 * whole and restored into a fresh store, as migrating a folder does. Equal replicas with a
 * digest drifting the same way would pass the per-index hash comparison; this catches that.
 * A description when they differ, else null.
 */
export function rebuiltDigestDiffers(id: string, market: MarketStateMachine): string | null {
  const rebuilt = MarketStateMachine.restore(market.snapshot());
  if (rebuilt.appliedIndex !== market.appliedIndex || rebuilt.stateHash() !== market.stateHash()) {
    return `state digest of ${id} at applied index ${market.appliedIndex} differs from the ` +
      `one rebuilt from its records: ${market.stateHash().slice(0, 12)} against ` +
      `${rebuilt.stateHash().slice(0, 12)}`;
  }
  return null;
}

function countTypes(history: readonly HistoryOp[]): { ok: number; fail: number; info: number } {
  const counts = { ok: 0, fail: 0, info: 0 };
  for (const op of history) if (op.type !== "invoke") counts[op.type]++;
  return counts;
}
