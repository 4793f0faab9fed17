/**
 * The pure part of `market-cli cluster events` (cli-events.ts). Goal: the events of several
 * nodes come out as one stream ordered by time, then node, then seq; each is one aligned line
 * with time, node, term, index, kind and sentence; and the follower's cursors print every
 * event once, see a node's restart (its seq going back, or a different event at the seq it
 * printed last) and read that node again from its first event, report a node that stops
 * answering once and again when it answers, and say how many events a node no longer held.
 * Method: pages built by hand, fed to EventFollower as the polls would.
 */
import { expect } from "chai";
import type { RaftEventPage, RaftEventRecord } from "../../src/client/index.js";
import {
  EventFollower,
  eventLine,
  eventsHeader,
  mergeEvents,
  timeOfDay,
} from "../../src/cli/cli-events.js";

/** An event of `node` with `seq` at `timeMs` (a roleChanged, its fields beside the point). */
function event(node: string, seq: number, timeMs: number, term = 2): RaftEventRecord {
  return { kind: "roleChanged", term, index: 7, from: "candidate", to: "leader", leaderId: node,
    reason: "electionWon", seq, timeMs, node, message: `became leader at term ${term}` };
}

function page(node: string, events: RaftEventRecord[], lastSeq: number, missed = 0):
  RaftEventPage {
  return { node, events, lastSeq, missed };
}

describe("cluster events: merging and lines", () => {
  it("merges the nodes' events by time, then node, then seq", () => {
    const merged = mergeEvents([
      [event("n2", 1, 100), event("n2", 2, 300)],
      [event("n1", 5, 300), event("n1", 4, 300), event("n1", 6, 50)],
      [],
    ]);
    expect(merged.map(({ node, seq }) => `${node}/${seq}`))
      .to.deep.equal(["n1/6", "n2/1", "n1/4", "n1/5", "n2/2"]);
  });

  it("prints one aligned line per event: time, node, term, index, kind, sentence", () => {
    const timeMs = new Date(2025, 0, 2, 14, 3, 7, 42).getTime();
    expect(timeOfDay(timeMs)).to.equal("14:03:07.042");
    const line = eventLine(event("n1", 3, timeMs, 12), 2);
    expect(line).to.equal("14:03:07.042  n1    12    7        roleChanged        " +
      "became leader at term 12");
    const header = eventsHeader(2, { color: false });
    expect(header).to.match(/^TIME\s+NODE\s+TERM\s+INDEX\s+KIND\s+MESSAGE$/);
    // Columns line up: each header starts where its value does.
    for (const [name, value] of [["NODE", "n1"], ["TERM", "12"], ["INDEX", "7 "],
      ["KIND", "roleChanged"], ["MESSAGE", "became"]] as const) {
      expect(header.indexOf(name), name).to.equal(line.indexOf(value));
    }
  });
});

