import { assert, InvariantError } from "./assert.js";
import {
  entrySizeBytes,
  type EntryKind,
  type AppendEntriesResponse,
  type HeartbeatResponse,
  type InstallSnapshotResponse,
  type NodeId,
  type RaftMessage,
} from "./messages.js";
import type { LeaderHost } from "./leader-host.js";
import { snapshotToSend } from "./snapshot-supply.js";

/**
 * The leader's half of the protocol: replication with flow control, commitment, heartbeats,
 * ReadIndex and leadership transfer. Free functions over Raft keep raft.ts to the roles and
 * elections (STYLE.md §8); they see it as a LeaderHost (leader-host.ts), so that this module
 * does not import raft.ts, which imports it.
 */

export function stepLeader(raft: LeaderHost, m: RaftMessage): void {
  switch (m.type) {
    case "appendResponse":
      handleAppendResponse(raft, m);
      return;
    case "heartbeatResponse":
      handleHeartbeatResponse(raft, m);
      return;
    case "propose":
      // Forwarded proposals that cannot be taken are dropped: the follower's client times out
      // and retries, at whichever node leads by then.
      acceptProposals(raft, m.data);
      return;
    case "readIndex":
      if (startRead(raft, m.context, m.from) !== "pending") {
        raft.send({ type: "readIndexResponse", from: raft.id, to: m.from, term: raft.term,
          context: m.context, index: null });
      }
      return;
    case "snapshotResponse":
      handleSnapshotResponse(raft, m);
      return;
    case "append":
    case "heartbeat":
    case "snapshot":
      stepDownToRival(raft, m);
      return;
    case "readIndexResponse":
      // An answer to a read forwarded before this node won its election: let it retry here.
      raft.droppedReads.push(m.context);
      return;
    default:
      // Vote answers that arrive after winning, timeoutNow: nothing to do.
      return;
  }
}

/**
 * Another node acts as leader of our own term: Election Safety (§5.2, Figure 3) is broken by
 * someone else, e.g. a node that forgot its vote with its disk. No reaction repairs a fork
 * within one term, since log matching compares terms only: we stop leading it, and follow
 * neither leader of it. Leading on would leave two writers of the term on the followers' logs,
 * and our matchIndex could count entries the rival has replaced (Figure 2's commit rule assumes
 * one writer per term). Following the rival would be worse: its entries of our term match ours
 * by term, so we would acknowledge and apply its data at indexes where we hold our own. So we
 * step down without a leader, drop every leader message of this term (Raft.forkedTerm), and
 * time out into an election of a later term, whose leader's log then wins everywhere.
 */
function stepDownToRival(raft: LeaderHost, m: RaftMessage): void {
  raft.reportViolation(m, "twoLeaders", `${m.from} sent ${m.type} in term ${m.term}, ` +
    `which ${raft.id} leads`);
  raft.becomeFollower(m.term, null, "leaderOfTerm");
  raft.forkedTerm = m.term;
}

/**
 * Sends one append to `to` if its progress allows. An empty append is sent only when
 * `allowEmpty` (a probe, or news of a commit: `commitNews`, which marks an empty append to a
 * follower in replicate state commitOnly, answered only if refused). Returns whether a message
 * went out.
 */
