/**
 * The state machine's invariant checks. A failed assertion is a bug (a broken invariant or a
 * driver that applies out of order), never a business outcome: those are MarketResult values
 * (STYLE.md §4). The same InvariantError as every other layer's (src/invariant/, a module with
 * no imports, the only one outside src/market/ that the market may import).
 */
export { assert, assertNever, InvariantError } from "../invariant/assert.js";
