/**
 * Which info writes to apply just before a definite operation whose requirement the current
 * state does not meet: the "batches" the linearizability search tries (see linearizability.ts
 * for the search and why applying info writes only there loses no linearization).
 *
 * A batch is a multiset of info kinds (item-model.ts), applied in the order create, increases,
 * decreases. That order is always legal when the batch ends in a legal state: after the create
 * the stock only rises, then falls monotonically to its final value, so every decrease of q
 * starts from at least final + q >= q.
 *
 * Only batches that no other batch dominates are returned, for the search keeps a configuration
 * only if no other one can do everything it can (linearizability.ts). A batch B is dominated
 *
 *   - if a legal sub-batch of B (one that never goes below zero) meets the requirement too:
 *     the rest can be applied later instead, since info writes stay callable once called and a
 *     deferred write joins a later batch, which ends in a legal state and so applies in the
 *     order above (a decrease alone may not apply at every moment, but a batch always does).
 *     So B must be inclusion-minimal: for an exact stock, no non-empty part of B sums to zero;
 *   - if a part G of B (two or more writes) sums to the effect of one still-available info write
 *     g: applying g instead of G reaches the same stock, and leaves G's writes unapplied, which
 *     can later do together whatever g could have done alone (G applied in the order above is
 *     legal wherever g is). Such a B is "reducible". In particular, one write with exactly the
 *     needed effect dominates every other way to get it.
 *
 * Every bound is named; when one cuts the enumeration, the result says so (`truncated`) and the
 * search treats its own refutations as unknown from then on.
 */
import type { InfoKind, ItemState, Requirement } from "./item-model.js";
import { meets } from "./item-model.js";

export interface BatchChoice {
  /** Each batch: kind indexes, with repetition, in the order they apply. */
  readonly batches: readonly (readonly number[])[];
  /** Why the list may be missing batches (a bound was hit), or null if it is complete. */
  readonly truncated: string | null;
}

/** No batch holds more info writes than this (a sanity bound: real ones hold a few). */
export const batchSizeMax = 10_000;
/** The enumeration of one batch list visits at most this many partial multisets. */
export const batchSearchNodesMax = 20_000;

const onlyEmpty: BatchChoice = { batches: [[]], truncated: null };
const noBatch: BatchChoice = { batches: [], truncated: null };

/**
 * The undominated batches after which `requirement` holds, starting from `state`, with
 * `available[k]` info writes of kind k called and not yet applied. [[]] if it holds already.
 */
export function infoBatches(requirement: Requirement, state: ItemState,
  kinds: readonly InfoKind[], available: ArrayLike<number>): BatchChoice {
  if (meets(requirement, state)) return onlyEmpty;
  // Info writes can neither delete an item nor fix a contradictory record.
  if (requirement.kind === "never" || requirement.kind === "absent") return noBatch;
  if (state !== null) return deltaBatches(requirement, state, kinds, available);
  // Absent: an info create first (each created stock is its own choice), then what it lacks.
  const batches: number[][] = [];
  let truncated: string | null = null;
  kinds.forEach((kind, k) => {
    if (kind.kind !== "create" || (available[k] ?? 0) < 1) return;
    if (meets(requirement, kind.value)) {
      batches.push([k]);
      return;
    }
    const rest = deltaBatches(requirement, kind.value, kinds, available);
    truncated ??= rest.truncated;
    for (const batch of rest.batches) batches.push([k, ...batch]);
  });
  return { batches, truncated };
}

function deltaBatches(requirement: Requirement, stock: number, kinds: readonly InfoKind[],
  available: ArrayLike<number>): BatchChoice {
  switch (requirement.kind) {
    case "exact":
      return exactBatches(requirement.stock - stock, kinds, available);
    case "atLeast":
      return oneSignedBatches(+1, requirement.stock - stock, Infinity, kinds, available);
    case "below":
      return belowBatches(requirement.stock, stock, kinds, available);
    default:
      return noBatch; // present holds for any stock; absent and never cannot be reached
  }
}

/** The most final stocks a "below" requirement tries one by one (a sanity bound). */
export const belowFinalsMax = 1_000;

/**
 * Batches that take `stock` below `bound` without going under zero. Decreases alone, as for
 * "atLeast" with increases; and also batches that mix the two, for a decrease larger than the
 * stock applies after increases (stock 1, an info cancel of 1 and an info buy of 2: the buy
 * alone would go below zero, the two together end at 0). A sub-batch that meets the bound only
 * by going below zero is no batch at all, so it dominates nothing: each final stock in range
 * is tried as an exact goal.
 */
