/**
 * What a chaos run's clients saw, for its report (issue 12): failures split by cause, and for
 * each injected fault how long writes were unavailable. Pure: it reads a paired history and the
 * fault spans, both on the history's clock (nanoseconds).
 *
 * A failure is either a rejection (the store received the request and said no: the inventory
 * has too little stock, the item does not exist, the request is malformed) or unavailability
 * (no leader, no answer, a timeout, a refused connection: the cluster could not serve it). A
 * chaos run expects many rejections, since the workload buys low-stock items on purpose; only
 * unavailability measures the faults.
 */
import type { FaultSpan } from "../verify/fault-spans.js";
import type { CompletionType, OpFunction, PairedOperation } from "../verify/history.js";

export type FailureCause = "rejected" | "unavailable";

/** The API's answers that mean the store saw the request and refused it (DESIGN.md §3). */
const rejectionCodes: ReadonlySet<string> = new Set([
  "insufficient_stock", "not_found", "conflict", "invalid_request", "too_large",
  "unsupported_media_type", "headers_too_large",
]);

/** The error of an operation that was still waiting when the run ended. */
export const unfinishedError = "unfinished";

export function failureCause(error: string): FailureCause {
  return rejectionCodes.has(error) ? "rejected" : "unavailable";
}

export interface ErrorCount {
  readonly error: string;
  readonly cause: FailureCause;
  /** Operations that certainly did not happen. */
  readonly fail: number;
  /** Operations whose outcome is unknown. */
  readonly info: number;
}

export interface FailureBreakdown {
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly rejected: number;
  readonly unavailable: number;
  /** One row per error code: rejections first, then unavailability, each most frequent first. */
  readonly errors: readonly ErrorCount[];
}

function errorOf(operation: PairedOperation): string {
  const error = operation.value.error;
  if (typeof error === "string") return error;
  return operation.completion === null ? unfinishedError : "unknown";
}

/** Counts every operation by outcome, and every failed or unknown one by its error. */
export function failuresByCause(operations: readonly PairedOperation[]): FailureBreakdown {
  const totals: Record<CompletionType, number> = { ok: 0, fail: 0, info: 0 };
  const byError = new Map<string, { fail: number; info: number }>();
  for (const operation of operations) {
    totals[operation.type]++;
    if (operation.type === "ok") continue;
    const error = errorOf(operation);
    const row = byError.get(error) ?? { fail: 0, info: 0 };
    row[operation.type]++;
    byError.set(error, row);
  }
  const errors = [...byError].map(([error, row]) => ({ error, cause: failureCause(error), ...row }))
    .sort((a, b) => (a.cause === b.cause ? 0 : a.cause === "rejected" ? -1 : 1) ||
      (b.fail + b.info) - (a.fail + a.info) || a.error.localeCompare(b.error));
  const sum = (cause: FailureCause): number => errors.filter((row) => row.cause === cause)
    .reduce((total, row) => total + row.fail + row.info, 0);
  return { ...totals, rejected: sum("rejected"), unavailable: sum("unavailable"), errors };
}

const writeFunctions: ReadonlySet<OpFunction> = new Set(["create", "add", "buy", "cancel"]);

export interface FaultUnavailability {
  /** The fault's number (FaultSpan.number). */
  readonly fault: number;
  readonly kind: string;
  readonly description: string;
  /** Its short name ("kill n1 (leader)"). */
  readonly label: string;
  readonly startNs: number;
  readonly endNs: number;
  /**
   * The earliest answer from the store to a write invoked at or after the fault's start (a
   * write invoked before may have been committed before the fault), or null when none came.
   * The store answers a write by applying it: it succeeds (ok), or the market refuses it, a
   * refusal being the result of a committed entry like a success (DESIGN.md §2).
   */
  readonly firstAck: {
    readonly atNs: number;
    readonly f: OpFunction;
    readonly node: string | null;
    /** The store's refusal (insufficient_stock...), or null when the write succeeded. */
    readonly refusal: string | null;
    /** Whether it came before the fault was healed (the cluster recovered by itself). */
    readonly duringFault: boolean;
  } | null;
  /** From the fault's start to firstAck, in milliseconds; null when no write was acknowledged. */
  readonly unavailableMs: number | null;
  /** Writes invoked in [start, firstAck) that were not served (unavailability), by error. */
  readonly failedWrites: Readonly<Record<string, number>>;
}

/** Whether the store answered the operation: it succeeded, or the market refused it. */
function served(operation: PairedOperation): boolean {
  return operation.type === "ok" ||
    (operation.type === "fail" && failureCause(errorOf(operation)) === "rejected");
}

/** The first operation invoked at or after `timeNs` (operations are in invocation order). */
function firstInvokedFrom(operations: readonly PairedOperation[], timeNs: number): number {
  let low = 0;
  let high = operations.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((operations[middle] as PairedOperation).invoke.time < timeNs) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * For each fault, the time from its start to the first write after it that the store answered. Operations
 * must be in invocation order (as pairOperations returns them). The scan for a fault stops at
 * the first invocation later than the best acknowledgement found, since a completion never
 * precedes its invocation.
 */
export function unavailabilityPerFault(operations: readonly PairedOperation[],
  spans: readonly FaultSpan[]): FaultUnavailability[] {
  return spans.map((span) => {
    let best: PairedOperation | null = null;
    const writes: PairedOperation[] = [];
    for (let k = firstInvokedFrom(operations, span.startNs); k < operations.length; k++) {
      const operation = operations[k] as PairedOperation;
      if (best?.completion != null && operation.invoke.time > best.completion.time) break;
      if (!writeFunctions.has(operation.f)) continue;
      writes.push(operation);
      if (served(operation) && operation.completion !== null &&
        (best?.completion == null || operation.completion.time < best.completion.time)) {
        best = operation;
      }
    }
    const ackNs = best?.completion?.time ?? null;
    const failedWrites: Record<string, number> = {};
    for (const write of writes) {
      if (served(write) || (ackNs !== null && write.invoke.time >= ackNs)) continue;
      const error = errorOf(write);
      failedWrites[error] = (failedWrites[error] ?? 0) + 1;
    }
    const node = best?.value.node;
    return {
      fault: span.number, kind: span.kind, description: span.description, label: span.label,
      startNs: span.startNs, endNs: span.endNs,
      firstAck: best === null || ackNs === null ? null : { atNs: ackNs, f: best.f,
        node: typeof node === "string" ? node : null,
        refusal: best.type === "ok" ? null : errorOf(best), duringFault: ackNs < span.endNs },
      unavailableMs: ackNs === null ? null : (ackNs - span.startNs) / 1e6,
      failedWrites,
    };
  });
}
