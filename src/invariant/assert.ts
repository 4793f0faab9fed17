/**
 * Invariant checks, one kind of error for every layer. A failed assertion is a bug, never an
 * expected outcome: it throws InvariantError, which nothing catches except the process's crash
 * handler (STYLE.md §4; VS Code's BugIndicatingError, etcd's panic). This module imports
 * nothing, so that the pure layers (src/raft/, src/market/) may share it and stay pure.
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
