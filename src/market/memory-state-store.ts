import {
  checkKey,
  compareKeys,
  StateStoreError,
  stateTables,
  type StateKey,
  type StateStore,
  type StateTable,
  type StateView,
  type StateWriter,
} from "./state-store.js";

/**
 * The in-memory StateStore (state-store.ts), for core tests and the simulator. A write commits
 * at once; the writes since the last flushed() are kept in order, so that crash(keep) can leave
 * behind what a killed process or a power loss would: the flushed state plus the first `keep`
 * of the later writes, each whole.
 */
type Tables = Map<StateTable, Map<StateKey, unknown>>;

type Change =
  | { readonly kind: "put"; readonly table: StateTable; readonly key: StateKey;
      readonly value: unknown }
  | { readonly kind: "remove"; readonly table: StateTable; readonly key: StateKey }
  | { readonly kind: "clearAll" };

export class MemoryStateStore implements StateStore {
  private readonly live: Tables;
  private readonly durable: Tables;
  /** The changes of each write() since the last flushed(), oldest first. */
  private unflushed: (readonly Change[])[] = [];
  private closed = false;

  constructor(initial?: Tables) {
    this.live = copyTables(initial ?? emptyTables());
    this.durable = copyTables(this.live);
  }

  get(table: StateTable, key: StateKey): unknown {
    this.checkOpen();
    return this.live.get(table)!.get(key);
  }

  write(body: (writer: StateWriter) => void): void {
    this.checkOpen();
    const changes: Change[] = [];
    const overlay = new Map<StateTable, Map<StateKey, { value: unknown } | null>>();
    let cleared = false;
    const read = (table: StateTable, key: StateKey): unknown => {
      const change = overlay.get(table)?.get(key);
      if (change !== undefined) return change?.value;
      return cleared ? undefined : this.live.get(table)!.get(key);
    };
    const note = (table: StateTable, key: StateKey, value: { value: unknown } | null): void => {
      let changed = overlay.get(table);
      if (changed === undefined) overlay.set(table, changed = new Map());
      changed.set(key, value);
    };
    body({
      get: read,
      put: (table, key, value) => {
        checkKey(key);
        changes.push({ kind: "put", table, key, value });
        note(table, key, { value });
      },
      remove: (table, key) => {
        checkKey(key);
        changes.push({ kind: "remove", table, key });
        note(table, key, null);
      },
      clearAll: () => {
        changes.length = 0;
        changes.push({ kind: "clearAll" });
        overlay.clear();
        cleared = true;
      },
    });
    // Only a body that returned commits: one that threw leaves no trace.
    applyChanges(this.live, changes);
    this.unflushed.push(changes);
  }

  committed(): Promise<void> {
    return this.closed ? Promise.reject(new StateStoreError("state store is closed"))
      : Promise.resolve();
  }

  flushed(): Promise<void> {
    if (this.closed) return Promise.reject(new StateStoreError("state store is closed"));
    for (const changes of this.unflushed) applyChanges(this.durable, changes);
    this.unflushed = [];
    return Promise.resolve();
  }

  pendingWrites(): number {
    return 0;
  }

  failed(): Error | null {
    return null;
  }

  view(): StateView {
    this.checkOpen();
    const frozen = copyTables(this.live);
    let open = true;
    const check = (): void => {
      if (!open) throw new StateStoreError("state view is closed");
    };
    return {
      get: (table, key) => {
        check();
        return frozen.get(table)!.get(key);
      },
      range: function* (table, bounds = {}) {
        check();
        const entries = [...frozen.get(table)!].sort(([a], [b]) => compareKeys(a, b));
        for (const [key, value] of entries) {
          if (bounds.start !== undefined && compareKeys(key, bounds.start) < 0) continue;
          if (bounds.end !== undefined && compareKeys(key, bounds.end) >= 0) break;
          yield { key, value };
        }
      },
      close: () => {
        open = false;
      },
    };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /**
   * What a crash now would leave on disk: the flushed state and the first `keep` writes after
   * it (clamped to how many there are), as a new open store. This store is closed.
   */
  crash(keep = 0): MemoryStateStore {
    const tables = copyTables(this.durable);
    for (const changes of this.unflushed.slice(0, Math.max(0, keep))) applyChanges(tables, changes);
    this.closed = true;
    return new MemoryStateStore(tables);
  }

  /** Writes after the last flushed(): what a crash may lose. */
  unflushedWrites(): number {
    return this.unflushed.length;
  }

  private checkOpen(): void {
    if (this.closed) throw new StateStoreError("state store is closed");
  }
}

function emptyTables(): Tables {
  return new Map(stateTables.map((table) => [table, new Map()]));
}

function copyTables(tables: Tables): Tables {
  return new Map([...tables].map(([table, entries]) => [table, new Map(entries)]));
}

function applyChanges(tables: Tables, changes: readonly Change[]): void {
  for (const change of changes) {
    if (change.kind === "clearAll") {
      for (const entries of tables.values()) entries.clear();
    } else if (change.kind === "put") {
      tables.get(change.table)!.set(change.key, change.value);
    } else {
      tables.get(change.table)!.delete(change.key);
    }
  }
}
