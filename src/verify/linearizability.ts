/**
 * A linearizability checker for marketplace histories: the Wing–Gong search with Lowe's
 * memoization ("Testing for linearizability", 2017; the same algorithm as porcupine), run on
 * each sku's sub-history separately (see item-ops.ts for why that is sound).
 *
 * The search walks a doubly linked list of call and return events in history order. It tries
 * to linearize any operation whose call precedes the first pending return: if the model allows
 * it and the pair (set of linearized operations, state) is new, it lifts the operation out of
 * the list and goes on; on reaching a return event it cannot pass, it backtracks. The cache of
 * (set, state) pairs is what makes it practical (Lowe §4): two paths reaching the same set and
 * state have the same future.
 *
 * Conventions (Jepsen's):
 *   - `fail` operations did not happen and are dropped; so are `info` reads (no result).
 *   - `info` operations may or may not have happened. Their return is at +infinity, so the
 *     search may linearize one anywhere after its call, or never: it succeeds as soon as every
 *     ok operation is linearized. It tries info operations only when the ok ones are stuck.
 *
 * The per-item model (state: the stock, or null before the item is created):
 *   create(stock)  legal iff absent -> stock   (an ok create of an existing item is a 409)
 *   add(qty)       legal iff present -> stock + qty (and equal to the observed stock, if any)
 *   buy(qty)       legal iff present and stock >= qty -> stock - qty
 *   cancel(qty)    legal iff present -> stock + qty (one cancel per acknowledged order: see
 *                  item-ops.ts)
 *   read           legal iff the state equals the stock read (null: not found)
 */
import { pairOperations, type HistoryOp, type OpValue, type PairedOperation } from "./history.js";
import { partitionBySku, type ItemOperation } from "./item-ops.js";

/** The stock of an item, or null while it does not exist. */
export type ItemState = number | null;

export interface LinearizabilityOptions {
  /** Search steps per item before giving up with "unknown" (STYLE.md §5: bound every loop). */
  readonly stepsMaxPerItem?: number;
  /** The state of skus that exist before the history starts; others start absent. */
  readonly initialStocks?: Readonly<Record<string, number>>;
}

export const stepsMaxPerItemDefault = 5_000_000;

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
   * The linearization that got furthest along the history before a dead end (the latest
   * return event that could not be passed), in order.
   */
  readonly longestPrefix: readonly LinearizedStep[];
  /** The state after that prefix. */
  readonly stateAfterPrefix: ItemState;
  /** The ok operation that had to be linearized next and could not be. */
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
    items.push(checkItem(sku, bySku.get(sku) ?? [], initial, stepsMax));
  }
  const verdicts = items.map((item) => item.linearizable);
  const linearizable = verdicts.includes(false) ? false
    : verdicts.includes("unknown") ? "unknown" : true;
  return { linearizable, items };
}

/** The model's transition, or undefined if the operation is illegal in `state`. */
export function stepItemModel(state: ItemState, operation: ItemOperation): ItemState | undefined {
  switch (operation.f) {
    case "create":
      return state === null ? operation.qty : undefined;
    case "add": {
      if (state === null) return undefined;
      const after = state + operation.qty;
      const observed = operation.observedStock;
      return observed === undefined || observed === after ? after : undefined;
    }
    case "buy":
      return state !== null && state >= operation.qty ? state - operation.qty : undefined;
    case "cancel":
      return state === null ? undefined : state + operation.qty;
    case "read":
      return operation.observedStock === state ? state : undefined;
  }
}

/** The search's linked lists (see buildEventList); node 0 and 1 are heads, -1 is "none". */
interface EventList {
  readonly next: Int32Array;
  readonly previous: Int32Array;
  /** For a call node, its return node; -1 for return nodes. */
  readonly match: Int32Array;
  /** For a call node, the operation's position in `operations`; -1 otherwise. */
  readonly operationOf: Int32Array;
  /** For a return node, its call node; -1 for call nodes. */
  readonly callOf: Int32Array;
  /** The history index of the node's event (invoke or completion). */
  readonly positionOf: Float64Array;
}

/** Checks one sku's sub-history (in invocation order). */
export function checkItem(
  sku: string, itemOperations: readonly ItemOperation[], initial: ItemState, stepsMax: number,
): ItemVerdict {
  const operations = itemOperations.filter(isRelevant);
  const search = new ItemSearch(operations, initial, stepsMax);
  const outcome = search.run();
  const common = { sku, operationCount: operations.length, steps: search.steps };
  if (outcome === "linearizable") return { ...common, linearizable: true };
  if (outcome === "unknown") {
    return { ...common, linearizable: "unknown",
      reason: `search gave up after ${search.steps} steps (stepsMaxPerItem = ${stepsMax})` };
  }
  return { ...common, linearizable: false, explanation: search.explain(sku) };
}

