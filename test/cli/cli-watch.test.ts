/**
 * The pure parts of `market-cli cluster watch` (cli-watch.ts) and of `leader transfer`'s plan
 * (cli-cluster-view.ts). Goal: the watch table has one row per node with its role, term,
 * leader, last log, commit and applied index; with color, roles are coloured (leader green,
 * candidates yellow, unreachable red) and exactly the values that changed since the previous
 * snapshot are in inverse video, with columns aligned on the visible text; without color there
 * is no escape sequence at all; and the redraw moves up over the previous frame. The transfer
 * plan refuses an id that is not a voter, a target that does not answer, a cluster without
 * leader, and sends to the leader otherwise. Method: snapshots and statuses built by hand.
 */
import { stripVTControlCharacters } from "node:util";
import { expect } from "chai";
import type { EndpointStatus } from "../../src/client/index.js";
import { MarketClientError } from "../../src/client/index.js";
import { planTransfer } from "../../src/cli/cli-cluster-view.js";
import {
  lineCount,
  renderWatchTable,
  terminal,
  watchFrame,
  watchRows,
  type WatchRow,
} from "../../src/cli/cli-watch.js";
import type { NodeStatus } from "../../src/node/node-service.js";

function status(id: string, role: NodeStatus["role"], term: number, leaderId: string | null,
  indexes: [number, number, number] = [9, 9, 9]): NodeStatus {
  const [lastLogIndex, commitIndex, appliedIndex] = indexes;
  return { id, role, term, leaderId, lastLogIndex, commitIndex, appliedIndex,
    members: ["n1", "n2", "n3"], stateHash: "abc" };
}

const refused = new MarketClientError({ code: "unreachable", status: 0,
  message: "cannot reach http://c: connect ECONNREFUSED 127.0.0.1:9" });

function rows(...statuses: (NodeStatus | null)[]): EndpointStatus[] {
  return statuses.map((nodeStatus, index) => ({ endpoint: `http://${"abc"[index]}`,
    status: nodeStatus, error: nodeStatus === null ? refused : null }));
}

const idOf = (endpoint: string): string => `n${"abc".indexOf(endpoint.slice(-1)) + 1}`;

/** Strips SGR sequences, to read a coloured table's text. */
function plain(text: string): string {
  return stripVTControlCharacters(text);
}

describe("cluster watch: the table", () => {
  const before: WatchRow[] = watchRows(rows(status("n1", "leader", 4, "n1"),
    status("n2", "follower", 4, "n1", [9, 9, 8]), status("n3", "follower", 4, "n1")), idOf);
  const after: WatchRow[] = watchRows(rows(status("n1", "follower", 5, "n2"),
    status("n2", "leader", 5, "n2", [10, 10, 10]), null), idOf);

  it("has one row per node; an unreachable node says why", () => {
    const table = renderWatchTable(after, before, { color: false });
    expect(table).to.not.include("\u001b");
    expect(table.split("\n")).to.deep.equal([
      "ID  ROLE         TERM  LEADER  LAST LOG  COMMIT  APPLIED  ERRORS",
      "n1  follower     5     n2      9         9       9        -",
      "n2  leader       5     n2      10        10      10       -",
      "n3  unreachable  -     -       -         -       -        refused the connection",
    ]);
  });

  it("colours roles and puts exactly the changed values in inverse video", () => {
    const table = renderWatchTable(after, before, { color: true });
    expect(plain(table)).to.equal(renderWatchTable(after, before, { color: false }));
    const [, first, second, third] = table.split("\n");
    const inverse = (text: string): string => `\u001b[7m${text}\u001b[27m`;
    const green = (text: string): string => `\u001b[32m${text}\u001b[39m`;
    // n1: role, term and leader changed; its indexes did not.
    expect(first).to.equal(`n1  ${inverse("follower")}     ${inverse("5")}     ` +
      `${inverse("n2")}      9         9       9        -`);
    expect(second).to.equal(`n2  ${inverse(green("leader"))}       ${inverse("5")}     ` +
      `${inverse("n2")}      ${inverse("10")}        ${inverse("10")}      ${inverse("10")}` +
      "       -");
    expect(third).to.include("\u001b[31m").and.to.include(inverse("refused the connection"));
  });

  it("highlights nothing on the first frame, and colours candidates yellow", () => {
    const candidates = watchRows(rows(status("n1", "preCandidate", 5, null),
      status("n2", "candidate", 6, null), status("n3", "follower", 5, null)), idOf);
    const table = renderWatchTable(candidates, null, { color: true });
    expect(table).to.not.include("\u001b[7m");
    expect(table).to.include("\u001b[33mpre-candidate\u001b[39m")
      .and.to.include("\u001b[33mcandidate\u001b[39m");
    expect(plain(table)).to.match(/^n3\s+follower\s+5\s+-\s/m);
  });

  it("redraws in place: up over the previous frame, then clear below", () => {
    const frame = watchFrame({ timeMs: 0, nodes: after }, { timeMs: 0, nodes: before }, 500,
      { color: false }, true);
    expect(frame).to.match(/^\d\d:\d\d:\d\d\.\d{3} {2}every 500 ms {2}\(Ctrl-C stops\)\n/);
    expect(lineCount(frame)).to.equal(5);
    expect(terminal.redrawOver(5)).to.equal("\u001b[5F\u001b[J");
    expect(terminal.redrawOver(0)).to.equal("");
    expect(watchFrame({ timeMs: 0, nodes: after }, null, 500, { color: false }, false))
      .to.not.include("Ctrl-C");
  });
});

describe("leader transfer: the plan", () => {
  const endpointOf = (id: string): string | null => `http://${"abc"["123".indexOf(id[1]!)]}`;

  it("sends to the leader's endpoint, or says the target leads already", () => {
    const healthy = rows(status("n1", "leader", 4, "n1"), status("n2", "follower", 4, "n1"),
      status("n3", "follower", 4, "n1"));
    expect(planTransfer(healthy, "n3", endpointOf)).to.deep.equal({ kind: "send",
      leader: { leaderId: "n1", term: 4, endpoint: "http://a" }, endpoint: "http://a" });
    expect(planTransfer(healthy, "n1", endpointOf)).to.deep.include({ kind: "alreadyLeader" });
  });

  it("refuses an id that is not a voter, a target that does not answer, and no leader", () => {
    const oneDown = rows(status("n1", "leader", 4, "n1"), status("n2", "follower", 4, "n1"),
      null);
    expect(planTransfer(oneDown, "n9", endpointOf)).to.deep.equal({ kind: "unknownTarget",
      members: ["n1", "n2", "n3"] });
    const down = planTransfer(oneDown, "n3", endpointOf);
    expect(down.kind).to.equal("targetDown");
    const leaderless = rows(status("n1", "follower", 5, null), status("n2", "candidate", 5, null),
      status("n3", "follower", 5, null));
    expect(planTransfer(leaderless, "n2", endpointOf)).to.deep.equal({ kind: "noLeader" });
  });
});
