/**
 * A Transport that counts the peer messages it sends, by target, in the node's metrics
 * (`raft_peer_messages_sent_total{to}`), and passes everything through. market-node puts it
 * under the FaultyTransport, so it counts what leaves on the wire: a cut link counts nothing,
 * which is what the live view's network matrix shows as each link's message rate.
 */
import { Counter, type Registry } from "prom-client";
import type { NodeId, RaftMessage } from "../raft/index.js";
import type { Transport } from "../transport/transport.js";

export class CountingTransport implements Transport {
  private readonly sent = new Counter<"to">({ name: "raft_peer_messages_sent_total",
    help: "Peer messages sent, by target node", labelNames: ["to"], registers: [] });

  constructor(private readonly inner: Transport) {}

  /** Serves the counter in `registry` (the node's /metrics) from now on. */
  registerIn(registry: Registry): void {
    registry.registerMetric(this.sent);
  }

  send(messages: readonly RaftMessage[]): void {
    // One increment per target per batch: a batch is one loop iteration's messages.
    const counts = new Map<NodeId, number>();
    for (const message of messages) counts.set(message.to, (counts.get(message.to) ?? 0) + 1);
    for (const [to, count] of counts) this.sent.inc({ to }, count);
    this.inner.send(messages);
  }

  flushNow(): void {
    this.inner.flushNow?.();
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.inner.onReceive(handler);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