export function sendAppend(raft: LeaderHost, to: NodeId, allowEmpty: boolean, commitNews = false):
  boolean {
  const progress = raft.tracker.get(to);
  if (progress === undefined) return false;
  if (progress.state === "snapshot") return sendSnapshotChunk(raft, to);
  if (progress.isPaused()) return false;
  const { log, config } = raft;
  const prevLogIndex = progress.next - 1;
  // Acknowledgements past our last index are refused (handleAppendResponse), so next stays in.
  if (!(prevLogIndex <= log.lastIndex())) {
    throw new InvariantError(`next ${progress.next} for ${to} beyond the log`);
  }
  const prevLogTerm = log.term(prevLogIndex);
  if (prevLogTerm === null) {
    // §7: the entries this follower needs were compacted; it catches up by snapshot.
    const snapshot = snapshotToSend(raft);
    if (snapshot === null) {
      // Only the driver has the data (snapshot-supply.ts): Ready.snapshotWanted asks for it.
      // The follower waits in probe with nothing sent; the append attempt after the offer
      // (RaftNode.offerSnapshot, or the next heartbeat answer) starts the transfer.
      if (progress.state === "replicate") progress.becomeProbe();
      return false;
    }
    progress.becomeSnapshot(snapshot);
    raft.noteEvent({ kind: "snapshotSent", ...raft.position(), to,
      snapshotIndex: snapshot.meta.index, bytes: snapshot.data.length });
    return sendSnapshotChunk(raft, to);
  }
  const indexHigh = Math.min(log.lastIndex() + 1, progress.next + config.entriesPerAppendMax);
  const entries = progress.next < indexHigh
    ? log.slice(progress.next, indexHigh, config.bytesPerAppendMax)
    : [];
  if (entries.length === 0 && !allowEmpty) return false;
  if (commitNews && entries.length === 0 && progress.state === "replicate") {
    // In replicate state the entries up to prevLogIndex went out before this, and their answers
    // (or a refusal of this) keep the leader informed; in probe state the answer is the probe's.
    raft.send({ type: "append", from: raft.id, to, term: raft.term, prevLogIndex, prevLogTerm,
      entries, leaderCommit: log.committed, commitOnly: true });
    return true;
  }
  raft.send({ type: "append", from: raft.id, to, term: raft.term, prevLogIndex, prevLogTerm,
    entries, leaderCommit: log.committed });
  const bytes = entries.reduce((sum, entry) => sum + entrySizeBytes(entry), 0);
  progress.sentEntries(entries.length, prevLogIndex + entries.length, bytes);
  return true;
}

/**
 * Sends `to` everything it lacks, as far as flow control allows: one probe in probe state, a
 * pipeline of batches bounded by the in-flight window in replicate state.
 */
export function sendAppendsTo(raft: LeaderHost, to: NodeId): boolean {
  let sent = false;
  for (let batch = 0; batch <= raft.config.inflightAppendsMax; batch++) {
    if (!sendAppend(raft, to, false)) break;
    sent = true;
    if (raft.tracker.get(to)?.state !== "replicate") break;
  }
  return sent;
}

/**
 * Sends what accumulated since the last Ready as one batch per follower: new proposals, news of
 * a commit, and one heartbeat round for all the ReadIndex requests that arrived.
 */
export function flushLeader(raft: LeaderHost): void {
  if (raft.proposalsUnsent || raft.commitUnsent) {
    for (const id of raft.tracker.ids()) {
      if (id === raft.id) continue;
      const sent = sendAppendsTo(raft, id);
      // Followers learn of a commit from the next append; send an empty one if none is going.
      if (!sent && raft.commitUnsent) sendAppend(raft, id, true, true);
    }
  }
  if (raft.readRoundUnsent) {
    const readId = raft.readOnly.lastReadId();
    if (readId !== null) bcastHeartbeat(raft, readId);
  }
  raft.proposalsUnsent = false;
  raft.commitUnsent = false;
  raft.readRoundUnsent = false;
}

export function bcastHeartbeat(raft: LeaderHost, readId: number | null): void {
  for (const [to, progress] of raft.tracker.entries()) {
    if (to === raft.id) continue;
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(progress.match, raft.log.committed);
    raft.send({ type: "heartbeat", from: raft.id, to, term: raft.term, commit, readId });
  }
  if (readId !== null) raft.readRoundUnsent = false;
}

/**
 * §5.3, §5.4.2: the commit index advances to the highest index a majority holds, but only when
 * that entry is of the current term (Figure 8); earlier entries then commit indirectly.
 */
export type AcceptResult =
  | { readonly kind: "accepted"; readonly index: number; readonly term: number }
  | { readonly kind: "transferring"; readonly leaderIdHint: NodeId | null }
  | { readonly kind: "overloaded" };

/**
 * Appends proposals as entries of the leader's term, as many as fit under the uncommitted
 * bound, in order; `index` is the last one's. Refuses all of them while a leadership transfer
 * is under way (§3.10), or when the uncommitted tail is at its bound.
 */
