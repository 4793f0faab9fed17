/**
 * The linearizability search over one sku's sub-history: Lowe's just-in-time linearization
 * ("Testing for linearizability", 2017, §5; Knossos's "linear" checker works the same way), with
 * info writes counted rather than enumerated. It runs in two phases over the same
 * configurations: a depth-first search for a witness, which is fast when the history is
 * linearizable, and, if that fails or runs out of its share of steps, a breadth-first walk that
 * keeps every configuration the item can be in, which decides exactly and names the operation
 * that no configuration can place.
 *
 * A configuration is what a valid linearization of the history so far leaves behind:
 *   - `early`: the open operations (called, not yet returned) it has already linearized. Every
 *     returned definite operation is linearized in every configuration;
 *   - `applied[k]`: how many info writes of kind k it has applied. Info writes of one kind are
 *     interchangeable once called, so a linearization that applies some of them can apply the
 *     earliest-called ones instead: it is enough to count them;
 *   - the state, which those two determine (the sum of the effects applied, after the create).
 *
 * Events are processed in history order. A call makes its operation open. At a return of X, a
 * configuration that linearized X early goes on as it is; from any other one, the search
 * explores every sequence of open operations that ends with X, each preceded by a batch of info
 * writes (info-batches.ts) when its requirement needs one; all these operations take effect
 * just before X returns, which is inside each of their intervals. Nothing is linearized later
 * than it must be (just in time).
 *
 * Why two phases: every info write that never happened stays available forever, so in a long
 * history with many of them almost any order of concurrent operations can be "explained" by
 * spending some, and the set of configurations after a return, though small once dominated ones
 * are dropped (frontier.ts), takes a search over every subset of the open operations to find.
 * The depth-first phase tries X first and stops at the first configuration that carries on, so
 * it pays that price only where it must backtrack; it remembers configurations that led nowhere
 * and skips those they dominate.
 *
 * Why no linearization is lost (complete) and none is invented (sound):
 *   - Sound: every configuration is built by legal steps, each operation placed while open and
 *     each info write after its call. If a configuration survives the last event, the operations
 *     and info writes it applied, in order, are a linearization (unapplied info writes never
 *     happened). So "linearizable" always comes with a witness, even from a truncated search.
 *   - Complete: take any linearization. Move each info write later, up to just before the next
 *     definite operation (every later operation sees the same state); reorder each run of info
 *     writes as create, increases, decreases (still legal: see info-batches.ts); and from each
 *     run keep before its operation only a minimal part the operation needs, deferring the rest
 *     to the next run. That part is a batch the search tries, or one that dominates it: reaches
 *     the same state and leaves unapplied writes that can later do, together, whatever the
 *     part's leftover could (info-batches.ts). Say configuration A dominates B when both
 *     linearized the same operations, are in the same state, and A's unapplied writes can do
 *     whatever B's can; then whatever B does next, A can mirror. By induction over the returns,
 *     the search keeps, after each return, a configuration that dominates the linearization's
 *     prefix; after the last one, one that completes.
 *   - Pruning: the frontier drops a configuration that another one dominates (frontier.ts), for
 *     instance one that linearized the same operations and applied no more info writes of any
 *     kind: it can apply the difference at once and be where the other is (the state is a
 *     function of what was applied).
 * Without info operations, applied is empty, batches are empty, and this is an exact search.
 *
 * Every loop is bounded (STYLE.md §5): steps (each attempt to place an operation; the witness
 * phase gets a share, the breadth-first walk the rest), the number of configurations kept after
 * each return, and the batch enumeration. Running out of steps ends the search as unknown.
 * Over the configuration bound, the search keeps the configurations that applied the fewest
 * info writes and goes on incomplete: it can still find a witness, but a dead end then means
 * "unknown", not "not linearizable".
 */
import { assert } from "../raft/assert.js";
import {
  dominates, Frontier, Visited, type Configuration, type DominanceContext,
} from "./frontier.js";
import { BatchCache, infoBatches, type BatchChoice } from "./info-batches.js";
import type { ItemOperation } from "./item-ops.js";
import { outOfBounds, StockBoundsIndex, type StockBounds } from "./stock-bounds.js";
import {
  applyEffect, applyInfo, definiteStepOf, infoKindOf, meets,
  type DefiniteStep, type InfoKind, type ItemState, type Requirement,
} from "./item-model.js";

