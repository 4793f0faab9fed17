/**
 * The nodes' Raft events (GET /v1/cluster/events, DESIGN.md §3), merged for a chaos run's report:
 * how many elections, which node led in which term over time, and each node's role over time.
 * Pure: the poller (raft-event-poller.ts) feeds it pages and tells it when the runner kills,
 * restarts, pauses and resumes a node; every time is wall-clock milliseconds.
 *
 * Why events and not the metrics counters: a node's counters and its event ring both start from
 * zero when it restarts, so either needs polling during the run; but a counter only says how
 * many, not when nor who won, and raft_elections_total counts the campaigns of one node, so the
 * sum over nodes is not the number of leaders. Events name the leader of each term, and every
 * node that hears from it reports it (roleChanged to follower carries the leaderId), so the
 * leader of a term is known even when the leader itself is killed before its own events are
 * read. Leaders are merged by term (election safety, §5.2: at most one per term), and each
 * node's events by (node, start): a restarted node's seq starts again at 1, so a restart starts
 * a new cursor, and a page from before it is dropped.
 *
 * Bounded: role changes kept per node, terms kept and raw events kept each have a maximum; past
 * it the oldest go and are counted, so a long run's memory stays flat. The counts are exact.
 */
import type { Role } from "../raft/index.js";
import type { RaftEventPage, RaftEventRecord } from "../wire/raft-events.js";

/** What a node was doing: its Raft role, or its process down (killed) or paused. */
export type NodeState = Role | "down" | "paused";

export interface NodeStateSpan {
  readonly node: string;
  readonly state: NodeState;
  /** The node's term when the span began (0: not known). */
  readonly term: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/** One leadership: `node` led `term` from `fromMs` until `toMs`. */
export interface LeaderSpan {
  readonly node: string;
  readonly term: number;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface ElectionCounts {
  /** Terms in which some node became leader: elections won. */
  readonly leadersElected: number;
  /** Real elections started (a candidate asking for votes), after a pre-vote or a transfer. */
  readonly campaigns: number;
  /** Pre-vote rounds started (they do not increase the term). */
  readonly preVotes: number;
  /** Leaders that stepped down because CheckQuorum found no majority. */
  readonly checkQuorumStepDowns: number;
  /** Votes and pre-votes refused, by reason. */
  readonly refusals: Readonly<Record<string, number>>;
  /** Every event read, by kind. */
  readonly events: Readonly<Record<string, number>>;
  /** Leaders by node. */
  readonly byNode: Readonly<Record<string, number>>;
  readonly firstTerm: number | null;
  readonly lastTerm: number | null;
  /** Events the nodes' rings had dropped before they were read (GET ... missed). */
  readonly missed: number;
  /** Restarts found only because a node's seq went back (not announced by the runner). */
  readonly unannouncedRestarts: number;
  /** Role changes, terms and raw events dropped to keep memory bounded. */
  readonly dropped: number;
}

export interface CollectorLimits {
  readonly stateChangesPerNodeMax: number;
  readonly termsMax: number;
  readonly rawEventsMax: number;
}

export const defaultCollectorLimits: CollectorLimits = {
  stateChangesPerNodeMax: 5000, termsMax: 5000, rawEventsMax: 2000,
};

interface StateChange {
  readonly timeMs: number;
  /** A role change sets the role; a process change sets the process state. */
  readonly role?: Role;
  readonly process?: "running" | "down" | "paused";
  readonly term: number;
}

interface NodeRecord {
  /** Incremented at each restart; a page fetched in an earlier epoch is dropped. */
  epoch: number;
  /** The last seq read in this epoch. */
  after: number;
  readonly changes: StateChange[];
}

export class RaftEventCollector {
  private readonly nodes = new Map<string, NodeRecord>();
  /** The leader of each term, with the earliest time anyone reported it. */
  private readonly leaders = new Map<number, { node: string; fromMs: number }>();
  private readonly raw: RaftEventRecord[] = [];
  private readonly eventCounts: Record<string, number> = {};
  private readonly refusals: Record<string, number> = {};
  private readonly byNode: Record<string, number> = {};
  private counts = { leadersElected: 0, campaigns: 0, preVotes: 0, checkQuorumStepDowns: 0,
    missed: 0, unannouncedRestarts: 0, dropped: 0 };
  private firstTerm: number | null = null;
  private lastTerm: number | null = null;

