/**
 * The StateStore seam: where the replicated state machine keeps its records (items, orders,
 * sessions) and the index it has applied, so that the heap holds no per-order object and a
 * restarted node replays only the log after that index (issue 10; etcd keeps its state in
 * bbolt the same way).
 *
 * The market defines the seam (it is the port its records go through); storage implements it.
 * Two implementations share one contract suite (test/storage/state-store-contract.ts):
 *   - LmdbStateStore (lmdb-state-store.ts): an embedded, transactional, memory-mapped B-tree.
 *   - MemoryStateStore (memory-state-store.ts): the twin for core tests and the simulator.
 *
 * The contract:
 *   - write(body) runs `body` as one atomic transaction. Its changes are visible to get() at
 *     once, when write() returns; they reach the database, and a view(), when committed()
 *     resolves; they are durable when flushed() resolves. A crash at any moment (a killed
 *     process, a power loss) leaves exactly the state after some write() (never a part of one),
 *     at least the last one flushed. So the store may fall behind the write-ahead log, never
 *     ahead of it, and never torn: replaying the log from the applied index the store records
 *     (inside the same transactions) brings it level.
 *   - Writes are ordered: committed() and flushed() cover every write() called before them.
 *   - Keys are a table's own: a table's keys are all numbers (non-negative safe integers,
 *     ascending numerically) or all strings (ascending by UTF-8 bytes). Values are plain data
 *     (objects, arrays, strings, finite numbers, booleans, null) and must not be changed after
 *     they are written or read: a store may hand out the object it was given.
 *   - A failed commit (a full disk, an I/O error) makes the store failed: committed() and
 *     flushed() reject with the error, and every later write() throws it. The node stops; the
 *     store on disk still holds the last state committed before the failure.
 */

/** The tables of the market's state. */
export const stateTables = ["meta", "items", "orders", "sessions", "sessionQueue"] as const;
export type StateTable = (typeof stateTables)[number];

export type StateKey = string | number;

/** Reads of the current state: the database plus every write() not yet committed. */
export interface StateReader {
  /** The value at `key`, or undefined when there is none. */
  get(table: StateTable, key: StateKey): unknown;
}

/** The changes of one write(): applied together or not at all. */
export interface StateWriter extends StateReader {
  put(table: StateTable, key: StateKey, value: unknown): void;
  /** Removes the value at `key`; removing an absent key does nothing. */
  remove(table: StateTable, key: StateKey): void;
  /** Empties every table, and forgets this write's earlier changes (installing a snapshot). */
  clearAll(): void;
}

/**
 * A consistent, unchanging read of the committed state (MVCC: an LMDB read transaction), for
 * taking a snapshot while writes go on. It must be closed; until then it pins old pages.
 */
export interface StateView {
  get(table: StateTable, key: StateKey): unknown;
  /** Every entry of `table` with start <= key < end (both optional), in key order, lazily. */
  range(table: StateTable, bounds?: { readonly start?: StateKey; readonly end?: StateKey }):
    IterableIterator<{ readonly key: StateKey; readonly value: unknown }>;
  close(): void;
}

export interface StateStore extends StateReader {
  write(body: (writer: StateWriter) => void): void;
  /** Resolves once every write() called so far is in the database. */
  committed(): Promise<void>;
  /** Resolves once every write() called so far is durable. */
  flushed(): Promise<void>;
  /** Writes called but not yet committed: the driver slows down when they pile up. */
  pendingWrites(): number;
  /** The error that failed the store, once a commit failed; null while it works. */
  failed(): Error | null;
  /** A view of the state as of the last commit: call it after committed() for a given write. */
  view(): StateView;
  /** Waits for pending commits and releases the store. Reads and writes after it throw. */
  close(): Promise<void>;
}

/** The store cannot go on: a failed commit, a database it cannot open. */
export class StateStoreError extends Error {
  override readonly name = "StateStoreError";
}

/**
 * Refuses keys the contract does not allow, as a store would refuse or misorder them: LMDB
 * keys are at most 1,978 bytes, and 500 UTF-16 units are at most 1,500 UTF-8 bytes.
 */
export function checkKey(key: StateKey): void {
  if (typeof key === "number" ? !(Number.isSafeInteger(key) && key >= 0)
    : typeof key !== "string" || key.length === 0 || key.length > 500) {
    throw new StateStoreError(`bad state key ${JSON.stringify(key)}`);
  }
}

/** Numbers ascending, strings by UTF-8 bytes; a table holds only one kind. */
export function compareKeys(a: StateKey, b: StateKey): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
