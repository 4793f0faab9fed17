import type { NodeId, RaftMessage } from "../raft/index.js";
import { BoundedQueue } from "./bounded-queue.js";
import {
  newPeerCounters,
  newTransportCounters,
  summarizeStats,
  type PeerCounters,
  type TransportStats,
} from "./transport-stats.js";
import type { Transport } from "./transport.js";

export const memoryQueueMessagesMaxDefault = 4096;

/**
 * The wire between in-process MemoryTransports (hashicorp/raft's InmemTransport): a directory
 * from node id to the transport that is started under that id. A transport joins on start()
 * and leaves on close(), so a test "crashes" a node by closing its transport and "restarts" it
 * by starting a new one under the same id.
 */
export class MemoryNetwork {
  private readonly members = new Map<NodeId, MemoryTransport>();

  /** Builds a transport for `self` on this network; it receives nothing until start(). */
  transport(self: NodeId, options: MemoryTransportOptions = {}): MemoryTransport {
    return new MemoryTransport(this, self, options);
  }

  /** The ids of the started transports. */
  nodeIds(): NodeId[] {
    return [...this.members.keys()];
  }

  /** @internal Called by MemoryTransport.start(). */
  attach(transport: MemoryTransport): void {
    const current = this.members.get(transport.self);
    if (current !== undefined && current !== transport) {
      throw new Error(`node ${transport.self} is already started on this network`);
    }
    this.members.set(transport.self, transport);
  }

  /** @internal Called by MemoryTransport.close(). */
  detach(transport: MemoryTransport): void {
    if (this.members.get(transport.self) === transport) this.members.delete(transport.self);
  }

  /** @internal The started transport for `id`, if any. */
  lookup(id: NodeId): MemoryTransport | undefined {
    return this.members.get(id);
  }
}

export interface MemoryTransportOptions {
  /** Messages queued per peer in one turn; beyond it the oldest are dropped. */
  readonly queueMessagesMax?: number;
}

interface MemoryLink {
  readonly queue: BoundedQueue<RaftMessage>;
  readonly counters: PeerCounters;
}

/**
 * A Transport over a MemoryNetwork, for in-process tests. It behaves like HttpTransport where
 * the contract suite can see it: sends are queued per peer and flushed once per turn of the
 * event loop (setImmediate), so every message sent to one peer in one turn arrives in one
 * handler call, in order; a full queue drops its oldest message; a peer that is not started
 * loses its messages. Messages are copied with structuredClone on delivery, as a real wire
 * would, so sender and receiver never share an object.
 */
export class MemoryTransport implements Transport {
  private readonly links = new Map<NodeId, MemoryLink>();
  private readonly totals = newTransportCounters();
  private readonly queueMessagesMax: number;
  private handler: ((messages: readonly RaftMessage[]) => void) | null = null;
  private flushScheduled = false;
  private started = false;
  private closed = false;

  constructor(private readonly network: MemoryNetwork, readonly self: NodeId,
    options: MemoryTransportOptions = {}) {
    this.queueMessagesMax = options.queueMessagesMax ?? memoryQueueMessagesMaxDefault;
    if (!Number.isInteger(this.queueMessagesMax) || this.queueMessagesMax < 1) {
      throw new RangeError(`queueMessagesMax must be a positive integer`);
    }
  }

  send(messages: readonly RaftMessage[]): void {
    for (const message of messages) {
      if (this.closed || message.to === this.self) {
        this.totals.messagesDroppedUnroutable++;
        continue;
      }
      const link = this.link(message.to);
      if (link.queue.push(message)) link.counters.messagesDropped++;
    }
    this.scheduleFlush();
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.handler = handler;
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error("a closed MemoryTransport cannot start again");
    this.network.attach(this);
    this.started = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.started = false;
    this.network.detach(this);
    for (const link of this.links.values()) {
      link.counters.messagesDropped += link.queue.length;
      link.queue.clear();
    }
  }

  stats(): TransportStats {
    const sources = new Map([...this.links].map(([id, link]) => [id, {
      counters: link.counters, messagesQueued: link.queue.length, requestsInflight: 0,
    }]));
    return summarizeStats(this.totals, sources);
  }

  /** @internal Called by a peer's flush: one batch, in order. Returns false if not taken. */
  deliver(messages: readonly RaftMessage[]): boolean {
    if (!this.started || this.handler === null) return false;
    this.totals.batchesReceived++;
    this.totals.messagesReceived += messages.length;
    const from = messages[0]?.from;
    if (from !== undefined) this.link(from).counters.messagesReceived += messages.length;
    this.handler(messages);
    return true;
  }

  private link(id: NodeId): MemoryLink {
    let link = this.links.get(id);
    if (link === undefined) {
      link = { queue: new BoundedQueue(this.queueMessagesMax), counters: newPeerCounters() };
      this.links.set(id, link);
    }
    return link;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    // Take every batch before delivering any, so that a handler that sends in reply queues
    // for the next turn instead of joining this one.
    const batches: { id: NodeId; link: MemoryLink; messages: RaftMessage[] }[] = [];
    for (const [id, link] of this.links) {
      if (link.queue.length > 0) batches.push({ id, link, messages: link.queue.drain() });
    }
    for (const { id, link, messages } of batches) {
      const target = this.network.lookup(id);
      if (target !== undefined && target.deliver(structuredClone(messages))) {
        link.counters.batchesSent++;
        link.counters.messagesSent += messages.length;
      } else {
        link.counters.messagesDropped += messages.length;
      }
    }
  }
}
