import { assert } from "./assert.js";
import type { RaftConfig } from "./config.js";
import type { RaftLog } from "./log.js";
import type { AppendEntriesRequest, NodeId } from "./messages.js";

/**
 * Leader only: nodes that a committed change just removed, told for a short while that the
 * change committed. A leader stops replicating to a node as soon as it applies the change
 * that removes it (Raft.refreshQuorums), and the change often commits and applies in one
 * Ready, so the removed node holds the change but never learns that it committed: it never
 * applies its own removal (its driver would then stop it), and times out and campaigns until
 * an operator stops it (§4.2.3: a removed server must not disrupt; PreVote and formerMembers
 * keep it harmless, but not gone). etcd's transport answers such a node 410 Gone; here the
 * core does it, best effort and bounded: a few appends that carry the commit of its removal.
 *
 * A departing node counts for nothing: it has no Progress, so no quorum (commit, votes,
 * CheckQuorum, ReadIndex), no transfer and no snapshot can name it, and its answers are
 * dropped quietly as a former member's (Raft.acceptFrom; the answer to a read forwarded to it
 * while it led is taken, as from anyone).
 */

/** At most this many departing nodes are remembered; the oldest gives way (STYLE.md §5). */
export const departuresMax = 16;

interface Departure {
  /** The last index it was known to hold: its Progress.match when it was removed, moved on by
   * its successful answers since (noteMatch), which are otherwise dropped. */
  match: number;
  /** The index of the committed change that removed it; `match` may be below it (the node
   * may not hold the change yet) or past it. Invariant: removalIndex <= the leader's commit
   * index (asserted in appends()). */
  readonly removalIndex: number;
  /** Ticks since it was removed; it is forgotten after an election timeout. */
  elapsedTicks: number;
}

export class Departures {
  /** In insertion order, oldest first. Invariant: size <= departuresMax. */
  private readonly records = new Map<NodeId, Departure>();

  size(): number {
    return this.records.size;
  }

  has(id: NodeId): boolean {
    return this.records.has(id);
  }

  /** Remembers `id`, removed by the committed change at `removalIndex`. */
  add(id: NodeId, match: number, removalIndex: number): void {
    assert(match >= 0 && removalIndex > 0, `departure of ${id}: match ${match}, ` +
      `removal at ${removalIndex}`);
    this.records.delete(id);
    if (this.records.size >= departuresMax) {
      const oldest = this.records.keys().next().value as NodeId;
      this.records.delete(oldest);
    }
    this.records.set(id, { match, removalIndex, elapsedTicks: 0 });
    assert(this.records.size <= departuresMax, "departures are bounded");
  }

  /**
   * A departing node answered an append of this leader's term with success up to `index`: it
   * holds the log up to there, so the next append starts after it. Without this a node that is
   * more than one append behind, or that committed past the match recorded at its removal (the
   * follower ignores an append below its commit), would be sent the same append every round.
   * `index` comes from a peer: one that is not past the recorded match, or past this leader's
   * log, changes nothing.
   */
  noteMatch(id: NodeId, index: number, lastIndex: number): void {
    const departure = this.records.get(id);
    if (departure === undefined || !Number.isSafeInteger(index) || index <= departure.match ||
      index > lastIndex) return;
    departure.match = index;
  }

  /**
   * A departing node refused the append of this leader's term that starts at its recorded
   * match (`refusedIndex`, its prevLogIndex): its log differs there (a removed former leader with entries that never committed, say). The next append
   * starts further back, at its hint or one before, as probing does (§5.3), and at 0 at worst;
   * the receiver's consistency check keeps any start safe. `hintIndex` comes from a peer.
   */
  noteRefusal(id: NodeId, refusedIndex: number, hintIndex: number): void {
    const departure = this.records.get(id);
    // Only a refusal of the append that starts at the match counts: the commit notice's, or a
    // late one, says nothing of where the logs agree.
    if (departure === undefined || departure.match === 0 || refusedIndex !== departure.match) {
      return;
    }
    const hint = Number.isSafeInteger(hintIndex) && hintIndex >= 0 ? hintIndex : 0;
    departure.match = Math.min(departure.match - 1, hint);
  }

  /** A node added back (a later change names it again) is a member, not departing. */
  delete(id: NodeId): void {
    this.records.delete(id);
  }

  clear(): void {
    this.records.clear();
  }

  /** Ages every record by one tick; forgets those older than `boundTicks`. */
  tick(boundTicks: number): void {
    for (const [id, departure] of this.records) {
      if (++departure.elapsedTicks >= boundTicks) this.records.delete(id);
    }
  }

  /**
   * One append per departing node (or per `only`), each as its ordinary replication would be
   * but stopped at the change that removed it: prevLogIndex/prevLogTerm at its match, which it
   * held, then the entries after it up to the change, within the usual bounds, and
   * leaderCommit no further than the last entry sent. Figure 2's consistency check and the
   * follower's commit rule (§5.3: commitIndex = min(leaderCommit, index of last new entry))
   * keep this as safe as any append of this leader: the node commits only entries it holds as
   * the leader does, and all of them are committed. When that append does not reach the
   * change, a second one, empty, with prev at the change, says the change committed to a node
   * that holds it. No snapshot goes to a node that is no member: past compacted entries, the
   * notice is all it gets.
   */
  appends(from: NodeId, term: number, log: RaftLog, config: RaftConfig,
    only: NodeId | null = null): AppendEntriesRequest[] {
    const messages: AppendEntriesRequest[] = [];
    for (const [to, { match, removalIndex }] of this.records) {
      if (only !== null && to !== only) continue;
      assert(removalIndex <= log.committed, `removal at ${removalIndex} is committed`);
      let lastSentIndex = match;
      const prevLogTerm = log.term(match);
      if (prevLogTerm !== null) {
        const indexHigh = Math.min(removalIndex + 1, match + 1 + config.entriesPerAppendMax);
        const entries = match + 1 < indexHigh
          ? log.slice(match + 1, indexHigh, config.bytesPerAppendMax)
          : [];
        lastSentIndex = match + entries.length;
        messages.push({ type: "append", from, to, term, prevLogIndex: match, prevLogTerm,
          entries, leaderCommit: Math.min(log.committed, lastSentIndex) });
      }
      // And, while it is not known to hold the change, the commit notice alone: prev at the
      // change itself. A node that holds it commits it by the same consistency check, even if
      // its commit index is past `match` (it then ignores the append above), the entries up to
      // the change take more than one append, or those after `match` are compacted here; one
      // that does not hold it refuses it.
      const removalTerm = log.term(removalIndex);
      if (lastSentIndex < removalIndex && removalTerm !== null) {
        messages.push({ type: "append", from, to, term, prevLogIndex: removalIndex,
          prevLogTerm: removalTerm, entries: [], leaderCommit: removalIndex });
      }
    }
    return messages;
  }
}
