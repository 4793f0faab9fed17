/**
 * Operation histories in the format of DESIGN.md §4: one JSON object per line, Jepsen style,
 * `{"index","process","type","f","value","time"}`, with `f` one of DESIGN.md's four plus
 * `cancel` (an extension: outside checkers that know only the four can skip it). A history is a sequence of events; every
 * operation is an `invoke` followed, on the same process, by at most one completion:
 *
 *   ok    the operation happened, and the completion's value carries its result;
 *   fail  the operation certainly did not happen (e.g. insufficient_stock, a 409 on create);
 *   info  unknown (timeout, connection lost). A process whose operation ended in info never
 *         issues another operation, so its number is retired.
 *
 * Event order is `index` order, and the recorder assigns indexes in real-time order, so the
 * checkers use `index` for happens-before and `time` (nanoseconds since the recorder started)
 * only for display.
 *
 * Values, by `f` (the completion's value is merged over the invoke's value):
 *   create  {sku, stock}               ok: the item exists with `stock`
 *   add     {sku, qty}                 ok may carry `stock`: the item's stock after the add
 *   buy     {sku, qty} or {lines:[{sku, qty}]} (single line only; see linearizability.ts)
 *                                      ok may carry `orderId`; fail carries `error`
 *   read    {sku}                      ok carries `stock`: a number, or null if not found (404)
 *   cancel  {sku, qty, orderId}        cancels an acknowledged single-line buy of `qty` of
 *                                      `sku`; ok: the order is cancelled and restocked. Each
 *                                      orderId is cancelled at most once (see item-ops.ts)
 *
 * Only writeHistory/readHistory do I/O; everything else here is pure.
 */
import { readFileSync, writeFileSync } from "node:fs";

export const opTypes = ["invoke", "ok", "fail", "info"] as const;
export type OpType = (typeof opTypes)[number];
export type CompletionType = Exclude<OpType, "invoke">;

export const opFunctions = ["add", "buy", "read", "create", "cancel"] as const;
export type OpFunction = (typeof opFunctions)[number];

export interface OrderLineValue {
  readonly sku: string;
  readonly qty: number;
}

/** The value of an event. Open: a runner may add fields (requestId, node, latency...). */
export interface OpValue {
  readonly sku?: string;
  readonly qty?: number;
  /** create: the initial stock; read/add completion: the stock observed (null: not found). */
  readonly stock?: number | null;
  readonly lines?: readonly OrderLineValue[];
  readonly orderId?: string;
  /** fail/info: the error code, e.g. "insufficient_stock", "timeout". */
  readonly error?: string;
  readonly [key: string]: unknown;
}

/** One line of a history file. Invariant: index is strictly increasing along a history. */
export interface HistoryOp {
  readonly index: number;
  readonly process: number;
  readonly type: OpType;
  readonly f: OpFunction;
  readonly value: OpValue;
  /** Nanoseconds since the start of the recording (monotonic clock). */
  readonly time: number;
}

/** A malformed history: a bad line in a file, or events that break the pairing rules. */
export class HistoryError extends Error {
  override readonly name = "HistoryError";
}

export interface HistoryRecorderOptions {
  /** A monotonic clock in nanoseconds; defaults to process.hrtime.bigint. */
  readonly now?: () => bigint;
}

/**
 * Records a history as a runner performs operations. Not thread-safe in any sense that matters
 * for Node: every call appends one event synchronously, so index order is the order in which
 * the runner observed invocations and completions.
 */
export class HistoryRecorder {
  private readonly now: () => bigint;
  private readonly start: bigint;
  private readonly events: HistoryOp[] = [];
  /** Invariant: a process is in at most one of `pending` and `retired`. */
  private readonly pending = new Map<number, HistoryOp>();
  private readonly retired = new Set<number>();

  constructor(options: HistoryRecorderOptions = {}) {
    this.now = options.now ?? (() => process.hrtime.bigint());
    this.start = this.now();
  }

  /** Records an invocation. Throws if the process has an operation pending or is retired. */
  invoke(processId: number, f: OpFunction, value: OpValue): HistoryOp {
    if (this.pending.has(processId)) {
      throw new HistoryError(`process ${processId} invoked ${f} with an operation pending`);
    }
    if (this.retired.has(processId)) {
      throw new HistoryError(`process ${processId} ended in info and may not invoke again`);
    }
    const op = this.append(processId, "invoke", f, value);
    this.pending.set(processId, op);
    return op;
  }

  /** Records the completion of the process's pending operation. */
  complete(processId: number, type: CompletionType, value: OpValue = {}): HistoryOp {
    const invocation = this.pending.get(processId);
    if (invocation === undefined) {
      throw new HistoryError(`process ${processId} completed with no operation pending`);
    }
    this.pending.delete(processId);
    if (type === "info") this.retired.add(processId);
    return this.append(processId, type, invocation.f, { ...invocation.value, ...value });
  }

  /** Processes with an invocation not yet completed (they count as info when checked). */
  pendingProcesses(): number[] {
    return [...this.pending.keys()];
  }

  ops(): readonly HistoryOp[] {
    return this.events;
  }

