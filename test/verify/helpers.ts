/**
 * Helpers for the checker tests: a history builder over HistoryRecorder with a fake clock that
 * advances 10 ns per event, so that hand-made histories read like a timeline.
 */
import {
  HistoryRecorder, type HistoryOp, type OpFunction, type OpValue,
} from "../../src/verify/history.js";

export class HistoryBuilder {
  private clock = 0n;
  readonly recorder = new HistoryRecorder({ now: () => (this.clock += 10n) });

  invoke(process: number, f: OpFunction, value: OpValue): this {
    this.recorder.invoke(process, f, value);
    return this;
  }

  ok(process: number, value: OpValue = {}): this {
    this.recorder.complete(process, "ok", value);
    return this;
  }

  fail(process: number, value: OpValue = {}): this {
    this.recorder.complete(process, "fail", value);
    return this;
  }

  info(process: number, value: OpValue = {}): this {
    this.recorder.complete(process, "info", value);
    return this;
  }

  /** A whole operation, invoked and completed ok before the next event. */
  done(process: number, f: OpFunction, value: OpValue, result: OpValue = {}): this {
    return this.invoke(process, f, value).ok(process, result);
  }

  ops(): readonly HistoryOp[] {
    return this.recorder.ops();
  }
}

/** A history that starts with sku created with `stock` by process 0. */
export function created(sku: string, stock: number): HistoryBuilder {
  return new HistoryBuilder().done(0, "create", { sku, stock });
}
