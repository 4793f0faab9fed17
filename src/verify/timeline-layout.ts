/**
 * The geometry of a chaos run's timeline (timeline.ts draws it as SVG): one lane per client
 * (its operations as bars from invocation to completion), one lane per node (its Raft role, or
 * its process down or paused), a leader/term track (which node led in which term), the faults
 * as numbered bands, and a time axis. Pure: positions in pixels, computed from times in
 * nanoseconds on the history's clock.
 *
 * Labels are never clipped: a band's label sits in the first row above the lanes where it does
 * not overlap another label, shifted left if it would pass the right edge; a label that would
 * not fit inside its segment (a leadership too short) is left out and kept in the tooltip.
 * Bounded: in a lane, operations narrower than `denseOpPx` that follow each other with no
 * visible gap are drawn as one bar (coloured by the worst outcome in it, its tooltip counting
 * them), so a lane has at most about one bar per pixel whatever the run's length.
 */
import { pairOperations, type HistoryOp, type OpValue } from "./history.js";
import { faultSpans, type TimelineFault } from "./fault-spans.js";

/** A node's state over an interval, as the node lanes show it. */
export interface TimelineNodeState {
  readonly node: string;
  /** A Raft role (follower, preCandidate, candidate, leader), "down" or "paused". */
  readonly state: string;
  readonly term: number;
  readonly fromNs: number;
  readonly toNs: number;
}

export interface TimelineLeader {
  readonly node: string;
  readonly term: number;
  readonly fromNs: number;
  readonly toNs: number;
}

export interface TimelineLayoutInput {
  readonly history: readonly HistoryOp[];
  readonly faults: readonly TimelineFault[];
  /** Operations to mark (the checker could not linearize them): invoke index -> message. */
  readonly flagged?: ReadonlyMap<number, string>;
  /** Each process's client (a client goes on under a new process after an info). Without it,
   * processes are packed into unnamed lanes where no two operations overlap. */
  readonly clientOfProcess?: ReadonlyMap<number, number>;
  /** The nodes, in lane order; their states and the leaders (both optional). */
  readonly nodes?: readonly string[];
  readonly nodeStates?: readonly TimelineNodeState[];
  readonly leaders?: readonly TimelineLeader[];
}

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly fill: string;
  readonly title: string;
  /** An anchor for links (a flagged operation). */
  readonly id?: string;
}

export interface TextLabel {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly text: string;
}

export interface TimelineLayout {
  readonly width: number;
  readonly height: number;
  readonly plotLeft: number;
  readonly plotRight: number;
  readonly lanes: readonly { name: string; y: number; height: number }[];
  /** Fault bands, behind everything, from the first lane to the axis. */
  readonly bands: readonly (Box & { kind: string })[];
  /** One label per band, each with the x of its band's start (a tick joins them). */
  readonly bandLabels: readonly (TextLabel & { bandX: number })[];
  readonly boxes: readonly Box[];
  /** Text drawn inside boxes (leader segments wide enough to hold it). */
  readonly texts: readonly TextLabel[];
  /** Axis ticks; each text starts at textX, moved left of its tick at the right edge. */
  readonly ticks: readonly { x: number; textX: number; text: string }[];
  readonly flagged: readonly { id: string; message: string }[];
  readonly endNs: number;
}

/** Layout constants, in pixels. Text is monospace so that its width is known here. */
export const timelineGeometry = {
  gutterPx: 86, rightMarginPx: 12, pxPerSecond: 80, plotWidthMin: 900, plotWidthMax: 40_000,
  labelRowPx: 16, laneGapPx: 8, leaderLanePx: 18, nodeLanePx: 12, clientLanePx: 12,
  axisPx: 22, charPx: 7, labelGapPx: 10, denseOpPx: 2, fontPx: 11,
} as const;

export const outcomeColors = { ok: "#4caf50", fail: "#bdbdbd", info: "#ffb300",
  flagged: "#e53935" } as const;
export const stateColors: Readonly<Record<string, string>> = {
  follower: "#cfd8dc", preCandidate: "#fff59d", candidate: "#ffb74d", leader: "#3949ab",
  down: "#424242", paused: "#90caf9",
};
export const bandColors: Readonly<Record<string, string>> = {
  partition: "rgba(120,90,200,.16)", kill: "rgba(220,60,60,.14)",
  pause: "rgba(60,140,220,.16)",
};
const nodePalette = ["#3949ab", "#00897b", "#8e24aa", "#6d4c41", "#c62828", "#0277bd",
  "#558b2f", "#ef6c00"];

export const textWidth = (text: string): number => text.length * timelineGeometry.charPx;

/** Greedy interval colouring: each operation goes to the first lane free at its invocation. */
export function packLanes(intervals: readonly { start: number; end: number }[]): number[] {
  const laneEnds: number[] = [];
  return intervals.map(({ start, end }) => {
    let lane = laneEnds.findIndex((laneEnd) => laneEnd <= start);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(end);
    } else {
      laneEnds[lane] = end;
    }
    return lane;
  });
}

