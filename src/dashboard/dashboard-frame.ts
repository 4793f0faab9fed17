/**
 * What the live view's server pushes to the page (Server-Sent Events, one `frame` event every
 * 200 ms by default: cluster-watcher.ts), shared by the server (src/dashboard/) and the page
 * (src/dashboard/web/). Types only, so the browser bundle imports nothing of the server.
 *
 * A frame carries the whole current state of the nodes, and only what is new of the two
 * growing series: timeline events and metric samples. The first frame a page gets carries the
 * backlog the server holds (the last few hundred events and a few minutes of samples).
 */

/** The link rules of wire/link-rules.ts, as /admin/faults serves them. */
export interface LinkRuleView {
  readonly from?: string;
  readonly to?: string;
  readonly drop?: boolean;
  readonly dropRate?: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly duplicateRate?: number;
}

export interface ProgressView {
  readonly match: number;
  readonly next: number;
  readonly state: string;
  readonly inflight?: number;
  readonly recentActive?: boolean;
}

/** GET /v1/cluster/status as the page reads it (docs/DESIGN.md §3 and its extensions). */
export interface NodeStatusView {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly members: readonly string[];
  readonly vote?: string | null;
  readonly lastLogTerm?: number;
  readonly progress?: Readonly<Record<string, ProgressView>>;
  readonly electionElapsedTicks?: number;
  readonly electionTimeoutTicks?: number;
}

export interface LogEntryView {
  readonly index: number;
  readonly term: number;
  readonly kind: string;
}

/** GET /v1/cluster/log. */
export interface LogTailView {
  readonly commitIndex: number;
  readonly lastLogIndex: number;
  readonly compactedIndex: number;
  readonly entries: readonly LogEntryView[];
}

/** running: answers; paused (SIGSTOP) and down are known only to the launcher. */
export type ProcessState = "running" | "paused" | "down" | "unknown";

export interface NodeView {
  readonly id: string;
  readonly url: string;
  readonly process: ProcessState;
  readonly pid: number | null;
  /**
   * The launcher runs this node's process, so its process actions act on it; false for a node
   * started by hand (added with member add), and everywhere under a node's /ui.
   */
  readonly managed: boolean;
  /** null: the node did not answer (see `error`). */
  readonly status: NodeStatusView | null;
  readonly error: string | null;
  /** When the node last answered (ms since the epoch), or null if never. */
  readonly answeredMs: number | null;
  readonly log: LogTailView | null;
  /** The node's link rules; null when not known (no admin token, or no answer). */
  readonly faults: readonly LinkRuleView[] | null;
  /** Leader only: ms since each follower's match index last moved or it was last active. */
  readonly followerContactAgeMs: Readonly<Record<string, number>>;
}

export type TimelineSource = "raft" | "action" | "process" | "faults";

export interface TimelineEvent {
  /** Increases by one per event the server recorded. */
  readonly seq: number;
  readonly timeMs: number;
  readonly source: TimelineSource;
  /** The node it happened on (a Raft event) or to (an action), if any. */
  readonly node: string | null;
  readonly kind: string;
  readonly term: number | null;
  readonly message: string;
}

/** One node's rates over the last sample interval. null: not known (no answer, no data). */
export interface NodeRates {
  readonly writesPerSecond: number | null;
  readonly readsPerSecond: number | null;
  readonly writeP50Ms: number | null;
  readonly writeP99Ms: number | null;
  readonly fsyncP99Ms: number | null;
  readonly eventLoopDelayP99Ms: number | null;
  /** Peer messages sent per second, by target (what leaves on the wire: a cut link sends 0). */
  readonly messagesPerSecondTo: Readonly<Record<string, number>>;
}

export interface WorkloadRates {
  readonly ordersPerSecond: number;
  readonly errorsPerSecond: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface MetricsSample {
  readonly timeMs: number;
  readonly nodes: Readonly<Record<string, NodeRates>>;
  /** The built-in workload's own view (the launcher only), while it runs. */
  readonly workload: WorkloadRates | null;
}

export interface WorkloadView {
  readonly running: boolean;
  readonly clients: number;
  readonly ordersOk: number;
  readonly ordersFailed: number;
  readonly sku: string;
}

export type DashboardMode = "launcher" | "node";

export interface DashboardFrame {
  readonly timeMs: number;
  readonly mode: DashboardMode;
  /** Node ids in cluster file order. */
  readonly ids: readonly string[];
  readonly tickIntervalMs: number;
  readonly nodes: readonly NodeView[];
  readonly events: readonly TimelineEvent[];
  readonly samples: readonly MetricsSample[];
  readonly workload: WorkloadView | null;
}

/** The actions the page can ask for (POST /ui/actions); the server validates every field. */
export type DashboardAction =
  | { readonly action: "kill" | "restart" | "pause" | "resume"; readonly node: string }
  | { readonly action: "cut" | "heal-link"; readonly from: string; readonly to: string }
  | { readonly action: "isolate"; readonly node: string }
  | { readonly action: "isolate-leader" | "split" | "heal" }
  | { readonly action: "transfer"; readonly target?: string }
  /** Membership (member promote / remove), asked of the leader through the admin API. */
  | { readonly action: "member-promote" | "member-remove"; readonly node: string }
  /** A new learner: the launcher picks its id and addresses and starts its process. */
  | { readonly action: "member-add" }
  | { readonly action: "workload-start"; readonly clients?: number }
  | { readonly action: "workload-stop" };

/** What the page learns at load (GET /ui/info): which actions this server offers. */
export interface DashboardInfo {
  readonly mode: DashboardMode;
  /** Actions offered without a token (launcher), or only with the admin token (a node). */
  readonly actions: readonly string[];
  readonly tokenRequired: boolean;
}
