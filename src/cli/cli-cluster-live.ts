/**
 * The commands that show the cluster as it moves: `cluster events [--follow]` (every node's
 * Raft events, merged by time; cli-events.ts) and `cluster watch` (a table of the nodes
 * refreshed in place; cli-watch.ts). Both ask every node in parallel, each request bounded;
 * a node that does not answer is shown as such, never as a stack trace. The ones that run
 * until stopped stop on Ctrl-C, or when --timeout (if given) has passed, with exit code 0.
 */
import { MarketClientError, type MarketClient, type RaftEventRecord } from "../client/index.js";
import { unreachableReason, groupReasons, type UnreachableNode } from "./cli-diagnosis.js";
import {
  eventLine,
  EventFollower,
  eventsHeader,
  eventsPageLimit,
  mergeEvents,
  type EventsNote,
  type PollOutcome,
} from "./cli-events.js";
import { lineCount, terminal, watchFrame, watchRows, type WatchSnapshot } from "./cli-watch.js";
import {
  CliFailure,
  exitCodes,
  idOfEndpoint,
  type CliSession,
  type GlobalOptions,
} from "./cli-session.js";

/** Between two polls of `cluster events --follow`. */
export const followIntervalMs = 500;
/** Bound on one round of requests of watch and follow (the client caps it at 2 s too). */
const roundTimeoutMsMin = 1000;

export interface EventsOptions extends GlobalOptions {
  readonly follow?: boolean;
  readonly since?: number;
}

export async function runClusterEvents(session: CliSession, options: EventsOptions):
  Promise<void> {
  const { client, choice } = session.connect(options);
  const { io } = session;
  const json = session.format(options) === "json";
  const names = new Map(client.endpoints.map((endpoint) =>
    [endpoint, idOfEndpoint(choice, endpoint)]));
  const follower = new EventFollower(names, options.since ?? 0);
  const nodeWidth = Math.max(...[...names.values()].map((name) => name.length));
  const print = (events: readonly RaftEventRecord[], notes: readonly EventsNote[]): void => {
    for (const note of notes) {
      io.stderr(json ? `${JSON.stringify({ note })}\n` : `note: ${note.message}\n`);
    }
    if (events.length === 0) return;
    io.stdout(`${events.map((event) => json ? JSON.stringify(event)
      : eventLine(event, nodeWidth)).join("\n")}\n`);
  };
  if (options.follow !== true) {
    const round = await pollEvents(client, follower, session.remainingMs());
    if (!json) {
      io.stdout(round.events.length === 0 ? "(no events)\n"
        : `${eventsHeader(nodeWidth, session.style)}\n`);
    }
    print(round.events, round.notes.filter((note) => note.kind !== "unreachable"));
    if (round.unreachable.length > 0) {
      throw new CliFailure(exitCodes.unavailable, "unreachable", `events from ` +
        `${names.size - round.unreachable.length} of ${names.size} nodes ` +
        `(${groupReasons(round.unreachable)})`, { unreachable: round.unreachable });
    }
    return;
  }
  if (!json) io.stdout(`${eventsHeader(nodeWidth, session.style)}\n`);
  await untilStopped(session, options, followIntervalMs, async (timeoutMs, signal) => {
    const round = await pollEvents(client, follower, timeoutMs);
    if (!signal.aborted) print(round.events, round.notes);
  });
}

interface EventsRound {
  readonly events: RaftEventRecord[];
  readonly notes: EventsNote[];
  readonly unreachable: UnreachableNode[];
}

