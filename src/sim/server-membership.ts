import { judgeJoin } from "../cli/market-node-join.js";
import type { MembershipOutcome, MembershipRequest } from "../node/membership.js";
import {
  applyConfChange,
  members,
  type ConfChange,
  type ConfState,
  type MemberAddress,
  type NodeId,
  type Rng,
} from "../raft/index.js";
import type { SimClock } from "./sim-clock.js";
import type { ServerCluster, ServerSimNode } from "./server-cluster.js";
import { confKey, confOfServer, type MembershipChecker } from "./server-membership-checker.js";

/**
 * The operator of the server simulator's cluster (`npm run sim -- --membership`, issue 13): the
 * membership changes of the random schedule, made as an operator makes them, through
 * RaftServer.changeMembership (what POST/DELETE /admin/members call) at the node that leads:
 *  - add a learner: a brand-new id, never used before; once the change is in the log, a new
 *    node with an empty disk starts as market-node --join starts it (the member view judged
 *    by judgeJoin: the bootstrap voters and the members' addresses), and it is promoted once
 *    caught up (a promotion refused because the learner lags is asked again later);
 *  - remove a follower, or a learner; remove the leader;
 *  - replace a voter: add a learner, promote it, remove the old one (removal first when the
 *    cluster has five voters already);
 *  - a lost disk: the node is gone for good (it never starts again under its id: the lost-disk
 *    rules of market-node, bootstrap.ts and the identity file, forbid it, and the checker
 *    asserts that it never votes or acknowledges again), and the README's runbook replaces it;
 *    a node whose disk a fault damaged is replaced the same way.
 * One runbook at a time, one request at a time. The cluster keeps 3 to 5 voters, and the nodes
 * gone for good stay a minority of every voter set in force or proposed (Raft's fault model, as
 * the nemesis keeps it for damaged disks): a change that would break that is not asked for.
 */

export type MembershipKind = "addLearner" | "promoteLearner" | "removeFollower" |
  "removeLeader" | "replaceVoter" | "loseDisk";

/** Drawn beside the nemesis's faults (server-simulator.ts), with these weights. */
export const membershipWeights: Readonly<Record<MembershipKind, number>> = {
  addLearner: 3, promoteLearner: 2, removeFollower: 2, removeLeader: 2, replaceVoter: 3,
  loseDisk: 1,
};

interface Step {
  readonly kind: "add" | "promote" | "remove";
  id: NodeId;
}

const votersMin = 3;
const votersMax = 5;
/** Voters and learners together, at most. */
const membersMax = 7;
/** An operator gives up waiting for an answer after this long, and looks again. */
const requestTimeoutMs = 1500;
/** Configurations of the last accepted requests, still counted as perhaps in force. */
const proposedConfsMax = 5;

/** Where a simulated node listens (SimTransport routes by id; the URLs are for the book). */
export function simAddressOf(id: NodeId): MemberAddress {
  return { id, peerUrl: `http://${id}.sim:7100`, clientUrl: `http://${id}.sim:8100` };
}

export interface MembershipOperatorOptions {
  readonly clock: SimClock;
  readonly cluster: ServerCluster;
  readonly rng: Rng;
  readonly checker: MembershipChecker;
  readonly note: (line: string) => void;
  /** The fsync time of new nodes' disks. */
  readonly fsyncMsMax: number;
  /** The first number of the ids it gives (n<number>), past the bootstrap nodes'. */
  readonly firstIdNumber: number;
}

export class MembershipOperator {
  private plan: Step[] = [];
  private inFlight = false;
  private nextIdNumber: number;
  /** Ids added and not started yet: started once the change naming them is in the log. */
  private readonly joining = new Set<NodeId>();
  private proposedConfs: ConfState[] = [];
  /** Cleared at the heal: from then on it only starts the nodes it added (stop()). */
  private operating = true;
  readonly stats = { requests: 0, applied: 0, refused: 0, joined: 0, disksLost: 0 };

  constructor(private readonly options: MembershipOperatorOptions) {
    this.nextIdNumber = options.firstIdNumber;
  }