/** fail ops did not happen; an info read has no result and constrains nothing. */
function isRelevant(operation: ItemOperation): boolean {
  if (operation.source.type === "fail") return false;
  return !(operation.source.type === "info" && operation.f === "read");
}

const mainHead = 0;
const infoHead = 1;

/**
 * Builds the lists. The main list holds the call and return events of ok operations in history
 * order. Info operations have no return (it is at +infinity), so they live in a second list of
 * calls sorted by invocation: the search offers one only when the main list is stuck at a
 * return, which tries "it did not happen" first and keeps the many always-legal info adds from
 * sending the search down long wrong paths.
 */
function buildEventList(operations: readonly ItemOperation[]): EventList {
  const events: { position: number; operation: number; isCall: boolean }[] = [];
  const infos: { position: number; operation: number }[] = [];
  operations.forEach((operation, position) => {
    const source = operation.source;
    if (source.type !== "ok" || source.completion === null) {
      infos.push({ position: source.invoke.index, operation: position });
      return;
    }
    events.push({ position: source.invoke.index, operation: position, isCall: true });
    events.push({ position: source.completion.index, operation: position, isCall: false });
  });
  events.sort((a, b) => a.position - b.position);
  infos.sort((a, b) => a.position - b.position);
  const count = 2 + events.length + infos.length;
  const list: EventList = {
    next: new Int32Array(count).fill(-1), previous: new Int32Array(count).fill(-1),
    match: new Int32Array(count).fill(-1), operationOf: new Int32Array(count).fill(-1),
    callOf: new Int32Array(count).fill(-1), positionOf: new Float64Array(count),
  };
  const returnNodeOf = new Int32Array(operations.length);
  const link = (node: number, previous: number): void => {
    list.previous[node] = previous;
    list.next[previous] = node;
  };
  events.forEach((event, position) => {
    const node = 2 + position;
    link(node, position === 0 ? mainHead : node - 1);
    list.positionOf[node] = event.position;
    if (event.isCall) list.operationOf[node] = event.operation;
    else returnNodeOf[event.operation] = node;
  });
  events.forEach((event, position) => {
    if (!event.isCall) return;
    const returnNode = returnNodeOf[event.operation] ?? -1;
    list.match[2 + position] = returnNode;
    list.callOf[returnNode] = 2 + position;
  });
  infos.forEach((info, position) => {
    const node = 2 + events.length + position;
    link(node, position === 0 ? infoHead : node - 1);
    list.positionOf[node] = info.position;
    list.operationOf[node] = info.operation;
  });
  return list;
}

interface CallFrame {
  readonly node: number;
  readonly stateBefore: ItemState;
  /** For an info operation, the main-list return the search was stuck at; else -1. */
  readonly frontier: number;
}

/** One run of the WGL search over one sku. */
class ItemSearch {
  steps = 0;
  private readonly list: EventList;
  private readonly okCount: number;
  // The dead end that got furthest, for the explanation.
  private bestPrefix: CallFrame[] = [];
  private bestState: ItemState;
  private bestBlocked = -1;
  private bestReturnNode = -1;
  private readonly cache = new Set<string>();
  private readonly calls: CallFrame[] = [];
  private linearized = 0n;
  private okLinearized = 0;
  private state: ItemState;

  constructor(
    private readonly operations: readonly ItemOperation[],
    initial: ItemState,
    private readonly stepsMax: number,
  ) {
    this.list = buildEventList(operations);
    this.okCount = operations.filter((operation) => operation.source.type === "ok").length;
    this.bestState = initial;
    this.state = initial;
  }

  /**
   * The search loop. `frontier` is -1 while scanning the main list; once the scan reaches a
   * return event it holds that return, and the scan moves to the info operations invoked
   * before it. When those are exhausted too, the search backtracks.
   */
  run(): "linearizable" | "notLinearizable" | "unknown" {
    const { next, operationOf, positionOf } = this.list;
    let node = next[mainHead] ?? -1;
    let frontier = -1;
    while (this.okLinearized < this.okCount) {
      if (this.steps >= this.stepsMax) return "unknown";
      this.steps++;
      if (frontier === -1 && node !== -1 && operationOf[node] === -1) {
        frontier = node; // A return: its operation was not linearized in time.
        node = next[infoHead] ?? -1;
        continue;
      }
      const candidate = frontier === -1 ? node !== -1
        : node !== -1 && (positionOf[node] ?? 0) < (positionOf[frontier] ?? 0);
      if (candidate) {
        if (this.tryLinearize(node, frontier)) {
          node = next[mainHead] ?? -1;
          frontier = -1;
        } else {
          node = next[node] ?? -1;
        }
        continue;
      }
      if (frontier === -1) return "notLinearizable"; // unreachable: ok returns end the list
      this.noteDeadEnd(frontier);
      const frame = this.backtrack();
      if (frame === undefined) return "notLinearizable";
      node = next[frame.node] ?? -1;
      frontier = frame.frontier;
    }
    return "linearizable";
  }

