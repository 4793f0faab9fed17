/**
 * The live view's actions (POST /ui/actions): validated field by field into a DashboardAction
 * (a bad body is 400 invalid_request naming the field, as in the client API), then carried out
 * through the same means as the operator scripts: link rules PUT on every node through the
 * admin API (cluster/partitions.ts's convention: a cut link is a drop rule both ways on both
 * ends), a leadership transfer asked of the leader, membership changes asked of the leader,
 * and, in the launcher only, the node processes, new learners (the leader adds the member, the
 * launcher starts its process) and the built-in workload. Each action that was carried out is
 * recorded on the timeline with the sentence it answers.
 */
import { ApiError, invalidRequest } from "../api/api-error.js";
import { NodeRequestError, type AdminCluster } from "../cluster/admin-cluster.js";
import { linkFaults, type LinkRule } from "../wire/link-rules.js";
import type { MembersView } from "../node/membership.js";
import type { ClusterWatcher } from "./cluster-watcher.js";
import type { DashboardAction } from "./dashboard-frame.js";

/**
 * What the launcher can do to its node processes; each answers a sentence. A node that is not
 * the launcher's (added with member add and started by hand) is refused: 409 conflict.
 */
export interface ProcessControl {
  kill(id: string): Promise<string>;
  restart(id: string): Promise<string>;
  pause(id: string): Promise<string>;
  resume(id: string): Promise<string>;
  /**
   * The member `id` was removed by the change at `index`: its process should stop by itself,
   * and the launcher makes sure it does. Answers what it will do, or "" (not its process).
   */
  removed?(id: string, index: number): string;
}

/** Where a node added from the page runs: its id, its addresses and its data folder. */
export interface NewNodePlace {
  readonly id: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  /** Absolute. */
  readonly dataDir: string;
}

/**
 * How the launcher adds a node from the page (member-add): it picks where the node runs, the
 * leader adds it as a learner, then the launcher starts it with market-node --join.
 */
export interface NewNodeControl {
  /**
   * A fresh id (none of `used.ids`, and one whose folder holds nothing yet), free loopback
   * ports (none of `used.ports`) and a data folder beside the others'; or an ApiError.
   */
  place(used: { ids: ReadonlySet<string>; ports: ReadonlySet<number> }): Promise<NewNodePlace>;
  /** Starts the node at `place`, joining through `joinUrls`; answers its pid. */
  start(place: NewNodePlace, joinUrls: readonly string[]): number;
}

export interface WorkloadControl {
  start(clients: number): Promise<string>;
  stop(): Promise<string>;
}

export interface ActionContext {
  readonly watcher: ClusterWatcher;
  /** Requests with the admin token. */
  readonly admin: AdminCluster;
  readonly processes?: ProcessControl;
  readonly newNodes?: NewNodeControl;
  readonly workload?: WorkloadControl;
}

export const processActions = ["kill", "restart", "pause", "resume"] as const;
export const networkActions = ["cut", "heal-link", "isolate", "isolate-leader", "split",
  "heal", "transfer", "member-promote", "member-remove"] as const;
export const workloadActions = ["workload-start", "workload-stop"] as const;
/** Adding a node starts a process: the launcher only. */
export const newNodeActions = ["member-add"] as const;

/**
 * The most members the page lets a cluster grow to: the cluster file's bound, which keeps every
 * quorum and the page's tables small.
 */
export const clusterMembersMax = 9;

/** Clients of the built-in workload: the default and the bound. */
export const workloadClientsDefault = 16;
export const workloadClientsMax = 256;

const fieldsOf: Readonly<Record<string, readonly string[]>> = {
  kill: ["node"], restart: ["node"], pause: ["node"], resume: ["node"], isolate: ["node"],
  cut: ["from", "to"], "heal-link": ["from", "to"],
  "isolate-leader": [], split: [], heal: [], transfer: ["target"],
  "member-promote": ["node"], "member-remove": ["node"], "member-add": [],
  "workload-start": ["clients"], "workload-stop": [],
};

