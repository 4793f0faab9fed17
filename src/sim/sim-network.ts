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
  /** The cut links, by sender then receiver: looked up for every message, so no string keys. */
  private readonly cutLinks = new Map<NodeId, Set<NodeId>>();
  private inFlight = 0;
  delivered = 0;
  dropped = 0;
  /** Sees every message a node sends, before any fault (the membership checker's wire tap). */
  onSend: ((from: NodeId, message: RaftMessage) => void) | null = null;

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
    let cutTo = this.cutLinks.get(from);
    if (cutTo === undefined) this.cutLinks.set(from, cutTo = new Set());
    cutTo.add(to);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cutLinks.get(from)?.has(to) === true;
  }

  healAll(): void {
    this.cutLinks.clear();
  }

  /**
   * The messages of one send, per destination, travel together (as the real transport writes
   * one frame per peer per turn): one latency for the batch, each message dropped on its own,
   * a duplicate arriving on its own later.
   */
  send(from: NodeId, messages: readonly RaftMessage[]): void {
    // The destinations in order of their first message, and their batches: a few at most, so
    // arrays rather than a Map for every send.
    const destinations: NodeId[] = [];
    const batches: RaftMessage[][] = [];
    for (const message of messages) {
      if (message.from !== from) throw new Error(`${from} sent a message from ${message.from}`);
      this.onSend?.(from, message);
      if (this.isCut(from, message.to) || this.rng.nextFloat() < this.faults.dropRate) {
        this.dropped++;
        continue;
      }
      const slot = destinations.indexOf(message.to);
      if (slot === -1) {
        destinations.push(message.to);
        batches.push([message]);
      } else {
        batches[slot]!.push(message);
      }
      if (this.rng.nextFloat() < this.faults.duplicateRate) this.deliverLater(from, message.to, [message]);
    }
    for (let k = 0; k < destinations.length; k++) this.deliverLater(from, destinations[k]!, batches[k]!);
  }

  private deliverLater(from: NodeId, to: NodeId, batch: readonly RaftMessage[]): void {
    if (this.inFlight + batch.length > inFlightMessagesMax) {
      throw new Error(`over ${inFlightMessagesMax} messages in flight: a runaway protocol`);
    }
    const { latencyMsMin, latencyMsMax } = this.faults;
    const latencyMs = latencyMsMin + this.rng.nextInt(latencyMsMax - latencyMsMin + 1);
    this.inFlight += batch.length;
    this.clock.schedule(null, latencyMs, () => {
      this.inFlight -= batch.length;
      // A link cut while the batch was on its way loses it too.
      const receiver = this.receivers.get(to);
      if (this.isCut(from, to) || receiver === undefined) {
        this.dropped += batch.length;
        return;
      }
      this.delivered += batch.length;
      receiver(batch);
    });
  }
}

/** One node's Transport over the SimNetwork. */
export class SimTransport implements Transport {
  private closed = false;
  /**
   * The peers this node has an address for (RaftServer's onPeersChanged), as HttpTransport's
   * setPeers: a message to any other id is unroutable and dropped, and one from any other id is
   * refused (HttpTransport's isPeer: "not a known peer of this node"). Null: every node is
   * reachable (the simulator without membership changes gives no addresses).
   */
  peers: ReadonlySet<NodeId> | null = null;
  /**
   * Whether a message from a node outside `peers` makes it a peer this node can answer, as
   * etcd's rafthttp does (every request carries the sender's peer URLs, X-PeerURLs, and the
   * receiver adds an unknown sender as a "remote"): a node that fell behind while members
   * were added must hear and answer a leader it has no address for yet. HttpTransport does
   * not do this (yet): false models it as it is, and such a node then never catches up.
   */
  learnsUnknownPeers = false;
  /** Unknown senders learned (learnsUnknownPeers), reachable until the transport closes. */
  private readonly remotes = new Set<NodeId>();

  constructor(private readonly id: NodeId, private readonly network: SimNetwork) {}

  send(messages: readonly RaftMessage[]): void {
    if (this.closed) return;
    const peers = this.peers;
    const routable = peers === null ? messages : messages.filter((message) =>
      peers.has(message.to) || this.remotes.has(message.to));
    this.network.dropped += messages.length - routable.length;
    if (routable.length > 0) this.network.send(this.id, routable);
  }

  onReceive(handler: (messages: readonly RaftMessage[]) => void): void {
    this.network.register(this.id, (messages) => {
      if (this.closed) return;
      const peers = this.peers;
      const known = peers === null ? messages : messages.filter((message) => {
        if (peers.has(message.from) || this.remotes.has(message.from)) return true;
        if (this.learnsUnknownPeers) this.remotes.add(message.from);
        return this.learnsUnknownPeers;
      });
      this.network.dropped += messages.length - known.length;
      if (known.length > 0) handler(known);
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
