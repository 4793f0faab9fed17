/**
 * An HTML timeline of a chaos run, for a person: every operation as a bar from its invocation
 * to its completion (green ok, grey fail, amber info: unknown), laid out in lanes so that no
 * two bars of a lane overlap, with the nemesis's faults as shaded bands and every operation the
 * checker could not linearize marked in red and listed at the top, each a link that centres it.
 * One self-contained file (no network, no library): the data is embedded as compact JSON and
 * drawn on a canvas; wheel to zoom, drag to pan, hover for the operation. Pure: returns text.
 */
import { pairOperations, type HistoryOp, type OpValue } from "./history.js";
import type { CheckReport } from "./report.js";

/** A fault event as the chaos runner records it (FaultEvent in cluster/chaos.ts). */
export interface TimelineFault {
  /** Nanoseconds on the history's clock. */
  readonly time: number;
  readonly phase: "start" | "end" | "heal-all";
  readonly fault: string;
  readonly description: string;
}

/** The operations the checker names: each non-linearizable item's blocked operation. */
function flaggedIndexes(report: CheckReport | null): Map<number, string> {
  const flagged = new Map<number, string>();
  for (const item of report?.linearizability.items ?? []) {
    if (item.linearizable === false) {
      flagged.set(item.explanation.blockedOperation.index, item.explanation.message);
    }
  }
  return flagged;
}

