/**
 * The live view's built-in workload: N clients, each buying one unit of one item in a loop
 * (a fresh requestId per purchase, retried by MarketClient across a failover), so that a
 * learner can watch throughput dip and recover when the leader is killed. It creates its item
 * on first start (a fixed requestId makes that idempotent) and restocks it when it runs out.
 * Its own rates (orders/s, errors/s, p50/p99) are read once a second into the charts.
 */
import { MarketClient, MarketClientError } from "../client/index.js";
import type { WorkloadRates, WorkloadView } from "./dashboard-frame.js";

export const workloadSku = "dashboard-widget";
const stockInitial = 100_000_000;

export class Workload {
  private running = false;
  private clients = 0;
  private loops: Promise<void>[] = [];
  private ordersOk = 0;
  private ordersFailed = 0;
  private latenciesMs: number[] = [];
  private lastRead = { timeMs: Date.now(), ok: 0, failed: 0 };
  private readonly client: MarketClient;

  constructor(endpoints: readonly string[], nodeEndpoints: Record<string, string>,
    ca: string | null) {
    this.client = new MarketClient({ endpoints, nodeEndpoints, retryBudgetMs: 10_000,
      ...(ca === null ? {} : { ca }) });
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(clients: number): Promise<string> {
    if (this.running) await this.stop();
    await this.ensureItem();
    this.running = true;
    this.clients = clients;
    this.loops = Array.from({ length: clients }, () => this.loop());
    return `started the workload: ${clients} clients buying ${workloadSku}`;
  }

  async stop(): Promise<string> {
    if (!this.running) return "the workload is not running";
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
    return `stopped the workload after ${this.ordersOk} orders (${this.ordersFailed} failed)`;
  }

  view(): WorkloadView {
    return { running: this.running, clients: this.running ? this.clients : 0,
      ordersOk: this.ordersOk, ordersFailed: this.ordersFailed, sku: workloadSku };
  }

  /** The rates since the previous call (once a second), or null when idle throughout. */
  takeRates(): WorkloadRates | null {
    const nowMs = Date.now();
    const seconds = Math.max(0.001, (nowMs - this.lastRead.timeMs) / 1000);
    const ok = this.ordersOk - this.lastRead.ok;
    const failed = this.ordersFailed - this.lastRead.failed;
    const latencies = this.latenciesMs.sort((a, b) => a - b);
    this.latenciesMs = [];
    this.lastRead = { timeMs: nowMs, ok: this.ordersOk, failed: this.ordersFailed };
    if (!this.running && ok === 0 && failed === 0) return null;
    // Nearest rank, as the benchmarks take it (scripts/bench-stats.ts percentile).
    const quantile = (q: number): number | null => latencies.length === 0 ? null
      : latencies[Math.min(latencies.length - 1,
        Math.max(0, Math.ceil(q * latencies.length - 1e-9) - 1))]!;
    return { ordersPerSecond: Math.round(ok / seconds * 10) / 10,
      errorsPerSecond: Math.round(failed / seconds * 10) / 10,
      p50Ms: quantile(0.5), p99Ms: quantile(0.99) };
  }

  close(): void {
    this.running = false;
    this.client.close();
  }

  private async ensureItem(): Promise<void> {
    try {
      await this.client.createItem({ sku: workloadSku, name: "Dashboard widget",
        area: "Workload", priceCents: 100, stock: stockInitial },
      { requestId: `dashboard-workload-item-${workloadSku}` });
    } catch (error) {
      if (!(error instanceof MarketClientError) || error.code !== "conflict") throw error;
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const startedMs = performance.now();
      try {
        await this.client.buy([{ sku: workloadSku, qty: 1 }]);
        this.ordersOk++;
        if (this.latenciesMs.length < 100_000) this.latenciesMs.push(performance.now() - startedMs);
      } catch (error) {
        this.ordersFailed++;
        if (error instanceof MarketClientError && error.code === "insufficient_stock") {
          await this.client.addStock(workloadSku, stockInitial).catch(() => undefined);
        } else {
          // The cluster cannot serve now (no leader): do not spin.
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
  }
}
