/**
 * The live view's server side: while at least one page is watching, it reads every node's
 * status, log tail and new Raft events (one GET /v1/cluster/overview) every `intervalMs`
 * (200 ms by default: five frames a second, the rate issue 14 asks of the live view), the
 * counters its charts plot every second (GET /v1/cluster/counters), and, with the admin token,
 * its link rules; it keeps a bounded timeline (Raft events, actions, process changes) and a
 * bounded series of metric samples, and hands each watcher one frame per interval
 * (dashboard-frame.ts). With no page open it reads
 * nothing, so an unwatched cluster pays nothing for it.
 *
 * A frame goes out once the reads of its round are in (or after `frameWaitMsMax`, whichever
 * comes first), so that it shows the cluster as of that round, not as of the round before.
 *
 * Why the rate is an option: on a machine where the nodes use every core, each frame a browser
 * draws is taken from them. Measured with `npm run bench -- dashboard` (2026-11-29, 64
 * clients, headless chromium): chromium took 7.0-7.8% of a core at five frames a second,
 * 3.8-4.8% at two, 2.7-3.7% at one, and about 1% holding a blank page. Fewer frames are one
 * option away (`npm run cluster -- --dashboard-frame-ms 500`).
 *
 * Each node is read on its own: a paused node's requests time out (after `requestTimeoutMs`)
 * without holding back the frames, and at most one read of each kind per node is in flight.
 */
import { NodeHttpClient, type NodeAnswer } from "../cluster/admin-client.js";
import { memberUrlProblem } from "../node/member-addresses.js";
import { nodeIdPattern } from "../raft/index.js";
import type {
  DashboardFrame,
  DashboardMode,
  LinkRuleView,
  LogTailView,
  MetricsSample,
  NodeRates,
  NodeStatusView,
  ProcessState,
  TimelineEvent,
  TimelineSource,
  WorkloadRates,
  WorkloadView,
} from "./dashboard-frame.js";
import { describeRule } from "../cluster/partitions.js";
import { seriesBounds } from "./frame-merge.js";
import { parseChartCounters } from "../wire/chart-counters.js";
import { ratesBetween, readingOf, readMetrics, type MetricsReading } from "./metrics-rates.js";

export interface WatchedNode {
  readonly id: string;
  readonly url: string;
}

export interface ClusterWatcherOptions {
  readonly mode: DashboardMode;
  readonly nodes: readonly WatchedNode[];
  readonly tickIntervalMs: number;
  /** The CA of a TLS cluster (PEM), else null. */
  readonly ca: string | null;
  /** With it, the watcher reads each node's link rules (GET /admin/faults). */
  readonly adminToken?: string | null;
  /** The launcher's knowledge of its processes. */
  readonly processes?: () => ReadonlyMap<string, { process: ProcessState; pid: number | null }>;
  /** The built-in workload, if there is one: its state, and its rates since the last take. */
  readonly workload?: { view(): WorkloadView; takeRates(): WorkloadRates | null };
  readonly intervalMs?: number;
  readonly metricsIntervalMs?: number;
  readonly requestTimeoutMs?: number;
}

export const clusterWatcherDefaults = {
  intervalMs: 200,
  /** Bounds on `intervalMs` (the launcher's --dashboard-frame-ms). */
  intervalMsMin: 100,
  intervalMsMax: 5000,
  metricsIntervalMs: 1000,
  requestTimeoutMs: 1000,
  /** Timeline events kept (the first frame of a page carries them all; the page keeps as many). */
  timelineEventsMax: seriesBounds.eventsMax,
  /** Metric samples kept (the same). */
  samplesMax: seriesBounds.samplesMax,
  /** Entries of each node's log tail. */
  logEntries: 24,
  /** Raft events asked for in one read (a node's ring holds 1,000). */
  eventsPageLimit: 1000,
} as const;

/** Returns false when it did not take the frame (a slow reader): its news wait for the next. */
type FrameListener = (frame: DashboardFrame) => boolean;

interface Watcher {
  readonly listener: FrameListener;
  eventSeq: number;
  sampleTimeMs: number;
}

