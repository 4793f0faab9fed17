/**
 * The per-item model the linearizability checker searches (state: the stock, or null while the
 * item does not exist), as two pieces per operation: what it requires of the state at its
 * linearization point, and what it does to it.
 *
 *   ok create(stock)     requires absent      -> stock
 *   ok add(qty)          requires present     -> stock + qty; if the answer reported the stock
 *                                                after, requires exactly that minus qty
 *   ok cancel(qty)       requires present     -> stock + qty (one cancel per order: item-ops.ts)
 *   ok buy(qty)          requires stock >= qty -> stock - qty
 *   ok read              requires the state read (null: not found); no change
 *
 * A `fail` operation did not happen (DESIGN.md §4), but some failures are observations of the
 * state at the point the store decided them, and are checked as such, changing nothing:
 *
 *   buy refused insufficient_stock   stock < qty (and stock == available, if it was recorded)
 *   add or buy refused not_found     the item is absent
 *   create refused conflict          the item exists. A 409 conflict on create is also the
 *                                    answer to a requestId reused with another body; DESIGN.md
 *                                    §3 makes every requestId unique per logical operation, and
 *                                    the chaos runner sends a fresh one each time, so it can only
 *                                    mean "exists".
 *
 * Any other failure (no_leader, unavailable, a refused connection, invalid_request...) is
 * dropped: the store answered before looking at the item. So is an `info` read (no result).
 *
 * An `info` write may have taken effect at any point after its call, or never. It has no result
 * to check, so all that matters about it is its effect: an InfoKind. Two info operations with the
 * same effect are interchangeable once both are called, which is what lets the checker count
 * them instead of tracking subsets of them (see linearizability.ts).
 */
import { assert } from "../raft/assert.js";
import type { ItemOperation } from "./item-ops.js";

/** The stock of an item, or null while it does not exist. */
export type ItemState = number | null;

/** What an operation requires of the state at its linearization point. */
export type Requirement =
  | { readonly kind: "absent" }
  | { readonly kind: "present" }
  | { readonly kind: "exact"; readonly stock: number }
  | { readonly kind: "atLeast"; readonly stock: number }
  | { readonly kind: "below"; readonly stock: number }
  /** The operation's own record is contradictory: no state allows it. */
  | { readonly kind: "never" };

export type Effect =
  | { readonly kind: "none" }
  | { readonly kind: "delta"; readonly amount: number }
  | { readonly kind: "create"; readonly stock: number };

/** A definite operation (ok, or a fail that observed the state): checked where linearized. */
export interface DefiniteStep {
  readonly requirement: Requirement;
  readonly effect: Effect;
}

/** The effect of an info write. Invariant: a delta is never 0 (a no-op cannot matter). */
export interface InfoKind {
  readonly kind: "create" | "delta";
  /** create: the initial stock; delta: the change (add and cancel +qty, buy -qty). */
  readonly value: number;
}

const absent: Requirement = { kind: "absent" };
const present: Requirement = { kind: "present" };
const never: Requirement = { kind: "never" };
const noEffect: Effect = { kind: "none" };

/** Exactly `stock`, which no state matches unless it is a possible stock (an integer >= 0). */
function exactly(stock: number): Requirement {
  return isStock(stock) ? { kind: "exact", stock } : never;
}

/**
 * The step of an ok operation or an observing fail; null for an operation the checker drops
 * (an info operation, or a fail that observed nothing).
 */
export function definiteStepOf(operation: ItemOperation): DefiniteStep | null {
  const type = operation.source.type;
  if (type === "ok") return okStepOf(operation);
  if (type === "fail") return failStepOf(operation);
  return null;
}

/** The operation's step as if it had completed ok. */
export function okStepOf(operation: ItemOperation): DefiniteStep {
  const qty = operation.qty;
  switch (operation.f) {
    case "create":
      return { requirement: absent, effect: { kind: "create", stock: qty } };
    case "add": {
      const observed = operation.observedStock;
      const effect: Effect = { kind: "delta", amount: qty };
      if (typeof observed !== "number") return { requirement: present, effect };
      return { requirement: exactly(observed - qty), effect };
    }
    case "cancel":
      return { requirement: present, effect: { kind: "delta", amount: qty } };
    case "buy":
      return { requirement: { kind: "atLeast", stock: qty },
        effect: { kind: "delta", amount: -qty } };
    case "read": {
      const observed = operation.observedStock;
      return { requirement: observed === null || observed === undefined ? absent
        : exactly(observed), effect: noEffect };
    }
  }
}

function failStepOf(operation: ItemOperation): DefiniteStep | null {
  const error = operation.source.value.error;
  if (operation.f === "buy" && error === "insufficient_stock") {
    const available = operation.source.value.available;
    if (!isStock(available)) {
      return { requirement: { kind: "below", stock: operation.qty }, effect: noEffect };
    }
    return { requirement: available < operation.qty ? exactly(available) : never,
      effect: noEffect };
  }
  if ((operation.f === "buy" || operation.f === "add") && error === "not_found") {
    return { requirement: absent, effect: noEffect };
  }
  if (operation.f === "create" && error === "conflict") {
    return { requirement: present, effect: noEffect };
  }
  return null;
}

/** The effect of an info write; null for an info read or a write that changes nothing. */
export function infoKindOf(operation: ItemOperation): InfoKind | null {
  if (operation.source.type !== "info") return null;
  switch (operation.f) {
    case "create":
      return { kind: "create", value: operation.qty };
    case "add":
    case "cancel":
      return operation.qty === 0 ? null : { kind: "delta", value: operation.qty };
    case "buy":
      return operation.qty === 0 ? null : { kind: "delta", value: -operation.qty };
    case "read":
      return null;
  }
}

export function meets(requirement: Requirement, state: ItemState): boolean {
  switch (requirement.kind) {
    case "absent":
      return state === null;
    case "present":
      return state !== null;
    case "exact":
      return state === requirement.stock;
    case "atLeast":
      return state !== null && state >= requirement.stock;
    case "below":
      return state !== null && state < requirement.stock;
    case "never":
      return false;
  }
}

export function applyEffect(effect: Effect, state: ItemState): ItemState {
  switch (effect.kind) {
    case "none":
      return state;
    case "delta":
      assert(state !== null && state + effect.amount >= 0, "a delta applied to a legal state");
      return state + effect.amount;
    case "create":
      assert(state === null, "a create applied to an absent item");
      return effect.stock;
  }
}

/** An info write's effect; the caller has checked it is legal in `state`. */
export function applyInfo(kind: InfoKind, state: ItemState): ItemState {
  return applyEffect(kind.kind === "create" ? { kind: "create", stock: kind.value }
    : { kind: "delta", amount: kind.value }, state);
}

function isStock(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