export interface SearchLimits {
  readonly stepsMax: number;
  readonly configurationsMax: number;
}

/** One step of a linearization: an operation and the state after it. */
export interface PlacedOperation {
  readonly operation: ItemOperation;
  readonly stateAfter: ItemState;
}

export type SearchOutcome =
  | { readonly kind: "linearizable"; readonly steps: number; readonly operationCount: number }
  | { readonly kind: "stepsExceeded"; readonly steps: number; readonly operationCount: number;
      /** The operation whose return the search was placing. */
      readonly at: ItemOperation; readonly returnedCount: number;
      readonly definiteCount: number;
      /** How many returns the witness search got past before it stopped. */
      readonly witnessReturnedCount: number }
  | { readonly kind: "stuck"; readonly steps: number; readonly operationCount: number;
      /** The operation that returned with no configuration able to place it. */
      readonly blocked: ItemOperation;
      /** The longest linearization of one configuration alive just before that return. */
      readonly prefix: readonly PlacedOperation[];
      readonly stateAfterPrefix: ItemState;
      /**
       * The states the item could be in just before that return, ascending, at most 8; empty
       * when the refutation came from the bounds alone.
       */
      readonly statesBefore: readonly ItemState[];
      /** The stock's bounds at the blocked operation, when they alone refute it. */
      readonly bounds: StockBounds | null;
      /** Why the search may have lost configurations, or null if it is exact. */
      readonly incomplete: string | null };

/** How many possible states a stuck outcome lists. */
const statesListedMax = 8;
/** The witness phase's share of the steps: this many per definite operation, plus a base. */
const witnessStepsPerOperation = 64;
const witnessStepsBase = 100_000;
/** Configurations remembered as leading nowhere, per return (the oldest are forgotten). */
const failedPerReturnMax = 64;
const emptyBatchOnly: BatchChoice = { batches: [[]], truncated: null };

/** A return event, with what was open and called when it happened. */
interface ReturnPoint {
  /** The returning operation's position. */
  readonly position: number;
  /** Open definite operations (the returning one included), by position, in call order. */
  readonly open: readonly number[];
  /** Info writes called so far, per kind. */
  readonly called: Int32Array;
}

/** Checks one sku's operations (in invocation order) from state `initial`. */
export function searchItem(operations: readonly ItemOperation[], initial: ItemState,
  limits: SearchLimits): SearchOutcome {
  return new ItemSearch(operations, initial, limits).run();
}

class ItemSearch {
  private steps = 0;
  private incomplete: string | null = null;
  /** For each operation: its step if definite (ok, or an observing fail), else null. */
  private readonly definite: (DefiniteStep | null)[];
  private readonly kinds: InfoKind[] = [];
  /** For each kind, the positions of its info writes in call order. */
  private readonly infoByKind: number[][] = [];
  private readonly returns: ReturnPoint[] = [];
  private readonly dominance: DominanceContext;
  private readonly batchCache = new BatchCache();
  /** Built on first use: most searches never need it. */
  private bounds: StockBoundsIndex | null = null;
  private readonly definiteCount: number;
  private readonly operationCount: number;

  constructor(private readonly operations: readonly ItemOperation[],
    private readonly initial: ItemState, private readonly limits: SearchLimits) {
    this.definite = operations.map(definiteStepOf);
    this.returns = this.returnPoints();
    this.definiteCount = this.returns.length;
    this.operationCount = this.definiteCount +
      this.infoByKind.reduce((count, positions) => count + positions.length, 0);
    this.dominance = { kinds: this.kinds, definite: this.definite,
      batches: (requirement, state, available) => this.batches(requirement, state, available) };
  }

