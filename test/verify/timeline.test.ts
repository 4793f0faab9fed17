/**
 * The HTML timeline. Goal: every operation is drawn once, in a lane where it overlaps no other,
 * with its outcome; the fault bands span each fault from its start to its last end (a pause
 * that wakes still cut off ends twice); the operation the checker could not linearize is
 * flagged and listed; and nothing in the history can break out of the embedded script. Method:
 * render hand-made histories and read back the JSON the page embeds.
 */
import { expect } from "chai";
import { checkInvariants } from "../../src/verify/invariants.js";
import { checkLinearizability } from "../../src/verify/linearizability.js";
import { buildReport } from "../../src/verify/report.js";
import { renderTimeline, type TimelineFault } from "../../src/verify/timeline.js";
import { created } from "./helpers.js";

interface Embedded {
  ops: [number, number, number, number, number, string][];
  bands: [number, number, string, string][];
  laneCount: number;
  flagged: { k: number; message: string }[];
}

function embedded(html: string): Embedded {
  const match = /const D = (.*);\nconst colors/.exec(html);
  if (match === null) throw new Error("no embedded data");
  return JSON.parse(match[1]!) as Embedded;
}

describe("verify: HTML timeline", () => {
  const staleRead = created("a", 5)
    .invoke(1, "add", { sku: "a", qty: 1 })
    .invoke(2, "read", { sku: "a" })
    .ok(1)
    .ok(2, { stock: 6 })
    .invoke(3, "buy", { sku: "a", qty: 9 }).fail(3, { error: "insufficient_stock" })
    .invoke(4, "buy", { sku: "a", qty: 2 }).info(4, { error: "timeout" })
    .done(5, "read", { sku: "a", node: "n2" }, { stock: 5 });
  const ms = 1e6;
  const faults: TimelineFault[] = [
    { time: 1 * ms, phase: "start", fault: "pause", description: "SIGSTOP n1, cut off" },
    { time: 2 * ms, phase: "end", fault: "pause", description: "SIGCONT n1" },
    { time: 3 * ms, phase: "end", fault: "partition", description: "healed" },
    { time: 4 * ms, phase: "start", fault: "kill", description: "SIGKILL n2" },
    { time: 6 * ms, phase: "heal-all", fault: "final", description: "heal everything" },
  ];

  it("draws each operation once, in lanes where no two overlap, coloured by outcome", () => {
    const data = embedded(renderTimeline({ history: staleRead.ops(), faults: [], report: null,
      title: "t" }));
    expect(data.ops).to.have.length(6);
    expect(data.ops.map((op) => op[3])).to.deep.equal([0, 0, 0, 1, 2, 0]);
    expect(data.laneCount).to.equal(2);
    for (const [k, first] of data.ops.entries()) {
      for (const second of data.ops.slice(k + 1)) {
        if (first[0] !== second[0]) continue;
        expect(first[2] <= second[1] || second[2] <= first[1], `${first[5]} / ${second[5]}`)
          .to.equal(true);
      }
    }
    expect(data.ops[5]![5]).to.equal("#10 p5 ok read a stock 5 via n2");
  });

  it("spans each fault from its start to its last end, or to the final heal", () => {
    const data = embedded(renderTimeline({ history: staleRead.ops(), faults, report: null,
      title: "t" }));
    expect(data.bands.map(([start, end, kind]) => [start, end, kind])).to.deep.equal([
      [1, 3, "pause"], [4, 6, "kill"],
    ]);
    expect(data.bands[0]![3]).to.equal("SIGSTOP n1, cut off · then SIGCONT n1 · then healed");
    const unhealed = embedded(renderTimeline({ history: staleRead.ops(), report: null, title: "t",
      faults: [faults[0]!, faults[3]!] }));
    expect(unhealed.bands.map(([start, end, , text]) => [start, end, text])).to.deep.equal([
      [1, 4, "SIGSTOP n1, cut off · never healed"],
      // The last event of the run: it runs to the end of the history.
      [4, 4, "SIGKILL n2 · never healed"],
    ]);
  });

  it("flags and lists the read the checker could not linearize", () => {
    const history = staleRead.ops();
    const report = buildReport({ linearizability: checkLinearizability(history),
      invariants: checkInvariants({ history, finalReads: [], replicas: [] }),
      operationCount: 6 });
    const html = renderTimeline({ history, faults, report, title: "run <x>" });
    const data = embedded(html);
    expect(data.ops.filter((op) => op[4] === 1).map((op) => op[5]))
      .to.deep.equal(["#10 p5 ok read a stock 5 via n2"]);
    expect(data.flagged).to.have.length(1);
    expect(data.flagged[0]!.message).to.match(/cannot be linearized/);
    expect(html).to.include("<title>run &lt;x&gt;</title>");
    expect(html).to.include('class="fail">FAIL');
  });

  it("keeps a hostile value inside the embedded script", () => {
    const history = created("</script><b>x", 1).ops();
    const html = renderTimeline({ history, faults: [], report: null, title: "t" });
    expect(html.match(/<\/script>/g)).to.have.length(1);
    expect(embedded(html).ops[0]![5]).to.include("</script><b>x");
  });
});
