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
  /**
   * The tables now. Open views may share this object (liveViews): the next write then copies
   * it before changing it, so a view costs a copy only when a write comes while it is open.
   */
  private live: Tables;
  /** Views opened on `live` itself and not closed yet. */
  private liveViews = 0;
  private readonly durable: Tables;
  /** The changes of each write() since the last flushed(), oldest first. */
  private unflushed: (readonly Change[])[] = [];
  private closed = false;
  /** crash() handed the durable tables to the store it returned. */
  private crashed = false;
  /**
   * Values a fault damaged on the disk (damage()): reading one fails as LmdbStateStore's
   * checksum fails; writing the key again replaces the damaged value. Keyed by damageKey.
   */
  private readonly damaged = new Set<string>();

  /** `adopt`: `initial` is handed over (crash), not copied. */
  constructor(initial?: Tables, adopt = false) {
    this.live = initial === undefined ? emptyTables() : adopt ? initial : copyTables(initial);
    this.durable = copyTables(this.live);
  }

  get(table: StateTable, key: StateKey): unknown {
    this.checkOpen();
    this.checkSound(table, key);
    return this.live.get(table)!.get(key);
  }

  /**
   * The flushed value at (table, key): what the last flushed() made durable, which a crash
   * always leaves (the simulator's check of what a node's messages promise).
   */
  durableGet(table: StateTable, key: StateKey): unknown {
    return this.durable.get(table)!.get(key);
  }

  write(body: (writer: StateWriter) => void): void {
    this.checkOpen();
    const changes: Change[] = [];
    const overlay = new Map<StateTable, Map<StateKey, { value: unknown } | null>>();
    let cleared = false;
    const read = (table: StateTable, key: StateKey): unknown => {
      const change = overlay.get(table)?.get(key);
      if (change !== undefined) return change?.value;
      if (cleared) return undefined;
      this.checkSound(table, key);
      return this.live.get(table)!.get(key);
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
    if (this.liveViews > 0) {
      // Open views keep the tables as they are: this write goes to a copy.
      this.live = copyTables(this.live);
      this.liveViews = 0;
    }
    applyChanges(this.live, changes);
    // Rewritten values are sound again; nothing to look up (and no key to build) when no value
    // is damaged, as nearly always.
    if (this.damaged.size > 0) {
      for (const change of changes) {
        if (change.kind === "clearAll") this.damaged.clear();
        else this.damaged.delete(damageKey(change.table, change.key));
      }
    }
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
    // Shared with the store until its next write, which copies the tables first (write).
    const frozen = this.live;
    this.liveViews++;
    const damaged = new Set(this.damaged);
    let open = true;
    const check = (): void => {
      if (!open) throw new StateStoreError("state view is closed");
    };
    const checkSound = (table: StateTable, key: StateKey): void => {
      if (damaged.has(damageKey(table, key))) {
        throw new StateStoreError("damaged state store memory: checksum mismatch in table " +
          `${table} at key ${String(key)}`);
      }
    };
    return {
      get: (table, key) => {
        check();
        checkSound(table, key);
        return frozen.get(table)!.get(key);
      },
      range: function* (table, bounds = {}) {
        check();
        const entries = [...frozen.get(table)!].sort(([a], [b]) => compareKeys(a, b));
        for (const [key, value] of entries) {
          if (bounds.start !== undefined && compareKeys(key, bounds.start) < 0) continue;
          if (bounds.end !== undefined && compareKeys(key, bounds.end) >= 0) break;
          checkSound(table, key);
          yield { key, value };
        }
      },
      close: () => {
        if (open && frozen === this.live) this.liveViews--;
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
   * it (clamped to how many there are), as a new open store. This store is closed, and hands
   * its tables to the new one: it cannot crash again.
   */
  crash(keep = 0): MemoryStateStore {
    // This store is closed from here on: the next one takes its durable tables over, uncopied.
    if (this.crashed) throw new StateStoreError("state store crashed already: its disk is gone");
    this.crashed = true;
    this.closed = true;
    const tables = this.durable;
    for (const changes of this.unflushed.slice(0, Math.max(0, keep))) applyChanges(tables, changes);
    const next = new MemoryStateStore(tables, true);
    // Damage is on the disk; a value rewritten since is sound (the rewrite was whole).
    for (const key of this.damaged) next.damaged.add(key);
    return next;
  }

  /**
   * A fault: the stored value at (table, key) no longer reads back (a flipped bit in the
   * database file of a stopped node). Returns false when there is no such value.
   */
  damage(table: StateTable, key: StateKey): boolean {
    this.checkOpen();
    if (!this.live.get(table)!.has(key)) return false;
    this.damaged.add(damageKey(table, key));
    return true;
  }

  /** The keys of `table` now held (for a fault to choose from). */
  keys(table: StateTable): StateKey[] {
    this.checkOpen();
    return [...this.live.get(table)!.keys()];
  }

  private checkSound(table: StateTable, key: StateKey): void {
    if (this.damaged.size > 0 && this.damaged.has(damageKey(table, key))) {
      throw new StateStoreError(`damaged state store memory: checksum mismatch in table ${table} ` +
        `at key ${String(key)}`);
    }
  }

  /** Writes after the last flushed(): what a crash may lose. */
  unflushedWrites(): number {
    return this.unflushed.length;
  }

  private checkOpen(): void {
    if (this.closed) throw new StateStoreError("state store is closed");
  }
}

function damageKey(table: StateTable, key: StateKey): string {
  return `${table}\0${typeof key}\0${String(key)}`;
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
