import type { NodeId } from "../raft/index.js";

/**
 * Counters a transport keeps for metrics (node/ exports them through prom-client). Every count
 * is cumulative since the transport was built, except `messagesQueued` and `requestsInflight`,
 * which are gauges. A "batch" is one delivery unit: one HTTP POST for HttpTransport, one
 * handler call for MemoryTransport.
 */
export interface PeerStats {
  /** Messages the peer accepted (HTTP: in a POST it answered 204). */
  readonly messagesSent: number;
  /** Messages that arrived from the peer. */
  readonly messagesReceived: number;
  /** Messages for the peer lost here: queue overflow, peer down, failed or timed-out request. */
  readonly messagesDropped: number;
  readonly batchesSent: number;
  /** Requests to the peer that failed: refused, timed out, or answered with a non-204 status. */
  readonly requestErrors: number;
  readonly messagesQueued: number;
  readonly requestsInflight: number;
}

export interface TransportStats {
  /** Sums over `peers`, plus, for drops, messages addressed to no known peer. */
  readonly messagesSent: number;
  /** Every accepted incoming message, including those from nodes not in the peer list. */
  readonly messagesReceived: number;
  readonly messagesDropped: number;
  readonly batchesSent: number;
  readonly batchesReceived: number;
  readonly requestErrors: number;
  /** Incoming requests refused for a missing or wrong peer token (401). */
  readonly requestsRefused: number;
  /** Incoming requests refused as malformed, misaddressed or too large (400, 413). */
  readonly requestsInvalid: number;
  readonly peers: Readonly<Record<NodeId, PeerStats>>;
}

/** The mutable counters behind PeerStats, without the gauges. */
export interface PeerCounters {
  messagesSent: number;
  messagesReceived: number;
  messagesDropped: number;
  batchesSent: number;
  requestErrors: number;
}

/** The mutable transport-wide counters that no peer owns. */
export interface TransportCounters {
  messagesReceived: number;
  /** Messages addressed to a node that is not a peer (or to self). */
  messagesDroppedUnroutable: number;
  batchesReceived: number;
  requestsRefused: number;
  requestsInvalid: number;
}

export function newPeerCounters(): PeerCounters {
  return { messagesSent: 0, messagesReceived: 0, messagesDropped: 0, batchesSent: 0,
    requestErrors: 0 };
}

export function newTransportCounters(): TransportCounters {
  return { messagesReceived: 0, messagesDroppedUnroutable: 0, batchesReceived: 0,
    requestsRefused: 0, requestsInvalid: 0 };
}

/** One peer's counters and gauges, as the stats() methods report them. */
export interface PeerStatsSource {
  readonly counters: PeerCounters;
  readonly messagesQueued: number;
  readonly requestsInflight: number;
}

/** Builds an immutable TransportStats from the live counters. */
export function summarizeStats(totals: TransportCounters,
  peers: ReadonlyMap<NodeId, PeerStatsSource>): TransportStats {
  const perPeer: Record<NodeId, PeerStats> = {};
  let messagesSent = 0;
  let messagesDropped = totals.messagesDroppedUnroutable;
  let batchesSent = 0;
  let requestErrors = 0;
  for (const [id, source] of peers) {
    const counters = source.counters;
    perPeer[id] = { ...counters, messagesQueued: source.messagesQueued,
      requestsInflight: source.requestsInflight };
    messagesSent += counters.messagesSent;
    messagesDropped += counters.messagesDropped;
    batchesSent += counters.batchesSent;
    requestErrors += counters.requestErrors;
  }
  return {
    messagesSent,
    messagesReceived: totals.messagesReceived,
    messagesDropped,
    batchesSent,
    batchesReceived: totals.batchesReceived,
    requestErrors,
    requestsRefused: totals.requestsRefused,
    requestsInvalid: totals.requestsInvalid,
    peers: perPeer,
  };
}
