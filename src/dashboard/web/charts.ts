/**
 * The live view's charts: one uPlot per quantity, one series per node (and the workload's own
 * where it has one), over the last five minutes of samples. Leader elections are drawn as
 * vertical lines, and the event picked on the timeline as a thicker one, so that a failover
 * is seen in the charts at the moment it happened.
 */
import uPlot from "uplot";
import type { MetricsSample, NodeRates } from "../dashboard-frame.js";

export interface ChartSpec {
  readonly key: string;
  readonly title: string;
  readonly unit: string;
  /** The node's value in a sample. */
  readonly nodeValue?: (rates: NodeRates) => number | null;
  /** The workload's value in a sample, drawn as one more series. */
  readonly workloadValue?: (sample: MetricsSample) => number | null;
}

export const chartSpecs: readonly ChartSpec[] = [
  { key: "writes", title: "writes/s", unit: "/s", nodeValue: (rates) => rates.writesPerSecond,
    workloadValue: (sample) => sample.workload?.ordersPerSecond ?? null },
  { key: "reads", title: "reads/s", unit: "/s", nodeValue: (rates) => rates.readsPerSecond },
  { key: "p50", title: "write latency p50 (ms)", unit: "ms", nodeValue: (rates) => rates.writeP50Ms,
    workloadValue: (sample) => sample.workload?.p50Ms ?? null },
  { key: "p99", title: "write latency p99 (ms)", unit: "ms", nodeValue: (rates) => rates.writeP99Ms,
    workloadValue: (sample) => sample.workload?.p99Ms ?? null },
  { key: "fsync", title: "fsync p99 (ms)", unit: "ms", nodeValue: (rates) => rates.fsyncP99Ms },
  { key: "loop", title: "event-loop delay p99 (ms)", unit: "ms",
    nodeValue: (rates) => rates.eventLoopDelayP99Ms },
];

export const nodeColors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
  "#e377c2", "#17becf", "#7f7f7f"];

export interface Markers {
  /** Times (ms) of leader elections. */
  elections: readonly number[];
  /** The time (ms) of the event picked on the timeline, or null. */
  picked: number | null;
}

function markerPlugin(markers: () => Markers): uPlot.Plugin {
  return {
    hooks: {
      draw: [(plot: uPlot) => {
        const context = plot.ctx;
        const { top, height } = plot.bbox;
        const line = (timeMs: number, color: string, width: number): void => {
          const x = plot.valToPos(timeMs / 1000, "x", true);
          if (!(x >= plot.bbox.left && x <= plot.bbox.left + plot.bbox.width)) return;
          context.save();
          context.strokeStyle = color;
          context.lineWidth = width;
          context.beginPath();
          context.moveTo(x, top);
          context.lineTo(x, top + height);
          context.stroke();
          context.restore();
        };
        const current = markers();
        for (const timeMs of current.elections) line(timeMs, "rgba(230, 140, 0, 0.8)", 1.5);
        if (current.picked !== null) line(current.picked, "rgba(0, 0, 0, 0.85)", 3);
      }],
    },
  };
}

/** One chart, created in `element`; update() redraws it from the samples. */
export class Chart {
  private plot: uPlot | null = null;
  private seriesKey = "";

  constructor(private readonly element: HTMLElement, private readonly spec: ChartSpec,
    private readonly markers: () => Markers) {}

  update(samples: readonly MetricsSample[], ids: readonly string[]): void {
    const withWorkload = this.spec.workloadValue !== undefined &&
      samples.some((sample) => sample.workload !== null);
    const key = `${ids.join(",")}|${withWorkload}`;
    if (this.plot === null || key !== this.seriesKey) this.create(ids, withWorkload, key);
    const xs = samples.map((sample) => sample.timeMs / 1000);
    const columns: (number | null)[][] = ids.map((id) => samples.map((sample) => {
      const rates = sample.nodes[id];
      return rates === undefined || this.spec.nodeValue === undefined ? null
        : this.spec.nodeValue(rates);
    }));
    if (withWorkload) columns.push(samples.map((sample) => this.spec.workloadValue!(sample)));
    this.plot!.setData([xs, ...columns] as uPlot.AlignedData);
  }

  /** Redraws the markers only. */
  redraw(): void {
    this.plot?.redraw(false, false);
  }

  private create(ids: readonly string[], withWorkload: boolean, key: string): void {
    this.plot?.destroy();
    this.seriesKey = key;
    const series: uPlot.Series[] = [{},
      ...ids.map((id, k) => ({ label: id, stroke: nodeColors[k % nodeColors.length],
        width: 1.5, spanGaps: false })),
      ...withWorkload ? [{ label: "workload", stroke: "#000", dash: [4, 3], width: 1.5 }] : []];
    this.plot = new uPlot({
      title: this.spec.title,
      width: Math.max(260, this.element.clientWidth || 320),
      height: 150,
      series,
      scales: { x: { time: true }, y: { range: (_plot, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ size: 28 }, { size: 52 }],
      legend: { show: false },
      cursor: { show: false },
      plugins: [markerPlugin(this.markers)],
    }, [[], ...series.slice(1).map(() => [])] as unknown as uPlot.AlignedData, this.element);
  }
}
