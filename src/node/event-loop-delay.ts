import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, type Registry } from "prom-client";

/** How finely the event loop is sampled: a delay shorter than this is not seen. */
export const eventLoopResolutionMsDefault = 10;
/** One window of the exported figures. */
export const eventLoopWindowMsDefault = 5_000;

/**
 * The event-loop delay of this process (perf_hooks monitorEventLoopDelay), exported as the
 * p50, p99 and max of the last complete window, in milliseconds: how late a timer due now
 * would fire (an idle loop reads about 0, a 100 ms synchronous stall about 100).
 *
 * Why a window, not "since the last scrape": several scrapers (Prometheus, the bench, a curl)
 * must not reset each other's figures. A stalled loop is what makes a follower miss heartbeats
 * and start an election, so the max is the figure to watch: a value near the election timeout
 * means the node was deaf for that long. `node_event_loop_delay_windows_total` counts the
 * windows closed, so a poller can tell a new window from one it has already seen.
 *
 * The monitor holds a native histogram and an interval timer: `start()` and `stop()` are
 * explicit so that tests and a stopping node do not leak them (the timer is also unref'd).
 */
export class EventLoopDelayMonitor {
  readonly p50Ms: Gauge;
  readonly p99Ms: Gauge;
  readonly maxMs: Gauge;
  readonly windows: Counter;
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(registry: Registry, private readonly windowMs = eventLoopWindowMsDefault,
    private readonly resolutionMs = eventLoopResolutionMsDefault) {
    const registers = [registry];
    const window = `over the last complete ${windowMs / 1000} s window`;
    this.p50Ms = new Gauge({ name: "node_event_loop_delay_p50_ms", registers,
      help: `Event-loop delay, median ${window} (ms; resolution ${resolutionMs} ms)` });
    this.p99Ms = new Gauge({ name: "node_event_loop_delay_p99_ms", registers,
      help: `Event-loop delay, 99th percentile ${window} (ms; resolution ${resolutionMs} ms)` });
    this.maxMs = new Gauge({ name: "node_event_loop_delay_max_ms", registers,
      help: `Event-loop delay, longest stall ${window} (ms; resolution ${resolutionMs} ms)` });
    this.windows = new Counter({ name: "node_event_loop_delay_windows_total", registers,
      help: `Event-loop delay windows of ${windowMs / 1000} s closed since the node started` });
  }

  /** Starts sampling; the first figures appear when the first window closes. Idempotent. */
  start(): void {
    if (this.histogram !== null) return;
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
    this.timer = setInterval(() => this.closeWindow(), this.windowMs);
    this.timer.unref();
  }

  /** Stops sampling and the timer; the gauges keep the last window's figures. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.histogram?.disable();
    this.histogram = null;
  }

  /**
   * Publishes the window that ends now and starts the next one. The interval calls it; a test
   * may call it to close a window without waiting for one.
   */
  closeWindow(): void {
    const histogram = this.histogram;
    if (histogram === null) return;
    // No sample yet (the loop never turned within the window, or it just started): the
    // percentiles of an empty histogram are 0 and its min is huge, so publish nothing.
    if (histogram.count > 0) {
      // The histogram records the time between two turns of its sampling timer, so an idle
      // loop reads the resolution itself; what is late beyond that is the delay.
      const delayMs = (ns: number): number => Math.max(0, ns / 1e6 - this.resolutionMs);
      this.p50Ms.set(delayMs(histogram.percentile(50)));
      this.p99Ms.set(delayMs(histogram.percentile(99)));
      this.maxMs.set(delayMs(histogram.max));
      this.windows.inc();
    }
    histogram.reset();
  }
}

/** The figures of one closed window, as a scraper reads them back. */
export interface EventLoopDelayFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Windows closed so far: a poller that sees it change has a new window. */
  readonly windows: number;
}

/**
 * The event-loop delay gauges read back from a node's /metrics page (Prometheus text, any
 * labels), or null when the page has none of them yet (no window closed, or an older node).
 */
export function parseEventLoopDelay(metricsText: string): EventLoopDelayFigures | null {
  const values = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    const match = /^(node_event_loop_delay_\w+?)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match !== null) values.set(match[1]!, Number(match[2]));
  }
  const windows = values.get("node_event_loop_delay_windows_total") ?? 0;
  if (windows === 0) return null;
  return { p50Ms: values.get("node_event_loop_delay_p50_ms") ?? NaN,
    p99Ms: values.get("node_event_loop_delay_p99_ms") ?? NaN,
    maxMs: values.get("node_event_loop_delay_max_ms") ?? NaN, windows };
}
