import * as fs from "node:fs";
import path from "node:path";
import type { Snapshot, SnapshotMeta, SnapshotReceiver } from "../raft/index.js";
import type { DurableLog } from "../storage/index.js";
import { StateStoreError, type StateStore } from "../storage/state-store.js";
import { fsyncDirectory } from "../storage/wal-segment.js";
import type { DriverContext } from "./driver-context.js";
import { MemorySnapshotSpool, type SnapshotSpool } from "./snapshot-spool.js";
import {
  FileSnapshotData,
  FileSnapshotSpool,
  installingFile,
  receivingFile,
} from "./snapshot-spool-file.js";
import type { StateMachine } from "./state-machine.js";
import { yieldTurn, type Scheduler } from "./scheduler.js";

/**
 * A follower checks each snapshot chunk as it arrives, about 20 µs a record: 64 KiB chunks keep
 * that near 10 ms a message (the core's default, 256 KiB, would take 40-50 ms).
 */
export const snapshotChunkBytesDefault = 64 * 1024;

/** After a snapshot for a follower failed to encode, wait this long before trying again. */
const snapshotRetryMs = 5000;

export interface SnapshotsOptions {
  readonly log: DurableLog;
  readonly stateStore: StateStore;
  readonly stateMachine: StateMachine<unknown>;
  /** The folder for snapshot files (snapshot-spool-file.ts); null: snapshots stay in memory. */
  readonly spoolDir: string | null;
  readonly entriesBetweenSnapshots: number;
  readonly trailingEntries: number;
  /** The Raft meta of the state at `index` (whose entry has `term`): voters and members. */
  readonly metaAt: (index: number, term: number) => SnapshotMeta;
  /**
   * Called when a leader's snapshot is installed, before install() resolves: the driver
   * settles what the snapshot replaced (members, writes waiting below it) and logs it.
   */
  readonly onInstalled: (meta: SnapshotMeta,
    cost: { readonly bytes: number; readonly writes: number; readonly ms: number }) => void;
}

/**
 * Snapshots and compaction (Raft §7): the state machine's database is the snapshot, as etcd's
 * bbolt is, so this module owns
 *   - checkpoints: once enough entries were applied, wait until the database is durable up to
 *     the applied index, then compact the log and the core below it (minus a trailing window);
 *   - snapshots for followers behind the compacted log: encoded from a database view when the
 *     core asks (Ready.snapshotWanted), offered to the core, which streams it in chunks;
 *   - a leader's snapshot received here: spooled chunk by chunk (receiver), then installed into
 *     the database a bounded write at a time (install), from a file a restart finds should the
 *     install be cut short (market-adapter.ts redoes it).
 * Invariants: the log is compacted only up to a state the database holds durably (the log is
 * the source of truth); one checkpoint and one snapshot build at a time; the log is compacted
 * only between loop passes (applyCompaction), never while a pass holds a Ready.
 */
export class Snapshots {
  /** The applied index of the last durable checkpoint of the database (or of its start). */
  private lastCheckpointIndex: number;
  /** The background wait for a checkpoint to become durable, while it runs. */
  private checkpointing: Promise<void> | null = null;
  /** A checkpoint now durable, whose log compaction waits for the next loop pass. */
  private pendingCompaction: SnapshotMeta | null = null;
  /** A snapshot being encoded for a follower the core asked for, while it runs. */
  private building: Promise<void> | null = null;
  private lastFailureMs = Number.NEGATIVE_INFINITY;

  /**
   * `stateIndex`: the database's applied index at start. `checkpointJitter`: the first extra
   * of the checkpoint threshold (checkpointJitterDraw).
   */
  constructor(private readonly context: DriverContext, private readonly options: SnapshotsOptions,
    stateIndex: number, private checkpointJitter: number) {
    this.lastCheckpointIndex = stateIndex;
  }

