/**
 * The simulator's wire check of what a message promises about its sender's disks
 * (src/sim/disk-promise-checker.ts), on a MemoryStorage whose writes are synced or not and a
 * state store flushed at a given applied index.
 */
import { expect } from "chai";
import type { Entry, RaftMessage } from "../../src/raft/index.js";
import { brokenDiskPromise, diskPromiseTap, type DurableView } from "../../src/sim/disk-promise-checker.js";
import { MemoryStorage } from "../../src/storage/index.js";
import { SeededRng } from "../../src/raft/index.js";

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, k) =>
    ({ index: from + k, term, kind: "normal", data: `e${from + k}` }));
}

/** A node's disks: its log, and a state store flushed at `flushed.appliedIndex`. */
function disks(log = new MemoryStorage()): DurableView & { flushed: { appliedIndex: number } } {
  const flushed = { appliedIndex: 0 };
  return { log, appliedIndex: () => flushed.appliedIndex, flushed };
}

/** A log that has synced term `term` (voted for n1). */
function logAtTerm(term: number): MemoryStorage {
  const log = new MemoryStorage();
  log.setHardState({ term, vote: "n1", commit: 0 });
  log.sync();
  return log;
}

const vote = (term: number, to: string, granted = true): RaftMessage =>
  ({ type: "requestVoteResponse", from: "n1", to, term, granted });
const ack = (index: number, success = true, term = 2): RaftMessage => ({ type: "appendResponse",
  from: "n1", to: "n2", term, success, index, hintIndex: 0, hintTerm: 0 });
const heartbeat = (term: number): RaftMessage =>
  ({ type: "heartbeat", from: "n1", to: "n2", term, commit: 0, readId: null });
const installed = (snapshotIndex: number, done = true): RaftMessage => ({ type: "snapshotResponse",
  from: "n1", to: "n2", term: 2, snapshotIndex, offset: 0, nextOffset: 0, installed: done });

describe("disk promise checker (simulator)", () => {
  it("refuses a vote granted before it is synced, and accepts it once synced", () => {
    const disk = disks();
    disk.log.setHardState({ term: 3, vote: "n2", commit: 0 });
    expect(brokenDiskPromise(vote(3, "n2"), disk)).to.match(/granted its vote to n2 in term 3 .*term 0/);
    expect(brokenDiskPromise(vote(3, "n2", false), disk), "a refusal promises nothing").to.equal(null);
    disk.log.sync();
    expect(brokenDiskPromise(vote(3, "n2"), disk)).to.equal(null);
    expect(brokenDiskPromise(vote(3, "n3"), disk), "another candidate, same term")
      .to.match(/vote n2/);
    expect(brokenDiskPromise(vote(2, "n3"), disk), "an older term: a later one is synced")
      .to.equal(null);
  });

  it("refuses an acknowledgement past the synced log, or of entries a pending append replaced", () => {
    const disk = disks(logAtTerm(2));
    disk.log.append(entries(1, 5, 1));
    expect(brokenDiskPromise(ack(3), disk)).to.match(/acknowledged its log up to 3 .*synced up to 0/);
    expect(brokenDiskPromise(ack(3, false), disk), "a rejection promises nothing").to.equal(null);
    disk.log.sync();
    expect(brokenDiskPromise(ack(5), disk)).to.equal(null);
    // A new leader's entries replace 4..5 in memory; the disk still holds the old ones.
    disk.log.append(entries(4, 5, 2));
    expect(brokenDiskPromise(ack(3), disk), "the prefix is the same on disk").to.equal(null);
    expect(brokenDiskPromise(ack(5), disk)).to.match(/up to 5 while its disk holds term 1 at 5 .*not 2/);
    disk.log.sync();
    expect(brokenDiskPromise(ack(5), disk)).to.equal(null);
  });

  it("refuses an acknowledgement in a term not synced, even of synced entries", () => {
    const disk = disks(logAtTerm(1));
    disk.log.append(entries(1, 3, 1));
    disk.log.sync();
    disk.log.setHardState({ term: 2, vote: null, commit: 0 });
    expect(brokenDiskPromise(ack(3, true, 2), disk)).to.match(/up to 3 in term 2 while its disk holds term 1/);
    expect(brokenDiskPromise(ack(3, true, 1), disk)).to.equal(null);
  });

  it("takes a flushed state at or past the index as holding it, compacted log or not", () => {
    const disk = disks(logAtTerm(2));
    disk.log.append(entries(1, 10, 1));
    disk.log.sync();
    disk.log.compactTo(8);
    disk.log.sync();
    expect(brokenDiskPromise(ack(6), disk), "compacted: the state must cover it").to.match(/flushed at 0/);
    disk.flushed.appliedIndex = 8;
    expect(brokenDiskPromise(ack(6), disk)).to.equal(null);
    expect(brokenDiskPromise(ack(10), disk), "past the compaction: the log holds it").to.equal(null);
  });

  it("refuses a snapshot answered as installed before the state is flushed, whatever the old log holds", () => {
    const disk = disks(logAtTerm(2));
    disk.log.append(entries(1, 50, 1));
    disk.log.sync();
    // The install resets the log in memory; the old log on disk reaches past the snapshot.
    disk.log.resetTo(40, 2);
    expect(brokenDiskPromise(installed(40), disk)).to.match(/snapshot installed up to 40 .*term 1 at 40 .*not none.*flushed at 0/);
    expect(brokenDiskPromise(installed(40, false), disk)).to.equal(null);
    disk.flushed.appliedIndex = 40;
    expect(brokenDiskPromise(installed(40), disk), "the flushed state holds it").to.equal(null);
  });

  it("refuses a leader's heartbeat or append before its term and own vote are synced", () => {
    const disk = disks(logAtTerm(1));
    disk.log.setHardState({ term: 2, vote: "n1", commit: 0 });
    expect(brokenDiskPromise(heartbeat(1), disk)).to.equal(null);
    expect(brokenDiskPromise(heartbeat(2), disk)).to.match(/sent heartbeat as leader of term 2 .*term 1/);
    const append: RaftMessage = { type: "append", from: "n1", to: "n2", term: 2,
      prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 };
    expect(brokenDiskPromise(append, disk)).to.match(/sent append/);
    disk.log.sync();
    expect(brokenDiskPromise(heartbeat(2), disk)).to.equal(null);
    // The term synced with another vote: a restart could vote for n3 in term 3.
    const other = disks(new MemoryStorage());
    other.log.setHardState({ term: 3, vote: "n3", commit: 0 });
    other.log.sync();
    expect(brokenDiskPromise(heartbeat(3), other)).to.match(/term 3, vote n3/);
  });

  it("holds for a log a crash left behind: what it holds is synced", () => {
    const log = logAtTerm(2);
    log.append(entries(1, 6, 2));
    const after = log.crash(new SeededRng(7));
    const held = after.lastIndex();
    const disk = disks(after);
    expect(brokenDiskPromise(ack(held), disk)).to.equal(null);
    expect(brokenDiskPromise(ack(held + 1), disk)).to.match(/synced up to/);
  });

  it("reports through the tap, naming the sender, and skips a node with no disks", () => {
    const disk = disks();
    disk.log.setHardState({ term: 3, vote: "n2", commit: 0 });
    const failures: string[] = [];
    const tap = diskPromiseTap((id) => (id === "n1" ? disk : null), (message) => failures.push(message));
    tap("n1", vote(3, "n2"));
    tap("n9", vote(3, "n2"));
    expect(failures).to.have.length(1);
    expect(failures[0]).to.match(/^durability: n1 granted its vote to n2 in term 3 .*\(to n2\)$/);
  });
});
