/**
 * The configurations the linearizability search keeps after each return (item-search.ts), and
 * the dominance that keeps them few. A configuration A dominates B when A can do whatever B
 * can; then B is dropped, which loses no linearization (item-search.ts, "Complete").
 *
 * Two ways A is shown to dominate B, combined:
 *
 *   - Reach: A can become B now. B linearized early some open operations A did not (A must
 *     not have linearized any B did not) and applied some info writes A did not: if A can
 *     place those operations in some order, with those writes split into batches before them,
 *     every requirement met, it is where B is. Both are "now" (between two events), the
 *     operations are still open and the writes still available, so A's next steps can start
 *     that way. This is what drops most configurations: a concurrent operation linearized
 *     early, with an info write spent to make up for it, is reachable from the configuration
 *     that simply waited.
 *   - Swap: A applied an info write g that B did not, and B applied a group G of info writes A
 *     did not, with the same net effect as g. B's unapplied g can do only what A's unapplied G
 *     can do together (info-batches.ts), so A is no worse off for the swap.
 *
 * The check is a small bounded search (operationsMax, writesMax): beyond it, A is simply not
 * shown to dominate B, and both are kept, which is always safe.
 */
import type { BatchChoice } from "./info-batches.js";
import {
  applyEffect, applyInfo, type DefiniteStep, type InfoKind, type ItemState, type Requirement,
} from "./item-model.js";

export interface Configuration {
  readonly state: ItemState;
  /** Open operations already linearized, by position, ascending. */
  readonly early: readonly number[];
  /** Info writes applied, per kind: the first applied[k] of kind k in call order. */
  readonly applied: Int32Array;
  /** The linearization so far, newest first (shared between configurations). */
  readonly trail: TrailNode | null;
}

export interface TrailNode {
  readonly position: number;
  readonly stateAfter: ItemState;
  readonly previous: TrailNode | null;
  readonly length: number;
}

/** What dominance needs to know of the item's operations. */
export interface DominanceContext {
  readonly kinds: readonly InfoKind[];
  readonly definite: readonly (DefiniteStep | null)[];
  /** infoBatches over `kinds` (item-search.ts remembers its answers). */
  readonly batches: (requirement: Requirement, state: ItemState,
    available: Int32Array) => BatchChoice;
}

/** The reach and swap searches give up (no dominance shown) beyond these sizes. */
const operationsMax = 3;
const writesMax = 256;
/**
 * A group with a write's exact effect e is a batch that changes a stock by exactly e: asked
 * for as the change from max(0, -e) + groupOffset to max(0, e) + groupOffset (both stocks, so
 * that decreases are legal).
 */
const groupOffset = 1_000_000;

/**
 * The configurations after one return, none dominated by another as far as the bounded checks
 * go: against the configurations that linearized the same open operations (dropping either),
 * and against those that linearized one or two fewer (which may drop the newcomer). Indexed by
 * the set of operations linearized early, so that adding one costs lookups, not a scan.
 */
export class Frontier {
  private readonly groups = new Map<string, Configuration[]>();
  size = 0;

  constructor(private readonly context: DominanceContext) {}

  add(candidate: Configuration): void {
    const key = candidate.early.join(",");
    const same = this.groups.get(key) ?? [];
    for (const fewer of subsetKeys(candidate.early)) {
      const group = this.groups.get(fewer);
      if (group?.some((kept) => dominates(kept, candidate, this.context)) === true) return;
    }
    if (same.some((kept) => dominates(kept, candidate, this.context))) return;
    const kept = same.filter((other) => !dominates(candidate, other, this.context));
    this.size += 1 + kept.length - same.length;
    kept.push(candidate);
    this.groups.set(key, kept);
  }

  list(): Configuration[] {
    return [...this.groups.values()].flat();
  }
}

/** The keys of `early` without one, and without two, of its operations. */
function subsetKeys(early: readonly number[]): string[] {
  const keys: string[] = [];
  for (let i = 0; i < early.length; i++) {
    keys.push(early.filter((_, k) => k !== i).join(","));
    for (let j = i + 1; j < early.length && early.length <= 8; j++) {
      keys.push(early.filter((_, k) => k !== i && k !== j).join(","));
    }
  }
  return keys;
}

/**
 * The configurations a return's exploration has reached so far. A new one is explored only if
 * none reached before linearized the same operations and dominates it: it can
 * lead nowhere the old one cannot. (Only the same operations: a configuration also dominates
 * its own descendants, which must still be explored.)
 */
