/**
 * The driver's side of membership changes (dissertation chapter 4; the core's rules are in
 * src/raft/conf-state.ts and RaftNode.proposeConfChange): the configuration as of the applied
 * index (what a Raft meta records), the members' addresses (member-addresses.ts), the admin
 * API's change requests and their waiters, and this node's own removal.
 *
 * When a configuration takes effect: quorums follow the newest configuration in the log, from
 * the moment it is appended (the dissertation's and hashicorp's rule, the core's); this module
 * follows the configuration as of the applied index, because a snapshot at index i must carry
 * the configuration of i, and the admin API answers a change once it has applied here.
 *
 * Invariants: `appliedConf` is the configuration after the entries up to the state machine's
 * applied index (the same pure applyConfChange as the core, so the two agree); every change
 * request is answered exactly once (Proposals); a node that applies its own removal reports it
 * once.
 */
import {
  applyConfChange,
  confOfMeta,
  decodeConfChange,
  emptyConfState,
  isJoint,
  isVoter,
  members as membersOf,
  type ConfChange,
  type ConfChangeOp,
  type ConfState,
  type Entry,
  type NodeId,
  type SnapshotMeta,
} from "../raft/index.js";
import type { DriverContext } from "./driver-context.js";
import {
  encodeChangeContext,
  MemberAddresses,
  memberIdPattern,
  memberUrlProblem,
  normalizeMemberUrl,
  type MemberAddress,
} from "./member-addresses.js";
import { Proposals } from "./proposals.js";

/** What the admin API asks for (DESIGN.md §3: /admin/members). */
export type MembershipRequest =
  | { readonly kind: "add"; readonly id: NodeId; readonly peerUrl: string;
    readonly clientUrl: string; readonly learner: boolean }
  | { readonly kind: "promote"; readonly id: NodeId }
  | { readonly kind: "remove"; readonly id: NodeId };

export type MembershipOutcome =
  /** Committed and applied here at `index`; `conf` is the configuration after it. */
  | { readonly kind: "applied"; readonly index: number; readonly conf: ConfState }
  | { readonly kind: "notLeader"; readonly leaderId: NodeId | null }
  /** Refused before anything was appended; `reason` is the core's, or "idUsed"/"addressUsed". */
  | { readonly kind: "refused"; readonly reason: string; readonly message: string }
  | { readonly kind: "overloaded" }
  /** Appended, but not known whether it commits (a leader change, a timeout): look again. */
  | { readonly kind: "unknown"; readonly leaderId: NodeId | null }
  | { readonly kind: "timeout" };

/** One member as GET /admin/members shows it. */
export interface MemberView {
  readonly id: NodeId;
  /** "voter", "learner", or "outgoing" (a voter of the configuration being left, while joint). */
  readonly role: "voter" | "learner" | "outgoing";
  readonly peerUrl: string | null;
  readonly clientUrl: string | null;
  /** The leader's replication state for it (leader only, not for itself). */
  readonly match?: number;
  readonly next?: number;
  readonly progress?: string;
}

/** GET /admin/members: this node's view. */
export interface MembersView {
  readonly nodeId: NodeId;
  readonly leaderId: NodeId | null;
  readonly term: number;
  /** The configuration of the newest change in this node's log (the one quorums follow). */
  readonly conf: ConfState;
  readonly joint: boolean;
  /** The index of the last entry this node's log holds (for a learner's catch-up). */
  readonly lastLogIndex: number;
  readonly members: readonly MemberView[];
  /** Nodes removed from the cluster, whose ids are never given again. */
  readonly removed: readonly { readonly id: NodeId; readonly removedAtIndex: number }[];
  /** The voters the cluster was bootstrapped with: where a joining node's log starts from. */
  readonly bootstrapVoters: readonly NodeId[];
  /** Their addresses: the replicated address book before any change. */
  readonly bootstrapAddresses: readonly MemberAddress[];
  /** Ids that have run in the cluster (published members, as of this node's log). */
  readonly published?: readonly NodeId[];
  /** The cluster id (the node's identity file), added by the process that serves the view. */
  readonly clusterId?: string;
}