/** The action of a request body, offered by this server (`offered`), or a 400 naming why. */
export function parseAction(body: unknown, ids: readonly string[], offered: readonly string[]):
  DashboardAction {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("body", "must be a JSON object like {\"action\":\"kill\",\"node\":\"n1\"}");
  }
  const record = body as Record<string, unknown>;
  const action = record.action;
  if (typeof action !== "string" || !Object.hasOwn(fieldsOf, action)) {
    throw invalidRequest("action", `must be one of ${Object.keys(fieldsOf).join(", ")}`);
  }
  if (!offered.includes(action)) {
    throw new ApiError("invalid_request", `action ${action} is not offered here (offered: ` +
      `${offered.join(", ") || "none"})`, { field: "action" });
  }
  const allowed = ["action", ...fieldsOf[action]!];
  const extra = Object.keys(record).find((key) => !allowed.includes(key));
  if (extra !== undefined) {
    throw invalidRequest(extra.slice(0, 40), `is not a field of action ${action}`);
  }
  const node = (field: string, optional = false): string | undefined => {
    const value = record[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== "string" || !ids.includes(value)) {
      throw invalidRequest(field, `must be a node id (${ids.join(", ")})`);
    }
    return value;
  };
  switch (action) {
    case "kill": case "restart": case "pause": case "resume": case "isolate":
    case "member-promote": case "member-remove":
      return { action, node: node("node")! };
    case "cut": case "heal-link": {
      const from = node("from")!;
      const to = node("to")!;
      if (from === to) throw invalidRequest("to", "must differ from from");
      return { action, from, to };
    }
    case "transfer": {
      const target = node("target", true);
      return target === undefined ? { action } : { action, target };
    }
    case "workload-start": {
      const clients = record.clients ?? workloadClientsDefault;
      if (typeof clients !== "number" || !Number.isInteger(clients) || clients < 1 ||
        clients > workloadClientsMax) {
        throw invalidRequest("clients", `must be an integer from 1 to ${workloadClientsMax}`);
      }
      return { action, clients };
    }
    case "isolate-leader": case "split": case "heal": case "workload-stop": case "member-add":
      return { action };
    default:
      throw invalidRequest("action", "is not known");
  }
}

/** Carries out `action`; answers its sentence (also put on the timeline). */
export async function runAction(action: DashboardAction, context: ActionContext):
  Promise<string> {
  const message = await carryOut(action, context);
  const node = "node" in action ? action.node : "from" in action ? action.from : null;
  context.watcher.record("action", node, action.action, message);
  return message;
}

async function carryOut(action: DashboardAction, context: ActionContext): Promise<string> {
  const { watcher } = context;
  switch (action.action) {
    case "kill": case "restart": case "pause": case "resume": {
      const processes = context.processes;
      if (processes === undefined) throw notOffered(action.action);
      return await processes[action.action](action.node);
    }
    case "workload-start":
      return await requireWorkload(context).start(action.clients ?? workloadClientsDefault);
    case "workload-stop":
      return await requireWorkload(context).stop();
    case "cut": case "heal-link": {
      const cuts = currentCuts(watcher);
      const key = pairKey(action.from, action.to);
      if (action.action === "cut") cuts.add(key);
      else cuts.delete(key);
      await applyCuts(context, cuts);
      return action.action === "cut"
        ? `cut the link ${action.from} - ${action.to} (both ways)`
        : `healed the link ${action.from} - ${action.to}`;
    }
    case "isolate":
      await applyCuts(context, isolationCuts(watcher.ids, action.node));
      return `isolated ${action.node}: it reaches no other node and none reaches it`;
    case "isolate-leader": {
      const leader = requireLeader(watcher);
      await applyCuts(context, isolationCuts(watcher.ids, leader));
      return `isolated the leader ${leader}: it reaches no other node and none reaches it`;
    }
    case "split": {
      const ids = watcher.ids;
      const leftCount = Math.ceil(ids.length / 2);
      const [left, right] = [ids.slice(0, leftCount), ids.slice(leftCount)];
      const cuts = new Set(left.flatMap((a) => right.map((b) => pairKey(a, b))));
      await applyCuts(context, cuts);
      return `split the cluster into {${left.join(", ")}} and {${right.join(", ")}}`;
    }
    case "heal":
      await applyCuts(context, new Set());
      return "healed every link";
    case "member-add":
      return await addLearner(context);
    case "member-promote": case "member-remove": {
      const leader = requireLeader(watcher);
      // The leader may be a member added after the cluster file: learn it first.
      if (!context.admin.ids.includes(leader)) await context.admin.discover();
      const promote = action.action === "member-promote";
      const answer = await memberRequest(context, leader, promote ? "POST" : "DELETE",
        `/admin/members/${encodeURIComponent(action.node)}${promote ? "/promote" : ""}`);
      const index = (answer as { index?: number }).index ?? 0;
      if (promote) return `promoted ${action.node} to voter (at index ${index})`;
      const watched = context.processes?.removed?.(action.node, index) ?? "";
      return `removed ${action.node} from the cluster (at index ${index}); it stops by itself` +
        (watched === "" ? "" : `; ${watched}`);
    }
    case "transfer": {
      const leader = requireLeader(watcher);
      const target = action.target ?? bestTransferee(watcher, leader);
      const answer = await adminRequest(context, leader, "POST", "/admin/leadership/transfer",
        { target });
      const result = (answer as { result?: string }).result ?? "started";
      return result === "alreadyLeader" ? `${target} is already the leader`
        : `asked ${leader} to hand leadership to ${target}`;
    }
    default:
      throw invalidRequest("action", "is not known");
  }
}

