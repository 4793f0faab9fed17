/**
 * Invariant checks, one kind of error for every layer. A failed assertion is a bug, never an
 * expected outcome: it throws InvariantError (STYLE.md §4; VS Code's BugIndicatingError, etcd's
 * panic), which no code handles as an outcome. In the driver's loop it stops the node; in a
 * request's path the API's error middleware answers 500 and logs it. This module imports
 * nothing (lint enforces it), so that the pure layers (src/raft/, src/market/) may share it.
 * On a hot path, build the message only on failure: `if (!ok) assert(false, `...`)`.
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