/** At most this many change requests wait at once: changes go one at a time anyway. */
const waitingChangesMax = 16;

export interface MembershipOptions {
  /** The voters the cluster file bootstrapped (or a joining node's record of them). */
  readonly bootstrapVoters: readonly NodeId[];
  /** The addresses of the bootstrap nodes (the cluster file's, as recorded at bootstrap). */
  readonly bootstrapAddresses: readonly MemberAddress[];
  /**
   * Addresses known from elsewhere (a joining node's view of the members when it joined): the
   * transport's until the log names them; never in the replicated book.
   */
  readonly knownAddresses?: readonly MemberAddress[];
  readonly timeoutMs: number;
  /** The addresses a node may need to reach changed: the transport's peer list. */
  readonly onPeersChanged?: (known: MemberAddress[]) => void;
  /** This node applied a change that removes it from the cluster, at `index`. */
  readonly onRemoved?: (index: number) => void;
  /** Ids that ever ran in the cluster (the published members): never given again. */
  readonly publishedIds: () => readonly NodeId[];
}

export class Membership {
  private appliedConf: ConfState;
  readonly addresses: MemberAddresses;
  private readonly waiting: Proposals<ConfState>;
  private removedReported = false;
  private clientUrlsCache: { readonly conf: ConfState; readonly generation: number;
    readonly urls: Readonly<Record<NodeId, string>> } | null = null;

  constructor(private readonly context: DriverContext, private readonly options: MembershipOptions,
    base: SnapshotMeta | null, logged: readonly Entry[]) {
    this.appliedConf = confOfMeta(base ?? undefined) ?? emptyConfState(options.bootstrapVoters);
    this.addresses = new MemberAddresses(options.bootstrapAddresses, options.onPeersChanged);
    this.addresses.reset(base?.addresses, options.bootstrapAddresses);
    this.addresses.noteKnown(options.knownAddresses ?? []);
    this.noteLogged(logged);
    this.waiting = new Proposals(context, waitingChangesMax, options.timeoutMs);
    this.checkRemoved();
  }

  /**
   * Reports this node's removal when the state it starts from (at restart, or from a leader's
   * snapshot) already has it removed: the entry that removed it may have applied before a
   * crash that came before the report, or inside the snapshot.
   */
  private checkRemoved(): void {
    const own = this.addresses.list().find((address) => address.id === this.context.id);
    if (own?.removedAtIndex === undefined || membersOf(this.appliedConf).includes(own.id)) return;
    this.reportRemoved(own.removedAtIndex);
  }

  private reportRemoved(index: number): void {
    if (this.removedReported) return;
    this.removedReported = true;
    this.context.logger.warn({ index }, `node ${this.context.id} was removed from the cluster ` +
      `by the change at index ${index}`);
    this.options.onRemoved?.(index);
  }

  /** The configuration as of the applied index. */
  conf(): ConfState {
    return this.appliedConf;
  }

