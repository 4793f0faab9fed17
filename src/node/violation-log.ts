import type { Logger } from "pino";
import type { NodeId, ProtocolViolation } from "../raft/index.js";
import type { NodeMetrics } from "./metrics.js";

/** One log line per sender and reason at most this often; the rest are counted. */
export const violationLogIntervalMs = 10_000;

/** Characters of a peer-chosen string (a sender id, a detail) that reach the log. */
const peerTextMax = 200;

export interface ViolationLogOptions {
  readonly logger: Pick<Logger, "warn">;
  readonly metrics: NodeMetrics;
  /** The configured nodes: any other sender is labelled "unknown" in the metric. */
  readonly peers: ReadonlySet<NodeId>;
  /** A monotonic clock. */
  readonly nowMs: () => number;
}

/**
 * Reports the protocol violations of each Ready (src/raft/violation.ts): every one is counted
 * in raft_protocol_violations_total, and logged at warn, but at most one line per sender and
 * reason every violationLogIntervalMs, carrying the count of those suppressed since the last
 * line. A hostile or broken peer can send thousands of bad messages a second; it must not be
 * able to flood the log, nor grow the metric's label sets or this class's memory (both are
 * keyed by configured sender or "unknown", times the fixed set of reasons).
 */
export class ViolationLog {
  private readonly lastLines = new Map<string, { atMs: number; suppressedCount: number }>();

  constructor(private readonly options: ViolationLogOptions) {}

  report(violations: readonly ProtocolViolation[]): void {
    for (const violation of violations) this.reportOne(violation);
  }

  private reportOne(violation: ProtocolViolation): void {
    const { metrics, logger, peers, nowMs } = this.options;
    const sender = peers.has(violation.from) ? violation.from : "unknown";
    metrics.protocolViolations.inc({ from: sender, reason: violation.reason });
    const key = `${sender}\u0000${violation.reason}`;
    const nowValueMs = nowMs();
    const last = this.lastLines.get(key);
    if (last !== undefined && nowValueMs - last.atMs < violationLogIntervalMs) {
      last.suppressedCount++;
      return;
    }
    logger.warn({
      from: violation.from.slice(0, peerTextMax),
      type: violation.type,
      reason: violation.reason,
      detail: violation.detail.slice(0, peerTextMax),
      suppressedCount: last?.suppressedCount ?? 0,
    }, "protocol violation: dropped an impossible message from a peer");
    this.lastLines.set(key, { atMs: nowValueMs, suppressedCount: 0 });
  }
}