export function acceptProposals(raft: LeaderHost, data: readonly string[],
  kind: EntryKind = "normal"): AcceptResult {
  assert(raft.role === "leader", "proposals are accepted by the leader only");
  if (raft.leadTransferee !== null) {
    return { kind: "transferring", leaderIdHint: raft.leadTransferee };
  }
  // A leader with no vote in any configuration it holds (a learner that campaigned,
  // Raft.promotable) leads only to hand its log to the voters: taking no proposal, its whole
  // log is its first entry and before, which a quorum holds when it hands over.
  if (!raft.votesSomewhere()) {
    return { kind: "transferring", leaderIdHint: null };
  }
  const room = raft.config.uncommittedEntriesMax - (raft.log.lastIndex() - raft.log.committed);
  if (room <= 0) return { kind: "overloaded" };
  for (const item of data.slice(0, room)) {
    raft.log.append({ index: raft.log.lastIndex() + 1, term: raft.term, kind, data: item });
  }
  if (data.length > 0) raft.proposalsUnsent = true;
  return { kind: "accepted", index: raft.log.lastIndex(), term: raft.term };
}

export function maybeCommit(raft: LeaderHost): boolean {
  const index = raft.tracker.committedIndex();
  if (index <= raft.log.committed || raft.log.term(index) !== raft.term) return false;
  raft.log.commitTo(index);
  raft.commitUnsent = true;
  releaseReadsBeforeCommit(raft);
  return true;
}

function handleAppendResponse(raft: LeaderHost, m: AppendEntriesResponse): void {
  const progress = raft.tracker.get(m.from);
  if (progress === undefined) return;
  progress.markActive();
  const problem = appendResponseProblem(raft, m);
  if (problem !== null) {
    raft.reportViolation(m, m.success ? "ackBeyondLog" : "rejectInvalid", problem);
    return;
  }
  if (!m.success) {
    // Jump back a whole term at once using the follower's hint.
    const nextProbe = m.hintTerm > 0
      ? raft.log.findConflictByTerm(m.hintIndex, m.hintTerm).index
      : m.hintIndex;
    if (progress.maybeDecreaseTo(m.index, nextProbe)) {
      if (progress.state === "replicate") progress.becomeProbe();
      sendAppend(raft, m.from, true);
    }
    return;
  }
  // A probe's answer that acknowledges exactly the known match still ends the probe: the
  // follower holds the log up to it, so it can be sent the rest in replicate state. It is how an
  // empty probe after an installed snapshot is answered (match already moved to the snapshot's
  // index, and the leader had nothing past it); taken as stale, the follower would get nothing
  // new until the next heartbeat's answer (test/raft/testdata/snapshot-catchup.txt; etcd's
  // stepLeader does the same). A duplicate of such an answer only resends what was sent.
  const probeAnswered = progress.state === "probe" && m.index === progress.match;
  if (!progress.maybeUpdate(m.index) && !probeAnswered) return;
  if (progress.state === "snapshot") {
    // An answer from before the transfer shows the follower can be served from the log after all.
    if (progress.match < raft.log.compacted()) return;
    progress.becomeProbe();
  }
  if (progress.state === "probe") progress.becomeReplicate();
  else progress.inflights.freeTo(m.index);
  maybeCommit(raft);
  sendAppendsTo(raft, m.from);
  if (m.from === raft.leadTransferee && progress.match === raft.log.lastIndex()) {
    sendTimeoutNow(raft, m.from);
  }
}

/**
 * What no follower of this leader can answer: an acknowledgement past our last index (a
 * follower acknowledges what it got from us, or its commit index, which a leader always holds:
 * §5.4 Leader Completeness), or a rejection of an index we never sent as prevLogIndex, with a
 * hint past the rejected index or of a term later than the follower's own. Taking such an
 * answer would set match or next past our log, where there is nothing to send.
 */
function appendResponseProblem(raft: LeaderHost, m: AppendEntriesResponse): string | null {
  const lastIndex = raft.log.lastIndex();
  if (m.success) {
    return m.index > lastIndex ? `index=${m.index} lastIndex=${lastIndex}` : null;
  }
  if (m.index > lastIndex || m.hintIndex > m.index || m.hintTerm > m.term) {
    return `index=${m.index} hint=${m.hintIndex}/${m.hintTerm} lastIndex=${lastIndex}`;
  }
  return null;
}

