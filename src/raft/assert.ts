/**
 * The core's invariant checks: the one InvariantError every layer throws (src/invariant/, a
 * module with no imports, the only one outside src/raft/ that the core may import).
 */
export { assert, assertNever, InvariantError } from "../invariant/assert.js";