interface NodeState {
  readonly node: WatchedNode;
  readonly client: NodeHttpClient;
  readonly adminClient: NodeHttpClient | null;
  status: NodeStatusView | null;
  error: string | null;
  answeredMs: number | null;
  log: LogTailView | null;
  faults: LinkRuleView[] | null;
  eventsAfter: number;
  /**
   * Whether the node serves GET /v1/cluster/overview (status, log tail and events in one
   * answer): unknown until it answers; false for an older node, read with the three routes. A
   * node that stops answering is asked again once it is back (it may have been upgraded).
   */
  overview: boolean | undefined;
  /**
   * Whether the node serves GET /v1/cluster/counters (false: its /metrics text is read);
   * asked again after a counters request that got no answer, or once the node is seen to
   * restart.
   */
  counters: boolean | undefined;
  reading: Set<string>;
  metrics: MetricsReading | undefined;
  /** The time of the reading whose rates the last sample took. */
  sampledMetricsMs: number | undefined;
  rates: NodeRates | null;
  /** Leader: when each follower was last seen active or its match moved, and that match. */
  contact: Map<string, { match: number; timeMs: number }>;
}

/**
 * The longest a round's frame waits for its reads (a node that does not answer takes up to
 * requestTimeoutMs): the others' news still goes out on time.
 */
const frameWaitMsMax = 300;

/** At most this many nodes watched, the cluster file's and those learned (learnMembers). */
const watchedNodesMax = 16;