/** Adds at most one node at a time per dashboard: two clicks would pick the same id. */
const addsInFlight = new WeakSet<ActionContext>();

/**
 * member-add: the leader's view of the members bounds the cluster and names the ids used
 * before (ids are never reused); the launcher places the node; the leader adds it as a
 * learner; the launcher starts it, joining through the leader and the other voters.
 */
async function addLearner(context: ActionContext): Promise<string> {
  const newNodes = context.newNodes;
  if (newNodes === undefined) throw notOffered("member-add");
  if (addsInFlight.has(context)) {
    throw new ApiError("conflict", "a node is being added already: wait for it to finish");
  }
  addsInFlight.add(context);
  try {
    const leader = requireLeader(context.watcher);
    // The leader may be a member added after the cluster file: learn it first.
    if (!context.admin.ids.includes(leader)) await context.admin.discover();
    const view = await memberRequest(context, leader, "GET", "/admin/members") as MembersView;
    if (view.members.length >= clusterMembersMax) {
      throw new ApiError("limit_exceeded", `the cluster has ${view.members.length} members, ` +
        `and the page adds nodes up to ${clusterMembersMax} in total: remove one first`,
      { limit: clusterMembersMax });
    }
    const ids = new Set([...context.watcher.ids, ...view.members.map((member) => member.id),
      ...view.removed.map((member) => member.id), ...view.published ?? []]);
    const ports = new Set(view.members.flatMap((member) => [member.peerUrl, member.clientUrl])
      .flatMap((url) => url === null ? [] : [Number(new URL(url).port)]));
    const place = await newNodes.place({ ids, ports });
    const answer = await memberRequest(context, leader, "POST", "/admin/members",
      { id: place.id, peerUrl: place.peerUrl, clientUrl: place.clientUrl, learner: true });
    const index = (answer as { index?: number }).index;
    // The leader first, then the other voters: the node asks each in turn until one answers.
    const voters = new Set(view.conf.voters);
    const joinUrls = [leader, ...view.members.map((member) => member.id)
      .filter((id) => id !== leader && voters.has(id))]
      .flatMap((id) => view.members.find((member) => member.id === id)?.clientUrl ?? [])
      .filter((url, k, urls) => urls.indexOf(url) === k);
    if (joinUrls.length === 0) joinUrls.push(context.admin.urlOf(leader));
    const pid = newNodes.start(place, joinUrls);
    return `added ${place.id} as a learner (at index ${index}) and started it (pid ${pid}, ` +
      `client ${place.clientUrl}, data ${place.dataDir}): it catches up from the leader; ` +
      "promote it once it has";
  } finally {
    addsInFlight.delete(context);
  }
}

function notOffered(action: string): ApiError {
  return new ApiError("invalid_request", `action ${action} is not offered here`,
    { field: "action" });
}

