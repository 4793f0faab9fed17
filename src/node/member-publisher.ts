import type { Logger } from "pino";
import type { MemberRecord, NodeId, RaftNode } from "../raft/index.js";
import { decodePublish, encodePublish, MemberTable } from "./members.js";
import type { Scheduler } from "./scheduler.js";

/** How long a publication may go unapplied before it is proposed again. */
const publishRetryMs = 1000;

/**
 * The driver's side of published members (members.ts): it publishes this node's incarnation
 * in the replicated state, applies the publications the log carries to the table of members
 * (which rides in the Raft meta beside the state machine's state, so that it survives
 * compaction), and finds out when this node's id is published under another incarnation.
 * Not the state machine's: every application replicated by this driver needs it.
 *
 * Invariants: the table is the one as of the state machine's applied index (applied with the
 * same entries, reset with the same snapshots); `published` is true exactly when this
 * incarnation's publication is in the table.
 */
export class MemberPublisher {
  /** Published members, as of the applied index (members.ts). */
  private members = new MemberTable();
  /** Whether this incarnation's publication has been applied here. */
  private published = false;
  private lastPublishMs = Number.NEGATIVE_INFINITY;

  /**
   * `incarnation` undefined: this node does not publish itself. `onConflict` is called when a
   * publication applied here shows that this incarnation is not the one the cluster knows.
   */
  constructor(private readonly id: NodeId, private readonly incarnation: string | undefined,
    private readonly scheduler: Scheduler, private readonly logger: Logger,
    private readonly onConflict: (message: string) => void) {}

  /**
   * Starts again from the members of a Raft meta (the state's at restart, or a snapshot's).
   * Returns why this node must stop, when its id is published under another incarnation.
   */
  reset(records: readonly MemberRecord[]): string | null {
    this.members = new MemberTable(records);
    const ours = this.members.get(this.id);
    this.published = ours?.incarnation === this.incarnation;
    if (ours === null || this.published || this.incarnation === undefined) return null;
    return `node ${this.id} was published at index ${ours.index} as incarnation ` +
      `${ours.incarnation}, and this is ${this.incarnation}: this node came back with a new ` +
      "data folder, so its log and vote were lost; it cannot rejoin as a voter under this id";
  }

  /** The members, sorted by id: what a Raft meta records. */
  list(): MemberRecord[] {
    return this.members.list();
  }

  /**
   * Publishes this incarnation in the replicated state (members.ts), again every
   * publishRetryMs until it is applied here: a proposal may be dropped on the way (a leader
   * change, a lost message), and a repeat of the same publication changes nothing.
   */
  maybePublish(node: RaftNode): void {
    const incarnation = this.incarnation;
    if (incarnation === undefined || this.published) return;
    const leaderId = node.leaderId;
    if (leaderId === null) return;
    const nowMs = this.scheduler.nowMs();
    if (nowMs - this.lastPublishMs < publishRetryMs) return;
    this.lastPublishMs = nowMs;
    const data = encodePublish(this.id, incarnation);
    if (node.role === "leader") node.propose(data);
    else node.forward([data]);
  }

  /** Applies a committed publication at `index`. */
  apply(publication: { nodeId: NodeId; incarnation: string }, index: number): void {
    const { nodeId, incarnation } = publication;
    const outcome = this.members.apply(nodeId, incarnation, index);
    if (outcome.kind === "conflict") {
      const message = `node ${nodeId} was published at index ${outcome.first.index} as ` +
        `incarnation ${outcome.first.incarnation}, and again at index ${index} as ` +
        `${incarnation}: that node came back with a new data folder, so its log and vote ` +
        "were lost; it cannot rejoin as a voter under this id";
      if (nodeId === this.id && incarnation === this.incarnation) {
        this.onConflict(message);
        return;
      }
      this.logger.error(message);
      return;
    }
    if (nodeId === this.id && incarnation === this.incarnation && !this.published) {
      this.published = true;
      this.logger.info({ index, incarnation }, `published node ${nodeId} in the cluster`);
    }
  }

  /**
   * The published members as of `appliedIndex`, and those published by entries in the log
   * beyond it: a peer asking whether it ran here before (bootstrap.ts) must hear of a
   * publication this node holds but has not yet learned is committed. Sorted by id.
   */
  publishedMembers(node: RaftNode, appliedIndex: number): MemberRecord[] {
    const table = new MemberTable(this.members.list());
    const status = node.status();
    const low = Math.max(appliedIndex, node.compactedIndex()) + 1;
    for (const entry of node.entries(low, status.lastLogIndex + 1)) {
      const publication = entry.kind === "normal" ? decodePublish(entry.data) : null;
      if (publication !== null) {
        table.apply(publication.nodeId, publication.incarnation, entry.index);
      }
    }
    return table.list();
  }
}

/** This node's id was published by an earlier incarnation: it lost its data. */
export class IdentityConflictError extends Error {
  override readonly name = "IdentityConflictError";
}