export class ClusterWatcher {
  private readonly nodes: NodeState[];
  private readonly watchers = new Set<Watcher>();
  private readonly timeline: TimelineEvent[] = [];
  private readonly samples: MetricsSample[] = [];
  private timelineSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastMetricsMs = 0;
  /** Whether a round's frame is still waiting for its reads: the next round then waits. */
  private frameDue = false;
  private readonly intervalMs: number;
  private readonly metricsIntervalMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: ClusterWatcherOptions) {
    this.intervalMs = options.intervalMs ?? clusterWatcherDefaults.intervalMs;
    if (!(Number.isInteger(this.intervalMs) &&
      this.intervalMs >= clusterWatcherDefaults.intervalMsMin &&
      this.intervalMs <= clusterWatcherDefaults.intervalMsMax)) {
      throw new RangeError(`intervalMs ${this.intervalMs} is not whole milliseconds from ` +
        `${clusterWatcherDefaults.intervalMsMin} to ${clusterWatcherDefaults.intervalMsMax}`);
    }
    this.metricsIntervalMs = options.metricsIntervalMs ?? clusterWatcherDefaults.metricsIntervalMs;
    this.requestTimeoutMs = options.requestTimeoutMs ?? clusterWatcherDefaults.requestTimeoutMs;
    this.nodes = options.nodes.map((node) => this.nodeState(node));
  }

  private nodeState(node: WatchedNode): NodeState {
    const token = this.options.adminToken ?? null;
    return {
      node,
      client: new NodeHttpClient(node.url, this.requestTimeoutMs, undefined, this.options.ca),
      adminClient: token === null ? null
        : new NodeHttpClient(node.url, this.requestTimeoutMs, token, this.options.ca),
      status: null, error: null, answeredMs: null, log: null, faults: null, eventsAfter: 0,
      overview: undefined, counters: undefined, reading: new Set(), metrics: undefined,
      sampledMetricsMs: undefined, rates: null, contact: new Map(),
    };
  }

  get ids(): string[] {
    return this.nodes.map((state) => state.node.id);
  }

  /** The latest status of every node that answered, by id. */
  statuses(): Map<string, NodeStatusView> {
    return new Map(this.nodes.flatMap((state) => state.status === null ? []
      : [[state.node.id, state.status] as const]));
  }

  /** The leader of the highest term among the latest statuses, or null. */
  leader(): string | null {
    let best: NodeStatusView | null = null;
    for (const status of this.statuses().values()) {
      if (status.role === "leader" && (best === null || status.term > best.term)) best = status;
    }
    return best?.id ?? null;
  }

  /** The latest link rules of every node (null: not known). */
  faults(): Map<string, readonly LinkRuleView[] | null> {
    return new Map(this.nodes.map((state) => [state.node.id, state.faults]));
  }

  /** Adds an event of the server's own (an action, a process change) to the timeline. */
  record(source: TimelineSource, node: string | null, kind: string, message: string): void {
    const term = node === null ? this.statuses().get(this.leader() ?? "")?.term ?? null
      : this.statuses().get(node)?.term ?? null;
    this.push({ seq: 0, timeMs: Date.now(), source, node, kind, term, message });
  }

  /** Starts sending `listener` frames (the first with the backlog); returns the unsubscribe. */
  watch(listener: FrameListener): () => void {
    const watcher: Watcher = { listener, eventSeq: 0, sampleTimeMs: 0 };
    this.watchers.add(watcher);
    if (this.timer === null) {
      this.timer = setInterval(() => this.round(), this.intervalMs);
      this.round();
    } else {
      this.send(watcher, Date.now());
    }
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.pause();
    };
  }

  /** A frame now, without starting to read (for GET /ui/frame and tests). */
  frame(): DashboardFrame {
    return this.frameFor({ listener: () => true, eventSeq: 0, sampleTimeMs: 0 }, Date.now());
  }

  close(): void {
    this.watchers.clear();
    this.pause();
    for (const state of this.nodes) {
      state.client.close();
      state.adminClient?.close();
    }
  }

  private pause(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private round(): void {
    // A frame is still waiting for its reads (the view was paused and watched again within
    // the wait): that round's frame goes out, and this round is skipped.
    if (this.frameDue) return;
    const nowMs = Date.now();
    const metricsDue = nowMs - this.lastMetricsMs >= this.metricsIntervalMs;
    if (metricsDue) this.lastMetricsMs = nowMs;
    const reads: Promise<void>[] = [];
    for (const state of this.nodes) {
      reads.push(this.read(state, "node", () => this.readNode(state)));
      if (metricsDue) {
        reads.push(this.read(state, "metrics", () => this.readMetrics(state)));
        if (state.adminClient !== null) {
          reads.push(this.read(state, "faults", () => this.readFaults(state)));
        }
      }
    }
    this.frameDue = true;
    let waitTimer: NodeJS.Timeout | null = null;
    const waited = new Promise<void>((resolve) => {
      waitTimer = setTimeout(resolve, Math.min(this.intervalMs * 0.8, frameWaitMsMax));
    });
    void Promise.race([Promise.all(reads), waited]).then(() => {
      if (waitTimer !== null) clearTimeout(waitTimer);
      this.frameDue = false;
      // Paused meanwhile (the last page went): no frame, and no sample either.
      if (this.timer === null) return;
      const sentMs = Date.now();
      if (metricsDue) this.takeSample(sentMs);
      for (const watcher of this.watchers) this.send(watcher, sentMs);
    });
  }

  /**
   * Runs `read` unless a read of that kind of that node is still in flight; the promise settles
   * when it ends (at once when it did not start), and never rejects.
   */
  private read(state: NodeState, kind: string, read: () => Promise<void>): Promise<void> {
    if (state.reading.has(kind)) return Promise.resolve();
    state.reading.add(kind);
    return read().catch(() => undefined).finally(() => state.reading.delete(kind));
  }

  /**
   * The node's status, log tail and new events: one GET /v1/cluster/overview, or the three
   * routes it combines when the node is older than it.
   */
  private async readNode(state: NodeState): Promise<void> {
    if (state.overview !== false) {
      const answer = await state.client.request("GET", "/v1/cluster/overview?logLimit=" +
        `${clusterWatcherDefaults.logEntries}&eventsAfter=${state.eventsAfter}&eventsLimit=` +
        `${clusterWatcherDefaults.eventsPageLimit}`);
      if (answer.kind === "answer" && answer.status === 404) {
        state.overview = false;
      } else {
        if (answer.kind === "noAnswer") state.overview = undefined;
        else if (answer.status === 200) state.overview = true;
        // Each part as its own route would have answered: a 200 whose part is missing or not
        // an object is no answer for that part (never data taken on trust).
        const part = (name: "status" | "log" | "events"): NodeAnswer => {
          if (answer.kind !== "answer" || answer.status !== 200) return answer;
          const body = answer.body;
          const value = typeof body === "object" && body !== null
            ? (body as Record<string, unknown>)[name] : undefined;
          return typeof value === "object" && value !== null
            ? { kind: "answer", status: 200, body: value }
            : { kind: "noAnswer", code: `an overview without its ${name}` };
        };
        this.takeStatus(state, part("status"), part("log"));
        this.takeEvents(state, part("events"));
        return;
      }
    }
    const [status, log, events] = await Promise.all([
      state.client.request("GET", "/v1/cluster/status"),
      state.client.request("GET", `/v1/cluster/log?limit=${clusterWatcherDefaults.logEntries}`),
      state.client.request("GET", `/v1/cluster/events?after=${state.eventsAfter}&limit=` +
        `${clusterWatcherDefaults.eventsPageLimit}`)]);
    if (status.kind === "noAnswer") state.overview = undefined;
    this.takeStatus(state, status, log);
    this.takeEvents(state, events);
  }

  private takeStatus(state: NodeState, status: NodeAnswer, log: NodeAnswer): void {
    if (status.kind !== "answer" || status.status !== 200 || typeof status.body !== "object" ||
      status.body === null) {
      state.status = null;
      state.error = status.kind === "noAnswer" ? status.code === "timeout"
        ? `no answer within ${this.requestTimeoutMs} ms` : status.code
        : status.status === 200 ? "answered a status that is not an object"
        : `answered ${status.status}`;
      return;
    }
    const nowMs = Date.now();
    state.status = status.body as NodeStatusView;
    state.error = null;
    state.answeredMs = nowMs;
    // An older node has no log route: the log stays unknown.
    state.log = log.kind === "answer" && log.status === 200 && typeof log.body === "object" &&
      log.body !== null ? log.body as LogTailView : null;
    this.trackContact(state, nowMs);
    if (state.status.role === "leader") this.learnMembers(state.status);
  }

  /**
   * Members the leader names that this view does not watch yet (added with member add after
   * the cluster file was written, or from the launcher's page): watched from now on. The
   * launcher's process actions act on them only if it started them. Bounded.
   */
  private learnMembers(status: NodeStatusView): void {
    const urls = (status as { clientUrls?: Record<string, unknown> }).clientUrls ?? {};
    for (const [id, url] of Object.entries(urls)) {
      if (this.nodes.length >= watchedNodesMax || typeof url !== "string" ||
        this.nodes.some((known) => known.node.id === id) || memberUrlProblem(url) !== null ||
        !nodeIdPattern.test(id)) {
        continue;
      }
      this.nodes.push(this.nodeState({ id, url }));
      this.record("process", id, "joined", `${id} joined the cluster (${url}): watched from now on`);
    }
  }

  private trackContact(state: NodeState, nowMs: number): void {
    const progress = state.status?.role === "leader" ? state.status.progress ?? {} : {};
    for (const [id, follower] of Object.entries(progress)) {
      if (id === state.node.id) continue;
      const seen = state.contact.get(id);
      if (seen === undefined || follower.recentActive === true || follower.match !== seen.match) {
        state.contact.set(id, { match: follower.match, timeMs: nowMs });
      }
    }
    for (const id of state.contact.keys()) if (!(id in progress)) state.contact.delete(id);
  }

  private takeEvents(state: NodeState, answer: NodeAnswer): void {
    if (answer.kind !== "answer" || answer.status !== 200) return;
    const page = answer.body as { events?: unknown; lastSeq?: unknown };
    if (!Array.isArray(page.events) || typeof page.lastSeq !== "number") return;
    // A restarted node counts from 1 again: read it from its start.
    if (page.lastSeq < state.eventsAfter) {
      state.eventsAfter = 0;
      // Perhaps a newer version now: asked for the overview and the counters again.
      state.overview = undefined;
      state.counters = undefined;
      this.record("process", state.node.id, "restarted", `${state.node.id} restarted (its ` +
        "Raft events count from 1 again)");
      return;
    }
    for (const raw of page.events as Record<string, unknown>[]) {
      const seq = typeof raw.seq === "number" ? raw.seq : 0;
      state.eventsAfter = Math.max(state.eventsAfter, seq);
      this.push({ seq: 0, timeMs: typeof raw.timeMs === "number" ? raw.timeMs : Date.now(),
        source: "raft", node: state.node.id, kind: String(raw.kind ?? "event"),
        term: typeof raw.term === "number" ? raw.term : null,
        message: String(raw.message ?? raw.kind ?? "") });
    }
  }

  /**
   * The node's chart counters: GET /v1/cluster/counters, or its /metrics text when it is older
   * than that route.
   */
  private async readMetrics(state: NodeState): Promise<void> {
    let reading: MetricsReading | null = null;
    // The text when the node has no counters route (404), or answered it with something else
    // (a 200 that is not counters, a 5xx: the text is asked this time, the route again next).
    let fromText = state.counters === false;
    if (!fromText) {
      const answer = await state.client.request("GET", "/v1/cluster/counters");
      const counters = answer.kind === "answer" && answer.status === 200
        ? parseChartCounters(answer.body) : null;
      if (counters !== null) reading = readingOf(counters, Date.now());
      state.counters = counters !== null ? true
        : answer.kind === "answer" && answer.status === 404 ? false : undefined;
      fromText = answer.kind === "answer" && counters === null;
    }
    if (fromText) {
      const answer = await state.client.request("GET", "/metrics");
      if (answer.kind === "answer" && answer.status === 200 && typeof answer.body === "string") {
        reading = readMetrics(answer.body, Date.now());
      }
    }
    if (reading === null) {
      state.rates = null;
      return;
    }
    state.rates = ratesBetween(state.metrics, reading);
    state.metrics = reading;
  }

  private async readFaults(state: NodeState): Promise<void> {
    const answer = await state.adminClient!.request("GET", "/admin/faults");
    const rules = (answer.kind === "answer" && answer.status === 200
      ? (answer.body as { rules?: unknown }).rules : undefined);
    if (!Array.isArray(rules)) {
      state.faults = null;
      return;
    }
    // Rules changed by anyone (this page, another, npm run partition) go on the timeline.
    const previous = state.faults;
    state.faults = rules as LinkRuleView[];
    if (previous !== null && JSON.stringify(previous) !== JSON.stringify(rules)) {
      this.record("faults", state.node.id, "faultsChanged", rules.length === 0
        ? `${state.node.id} holds no link rule now`
        : `${state.node.id} holds ${rules.length} link rule${rules.length === 1 ? "" : "s"}: ` +
          (rules as LinkRuleView[]).map(describeRule).join("; "));
    }
  }

  /**
   * A sample of every node's rates from a reading not sampled before: a node whose counters
   * (or, for an older node, /metrics) answered too late for this frame is left out of it (a
   * gap in its line), not repeated.
   */
  private takeSample(nowMs: number): void {
    const nodes: Record<string, NodeRates> = {};
    for (const state of this.nodes) {
      const readMs = state.metrics?.timeMs;
      if (state.rates === null || readMs === undefined || readMs === state.sampledMetricsMs) {
        continue;
      }
      nodes[state.node.id] = state.rates;
      state.sampledMetricsMs = readMs;
    }
    const workload = this.options.workload?.takeRates() ?? null;
    // Strictly increasing: a page asks for the samples after the last time it has.
    const timeMs = Math.max(nowMs, (this.samples.at(-1)?.timeMs ?? 0) + 1);
    this.samples.push({ timeMs, nodes, workload });
    if (this.samples.length > clusterWatcherDefaults.samplesMax) this.samples.shift();
  }

  private push(event: TimelineEvent): void {
    this.timeline.push({ ...event, seq: ++this.timelineSeq });
    if (this.timeline.length > clusterWatcherDefaults.timelineEventsMax) this.timeline.shift();
  }

  private send(watcher: Watcher, nowMs: number): void {
    const frame = this.frameFor(watcher, nowMs);
    if (!watcher.listener(frame)) return;
    watcher.eventSeq = this.timelineSeq;
    watcher.sampleTimeMs = this.samples.at(-1)?.timeMs ?? watcher.sampleTimeMs;
  }

  private frameFor(watcher: Watcher, nowMs: number): DashboardFrame {
    const processes = this.options.processes?.() ?? new Map();
    const workload = this.options.workload?.view() ?? null;
    return {
      timeMs: nowMs,
      mode: this.options.mode,
      ids: this.ids,
      tickIntervalMs: this.options.tickIntervalMs,
      nodes: this.nodes.map((state) => {
        const known = processes.get(state.node.id);
        return {
          id: state.node.id,
          url: state.node.url,
          process: known?.process ?? (state.status !== null ? "running" : "unknown"),
          pid: known?.pid ?? null,
          managed: known !== undefined,
          status: state.status,
          error: state.error,
          answeredMs: state.answeredMs,
          log: state.log,
          faults: state.faults,
          // As of the leader's status shown (a late read must not age a healthy follower).
          followerContactAgeMs: Object.fromEntries([...state.contact].map(([id, seen]) =>
            [id, (state.answeredMs ?? nowMs) - seen.timeMs])),
        };
      }),
      events: this.timeline.filter((event) => event.seq > watcher.eventSeq),
      samples: this.samples.filter((each) => each.timeMs > watcher.sampleTimeMs),
      workload,
    };
  }
}