  /** Every node starts as a running follower, from before any event (a node's first events,
   * such as its first election, may precede the run). */
  constructor(nodeIds: readonly string[],
    private readonly limits: CollectorLimits = defaultCollectorLimits) {
    for (const node of nodeIds) {
      this.nodes.set(node, { epoch: 0, after: 0, changes: [{ timeMs: -Infinity,
        role: "follower", process: "running", term: 0 }] });
    }
  }

  /** A node that joined the cluster during the run (member add): a follower from `timeMs`. */
  addNode(node: string, timeMs: number): void {
    if (this.nodes.has(node)) return;
    this.nodes.set(node, { epoch: 0, after: 0, changes: [{ timeMs, role: "follower",
      process: "running", term: 0 }] });
  }

  /** Where the next read of `node` starts: its epoch and the last seq read. */
  cursor(node: string): { readonly epoch: number; readonly after: number } {
    const record = this.record(node);
    return { epoch: record.epoch, after: record.after };
  }

  /** The runner killed the node: it is down, and leads nothing, from `timeMs`. */
  nodeDown(node: string, timeMs: number): void {
    this.pushChange(this.record(node), { timeMs, process: "down", term: 0 });
  }

  /** The runner (re)started the node: a new process, a new seq, a follower until it hears. */
  nodeUp(node: string, timeMs: number): void {
    const record = this.record(node);
    record.epoch++;
    record.after = 0;
    this.pushChange(record, { timeMs, process: "running", role: "follower", term: 0 });
  }

  nodePaused(node: string, timeMs: number): void {
    this.pushChange(this.record(node), { timeMs, process: "paused", term: 0 });
  }

  nodeResumed(node: string, timeMs: number): void {
    this.pushChange(this.record(node), { timeMs, process: "running", term: 0 });
  }

  /**
   * Reads one page of `node`'s events, fetched with `cursor(node)` as it was at `epoch`. A page
   * from an earlier epoch is dropped; a page whose lastSeq is below the cursor means the node
   * restarted unannounced: the cursor starts over and the page is dropped (the next read gets
   * the new process's events from its first).
   */
  ingest(node: string, epoch: number, page: RaftEventPage): void {
    const record = this.record(node);
    if (epoch !== record.epoch) return;
    if (page.lastSeq < record.after) {
      this.counts.unannouncedRestarts++;
      record.epoch++;
      record.after = 0;
      return;
    }
    this.counts.missed += page.missed;
    for (const event of page.events) {
      if (event.seq <= record.after) continue;
      record.after = event.seq;
      this.take(record, event);
    }
  }

  private take(record: NodeRecord, event: RaftEventRecord): void {
    this.eventCounts[event.kind] = (this.eventCounts[event.kind] ?? 0) + 1;
    this.raw.push(event);
    if (this.raw.length > this.limits.rawEventsMax) {
      this.raw.shift();
      this.counts.dropped++;
    }
    switch (event.kind) {
      case "campaignStarted":
        if (event.preVote) this.counts.preVotes++;
        else this.counts.campaigns++;
        return;
      case "voteRefused":
        this.refusals[event.reason] = (this.refusals[event.reason] ?? 0) + 1;
        return;
      case "leaderElected":
        this.noteLeader(event.term, event.node, event.timeMs);
        return;
      case "roleChanged":
        this.pushChange(record, { timeMs: event.timeMs, role: event.to, term: event.term });
        if (event.reason === "checkQuorum") this.counts.checkQuorumStepDowns++;
        if (event.to === "leader") this.noteLeader(event.term, event.node, event.timeMs);
        else if (event.leaderId !== null) this.noteLeader(event.term, event.leaderId, event.timeMs);
        return;
      default:
        return;
    }
  }