function belowBatches(bound: number, stock: number, kinds: readonly InfoKind[],
  available: ArrayLike<number>): BatchChoice {
  const decreasing = oneSignedBatches(-1, stock - bound + 1, stock, kinds, available);
  const increases = kinds.some((kind, k) => kind.kind === "delta" && kind.value > 0 &&
    (available[k] ?? 0) > 0);
  if (!increases) return decreasing;
  const downReach = kinds.reduce((sum, kind, k) => kind.kind === "delta" && kind.value < 0
    ? sum + -kind.value * (available[k] ?? 0) : sum, 0);
  const batches = [...decreasing.batches];
  const seen = new Set(batches.map((batch) => batch.join(",")));
  let truncated = decreasing.truncated;
  const finalLow = Math.max(0, stock - downReach);
  let finalHigh = Math.min(bound - 1, stock - 1);
  if (finalHigh - finalLow + 1 > belowFinalsMax) {
    truncated ??= `over ${belowFinalsMax} final stocks below ${bound}`;
    finalHigh = finalLow + belowFinalsMax - 1;
  }
  for (let final = finalLow; final <= finalHigh; final++) {
    const exact = exactBatches(final - stock, kinds, available);
    truncated ??= exact.truncated;
    for (const batch of exact.batches) {
      const key = batch.join(",");
      if (!seen.has(key)) {
        seen.add(key);
        batches.push(batch);
      }
    }
  }
  return { batches, truncated };
}

/** Delta kinds with at least one write available whose value passes `keep`. */
function deltaCandidates(kinds: readonly InfoKind[], available: ArrayLike<number>,
  keep: (value: number) => boolean): number[] {
  const candidates: number[] = [];
  kinds.forEach((kind, k) => {
    if (kind.kind === "delta" && (available[k] ?? 0) > 0 && keep(kind.value)) candidates.push(k);
  });
  return candidates;
}

/** What an enumeration looks for; `candidates` are visited in order, one kind per level. */
interface Goal {
  readonly candidates: readonly number[];
  readonly sizeMax: number;
  readonly zeroSumFree: boolean;
  /** Totals count magnitudes (one-signed goals) rather than signed values (exact goals). */
  readonly magnitudes: boolean;
  /**
   * Part sums beyond this magnitude can be left out of the part table: in a one-signed
   * multiset, every sub-part of a part summing to a kind's value sums to at most that value.
   */
  readonly sumCap: number;
  /** False if no multiset extending the current one (kinds from `position` on) can succeed. */
  viable(position: number, total: number, size: number): boolean;
  /** True once adding another write would make the multiset non-minimal. */
  complete(total: number): boolean;
  /** Whether the finished multiset is an answer; `smallest`: its smallest magnitude. */
  accepts(total: number, size: number, smallest: number): boolean;
}

/**
 * Batches of increases (sign +1) or decreases (sign -1) whose total magnitude lies in
 * [low, high] and that are inclusion-minimal: dropping their smallest write leaves less than
 * low. Such a batch has at most `low` writes, each of magnitude at least 1.
 */
function oneSignedBatches(sign: 1 | -1, low: number, high: number, kinds: readonly InfoKind[],
  available: ArrayLike<number>): BatchChoice {
  if (low > high) return noBatch;
  // Descending magnitudes: a reducing part always sums to a kind visited earlier.
  const candidates = deltaCandidates(kinds, available, (value) => value * sign > 0)
    .sort((a, b) => Math.abs(kinds[b]!.value) - Math.abs(kinds[a]!.value));
  const reach = suffixSums(candidates, (k) => Math.abs(kinds[k]!.value) * (available[k] ?? 0));
  if ((reach[0] ?? 0) < low) return noBatch; // all of them together fall short
  const enumeration = new Enumeration(kinds, available);
  if (low > batchSizeMax) enumeration.truncate(`a batch of over ${batchSizeMax} info writes`);
  return enumeration.run({
    candidates, sizeMax: Math.min(low, batchSizeMax), zeroSumFree: false, magnitudes: true,
    sumCap: magnitudeMaxOf(kinds),
    viable: (position, total) => total <= high && total + (reach[position] ?? 0) >= low,
    complete: (total) => total >= low,
    accepts: (total, _size, smallest) => total >= low && total <= high && total - smallest < low,
  });
}

/**
 * Batches with net effect exactly `net` (not 0): a single write with that effect if one is
 * available (it dominates every other way), else the zero-sum-free irreducible multisets. A
 * zero-sum-free multiset of values in [-m, m] with net d has at most |d| + 2m - 2 elements:
 * ordered to keep its partial sums within [min(0,d) - m + 1, max(0,d) + m - 1], a longer one
 * would repeat a partial sum, and the writes between the repeats would sum to zero.
 */
