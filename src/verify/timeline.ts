/**
 * The timeline of a chaos run, for a person: an SVG (timeline-layout.ts computes where
 * everything goes) with one labelled lane per client and per node, a leader/term track, the
 * nemesis's faults as numbered bands whose labels are never cut, every operation as a bar from
 * invocation to completion (green ok, grey fail, amber info: unknown), and each operation the
 * checker could not linearize in red. Hovering anything shows its details (SVG titles). The
 * HTML page wraps the SVG (scrolling sideways for long runs) with a legend, the list of flagged
 * operations (each a link to its bar) and the table of faults with their full descriptions.
 * Self-contained: no script, no network. Pure: returns text.
 */
import type { CheckReport } from "./report.js";
import {
  bandColors, outcomeColors, stateColors, timelineGeometry, timelineLayout,
  type TimelineLayout, type TimelineLayoutInput,
} from "./timeline-layout.js";
import { faultSpans } from "./fault-spans.js";

export type { TimelineFault } from "./fault-spans.js";
export type { TimelineLeader, TimelineNodeState } from "./timeline-layout.js";

export interface TimelineInput extends Omit<TimelineLayoutInput, "flagged"> {
  readonly report: CheckReport | null;
  readonly title: string;
  /** A note per fault number for the table (the chaos runner's unavailability). */
  readonly faultNotes?: ReadonlyMap<number, string>;
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

export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
}

const px = (value: number): string => String(Math.round(value * 10) / 10);

function svgOf(layout: TimelineLayout): string {
  const g = timelineGeometry;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${px(layout.width)}" ` +
    `height="${px(layout.height)}" viewBox="0 0 ${px(layout.width)} ${px(layout.height)}" ` +
    `font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="${g.fontPx}">`);
  out.push(`<rect width="${px(layout.width)}" height="${px(layout.height)}" fill="#fff"/>`);
  const rect = (box: { x: number; y: number; width: number; height: number; fill: string },
    title: string, id?: string): string =>
    `<rect${id === undefined ? "" : ` id="${id}"`} x="${px(box.x)}" y="${px(box.y)}" ` +
    `width="${px(box.width)}" height="${px(box.height)}" fill="${box.fill}">` +
    `<title>${escapeXml(title)}</title></rect>`;
  out.push('<g class="bands">', ...layout.bands.map((band) => rect(band, band.title)), "</g>");
  out.push('<g class="band-labels" fill="#333">');
  const top = layout.lanes[0]?.y ?? layout.height;
  for (const label of layout.bandLabels) {
    out.push(`<line x1="${px(label.bandX)}" y1="${px(label.y + 3)}" x2="${px(label.bandX)}" ` +
      `y2="${px(top)}" stroke="#999" stroke-width="0.5"/>`);
    out.push(`<text x="${px(label.x)}" y="${px(label.y)}">${escapeXml(label.text)}</text>`);
  }
  out.push("</g>", '<g class="lanes" fill="#333" text-anchor="end">');
  for (const lane of layout.lanes) {
    out.push(`<line x1="${px(layout.plotLeft)}" y1="${px(lane.y + lane.height)}" ` +
      `x2="${px(layout.plotRight)}" y2="${px(lane.y + lane.height)}" stroke="#eee"/>`);
    out.push(`<text x="${px(layout.plotLeft - 6)}" y="${px(lane.y + lane.height - 2)}">` +
      `${escapeXml(lane.name)}</text>`);
  }
  out.push("</g>", '<g class="boxes">');
  for (const box of layout.boxes) out.push(rect(box, box.title, box.id));
  out.push("</g>", '<g class="texts" fill="#fff">');
  for (const text of layout.texts) {
    out.push(`<text x="${px(text.x)}" y="${px(text.y)}">${escapeXml(text.text)}</text>`);
  }
  const axisY = layout.height - g.axisPx;
  out.push("</g>", '<g class="axis" fill="#333" stroke="#999">');
  out.push(`<line x1="${px(layout.plotLeft)}" y1="${px(axisY)}" x2="${px(layout.plotRight)}" ` +
    `y2="${px(axisY)}"/>`);
  for (const tick of layout.ticks) {
    out.push(`<line x1="${px(tick.x)}" y1="${px(axisY)}" x2="${px(tick.x)}" ` +
      `y2="${px(axisY + 4)}"/><text stroke="none" x="${px(tick.textX)}" ` +
      `y="${px(axisY + 15)}">${escapeXml(tick.text)}</text>`);
  }
  out.push("</g>", "</svg>");
  return out.join("\n");
}

function layoutOf(input: TimelineInput): TimelineLayout {
  return timelineLayout({ ...input, flagged: flaggedIndexes(input.report) });
}

/** The timeline as a standalone SVG document. */
export function renderTimelineSvg(input: TimelineInput): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svgOf(layoutOf(input))}\n`;
}

function legend(): string {
  const swatch = (colour: string, text: string): string =>
    `<span><i style="background:${colour}"></i>${escapeXml(text)}</span>`;
  return [
    swatch(outcomeColors.ok, "ok"), swatch(outcomeColors.fail, "fail (did not happen)"),
    swatch(outcomeColors.info, "info (unknown)"), swatch(outcomeColors.flagged, "not linearizable"),
    ...Object.entries(bandColors).map(([kind, colour]) => swatch(colour, kind)),
    ...Object.entries(stateColors).map(([state, colour]) => swatch(colour, `node ${state}`)),
  ].join("");
}

function faultTable(input: TimelineInput, endNs: number): string {
  const spans = faultSpans(input.faults, endNs);
  if (spans.length === 0) return "<p>No fault injected.</p>";
  const rows = spans.map((span) => `<tr><td>F${span.number}</td>` +
    `<td>${(span.startNs / 1e9).toFixed(2)} s</td><td>${((span.endNs - span.startNs) / 1e9)
      .toFixed(2)} s</td><td>${escapeXml(span.kind)}</td><td>${escapeXml(span.text)}</td>` +
    `<td>${escapeXml(input.faultNotes?.get(span.number) ?? "")}</td></tr>`);
  return "<table><tr><th>fault</th><th>at</th><th>held</th><th>kind</th><th>what</th>" +
    `<th>first write the store answered</th></tr>\n${rows.join("\n")}</table>`;
}

export function renderTimeline(input: TimelineInput): string {
  const layout = layoutOf(input);
  const verdict = input.report === null ? "" : input.report.ok ? "PASS" : "FAIL";
  const flagged = layout.flagged.map((flag) =>
    `<li><a href="#${flag.id}">${escapeXml(flag.message)}</a></li>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeXml(input.title)}</title>
<style>
 body { font: 13px system-ui, sans-serif; margin: 12px; color: #222; }
 h1 { font-size: 16px; margin: 0 0 6px; }
 .pass { color: #1a7f37; } .fail { color: #c62828; }
 #legend span { display: inline-block; margin-right: 14px; }
 #legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px;
   vertical-align: -1px; border: 1px solid #ccc; }
 #scroll { overflow-x: auto; border: 1px solid #ccc; margin: 8px 0; }
 #flagged a { color: #c62828; }
 table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left;
   vertical-align: top; border-bottom: 1px solid #eee; }
</style></head><body>
<h1>${escapeXml(input.title)} <span class="${verdict === "PASS" ? "pass" : "fail"}">${verdict}</span></h1>
<div id="legend">${legend()}</div>
<p>Hover a bar, a band or a leadership for its details; scroll sideways for the rest of the run.</p>
<ul id="flagged">${flagged}</ul>
<div id="scroll">
${svgOf(layout)}
</div>
${faultTable(input, layout.endNs)}
</body></html>
`;
}
