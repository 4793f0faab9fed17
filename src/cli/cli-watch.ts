/**
 * `market-cli cluster watch`, the pure part: one row per node (ID, ROLE, TERM, LEADER,
 * LAST LOG, COMMIT, APPLIED), the roles coloured (leader green, candidates yellow, an
 * unreachable node red) and every value that changed since the previous refresh in inverse
 * video, so that an election or a lagging follower catches the eye. On a terminal the frame is
 * redrawn in place: the cursor moves back up over the previous frame and clears below it.
 */
import type { EndpointStatus } from "../client/index.js";
import { timeOfDay } from "./cli-events.js";
import { unreachableReason } from "./cli-diagnosis.js";
import { bold, type Style } from "./cli-output.js";

/** One node in one refresh; null values for a node that gave no status. */
export interface WatchRow {
  readonly id: string;
  /** leader, follower, candidate, preCandidate, or unreachable. */
  readonly role: string;
  readonly term: number | null;
  readonly leaderId: string | null;
  readonly lastLogIndex: number | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  /** Why the node gave no status, or null. */
  readonly error: string | null;
}

export interface WatchSnapshot {
  readonly timeMs: number;
  readonly nodes: readonly WatchRow[];
}

export function watchRows(rows: readonly EndpointStatus[],
  idOf: (endpoint: string) => string): WatchRow[] {
  return rows.map(({ endpoint, status, error }) => status === null
    ? { id: idOf(endpoint), role: "unreachable", term: null, leaderId: null,
      lastLogIndex: null, commitIndex: null, appliedIndex: null,
      error: unreachableReason(error) }
    : { id: status.id, role: status.role, term: status.term, leaderId: status.leaderId,
      lastLogIndex: status.lastLogIndex, commitIndex: status.commitIndex,
      appliedIndex: status.appliedIndex, error: null });
}

const headers = ["ID", "ROLE", "TERM", "LEADER", "LAST LOG", "COMMIT", "APPLIED", "ERRORS"];

function cellsOf(row: WatchRow): string[] {
  const number = (value: number | null): string => value === null ? "-" : String(value);
  return [row.id, row.role === "preCandidate" ? "pre-candidate" : row.role, number(row.term),
    row.leaderId ?? "-", number(row.lastLogIndex), number(row.commitIndex),
    number(row.appliedIndex), row.error ?? "-"];
}

const sgr = {
  green: ["\u001b[32m", "\u001b[39m"],
  yellow: ["\u001b[33m", "\u001b[39m"],
  red: ["\u001b[31m", "\u001b[39m"],
  inverse: ["\u001b[7m", "\u001b[27m"],
} as const;

function roleColor(role: string): keyof typeof sgr | null {
  switch (role) {
    case "leader": return "green";
    case "candidate":
    case "preCandidate": return "yellow";
    case "unreachable": return "red";
    default: return null;
  }
}

/**
 * The table of `current`, columns separated by two spaces. With color, the ROLE cell is
 * coloured and each cell whose text differs from the same node's cell in `previous` is in
 * inverse video (a node absent from `previous` is new, not changed).
 */
export function renderWatchTable(current: readonly WatchRow[],
  previous: readonly WatchRow[] | null, style: Style): string {
  const cells = current.map(cellsOf);
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const before = new Map((previous ?? []).map((row) => [row.id, cellsOf(row)]));
  const lines = cells.map((row, index) => {
    const old = before.get(row[0]!);
    return row.map((text, column) => {
      const colors: (keyof typeof sgr)[] = [];
      const color = column === 1 ? roleColor(current[index]!.role) : null;
      if (color !== null) colors.push(color);
      if (old !== undefined && old[column] !== text) colors.push("inverse");
      const styled = style.color ? colors.reduce((inner, name) =>
        `${sgr[name][0]}${inner}${sgr[name][1]}`, text) : text;
      const last = column === row.length - 1;
      return last ? styled : styled + " ".repeat(widths[column]! - text.length);
    }).join("  ").trimEnd();
  });
  const header = headers.map((text, column) =>
    column === headers.length - 1 ? text : text.padEnd(widths[column]!)).join("  ");
  return [bold(header, style), ...lines].join("\n");
}

/** The frame of one refresh: a title line (on a terminal, with how to stop) and the table. */
export function watchFrame(snapshot: WatchSnapshot, previous: WatchSnapshot | null,
  intervalMs: number, style: Style, live: boolean): string {
  return `${timeOfDay(snapshot.timeMs)}  every ${intervalMs} ms${live ? "  (Ctrl-C stops)" : ""}\n` +
    `${renderWatchTable(snapshot.nodes, previous?.nodes ?? null, style)}\n`;
}

/** Terminal control: hide and show the cursor, and go back over `lines` lines to redraw. */
export const terminal = {
  hideCursor: "\u001b[?25l",
  showCursor: "\u001b[?25h",
  /** To the start of the line `lines` up, then clear from there to the end of the screen. */
  redrawOver: (lines: number): string => lines > 0 ? `\u001b[${lines}F\u001b[J` : "",
} as const;

/** How many lines `text` takes on the terminal (its newlines). */
export function lineCount(text: string): number {
  return text.split("\n").length - 1;
}