export function operationLabel(f: string, value: OpValue): string {
  const { sku, qty, stock, orderId, error, node } = value;
  const parts = [f, sku === undefined ? "" : String(sku)];
  if (qty !== undefined) parts.push(`qty ${qty}`);
  if (stock !== undefined) parts.push(`stock ${stock === null ? "absent" : stock}`);
  if (orderId !== undefined) parts.push(String(orderId));
  if (error !== undefined) parts.push(`error ${error}`);
  if (node !== undefined) parts.push(`via ${node}`);
  return parts.filter((part) => part !== "").join(" ");
}

/**
 * Places each label (in x order) in the first row where it overlaps no other, at its x or,
 * if it would pass `right`, as far right as fits (never left of `left`). Returns each label's
 * row and x.
 */
export function placeLabels(labels: readonly { x: number; width: number }[], left: number,
  right: number, gapPx: number): { row: number; x: number }[] {
  const rowEnds: number[] = [];
  return labels.map(({ x, width }) => {
    const placed = Math.max(left, Math.min(x, right - width));
    let row = rowEnds.findIndex((end) => end + gapPx <= placed);
    if (row < 0) row = rowEnds.push(0) - 1;
    rowEnds[row] = placed + width;
    return { row, x: placed };
  });
}

const secondsText = (ns: number): string => `${(ns / 1e9).toFixed(2)} s`;

function niceStepSeconds(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 0.001)));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? 10 * power;
}

export function timelineLayout(input: TimelineLayoutInput): TimelineLayout {
  const g = timelineGeometry;
  const operations = pairOperations(input.history);
  // reduce, not Math.max(...spread): a long run has more events than a call has arguments.
  const endNs = [...input.history, ...input.faults]
    .reduce((latest, event) => Math.max(latest, event.time), 0) + 1;
  const plotWidth = Math.min(g.plotWidthMax,
    Math.max(g.plotWidthMin, Math.round(endNs / 1e9 * g.pxPerSecond)));
  // The gutter holds the lane names, right-aligned: "leader", the node ids, "client 99".
  const plotLeft = Math.max(g.gutterPx, 12 + g.charPx * (input.nodes ?? [])
    .reduce((longest, node) => Math.max(longest, node.length), 9));
  const plotRight = plotLeft + plotWidth;
  // Node states and leaderships may run past the history's end (the summary is made later).
  const x = (ns: number): number => plotLeft + Math.min(Math.max(ns, 0), endNs) / endNs *
    plotWidth;
  const spans = faultSpans(input.faults, endNs);
  const labels = spans.map((span) => `F${span.number} ${span.label}`);
  const placed = placeLabels(spans.map((span, k) => ({ x: x(span.startNs),
    width: textWidth(labels[k] as string) })), plotLeft, plotRight, g.labelGapPx);
  const rows = placed.reduce((count, place) => Math.max(count, place.row + 1), 0);
  let y = rows * g.labelRowPx + 6;
  const lanes: { name: string; y: number; height: number }[] = [];
  const boxes: Box[] = [];
  const texts: TextLabel[] = [];
  const lanesTop = y;
  if (input.leaders !== undefined) {
    lanes.push({ name: "leader", y, height: g.leaderLanePx });
    leaderBoxes(input, y, x, boxes, texts);
    y += g.leaderLanePx + g.laneGapPx;
  }
  for (const node of input.nodes ?? []) {
    lanes.push({ name: node, y, height: g.nodeLanePx });
    for (const state of (input.nodeStates ?? []).filter((each) => each.node === node)) {
      boxes.push({ x: x(state.fromNs), y, height: g.nodeLanePx,
        width: Math.max(0.5, x(state.toNs) - x(state.fromNs)),
        fill: stateColors[state.state] ?? "#eeeeee",
        title: `${node}: ${state.state}${state.term > 0 ? `, term ${state.term}` : ""}, ` +
          `${secondsText(state.fromNs)} to ${secondsText(state.toNs)}` });
    }
    y += g.nodeLanePx + 1;
  }
  if ((input.nodes ?? []).length > 0) y += g.laneGapPx;
  const flagged = operationBoxes(input, operations, endNs, y, x, lanes, boxes);
  y = lanes.reduce((bottom, lane) => Math.max(bottom, lane.y + lane.height), y) + 4;
  const bands = spans.map((span) => ({ x: x(span.startNs), y: lanesTop,
    width: Math.max(1, x(span.endNs) - x(span.startNs)), height: y - lanesTop, kind: span.kind,
    fill: bandColors[span.kind] ?? "rgba(0,0,0,.08)",
    title: `F${span.number} ${span.kind}, ${secondsText(span.startNs)} to ` +
      `${secondsText(span.endNs)}: ${span.text}` }));
  const bandLabels = spans.map((span, k) => ({ text: labels[k] as string,
    x: (placed[k] as { x: number }).x, y: ((placed[k] as { row: number }).row + 1) * g.labelRowPx - 4,
    width: textWidth(labels[k] as string), bandX: x(span.startNs) }));
  const step = niceStepSeconds(endNs / 1e9 / (plotWidth / 100));
  const width = plotRight + g.rightMarginPx;
  const ticks = Array.from({ length: Math.floor(endNs / 1e9 / step) + 1 }, (_, k) => {
    const text = `${Number((k * step).toFixed(3))} s`;
    return { x: x(k * step * 1e9), text,
      textX: Math.min(x(k * step * 1e9) + 2, width - 2 - textWidth(text)) };
  });
  return { width, height: y + g.axisPx, plotLeft, plotRight, lanes,
    bands, bandLabels, boxes, texts, ticks, flagged, endNs };
}

