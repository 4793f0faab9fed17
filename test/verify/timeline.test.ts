/**
 * The chaos run's timeline (timeline-layout.ts, timeline.ts). Goal: every operation is drawn
 * once, in its client's labelled lane (or, without clients, in a lane where it overlaps no
 * other), coloured by outcome; each node has a labelled lane of its states and the leader/term
 * track shows who led which term; the fault bands span each fault from its start to its last
 * end, and their labels are whole, overlap no other and stay inside the drawing; the operation
 * the checker could not linearize is flagged and linked; nothing in the history can break the
 * markup; and a long run's lanes hold at most about one bar per pixel. Method: lay out and
 * render hand-made histories, and read the layout's boxes and the SVG text back.
 */
import { expect } from "chai";
import { faultSpans, type TimelineFault } from "../../src/verify/fault-spans.js";
import { checkInvariants } from "../../src/verify/invariants.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";
import { buildReport } from "../../src/verify/report.js";
import { renderTimeline, renderTimelineSvg } from "../../src/verify/timeline.js";
import {
  outcomeColors, placeLabels, stateColors, textWidth, timelineLayout, type TimelineLayout,
} from "../../src/verify/timeline-layout.js";
import { HistoryBuilder, created } from "./helpers.js";

const staleRead = created("a", 5)
  .invoke(1, "add", { sku: "a", qty: 1 })
  .invoke(2, "read", { sku: "a" })
  .ok(1)
  .ok(2, { stock: 6 })
  .invoke(3, "buy", { sku: "a", qty: 9 }).fail(3, { error: "insufficient_stock" })
  .invoke(4, "buy", { sku: "a", qty: 2 }).info(4, { error: "timeout" })
  .done(5, "read", { sku: "a", node: "n2" }, { stock: 5 });
const ms = 1e6;
const faults: TimelineFault[] = [
  { time: 1 * ms, phase: "start", fault: "pause", description: "SIGSTOP n1, cut off" },
  { time: 2 * ms, phase: "end", fault: "pause", description: "SIGCONT n1" },
  { time: 3 * ms, phase: "end", fault: "partition", description: "healed" },
  { time: 4 * ms, phase: "start", fault: "kill", description: "SIGKILL n2", label: "kill n2" },
  { time: 6 * ms, phase: "heal-all", fault: "final", description: "heal everything" },
];

/** The operation bars (their tooltips start with the invocation's index). */
const operationBoxes = (layout: TimelineLayout) =>
  layout.boxes.filter((box) => box.title.startsWith("#"));

function laneAt(layout: TimelineLayout, y: number): string | undefined {
  return layout.lanes.find((lane) => lane.y <= y && y < lane.y + lane.height)?.name;
}

