/**
 * The last entries of a node's log as `GET /v1/cluster/log` serves them: index, term and kind
 * only, never the data, so that the live view can draw the logs side by side (coloured by term,
 * the commit point marked) without reading the commands. Cheap and bounded: the entries come
 * from the in-memory log (the compacted prefix is not there), at most logTailEntriesMax.
 */
import type { Entry, NodeId, RaftNode, RaftStatus } from "../raft/index.js";

/** The most entries one request may ask for. */
export const logTailEntriesMax = 200;

/** `noop`: the empty entry a new leader appends; `config`: a membership change. */
export type LogEntryKind = "command" | "noop" | "config";

export interface LogTailEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: LogEntryKind;
}

export interface LogTail {
  readonly id: NodeId;
  readonly term: number;
  readonly commitIndex: number;
  readonly lastLogIndex: number;
  /** Entries at or below this index are compacted into the snapshot and not listed. */
  readonly compactedIndex: number;
  /** Oldest first, ending at lastLogIndex. */
  readonly entries: readonly LogTailEntry[];
}

export function logTailOf(node: Pick<RaftNode, "entries" | "compactedIndex">,
  status: Pick<RaftStatus, "id" | "term" | "commitIndex" | "lastLogIndex">, limit: number):
  LogTail {
  const count = Math.max(0, Math.min(limit, logTailEntriesMax));
  const compactedIndex = node.compactedIndex();
  const indexLow = Math.max(compactedIndex + 1, status.lastLogIndex - count + 1);
  const entries = indexLow > status.lastLogIndex ? []
    : node.entries(indexLow, status.lastLogIndex + 1).map(tailEntry);
  return { id: status.id, term: status.term, commitIndex: status.commitIndex,
    lastLogIndex: status.lastLogIndex, compactedIndex, entries };
}

function tailEntry(entry: Entry): LogTailEntry {
  const kind: LogEntryKind = entry.kind === "config" ? "config"
    : entry.data === "" ? "noop" : "command";
  return { index: entry.index, term: entry.term, kind };
}
