import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Role } from "../raft/index.js";
import { EventLoopDelayMonitor } from "./event-loop-delay.js";

/**
 * The node's Prometheus metrics (served at GET /metrics): where it is in the protocol (term,
 * role, indexes), what it did (proposals by outcome, elections, leader changes) and how long
 * the two costs that matter took (commit latency, fsync latency), and how long the event loop
 * stalled (a stall longer than the election timeout looks like a dead leader to a follower).
 */
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

  constructor(nodeId: string,
    options: { processMetrics?: boolean; eventLoopWindowMs?: number } = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.term = new Gauge({ name: "raft_term", help: "Current Raft term", registers });
    this.role = new Gauge({ name: "raft_role", help: "1 for the role this node holds",
      labelNames: ["role"], registers });
    this.commitIndex = new Gauge({ name: "raft_commit_index", help: "Commit index", registers });
    this.appliedIndex = new Gauge({ name: "raft_applied_index", help: "Applied index",
      registers });
    this.lastLogIndex = new Gauge({ name: "raft_last_log_index", help: "Last log index",
      registers });
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
      help: "One group-commit write and fdatasync", registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1] });
    this.entriesPerSync = new Histogram({ name: "raft_entries_per_sync",
      help: "Entries made durable by one fdatasync (group commit)", registers,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024] });
    this.protocolViolations = new Counter({ name: "raft_protocol_violations_total",
      help: "Peer messages dropped as impossible, by sender and reason",
      labelNames: ["from", "reason"], registers });
    this.eventLoop = new EventLoopDelayMonitor(this.registry, options.eventLoopWindowMs);
  }

  setRole(role: Role): void {
    for (const each of ["follower", "preCandidate", "candidate", "leader"] as const) {
      this.role.set({ role: each }, each === role ? 1 : 0);
    }
  }
}
