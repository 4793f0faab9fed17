/**
 * A linearizability checker for marketplace histories, run on each sku's sub-history
 * separately (see item-ops.ts for why that is sound). The per-item model is in item-model.ts
 * (state: the stock, or null before the item exists; ok operations and the failures that
 * observed the state, such as a buy refused for insufficient stock, are checked), the search in
 * item-search.ts (breadth-first over the history's events, keeping every configuration the
 * item can be in, with info writes counted by kind rather than enumerated as subsets).
 *
 * Conventions (Jepsen's, DESIGN.md §4):
 *   - `ok` happened, between its call and its return; `fail` did not happen, and is checked as
 *     an observation when its error says what the store saw (item-model.ts), dropped otherwise;
 *   - `info` (or no completion) may have happened, at any time after its call, or never: its
 *     return is at +infinity. An info read has no result and is dropped.
 *
 * The verdicts: true comes with a witness (a linearization the search built), false means that
 * no linearization exists (the search was exact up to the operation it names), and "unknown"
 * says why the search could not decide: its step bound, or a bound that made it drop
 * possibilities before it hit a dead end.
 */
import { pairOperations, type HistoryOp, type OpValue, type PairedOperation } from "./history.js";
import { partitionBySku, type ItemOperation } from "./item-ops.js";
import { applyEffect, meets, okStepOf, type ItemState } from "./item-model.js";
import { searchItem, type SearchOutcome } from "./item-search.js";

export type { ItemState } from "./item-model.js";

export interface LinearizabilityOptions {
  /** Search steps per item before giving up with "unknown" (STYLE.md §5: bound every loop). */
  readonly stepsMaxPerItem?: number;
  /**
   * Configurations kept after each return; beyond it the search goes on with the most
   * flexible ones, and a dead end becomes "unknown".
   */
  readonly configurationsMaxPerItem?: number;
  /** The state of skus that exist before the history starts; others start absent. */
  readonly initialStocks?: Readonly<Record<string, number>>;
}

export const stepsMaxPerItemDefault = 5_000_000;
export const configurationsMaxPerItemDefault = 20_000;

/** An operation as a report shows it. completeIndex/Time are null for an unfinished info. */
export interface OperationSummary {
  readonly index: number;
  readonly process: number;
  readonly f: string;
  readonly type: string;
  readonly value: OpValue;
  readonly invokeTime: number;
  readonly completeIndex: number | null;
  readonly completeTime: number | null;
}

export interface LinearizedStep {
  readonly operation: OperationSummary;
  readonly stateAfter: ItemState;
}

export interface NonLinearizableExplanation {
  /**
   * A linearization of everything that returned before the blocked operation (and of the info
   * writes it assumed happened), in order: one of the longest the search found.
   */
  readonly longestPrefix: readonly LinearizedStep[];
  /** The state after that prefix. */
  readonly stateAfterPrefix: ItemState;
  /**
   * Every state the item could be in just before the blocked operation returned (at most 8);
   * empty when no search was needed: no state within the stock's bounds then allows it.
   */
  readonly possibleStates: readonly ItemState[];
  /** The first operation (by return) that no linearization can place before it returned. */
  readonly blockedOperation: OperationSummary;
  readonly message: string;
}

export type ItemVerdict =
  | { readonly sku: string; readonly linearizable: true; readonly operationCount: number;
      readonly steps: number }
  | { readonly sku: string; readonly linearizable: false; readonly operationCount: number;
      readonly steps: number; readonly explanation: NonLinearizableExplanation }
  | { readonly sku: string; readonly linearizable: "unknown"; readonly operationCount: number;
      readonly steps: number; readonly reason: string };

export interface LinearizabilityResult {
  /** false if any item is not linearizable; otherwise "unknown" if any item is unknown. */
  readonly linearizable: boolean | "unknown";
  readonly items: readonly ItemVerdict[];
}

/** Checks a whole history (events, as recorded). Throws HistoryError on a malformed one. */
export function checkLinearizability(
  ops: readonly HistoryOp[], options: LinearizabilityOptions = {},
): LinearizabilityResult {
  return checkOperations(pairOperations(ops), options);
}