export class Visited {
  private readonly byEarly = new Map<string, Configuration[]>();

  constructor(private readonly context: DominanceContext) {}

  /** Records `configuration` and returns true if it is worth exploring. */
  admit(configuration: Configuration): boolean {
    const key = configuration.early.join(",");
    const reached = this.byEarly.get(key);
    if (reached === undefined) {
      this.byEarly.set(key, [configuration]);
      return true;
    }
    if (reached.some((other) => dominates(other, configuration, this.context))) return false;
    reached.push(configuration);
    return true;
  }

}

/** Whether `a` can be shown to do whatever `b` can (see the header). */
export function dominates(a: Configuration, b: Configuration, context: DominanceContext):
  boolean {
  const placedCount = b.early.length - a.early.length;
  if (placedCount < 0 || placedCount > operationsMax) return false;
  const placed: number[] = [];
  for (const position of b.early) if (!a.early.includes(position)) placed.push(position);
  if (placed.length !== placedCount) return false; // a linearized something b did not
  // extra[k]: info writes of kind k that b applied and a did not; swapped: the converse.
  const extra = new Int32Array(a.applied.length);
  const swapped: number[] = [];
  let extraCount = 0;
  for (let k = 0; k < a.applied.length; k++) {
    const difference = b.applied[k]! - a.applied[k]!;
    if (difference >= 0) {
      extra[k] = difference;
      extraCount += difference;
      continue;
    }
    if (swapped.length - difference > operationsMax) return false;
    if (context.kinds[k]!.kind !== "delta") return false;
    for (let copy = 0; copy < -difference; copy++) swapped.push(k);
  }
  if (placed.length === 0 && swapped.length === 0) return true; // b is a after `extra`
  if (extraCount > writesMax) return false;
  return swapsThenReaches(a.state, placed, extra, swapped, context);
}

/**
 * Whether a group of `extra` (one of the same net effect for each) can stand for each write
 * of `swapped`, and `a` can then reach b's place with the rest.
 */
function swapsThenReaches(state: ItemState, placed: readonly number[], extra: Int32Array,
  swapped: readonly number[], context: DominanceContext): boolean {
  const [g, ...others] = swapped;
  if (g === undefined) return reaches(state, placed, extra, context);
  // Groups with g's exact effect, as info-batches.ts finds batches for an exact change.
  const target = context.kinds[g]!.value;
  const groups = context.batches({ kind: "exact", stock: Math.max(0, target) + groupOffset },
    Math.max(0, -target) + groupOffset, extra);
  if (groups.truncated !== null) return false;
  for (const group of groups.batches) {
    const rest = Int32Array.from(extra);
    for (const k of group) rest[k]!--;
    if (swapsThenReaches(state, placed, rest, others, context)) return true;
  }
  return false;
}

/**
 * Whether, from `state`, the operations `placed` can all be linearized in some order, each
 * after a batch of the writes of `extra` that meets its requirement, and the remaining writes
 * then applied. Batches as the search itself finds them (info-batches.ts): whatever reaches b
 * with some split of the writes reaches it with minimal batches, the rest deferred.
 */
function reaches(state: ItemState, placed: readonly number[], extra: Int32Array,
  context: DominanceContext): boolean {
  if (placed.length === 0) return applyRemaining(state, extra, context.kinds);
  for (let index = 0; index < placed.length; index++) {
    const step = context.definite[placed[index]!]!;
    const choice = context.batches(step.requirement, state, extra);
    if (choice.truncated !== null) continue;
    const others = placed.filter((_, i) => i !== index);
    for (const batch of choice.batches) {
      let before = state;
      const rest = Int32Array.from(extra);
      for (const k of batch) {
        before = applyInfo(context.kinds[k]!, before);
        rest[k]!--;
      }
      if (reaches(applyEffect(step.effect, before), others, rest, context)) return true;
    }
  }
  return false;
}

/** Whether the writes counted in `writes` apply legally from `state` (create, up, down). */
function applyRemaining(state: ItemState, writes: Int32Array, kinds: readonly InfoKind[]):
  boolean {
  let current = state;
  for (const phase of ["create", "up", "down"] as const) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[k]!;
      const inPhase = kind.kind === "create" ? phase === "create"
        : kind.value > 0 ? phase === "up" : phase === "down";
      for (let copy = 0; inPhase && copy < writes[k]!; copy++) {
        const legal = kind.kind === "create" ? current === null
          : current !== null && current + kind.value >= 0;
        if (!legal) return false;
        current = applyInfo(kind, current);
      }
    }
  }
  return true;
}