  /** Sorts the events and records each return with what was open and called then. */
  private returnPoints(): ReturnPoint[] {
    type ItemEvent = { index: number; position: number; kind: "call" | "return" | number };
    const events: ItemEvent[] = [];
    const kindIndexes = new Map<string, number>();
    this.operations.forEach((operation, position) => {
      const source = operation.source;
      if (this.definite[position] !== null) {
        assert(source.completion !== null, "a definite operation has a completion");
        events.push({ index: source.invoke.index, position, kind: "call" },
          { index: source.completion.index, position, kind: "return" });
        return;
      }
      const kind = infoKindOf(operation);
      if (kind === null) return; // an info read or a fail that observed nothing: dropped
      const key = `${kind.kind}:${kind.value}`;
      let k = kindIndexes.get(key);
      if (k === undefined) {
        k = this.kinds.length;
        kindIndexes.set(key, k);
        this.kinds.push(kind);
        this.infoByKind.push([]);
      }
      this.infoByKind[k]!.push(position);
      events.push({ index: source.invoke.index, position, kind: k });
    });
    events.sort((a, b) => a.index - b.index);
    const open: number[] = [];
    const called = new Int32Array(this.kinds.length);
    const points: ReturnPoint[] = [];
    for (const event of events) {
      if (typeof event.kind === "number") called[event.kind]!++;
      else if (event.kind === "call") open.push(event.position);
      else {
        points.push({ position: event.position, open: [...open], called: Int32Array.from(called) });
        open.splice(open.indexOf(event.position), 1);
      }
    }
    return points;
  }

  run(): SearchOutcome {
    const witnessStepsMax = Math.min(Math.floor(this.limits.stepsMax / 4),
      witnessStepsBase + witnessStepsPerOperation * this.definiteCount);
    const witness = this.findWitness(witnessStepsMax);
    if (witness === null) {
      return { kind: "linearizable", steps: this.steps, operationCount: this.operationCount };
    }
    return this.refuteByBounds(witness) ?? this.walk(witness.ordinal);
  }

  /**
   * A quick refutation, when the operation the witness search never got past cannot be placed
   * in any configuration because its requirement lies outside the stock's bounds at that point
   * (stock-bounds.ts). The witness search did get past every earlier return, so this is the
   * first operation the breadth-first walk would find no configuration to place, named as
   * such; the prefix is the witness search's.
   */
  private refuteByBounds(furthest: { ordinal: number; configuration: Configuration }):
    SearchOutcome | null {
    const at = this.returns[furthest.ordinal];
    if (at === undefined || !this.outOfBoundsAt(furthest.ordinal)) return null;
    return this.stuck(at.position, [furthest.configuration], this.boundsAt(furthest.ordinal));
  }

  private boundsAt(ordinal: number): StockBounds {
    this.bounds ??= new StockBoundsIndex(this.operations, this.definite, this.kinds,
      this.infoByKind, this.initial);
    return this.bounds.at(this.returns[ordinal]!.position);
  }

  private outOfBoundsAt(ordinal: number): boolean {
    const position = this.returns[ordinal]!.position;
    return outOfBounds(this.definite[position]!.requirement, this.boundsAt(ordinal));
  }

  private initialConfiguration(): Configuration {
    return { state: this.initial, early: [], applied: new Int32Array(this.kinds.length),
      trail: null };
  }