  /** Linearizes the operation of call `node` if the model allows it and the result is new. */
  private tryLinearize(node: number, frontier: number): boolean {
    const position = this.list.operationOf[node] ?? -1;
    const operation = this.operations[position];
    if (operation === undefined) return false;
    const after = stepItemModel(this.state, operation);
    const bit = 1n << BigInt(position);
    if (after === undefined || !this.remember(this.linearized | bit, after)) return false;
    this.calls.push({ node, stateBefore: this.state, frontier });
    this.state = after;
    this.linearized |= bit;
    if (operation.source.type === "ok") this.okLinearized++;
    this.lift(node);
    return true;
  }

  /** Undoes the last linearization; returns its frame, or undefined if there is none. */
  private backtrack(): CallFrame | undefined {
    const frame = this.calls.pop();
    if (frame === undefined) return undefined;
    const position = this.list.operationOf[frame.node] ?? -1;
    this.state = frame.stateBefore;
    this.linearized &= ~(1n << BigInt(position));
    if (this.operations[position]?.source.type === "ok") this.okLinearized--;
    this.unlift(frame.node);
    return frame;
  }

  /** Adds (linearized, state) to the cache; false if it was there already. */
  private remember(linearized: bigint, state: ItemState): boolean {
    const key = `${linearized.toString(36)}:${state === null ? "-" : state}`;
    if (this.cache.has(key)) return false;
    this.cache.add(key);
    return true;
  }

  private noteDeadEnd(returnNode: number): void {
    // The best explanation is the dead end furthest along the history (the latest return that
    // could not be passed), then the deepest: depth alone favours paths that linearize info
    // operations late, which block earlier in history order.
    const calls = this.calls;
    const state = this.state;
    if (this.bestBlocked !== -1) {
      if (returnNode < this.bestReturnNode) return;
      if (returnNode === this.bestReturnNode && calls.length <= this.bestPrefix.length) return;
    }
    this.bestReturnNode = returnNode;
    this.bestPrefix = [...calls];
    this.bestState = state;
    this.bestBlocked = this.list.operationOf[this.list.callOf[returnNode] ?? -1] ?? -1;
  }

  private lift(callNode: number): void {
    const { next, previous, match } = this.list;
    unlink(next, previous, callNode);
    const returnNode = match[callNode] ?? -1;
    if (returnNode !== -1) unlink(next, previous, returnNode);
  }

  /** The inverse of lift: relink the return first, then the call (reverse order). */
  private unlift(callNode: number): void {
    const { next, previous, match } = this.list;
    const returnNode = match[callNode] ?? -1;
    if (returnNode !== -1) relink(next, previous, returnNode);
    relink(next, previous, callNode);
  }

  explain(sku: string): NonLinearizableExplanation {
    const longestPrefix: LinearizedStep[] = [];
    this.bestPrefix.forEach((frame, depth) => {
      const operation = this.operations[this.list.operationOf[frame.node] ?? -1];
      if (operation === undefined) return;
      const stateAfter = this.bestPrefix[depth + 1]?.stateBefore ?? this.bestState;
      longestPrefix.push({ operation: summarize(operation.source), stateAfter });
    });
    const blocked = this.operations[this.bestBlocked];
    if (blocked === undefined) throw new Error("linearizability: no blocked operation (bug)");
    const blockedOperation = summarize(blocked.source);
    const state = this.bestState === null ? "absent" : `stock ${this.bestState}`;
    const message = `sku ${sku}: after the ${longestPrefix.length} operation(s) of the longest ` +
      `linearizable prefix (state: ${state}), ${describeOperation(blockedOperation)} cannot be ` +
      "linearized before it returned";
    return { longestPrefix, stateAfterPrefix: this.bestState, blockedOperation, message };
  }
}

function unlink(next: Int32Array, previous: Int32Array, node: number): void {
  const before = previous[node] ?? -1;
  const after = next[node] ?? -1;
  next[before] = after;
  if (after !== -1) previous[after] = before;
}

function relink(next: Int32Array, previous: Int32Array, node: number): void {
  const before = previous[node] ?? -1;
  const after = next[node] ?? -1;
  next[before] = node;
  if (after !== -1) previous[after] = node;
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
