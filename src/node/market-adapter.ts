import * as fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import {
  commandFromRequest,
  encodeCommand,
  encodeMarketSnapshotStream,
  MarketSnapshotInstall,
  MarketStateMachine,
  requestKey,
  requestKeyOfData,
  restampCommand,
  type MarketRequest,
  type MarketResult,
} from "../market/index.js";
import { snapshotText, type SnapshotData, type SnapshotMeta } from "../raft/index.js";
import type { StateStore } from "../storage/state-store.js";
import type { NodeStores } from "./node-stores.js";
import { chunkReader, MarketSnapshotReceiver, type SnapshotSpool } from "./snapshot-spool.js";
import {
  FileSnapshotData,
  installingFile,
  receivingFile,
  SpoolFile,
} from "./snapshot-spool-file.js";
import {
  StateBehindLogError,
  type CommittedEntry,
  type SnapshotInstall,
  type SnapshotSource,
  type StateMachine,
} from "./state-machine.js";

/**
 * Records per database write when installing a snapshot, each write committed alone: bounds
 * each step on the loop, and the commit's apply (which runs on the main thread), to a few ms.
 */
const installRecordsPerWrite = 250;

/** Records encoded between turns of the loop when building a snapshot (about 10 ms here). */
const encodeRecordsPerSlice = 500;

/**
 * The market as the driver's state machine (state-machine.ts): MarketStateMachine in the node's
 * state database, with the Raft meta stored beside the market's own in every write, its
 * streamed snapshots (market-snapshot-stream.ts) for followers, and its bounded installs.
 * It owns the market of this node, which a snapshot install replaces with a new one: callers
 * ask for `market` each time rather than keep it. Also here, for the driver's NodeService
 * side: a client request encoded as a log entry, and a forwarded one restamped at the leader.
 *
 * Invariant: the market's applied index and the Raft meta in the database are those of one
 * write (applyBatch and installs store both), so storedMeta() is the core's starting point.
 */
export class MarketAdapter implements StateMachine<MarketResult> {
  constructor(private current: MarketStateMachine, private readonly store: StateStore) {}

  /** The market of this node, for queries: read-only, never apply through it. */
  get market(): MarketStateMachine {
    return this.current;
  }

  get appliedIndex(): number {
    return this.current.appliedIndex;
  }

  /** The Raft meta the database holds at its applied index: the core's starting point. */
  storedMeta(): SnapshotMeta | null {
    const market = this.current;
    const meta = market.raftMeta() as SnapshotMeta | undefined;
    if (meta === undefined) return null;
    if (meta.index !== market.appliedIndex) {
      throw new StateBehindLogError(`the state database's Raft meta is at index ${meta.index}, ` +
        `its state at ${market.appliedIndex}: it is damaged; restore the data folder from a ` +
        "backup, or replace the node");
    }
    return meta;
  }

  applyBatch(entries: readonly CommittedEntry[], meta: SnapshotMeta): (MarketResult | null)[] {
    return this.current.applyBatch(entries, meta);
  }

  stateHash(): string {
    return this.current.stateHash();
  }

  requestKeyOf(data: string): string | null {
    return requestKeyOfData(data);
  }

  openSnapshot(): SnapshotSource {
    const view = this.store.view();
    try {
      const { source, raftMeta } = MarketStateMachine.snapshotSource(view);
      const meta = raftMeta as SnapshotMeta | undefined;
      if (meta === undefined || meta.index !== source.appliedIndex) {
        throw new Error(`the state database holds no Raft meta at its applied index ` +
          `${source.appliedIndex}`);
      }
      return {
        meta,
        encode: (write, pause) => encodeMarketSnapshotStream(source, write, pause,
          { recordsPerSlice: encodeRecordsPerSlice }),
        close: () => view.close(),
      };
    } catch (error) {
      view.close();
      throw error;
    }
  }

  snapshotReceiver(meta: SnapshotMeta, spool: SnapshotSpool): MarketSnapshotReceiver {
    return new MarketSnapshotReceiver(meta, spool);
  }