function exactBatches(net: number, kinds: readonly InfoKind[],
  available: ArrayLike<number>): BatchChoice {
  const single = kinds.findIndex((kind, k) =>
    kind.kind === "delta" && kind.value === net && (available[k] ?? 0) > 0);
  if (single >= 0) return { batches: [[single]], truncated: null };
  // Increases by descending value, then decreases by descending magnitude, so that most
  // reducing parts sum to a kind already visited.
  const candidates = deltaCandidates(kinds, available, () => true).sort((a, b) => {
    const va = kinds[a]!.value;
    const vb = kinds[b]!.value;
    return va > 0 !== vb > 0 ? vb - va : Math.abs(vb) - Math.abs(va);
  });
  const up = suffixSums(candidates, (k) => Math.max(kinds[k]!.value, 0) * (available[k] ?? 0));
  const down = suffixSums(candidates, (k) => Math.max(-kinds[k]!.value, 0) * (available[k] ?? 0));
  if ((up[0] ?? 0) < net || (down[0] ?? 0) < -net) return noBatch; // out of reach of them all
  const magnitudeMax = candidates.reduce((max, k) => Math.max(max, Math.abs(kinds[k]!.value)), 0);
  const sizeBound = Math.abs(net) + 2 * magnitudeMax - 2;
  const sizeMax = Math.min(sizeBound, batchSizeMax);
  const enumeration = new Enumeration(kinds, available);
  if (sizeBound > batchSizeMax) enumeration.truncate(`a batch of over ${batchSizeMax} info writes`);
  // The largest single increase and decrease still to come, from each position on.
  const upMax = suffixMax(candidates, (k) => Math.max(kinds[k]!.value, 0));
  const downMax = suffixMax(candidates, (k) => Math.max(-kinds[k]!.value, 0));
  const oneSigned = candidates.every((k) => kinds[k]!.value > 0) ||
    candidates.every((k) => kinds[k]!.value < 0);
  return enumeration.run({
    candidates, sizeMax, zeroSumFree: true, magnitudes: false,
    sumCap: oneSigned ? magnitudeMaxOf(kinds) : Infinity,
    viable: (position, total, size) => {
      const room = sizeMax - size;
      return total + room * (upMax[position] ?? 0) >= net &&
        total - room * (downMax[position] ?? 0) <= net;
    },
    complete: () => false,
    accepts: (total, size) => total === net && size > 0,
  });
}

/** The largest magnitude of any delta kind. */
function magnitudeMaxOf(kinds: readonly InfoKind[]): number {
  return kinds.reduce((max, kind) => kind.kind === "delta" ? Math.max(max, Math.abs(kind.value))
    : max, 0);
}

function suffixSums(candidates: readonly number[], valueOf: (k: number) => number): number[] {
  const sums = new Array<number>(candidates.length + 1).fill(0);
  for (let position = candidates.length - 1; position >= 0; position--) {
    sums[position] = (sums[position + 1] ?? 0) + valueOf(candidates[position]!);
  }
  return sums;
}

function suffixMax(candidates: readonly number[], valueOf: (k: number) => number): number[] {
  const maxima = new Array<number>(candidates.length + 1).fill(0);
  for (let position = candidates.length - 1; position >= 0; position--) {
    maxima[position] = Math.max(maxima[position + 1] ?? 0, valueOf(candidates[position]!));
  }
  return maxima;
}

/**
 * For each sum a part of the multiset reaches, the largest such part (0 for the empty part).
 * Enough to tell a zero-sum part (largest(0) > 0) and a reducing part (largest(v) >= 2).
 */
type PartTable = ReadonlyMap<number, number>;

function withCopy(table: PartTable, value: number, sumCap: number): PartTable {
  const next = new Map(table);
  for (const [sum, size] of table) {
    const reached = sum + value;
    if (Math.abs(reached) <= sumCap && (next.get(reached) ?? -1) < size + 1) {
      next.set(reached, size + 1);
    }
  }
  return next;
}

/** One enumeration: the multiset being built (one level per candidate kind), results, bounds. */
class Enumeration {
  private readonly counts: Int32Array;
  private readonly batches: number[][] = [];
  private nodes = 0;
  private truncated: string | null = null;

  constructor(private readonly kinds: readonly InfoKind[],
    private readonly available: ArrayLike<number>) {
    this.counts = new Int32Array(kinds.length);
  }

  truncate(why: string): void {
    this.truncated ??= why;
  }

  run(goal: Goal): BatchChoice {
    this.visit(goal, 0, 0, 0, Infinity, new Map([[0, 0]]));
    this.batches.sort((a, b) => a.length - b.length);
    return { batches: this.batches, truncated: this.truncated };
  }