describe("verify: timeline", () => {
  it("draws each operation once, in its client's lane, coloured by outcome", () => {
    // Client 0 ran processes 0 and 4 (4 after 1's info... here: any mapping the runner made).
    const clientOfProcess = new Map([[0, 0], [1, 1], [2, 0], [3, 1], [4, 2], [5, 2]]);
    const layout = timelineLayout({ history: staleRead.ops(), faults: [], clientOfProcess });
    const bars = operationBoxes(layout);
    expect(bars).to.have.length(6);
    expect(bars.map((bar) => bar.fill)).to.have.members([outcomeColors.ok, outcomeColors.ok,
      outcomeColors.ok, outcomeColors.fail, outcomeColors.info, outcomeColors.ok]);
    expect(layout.lanes.map((lane) => lane.name)).to.deep.equal(["client 1", "client 2",
      "client 3"]);
    for (const bar of bars) {
      const process = Number(/ p(\d+) /.exec(bar.title)?.[1]);
      expect(laneAt(layout, bar.y), bar.title)
        .to.equal(`client ${clientOfProcess.get(process)! + 1}`);
    }
    expect(bars.find((bar) => bar.title.startsWith("#10 "))?.title)
      .to.match(/^#10 p5 ok read a stock 5 via n2\n/);
  });

  it("without clients, packs operations into lanes where no two overlap", () => {
    const layout = timelineLayout({ history: staleRead.ops(), faults: [] });
    const bars = operationBoxes(layout);
    expect(new Set(bars.map((bar) => bar.y)).size).to.equal(2);
    for (const [k, first] of bars.entries()) {
      for (const second of bars.slice(k + 1)) {
        if (first.y !== second.y) continue;
        expect(first.x + first.width <= second.x || second.x + second.width <= first.x,
          `${first.title} / ${second.title}`).to.equal(true);
      }
    }
  });

  it("spans each fault from its start to its last end, or to the final heal", () => {
    const spans = faultSpans(faults, 10 * ms);
    expect(spans.map(({ startNs, endNs, kind, healed }) => [startNs / ms, endNs / ms, kind,
      healed])).to.deep.equal([[1, 3, "pause", true], [4, 6, "kill", true]]);
    expect(spans[0]!.text).to.equal("SIGSTOP n1, cut off · then SIGCONT n1 · then healed");
    expect(spans[0]!.firstEndNs).to.equal(2 * ms);
    expect(spans.map((span) => span.label)).to.deep.equal(["pause SIGSTOP n1, cut off",
      "kill n2"]);
    const unhealed = faultSpans([faults[0]!, faults[3]!], 5 * ms);
    expect(unhealed.map(({ startNs, endNs, text }) => [startNs / ms, endNs / ms, text]))
      .to.deep.equal([
        [1, 4, "SIGSTOP n1, cut off · never healed"],
        [4, 5, "SIGKILL n2 · never healed"],
      ]);
    const layout = timelineLayout({ history: [], faults });
    expect(layout.bands.map((band) => band.kind)).to.deep.equal(["pause", "kill"]);
    expect(layout.bandLabels.map((label) => label.text)).to.deep.equal([
      "F1 pause SIGSTOP n1, cut off", "F2 kill n2"]);
    // The run ends on a tick: its text moves left of it rather than past the edge.
    const last = layout.ticks.at(-1)!;
    expect(last.text).to.equal("0.006 s");
    expect(last.textX + textWidth(last.text)).to.be.at.most(layout.width);
    expect(last.textX).to.be.below(last.x);
  });

  it("places band labels whole, in rows where none overlaps another or passes an edge", () => {
    // Twenty short faults close together, the last at the very end of the run.
    const crowded: TimelineFault[] = Array.from({ length: 20 }, (_, k) => [
      { time: (k * 300 + 1) * ms, phase: "start" as const, fault: "partition",
        description: `Split into {n1} and {n2, n3}: number ${k}`,
        label: `split n1 | n2 n3 (${k})` },
      { time: (k * 300 + 200) * ms, phase: "end" as const, fault: "partition",
        description: "healed" },
    ]).flat();
    const layout = timelineLayout({ history: [], faults: crowded });
    expect(layout.bandLabels).to.have.length(20);
    for (const [k, label] of layout.bandLabels.entries()) {
      expect(label.text).to.equal(`F${k + 1} split n1 | n2 n3 (${k})`);
      expect(label.x).to.be.at.least(layout.plotLeft);
      expect(label.x + label.width).to.be.at.most(layout.plotRight);
      expect(label.y).to.be.below(layout.lanes[0]?.y ?? layout.bands[0]!.y);
      for (const other of layout.bandLabels.slice(k + 1)) {
        if (other.y !== label.y) continue;
        expect(label.x + label.width <= other.x || other.x + other.width <= label.x,
          `${label.text} / ${other.text}`).to.equal(true);
      }
    }
    expect(new Set(layout.bandLabels.map((label) => label.y)).size).to.be.greaterThan(1);
    // The rule itself: a label past the right edge moves left; one that cannot share a row
    // opens a new row.
    expect(placeLabels([{ x: 0, width: 50 }, { x: 20, width: 50 }, { x: 95, width: 30 }],
      0, 100, 5)).to.deep.equal([{ row: 0, x: 0 }, { row: 1, x: 20 }, { row: 0, x: 70 }]);
  });

  it("labels a lane per node and a leader track that says who led which term", () => {
    const layout = timelineLayout({
      history: staleRead.ops(), faults: [], nodes: ["n1", "n2"],
      nodeStates: [
        { node: "n1", state: "leader", term: 2, fromNs: 0, toNs: 60 },
        { node: "n1", state: "down", term: 2, fromNs: 60, toNs: 130 },
        { node: "n2", state: "candidate", term: 3, fromNs: 60, toNs: 70 },
        { node: "n2", state: "leader", term: 3, fromNs: 70, toNs: 130 },
      ],
      leaders: [{ node: "n1", term: 2, fromNs: 0, toNs: 60 },
        { node: "n2", term: 3, fromNs: 70, toNs: 10_000 }],
    });
    // A leadership that outlasts the history stops at the plot's right edge.
    for (const box of layout.boxes) {
      expect(box.x + box.width, box.title).to.be.at.most(layout.plotRight + 0.001);
    }
    expect(layout.lanes.map((lane) => lane.name)).to.deep.equal(["leader", "n1", "n2",
      "lane 1", "lane 2"]);
    const leaderLane = layout.lanes[0]!;
    const track = layout.boxes.filter((box) => box.y === leaderLane.y);
    expect(track.map((box) => box.title)).to.deep.equal([
      "n1 led term 2, 0.00 s to 0.00 s", "n2 led term 3, 0.00 s to 0.00 s"]);
    expect(track[0]!.fill).to.not.equal(track[1]!.fill);
    expect(layout.texts.map((text) => text.text)).to.deep.equal(["n1 t2", "n2 t3"]);
    const n1 = layout.boxes.filter((box) => laneAt(layout, box.y) === "n1");
    expect(n1.map((box) => box.fill)).to.deep.equal([stateColors.leader, stateColors.down]);
    expect(n1[1]!.title).to.match(/^n1: down, term 2/);
    const svg = renderTimelineSvg({ history: staleRead.ops(), faults: [], report: null,
      title: "t", nodes: ["n1"], leaders: [], nodeStates: [] });
    expect(svg).to.match(/^<\?xml/);
    for (const name of ["leader", "n1", "lane 1"]) expect(svg).to.include(`>${name}</text>`);
  });

  it("flags and links the read the checker could not linearize", () => {
    const history = staleRead.ops();
    const report = buildReport({ linearizability: checkLinearizability(history),
      invariants: checkInvariants({ history, finalReads: [], replicas: [] }),
      operationCount: 6 });
    const html = renderTimeline({ history, faults, report, title: "run <x>",
      faultNotes: new Map([[2, "412 ms (buy via n3, during the fault)"]]) });
    const flagged = timelineLayout({ history, faults: [],
      flagged: new Map([[10, "cannot be linearized"]]) });
    expect(flagged.boxes.filter((box) => box.fill === outcomeColors.flagged)
      .map((box) => box.id)).to.deep.equal(["op-10"]);
    expect(html).to.match(/<a href="#op-10">[^<]*cannot be linearized/);
    expect(html).to.include('<rect id="op-10"');
    expect(html).to.include("<title>run &lt;x&gt;</title>");
    expect(html).to.include('class="fail">FAIL');
    expect(html).to.include("<td>F2</td>");
    expect(html).to.include("412 ms (buy via n3, during the fault)");
  });

  it("escapes every value from the history", () => {
    const history = created("</svg><script>x", 1).ops();
    const html = renderTimeline({ history, faults: [{ time: 5, phase: "start", fault: "kill",
      description: "<b>", label: "a & b" }], report: null, title: "t" });
    expect(html).to.not.include("<script>");
    expect(html).to.not.include("<b>");
    expect(html).to.include("&lt;/svg&gt;&lt;script&gt;x");
    expect(html).to.include("F1 a &amp; b");
  });

  it("draws a long run's lane with at most about one bar per pixel", () => {
    const builder = new HistoryBuilder();
    for (let k = 0; k < 20_000; k++) builder.done(0, "read", { sku: "a" }, { stock: 1 });
    const layout = timelineLayout({ history: builder.ops(), faults: [],
      clientOfProcess: new Map([[0, 0]]) });
    const bars = layout.boxes.filter((box) => laneAt(layout, box.y) === "client 1");
    expect(bars.length).to.be.at.most(layout.plotRight - layout.plotLeft);
    const counted = bars.reduce((total, bar) =>
      total + (bar.title.startsWith("#") ? 1 : Number(/^(\d+) operations/.exec(bar.title)?.[1])),
    0);
    expect(counted).to.equal(20_000);
  });
});
