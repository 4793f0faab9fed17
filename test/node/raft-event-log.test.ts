/**
 * RaftEventLog (src/node/raft-event-log.ts): each Raft event becomes one structured info line
 * (event, term, index, its fields, and a sentence), and the recent ones are kept in a bounded
 * ring that GET /v1/cluster/events pages through by seq.
 */
import { Writable } from "node:stream";
import { expect } from "chai";
import pino from "pino";
import { RaftEventLog } from "../../src/node/raft-event-log.js";
import type { RaftEvent } from "../../src/raft/index.js";

function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: "info", base: { node: "n1" } }, stream);
  return { logger, lines: () => chunks.join("").trim().split("\n").filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const refusal: RaftEvent = { kind: "voteRefused", term: 7, index: 42, candidate: "n3",
  preVote: false, reason: "logBehind",
  detail: "candidate's log (term 5, index 40) is behind ours (term 6, index 42)" };
const stepDown: RaftEvent = { kind: "roleChanged", term: 7, index: 42, from: "leader",
  to: "follower", leaderId: null, reason: "checkQuorum" };

describe("RaftEventLog", () => {
  it("logs a vote refusal and a CheckQuorum step-down at info, with node, term, index and reason",
    () => {
      const { logger, lines } = capturingLogger();
      new RaftEventLog("n1", logger).record([refusal, stepDown], 0, 1_700_000_000_000);
      const [first, second] = lines();
      expect(first).to.include({ level: 30, node: "n1", event: "voteRefused", term: 7, index: 42,
        candidate: "n3", reason: "logBehind",
        msg: "refused vote to n3 (logBehind): candidate's log (term 5, index 40) is behind " +
          "ours (term 6, index 42)" });
      expect(second).to.include({ level: 30, node: "n1", event: "roleChanged", term: 7,
        index: 42, from: "leader", to: "follower", reason: "checkQuorum",
        msg: "became follower at term 7: CheckQuorum: it has not heard from a majority " +
          "within an election timeout" });
    });

  it("keeps the newest events in a bounded ring, paged by seq, and says how many it lost", () => {
    const { logger } = capturingLogger();
    const events = new RaftEventLog("n1", logger, 3);
    expect(events.page(0, 10)).to.deep.equal({ node: "n1", events: [], lastSeq: 0, missed: 0 });
    const many = Array.from({ length: 5 }, (_, k): RaftEvent => ({ ...refusal, term: k + 1 }));
    events.record(many, 0, 1000);
    const all = events.page(0, 10);
    expect(all.events.map((record) => [record.seq, record.term])).to.deep.equal(
      [[3, 3], [4, 4], [5, 5]]);
    expect(all).to.include({ lastSeq: 5, missed: 2 });
    expect(all.events[0]).to.include({ node: "n1", timeMs: 1000, kind: "voteRefused" });
    expect(events.page(3, 1).events.map((record) => record.seq)).to.deep.equal([4]);
    expect(events.page(3, 10)).to.include({ missed: 0 });
    expect(events.page(5, 10).events).to.deep.equal([]);
  });

  it("logs how many events a pass dropped beyond the core's bound", () => {
    const { logger, lines } = capturingLogger();
    new RaftEventLog("n1", logger).record([], 12, 0);
    expect(lines()[0]).to.include({ event: "eventsDropped", count: 12 });
  });
});
