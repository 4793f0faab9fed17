/**
 * The peer messages' fast path (fastParseBatch in peer-message-schema.ts) against zod, its
 * oracle: whatever the fast path accepts, zod accepts too and gives exactly the same messages
 * (the same JSON, keys in the same order); every well-formed message of a fast-path type is
 * taken by the fast path (else it would save nothing); the rest goes to zod. Method: a seeded
 * PRNG (seed below; a failure names the case) makes well-formed messages of every type, with
 * boundary values (0, 2^53 - 1, 64-unit ids, empty and non-ASCII data), and then breaks each in
 * one way: a key dropped, added or duplicated under __proto__, a value of another kind, a
 * negative, fractional or unsafe number, an id too short or too long, an entry broken the same
 * ways, a batch that is not an array. Bodies go through JSON text, as a peer's do.
 */
import { expect } from "chai";
import type { RaftMessage } from "../../src/raft/index.js";
import { SeededRng } from "../../src/raft/rng.js";
import {
  batchMessagesMax,
  entriesPerMessageMax,
  fastParseBatch,
  nodeIdLengthMax,
  proposalsPerMessageMax,
  raftBatchSchema,
} from "../../src/transport/peer-message-schema.js";
import { sampleMessages } from "./helpers.js";

const seed = 7321;
const casesPerType = 400;
const fastTypes = ["append", "appendResponse", "heartbeat", "heartbeatResponse", "propose"];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function pick<T>(rng: SeededRng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

function count(rng: SeededRng): number {
  return pick(rng, [0, 1, 7, 1_000_000, Number.MAX_SAFE_INTEGER, rng.nextInt(2 ** 31)]);
}

function nodeId(rng: SeededRng): string {
  return pick(rng, ["n1", "a", "x".repeat(nodeIdLengthMax), "node-ü"]);
}

function data(rng: SeededRng): string {
  return pick(rng, ["", "{\"op\":\"buy\",\"qty\":1}", "ü\u2028\"\\", "x".repeat(300)]);
}

/** A well-formed message of `type`, with values drawn from the boundaries. */
function wellFormed(rng: SeededRng, type: string): JsonObject {
  const base = { type, from: nodeId(rng), to: nodeId(rng), term: count(rng) };
  switch (type) {
    case "append":
      return { ...base, prevLogIndex: count(rng), prevLogTerm: count(rng),
        entries: Array.from({ length: rng.nextInt(4) }, () => ({ index: count(rng),
          term: count(rng), kind: pick(rng, ["normal", "config"]), data: data(rng) })),
        leaderCommit: count(rng), ...rng.nextInt(3) === 0 ? { commitOnly: true } : {} };
    case "appendResponse":
      return { ...base, success: rng.nextInt(2) === 0, index: count(rng),
        hintIndex: count(rng), hintTerm: count(rng) };
    case "heartbeat":
      return { ...base, commit: count(rng), readId: rng.nextInt(2) === 0 ? null : count(rng) };
    case "heartbeatResponse":
      return { ...base, readId: rng.nextInt(2) === 0 ? null : count(rng) };
    case "propose":
      return { ...base, data: Array.from({ length: rng.nextInt(4) }, () => data(rng)) };
    default:
      return JSON.parse(JSON.stringify(
        sampleMessages("n1", "n2")[type as RaftMessage["type"]])) as JsonObject;
  }
}

/** Another value than `value`, of any kind, valid or not. */
function otherValue(rng: SeededRng): Json {
  return pick<Json>(rng, [null, true, "7", -1, 1.5, 2 ** 53, 2 ** 53 - 1, 0, [], {}, "",
    "y".repeat(nodeIdLengthMax + 1), "normal", "config", ...fastTypes, "timeoutNow", [1],
    [{}]]);
}

/** A key put in place of a valid one: the key count stays right, the key set does not. */
function strangerKey(rng: SeededRng): string {
  return pick(rng, ["extra", "constructor", "toString", "hasOwnProperty", "__proto__"]);
}

/** `record` with `key` renamed to a stranger, as JSON text (`__proto__` must be an own key). */
function renamedKeyText(rng: SeededRng, record: JsonObject, key: string): string {
  const value = record[key]!;
  delete record[key];
  const stranger = strangerKey(rng);
  const json = JSON.stringify(record);
  return `{${JSON.stringify(stranger)}:${JSON.stringify(value)}${json === "{}" ? "" : ","}` +
    `${json.slice(1)}`;
}

/** `message` broken (or, by chance, left valid) in one way; the JSON text of the batch. */
function mutate(rng: SeededRng, message: JsonObject): { what: string; text: string } {
  const copy = JSON.parse(JSON.stringify(message)) as JsonObject;
  const keys = Object.keys(copy);
  const key = pick(rng, keys);
  const entries = copy.entries;
  switch (rng.nextInt(9)) {
    case 0:
      delete copy[key];
      return { what: `without ${key}`, text: JSON.stringify([copy]) };
    case 1:
      copy.extra = otherValue(rng);
      return { what: "with an extra key", text: JSON.stringify([copy]) };
    case 2: {
      // A key JSON.parse makes own: the strict check must see it.
      const text = JSON.stringify([copy]).replace(/^\[\{/, "[{\"__proto__\":{\"x\":1},");
      return { what: "with a __proto__ key", text };
    }
    case 3:
      if (Array.isArray(entries) && entries.length > 0) {
        const entry = entries[rng.nextInt(entries.length)] as JsonObject;
        const entryKey = pick(rng, Object.keys(entry));
        const how = rng.nextInt(3);
        if (how === 0) delete entry[entryKey];
        else if (how === 1) entry[entryKey] = otherValue(rng);
        else entry.extra = otherValue(rng);
        return { what: `with entry field ${entryKey} broken`, text: JSON.stringify([copy]) };
      }
      copy[key] = otherValue(rng);
      return { what: `with ${key} = ${JSON.stringify(copy[key])}`, text: JSON.stringify([copy]) };
    case 4:
      return { what: "as a bare object", text: JSON.stringify(copy) };
    case 7:
      return { what: `with ${key} renamed`, text: `[${renamedKeyText(rng, copy, key)}]` };
    case 8: {
      if (!Array.isArray(entries) || entries.length === 0) {
        return { what: `with ${key} renamed`, text: `[${renamedKeyText(rng, copy, key)}]` };
      }
      // The entry's text spliced into the message's, in place of a marker.
      const at = rng.nextInt(entries.length);
      const entry = entries[at] as JsonObject;
      const entryText = renamedKeyText(rng, entry, pick(rng, Object.keys(entry)));
      entries[at] = "ENTRY-MARKER";
      return { what: "with an entry key renamed",
        text: `[${JSON.stringify(copy).replace("\"ENTRY-MARKER\"", entryText)}]` };
    }
    case 5:
      return { what: "beside a valid one", text: JSON.stringify([message, { ...copy,
        [key]: otherValue(rng) }]) };
    default:
      copy[key] = otherValue(rng);
      return { what: `with ${key} = ${JSON.stringify(copy[key])}`, text: JSON.stringify([copy]) };
  }
}

/** The fast path agrees with zod on `text`; returns whether the fast path took it. */
function checkAgainstZod(text: string, what: string): boolean {
  const fast = fastParseBatch(JSON.parse(text) as unknown);
  if (fast === null) return false;
  const zod = raftBatchSchema.safeParse(JSON.parse(text) as unknown);
  expect(zod.success, `zod refuses what the fast path took: ${what}: ${text}`).to.equal(true);
  expect(JSON.stringify(fast), `${what}: ${text}`).to.equal(JSON.stringify(zod.data));
  expect(fast, `${what}: ${text}`).to.deep.equal(zod.data);
  return true;
}

describe("peer messages: the fast path agrees with zod (fastParseBatch)", () => {
  it(`takes every well-formed message of its types, exactly as zod parses it (seed ${seed})`,
    () => {
      const rng = new SeededRng(seed);
      for (const type of fastTypes) {
        for (let k = 0; k < casesPerType; k++) {
          const message = wellFormed(rng, type);
          const text = JSON.stringify([message, wellFormed(rng, type)]);
          expect(checkAgainstZod(text, `well-formed ${type}`), text).to.equal(true);
        }
      }
      expect(checkAgainstZod("[]", "an empty batch")).to.equal(true);
    });

  it(`never takes what zod refuses, and leaves every other type to zod (seed ${seed})`, () => {
    const rng = new SeededRng(seed + 1);
    let refusedByBoth = 0;
    for (const type of Object.keys(sampleMessages("n1", "n2"))) {
      const sample = wellFormed(rng, type);
      expect(fastParseBatch(JSON.parse(JSON.stringify([sample])) as unknown) !== null,
        `fast path for ${type}`).to.equal(fastTypes.includes(type));
      for (let k = 0; k < casesPerType; k++) {
        const { what, text } = mutate(rng, wellFormed(rng, type));
        if (!checkAgainstZod(text, `${type} ${what}`)
          && !raftBatchSchema.safeParse(JSON.parse(text) as unknown).success) refusedByBoth++;
      }
    }
    // Most mutations break the message; the ones that leave it valid (a count replaced by
    // another count) are checked above like any other.
    expect(refusedByBoth).to.be.greaterThan(Object.keys(sampleMessages("n1", "n2")).length *
      casesPerType / 2);
  });

  it("takes an append's commitOnly only as true, and an append without it", () => {
    const append = { type: "append", from: "a", to: "b", term: 1, prevLogIndex: 2,
      prevLogTerm: 1, entries: [], leaderCommit: 2 };
    expect(checkAgainstZod(JSON.stringify([append]), "without commitOnly")).to.equal(true);
    expect(checkAgainstZod(JSON.stringify([{ ...append, commitOnly: true }]), "commitOnly true"))
      .to.equal(true);
    for (const value of [false, null, "true", 1, {}]) {
      const text = JSON.stringify([{ ...append, commitOnly: value }]);
      expect(checkAgainstZod(text, `commitOnly ${JSON.stringify(value)}`), text).to.equal(false);
      expect(raftBatchSchema.safeParse(JSON.parse(text) as unknown).success, text).to.equal(false);
    }
  });

  it("agrees with zod at each array's bound and one past it", () => {
    const entry = { index: 1, term: 1, kind: "normal", data: "" };
    const append = (entryCount: number): JsonObject => ({ type: "append", from: "a", to: "b",
      term: 1, prevLogIndex: 0, prevLogTerm: 0,
      entries: Array.from({ length: entryCount }, () => entry), leaderCommit: 0 });
    const propose = (dataCount: number): JsonObject => ({ type: "propose", from: "a", to: "b",
      term: 1, data: Array.from({ length: dataCount }, () => "x") });
    const heartbeat = { type: "heartbeat", from: "a", to: "b", term: 1, commit: 1, readId: null };
    const cases: [string, Json][] = [
      ["entries", [append(entriesPerMessageMax)]],
      ["propose data", [propose(proposalsPerMessageMax)]],
      ["batch", Array.from({ length: batchMessagesMax }, () => heartbeat)],
      ["entries + 1", [append(entriesPerMessageMax + 1)]],
      ["propose data + 1", [propose(proposalsPerMessageMax + 1)]],
      ["batch + 1", Array.from({ length: batchMessagesMax + 1 }, () => heartbeat)],
    ];
    for (const [what, body] of cases) {
      const text = JSON.stringify(body);
      const zodAccepts = raftBatchSchema.safeParse(JSON.parse(text) as unknown).success;
      expect(zodAccepts, what).to.equal(!what.endsWith("+ 1"));
      expect(checkAgainstZod(text, what), what).to.equal(zodAccepts);
    }
  });

  it("keeps -0 as zod does", () => {
    const text = "[{\"type\":\"heartbeatResponse\",\"from\":\"a\",\"to\":\"b\"," +
      "\"term\":-0,\"readId\":null}]";
    expect(checkAgainstZod(text, "term -0")).to.equal(true);
    expect(Object.is(fastParseBatch(JSON.parse(text) as unknown)![0]!.term, -0)).to.equal(true);
  });

});