/** Greedy interval colouring: each operation goes to the first lane free at its invocation. */
function assignLanes(intervals: readonly { start: number; end: number }[]): number[] {
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

function label(f: string, value: OpValue): string {
  const { sku, qty, stock, orderId, error, node } = value;
  const parts = [f, sku === undefined ? "" : String(sku)];
  if (qty !== undefined) parts.push(`qty ${qty}`);
  if (stock !== undefined) parts.push(`stock ${stock === null ? "absent" : stock}`);
  if (orderId !== undefined) parts.push(String(orderId));
  if (error !== undefined) parts.push(`error ${error}`);
  if (node !== undefined) parts.push(`via ${node}`);
  return parts.filter((part) => part !== "").join(" ");
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

export interface TimelineInput {
  readonly history: readonly HistoryOp[];
  readonly faults: readonly TimelineFault[];
  readonly report: CheckReport | null;
  readonly title: string;
}

export function renderTimeline(input: TimelineInput): string {
  const operations = pairOperations(input.history);
  // reduce, not Math.max(...spread): a long run has more events than a call has arguments.
  const endNs = [...input.history, ...input.faults]
    .reduce((latest, event) => Math.max(latest, event.time), 0) + 1;
  const toMs = (ns: number): number => Math.round(ns / 1e4) / 100;
  const flagged = flaggedIndexes(input.report);
  const intervals = operations.map((operation) => ({
    start: operation.invoke.time,
    end: operation.completion?.time ?? endNs,
  }));
  const lanes = assignLanes(intervals);
  // [lane, startMs, endMs, type (0 ok, 1 fail, 2 info), flagged 0/1, label]
  const ops = operations.map((operation, k) => [
    lanes[k], toMs(intervals[k]!.start), toMs(intervals[k]!.end),
    operation.type === "ok" ? 0 : operation.type === "fail" ? 1 : 2,
    flagged.has(operation.invoke.index) ? 1 : 0,
    `#${operation.invoke.index} p${operation.process} ${operation.type} ` +
      label(operation.f, operation.value),
  ]);
  // Fault bands: a start lasts until the last end before the next start (a pause that wakes
  // still cut off ends twice), or until the final heal. One with no end at all runs on to
  // whatever comes next, marked as never healed.
  const bands: [number, number, string, string][] = [];
  let open: { start: number; text: string; kind: string; end: number | null } | null = null;
  const close = (next: number): void => {
    if (open !== null) {
      bands.push([toMs(open.start), toMs(open.end ?? next), open.kind,
        open.end === null ? `${open.text} · never healed` : open.text]);
    }
    open = null;
  };
  for (const fault of input.faults) {
    if (fault.phase === "start") {
      close(fault.time);
      open = { start: fault.time, text: fault.description, kind: fault.fault, end: null };
    } else if (fault.phase === "end" && open !== null) {
      open.end = fault.time;
      open.text += ` · then ${fault.description}`;
    } else if (fault.phase === "heal-all") {
      if (open !== null) open.end ??= fault.time;
      close(fault.time);
    }
  }
  close(endNs);
  const flaggedList = operations.flatMap((operation, k) =>
    flagged.has(operation.invoke.index)
      ? [{ k, ms: toMs(intervals[k]!.start), message: flagged.get(operation.invoke.index)! }]
      : []);
  const verdict = input.report === null ? "" : input.report.ok ? "PASS" : "FAIL";
  const data = { ops, bands, laneCount: lanes.reduce((count, lane) => Math.max(count, lane + 1), 1),
    endMs: toMs(endNs), flagged: flaggedList };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(input.title)}</title>
<style>
 body { font: 13px system-ui, sans-serif; margin: 12px; color: #222; }
 h1 { font-size: 16px; margin: 0 0 6px; }
 .pass { color: #1a7f37; } .fail { color: #c62828; }
 #legend span { display: inline-block; margin-right: 14px; }
 #legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
 #wrap { position: relative; border: 1px solid #ccc; margin-top: 8px; }
 canvas { display: block; width: 100%; cursor: grab; }
 #tip { position: absolute; pointer-events: none; background: #fff; border: 1px solid #999;
   padding: 3px 6px; font: 12px monospace; white-space: pre; display: none; }
 #flagged li { margin: 2px 0; } #flagged a { cursor: pointer; color: #c62828; }
</style></head><body>
<h1>${escapeHtml(input.title)} <span class="${verdict === "PASS" ? "pass" : "fail"}">${verdict}</span></h1>
<div id="legend"><span><i style="background:#4caf50"></i>ok</span><span><i style="background:#bbb"></i>fail (did not happen)</span><span><i style="background:#ffb300"></i>info (unknown)</span><span><i style="background:#e53935"></i>not linearizable</span><span><i style="background:rgba(120,90,200,.18)"></i>partition</span><span><i style="background:rgba(220,60,60,.16)"></i>kill</span><span><i style="background:rgba(60,140,220,.18)"></i>pause</span>
 — wheel: zoom, drag: pan, double-click: whole run</div>
<ul id="flagged"></ul>
<div id="wrap"><canvas id="c"></canvas><div id="tip"></div></div>
<script>
(() => {
const D = ${scriptJson(data)};
const colors = ["#4caf50", "#bbb", "#ffb300"];
const bandColors = { partition: "rgba(120,90,200,.18)", kill: "rgba(220,60,60,.16)", pause: "rgba(60,140,220,.18)" };
const canvas = document.getElementById("c"), tip = document.getElementById("tip");
const ctx = canvas.getContext("2d");
const laneH = 14, headPx = 34, axisH = 18;
let view = [0, D.endMs];
const byLane = Array.from({ length: D.laneCount }, () => []);
D.ops.forEach((op, k) => byLane[op[0]].push(k));
function size() {
  const ratio = window.devicePixelRatio || 1;
  const height = headPx + D.laneCount * laneH + axisH;
  canvas.style.height = height + "px";
  canvas.width = canvas.clientWidth * ratio; canvas.height = height * ratio;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  draw();
}
const x = (ms) => (ms - view[0]) / (view[1] - view[0]) * canvas.clientWidth;
function draw() {
  const w = canvas.clientWidth, h = headPx + D.laneCount * laneH;
  ctx.clearRect(0, 0, w, h + axisH);
  ctx.font = "11px system-ui";
  for (const [s, e, kind, text] of D.bands) {
    const x0 = x(s), x1 = Math.max(x(e), x0 + 1);
    if (x1 < 0 || x0 > w) continue;
    ctx.fillStyle = bandColors[kind] || "rgba(0,0,0,.1)";
    ctx.fillRect(x0, 0, x1 - x0, h);
    ctx.fillStyle = "#555";
    ctx.save(); ctx.beginPath(); ctx.rect(x0, 0, x1 - x0, headPx); ctx.clip();
    ctx.fillText(text, x0 + 3, 12); ctx.restore();
  }
  for (const op of D.ops) {
    const x0 = x(op[1]), x1 = x(op[2]);
    if (x1 < 0 || x0 > w) continue;
    ctx.fillStyle = op[4] ? "#e53935" : colors[op[3]];
    ctx.fillRect(x0, headPx + op[0] * laneH + 2, Math.max(1, x1 - x0 - 0.5), laneH - 4);
  }
  for (const f of D.flagged) {
    const op = D.ops[f.k], cx = x(op[1]);
    ctx.fillStyle = "#e53935";
    ctx.beginPath(); ctx.moveTo(cx, headPx - 10); ctx.lineTo(cx - 5, headPx - 18); ctx.lineTo(cx + 5, headPx - 18); ctx.fill();
  }
  ctx.fillStyle = "#333"; ctx.strokeStyle = "#999";
  const span = view[1] - view[0], step = niceStep(span / 10);
  for (let t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
    const px = x(t);
    ctx.beginPath(); ctx.moveTo(px, h); ctx.lineTo(px, h + 4); ctx.stroke();
    ctx.fillText(t >= 1000 ? (t / 1000).toFixed(step < 1000 ? 2 : 0) + " s" : t.toFixed(0) + " ms", px + 2, h + 14);
  }
}
function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 0.001))));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const at = view[0] + e.offsetX / canvas.clientWidth * (view[1] - view[0]);
  const k = e.deltaY > 0 ? 1.25 : 0.8;
  view = [at - (at - view[0]) * k, at + (view[1] - at) * k];
  draw();
}, { passive: false });
let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, view: view.slice() }; });
window.addEventListener("mouseup", () => { drag = null; });
canvas.addEventListener("dblclick", () => { view = [0, D.endMs]; draw(); });
canvas.addEventListener("mousemove", (e) => {
  if (drag) {
    const dms = (e.clientX - drag.x) / canvas.clientWidth * (drag.view[1] - drag.view[0]);
    view = [drag.view[0] - dms, drag.view[1] - dms]; draw(); return;
  }
  const lane = Math.floor((e.offsetY - headPx) / laneH);
  const at = view[0] + e.offsetX / canvas.clientWidth * (view[1] - view[0]);
  const slack = 3 / canvas.clientWidth * (view[1] - view[0]);
  const hit = (byLane[lane] || []).find((k) => D.ops[k][1] - slack <= at && at <= D.ops[k][2] + slack);
  const band = D.bands.find((b) => e.offsetY < headPx && b[0] <= at && at <= b[1]);
  const text = hit !== undefined ? D.ops[hit][5] + "\\n" + D.ops[hit][1].toFixed(1) + " → " + D.ops[hit][2].toFixed(1) + " ms"
    : band ? band[3] : null;
  if (text === null) { tip.style.display = "none"; return; }
  tip.textContent = text; tip.style.display = "block";
  tip.style.left = Math.max(0, Math.min(e.offsetX + 12, canvas.clientWidth - 360)) + "px"; tip.style.top = (e.offsetY + 12) + "px";
});
const list = document.getElementById("flagged");
for (const f of D.flagged) {
  const li = document.createElement("li"), a = document.createElement("a");
  a.textContent = f.message;
  a.onclick = () => { const op = D.ops[f.k]; const half = 1500; view = [op[1] - half, op[2] + half]; draw(); };
  li.appendChild(a); list.appendChild(li);
}
window.addEventListener("resize", size);
size();
})();
</script></body></html>
`;
}