  /** Depth-first over the candidates; depth is at most the number of kinds. */
  private visit(goal: Goal, position: number, total: number, size: number, smallest: number,
    table: PartTable): void {
    if (++this.nodes > batchSearchNodesMax) {
      this.truncate(`over ${batchSearchNodesMax} candidate batches`);
      return;
    }
    const k = goal.candidates[position];
    if (k === undefined || goal.complete(total)) {
      const decided = goal.candidates.length;
      if (goal.accepts(total, size, smallest) && this.admissible(table, goal, decided)) {
        this.accept(goal.candidates);
      }
      return;
    }
    if (!goal.viable(position, total, size)) return;
    const value = this.kinds[k]!.value;
    const contribution = goal.magnitudes ? Math.abs(value) : value;
    const limit = Math.min(this.available[k] ?? 0, goal.sizeMax - size);
    let current = table;
    for (let count = 0; count <= limit; count++) {
      if (count > 0) current = withCopy(current, value, goal.sumCap);
      this.counts[k] = count;
      // More copies keep an inadmissible multiset inadmissible: stop.
      if (count > 0 && !this.admissible(current, goal, position)) break;
      const reached = total + count * contribution;
      this.visit(goal, position + 1, reached, size + count,
        count > 0 ? Math.abs(value) : smallest, current);
      if (goal.complete(reached)) break; // one more write would be superfluous
    }
    this.counts[k] = 0;
  }

  /**
   * False if the multiset has a zero-sum part (when the goal forbids one) or a part of two or
   * more writes summing to a kind with a write left over. Kinds at `position` or later are not
   * decided yet (their count, hence what is left over, may still change): only the earlier
   * ones, and kinds that are not candidates (count 0 for good), can rule a multiset out early.
   */
  private admissible(table: PartTable, goal: Goal, position: number): boolean {
    if (goal.zeroSumFree && (table.get(0) ?? 0) > 0) return false;
    for (let k = 0; k < this.kinds.length; k++) {
      const kind = this.kinds[k]!;
      if (kind.kind !== "delta" || (this.available[k] ?? 0) - (this.counts[k] ?? 0) < 1 ||
        (table.get(kind.value) ?? 0) < 2) continue;
      if (goal.candidates.indexOf(k) < position) return false; // decided, and reducible
    }
    return true;
  }

  /** Records the current multiset, increases first, as they must apply. */
  private accept(candidates: readonly number[]): void {
    const ordered = [...candidates].sort((a, b) => this.kinds[b]!.value - this.kinds[a]!.value);
    const batch: number[] = [];
    for (const k of ordered) {
      for (let copy = 0; copy < (this.counts[k] ?? 0); copy++) batch.push(k);
    }
    this.batches.push(batch);
  }
}

interface BatchCacheEntry {
  readonly kind: Requirement["kind"];
  /** The requirement's stock, or -2 for a kind without one. */
  readonly stock: number;
  readonly state: ItemState;
  readonly available: Int32Array;
  readonly choice: BatchChoice;
}

/**
 * Remembered answers of infoBatches (a pure function of its arguments, the kinds being fixed
 * for a search), keyed by a hash with the arguments compared on a hit: no key strings to build
 * for each of the millions of questions a long history asks.
 */
export class BatchCache {
  private readonly entries = new Map<number, BatchCacheEntry[]>();
  private size = 0;

  lookup(requirement: Requirement, state: ItemState, available: Int32Array,
    compute: () => BatchChoice): BatchChoice {
    const stock = "stock" in requirement ? requirement.stock : -2;
    let hash = (requirementCodes[requirement.kind] * 1_000_003 + stock) | 0;
    hash = (hash * 31 + (state ?? -1)) | 0;
    for (let k = 0; k < available.length; k++) hash = (hash * 31 + available[k]!) | 0;
    const bucket = this.entries.get(hash);
    const hit = bucket?.find((entry) => entry.kind === requirement.kind &&
      entry.stock === stock && entry.state === state && sameCounts(entry.available, available));
    if (hit !== undefined) return hit.choice;
    if (this.size >= batchCacheEntriesMax) { // forget everything, rather than grow unbounded
      this.entries.clear();
      this.size = 0;
    }
    const entry = { kind: requirement.kind, stock, state, available: Int32Array.from(available),
      choice: compute() };
    if (bucket === undefined || bucket.length === 0) this.entries.set(hash, [entry]);
    else bucket.push(entry);
    this.size++;
    return entry.choice;
  }
}

const requirementCodes: Record<Requirement["kind"], number> = {
  absent: 1, present: 2, exact: 3, atLeast: 4, below: 5, never: 6,
};

/** Answers remembered at most (then forgotten all at once). */
const batchCacheEntriesMax = 200_000;

function sameCounts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
