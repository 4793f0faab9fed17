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
 */
import { createHash, timingSafeEqual } from "node:crypto";
import express, { type RequestHandler } from "express";
import type { Logger } from "pino";
import { linkRuleError, type LinkRule } from "../transport/faulty-transport.js";
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
  return router;
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
