import { assertNever } from "./assert.js";
import type { RaftLog } from "./log.js";
import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  RaftMessage,
  ReadIndexResponse,
} from "./messages.js";
import { confOfMeta, confStateProblem } from "./conf-state.js";
import { isCount, type ViolationReason } from "./violation.js";

/**
 * Checks of a peer's message against what any correct sender could say (violation.ts). Pure
 * functions of the message and, for the follower's checks, of our log; the callers record
 * what they return and drop the message. A shape check (every field present with its type) is
 * the transport's job; these check the values.
 */
export interface Problem {
  readonly reason: ViolationReason;
  readonly detail: string;
}

function outOfRange(field: string, value: number): Problem {
  return { reason: "valueOutOfRange", detail: `${field}=${value}` };
}

/**
 * `value` as a Problem when it is not a non-negative safe integer. Chained with `??`, so the
 * first field out of range is the one reported: every message received is checked, and a
 * record of its fields with Object.entries over it cost 1% of a simulated seed's time.
 */
function countProblem(field: string, value: number): Problem | null {
  return isCount(value) ? null : outOfRange(field, value);
}

/**
 * What is impossible in `m` on its own, whoever receives it: values out of range, and values
 * that contradict each other (no entry can be of a term later than its sender's term). Run
 * before the message's term is looked at, so an impossible message cannot move our term.
 */
export function messageProblem(m: RaftMessage): Problem | null {
  if (!isCount(m.term)) return outOfRange("term", m.term);
  switch (m.type) {
    case "preVote":
    case "requestVote": {
      const range = countProblem("lastLogIndex", m.lastLogIndex) ??
        countProblem("lastLogTerm", m.lastLogTerm);
      if (range !== null) return range;
      // A candidate's log holds entries of its current term at most; a pre-vote asks for term + 1.
      return m.lastLogTerm > m.term
        ? { reason: "voteRequestInvalid", detail: `lastLogTerm=${m.lastLogTerm} term=${m.term}` }
        : null;
    }
    case "append": {
      const range = countProblem("prevLogIndex", m.prevLogIndex) ??
        countProblem("prevLogTerm", m.prevLogTerm) ?? countProblem("leaderCommit", m.leaderCommit);
      if (range !== null) return range;
      if (m.commitOnly !== undefined && (m.commitOnly !== true || m.entries.length > 0)) {
        // News of a commit goes unanswered, so it must not carry entries the leader waits on.
        return { reason: "entriesMalformed", detail: `commitOnly=${String(m.commitOnly)} with ` +
          `${m.entries.length} entries` };
      }
      return entriesProblem(m);
    }
    case "appendResponse":
      return countProblem("index", m.index) ?? countProblem("hintIndex", m.hintIndex) ??
        countProblem("hintTerm", m.hintTerm);
    case "heartbeat":
      return countProblem("commit", m.commit) ?? countProblem("readId", m.readId ?? 0);
    case "heartbeatResponse":
      return countProblem("readId", m.readId ?? 0);
    case "readIndexResponse":
      return m.index === null || isCount(m.index)
        ? null
        : { reason: "readIndexInvalid", detail: `index=${m.index}` };
    case "snapshot":
      return snapshotMessageProblem(m);
    case "snapshotResponse":
      return countProblem("snapshotIndex", m.snapshotIndex) ??
        countProblem("offset", m.offset) ?? countProblem("nextOffset", m.nextOffset);
    case "preVoteResponse":
    case "requestVoteResponse":
    case "timeoutNow":
    case "readIndex":
    case "propose":
      return null;
    default:
      return assertNever(m, "message");
  }
}

/** §5.3: an append carries the leader's entries right after prevLogIndex, in log order. */
function entriesProblem(m: AppendEntriesRequest): Problem | null {
  const malformed = (detail: string): Problem => ({ reason: "entriesMalformed", detail });
  if (m.prevLogTerm > m.term) return malformed(`prevLogTerm=${m.prevLogTerm} term=${m.term}`);
  let previousTerm = m.prevLogTerm;
  for (let k = 0; k < m.entries.length; k++) {
    const entry = m.entries[k]!;
    if (entry.index !== m.prevLogIndex + 1 + k) {
      return malformed(`entry ${k} has index ${entry.index} after prevLogIndex=${m.prevLogIndex}`);
    }
    // Terms never decrease along a log, and a leader holds no entry of a later term than its own.
    if (!isCount(entry.term) || entry.term < previousTerm || entry.term > m.term) {
      return malformed(`entry ${entry.index} has term ${entry.term} after term ${previousTerm}` +
        ` (sender term ${m.term})`);
    }
    previousTerm = entry.term;
  }
  return null;
}

