/**
 * What a node's messages promise about its own disks, checked the moment each is sent (the
 * server simulator's wire tap, SimNetwork.onSend): a node must never tell a peer something a
 * crash could take back. Raft's safety rests on these promises (thesis §3.8: a server updates
 * its stable storage before it responds to an RPC; §10.2.1 lets a leader send its appends before
 * its own write is durable, but not before its term and vote are):
 *
 *   - a granted vote: the vote, in that term, is synced (or a later term is), or after a crash
 *     the node could vote again in the same term, for another candidate: two leaders;
 *   - an append acknowledged up to index i, or a snapshot answered as installed up to i: the
 *     term answered in is synced, and so is the log up to i as the node holds it now, or the
 *     state store's flushed state is at i or later (a snapshot covers it). Otherwise the leader
 *     could count a copy that a crash erases and commit an entry a majority does not hold; and
 *     a node that forgets the term could take appends from a deposed leader that truncate an
 *     entry it acknowledged;
 *   - a leader's appends, heartbeats and snapshots of term t: its term and its own vote in t
 *     are synced, or a lone voter that crashed could be elected in t again and append other
 *     entries at the same indexes (RaftNode.maySendBeforePersist), or vote for another.
 *
 * The end-of-run checks find the harm such a message does only when a crash lands in the gap
 * and the schedule then makes it visible (a plant of an early acknowledgement took 79 seeds);
 * this finds the broken promise itself, in whatever run sends one.
 */
import type { NodeId, RaftMessage } from "../raft/index.js";
import type { MemoryStorage } from "../storage/index.js";

/** A node's disks as a crash would leave them, and its log as it runs. */
export interface DurableView {
  readonly log: MemoryStorage;
  /** The applied index of the state store's flushed state. */
  readonly appliedIndex: () => number;
}

/**
 * Why `message`, sent now by a node whose disks are `disk`, promises what they do not hold;
 * null when it keeps its promises.
 */
export function brokenDiskPromise(message: RaftMessage, disk: DurableView): string | null {
  const durable = disk.log.durableHardState();
  switch (message.type) {
    case "requestVoteResponse":
      if (!message.granted || durable.term > message.term ||
        (durable.term === message.term && durable.vote === message.to)) return null;
      return `granted its vote to ${message.to} in term ${message.term} while its disk holds ` +
        `term ${durable.term}, vote ${durable.vote ?? "none"}`;
    case "append":
    case "heartbeat":
    case "snapshot":
      if (durable.term > message.term ||
        (durable.term === message.term && durable.vote === message.from)) return null;
      return `sent ${message.type} as leader of term ${message.term} while its disk holds ` +
        `term ${durable.term}, vote ${durable.vote ?? "none"}`;
    case "appendResponse":
      return message.success ? unheld(disk, message.term, message.index,
        "acknowledged its log up to") : null;
    case "snapshotResponse":
      return message.installed ? unheld(disk, message.term, message.snapshotIndex,
        "answered a snapshot installed up to") : null;
    default:
      return null;
  }
}

/**
 * Why the disks do not hold term `term` and everything up to `index` as the node holds it now:
 * the log entry at `index` synced with the term it has in memory, or the state store flushed at
 * `index` or later. Null if they do.
 */
function unheld(disk: DurableView, term: number, index: number, claim: string): string | null {
  const durableTerm = disk.log.durableHardState().term;
  if (durableTerm < term) {
    return `${claim} ${index} in term ${term} while its disk holds term ${durableTerm}`;
  }
  const entryTerm = disk.log.durableEntryTerm(index);
  const liveTerm = disk.log.liveEntryTerm(index);
  if (entryTerm !== undefined && entryTerm === liveTerm) return null;
  const appliedIndex = disk.appliedIndex();
  if (index <= appliedIndex) return null;
  const held = entryTerm === undefined
    ? `its log synced up to ${disk.log.durableLastIndex()}`
    : `term ${entryTerm} at ${index} in its synced log, not ${liveTerm ?? "none"}`;
  return `${claim} ${index} while its disk holds ${held} and its state flushed at ${appliedIndex}`;
}

/** The network's wire tap for a cluster: `diskOf` gives a running node's disks (null: none). */
export function diskPromiseTap(diskOf: (id: NodeId) => DurableView | null,
  fail: (message: string) => void): (from: NodeId, message: RaftMessage) => void {
  return (from, message) => {
    const disk = diskOf(from);
    if (disk === null) return;
    const broken = brokenDiskPromise(message, disk);
    if (broken !== null) fail(`durability: ${from} ${broken} (to ${message.to})`);
  };
}
