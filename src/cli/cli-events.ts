/**
 * `market-cli cluster events`, the pure part: every node's Raft events merged into one stream
 * ordered by time, one line each, and the cursors that `--follow` keeps per node.
 *
 * Each node numbers its own events (`seq`, from 1 when it starts) and serves the last 1,000
 * (GET /v1/cluster/events?after=SEQ). The follower asks each node for the events after the
 * last one it printed, and asks from one before it, so that the answer repeats that event: the
 * same seq with the same time means the same run of the node; a different one, or a `lastSeq`
 * below it, means the node restarted and numbers from 1 again, so its cursor starts over. A
 * node's clock orders its own events; across nodes, the order is by wall-clock time, which is
 * as good as the machines' clocks.
 */
import type { RaftEventPage, RaftEventRecord } from "../client/index.js";
import { bold, type Style } from "./cli-output.js";

/** The events of one poll of one node: the API's page limit (DESIGN.md §3). */
export const eventsPageLimit = 1000;

/** Orders events by time, then node, then seq (a node's seq orders its events of one ms). */
export function compareEvents(first: RaftEventRecord, second: RaftEventRecord): number {
  return first.timeMs - second.timeMs ||
    (first.node < second.node ? -1 : first.node > second.node ? 1 : 0) ||
    first.seq - second.seq;
}

/** The events of several nodes as one list ordered by compareEvents. */
export function mergeEvents(perNode: readonly (readonly RaftEventRecord[])[]): RaftEventRecord[] {
  return perNode.flat().sort(compareEvents);
}

/** A time of day with milliseconds, local time: 14:03:07.042. */
export function timeOfDay(timeMs: number): string {
  const date = new Date(timeMs);
  const two = (value: number): string => String(value).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.` +
    String(date.getMilliseconds()).padStart(3, "0");
}

/** Column widths of the event lines, fixed so that a stream of lines stays aligned. */
const eventColumns = { time: 12, term: 4, index: 7, kind: 17 } as const;

/** The header of the event lines: TIME NODE TERM INDEX KIND MESSAGE. */
export function eventsHeader(nodeWidth: number, style: Style): string {
  return bold(eventCells("TIME", "NODE", "TERM", "INDEX", "KIND", "MESSAGE", nodeWidth), style);
}

/** One event as one line: time, node, term, index, kind and its sentence. */
export function eventLine(event: RaftEventRecord, nodeWidth: number): string {
  return eventCells(timeOfDay(event.timeMs), event.node, String(event.term),
    String(event.index), event.kind, event.message, nodeWidth);
}

function eventCells(time: string, node: string, term: string, index: string, kind: string,
  message: string, nodeWidth: number): string {
  return [time.padEnd(eventColumns.time), node.padEnd(Math.max(4, nodeWidth)),
    term.padEnd(eventColumns.term), index.padEnd(eventColumns.index),
    kind.padEnd(eventColumns.kind), message].join("  ");
}

/** Something the follower noticed about a node, said once: it went away, came back, ... */
export interface EventsNote {
  readonly node: string;
  readonly kind: "unreachable" | "reachable" | "restarted" | "missed";
  readonly message: string;
}

/** What one poll of one node gave: a page, or why there was none. */
export type PollOutcome =
  | { readonly page: RaftEventPage }
  | { readonly unreachable: string };

/** What the follower makes of one poll: the new events, notes, and whether to ask again now. */
export interface PollStep {
  readonly events: readonly RaftEventRecord[];
  readonly notes: readonly EventsNote[];
  /** The node restarted: its cursor starts over, ask it again in this round. */
  readonly askAgain: boolean;
}

interface NodeCursor {
  /** The node's id, from the cluster file until the node names itself. */
  name: string;
  /** The seq to read after when no event has been seen (the start, or --since). */
  after: number;
  /** The last event printed, to recognise the same run of the node in the next answer. */
  last: { readonly seq: number; readonly timeMs: number } | null;
  /** Why it did not answer the last poll, or null when it did (undefined: not asked yet). */
  unreachable: string | null | undefined;
}

/**
 * The cursors of `cluster events --follow`, one per node (keyed by endpoint). Memory: one
 * cursor per node; the events are handed back, not kept.
 */
export class EventFollower {
  private readonly cursors = new Map<string, NodeCursor>();

  /** `nodes`: endpoint -> id; `since`: read each node after this seq (0: all it holds). */
  constructor(nodes: ReadonlyMap<string, string>, private readonly since = 0) {
    for (const [endpoint, name] of nodes) {
      this.cursors.set(endpoint, { name, after: since, last: null, unreachable: undefined });
    }
  }

  /** The `after` to ask `endpoint` with: one before the last event seen, to see it again. */
  afterFor(endpoint: string): number {
    const cursor = this.cursor(endpoint);
    return cursor.last === null ? cursor.after : cursor.last.seq - 1;
  }

  take(endpoint: string, outcome: PollOutcome): PollStep {
    const cursor = this.cursor(endpoint);
    if ("unreachable" in outcome) {
      const changed = cursor.unreachable !== outcome.unreachable;
      cursor.unreachable = outcome.unreachable;
      return { events: [], askAgain: false, notes: changed ? [{ node: cursor.name,
        kind: "unreachable", message: `${cursor.name} ${outcome.unreachable}` }] : [] };
    }
    const { page } = outcome;
    const notes: EventsNote[] = [];
    if (cursor.unreachable !== undefined && cursor.unreachable !== null) {
      notes.push({ node: page.node, kind: "reachable", message: `${page.node} answers again` });
    }
    cursor.unreachable = null;
    cursor.name = page.node;
    const { last } = cursor;
    const first = page.events[0];
    // The answer starts at the last event seen (or after it, when the ring dropped it). Before
    // any event is seen, nothing tells a restart (a --since past the node's seq reads nothing).
    const sameRun = last === null || (page.lastSeq >= last.seq && (first === undefined ||
      first.seq > last.seq || (first.seq === last.seq && first.timeMs === last.timeMs)));
    if (!sameRun) {
      cursor.last = null;
      cursor.after = 0;
      notes.push({ node: page.node, kind: "restarted", message: `${page.node} restarted (its ` +
        `events went back from seq ${last.seq} to ${page.lastSeq}): reading them from the first` });
      return { events: [], notes, askAgain: true };
    }
    const events = last === null ? page.events
      : page.events.filter((event) => event.seq > last.seq);
    const missed = last === null ? page.missed
      : first !== undefined && first.seq > last.seq ? first.seq - last.seq - 1 : 0;
    if (missed > 0) {
      notes.push({ node: page.node, kind: "missed", message: `${page.node} no longer holds ` +
        `${missed} event${missed === 1 ? "" : "s"} before seq ${events[0]?.seq ?? "?"}` });
    }
    const newest = events[events.length - 1];
    if (newest !== undefined) cursor.last = { seq: newest.seq, timeMs: newest.timeMs };
    return { events, notes, askAgain: false };
  }

  /** The node's id: the one it gave in its last answer, else the one it was given. */
  nameOf(endpoint: string): string {
    return this.cursor(endpoint).name;
  }

  private cursor(endpoint: string): NodeCursor {
    const cursor = this.cursors.get(endpoint);
    if (cursor === undefined) throw new RangeError(`EventFollower: unknown node ${endpoint}`);
    return cursor;
  }
}
