/**
 * The RaftLog's own invariants (src/raft/log.ts), checked where its callers hand it an index:
 * a commit beyond the log, an apply beyond the commit, a slice outside the log. Method: call
 * each with indexes just outside the bounds, and with NaN and undefined, which a bug upstream
 * (a field read from the wrong object) would carry. Checks: each throws InvariantError, and the
 * log is unchanged; indexes inside the bounds pass.
 */
import { expect } from "chai";
import { InvariantError, type Entry } from "../../src/raft/index.js";
import { RaftLog } from "../../src/raft/log.js";

function logOf(lastIndex: number, committed: number): RaftLog {
  const entries: Entry[] = [];
  for (let index = 1; index <= lastIndex; index++) {
    entries.push({ index, term: 1, kind: "normal", data: "" });
  }
  return new RaftLog(null, entries, committed);
}

describe("RaftLog invariants", () => {
  it("refuses a commit beyond the log, an apply beyond the commit, NaN or undefined", () => {
    const log = logOf(3, 2);
    for (const bad of [4, Number.NaN, undefined as unknown as number]) {
      expect(() => log.commitTo(bad)).to.throw(InvariantError, /commit/);
      expect(() => log.appliedTo(bad)).to.throw(InvariantError, /applied/);
    }
    expect(log.committed).to.equal(2);
    log.commitTo(3);
    log.appliedTo(3);
    expect([log.committed, log.applied]).to.deep.equal([3, 3]);
  });

  it("refuses a slice outside the log, or with NaN bounds", () => {
    const log = logOf(3, 3);
    expect(log.slice(1, 4).map((entry) => entry.index)).to.deep.equal([1, 2, 3]);
    for (const [low, high] of [[0, 2], [1, 5], [Number.NaN, 2], [1, Number.NaN]] as const) {
      expect(() => log.slice(low, high)).to.throw(InvariantError, /slice/);
    }
  });
});