  /** A node is gone for good: its disk is lost or damaged, or it was removed. */
  static gone(node: ServerSimNode): boolean {
    return node.lostAtMs !== null || node.damaged || node.retired !== null;
  }

  /** A schedule event: a runbook to follow (none while another runs), or a lost disk. */
  inject(kind: MembershipKind): void {
    const leader = this.options.cluster.leader();
    if (leader === null) return;
    const conf = confOfServer(leader.server!);
    if (kind === "loseDisk") {
      this.loseDisk(conf);
      return;
    }
    if (this.plan.length > 0) return;
    const { rng } = this.options;
    const voters = conf.voters;
    const followers = voters.filter((id) => id !== leader.id);
    switch (kind) {
      case "addLearner": {
        if (members(conf).length >= membersMax - 1) return;
        const id = this.newId();
        this.plan = voters.length < votersMax ? [{ kind: "add", id }, { kind: "promote", id }]
          : [{ kind: "add", id }];
        break;
      }
      case "promoteLearner": {
        const learners = conf.learners.filter((id) => !this.goneId(id));
        if (learners.length === 0 || voters.length >= votersMax) return;
        this.plan = [{ kind: "promote", id: learners[rng.nextInt(learners.length)]! }];
        break;
      }
      case "removeFollower": {
        const removable = [...conf.learners, ...(voters.length > votersMin ? followers : [])];
        if (removable.length === 0) return;
        this.plan = [{ kind: "remove", id: removable[rng.nextInt(removable.length)]! }];
        break;
      }
      case "removeLeader":
        if (voters.length <= votersMin) return;
        this.plan = [{ kind: "remove", id: leader.id }];
        break;
      case "replaceVoter":
        this.plan = this.replacement(voters[rng.nextInt(voters.length)]!, voters.length);
        break;
    }
    this.options.note(`operator plans ${describePlan(this.plan)}`);
  }

  /** The runbook that replaces voter `id` with a new node. */
  private replacement(id: NodeId, voterCount: number): Step[] {
    const added = this.newId();
    const grow: Step[] = [{ kind: "add", id: added }, { kind: "promote", id: added }];
    const remove: Step = { kind: "remove", id };
    return voterCount < votersMax ? [...grow, remove] : [remove, ...grow];
  }

  private newId(): NodeId {
    return `n${this.nextIdNumber++}`;
  }

  private goneId(id: NodeId): boolean {
    const node = this.options.cluster.nodes.get(id);
    return node !== undefined && MembershipOperator.gone(node);
  }

  /**
   * A node loses its whole disk: a voter, chosen so that the nodes gone for good stay a
   * minority of every voter set in force. It crashes and never runs again.
   */
  private loseDisk(conf: ConfState): void {
    const { cluster, rng, clock, note } = this.options;
    const candidates = conf.voters.filter((id) => !this.goneId(id) && this.mayLose(id));
    if (candidates.length === 0) return;
    const node = cluster.node(candidates[rng.nextInt(candidates.length)]!);
    node.lostAtMs = clock.nowMs();
    node.retired = "its disk was lost";
    cluster.crash(node.id);
    this.stats.disksLost++;
    note(`${node.id} loses its disk: gone for good, to be replaced (README runbook)`);
  }

  /**
   * Whether `id` may be lost or damaged too: the nodes gone for good would stay at most
   * floor((n - 1) / 2) of every voter set of n in force, in the log, or proposed.
   */
  mayLose(id: NodeId): boolean {
    return this.confsInForce().every((conf) => this.goneMinority(conf, id));
  }

  private goneMinority(conf: ConfState, extra: NodeId | null): boolean {
    const sets = conf.votersOutgoing.length > 0 ? [conf.voters, conf.votersOutgoing] : [conf.voters];
    return sets.every((voters) => voters.filter((voter) => voter === extra ||
      this.goneId(voter)).length <= Math.floor((voters.length - 1) / 2));
  }

