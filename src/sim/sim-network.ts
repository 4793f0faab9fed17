import type { NodeId, RaftMessage, Rng } from "../raft/index.js";
import type { Transport } from "../transport/transport.js";
import type { SimClock } from "./sim-clock.js";

/** Random network faults, drawn per message. */
export interface SimNetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Each delivery takes a random time in [latencyMsMin, latencyMsMax] of virtual time. */
  latencyMsMin: number;
  latencyMsMax: number;
}

/** Bounds a runaway protocol: messages in flight at once across the whole network. */
const inFlightMessagesMax = 200_000;

/**
 * The simulated network between RaftServers: each node's Transport (SimTransport) hands its
 * messages here, and each is delivered after a random latency, maybe dropped or duplicated
 * (so reordered too), unless the link is cut. A link is cut one way (`cut(from, to)`), so
 * partitions, one-way faults and bridges are all sets of cut links. Delivery goes to whatever
 * transport the destination has registered by then: a message in flight reaches a restarted
 * node, as a TCP segment may reach a restarted process's new socket.
 */
export class SimNetwork {
  private readonly receivers = new Map<NodeId, (messages: readonly RaftMessage[]) => void>();
  private readonly cutLinks = new Set<string>();
  private inFlight = 0;
  delivered = 0;
  dropped = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Rng,
    readonly faults: SimNetworkFaults,
  ) {}

  /** A node's transport, bound to it until close() (a crash or stop). */
  transportFor(id: NodeId): SimTransport {
    return new SimTransport(id, this);
  }

  register(id: NodeId, handler: ((messages: readonly RaftMessage[]) => void) | null): void {
    if (handler === null) this.receivers.delete(id);
    else this.receivers.set(id, handler);
  }

  cut(from: NodeId, to: NodeId): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cutLinks.has(`${from}>${to}`);
  }

  healAll(): void {
    this.cutLinks.clear();
  }

  send(from: NodeId, messages: readonly RaftMessage[]): void {
    for (const message of messages) {
      if (message.from !== from) throw new Error(`${from} sent a message from ${message.from}`);
      if (this.isCut(from, message.to) || this.rng.nextFloat() < this.faults.dropRate) {
        this.dropped++;
        continue;
      }
      const copies = this.rng.nextFloat() < this.faults.duplicateRate ? 2 : 1;
      for (let copy = 0; copy < copies; copy++) this.deliverLater(message);
    }
  }

  private deliverLater(message: RaftMessage): void {
    if (this.inFlight >= inFlightMessagesMax) {
      throw new Error(`over ${inFlightMessagesMax} messages in flight: a runaway protocol`);
    }
    const { latencyMsMin, latencyMsMax } = this.faults;
    const latencyMs = latencyMsMin + this.rng.nextInt(latencyMsMax - latencyMsMin + 1);
    this.inFlight++;
    this.clock.schedule(null, latencyMs, () => {
      this.inFlight--;
      // A link cut while the message was on its way loses it too.
      if (this.isCut(message.from, message.to)) {
        this.dropped++;
        return;
      }
      const receiver = this.receivers.get(message.to);
      if (receiver === undefined) {
        this.dropped++;
        return;
      }
      this.delivered++;
      receiver([message]);
    });
  }
}

/** One node's Transport over the SimNetwork. */
export class SimTransport implements Transport {
  private closed = false;

  constructor(private readonly id: NodeId, private readonly network: SimNetwork) {}

  send(messages: readonly RaftMessage[]): void {
    if (!this.closed) this.network.send(this.id, messages);
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.network.register(this.id, (messages) => {
      if (!this.closed) handler(messages);
    });
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** A crash: nothing more goes out or comes in, at once. */
  kill(): void {
    this.closed = true;
  }
}
