/**
 * The admin API of DESIGN.md §3, mounted under /admin on the client port: the network faults
 * of this node's FaultyTransport (what the partition scripts and chaos runs drive) and
 * leadership transfer. Every request must carry `authorization: Bearer <adminToken>`; anything
 * else is 401 unauthorized, checked before the body is even parsed, so an unauthenticated
 * caller learns nothing about the node.
 *
 * | method and path                  | body                  | success               |
 * |----------------------------------|-----------------------|-----------------------|
 * | `GET /admin/faults`              |                       | `200 {rules}`         |
 * | `PUT /admin/faults`              | `{rules: LinkRule[]}` | `200 {rules}` (all replaced) |
 * | `DELETE /admin/faults`           |                       | `200 {rules: []}`     |
 * | `POST /admin/leadership/transfer`| `{target}`            | `200 {result, target}` |
 * | `GET /admin/node`                |                       | `200 {id, pid, dataDir, argv, execArgv}` |
 * | `GET /admin/members`             |                       | `200 MembersView`     |
 * | `POST /admin/members`            | `{id, peerUrl, clientUrl, learner}` | `201 {index, conf, member}` |
 * | `POST /admin/members/:id/promote`|                       | `200 {index, conf, member}` |
 * | `DELETE /admin/members/:id`      |                       | `200 {index, conf}`   |
 *
 * A membership change goes to the leader (409 `conflict` with `leaderId` elsewhere) and is
 * answered once it has committed and applied there; a change the leader refuses is 409 with
 * the core's `reason` (changeInFlight, leaderNotReady, learnerBehind, wouldLoseQuorum, idUsed,
 * addressUsed), and one proposed but not seen to apply in time is 504 `timeout`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import express, { type RequestHandler } from "express";
import type { Logger } from "pino";
import type {
  MembershipOutcome,
  MembershipRequest,
  MembersView,
  MemberView,
} from "../node/membership.js";
import { nodeIdPattern, type ConfState } from "../raft/index.js";
import { linkRuleError, type LinkRule } from "../wire/link-rules.js";
import { memberUrlProblem } from "../node/member-addresses.js";
import { ApiError, invalidRequest } from "./api-error.js";
import { jsonBody } from "./json-body.js";

/** The part of FaultyTransport the admin API drives; tests pass a fake. */
export interface AdminFaults {
  /** Replaces every rule; may throw RangeError on an invalid rule (validated here first). */
  setRules(rules: readonly LinkRule[]): void;
  clearRules(): void;
  rules(): LinkRule[];
}

export interface AdminOptions {
  /** The cluster's admin token (cluster.config.json `tokens.adminToken`). */
  readonly adminToken: string;
  readonly faults: AdminFaults;
  /**
   * Starts handing leadership to `target`; returns the core's result kind: "started",
   * "alreadyLeader", "notLeader" or "unknownTarget".
   */
  transferLeadership(target: string): string;
  /** Membership (GET/POST/DELETE /admin/members); absent: those routes answer 404. */
  readonly membership?: AdminMembership;
  /**
   * This node's process (GET /admin/node): how the operator scripts find, signal and start
   * again a node that is not in the cluster file (one added with member add); absent: 404.
   */
  readonly process?: () => AdminNodeProcess;
}

export interface AdminNodeProcess {
  readonly id: string;
  readonly pid: number;
  readonly dataDir: string;
  /** The command line that started it (node, the script, its options). */
  readonly argv: readonly string[];
  /** Node's own options on that command line, before the script (not in argv). */
  readonly execArgv: readonly string[];
}

export interface AdminMembership {
  /** This node's view of the members. */
  members(): MembersView;
  /** Proposes a membership change (leader only) and waits until it applies. */
  changeMembership(request: MembershipRequest): Promise<MembershipOutcome>;
}

/** The most rules one PUT may set: every directed link of a 9-node cluster, many times over. */
export const adminRulesMax = 1000;

const linkRuleFields: ReadonlySet<string> = new Set(["from", "to", "drop", "dropRate",
  "delayMs", "jitterMs", "duplicateRate"]);

export function adminRouter(options: AdminOptions, logger: Logger, bodyLimitBytes: number):
  express.Router {
  const router = express.Router();
  router.use(requireAdminToken(options.adminToken));
  router.use(jsonBody(bodyLimitBytes));

  router.get("/faults", (_request, response) => {
    response.json({ rules: options.faults.rules() });
  });
  router.put("/faults", (request, response) => {
    const rules = validateRules(request.body);
    options.faults.setRules(rules);
    logger.warn({ rules }, "fault rules replaced");
    response.json({ rules: options.faults.rules() });
  });
  router.delete("/faults", (_request, response) => {
    options.faults.clearRules();
    logger.warn("fault rules cleared");
    response.json({ rules: [] });
  });
  router.post("/leadership/transfer", (request, response) => {
    const target = (request.body as { target?: unknown } | undefined)?.target;
    if (typeof target !== "string" || target.length === 0) {
      throw invalidRequest("target", "must be the id of a member");
    }
    const result = options.transferLeadership(target);
    logger.info({ target, result }, "leadership transfer requested");
    if (result === "unknownTarget") {
      throw new ApiError("invalid_request", `target ${target} is not a member of this cluster`,
        { field: "target", result });
    }
    if (result === "notLeader") {
      throw new ApiError("conflict", "this node is not the leader: send the transfer to the " +
        "leader (GET /v1/cluster/status names it)", { result });
    }
    response.json({ result, target });
  });
  const membership = (): AdminMembership => {
    if (options.membership === undefined) {
      throw new ApiError("not_found", "this node does not manage members");
    }
    return options.membership;
  };
  router.get("/node", (_request, response) => {
    if (options.process === undefined) throw new ApiError("not_found", "this node does not say");
    response.json(options.process());
  });
  router.get("/members", (_request, response) => {
    response.json(membership().members());
  });
  router.post("/members", async (request, response) => {
    const add = validateAddMember(request.body);
    const outcome = await membership().changeMembership(add);
    logger.info({ request: add, outcome: outcome.kind }, "member add requested");
    response.status(201).json(membershipAnswer(outcome, add.id, membership().members()));
  });
  router.post("/members/:id/promote", async (request, response) => {
    const id = validateMemberId(request.params.id);
    const outcome = await membership().changeMembership({ kind: "promote", id });
    logger.info({ id, outcome: outcome.kind }, "member promote requested");
    response.json(membershipAnswer(outcome, id, membership().members()));
  });
  router.delete("/members/:id", async (request, response) => {
    const id = validateMemberId(request.params.id);
    const outcome = await membership().changeMembership({ kind: "remove", id });
    logger.info({ id, outcome: outcome.kind }, "member remove requested");
    const { member: _member, ...answer } = membershipAnswer(outcome, id, membership().members());
    response.json(answer);
  });
  return router;
}