  /**
   * The depth-first phase: null if it finds a configuration that gets past every return. It
   * stops when it has tried everything or spent `stepsMax`, and then returns the furthest
   * return it reached and a configuration that reached it; the breadth-first walk decides. A
   * configuration whose every continuation failed is remembered, per return, and any
   * configuration it dominates is skipped there (it could do no better).
   */
  private findWitness(stepsMax: number):
    { ordinal: number; configuration: Configuration } | null {
    const failed: Configuration[][] = this.returns.map(() => []);
    const frames: { ordinal: number; from: Configuration; results: Iterator<Configuration> }[] =
      [];
    let configuration = this.initialConfiguration();
    let furthest = { ordinal: 0, configuration };
    let boundsChecked = false;
    for (let ordinal = 0; ordinal < this.returns.length;) {
      if (ordinal > furthest.ordinal) {
        furthest = { ordinal, configuration };
        boundsChecked = false;
      }
      const at = this.returns[ordinal]!;
      frames.push({ ordinal, from: configuration,
        results: this.placements(at, configuration, new Visited(this.dominance)) });
      let next: Configuration | undefined;
      while (next === undefined) {
        const frame = frames[frames.length - 1];
        if (frame === undefined || this.steps > stepsMax) return furthest;
        const result = frame.results.next();
        if (result.done === true) {
          // The first dead end at the furthest return: if bounds alone refute the operation
          // there, no other path can place it, so stop searching.
          if (frame.ordinal === furthest.ordinal && !boundsChecked) {
            boundsChecked = true;
            if (this.outOfBoundsAt(frame.ordinal)) return furthest;
          }
          frames.pop();
          const list = failed[frame.ordinal]!;
          if (list.length >= failedPerReturnMax) list.shift();
          list.push(frame.from);
          continue;
        }
        const failures = failed[frame.ordinal + 1] ?? [];
        if (failures.some((known) => dominates(known, result.value, this.dominance))) continue;
        next = result.value;
        ordinal = frame.ordinal + 1;
      }
      configuration = next;
    }
    return null;
  }

  /** The breadth-first phase: every configuration, return after return. */
  private walk(witnessReturnedCount: number): SearchOutcome {
    let frontier: Configuration[] = [this.initialConfiguration()];
    for (const [ordinal, at] of this.returns.entries()) {
      const next = new Frontier(this.dominance);
      const visited = new Visited(this.dominance);
      for (const configuration of frontier) {
        for (const result of this.placements(at, configuration, visited)) next.add(result);
        if (this.steps > this.limits.stepsMax) {
          return { kind: "stepsExceeded", steps: this.steps, operationCount: this.operationCount,
            at: this.operations[at.position]!, returnedCount: ordinal,
            definiteCount: this.definiteCount, witnessReturnedCount };
        }
      }
      if (next.size === 0) return this.stuck(at.position, frontier);
      frontier = this.keep(next, at.position);
    }
    return { kind: "linearizable", steps: this.steps, operationCount: this.operationCount };
  }

  /**
   * The configurations that extend `start` by a sequence of open operations ending with the
   * returning one, lazily: the returning operation first from each configuration reached.
   * Depth-first over the sequences; `visited` skips a configuration reached before by another
   * order, or dominated by one (frontier.ts). Stops early once the steps exceed the bound.
   */
  private *placements(at: ReturnPoint, start: Configuration, visited: Visited):
    Generator<Configuration, void> {
    const returning = at.position;
    const early = start.early.indexOf(returning);
    if (early >= 0) {
      yield { ...start, early: start.early.filter((_, i) => i !== early) };
      return;
    }
    // Breadth-first: sequences with fewer operations before the returning one come first.
    const queue: Configuration[] = [start];
    for (let head = 0, node = queue[0]; node !== undefined; node = queue[++head]) {
      const available = this.available(node.applied, at.called);
      for (const batch of this.choose(returning, node.state, available).batches) {
        this.steps++;
        yield this.extend(node, batch, returning, false, at.called);
      }
      // Operations that need no info write first, earliest called first: the order a real
      // execution most likely took, which the witness search tries first.
      const spending: Configuration[] = [];
      const free: Configuration[] = [];
      for (const position of at.open) {
        if (position === returning || node.early.includes(position)) continue;
        for (const batch of this.choose(position, node.state, available).batches) {
          if (++this.steps > this.limits.stepsMax) return;
          const child = this.extend(node, batch, position, true, at.called);
          if (visited.admit(child)) (batch.length === 0 ? free : spending).push(child);
        }
      }
      queue.push(...free, ...spending);
    }
  }

  /** The batches to try before the operation at `position`, noting any truncation. */
  private choose(position: number, state: ItemState, available: Int32Array): BatchChoice {
    const choice = this.batches(this.definite[position]!.requirement, state, available);
    if (choice.truncated !== null) {
      this.noteIncomplete(`the info writes before ${this.where(position)} allow ` +
        `${choice.truncated}`);
    }
    return choice;
  }