  private noteLeader(term: number, node: string, timeMs: number): void {
    const known = this.leaders.get(term);
    if (known !== undefined) {
      // Election safety (§5.2): one leader per term, so only the time can improve.
      if (timeMs < known.fromMs) known.fromMs = timeMs;
      return;
    }
    this.leaders.set(term, { node, fromMs: timeMs });
    this.counts.leadersElected++;
    this.byNode[node] = (this.byNode[node] ?? 0) + 1;
    this.firstTerm = Math.min(this.firstTerm ?? term, term);
    this.lastTerm = Math.max(this.lastTerm ?? term, term);
    if (this.leaders.size > this.limits.termsMax) {
      const oldest = Math.min(...this.leaders.keys());
      this.leaders.delete(oldest);
      this.counts.dropped++;
    }
  }

  /** Inserts in time order: a page read before the runner's kill may be taken after it. */
  private pushChange(record: NodeRecord, change: StateChange): void {
    let at = record.changes.length;
    while (at > 0 && (record.changes[at - 1] as StateChange).timeMs > change.timeMs) at--;
    record.changes.splice(at, 0, change);
    if (record.changes.length > this.limits.stateChangesPerNodeMax) {
      record.changes.shift();
      this.counts.dropped++;
    }
  }

  private record(node: string): NodeRecord {
    const record = this.nodes.get(node);
    if (record === undefined) throw new Error(`unknown node ${node}`);
    return record;
  }

  elections(): ElectionCounts {
    return { ...this.counts, refusals: { ...this.refusals }, events: { ...this.eventCounts },
      byNode: { ...this.byNode }, firstTerm: this.firstTerm, lastTerm: this.lastTerm };
  }

  /** The raw events kept (the last rawEventsMax), in the order they were read. */
  rawEvents(): readonly RaftEventRecord[] {
    return [...this.raw];
  }

  /** Each node's states over time, up to `endMs`: consecutive equal states merged. */
  nodeStates(endMs: number): NodeStateSpan[] {
    return [...this.nodes].flatMap(([node, record]) => statesOf(node, record.changes, endMs));
  }

  /**
   * Who led, over time: each term's leadership from the earliest report of it until its leader
   * stopped leading (a role change, killed), a later term's leader was first reported, or
   * `endMs`. A paused leader still leads its term until a newer leader appears: that is what
   * it believes, and what the rest of the cluster sees until it elects another.
   */
  leaderTrack(endMs: number): LeaderSpan[] {
    const terms = [...this.leaders].sort((a, b) => a[0] - b[0]);
    const states = new Map([...this.nodes].map(([node, record]) =>
      [node, statesOf(node, record.changes, endMs)]));
    return terms.flatMap(([term, { node, fromMs }], k) => {
      const next = terms.slice(k + 1).find(([, later]) => later.fromMs >= fromMs);
      let toMs = Math.min(endMs, next?.[1].fromMs ?? endMs);
      // The first span after the start that is neither this term's leadership nor a pause.
      const after = (states.get(node) ?? []).find((span) => span.toMs > fromMs &&
        span.fromMs >= fromMs && span.state !== "paused" &&
        !(span.state === "leader" && span.term === term));
      if (after !== undefined) toMs = Math.min(toMs, after.fromMs);
      return toMs > fromMs || k === terms.length - 1 ? [{ node, term, fromMs, toMs }] : [];
    });
  }
}

/** A node's change list as spans: a process change hides the role until it runs again. */
function statesOf(node: string, changes: readonly StateChange[], endMs: number): NodeStateSpan[] {
  const spans: NodeStateSpan[] = [];
  let role: Role = "follower";
  let process: "running" | "down" | "paused" = "running";
  let term = 0;
  let open: { state: NodeState; term: number; fromMs: number } | null = null;
  for (const change of changes) {
    if (change.role !== undefined) role = change.role;
    if (change.process !== undefined) process = change.process;
    if (change.role !== undefined) term = change.term;
    const state: NodeState = process === "running" ? role : process;
    if (open !== null && open.state === state && open.term === term) continue;
    if (open !== null) spans.push({ node, ...open, toMs: Math.max(open.fromMs, change.timeMs) });
    open = { state, term, fromMs: change.timeMs };
  }
  if (open !== null) spans.push({ node, ...open, toMs: Math.max(open.fromMs, endMs) });
  return spans;
}