describe("cluster events --follow: cursors", () => {
  const nodes = new Map([["http://a", "n1"], ["http://b", "n2"]]);

  it("prints each event once, asking from the last one seen to recognise the same run", () => {
    const follower = new EventFollower(nodes);
    expect(follower.afterFor("http://a")).to.equal(0);
    const first = follower.take("http://a", { page: page("n1",
      [event("n1", 1, 10), event("n1", 2, 20)], 2) });
    expect(first.events.map(({ seq }) => seq)).to.deep.equal([1, 2]);
    expect(first).to.deep.include({ askAgain: false, notes: [] });
    // The next poll asks after seq 1, so the answer repeats seq 2: not printed again.
    expect(follower.afterFor("http://a")).to.equal(1);
    const second = follower.take("http://a", { page: page("n1",
      [event("n1", 2, 20), event("n1", 3, 30)], 3) });
    expect(second.events.map(({ seq }) => seq)).to.deep.equal([3]);
    const quiet = follower.take("http://a", { page: page("n1", [event("n1", 3, 30)], 3) });
    expect(quiet.events).to.deep.equal([]);
    expect(follower.afterFor("http://a")).to.equal(2);
  });

  it("reads a restarted node again from its first event: seq went backwards", () => {
    const follower = new EventFollower(nodes);
    follower.take("http://b", { page: page("n2", [event("n2", 6, 60), event("n2", 7, 70)], 7) });
    expect(follower.afterFor("http://b")).to.equal(6);
    const restarted = follower.take("http://b", { page: page("n2", [], 2) });
    expect(restarted.askAgain).to.equal(true);
    expect(restarted.events).to.deep.equal([]);
    expect(restarted.notes).to.deep.equal([{ node: "n2", kind: "restarted", message: "n2 " +
      "restarted (its events went back from seq 7 to 2): reading them from the first" }]);
    expect(follower.afterFor("http://b")).to.equal(0);
    const again = follower.take("http://b", { page: page("n2",
      [event("n2", 1, 900), event("n2", 2, 910)], 2) });
    expect(again.events.map(({ seq }) => seq)).to.deep.equal([1, 2]);
    expect(again.askAgain).to.equal(false);
  });

  it("sees a restart whose seq already climbed past the cursor: another event at that seq",
    () => {
      const follower = new EventFollower(nodes);
      follower.take("http://b", { page: page("n2", [event("n2", 3, 30)], 3) });
      // The new run's seq 3 happened at another time: not the event printed.
      const step = follower.take("http://b", { page: page("n2",
        [event("n2", 3, 500), event("n2", 4, 510)], 9) });
      expect(step.askAgain).to.equal(true);
      expect(step.events).to.deep.equal([]);
      expect(follower.afterFor("http://b")).to.equal(0);
    });

  it("reports a node that stops answering once, and again when it answers", () => {
    const follower = new EventFollower(nodes);
    const down = follower.take("http://a", { unreachable: "refused the connection" });
    expect(down.notes).to.deep.equal([{ node: "n1", kind: "unreachable",
      message: "n1 refused the connection" }]);
    expect(follower.take("http://a", { unreachable: "refused the connection" }).notes)
      .to.deep.equal([]);
    expect(follower.take("http://a", { unreachable: "did not answer within 2000 ms" }).notes)
      .to.have.length(1);
    const back = follower.take("http://a", { page: page("n1", [event("n1", 1, 5)], 1) });
    expect(back.notes).to.deep.equal([{ node: "n1", kind: "reachable",
      message: "n1 answers again" }]);
    expect(back.events).to.have.length(1);
    expect(follower.take("http://a", { page: page("n1", [event("n1", 1, 5)], 1) }).notes)
      .to.deep.equal([]);
  });

  it("says how many events a node no longer held, first read or between two polls", () => {
    const follower = new EventFollower(nodes, 10);
    expect(follower.afterFor("http://a")).to.equal(10);
    const first = follower.take("http://a", { page: page("n1", [event("n1", 15, 1)], 15, 4) });
    expect(first.notes.map(({ message }) => message))
      .to.deep.equal(["n1 no longer holds 4 events before seq 15"]);
    // Seq 15 was dropped from the ring too: 16 to 19 are gone.
    const later = follower.take("http://a", { page: page("n1", [event("n1", 20, 9)], 20, 5) });
    expect(later.events.map(({ seq }) => seq)).to.deep.equal([20]);
    expect(later.notes.map(({ message }) => message))
      .to.deep.equal(["n1 no longer holds 4 events before seq 20"]);
  });

  it("reads nothing from a node whose seq is below --since, without calling it a restart",
    () => {
      const follower = new EventFollower(nodes, 50);
      const step = follower.take("http://a", { page: page("n1", [], 12) });
      expect(step).to.deep.equal({ events: [], notes: [], askAgain: false });
      expect(follower.afterFor("http://a")).to.equal(50);
    });
});
