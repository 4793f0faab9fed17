import type { Logger } from "pino";
import type { NodeId, RoleChangeReason } from "../raft/index.js";
import type { NodeEvent, RaftEventPage, RaftEventRecord } from "../wire/raft-events.js";

// What GET /v1/cluster/events serves: types of the wire (src/wire/), shared with the client.
export type { DriverEvent, NodeEvent, RaftEventPage, RaftEventRecord } from "../wire/raft-events.js";

/** How many events a node keeps for GET /v1/cluster/events. */
export const raftEventRingCapacity = 1000;

/**
 * The driver's side of Ready.events (src/raft/events.ts): each event becomes one structured log
 * line at info (event, term, index and the event's fields; the logger carries the node id), and
 * is kept in a bounded ring that the API serves, so that `market-cli cluster events` and the
 * live view can show an election as it happened.
 */
export class RaftEventLog {
  private readonly ring: RaftEventRecord[] = [];
  private lastSeq = 0;

  constructor(private readonly node: NodeId, private readonly logger: Logger,
    private readonly capacity = raftEventRingCapacity) {}

  record(events: readonly NodeEvent[], dropped: number, timeMs: number): void {
    // The log line's object is built only for a logger that writes it (not a silent one).
    const logging = this.logger.isLevelEnabled("info");
    for (const event of events) {
      const message = describeRaftEvent(event);
      if (logging) {
        const { kind, ...fields } = event;
        this.logger.info({ event: kind, ...fields }, message);
      }
      this.ring.push({ ...event, seq: ++this.lastSeq, timeMs, node: this.node, message });
      if (this.ring.length > this.capacity) this.ring.shift();
    }
    if (dropped > 0) {
      this.logger.info({ event: "eventsDropped", count: dropped },
        `${dropped} more Raft events in one pass were not recorded`);
    }
  }

  /** The events after `after` (a seq), oldest first, at most `limit`. */
  page(after: number, limit: number): RaftEventPage {
    const first = this.ring[0]?.seq ?? this.lastSeq + 1;
    const events = this.ring.filter((record) => record.seq > after).slice(0, limit);
    const missed = Math.max(0, Math.min(first, this.lastSeq + 1) - after - 1);
    return { node: this.node, events, lastSeq: this.lastSeq, missed };
  }
}

function roleName(role: string): string {
  return role === "preCandidate" ? "pre-candidate" : role;
}

const roleReasons: Readonly<Record<RoleChangeReason, string>> = {
  higherTerm: "a message of a higher term",
  electionTimeout: "the election timeout elapsed",
  transfer: "the leader handed over leadership",
  electionWon: "a majority voted for it",
  electionLost: "a majority refused its votes",
  leaderOfTerm: "a leader of its term spoke",
  checkQuorum: "CheckQuorum: it has not heard from a majority within an election timeout",
  removed: "a configuration change removed it",
  notVoter: "it led as a learner, to hand its log to the voters, and handed over",
};

/** One line per event, in the words etcd's raft uses where it has them. */
export function describeRaftEvent(event: NodeEvent): string {
  const vote = (preVote: boolean): string => preVote ? "pre-vote" : "vote";
  switch (event.kind) {
    case "campaignStarted":
      return `started ${event.preVote ? "a pre-vote" : "an election"} for term ${event.term}` +
        ` (${event.cause === "transfer" ? "leadership transfer" : "election timeout"}; last log ` +
        `term ${event.lastLogTerm}, index ${event.index})`;
    case "voteGranted":
      return `granted ${vote(event.preVote)} to ${event.candidate} for term ${event.candidateTerm}`;
    case "voteRefused":
      return `refused ${vote(event.preVote)} to ${event.candidate} (${event.reason}): ` +
        event.detail;
    case "voteReceived":
      return `received ${event.granted ? "a granted" : "a refused"} ${vote(event.preVote)} ` +
        `from ${event.voter} for term ${event.term} (${event.granting} of ${event.quorum} needed)`;
    case "roleChanged":
      return `became ${roleName(event.to)} at term ${event.term}: ` +
        `${roleReasons[event.reason] ?? event.reason}` +
        (event.to === "follower" && event.leaderId !== null ? ` (leader ${event.leaderId})` : "");
    case "leaderElected":
      return `elected leader of term ${event.term} with the votes of ${event.votes.join(", ")}`;
    case "transferStarted":
      return `transferring leadership to ${event.target} in term ${event.term}`;
    case "transferAbandoned":
      return `abandoned the leadership transfer to ${event.target}: not done within an ` +
        "election timeout";
    case "snapshotSent":
      return `sending a snapshot at index ${event.snapshotIndex} (${event.bytes} bytes) to ` +
        `${event.to}: the entries it needs are compacted`;
    case "snapshotReceived":
      return `received a snapshot at index ${event.snapshotIndex} (${event.bytes} bytes) from ` +
        `${event.from}; installing it`;
    case "snapshotInstalled":
      return `installed the leader's snapshot at index ${event.snapshotIndex} ` +
        `(${event.bytes} bytes, ${event.ms} ms)`;
    case "confChanged": {
      const { voters, learners, votersOutgoing } = event.conf;
      return `configuration of entry ${event.entryIndex} in force: voters ${voters.join(", ")}` +
        (votersOutgoing.length > 0 ? ` jointly with ${votersOutgoing.join(", ")}` : "") +
        (learners.length > 0 ? `; learners ${learners.join(", ")}` : "");
    }
    case "confChangeSkipped":
      return `skipped the configuration change of entry ${event.entryIndex}: ${event.problem}`;
    case "logTruncated":
      return `discarded ${event.count} uncommitted entr${event.count === 1 ? "y" : "ies"} ` +
        `from index ${event.fromIndex} that conflict with leader ${event.leaderId}'s log`;
  }
}