function handleHeartbeatResponse(raft: LeaderHost, m: HeartbeatResponse): void {
  const progress = raft.tracker.get(m.from);
  if (progress === undefined) return;
  progress.markActive();
  progress.probeSent = false;
  if (m.readId !== null && (m.readId < 1 || m.readId > raft.lastReadId)) {
    // A round we never started: it confirms nothing, but the answer still shows a live follower.
    raft.reportViolation(m, "readIdUnknown", `readId=${m.readId} last=${raft.lastReadId}`);
  } else if (m.readId !== null) {
    confirmRead(raft, m.readId, m.from);
  }
  // A snapshot transfer has its own retry timer (tickSnapshotTransfers): heartbeat answers
  // come too often to time a chunk that may take long to write.
  if (progress.state === "snapshot") return;
  // If the window is full, acknowledgements may have been lost: let one more append through,
  // so that a gap shows up as a rejection and the follower is repaired.
  if (progress.state === "replicate" && progress.inflights.full()) progress.inflights.freeFirstOne();
  // A lagging follower gets an append even when there is nothing new to send: if an earlier
  // append or its acknowledgement was lost, this one is rejected (and repair starts) or
  // acknowledged (and match catches up). Without it a lost append stalls until the next
  // proposal (etcd sends the same on every heartbeat answer). News of a commit goes unanswered
  // (AppendEntriesRequest.commitOnly), so this is also how a lost acknowledgement is made up.
  if (progress.match < raft.log.lastIndex() && !sendAppendsTo(raft, m.from)) {
    sendAppend(raft, m.from, true);
  }
}

// --- InstallSnapshot (§7) -----------------------------------------------------------------

/** Sends the next chunk of the snapshot in transfer to `to`, unless one is unanswered. */
function sendSnapshotChunk(raft: LeaderHost, to: NodeId): boolean {
  const transfer = raft.tracker.get(to)?.snapshotTransfer;
  assert(transfer !== null && transfer !== undefined, "snapshot state has a transfer");
  if (transfer.chunkInflight) return false;
  const { snapshot, offset } = transfer;
  const end = Math.min(offset + raft.config.snapshotChunkBytes, snapshot.data.length);
  raft.send({ type: "snapshot", from: raft.id, to, term: raft.term, meta: snapshot.meta, offset,
    data: snapshot.data.slice(offset, end), done: end === snapshot.data.length });
  transfer.chunkInflight = true;
  transfer.ticksSinceChunk = 0;
  return true;
}

/**
 * Resends a chunk that has gone unanswered for an election timeout: it or its answer was lost.
 * The receiver answers a chunk it already has with the offset it wants, so a repeat costs one
 * round trip; the bound keeps repeats rare however slow the link or the follower's disk.
 */
export function tickSnapshotTransfers(raft: LeaderHost): void {
  for (const [id, progress] of raft.tracker.entries()) {
    const transfer = progress.snapshotTransfer;
    if (transfer === null) continue;
    if (!raft.snapshotKept && progress.ticksSinceActive >= raft.config.electionTimeoutTicks) {
      // Data lent by the driver on demand is not held for a follower silent for an election
      // timeout (it no longer holds compaction back either, compactIndexFor): the transfer
      // ends, the data is released, and the follower asks anew when it is heard from again.
      progress.becomeProbe();
      continue;
    }
    if (!transfer.chunkInflight) continue;
    if (++transfer.ticksSinceChunk >= raft.config.electionTimeoutTicks) {
      transfer.chunkInflight = false;
      sendSnapshotChunk(raft, id);
    }
  }
}