function validateMemberId(id: unknown): string {
  if (typeof id !== "string" || !nodeIdPattern.test(id)) {
    throw invalidRequest("id", "must be 1-32 letters, digits, _ or -");
  }
  return id;
}

const addMemberFields: ReadonlySet<string> = new Set(["id", "peerUrl", "clientUrl", "learner"]);

/** The body of POST /admin/members, or a 400 naming the first bad field. */
export function validateAddMember(body: unknown): MembershipRequest & { kind: "add" } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("body", "must be an object {id, peerUrl, clientUrl, learner}");
  }
  const fields = body as Record<string, unknown>;
  const unknownField = Object.keys(fields).find((name) => !addMemberFields.has(name));
  if (unknownField !== undefined) {
    throw invalidRequest(unknownField, "is not a field of a new member (fields: id, peerUrl, " +
      "clientUrl, learner)");
  }
  const id = validateMemberId(fields.id);
  for (const field of ["peerUrl", "clientUrl"]) {
    const problem = memberUrlProblem(fields[field]);
    if (problem !== null) throw invalidRequest(field, problem);
  }
  if (fields.learner !== undefined && typeof fields.learner !== "boolean") {
    throw invalidRequest("learner", "must be true or false");
  }
  return { kind: "add", id, peerUrl: fields.peerUrl as string,
    clientUrl: fields.clientUrl as string, learner: fields.learner === true };
}

/** The 2xx body of an applied change, or the ApiError of any other outcome. */
function membershipAnswer(outcome: MembershipOutcome, id: string, view: MembersView):
  { index: number; conf: ConfState; member: MemberView | null } {
  switch (outcome.kind) {
    case "applied":
      return { index: outcome.index, conf: outcome.conf,
        member: view.members.find((member) => member.id === id) ?? null };
    case "notLeader":
      throw new ApiError("conflict", outcome.leaderId === null
        ? "this node is not the leader, and no leader is known now: retry in a moment"
        : `this node is not the leader: send the change to ${outcome.leaderId}`,
      { reason: "notLeader", leaderId: outcome.leaderId });
    case "refused":
      if (outcome.reason === "invalid") {
        throw new ApiError("invalid_request", outcome.message, { reason: outcome.reason });
      }
      throw new ApiError("conflict", outcome.message, { reason: outcome.reason });
    case "overloaded":
      throw new ApiError("unavailable", "the leader has too many uncommitted entries: retry " +
        "in a moment", { reason: "overloaded" });
    case "timeout":
    case "unknown":
      throw new ApiError("timeout", "the change was proposed, but this node did not see it " +
        "apply in time (a leader change, or a lost majority): GET /admin/members shows whether " +
        "it is in force", { reason: outcome.kind });
  }
}

/**
 * 401 unless the request carries the admin token. Both sides are hashed before the
 * constant-time comparison, so neither the token's content nor its length leaks through timing.
 */
export function requireAdminToken(adminToken: string): RequestHandler {
  const expected = digest(adminToken);
  return (request, _response, next) => {
    const header = request.headers.authorization ?? "";
    const match = /^Bearer (.+)$/.exec(header);
    if (match?.[1] === undefined || !timingSafeEqual(digest(match[1]), expected)) {
      throw new ApiError("unauthorized", "the admin API requires `authorization: Bearer " +
        "<adminToken>` with the cluster's admin token");
    }
    next();
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The rules of a PUT body, or a 400 invalid_request naming the first bad field. */
export function validateRules(body: unknown): LinkRule[] {
  const rules = (body as { rules?: unknown } | undefined)?.rules;
  if (typeof body !== "object" || body === null || !Array.isArray(rules)) {
    throw invalidRequest("rules", "must be an array of link rules");
  }
  if (rules.length > adminRulesMax) {
    throw invalidRequest("rules", `must hold at most ${adminRulesMax} rules`);
  }
  return rules.map((rule: unknown, position) => {
    const field = `rules[${position}]`;
    if (typeof rule !== "object" || rule === null || Array.isArray(rule)) {
      throw invalidRequest(field, "must be an object");
    }
    const unknownField = Object.keys(rule).find((name) => !linkRuleFields.has(name));
    if (unknownField !== undefined) {
      throw invalidRequest(`${field}.${unknownField}`, "is not a link rule field (fields: " +
        `${[...linkRuleFields].join(", ")})`);
    }
    const error = linkRuleError(rule as LinkRule);
    if (error !== null) throw new ApiError("invalid_request", `${field}: ${error}`, { field });
    return rule as LinkRule;
  });
}
