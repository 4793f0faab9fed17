import { z } from "zod";
import type { Entry, MessageType, NodeId, RaftMessage } from "../raft/index.js";

/**
 * The full shape of every RaftMessage as it arrives from a peer, in zod. The core trusts the
 * messages it is given (a missing `entries` would crash it), so nothing reaches it from the
 * network until it has passed this check. These schemas live here and not in raft/ because
 * the core stays free of I/O concerns and of zod; the type checks at the bottom of the file
 * keep them in step with raft/messages.ts.
 *
 * Bounds: strings that name things (ids, read contexts) are short; arrays are bounded far
 * above the core's own defaults (entriesPerAppendMax 256, forwardBatchMax 256, 9 voters),
 * since those are configurable; opaque payloads (`data`) are bounded only by the request body
 * limit (requestBytesMax), which the HTTP layer enforces before parsing.
 */

export const nodeIdLengthMax = 64;
export const readContextLengthMax = 1024;
export const batchMessagesMax = 65_536;
export const entriesPerMessageMax = 65_536;
export const proposalsPerMessageMax = 65_536;
export const votersMax = 64;
/** How many problems an error message names; the rest are counted. */
const issuesNamedMax = 3;

/** Indexes, terms, offsets and read ids: integers in [0, 2^53). */
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const nodeId = z.string().min(1).max(nodeIdLengthMax);

const entrySchema = z.object({
  index: count,
  term: count,
  kind: z.enum(["normal", "config"]),
  data: z.string(),
}).strict();

/** Published members (node/members.ts): one record per node that ever ran in the cluster. */
const memberRecordSchema = z.object({
  id: nodeId,
  incarnation: z.string().min(1).max(128),
  index: count,
}).strict();

/** Member addresses (node/member-addresses.ts), checked again there before use. */
const memberAddressSchema = z.object({
  id: nodeId,
  peerUrl: z.string().min(1).max(256),
  clientUrl: z.string().min(1).max(256),
  removedAtIndex: count.optional(),
}).strict();

const snapshotMetaSchema = z.object({
  index: count,
  term: count,
  voters: z.array(nodeId).max(votersMax),
  learners: z.array(nodeId).max(votersMax).optional(),
  votersOutgoing: z.array(nodeId).max(votersMax).optional(),
  members: z.array(memberRecordSchema).max(1024).optional(),
  addresses: z.array(memberAddressSchema).max(1024).optional(),
}).strict();

const base = { from: nodeId, to: nodeId, term: count };

const voteRequestFields = { ...base, lastLogIndex: count, lastLogTerm: count };

const messageSchemas = [
  z.object({ type: z.literal("preVote"), ...voteRequestFields }).strict(),
  z.object({ type: z.literal("requestVote"), ...voteRequestFields, transfer: z.boolean() })
    .strict(),
  z.object({ type: z.literal("preVoteResponse"), ...base, granted: z.boolean() }).strict(),
  z.object({ type: z.literal("requestVoteResponse"), ...base, granted: z.boolean() }).strict(),
  z.object({
    type: z.literal("append"), ...base, prevLogIndex: count, prevLogTerm: count,
    entries: z.array(entrySchema).max(entriesPerMessageMax), leaderCommit: count,
    commitOnly: z.literal(true).optional(),
  }).strict(),
  z.object({
    type: z.literal("appendResponse"), ...base, success: z.boolean(), index: count,
    hintIndex: count, hintTerm: count,
  }).strict(),
  z.object({ type: z.literal("heartbeat"), ...base, commit: count, readId: count.nullable() })
    .strict(),
  z.object({ type: z.literal("heartbeatResponse"), ...base, readId: count.nullable() }).strict(),
  z.object({ type: z.literal("timeoutNow"), ...base }).strict(),
  z.object({ type: z.literal("readIndex"), ...base,
    context: z.string().max(readContextLengthMax) }).strict(),
  z.object({ type: z.literal("readIndexResponse"), ...base,
    context: z.string().max(readContextLengthMax), index: count.nullable() }).strict(),
  z.object({ type: z.literal("propose"), ...base,
    data: z.array(z.string()).max(proposalsPerMessageMax) }).strict(),
  z.object({
    type: z.literal("snapshot"), ...base, meta: snapshotMetaSchema, offset: count,
    data: z.string(), done: z.boolean(),
  }).strict(),
  z.object({
    type: z.literal("snapshotResponse"), ...base, snapshotIndex: count, offset: count,
    nextOffset: count, installed: z.boolean(),
  }).strict(),
] as const;