function handleSnapshotResponse(raft: LeaderHost, m: InstallSnapshotResponse): void {
  const progress = raft.tracker.get(m.from);
  if (progress === undefined) return;
  progress.markActive();
  const transfer = progress.snapshotTransfer;
  if (transfer === null || transfer.snapshot.meta.index !== m.snapshotIndex) {
    // An answer about another snapshot, or after the transfer ended here, moves nothing on,
    // except this one: the follower installed a snapshot, so its log now holds the snapshot's
    // index, a committed entry, which every leader's log holds too (§5.4): that is a match, as
    // etcd counts the append answer a follower sends after a snapshot. Without it, a follower
    // whose install outlasts an election timeout (it is silent meanwhile, so the transfer is
    // dropped here and compaction moves on) is sent a newer snapshot after each install, and
    // never catches up.
    if (!m.installed || m.snapshotIndex <= progress.match) return;
    if (m.snapshotIndex > raft.log.lastIndex()) {
      raft.reportViolation(m, "snapshotResponseInvalid",
        `installed snapshotIndex=${m.snapshotIndex} past lastIndex=${raft.log.lastIndex()}`);
      return;
    }
    progress.maybeUpdate(m.snapshotIndex);
    // Another transfer started meanwhile (the follower was silent, so it was asked anew) is
    // needed only if the log cannot serve what follows the installed index.
    if (transfer === null || m.snapshotIndex >= raft.log.compacted()) {
      progress.becomeProbe();
      sendAppend(raft, m.from, true);
    }
    maybeCommit(raft);
    return;
  }
  // One chunk at a time: only the answer to the outstanding chunk moves the transfer on.
  // Acting on every answer would let duplicates multiply: each extra answer would send an
  // extra chunk, which would draw an extra answer.
  if (!m.installed && (m.offset !== transfer.offset || !transfer.chunkInflight)) return;
  if (m.nextOffset > transfer.snapshot.data.length) {
    raft.reportViolation(m, "snapshotResponseInvalid",
      `nextOffset=${m.nextOffset} size=${transfer.snapshot.data.length}`);
    return;
  }
  if (m.installed) {
    progress.maybeUpdate(m.snapshotIndex);
    progress.becomeProbe();
    maybeCommit(raft);
    sendAppend(raft, m.from, true);
    return;
  }
  transfer.offset = m.nextOffset;
  transfer.chunkInflight = false;
  sendSnapshotChunk(raft, m.from);
}

// --- ReadIndex (thesis §6.4) -------------------------------------------------------------

/**
 * Starts a linearizable read for `from` (this node or a follower). Returns "pending" when the
 * read will be answered by a ReadState or a readIndexResponse, "overloaded" when refused.
 */
export function startRead(raft: LeaderHost, context: string, from: NodeId): "pending" | "overloaded" {
  const pendingCount = raft.readOnly.size() + raft.readsBeforeCommit.length;
  if (pendingCount >= raft.config.pendingReadsMax) return "overloaded";
  // Step 1: until the leader commits an entry of its term, it may not know the latest commit.
  if (raft.log.term(raft.log.committed) !== raft.term) {
    raft.readsBeforeCommit.push({ context, from });
    return "pending";
  }
  const index = raft.log.committed;
  // Alone only if it is that one voter: a leader outside its newest configuration (removed, or
  // elected as a voter of the one in force) must confirm with the others like any other.
  if (raft.tracker.voterCount() === 1 && raft.tracker.isVoter(raft.id)) {
    answerRead(raft, context, from, index);
    return "pending";
  }
  raft.lastReadId++;
  raft.readOnly.add({ readId: raft.lastReadId, index, context, from, acks: new Set([raft.id]) });
  raft.readRoundUnsent = true;
  return "pending";
}

function releaseReadsBeforeCommit(raft: LeaderHost): void {
  if (raft.readsBeforeCommit.length === 0 || raft.log.term(raft.log.committed) !== raft.term) {
    return;
  }
  const waiting = raft.readsBeforeCommit;
  raft.readsBeforeCommit = [];
  for (const read of waiting) startRead(raft, read.context, read.from);
}

function confirmRead(raft: LeaderHost, readId: number, from: NodeId): void {
  const acks = raft.readOnly.recordAck(readId, from);
  if (acks === null || !raft.tracker.isQuorum(acks)) return;
  // A majority confirmed we were still leader after this read (and all older ones) arrived.
  for (const read of raft.readOnly.releaseTo(readId)) {
    answerRead(raft, read.context, read.from, read.index);
  }
}

function answerRead(raft: LeaderHost, context: string, from: NodeId, index: number): void {
  if (from === raft.id) {
    raft.readStates.push({ context, index });
  } else {
    raft.send({ type: "readIndexResponse", from: raft.id, to: from, term: raft.term, context,
      index });
  }
}

// --- Leadership transfer (thesis §3.10) ---------------------------------------------------

export function sendTimeoutNow(raft: LeaderHost, to: NodeId): void {
  raft.send({ type: "timeoutNow", from: raft.id, to, term: raft.term });
}
