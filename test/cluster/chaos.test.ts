/**
 * The chaos runner in CI (issue 5): a short run on a real 3-node LocalCluster with the
 * partition and kill nemeses and a fixed seed, through runChaos (not a child process). Goal:
 * on a healthy build the report has no violation, and the history is a real test: it holds ok
 * and fail operations, and at least one fault was injected. The chaos summary is read from the
 * real nodes: elections counted from their events, a new leader after each killed one, a line
 * of unavailability per fault, the command that reproduces the run. Bounded: ~15 s of workload plus
 * the heal and the check; the cluster is stopped in an after hook whatever happens.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { parseNemesis, runChaos, type ChaosResult } from "../../src/cluster/chaos.js";
import { LocalCluster } from "../../src/cluster/local-cluster.js";
import { formatReport } from "../../src/verify/report.js";

describe("chaos runner", function () {
  this.timeout(60_000);
  let cluster: LocalCluster | null = null;
  let outDir = "";
  let result: ChaosResult | null = null;

  before(() => {
    outDir = mkdtempSync(path.join(tmpdir(), "raftmarket-chaos-"));
  });

  after(async () => {
    await cluster?.stop();
    rmSync(outDir, { recursive: true, force: true });
  });

  it("parses the nemesis list and rejects unknown faults", () => {
    expect(parseNemesis("partition,kill")).to.deep.equal(["partition", "kill"]);
    expect(parseNemesis("none")).to.deep.equal([]);
    expect(() => parseNemesis("partition,flood")).to.throw(/unknown nemesis "flood"/);
  });

  it("refuses process nemeses when attached to a cluster it did not start", async () => {
    let error: unknown = null;
    try {
      await runChaos({ durationMs: 1000, clients: 1, nemesis: ["partition", "kill"], seed: 1,
        attachConfig: "no-such.config.json", outDir: null, log: () => undefined });
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).to.match(/only the partition nemesis/);
  });

  it("a short run under partitions and kills finds no violation", async () => {
    cluster = await LocalCluster.start();
    const lines: string[] = [];
    result = await runChaos({
      durationMs: 15_000, clients: 4, nemesis: ["partition", "kill"], seed: 42, cluster, outDir,
      rotateMs: 8000, log: (line) => lines.push(line),
    });
    const report = result.report;
    expect(report.ok, formatReport(report) + lines.join("\n")).to.equal(true);
    expect(result.exitCode).to.equal(0);
    expect(report.linearizability.linearizable).to.equal(true);
    const types = new Set(result.history.map((op) => op.type));
    expect(types.has("ok"), "the history has ok operations").to.equal(true);
    expect(types.has("fail"), "the history has fail operations").to.equal(true);
    expect(result.history.some((op) => op.f === "buy" && op.type === "ok")).to.equal(true);
    expect(result.history.some((op) => op.f === "cancel" && op.type === "ok"),
      "the workload cancels acknowledged orders").to.equal(true);
    const started = result.faults.filter((fault) => fault.phase === "start");
    expect(started.length, "at least one fault").to.be.greaterThan(0);
    expect(result.faults.filter((fault) => fault.phase === "end")).to.have.length(started.length);
    expect(report.invariants.ordersChecked).to.equal(true);
    const written = readFileSync(path.join(outDir, "history.jsonl"), "utf8").trim().split("\n");
    expect(written).to.have.length(result.history.length);
    expect(readFileSync(path.join(outDir, "faults.jsonl"), "utf8")).to.match(/"phase":"start"/);
    expect(JSON.parse(readFileSync(path.join(outDir, "report.json"), "utf8")))
      .to.have.property("ok", true);
    expect(readFileSync(path.join(outDir, "timeline.html"), "utf8")).to.match(/^<!doctype html>/);
    expect(readFileSync(path.join(outDir, "timeline.svg"), "utf8")).to.match(/>client 1<\/text>/);
    expect(readFileSync(path.join(outDir, "raft-events.jsonl"), "utf8")).to.match(/"kind":/);
    expect(readFileSync(path.join(outDir, "report.txt"), "utf8"))
      .to.contain("Reproduce: npm run chaos -- --duration 15 --clients 4 --nemesis " +
        "partition,kill --seed 42 --rotate 8");
  });

  it("summarizes the run: elections, leaders, unavailability per fault", function () {
    if (result === null) this.skip();
    const { summary, faults } = result;
    const elections = summary.elections;
    expect(elections, "the nodes served their events").to.not.equal(null);
    expect(elections!.leadersElected).to.be.at.least(1);
    expect(summary.leaders.length).to.be.at.least(1);
    for (const span of summary.leaders) expect(["n1", "n2", "n3"]).to.include(span.node);
    const started = faults.filter((fault) => fault.phase === "start");
    expect(summary.faults).to.have.length(started.length);
    for (const fault of started.filter((each) => each.fault === "kill" &&
      each.description.includes("(the leader)"))) {
      const killedMs = fault.time / 1e6;
      expect(summary.leaders.some((span) => span.fromMs > killedMs),
        `a leader elected after ${fault.description} at ${killedMs} ms`).to.equal(true);
    }
    expect(summary.outcomes.ok + summary.outcomes.fail + summary.outcomes.info)
      .to.equal(result.history.length / 2);
  });
});