export const raftMessageSchema = z.discriminatedUnion("type", [...messageSchemas]);

export const raftBatchSchema = z.array(raftMessageSchema).max(batchMessagesMax);

export type ParseResult =
  | { readonly ok: true; readonly messages: RaftMessage[] }
  | { readonly ok: false; readonly error: string };

/**
 * Checks a peer request body: a JSON array of well-formed RaftMessages (every field of its
 * type, nothing more), each addressed to `self` and sent by a node `isPeer` knows. Any problem
 * refuses the whole batch, with the path of the field at fault, e.g.
 * `messages[0].entries: Required`. Well-formed but semantically impossible messages (a commit
 * past the log) are the core's to ignore, not this check's.
 */
export function parseRaftMessages(body: unknown, self: NodeId,
  isPeer: (id: NodeId) => boolean): ParseResult {
  let messages = fastParseBatch(body);
  if (messages === null) {
    const parsed = raftBatchSchema.safeParse(body);
    if (!parsed.success) return { ok: false, error: describeIssues(parsed.error) };
    // `satisfies` is also the type check that the schema's output is a RaftMessage.
    messages = parsed.data satisfies RaftMessage[];
  }
  for (let position = 0; position < messages.length; position++) {
    const message = messages[position]!;
    if (message.to !== self) {
      return { ok: false, error: `messages[${position}].to: addressed to ${message.to}, ` +
        `this node is ${self}` };
    }
    if (!isPeer(message.from)) {
      return { ok: false, error: `messages[${position}].from: ${message.from} is not a ` +
        "known peer of this node" };
    }
  }
  return { ok: true, messages };
}

/**
 * The messages every write exchanges (append, appendResponse, heartbeat, heartbeatResponse,
 * propose), checked as their schemas above check them, written out: zod's generic walk was
 * 7% of a follower's CPU at one client (43 µs a write). Returns what raftBatchSchema.parse
 * would (fresh objects, keys in schema order), or null when a message is of another type or
 * fails any check: the caller then asks zod, which accepts or refuses it and names the field.
 * test/transport/peer-message-fast.test.ts checks the two agree on every message it makes.
 */
export function fastParseBatch(body: unknown): RaftMessage[] | null {
  if (!Array.isArray(body) || body.length > batchMessagesMax) return null;
  const messages: RaftMessage[] = [];
  for (const value of body as unknown[]) {
    const message = fastParseMessage(value);
    if (message === null) return null;
    messages.push(message);
  }
  return messages;
}

/**
 * The keys of each fast-path type, type included, from its schema (so that they cannot drift).
 * Why a count is enough to check the key set: every field check below refuses `undefined`, and
 * no field name is a property of Object.prototype, so when every field is valid each is an own
 * key; with the count equal there is no other key. (JSON.parse makes every key own, `__proto__`
 * included, so that one is counted.) The one optional field, an append's commitOnly, has a
 * check of its own: present, it must be true and counts; absent, the count is one less.
 */
const fastKeyCounts: ReadonlyMap<string, number> = new Map(messageSchemas
  .filter((schema) => ["append", "appendResponse", "heartbeat", "heartbeatResponse", "propose"]
    .includes(schema.shape.type.value))
  .map((schema) => [schema.shape.type.value, Object.keys(schema.shape).length]));
/** The same for an entry. */
const entryKeyCount = Object.keys(entrySchema.shape).length;