  private confsInForce(): ConfState[] {
    const { cluster } = this.options;
    const confs = cluster.upNodes().map((node) => confOfServer(node.server!));
    const leader = cluster.leader();
    if (leader !== null) confs.push(leader.server!.members().conf);
    return [...confs, ...this.proposedConfs];
  }

  /** The heal: no more changes are asked for; the nodes added still start (startJoiners). */
  stop(): void {
    this.operating = false;
  }

  /** Runs now and then: starts the nodes added, and takes the plan's next step. */
  tick(): void {
    if (!this.operating) {
      this.startJoiners();
      return;
    }
    if (this.inFlight) return;
    const leader = this.options.cluster.leader();
    if (leader === null) return;
    this.startJoiners();
    const conf = confOfServer(leader.server!);
    // Done steps are dropped (a bounded loop: the plan holds three steps at most).
    while (this.plan.length > 0 && stepDone(this.plan[0]!, conf)) this.plan.shift();
    if (this.plan.length === 0) this.planReplacementOfGone(conf, leader.id);
    const step = this.plan[0];
    if (step === undefined) return;
    const problem = this.stepProblem(step, conf);
    if (problem !== null) {
      this.options.note(`operator abandons ${describePlan(this.plan)}: ${problem}`);
      this.plan = [];
      return;
    }
    this.request(leader, step, conf);
  }

  /** A member gone for good is replaced (a voter) or removed (a learner). */
  private planReplacementOfGone(conf: ConfState, leaderId: NodeId): void {
    const gone = members(conf).filter((id) => this.goneId(id) && id !== leaderId);
    if (gone.length === 0) return;
    const id = gone[0]!;
    this.plan = conf.learners.includes(id) ? [{ kind: "remove", id }]
      : this.replacement(id, conf.voters.length);
    this.options.note(`operator plans ${describePlan(this.plan)} (${id} is gone for good)`);
  }

  /** Why `step` may not be asked for now (the plan is then abandoned), or null. */
  private stepProblem(step: Step, conf: ConfState): string | null {
    const voters = conf.voters.length;
    switch (step.kind) {
      case "add":
        if (members(conf).length >= membersMax) return "the cluster has enough members";
        break;
      case "promote":
        if (voters >= votersMax) return `${voters} voters already`;
        if (this.goneId(step.id)) return `${step.id} is gone`;
        // Not a learner yet: its add is still to commit (or was lost: then its id is refused).
        if (!conf.learners.includes(step.id)) return null;
        break;
      case "remove":
        if (conf.voters.includes(step.id) && voters <= votersMin) return `only ${voters} voters`;
        break;
    }
    const next = applyConfChange(conf, changeOf(step));
    if (next.ok && !this.goneMinority(next.conf, null)) {
      return `the nodes gone for good would be half of ${confKey(next.conf)}`;
    }
    return null;
  }

  private request(leader: ServerSimNode, step: Step, conf: ConfState): void {
    const { clock, note, checker } = this.options;
    if (step.kind === "promote" && !conf.learners.includes(step.id)) return;
    const server = leader.server!;
    const address = simAddressOf(step.id);
    const request: MembershipRequest = step.kind === "add"
      ? { kind: "add", id: step.id, peerUrl: address.peerUrl, clientUrl: address.clientUrl,
        learner: true }
      : { kind: step.kind, id: step.id };
    this.inFlight = true;
    this.stats.requests++;
    // Started once the change is in the log, whatever the answer (it may come too late).
    if (step.kind === "add" && !this.options.cluster.nodes.has(step.id)) this.joining.add(step.id);
    // Perhaps in force from now on, whatever the answer (none may come).
    const next = applyConfChange(conf, changeOf(step));
    if (next.ok) this.proposedConfs = [...this.proposedConfs, next.conf].slice(-proposedConfsMax);
    let settled = false;
    const timeout = clock.schedule(null, requestTimeoutMs, () => {
      if (settled) return;
      settled = true;
      this.inFlight = false;
      note(`operator: ${describeStep(step)} at ${leader.id}: no answer`);
    });
    const answeredBefore = checker.hasAnsweredLeader(step.id);
    const answer = server.changeMembership(request);
    // The core decides at once whether it takes the change (RaftNode.proposeConfChange).
    void answer.then((outcome) => {
      if (step.kind === "promote" && !["refused", "notLeader", "overloaded"].includes(outcome.kind)) {
        checker.checkPromotion(leader.id, step.id, answeredBefore);
      }
    });
    void answer.then((outcome) => {
      if (settled) return;
      settled = true;
      clock.cancel(timeout);
      this.inFlight = false;
      checker.checkAnswer(leader, server, outcome);
      this.noteOutcome(leader, step, outcome);
      // As an operator who promotes at once: the new node has only just started (or not yet),
      // so the promotion is refused until it catches up, and asked again.
      if (step.kind === "add" && outcome.kind === "applied") clock.schedule(null, 0, () => this.tick());
    });
  }