  /**
   * Makes a checkpoint when enough entries were applied since the last one: waits, in the
   * background, until the database is durable up to the applied index, then (at the next loop
   * pass, applyCompaction) lets the core and the log drop the entries below it. The log is the
   * source of truth: it is compacted only up to a state the database is known to hold durably.
   * One checkpoint at a time; the threshold has a random extra of up to a quarter, so that
   * replicas, which apply the same entries, do not all flush at once.
   */
  maybeCheckpoint(): void {
    if (this.checkpointing !== null) return;
    const { entriesBetweenSnapshots } = this.options;
    const appliedIndex = this.options.stateMachine.appliedIndex;
    if (appliedIndex - this.lastCheckpointIndex < entriesBetweenSnapshots + this.checkpointJitter) {
      return;
    }
    const term = this.context.node.termAt(appliedIndex);
    if (term === null) return;
    const meta = this.options.metaAt(appliedIndex, term);
    this.lastCheckpointIndex = appliedIndex;
    this.checkpointJitter = checkpointJitterDraw(this.context.scheduler, entriesBetweenSnapshots);
    this.checkpointing = this.options.stateStore.flushed().then(() => {
      this.pendingCompaction = meta;
      this.context.schedule();
    }).catch((error: Error) => {
      if (!this.context.stopped()) this.context.fail(error);
      else this.context.logger.warn({ err: error }, "a checkpoint failed after stop");
    }).finally(() => {
      this.checkpointing = null;
    });
  }

  /** Compacts the log below a checkpoint that is now durable. Between loop passes only. */
  applyCompaction(): void {
    const meta = this.pendingCompaction;
    if (meta === null) return;
    this.pendingCompaction = null;
    const node = this.context.node;
    // A snapshot installed from the leader meanwhile has replaced the log: nothing to do.
    if (meta.index <= node.compactedIndex()) return;
    const compactIndex = node.compactIndexFor(meta.index, this.options.trailingEntries);
    node.compact({ meta }, compactIndex);
    // Buffered: durable with the next sync; until then the log still holds these entries.
    this.options.log.compactTo(compactIndex);
    this.context.logger.debug({ index: meta.index, compactIndex }, "checkpoint: log compacted");
  }

  /**
   * The core needs a snapshot for a follower behind the compacted log: encoded from a database
   * view (an MVCC read, so applying goes on), a slice at a time between turns of the loop, and
   * offered to the core, which streams it and drops it when no follower needs it any more.
   */
  build(): void {
    if (this.building !== null) return;
    const { logger, node, scheduler } = this.context;
    const started = scheduler.nowMs();
    if (started - this.lastFailureMs < snapshotRetryMs) return;
    this.building = (async () => {
      await this.options.stateStore.committed();
      const source = this.options.stateMachine.openSnapshot();
      let snapshot: Snapshot;
      try {
        // A file unlinked at once (it lives while the core holds the data), or memory.
        const spool = this.openSpool(() => `snapshot-sending-${scheduler.randomId()}`, false);
        // Between slices, the spool's writes (on the thread pool) catch up: bounded memory.
        await source.encode((chunk) => spool.write(chunk), async () => {
          await spool.drained();
          await yieldTurn(scheduler);
        });
        await spool.drained();
        snapshot = { meta: source.meta, data: spool.data() };
      } finally {
        source.close();
      }
      if (this.context.stopped()) return;
      const outcome = node.offerSnapshot(snapshot);
      logger.info({ index: snapshot.meta.index, bytes: snapshot.data.length, outcome,
        ms: Math.round(scheduler.nowMs() - started) }, "encoded a snapshot for a follower");
      this.context.schedule();
    })().catch((error: Error) => {
      if (this.context.stopped()) return;
      // This node's own database failed a check (a damaged value): it stops, as when applying.
      // Retrying would fail the same way for as long as it leads, and a follower behind the
      // log would never catch up (the simulator's seed 374); another leader can serve it.
      if (error instanceof StateStoreError) {
        this.context.fail(error);
        return;
      }
      // Otherwise not fatal: the follower waits, and the core asks again. Building on the next
      // leader would likely fail the same way, so stopping would take the cluster down node by
      // node.
      this.lastFailureMs = scheduler.nowMs();
      logger.error({ err: error, retryMs: snapshotRetryMs },
        "could not encode a snapshot for a follower");
    }).finally(() => {
      this.building = null;
    });
  }