function requireWorkload(context: ActionContext): WorkloadControl {
  if (context.workload === undefined) throw notOffered("workload");
  return context.workload;
}

function requireLeader(watcher: ClusterWatcher): string {
  const leader = watcher.leader();
  if (leader === null) {
    throw new ApiError("no_leader", "no node reports itself leader: an election may be under " +
      "way, try again shortly", { leaderId: null });
  }
  return leader;
}

/** The follower the leader sees furthest along (ties: config order), for a transfer. */
function bestTransferee(watcher: ClusterWatcher, leader: string): string {
  const progress = watcher.statuses().get(leader)?.progress ?? {};
  const followers = watcher.ids.filter((id) => id !== leader);
  const best = followers.reduce<string | null>((chosen, id) => chosen === null ||
    (progress[id]?.match ?? 0) > (progress[chosen]?.match ?? 0) ? id : chosen, null);
  if (best === null) throw new ApiError("conflict", "the cluster has no other node to lead");
  return best;
}

function pairKey(first: string, second: string): string {
  return [first, second].sort().join("|");
}

function isolationCuts(ids: readonly string[], node: string): Set<string> {
  return new Set(ids.filter((id) => id !== node).map((id) => pairKey(node, id)));
}

/** The links cut now, as the nodes' rules say (a node whose rules are unknown adds none). */
export function currentCuts(watcher: ClusterWatcher): Set<string> {
  const faults = watcher.faults();
  const ids = watcher.ids;
  const cuts = new Set<string>();
  for (const [k, first] of ids.entries()) {
    for (const second of ids.slice(k + 1)) {
      const cut = [first, second].some((holder) => {
        const rules = (faults.get(holder) ?? []) as readonly LinkRule[];
        return linkFaults(rules, first, second).drop || linkFaults(rules, second, first).drop;
      });
      if (cut) cuts.add(pairKey(first, second));
    }
  }
  return cuts;
}

/** Every node's rules for the cut links `cuts` (each held, both ways, by both its ends). */
export function planCuts(ids: readonly string[], cuts: ReadonlySet<string>):
  Map<string, LinkRule[]> {
  const plan = new Map<string, LinkRule[]>(ids.map((id) => [id, []]));
  for (const key of cuts) {
    const [first, second] = key.split("|") as [string, string];
    const rules: LinkRule[] = [{ from: first, to: second, drop: true },
      { from: second, to: first, drop: true }];
    plan.get(first)?.push(...rules);
    plan.get(second)?.push(...rules);
  }
  return plan;
}

/** PUTs every node its rules; 503 unavailable naming the nodes that did not take them. */
async function applyCuts(context: ActionContext, cuts: ReadonlySet<string>): Promise<void> {
  const plan = planCuts(context.watcher.ids, cuts);
  const outcomes = await Promise.allSettled([...plan].map(([id, rules]) =>
    adminRequest(context, id, "PUT", "/admin/faults", { rules })));
  const failed = outcomes.flatMap((outcome) => outcome.status === "rejected"
    ? [(outcome.reason as Error).message] : []);
  if (failed.length > 0) {
    throw new ApiError("unavailable", `the rules were not set everywhere: ${failed.join("; ")}`);
  }
}

/**
 * A membership request to the leader: its refusal keeps its meaning (409 conflict: a learner
 * behind, a change in flight; 400: not a learner, not a member), anything else is 503.
 */
async function memberRequest(context: ActionContext, id: string, method: string,
  path: string, body?: unknown): Promise<unknown> {
  try {
    return (await context.admin.request(id, method, path, body)).body;
  } catch (error) {
    if (!(error instanceof NodeRequestError)) throw error;
    const status = /answered (\d{3})/.exec(error.message)?.[1];
    throw new ApiError(status === "409" ? "conflict" : status === "400" ? "invalid_request"
      : "unavailable", error.message);
  }
}

async function adminRequest(context: ActionContext, id: string, method: string, path: string,
  body?: unknown): Promise<unknown> {
  try {
    return (await context.admin.request(id, method, path, body)).body;
  } catch (error) {
    if (!(error instanceof NodeRequestError)) throw error;
    throw new ApiError("unavailable", error.message);
  }
}