function fastParseMessage(value: unknown): RaftMessage | null {
  if (!isPlainRecord(value)) return null;
  const type = value.type;
  if (typeof type !== "string") return null;
  const keyCount = fastKeyCounts.get(type);
  if (keyCount === undefined) return null;
  // An append without commitOnly has one key fewer than its schema.
  const optionalAbsent = type === "append" && value.commitOnly === undefined ? 1 : 0;
  if (Object.keys(value).length !== keyCount - optionalAbsent) return null;
  const { from, to, term } = value;
  if (!isNodeId(from) || !isNodeId(to) || !isCount(term)) return null;
  switch (type) {
    case "append": {
      const { prevLogIndex, prevLogTerm, entries, leaderCommit, commitOnly } = value;
      if (!isCount(prevLogIndex) || !isCount(prevLogTerm) || !isCount(leaderCommit)) return null;
      if (!(commitOnly === undefined || commitOnly === true)) return null;
      const parsedEntries = fastParseEntries(entries);
      if (parsedEntries === null) return null;
      return commitOnly === true
        ? { type, from, to, term, prevLogIndex, prevLogTerm, entries: parsedEntries,
          leaderCommit, commitOnly }
        : { type, from, to, term, prevLogIndex, prevLogTerm, entries: parsedEntries,
          leaderCommit };
    }
    case "appendResponse": {
      const { success, index, hintIndex, hintTerm } = value;
      if (typeof success !== "boolean" || !isCount(index) || !isCount(hintIndex)
        || !isCount(hintTerm)) return null;
      return { type, from, to, term, success, index, hintIndex, hintTerm };
    }
    case "heartbeat": {
      const { commit, readId } = value;
      if (!isCount(commit) || !(readId === null || isCount(readId))) return null;
      return { type, from, to, term, commit, readId };
    }
    case "heartbeatResponse": {
      const { readId } = value;
      if (!(readId === null || isCount(readId))) return null;
      return { type, from, to, term, readId };
    }
    case "propose": {
      const { data } = value;
      if (!Array.isArray(data) || data.length > proposalsPerMessageMax) return null;
      for (const item of data as unknown[]) if (typeof item !== "string") return null;
      return { type, from, to, term, data: [...data as string[]] };
    }
    default:
      return null;
  }
}

function fastParseEntries(value: unknown): Entry[] | null {
  if (!Array.isArray(value) || value.length > entriesPerMessageMax) return null;
  const entries: Entry[] = [];
  for (const entry of value as unknown[]) {
    if (!isPlainRecord(entry) || Object.keys(entry).length !== entryKeyCount) return null;
    const { index, term, kind, data } = entry;
    if (!isCount(index) || !isCount(term) || !(kind === "normal" || kind === "config")
      || typeof data !== "string") return null;
    entries.push({ index, term, kind, data });
  }
  return entries;
}

/** A JSON object: not null, not an array. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** As `count` above: an integer in [0, 2^53). */
function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0
    && value <= Number.MAX_SAFE_INTEGER;
}

/** As `nodeId` above. */
function isNodeId(value: unknown): value is NodeId {
  return typeof value === "string" && value.length >= 1 && value.length <= nodeIdLengthMax;
}

function describeIssues(error: z.ZodError): string {
  const named = error.issues.slice(0, issuesNamedMax)
    .map((issue) => `${fieldPath(issue.path)}: ${issue.message}`);
  const more = error.issues.length - named.length;
  return named.join("; ") + (more > 0 ? `; and ${more} more` : "");
}

/** [0, "entries", 2, "term"] -> "messages[0].entries[2].term". */
export function fieldPath(path: readonly (string | number)[]): string {
  return "messages" + path.map((part) =>
    typeof part === "number" ? `[${part}]` : `.${part}`).join("");
}

// Type-level checks that keep this file in step with raft/messages.ts: every message type has
// a schema, and no schema accepts a type the core does not know. (The output-to-RaftMessage
// direction is checked by the `satisfies` in parseRaftMessages.)
type SchemaMessageType = z.infer<typeof raftMessageSchema>["type"];
type Same<Left, Right> = [Left] extends [Right] ? ([Right] extends [Left] ? true : false)
  : false;
export const schemaCoversEveryMessageType: Same<SchemaMessageType, MessageType> = true;