  /**
   * The core's receiver for a leader's snapshot: each chunk is checked as it arrives and
   * spooled (snapshot-spool.ts), so a snapshot the state machine cannot read is refused there
   * as a protocol violation (a peer's bytes never stop this node), and one it can read is on
   * disk, whole and checked, when the last chunk comes.
   */
  receiver(meta: SnapshotMeta): SnapshotReceiver {
    return this.options.stateMachine.snapshotReceiver(meta,
      this.openSpool(() => receivingFile, true));
  }

  /**
   * Replaces the database's contents with the leader's snapshot (checked as it arrived), a
   * bounded write at a time with the loop free between them (StateMachine.beginInstall): the
   * first write marks the database as installing, the last stores the state machine's meta and
   * the Raft meta and removes the mark. The received file is first renamed to where a restart
   * finds it should the install be cut short (openMarketAdapter redoes it), then onInstalled.
   * The caller waits for the whole to be durable before the log is reset, then calls
   * installDurable().
   */
  async install(snapshot: Snapshot): Promise<void> {
    const { scheduler } = this.context;
    const { spoolDir, stateStore } = this.options;
    const startedMs = scheduler.nowMs();
    const data = snapshot.data;
    if (data instanceof FileSnapshotData && data.spoolFile.file !== null && spoolDir !== null) {
      // Renamed at once (a transfer starting meanwhile would empty the receiving file), and
      // durable under its new name before the install's first write (the marker) is, so that a
      // restart that finds the marker finds the file whole.
      data.spoolFile.moveTo(path.join(spoolDir, installingFile));
      await data.spoolFile.sync();
      fsyncDirectory(spoolDir);
    }
    const install = this.options.stateMachine.beginInstall(data, snapshot.meta);
    let writes = 1;
    while (!install.step()) {
      writes++;
      // Committed alone, not merged into a layer of many writes, so that each commit's apply
      // is bounded too; the wait also bounds what waits in memory.
      await stateStore.committed();
    }
    this.options.onInstalled(snapshot.meta, { bytes: data.length, writes,
      ms: Math.round(scheduler.nowMs() - startedMs) });
    this.lastCheckpointIndex = snapshot.meta.index;
  }

  /** The installed snapshot is durable in the database: its file is no longer needed. */
  installDurable(): void {
    const spoolDir = this.options.spoolDir;
    if (spoolDir !== null) fs.rmSync(path.join(spoolDir, installingFile), { force: true });
  }

  /** Resolves once the checkpoint and the snapshot build under way, if any, have ended. */
  async settled(): Promise<void> {
    await this.checkpointing;
    await this.building;
  }

  /**
   * A spool in memory, or in the file `name()` in the spool folder (`keep`: FileSnapshotSpool).
   * The name is asked for only for a file: a random one draws from the scheduler, and a run of
   * the simulator (no spool folder) must not draw for it.
   */
  private openSpool(name: () => string, keep: boolean): SnapshotSpool {
    const spoolDir = this.options.spoolDir;
    return spoolDir === null ? new MemorySnapshotSpool()
      : new FileSnapshotSpool(path.join(spoolDir, name()), keep);
  }
}

/** The random extra of a checkpoint threshold: up to a quarter of it. */
export function checkpointJitterDraw(scheduler: Scheduler, entriesBetweenSnapshots: number):
  number {
  return scheduler.randomInt(Math.floor(entriesBetweenSnapshots / 4) + 1);
}