  beginInstall(data: SnapshotData, meta: SnapshotMeta): SnapshotInstall {
    const install = new MarketSnapshotInstall(this.store, chunkReader(data), meta,
      { index: meta.index }, installRecordsPerWrite);
    return {
      step: () => {
        if (!install.step()) return false;
        this.current = install.market();
        return true;
      },
    };
  }
}

/**
 * Opens the market in the state database. A data folder of an earlier version has no
 * database but a snapshot file: its state is loaded into the database once (migration), and
 * the log replays what follows, as before.
 */
export function openMarketAdapter(stores: NodeStores, logger: Logger, spoolDir: string | null):
  MarketAdapter {
  return new MarketAdapter(openMarket(stores, logger, spoolDir), stores.state);
}

/**
 * A client's request as the data of a log entry, and its key (StateMachine.requestKeyOf):
 * computed only when asked for, as only a forwarded write needs it.
 */
export function encodeMarketRequest(request: MarketRequest, wallClockMs: number):
  { readonly data: string; key(): string } {
  const command = commandFromRequest(request, wallClockMs);
  return { data: encodeCommand(command), key: () => requestKey(command) };
}

/** A write a follower forwarded, stamped with the leader's clock, as its own writes are. */
export function restampMarketProposal(data: string, wallClockMs: number): string {
  return restampCommand(data, wallClockMs);
}

function openMarket(stores: NodeStores, logger: Logger, spoolDir: string | null):
  MarketStateMachine {
  const market = openInstalled(stores.state, logger, spoolDir);
  if (market.appliedIndex > 0 || market.raftMeta() !== undefined) return market;
  const choice = stores.snapshots.latestConsistentWith(stores.log.firstIndex());
  const snapshot = choice.snapshot;
  if (snapshot === null) return market;
  if (choice.skippedCorrupt !== null) {
    logger.warn({ err: choice.skippedCorrupt, fallbackIndex: snapshot.meta.index },
      "the newest snapshot is corrupt; migrating the one before it, which the log continues");
  }
  // Checked before anything is written: a refused snapshot leaves the database empty.
  const migrated = MarketStateMachine.restore(snapshotText(snapshot.data), stores.state,
    snapshot.meta, { index: snapshot.meta.index, acceptV1: true });
  logger.warn({ index: snapshot.meta.index, orders: migrated.stats().orderCount },
    "migrated the snapshot of an earlier version into the state database");
  return migrated;
}

/**
 * The market in the database; when the database holds a snapshot install cut short (a crash
 * mid-install: no state at any index), the install is redone from the snapshot file it was
 * reading, which is whole and was checked as it arrived; without that file the node refuses
 * to start rather than claim a state it does not hold.
 */
function openInstalled(store: StateStore, logger: Logger, spoolDir: string | null):
  MarketStateMachine {
  const marker = MarketStateMachine.interruptedInstall(store);
  const file = spoolDir === null ? null : path.join(spoolDir, installingFile);
  if (spoolDir !== null) fs.rmSync(path.join(spoolDir, receivingFile), { force: true });
  if (marker === null) {
    if (file !== null) fs.rmSync(file, { force: true });
    return new MarketStateMachine({}, store);
  }
  if (file === null || !fs.existsSync(file) || marker.raftMeta === undefined) {
    throw new StateBehindLogError(`the state database holds a snapshot install cut short (of ` +
      `index ${marker.index ?? "?"}) and its snapshot file is gone: replace the node's state ` +
      "folder (an empty one catches up from the leader)");
  }
  const spoolFile = new SpoolFile(fs.openSync(file, "r"), file);
  try {
    const data = new FileSnapshotData(spoolFile, fs.fstatSync(spoolFile.fd).size);
    const install = new MarketSnapshotInstall(store, chunkReader(data), marker.raftMeta,
      { index: marker.index ?? undefined }, installRecordsPerWrite);
    while (!install.step()) { /* at startup: nothing else to serve */ }
    logger.warn({ index: marker.index }, "redid a snapshot install cut short by a crash");
    return install.market();
  } finally {
    spoolFile.close();
  }
}