  private append(processId: number, type: OpType, f: OpFunction, value: OpValue): HistoryOp {
    const elapsed = this.now() - this.start;
    const op: HistoryOp = {
      index: this.events.length, process: processId, type, f, value, time: Number(elapsed),
    };
    this.events.push(op);
    return op;
  }
}

/** One JSON object per line, with a trailing newline. */
export function formatHistory(ops: readonly HistoryOp[]): string {
  return ops.map((op) => JSON.stringify(op)).join("\n") + (ops.length > 0 ? "\n" : "");
}

/** Parses JSON lines; blank lines are skipped. Throws HistoryError naming the line number. */
export function parseHistory(text: string): HistoryOp[] {
  const ops: HistoryOp[] = [];
  const lines = text.split("\n");
  for (let lineIndex = 0; lineIndex < lines.length; lineIndex++) {
    const line = (lines[lineIndex] ?? "").trim();
    if (line === "") continue;
    const lineNumber = lineIndex + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new HistoryError(`line ${lineNumber}: invalid JSON (${(error as Error).message})`);
    }
    const problem = historyOpProblem(parsed);
    if (problem !== null) throw new HistoryError(`line ${lineNumber}: ${problem}`);
    ops.push(parsed as HistoryOp);
  }
  return ops;
}

/** Why `value` is not a HistoryOp, or null if it is one. */
export function historyOpProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "expected a JSON object";
  }
  const record = value as Record<string, unknown>;
  if (!isNonNegativeInteger(record.index)) return "index must be a non-negative integer";
  if (!isNonNegativeInteger(record.process)) return "process must be a non-negative integer";
  if (!(opTypes as readonly unknown[]).includes(record.type)) {
    return `type must be one of ${opTypes.join(", ")}, got ${JSON.stringify(record.type)}`;
  }
  if (!(opFunctions as readonly unknown[]).includes(record.f)) {
    return `f must be one of ${opFunctions.join(", ")}, got ${JSON.stringify(record.f)}`;
  }
  const opValue = record.value;
  if (typeof opValue !== "object" || opValue === null || Array.isArray(opValue)) {
    return "value must be a JSON object";
  }
  if (typeof record.time !== "number" || !Number.isFinite(record.time) || record.time < 0) {
    return "time must be a non-negative number of nanoseconds";
  }
  return null;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function writeHistory(path: string, ops: readonly HistoryOp[]): void {
  writeFileSync(path, formatHistory(ops), "utf8");
}

export function readHistory(path: string): HistoryOp[] {
  try {
    return parseHistory(readFileSync(path, "utf8"));
  } catch (error) {
    if (error instanceof HistoryError) throw new HistoryError(`${path}: ${error.message}`);
    throw error;
  }
}

/**
 * An operation: its invocation and its completion. An invocation with no completion (the run
 * ended first) counts as info: it may or may not have happened.
 */
export interface PairedOperation {
  readonly process: number;
  readonly f: OpFunction;
  readonly type: CompletionType;
  readonly invoke: HistoryOp;
  readonly completion: HistoryOp | null;
  /** The completion's value merged over the invocation's. */
  readonly value: OpValue;
}

/**
 * Matches each invocation with the next event of the same process. Throws HistoryError on a
 * completion with nothing pending, an invocation while one is pending or after an info, a
 * completion whose f differs from its invocation's, or indexes that do not increase.
 * The result is in invocation order.
 */
export function pairOperations(ops: readonly HistoryOp[]): PairedOperation[] {
  const pending = new Map<number, { op: HistoryOp; slot: number }>();
  const retired = new Set<number>();
  const paired: (PairedOperation | null)[] = [];
  let indexPrevious = -1;
  for (const op of ops) {
    if (op.index <= indexPrevious) {
      throw new HistoryError(`event ${op.index}: indexes must increase (after ${indexPrevious})`);
    }
    indexPrevious = op.index;
    const open = pending.get(op.process);
    if (op.type === "invoke") {
      if (open !== undefined || retired.has(op.process)) {
        const why = open !== undefined
          ? `operation ${open.op.index} is pending` : "it ended in info";
        throw new HistoryError(`event ${op.index}: process ${op.process} invoked but ${why}`);
      }
      pending.set(op.process, { op, slot: paired.length });
      paired.push(null);
      continue;
    }
    if (open === undefined) {
      throw new HistoryError(
        `event ${op.index}: process ${op.process} completed with nothing pending`);
    }
    if (open.op.f !== op.f) {
      throw new HistoryError(
        `event ${op.index}: completes ${open.op.f} ${open.op.index} as ${op.f}`);
    }
    pending.delete(op.process);
    if (op.type === "info") retired.add(op.process);
    paired[open.slot] = pairOf(open.op, op);
  }
  for (const open of pending.values()) paired[open.slot] = pairOf(open.op, null);
  return paired.map((operation) => {
    if (operation === null) throw new HistoryError("unpaired operation (bug)");
    return operation;
  });
}

function pairOf(invoke: HistoryOp, completion: HistoryOp | null): PairedOperation {
  return {
    process: invoke.process,
    f: invoke.f,
    type: completion === null ? "info" : (completion.type as CompletionType),
    invoke,
    completion,
    value: { ...invoke.value, ...(completion?.value ?? {}) },
  };
}
