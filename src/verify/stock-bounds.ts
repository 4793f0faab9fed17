/**
 * Bounds on an item's stock at an operation's linearization point, from the operations alone:
 * a cheap over-approximation that refutes an impossible observation (a read of a stock no
 * combination of writes could reach, a buy of more than could ever be there) without a search.
 *
 * Somewhere in [call, return] of the operation X, every write that returned before X was
 * called has happened, and a write that was called before X returned (an info write included)
 * may or may not have. Ignoring the order they happened in and whether a buy found enough
 * stock, the stock lies in [created + certain + decreases that may have happened, created +
 * certain + increases that may have happened]. Every linearization agrees with these bounds,
 * so an operation whose requirement lies outside them cannot be placed by any of them.
 */
import type { ItemOperation } from "./item-ops.js";
import type { DefiniteStep, InfoKind, ItemState, Requirement } from "./item-model.js";

export interface StockBounds {
  /** Whether the item may exist then, and whether it may still be absent. */
  readonly mayBePresent: boolean;
  readonly mayBeAbsent: boolean;
  /** When present: the stock lies in [stockMin, stockMax]. */
  readonly stockMin: number;
  readonly stockMax: number;
}

/** One write, for the index: when it was called and returned, and what it does. */
interface Write {
  readonly callIndex: number;
  /** Infinity for an info write: it never certainly happened. */
  readonly returnIndex: number;
  readonly kind: "create" | "delta";
  readonly value: number;
}

/**
 * Answers the bounds for any operation in O(log n): prefix sums of the writes' effects in
 * call order and in return order, so that a long history's search can ask at every dead end.
 */
export class StockBoundsIndex {
  private readonly byCall: PrefixTable;
  private readonly byReturn: PrefixTable;

  constructor(private readonly operations: readonly ItemOperation[],
    definite: readonly (DefiniteStep | null)[], kinds: readonly InfoKind[],
    infoByKind: readonly (readonly number[])[], private readonly initial: ItemState) {
    const writes: Write[] = [];
    definite.forEach((step, position) => {
      if (step === null || step.effect.kind === "none") return;
      const source = operations[position]!.source;
      writes.push({ callIndex: source.invoke.index,
        returnIndex: source.completion?.index ?? Infinity, kind: step.effect.kind,
        value: step.effect.kind === "create" ? step.effect.stock : step.effect.amount });
    });
    infoByKind.forEach((positions, k) => {
      for (const position of positions) {
        writes.push({ callIndex: operations[position]!.source.invoke.index,
          returnIndex: Infinity, kind: kinds[k]!.kind, value: kinds[k]!.value });
      }
    });
    this.byCall = new PrefixTable(writes, (write) => write.callIndex);
    this.byReturn = new PrefixTable(writes.filter((write) => write.returnIndex < Infinity),
      (write) => write.returnIndex);
  }

  /**
   * The bounds at the linearization point of the definite operation at `position` (whose own
   * effect is not counted: the bounds are of the state it finds).
   */
  at(position: number): StockBounds {
    const target = this.operations[position]!.source;
    const called = this.byCall.before(target.completion?.index ?? Infinity);
    const certain = this.byReturn.before(target.invoke.index);
    // Its own effect, if any, was counted among the writes called before it returned.
    const own = this.byCall.own(target.invoke.index);
    const up = called.up - certain.up - own.up;
    const down = called.down - certain.down - own.down;
    const createdMin = Math.min(called.createdMin, this.initial ?? Infinity);
    const createdMax = Math.max(called.createdMax, this.initial ?? -Infinity);
    const delta = certain.up + certain.down;
    return {
      mayBePresent: createdMin <= createdMax,
      mayBeAbsent: this.initial === null && certain.createdCount === 0,
      stockMin: Math.max(0, createdMin + delta + down),
      stockMax: createdMax + delta + up,
    };
  }
}

interface PrefixSums {
  up: number;
  down: number;
  createdMin: number;
  createdMax: number;
  createdCount: number;
}

/** Writes sorted by one index, with the running sums of their effects. */
class PrefixTable {
  private readonly indexes: number[];
  private readonly sums: PrefixSums[];
  private readonly byIndex = new Map<number, PrefixSums>();

  constructor(writes: readonly Write[], indexOf: (write: Write) => number) {
    const sorted = [...writes].sort((a, b) => indexOf(a) - indexOf(b));
    this.indexes = sorted.map(indexOf);
    let running: PrefixSums = { up: 0, down: 0, createdMin: Infinity, createdMax: -Infinity,
      createdCount: 0 };
    this.sums = [running];
    for (const write of sorted) {
      const one = sumsOf(write);
      this.byIndex.set(indexOf(write), one);
      running = { up: running.up + one.up, down: running.down + one.down,
        createdMin: Math.min(running.createdMin, one.createdMin),
        createdMax: Math.max(running.createdMax, one.createdMax),
        createdCount: running.createdCount + one.createdCount };
      this.sums.push(running);
    }
  }

  /** The sums over the writes whose index is below `index`. */
  before(index: number): PrefixSums {
    let low = 0;
    let high = this.indexes.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.indexes[middle]! < index) low = middle + 1;
      else high = middle;
    }
    return this.sums[low]!;
  }

  /** The sums of the one write at `index` (zero if none). */
  own(index: number): PrefixSums {
    return this.byIndex.get(index) ?? sumsOf(null);
  }
}

function sumsOf(write: Write | null): PrefixSums {
  const create = write?.kind === "create";
  const value = write?.value ?? 0;
  return { up: !create && value > 0 ? value : 0, down: !create && value < 0 ? value : 0,
    createdMin: create ? value : Infinity, createdMax: create ? value : -Infinity,
    createdCount: create ? 1 : 0 };
}

/** Whether no state within `bounds` meets `requirement`. */
export function outOfBounds(requirement: Requirement, bounds: StockBounds): boolean {
  const present = bounds.mayBePresent && bounds.stockMin <= bounds.stockMax;
  switch (requirement.kind) {
    case "absent":
      return !bounds.mayBeAbsent;
    case "present":
      return !present;
    case "exact":
      return !present || requirement.stock < bounds.stockMin ||
        requirement.stock > bounds.stockMax;
    case "atLeast":
      return !present || bounds.stockMax < requirement.stock;
    case "below":
      return !present || bounds.stockMin >= requirement.stock;
    case "never":
      return true;
  }
}