/** Checks already paired operations, one sku at a time, skus in sorted order. */
export function checkOperations(
  operations: readonly PairedOperation[], options: LinearizabilityOptions = {},
): LinearizabilityResult {
  const bySku = partitionBySku(operations);
  const items: ItemVerdict[] = [];
  for (const sku of [...bySku.keys()].sort()) {
    const initial = options.initialStocks?.[sku] ?? null;
    const stepsMax = options.stepsMaxPerItem ?? stepsMaxPerItemDefault;
    items.push(checkItem(sku, bySku.get(sku) ?? [], initial, stepsMax,
      options.configurationsMaxPerItem));
  }
  const verdicts = items.map((item) => item.linearizable);
  const linearizable = verdicts.includes(false) ? false
    : verdicts.includes("unknown") ? "unknown" : true;
  return { linearizable, items };
}

/** The model's transition for an ok operation, or undefined if it is illegal in `state`. */
export function stepItemModel(state: ItemState, operation: ItemOperation): ItemState | undefined {
  const step = okStepOf(operation);
  return meets(step.requirement, state) ? applyEffect(step.effect, state) : undefined;
}

/** Checks one sku's sub-history (in invocation order). */
export function checkItem(
  sku: string, itemOperations: readonly ItemOperation[], initial: ItemState, stepsMax: number,
  configurationsMax = configurationsMaxPerItemDefault,
): ItemVerdict {
  const outcome = searchItem(itemOperations, initial, { stepsMax, configurationsMax });
  return verdictOf(sku, outcome, stepsMax);
}

function verdictOf(sku: string, outcome: SearchOutcome, stepsMax: number): ItemVerdict {
  const common = { sku, operationCount: outcome.operationCount, steps: outcome.steps };
  switch (outcome.kind) {
    case "linearizable":
      return { ...common, linearizable: true };
    case "stepsExceeded":
      return { ...common, linearizable: "unknown", reason: `search gave up after ` +
        `${stepsMax} steps (stepsMaxPerItem = ${stepsMax}): the search for a linearization ` +
        `got past ${outcome.witnessReturnedCount} of the ${outcome.definiteCount} operations' ` +
        `returns, the search of every configuration past ${outcome.returnedCount}, while ` +
        `placing ${describeOperation(summarize(outcome.at.source))}` };
    case "stuck": {
      const blockedOperation = summarize(outcome.blocked.source);
      if (outcome.incomplete !== null) {
        return { ...common, linearizable: "unknown", reason: `no configuration the search ` +
          `kept could place ${describeOperation(blockedOperation)}, but the search had dropped ` +
          `possibilities earlier (${outcome.incomplete})` };
      }
      return { ...common, linearizable: false, explanation: explain(sku, outcome) };
    }
  }
}

function explain(sku: string, outcome: Extract<SearchOutcome, { kind: "stuck" }>):
  NonLinearizableExplanation {
  const longestPrefix = outcome.prefix.map((step) => ({
    operation: summarize(step.operation.source), stateAfter: step.stateAfter,
  }));
  const blockedOperation = summarize(outcome.blocked.source);
  const stateText = (state: ItemState): string => state === null ? "absent" : `stock ${state}`;
  const bounds = outcome.bounds;
  const possible = bounds !== null ? `; whatever happened by then, the stock lies in ` +
    `[${bounds.stockMin}, ${bounds.stockMax}]${bounds.mayBeAbsent ? " or the item is absent" : ""}`
    : outcome.statesBefore.length === 1 ? ""
      : `; the item could be in ${outcome.statesBefore.map(stateText).join(", ")}`;
  const message = `sku ${sku}: after the ${longestPrefix.length} operation(s) of the longest ` +
    `linearizable prefix (state: ${stateText(outcome.stateAfterPrefix)}${possible}), ` +
    `${describeOperation(blockedOperation)} cannot be linearized before it returned`;
  return { longestPrefix, stateAfterPrefix: outcome.stateAfterPrefix,
    possibleStates: outcome.statesBefore, blockedOperation, message };
}

export function summarize(operation: PairedOperation): OperationSummary {
  return {
    index: operation.invoke.index,
    process: operation.process,
    f: operation.f,
    type: operation.type,
    value: operation.value,
    invokeTime: operation.invoke.time,
    completeIndex: operation.completion?.index ?? null,
    completeTime: operation.completion?.time ?? null,
  };
}

/** "ok read {"sku":"a","stock":5} (index 7, process 3, invoked at 1200 ns)" */
export function describeOperation(operation: OperationSummary): string {
  return `${operation.type} ${operation.f} ${JSON.stringify(operation.value)} ` +
    `(index ${operation.index}, process ${operation.process}, ` +
    `invoked at ${operation.invokeTime} ns)`;
}
