/**
 * messageProblem's report of values out of range. Method: for each message type that carries
 * counts, a valid message, then, field by field in the order the checks run, that field and
 * every later one made impossible (-1, 2.5, NaN, 2^53). Checks: a valid message has no
 * problem; the problem names the first field out of range, with its value, whatever the later
 * ones hold (the violation log shows that field, so its choice must not depend on them).
 */
import { expect } from "chai";
import type { RaftMessage } from "../../src/raft/index.js";
import { messageProblem } from "../../src/raft/peer-checks.js";

const base = { from: "n2", to: "n1", term: 3 };
const meta = { index: 5, term: 2, voters: ["n1", "n2", "n3"] };

/** Each message with its count fields, in the order messageProblem checks them. */
const cases: { message: Record<string, unknown>; fields: string[] }[] = [
  { message: { ...base, type: "requestVote", lastLogIndex: 4, lastLogTerm: 2, transfer: false },
    fields: ["term", "lastLogIndex", "lastLogTerm"] },
  { message: { ...base, type: "preVote", lastLogIndex: 4, lastLogTerm: 2, transfer: false },
    fields: ["term", "lastLogIndex", "lastLogTerm"] },
  { message: { ...base, type: "append", prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 3,
    entries: [] }, fields: ["term", "prevLogIndex", "prevLogTerm", "leaderCommit"] },
  { message: { ...base, type: "appendResponse", success: false, index: 4, hintIndex: 3,
    hintTerm: 2 }, fields: ["term", "index", "hintIndex", "hintTerm"] },
  { message: { ...base, type: "heartbeat", commit: 3, readId: 7 },
    fields: ["term", "commit", "readId"] },
  { message: { ...base, type: "heartbeatResponse", readId: 7 }, fields: ["term", "readId"] },
  { message: { ...base, type: "snapshotResponse", snapshotIndex: 5, offset: 0, nextOffset: 10,
    done: false }, fields: ["term", "snapshotIndex", "offset", "nextOffset"] },
  { message: { ...base, type: "snapshot", meta, offset: 0, data: "abc", done: false },
    fields: ["term", "meta.index", "meta.term", "offset"] },
];

function withField(message: Record<string, unknown>, field: string, value: number):
  Record<string, unknown> {
  if (!field.startsWith("meta.")) return { ...message, [field]: value };
  return { ...message, meta: { ...(message.meta as object), [field.slice(5)]: value } };
}

describe("messageProblem", () => {
  it("names the first field out of range, whatever the later fields hold", () => {
    const impossible = [-1, 2.5, Number.NaN, 2 ** 53];
    for (const { message, fields } of cases) {
      expect(messageProblem(message as unknown as RaftMessage), String(message.type)).to.equal(null);
      for (let first = 0; first < fields.length; first++) {
        for (const [k, value] of impossible.entries()) {
          let bad = message;
          for (let later = first; later < fields.length; later++) {
            // Later fields get other impossible values, so a wrong pick shows in the detail.
            bad = withField(bad, fields[later]!, later === first ? value
              : impossible[(k + later) % impossible.length]!);
          }
          const problem = messageProblem(bad as unknown as RaftMessage);
          expect(problem, `${String(message.type)} ${fields[first]}`).to.deep.equal(
            { reason: "valueOutOfRange", detail: `${fields[first]}=${value}` });
        }
      }
    }
  });
});