function snapshotMessageProblem(m: InstallSnapshotRequest): Problem | null {
  const end = m.offset + m.data.length;
  const range = countProblem("meta.index", m.meta.index) ??
    countProblem("meta.term", m.meta.term) ?? countProblem("offset", m.offset) ??
    countProblem("end", end);
  if (range !== null) return range;
  const invalid = (detail: string): Problem => ({ reason: "snapshotInvalid", detail });
  if (m.meta.term > m.term) return invalid(`meta.term=${m.meta.term} term=${m.term}`);
  if (m.meta.index === 0 && m.meta.term !== 0) return invalid(`meta=0/${m.meta.term}`);
  // Installing it replaces our configuration: an empty or repeating one could never elect.
  const conf = confOfMeta(m.meta);
  const problem = conf === null ? "malformed" : confStateProblem(conf);
  if (problem !== null) {
    return invalid(`configuration ${problem}: voters=${JSON.stringify(m.meta.voters)}, ` +
      `learners=${JSON.stringify(m.meta.learners ?? [])}, ` +
      `votersOutgoing=${JSON.stringify(m.meta.votersOutgoing ?? [])}`);
  }
  return null;
}

/**
 * §5.4 Leader Completeness: a leader holds every committed entry, so nothing it sends can
 * contradict an entry we hold as committed. One that does has lost or forked its log; taking
 * its entries would replace committed ones (log.appendFromLeader asserts we never do).
 */
export function appendConflictProblem(log: RaftLog, m: AppendEntriesRequest): Problem | null {
  const contradicts = (index: number, term: number): boolean => {
    if (index > log.committed) return false;
    const held = log.term(index);
    return held !== null && held !== term;
  };
  if (contradicts(m.prevLogIndex, m.prevLogTerm)) {
    return { reason: "conflictBelowCommit", detail: `prevLog=${m.prevLogIndex}/${m.prevLogTerm} ` +
      `but committed ${m.prevLogIndex}/${String(log.term(m.prevLogIndex))}` };
  }
  for (const entry of m.entries) {
    if (entry.index > log.committed) break;
    if (contradicts(entry.index, entry.term)) {
      return { reason: "conflictBelowCommit", detail: `entry ${entry.index}/${entry.term} but ` +
        `committed ${entry.index}/${String(log.term(entry.index))}` };
    }
  }
  return null;
}

/** A snapshot whose last entry contradicts an entry we hold as committed (as above). */
export function snapshotConflictProblem(log: RaftLog, m: InstallSnapshotRequest): Problem | null {
  const { index, term } = m.meta;
  const held = log.term(index);
  if (index > log.committed || held === null || held === term) return null;
  return { reason: "conflictBelowCommit",
    detail: `snapshot ${index}/${term} but committed ${index}/${held}` };
}



/**
 * An answer to a forwarded read that carries an index at a term after ours. Our readIndex
 * carries our term, and a leader gives an index only at that term: one of an older term gets
 * no index (Raft.stepTerm), a newer term deposes it, and a change of term drops the reads it
 * held with no index (dropPendingReads). And our term when we forwarded it is no later than
 * ours now: readIndex is not among the messages sent before the Ready that changed the term is
 * durable (mayPrecedePersist). So no honest node sends this to a node that kept its disk: its
 * term must not move ours, and the read fails. (Stricter than etcd, whose MsgReadIndex carries
 * no term: its leader answers at whatever term it is in.) A node that lost its disk, and with
 * it its term, may see an honest leader's answer reported here; the read fails, harmlessly.
 */
export function laterTermReadIndexProblem(m: ReadIndexResponse, ourTerm: number): Problem | null {
  return m.index !== null && m.term > ourTerm
    ? { reason: "readIndexInvalid", detail: `index=${m.index} at term ${m.term}, after ours ` +
      `(${ourTerm}): no read was forwarded at that term` }
    : null;
}
