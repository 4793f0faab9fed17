/**
 * ViolationLog: how the driver reports the protocol violations the core puts in each Ready.
 * Every violation must be counted in raft_protocol_violations_total, with a sender label that
 * is a configured node id or "unknown" (so a hostile sender cannot grow the label set), while
 * the warn log gets at most one line per sender and reason per interval, with the count it
 * suppressed. Method: a recording logger, a NodeMetrics registry without process metrics, and a
 * hand-moved clock; no timers, no sleeps.
 */
import { expect } from "chai";
import { NodeMetrics } from "../../src/node/metrics.js";
import { ViolationLog, violationLogIntervalMs } from "../../src/node/violation-log.js";
import type { ProtocolViolation } from "../../src/raft/index.js";

interface Line {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function setup(): { log: ViolationLog; lines: Line[]; metrics: NodeMetrics;
  clock: { nowMs: number } } {
  const lines: Line[] = [];
  const clock = { nowMs: 1000 };
  const metrics = new NodeMetrics("n1", { processMetrics: false });
  const logger = {
    warn: (fields: Record<string, unknown>, message: string): void => {
      lines.push({ fields, message });
    },
  };
  const log = new ViolationLog({ logger: logger as never, metrics,
    peers: new Set(["n1", "n2", "n3"]), nowMs: () => clock.nowMs });
  return { log, lines, metrics, clock };
}

function violation(from: string, reason: ProtocolViolation["reason"] = "commitBeyondLog"):
  ProtocolViolation {
  return { from, type: "heartbeat", reason, detail: "commit=323 lastIndex=0" };
}

async function counted(metrics: NodeMetrics): Promise<Record<string, number>> {
  const values = (await metrics.protocolViolations.get()).values;
  return Object.fromEntries(values.map((v) => [`${v.labels.from}/${v.labels.reason}`, v.value]));
}

describe("ViolationLog", () => {
  it("logs the first violation per sender and reason at warn, with its particulars", () => {
    const { log, lines } = setup();
    log.report([violation("n2")]);
    expect(lines).to.have.length(1);
    expect(lines[0]!.fields).to.deep.equal({ from: "n2", type: "heartbeat",
      reason: "commitBeyondLog", detail: "commit=323 lastIndex=0", suppressedCount: 0 });
    expect(lines[0]!.message).to.match(/protocol violation/);
  });

  it("logs at most one line per sender and reason per interval, counting the rest", async () => {
    const { log, lines, metrics, clock } = setup();
    for (let k = 0; k < 1000; k++) log.report([violation("n2")]);
    log.report([violation("n3"), violation("n2", "ackBeyondLog")]);
    expect(lines.map((line) => `${String(line.fields["from"])}/${String(line.fields["reason"])}`))
      .to.deep.equal(["n2/commitBeyondLog", "n3/commitBeyondLog", "n2/ackBeyondLog"]);
    clock.nowMs += violationLogIntervalMs - 1;
    log.report([violation("n2")]);
    expect(lines).to.have.length(3);
    clock.nowMs += 1;
    log.report([violation("n2")]);
    expect(lines).to.have.length(4);
    expect(lines[3]!.fields["suppressedCount"]).to.equal(1000);
    expect(await counted(metrics)).to.deep.equal({
      "n2/commitBeyondLog": 1002, "n3/commitBeyondLog": 1, "n2/ackBeyondLog": 1 });
  });

  it("labels senders outside the configuration 'unknown' and bounds what they put in the log",
    async () => {
      const { log, lines, metrics } = setup();
      const senders = Array.from({ length: 50 }, (_, k) => `stranger-${k}-${"x".repeat(500)}`);
      log.report(senders.map((from) => violation(from, "unknownSender")));
      expect(await counted(metrics)).to.deep.equal({ "unknown/unknownSender": 50 });
      // One line for all of them: the rate limit is per label, not per claimed name.
      expect(lines).to.have.length(1);
      expect(String(lines[0]!.fields["from"]).length).to.be.at.most(200);
    });
});
