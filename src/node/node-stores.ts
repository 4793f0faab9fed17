import path from "node:path";
import type { Logger } from "pino";
import { FileSnapshotStore, FileStorage, describeRecovery } from "../storage/index.js";
import { inlineFsyncMsLimit } from "../storage/file-storage-options.js";
import type { DurableLog, SnapshotStore } from "../storage/index.js";
import { LmdbStateStore } from "../storage/lmdb-state-store.js";
import type { StateStore } from "../storage/state-store.js";

/**
 * What a node keeps on disk: the write-ahead log (the source of truth), the state machine's
 * database, and the snapshot store, which only an earlier version wrote (read once, to migrate).
 * The driver (raft-server.ts) owns all three: it syncs the log, waits on the database's commits
 * and flushes, and closes both when it stops; the state machine writes to the database.
 */
export interface NodeStores {
  readonly log: DurableLog;
  readonly state: StateStore;
  readonly snapshots: SnapshotStore;
}

/** The stores of `dataDir`, as RaftServer opens them by default. */
export function openFileStores(dataDir: string, logger: Logger): NodeStores {
  const log = FileStorage.open(path.join(dataDir, "wal"), {}, {
    nowMs: () => performance.now(),
    onSlowInlineFsync: (durationMs, options) => {
      // Only with inlineFsyncMsMax set (off by default). A fresh log's first fdatasyncs often
      // take a few ms (each node then logs one at its first start): info. A stall longer than
      // a heartbeat may wait is a warning.
      const level = durationMs > inlineFsyncMsLimit ? "warn" : "info";
      logger[level]({ durationMs, inlineFsyncMsMax: options.inlineFsyncMsMax,
        poolFsyncHoldMs: options.poolFsyncHoldMs }, `a write-ahead log fdatasync took ` +
        `${durationMs.toFixed(1)} ms on the event loop: the next ones run on the thread pool ` +
        `for at least ${options.poolFsyncHoldMs / 1000} s`);
    },
  });
  const recovery = log.recovery;
  if (recovery !== undefined) logger.info(describeRecovery(recovery));
  return { log, state: LmdbStateStore.open(path.join(dataDir, "state")),
    snapshots: new FileSnapshotStore(path.join(dataDir, "snapshots")) };
}