  /** Entries this node's log took (restored, appended or received): their new addresses. */
  noteLogged(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.kind !== "config") continue;
      const change = decodeConfChange(entry.data);
      if (change !== null) this.addresses.noteLogged(change);
    }
  }

  /** A committed entry applies (in log order). */
  noteApplied(entry: Entry): void {
    if (entry.kind !== "config") {
      this.waiting.answer(entry, null);
      return;
    }
    const change = decodeConfChange(entry.data);
    const result = change === null ? null : applyConfChange(this.appliedConf, change);
    if (change === null || result?.ok !== true) {
      this.waiting.answer(entry, null);
      return;
    }
    const wasMember = membersOf(this.appliedConf).includes(this.context.id);
    this.appliedConf = result.conf;
    this.addresses.noteApplied(change, entry.index);
    this.waiting.answer(entry, result.conf);
    if (wasMember && !membersOf(result.conf).includes(this.context.id)) {
      this.reportRemoved(entry.index);
    }
  }

  /** A snapshot from the leader replaced the state: its configuration and addresses. */
  reset(meta: SnapshotMeta): void {
    this.appliedConf = confOfMeta(meta) ?? this.appliedConf;
    this.addresses.reset(meta.addresses, this.options.bootstrapAddresses);
    this.waiting.settleUpTo(meta.index);
    this.checkRemoved();
  }

  stop(): void {
    this.waiting.stop();
  }

  /** What a Raft meta records beside the configuration. */
  metaAddresses(): readonly MemberAddress[] {
    return this.addresses.list();
  }

  /** Proposes a change and waits until it applies here (or fails). Leader only. */
  change(request: MembershipRequest): Promise<MembershipOutcome> {
    const { node } = this.context;
    if (node.role !== "leader") {
      return Promise.resolve({ kind: "notLeader", leaderId: this.context.leaderId() ?? node.leaderId });
    }
    const built = this.build(request);
    if ("refused" in built) return Promise.resolve(built.refused);
    const result = node.proposeConfChange(built.change);
    switch (result.kind) {
      case "notLeader":
      case "transferring":
        return Promise.resolve({ kind: "notLeader", leaderId: result.leaderIdHint });
      case "overloaded":
        return Promise.resolve({ kind: "overloaded" });
      case "refused":
        return Promise.resolve({ kind: "refused", reason: result.reason, message: result.message });
      case "accepted":
        break;
    }
    // The added member's address now, not when the Ready holding the entry runs: a heartbeat
    // may leave for it before then (RaftServer.sendEarlyWhileBusy). As noteLogged() does.
    this.addresses.noteLogged(built.change);
    this.context.logger.info({ index: result.index, term: result.term, request },
      `membership change proposed: ${describeRequest(request)}`);
    return this.waiting.wait(result.index, result.term).then((outcome) => {
      switch (outcome.kind) {
        case "applied":
          return { kind: "applied", index: outcome.index, conf: outcome.result };
        case "timeout":
          return { kind: "timeout" };
        case "notLeader":
        case "unknown":
          return { kind: "unknown", leaderId: outcome.leaderId };
        case "overloaded":
          return { kind: "overloaded" };
      }
    });
  }

  /** The change a request asks for, or why it is refused before the core sees it. */
  private build(request: MembershipRequest): { change: ConfChange } |
    { refused: MembershipOutcome } {
    const refuse = (reason: string, message: string): { refused: MembershipOutcome } =>
      ({ refused: { kind: "refused", reason, message } });
    if (!memberIdPattern.test(request.id)) {
      return refuse("invalid", "id must be 1-32 letters, digits, _ or -");
    }
    if (request.kind !== "add") {
      const op: ConfChangeOp = request.kind === "promote"
        ? { type: "promote", id: request.id } : { type: "remove", id: request.id };
      return { change: { ops: [op] } };
    }
    for (const [field, url] of [["peerUrl", request.peerUrl], ["clientUrl", request.clientUrl]]) {
      const problem = memberUrlProblem(url);
      if (problem !== null) return refuse("invalid", `${field} ${problem}`);
    }
    const id = request.id;
    const quorumConf = this.context.node.status().quorumConf;
    if (membersOf(quorumConf).includes(id) || this.addresses.everUsed(id) ||
      this.options.publishedIds().includes(id)) {
      const address = this.addresses.get(id);
      return refuse("idUsed", address?.removedAtIndex !== undefined
        ? `${id} was removed from the cluster at index ${address.removedAtIndex}: an id is ` +
          "never given to a new node (its old votes and log may still be out there); choose a new id"
        : `${id} is already a member of this cluster (or was one): choose a new id`);
    }
    const peerUrl = normalizeMemberUrl(request.peerUrl);
    const clientUrl = normalizeMemberUrl(request.clientUrl);
    const live = membersOf(quorumConf);
    const clash = this.addresses.known().find((address) => live.includes(address.id) &&
      (address.peerUrl === peerUrl || address.clientUrl === clientUrl));
    if (clash !== undefined) {
      return refuse("addressUsed", `member ${clash.id} already listens at ` +
        `${clash.peerUrl === peerUrl ? peerUrl : clientUrl}`);
    }
    if (peerUrl === clientUrl) return refuse("invalid", "peerUrl and clientUrl must differ");
    if (new URL(peerUrl).hostname !== new URL(clientUrl).hostname) {
      return refuse("invalid", "peerUrl and clientUrl must name the same host (a node has one " +
        "listen address)");
    }
    // One voter and a new voter that has not caught up: the quorum becomes both, and nothing
    // commits until the new one runs (a wrong URL would wedge the cluster for good).
    if (!request.learner && quorumConf.voters.length === 1 && !isJoint(quorumConf)) {
      return refuse("wouldLoseQuorum", "a cluster of one voter grows through a learner: add " +
        `${id} as a learner, start it, then promote it once it has caught up`);
    }
    const op: ConfChangeOp = request.learner ? { type: "addLearner", id } : { type: "addVoter", id };
    return { change: { ops: [op], context: encodeChangeContext([{ id, peerUrl, clientUrl }]) } };
  }

  /**
   * The client URL of each member of the newest configuration (NodeStatus.clientUrls). Kept
   * until the configuration or the addresses change: every status request asks for it.
   */
  clientUrls(): Readonly<Record<NodeId, string>> {
    const conf = this.context.node.quorumConf;
    const cached = this.clientUrlsCache;
    if (cached?.conf === conf && cached.generation === this.addresses.generation) return cached.urls;
    const urls: Record<NodeId, string> = {};
    for (const id of membersOf(conf)) {
      const url = this.addresses.get(id)?.clientUrl;
      if (url !== undefined) urls[id] = url;
    }
    this.clientUrlsCache = { conf, generation: this.addresses.generation,
      urls: Object.freeze(urls) };
    return this.clientUrlsCache.urls;
  }

  /** GET /admin/members. */
  view(): MembersView {
    const { node } = this.context;
    const status = node.status();
    const conf = status.quorumConf;
    const roleOf = (id: NodeId): MemberView["role"] => conf.voters.includes(id) ? "voter"
      : conf.learners.includes(id) ? "learner" : "outgoing";
    const members = membersOf(conf).map((id): MemberView => {
      const address = this.addresses.get(id);
      const progress = id === status.id ? undefined : status.progress[id];
      return { id, role: roleOf(id), peerUrl: address?.peerUrl ?? null,
        clientUrl: address?.clientUrl ?? null,
        ...(progress === undefined ? {} : { match: progress.match, next: progress.next,
          progress: progress.state }) };
    });
    const removed = this.addresses.list().flatMap((address) =>
      address.removedAtIndex === undefined || isVoter(conf, address.id) ||
      conf.learners.includes(address.id) ? []
        : [{ id: address.id, removedAtIndex: address.removedAtIndex }]);
    return { nodeId: status.id, leaderId: status.leaderId, term: status.term, conf,
      joint: conf.votersOutgoing.length > 0, lastLogIndex: status.lastLogIndex, members,
      removed, bootstrapVoters: [...this.options.bootstrapVoters],
      bootstrapAddresses: [...this.options.bootstrapAddresses] };
  }
}

function describeRequest(request: MembershipRequest): string {
  switch (request.kind) {
    case "add":
      return `add ${request.id} as a ${request.learner ? "learner" : "voter"} (peer ` +
        `${request.peerUrl}, client ${request.clientUrl})`;
    case "promote":
      return `promote learner ${request.id} to voter`;
    case "remove":
      return `remove ${request.id}`;
  }
}
