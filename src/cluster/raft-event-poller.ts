/**
 * Reads every node's Raft events (GET /v1/cluster/events) during a chaos run, every
 * `intervalMs`, into a RaftEventCollector. A node's ring keeps its last 1,000 events and one
 * page returns them all, so polling twice a second loses none unless a node writes a thousand
 * events in half a second (the collector counts `missed`). Events a node records after its last
 * read and before a SIGKILL are lost with its process; the runner reads the victim once more
 * just before killing it, and other nodes report the leaders it saw elected.
 *
 * At most one request per node is in flight: a paused node's read times out, and the next
 * reads of it wait for that one instead of piling up.
 */
import type { RaftEventPage } from "../wire/raft-events.js";
import { raftEventRingCapacity } from "../node/raft-event-log.js";
import type { NodeHttpClient } from "./admin-client.js";
import type { RaftEventCollector } from "./raft-event-collector.js";

export class RaftEventPoller {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Reads that got no page (a node down, paused or busy). */
  failedReads = 0;
  /** Reads that got a page: none means no node serves the events (an older build). */
  pagesRead = 0;

  constructor(private readonly clients: ReadonlyMap<string, NodeHttpClient>,
    private readonly collector: RaftEventCollector, private readonly intervalMs = 500,
    private readonly timeoutMs = 1000) {}

  start(): void {
    if (this.timer !== null || this.stopped) return;
    this.timer = setInterval(() => void this.pollAll(), this.intervalMs);
  }

  /** Stops polling, after one last read of every node (bounded by the read timeout). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.pollAll();
  }

  async pollAll(): Promise<void> {
    await Promise.all([...this.clients.keys()].map((node) => this.poll(node)));
  }

  /** One read of `node` (joins the one in flight, if any). */
  poll(node: string): Promise<void> {
    const running = this.inFlight.get(node);
    if (running !== undefined) return running;
    const read = this.read(node).finally(() => this.inFlight.delete(node));
    this.inFlight.set(node, read);
    return read;
  }

  private async read(node: string): Promise<void> {
    const client = this.clients.get(node);
    if (client === undefined) throw new Error(`no client for ${node}`);
    const { epoch, after } = this.collector.cursor(node);
    const answer = await client.request("GET",
      `/v1/cluster/events?after=${after}&limit=${raftEventRingCapacity}`, undefined,
      this.timeoutMs);
    if (answer.kind !== "answer" || answer.status !== 200 || !isPage(answer.body)) {
      this.failedReads++;
      return;
    }
    this.pagesRead++;
    this.collector.ingest(node, epoch, answer.body);
  }
}

function isPage(body: unknown): body is RaftEventPage {
  const page = body as Partial<RaftEventPage> | null;
  return typeof page === "object" && page !== null && Array.isArray(page.events) &&
    typeof page.lastSeq === "number" && typeof page.missed === "number";
}