/** One poll of every node, a restarted node asked again from its first event. */
async function pollEvents(client: MarketClient, follower: EventFollower, timeoutMs: number):
  Promise<EventsRound> {
  const polls = await Promise.all(client.endpoints.map(async (endpoint) => {
    const events: RaftEventRecord[] = [];
    const notes: EventsNote[] = [];
    let unreachable: UnreachableNode | null = null;
    for (let ask = 0; ask < 2; ask++) {
      const outcome = await pollNode(client, endpoint, follower.afterFor(endpoint), timeoutMs);
      const step = follower.take(endpoint, outcome);
      events.push(...step.events);
      notes.push(...step.notes);
      if ("unreachable" in outcome) {
        unreachable = { id: follower.nameOf(endpoint), endpoint, reason: outcome.unreachable };
      }
      if (!step.askAgain) break;
    }
    return { events, notes, unreachable };
  }));
  return { events: mergeEvents(polls.map((poll) => poll.events)),
    notes: polls.flatMap((poll) => poll.notes),
    unreachable: polls.flatMap((poll) => poll.unreachable ?? []) };
}

async function pollNode(client: MarketClient, endpoint: string, after: number,
  timeoutMs: number): Promise<PollOutcome> {
  try {
    return { page: await client.raftEvents(endpoint, { after, limit: eventsPageLimit,
      timeoutMs }) };
  } catch (error) {
    if (!(error instanceof MarketClientError)) throw error;
    return { unreachable: unreachableReason(error) };
  }
}

export interface WatchOptions extends GlobalOptions {
  readonly interval: number;
}

/**
 * `cluster watch`: on a terminal (and not -w json) the frame is redrawn in place, with the
 * cursor hidden until the end; otherwise one frame (or one JSON line) per refresh, no ANSI.
 */
export async function runClusterWatch(session: CliSession, options: WatchOptions):
  Promise<void> {
  const { client, choice } = session.connect(options);
  const { io } = session;
  const json = session.format(options) === "json";
  const live = io.stdoutIsTTY && !json;
  let previous: WatchSnapshot | null = null;
  let drawnLines = 0;
  if (live) io.stdout(terminal.hideCursor);
  try {
    await untilStopped(session, options, options.interval, async (timeoutMs, signal) => {
      const rows = await client.clusterStatus({ timeoutMs });
      if (signal.aborted) return;
      const snapshot = { timeMs: Date.now(),
        nodes: watchRows(rows, (endpoint) => idOfEndpoint(choice, endpoint)) };
      if (json) {
        io.stdout(`${JSON.stringify(snapshot)}\n`);
      } else if (live) {
        const frame = watchFrame(snapshot, previous, options.interval, session.style, true);
        io.stdout(terminal.redrawOver(drawnLines) + frame);
        drawnLines = lineCount(frame);
      } else {
        io.stdout(`${watchFrame(snapshot, previous, options.interval, { color: false }, false)}\n`);
      }
      previous = snapshot;
    });
  } finally {
    if (live) io.stdout(terminal.showCursor);
  }
}

/**
 * Runs `round` every `intervalMs` until Ctrl-C or, when --timeout was given, its deadline. A
 * round in progress at Ctrl-C is not waited for: it must print nothing once `signal` aborted.
 */
async function untilStopped(session: CliSession, options: GlobalOptions, intervalMs: number,
  round: (timeoutMs: number, signal: AbortSignal) => Promise<void>): Promise<void> {
  const deadlineMs = options.timeout === undefined ? Infinity : session.deadlineMs;
  const { signal, dispose } = session.interruptSignal();
  const stopped = new Promise<"stopped">((resolve) => {
    signal.addEventListener("abort", () => resolve("stopped"), { once: true });
  });
  try {
    while (!signal.aborted && Date.now() < deadlineMs) {
      const startedMs = Date.now();
      const timeoutMs = Math.max(1, Math.min(deadlineMs - startedMs,
        Math.max(intervalMs, roundTimeoutMsMin)));
      if (await Promise.race([round(timeoutMs, signal), stopped]) === "stopped") break;
      const waitMs = Math.min(intervalMs - (Date.now() - startedMs), deadlineMs - Date.now());
      if (waitMs <= 0) continue;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped,
        new Promise((resolve) => { timer = setTimeout(resolve, waitMs); })]);
      clearTimeout(timer);
    }
  } finally {
    dispose();
  }
}