  /** `node` after the info writes of `batch` and then the operation at `position`. */
  private extend(node: Configuration, batch: readonly number[], position: number,
    early: boolean, called: Int32Array): Configuration {
    let state = node.state;
    let trail = node.trail;
    const applied = batch.length === 0 ? node.applied : Int32Array.from(node.applied);
    for (const k of batch) {
      const infoPosition = this.infoByKind[k]![applied[k]!];
      assert(infoPosition !== undefined && applied[k]! < called[k]!,
        "a batch uses only called, unapplied info writes");
      state = applyInfo(this.kinds[k]!, state);
      applied[k]!++;
      trail = { position: infoPosition, stateAfter: state, previous: trail,
        length: (trail?.length ?? 0) + 1 };
    }
    const step = this.definite[position]!;
    assert(meets(step.requirement, state), "a batch meets its operation's requirement");
    state = applyEffect(step.effect, state);
    trail = { position, stateAfter: state, previous: trail, length: (trail?.length ?? 0) + 1 };
    const earlyAfter = early ? insertSorted(node.early, position) : node.early;
    return { state, early: earlyAfter, applied, trail };
  }

  /** infoBatches, remembered: the same questions recur across configurations and returns. */
  private batches(requirement: Requirement, state: ItemState, available: Int32Array):
    BatchChoice {
    if (meets(requirement, state)) return emptyBatchOnly;
    return this.batchCache.lookup(requirement, state, available,
      () => infoBatches(requirement, state, this.kinds, available));
  }

  private available(applied: Int32Array, called: Int32Array): Int32Array {
    const available = new Int32Array(applied.length);
    for (let k = 0; k < applied.length; k++) available[k] = called[k]! - applied[k]!;
    return available;
  }

  /** The configurations to carry on with, at most configurationsMax of them. */
  private keep(next: Frontier, returned: number): Configuration[] {
    const configurations = next.list();
    if (configurations.length <= this.limits.configurationsMax) return configurations;
    this.noteIncomplete(`more than ${this.limits.configurationsMax} configurations (possible ` +
      `states and partial orders) after ${this.where(returned)} returned`);
    // The fewest info writes applied first: those configurations can do the most.
    const weight = (configuration: Configuration): number =>
      configuration.applied.reduce((sum, count) => sum + count, 0);
    return configurations.map((configuration) => ({ configuration, w: weight(configuration) }))
      .sort((a, b) => a.w - b.w).slice(0, this.limits.configurationsMax)
      .map(({ configuration }) => configuration);
  }

  private stuck(blocked: number, frontier: readonly Configuration[],
    bounds: StockBounds | null = null): SearchOutcome {
    const longest = frontier.reduce((best, configuration) =>
      (configuration.trail?.length ?? 0) > (best.trail?.length ?? 0) ? configuration : best);
    const prefix: PlacedOperation[] = [];
    for (let node = longest.trail; node !== null; node = node.previous) {
      prefix.push({ operation: this.operations[node.position]!, stateAfter: node.stateAfter });
    }
    prefix.reverse();
    const states = bounds !== null ? [] : [...new Set(frontier.map((configuration) =>
      configuration.state))].sort((a, b) => (a ?? -1) - (b ?? -1)).slice(0, statesListedMax);
    return { kind: "stuck", steps: this.steps, operationCount: this.operationCount,
      blocked: this.operations[blocked]!, prefix, stateAfterPrefix: longest.state,
      statesBefore: states, bounds, incomplete: bounds !== null ? null : this.incomplete };
  }

  private noteIncomplete(why: string): void {
    this.incomplete ??= why;
  }

  private where(position: number): string {
    const operation = this.operations[position]!;
    return `${operation.source.type} ${operation.f} at index ${operation.source.invoke.index}`;
  }
}

/** `sorted` with `value` inserted in order (a new array). */
function insertSorted(sorted: readonly number[], value: number): number[] {
  const result = [...sorted, value];
  for (let i = result.length - 1; i > 0 && result[i - 1]! > value; i--) {
    result[i] = result[i - 1]!;
    result[i - 1] = value;
  }
  return result;
}

