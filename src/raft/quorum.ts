import type { NodeId } from "./messages.js";

/**
 * Majority arithmetic over one set of voters. JointConfig (conf-state.ts) pairs two of these
 * while joint (§4.3 of the dissertation), and ProgressTracker (tracker.ts) is its caller in the
 * core.
 */
export class MajorityConfig {
  readonly voters: readonly NodeId[];

  constructor(voters: readonly NodeId[]) {
    this.voters = [...voters].sort();
  }

  size(): number {
    return this.voters.length;
  }

  has(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  /** The largest index that a majority of voters have reached; unknown voters count as 0. */
  committedIndex(matchOf: (id: NodeId) => number): number {
    const matches = this.voters.map(matchOf);
    // Descending, by insertion: a handful of voters, asked at every acknowledgement, and
    // Array.prototype.sort allocates a work area each time.
    for (let i = 1; i < matches.length; i++) {
      const held = matches[i]!;
      let j = i - 1;
      for (; j >= 0 && matches[j]! < held; j--) matches[j + 1] = matches[j]!;
      matches[j + 1] = held;
    }
    return matches[this.quorum() - 1] ?? 0;
  }

  /** "won" once a majority granted, "lost" once a majority cannot be reached any more. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): "won" | "lost" | "pending" {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    if (granted >= this.quorum()) return "won";
    if (rejected > this.voters.length - this.quorum()) return "lost";
    return "pending";
  }

  /** True when the voters for which `isActive` holds form a majority. */
  hasQuorum(isActive: (id: NodeId) => boolean): boolean {
    return this.voters.filter(isActive).length >= this.quorum();
  }
}