  private noteOutcome(leader: ServerSimNode, step: Step,
    outcome: MembershipOutcome): void {
    const { note } = this.options;
    const detail = outcome.kind === "refused" ? ` (${outcome.reason}: ${outcome.message})`
      : outcome.kind === "applied" ? ` at ${outcome.index}` : "";
    note(`operator: ${describeStep(step)} at ${leader.id}: ${outcome.kind}${detail}`);
    if (outcome.kind === "applied") this.stats.applied++;
    if (outcome.kind !== "refused") return;
    this.stats.refused++;
    if (outcome.reason === "idUsed" && step.kind === "add") {
      // An add whose entry was lost with a leader still marks its id as seen: a new id.
      const fresh = this.newId();
      const old = step.id;
      for (const each of this.plan) if (each.id === old) each.id = fresh;
      note(`operator: ${old} is taken, ${fresh} instead`);
    } else if (outcome.reason === "invalid") {
      this.plan = [];
    }
  }

  /**
   * Starts the nodes added whose change the leader's log holds, as market-node --join does:
   * it asks a member (GET /admin/members, here the leader's view) and joins with what the
   * answer says, or is refused.
   */
  startJoiners(): void {
    const { cluster, note } = this.options;
    const leader = cluster.leader();
    if (leader === null) return;
    for (const id of [...this.joining]) {
      if (cluster.nodes.has(id)) {
        this.joining.delete(id);
        continue;
      }
      const view = { ...leader.server!.members(), clusterId: "sim" };
      if (!view.members.some((member) => member.id === id)) continue;
      this.joining.delete(id);
      const address = simAddressOf(id);
      const verdict = judgeJoin({ urls: ["http://leader.sim:8100"], id, peerUrl: address.peerUrl,
        clientUrl: address.clientUrl, adminToken: "" }, view);
      if (verdict.kind !== "join") {
        note(`${id} may not join: ${verdict.kind === "refuse" ? verdict.message : verdict.reason}`);
        continue;
      }
      const node = cluster.addNode(id, verdict.bootstrap.voters, verdict.bootstrap.addresses,
        verdict.join.addresses);
      node.logFaults.fsyncMsMax = this.options.fsyncMsMax;
      cluster.start(id);
      this.stats.joined++;
      note(`${id} starts with an empty disk and joins as a ${verdict.role} (bootstrap voters ` +
        `${verdict.bootstrap.voters.join(",")})`);
    }
  }
}

function changeOf(step: Step): ConfChange {
  return { ops: [step.kind === "add" ? { type: "addLearner", id: step.id }
    : step.kind === "promote" ? { type: "promote", id: step.id } : { type: "remove", id: step.id }] };
}

function stepDone(step: Step, conf: ConfState): boolean {
  switch (step.kind) {
    case "add":
      return members(conf).includes(step.id);
    case "promote":
      return conf.voters.includes(step.id);
    case "remove":
      return !members(conf).includes(step.id);
  }
}

function describeStep(step: Step): string {
  return `${step.kind} ${step.id}${step.kind === "add" ? " as a learner" : ""}`;
}

function describePlan(plan: readonly Step[]): string {
  return plan.map(describeStep).join(", then ");
}
