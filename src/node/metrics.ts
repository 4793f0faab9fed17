import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Role } from "../raft/index.js";
import { EventLoopDelayMonitor } from "./event-loop-delay.js";

/**
 * The node's Prometheus metrics (served at GET /metrics): where it is in the protocol (term,
 * role, indexes), what it did (proposals by outcome, elections, leader changes) and how long
 * the two costs that matter took (commit latency, fsync latency), and how long the event loop
 * stalled (a stall longer than the election timeout looks like a dead leader to a follower).
 */
/** Where the node stands in the protocol: read when /metrics is scraped. */
const roles = ["follower", "preCandidate", "candidate", "leader"] as const satisfies
  readonly Role[];

export interface RaftGaugeValues {
  readonly term: number;
  readonly role: Role;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly term: Gauge;
  readonly role: Gauge<"role">;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly lastLogIndex: Gauge;
  readonly proposals: Counter<"outcome">;
  readonly elections: Counter;
  readonly leaderChanges: Counter;
  readonly commitLatencySeconds: Histogram;
  readonly fsyncLatencySeconds: Histogram;
  readonly entriesPerSync: Histogram;
  /** Peer messages the core dropped as impossible (Ready.violations). `from` is a configured
   * node id or "unknown", and `reason` one of violationReasons: the label sets stay bounded. */
  readonly protocolViolations: Counter<"from" | "reason">;
  /** Event-loop delay gauges; sampling runs only between eventLoop.start() and stop(). */
  readonly eventLoop: EventLoopDelayMonitor;
  /** Read at each scrape rather than set on each pass of the ready loop: a scrape is rare. */
  private raftState: (() => RaftGaugeValues) | null = null;

  constructor(nodeId: string,
    options: { processMetrics?: boolean; eventLoopWindowMs?: number } = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    // Each gauge reads the node's state when collected (prom-client calls collect() per scrape).
    const readState = (): RaftGaugeValues | undefined => this.raftState?.();
    const gauge = (name: string, help: string,
      value: (state: RaftGaugeValues) => number): Gauge => {
      return new Gauge({ name, help, registers, collect() {
        const state = readState();
        if (state !== undefined) this.set(value(state));
      } });
    };
    this.term = gauge("raft_term", "Current Raft term", (state) => state.term);
    this.commitIndex = gauge("raft_commit_index", "Commit index", (state) => state.commitIndex);
    this.appliedIndex = gauge("raft_applied_index", "Applied index",
      (state) => state.appliedIndex);
    this.lastLogIndex = gauge("raft_last_log_index", "Last log index",
      (state) => state.lastLogIndex);
    this.role = new Gauge({ name: "raft_role", help: "1 for the role this node holds",
      labelNames: ["role"], registers, collect() {
        const state = readState();
        if (state === undefined) return;
        for (const each of roles) this.set({ role: each }, each === state.role ? 1 : 0);
      } });
    this.proposals = new Counter({ name: "raft_proposals_total",
      help: "Write proposals by outcome", labelNames: ["outcome"], registers });
    this.elections = new Counter({ name: "raft_elections_total",
      help: "Elections this node started (as candidate)", registers });
    this.leaderChanges = new Counter({ name: "raft_leader_changes_total",
      help: "Times the known leader changed", registers });
    this.commitLatencySeconds = new Histogram({ name: "raft_commit_latency_seconds",
      help: "From proposal to applied on the leader", registers,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
    this.fsyncLatencySeconds = new Histogram({ name: "raft_fsync_latency_seconds",
      help: "One group-commit write and fdatasync, as the loop sees it: it also waits for " +
        "the committed entries applied while the fdatasync runs", registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1] });
    this.entriesPerSync = new Histogram({ name: "raft_entries_per_sync",
      help: "Entries made durable by one fdatasync (group commit)", registers,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024] });
    this.protocolViolations = new Counter({ name: "raft_protocol_violations_total",
      help: "Peer messages dropped as impossible, by sender and reason",
      labelNames: ["from", "reason"], registers });
    this.eventLoop = new EventLoopDelayMonitor(this.registry, options.eventLoopWindowMs);
  }

  /** Reports `read()` in the term, role and index gauges, from now on. */
  observeRaftState(read: () => RaftGaugeValues): void {
    this.raftState = read;
  }
}