function leaderBoxes(input: TimelineLayoutInput, y: number, x: (ns: number) => number,
  boxes: Box[], texts: TextLabel[]): void {
  const g = timelineGeometry;
  const nodes = input.nodes ?? [];
  for (const leader of input.leaders ?? []) {
    const x0 = x(leader.fromNs);
    const width = Math.max(1, x(leader.toNs) - x0);
    const colour = nodePalette[Math.max(0, nodes.indexOf(leader.node)) % nodePalette.length];
    boxes.push({ x: x0, y, width, height: g.leaderLanePx, fill: colour as string,
      title: `${leader.node} led term ${leader.term}, ${secondsText(leader.fromNs)} to ` +
        secondsText(leader.toNs) });
    const text = `${leader.node} t${leader.term}`;
    if (textWidth(text) + 6 <= width) {
      texts.push({ x: x0 + 3, y: y + g.leaderLanePx - 5, width: textWidth(text), text });
    }
  }
}

const outcomeRank = { ok: 0, fail: 1, info: 2 } as const;

/** Client lanes and their operation bars; returns the flagged operations' anchors. */
function operationBoxes(input: TimelineLayoutInput, operations: ReturnType<typeof pairOperations>,
  endNs: number, top: number, x: (ns: number) => number,
  lanes: { name: string; y: number; height: number }[], boxes: Box[]):
  { id: string; message: string }[] {
  const g = timelineGeometry;
  const intervals = operations.map((operation) => ({ start: operation.invoke.time,
    end: operation.completion?.time ?? endNs }));
  const clients = input.clientOfProcess;
  const laneOf = clients === undefined ? packLanes(intervals)
    : operations.map((operation) => clients.get(operation.process) ?? -1);
  const laneIds = [...new Set(laneOf)].sort((a, b) => a - b);
  const flagged: { id: string; message: string }[] = [];
  for (const [row, laneId] of laneIds.entries()) {
    const y = top + row * (g.clientLanePx + 1);
    lanes.push({ name: clients === undefined ? `lane ${laneId + 1}`
      : laneId < 0 ? "other" : `client ${laneId + 1}`, y, height: g.clientLanePx });
    let dense: { x0: number; x1: number; worst: number; counts: number[] } | null = null;
    const flush = (): void => {
      if (dense === null) return;
      const [ok, fail, info] = dense.counts as [number, number, number];
      boxes.push({ x: dense.x0, y: y + 1, width: Math.max(0.5, dense.x1 - dense.x0),
        height: g.clientLanePx - 2,
        fill: [outcomeColors.ok, outcomeColors.fail, outcomeColors.info][dense.worst] as string,
        title: `${ok + fail + info} operations: ${ok} ok, ${fail} fail, ${info} info` });
      dense = null;
    };
    operations.forEach((operation, k) => {
      if (laneOf[k] !== laneId) return;
      const interval = intervals[k] as { start: number; end: number };
      const x0 = x(interval.start);
      const x1 = x(interval.end);
      const message = input.flagged?.get(operation.invoke.index);
      if (x1 - x0 < g.denseOpPx && message === undefined) {
        if (dense !== null && x0 - dense.x1 > 1) flush();
        dense ??= { x0, x1, worst: 0, counts: [0, 0, 0] };
        dense.x1 = Math.max(dense.x1, x1);
        dense.worst = Math.max(dense.worst, outcomeRank[operation.type]);
        (dense.counts[outcomeRank[operation.type]] as number)++;
        return;
      }
      flush();
      const id = message === undefined ? undefined : `op-${operation.invoke.index}`;
      if (id !== undefined && message !== undefined) flagged.push({ id, message });
      boxes.push({ x: x0, y: y + 1, width: Math.max(0.5, x1 - x0 - 0.5),
        height: g.clientLanePx - 2,
        fill: message !== undefined ? outcomeColors.flagged : outcomeColors[operation.type],
        title: `#${operation.invoke.index} p${operation.process} ${operation.type} ` +
          `${operationLabel(operation.f, operation.value)}\n${secondsText(interval.start)} to ` +
          secondsText(interval.end) + (message === undefined ? "" : `\n${message}`),
        ...(id === undefined ? {} : { id }) });
    });
    flush();
  }
  return flagged;
}
