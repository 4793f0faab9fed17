/**
 * Invariant checks for the state machine. A failed assertion is a bug (a broken invariant or a
 * driver that applies out of order), never a business outcome: those are MarketResult values
 * (STYLE.md §4). src/market/ imports nothing from src/raft/, so it keeps its own copy of the
 * core's assert; the two InvariantError classes are distinct, and crash handlers should match
 * on `error.name === "InvariantError"` rather than on `instanceof`.
 */
export class InvariantError extends Error {
  override readonly name = "InvariantError";
}

export function assert(condition: unknown, message = "invariant violated"): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Exhaustiveness check for a `switch` over a union: reaching it is a bug. */
export function assertNever(value: never, what = "value"): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
