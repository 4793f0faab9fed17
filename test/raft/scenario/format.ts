/**
 * How the scenario files print the core's values. Log positions and entries print as
 * term/index, the way etcd's scenario files do; an entry with data prints as term/index:data,
 * and the no-op a new leader appends (empty data) as term/index alone.
 */
import {
  assertNever,
  type Entry,
  type RaftMessage,
  type RaftStatus,
} from "../../../src/raft/index.js";

export function formatPosition(term: number, index: number): string {
  return `${term}/${index}`;
}

export function formatEntry(entry: Entry): string {
  const position = formatPosition(entry.term, entry.index);
  const kind = entry.kind === "normal" ? "" : `(${entry.kind})`;
  return entry.data === "" ? `${position}${kind}` : `${position}${kind}:${entry.data}`;
}

export function formatEntries(entries: readonly Entry[]): string {
  return `[${entries.map(formatEntry).join(" ")}]`;
}

/** One line per message, e.g. `n1->n2 preVote term=1 lastLog=0/0`. */
export function formatMessage(m: RaftMessage): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "preVote":
      return `${head} lastLog=${formatPosition(m.lastLogTerm, m.lastLogIndex)}`;
    case "requestVote":
      return `${head} lastLog=${formatPosition(m.lastLogTerm, m.lastLogIndex)}` +
        (m.transfer ? " transfer" : "");
    case "preVoteResponse":
    case "requestVoteResponse":
      return `${head} ${m.granted ? "granted" : "rejected"}`;
    case "append":
      return `${head} prev=${formatPosition(m.prevLogTerm, m.prevLogIndex)} ` +
        `commit=${m.leaderCommit} entries=${formatEntries(m.entries)}` +
        (m.commitOnly === true ? " commitOnly" : "");
    case "appendResponse":
      return m.success
        ? `${head} index=${m.index}`
        : `${head} reject index=${m.index} hint=${formatPosition(m.hintTerm, m.hintIndex)}`;
    case "heartbeat":
      return `${head} commit=${m.commit}${m.readId === null ? "" : ` readId=${m.readId}`}`;
    case "heartbeatResponse":
      return `${head}${m.readId === null ? "" : ` readId=${m.readId}`}`;
    case "timeoutNow":
      return head;
    case "readIndex":
      return `${head} context=${m.context}`;
    case "readIndexResponse":
      return `${head} context=${m.context} index=${m.index ?? "none"}`;
    case "propose":
      return `${head} data=${m.data.map((item) => JSON.stringify(item)).join(",")}`;
    case "snapshot":
      return `${head} snapshot=${formatPosition(m.meta.term, m.meta.index)} ` +
        `offset=${m.offset} bytes=${m.data.length}${m.done ? " done" : ""}`;
    case "snapshotResponse":
      return `${head} snapshot=${m.snapshotIndex} offset=${m.offset} next=${m.nextOffset}` +
        (m.installed ? " installed" : "");
    default:
      return assertNever(m, "message");
  }
}

/** One line per node, e.g. `n1 leader term=1 vote=n1 leader=n1 commit=1 applied=1 last=1/1`. */
export function formatStatus(status: RaftStatus): string {
  return `${status.id} ${status.role} term=${status.term} vote=${status.vote ?? "none"} ` +
    `leader=${status.leaderId ?? "none"} commit=${status.commitIndex} ` +
    `applied=${status.appliedIndex} ` +
    `last=${formatPosition(status.lastLogTerm, status.lastLogIndex)}`;
}
