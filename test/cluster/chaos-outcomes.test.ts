/**
 * The chaos report's account of what the clients saw (chaos-outcomes.ts, chaos-summary.ts).
 * Goal: failures are split into rejections (the store said no) and unavailability (it could not
 * serve), each error counted once with its fail/info outcome; and each fault's unavailability is
 * the time from its start to the store's first answer (ok, or a refusal such as
 * insufficient_stock, which is a committed result too) to a write invoked after it, ignoring
 * writes invoked before it, reads, and writes that were not served. Method: synthetic histories on a clock the test
 * sets (milliseconds written as nanoseconds), with fault spans built by faultSpans.
 */
import { expect } from "chai";
import {
  failureCause, failuresByCause, unavailabilityPerFault, unfinishedError,
} from "../../src/cluster/chaos-outcomes.js";
import { buildChaosSummary, formatChaosSummary } from "../../src/cluster/chaos-summary.js";
import { faultSpans, type TimelineFault } from "../../src/verify/fault-spans.js";
import {
  HistoryRecorder, pairOperations, type OpFunction, type OpValue,
} from "../../src/verify/history.js";

const ms = 1e6;

/** A recorder whose clock is whatever the test last set, in milliseconds. */
class TimedHistory {
  nowMs = 0;
  readonly recorder = new HistoryRecorder({ now: () => BigInt(Math.round(this.nowMs * ms)) });

  at(timeMs: number): this {
    this.nowMs = timeMs;
    return this;
  }

  invoke(process: number, f: OpFunction, value: OpValue = { sku: "a" }): this {
    this.recorder.invoke(process, f, value);
    return this;
  }

  complete(process: number, type: "ok" | "fail" | "info", value: OpValue = {}): this {
    this.recorder.complete(process, type, value);
    return this;
  }

  operations() {
    return pairOperations(this.recorder.ops());
  }
}

describe("chaos report: outcomes", () => {
  it("names the store's refusals rejections and everything else unavailability", () => {
    for (const code of ["insufficient_stock", "not_found", "conflict", "invalid_request"]) {
      expect(failureCause(code), code).to.equal("rejected");
    }
    for (const code of ["no_leader", "unavailable", "timeout", "ECONNREFUSED", "ECONNRESET",
      "http_502", unfinishedError]) {
      expect(failureCause(code), code).to.equal("unavailable");
    }
  });

  it("splits failures by cause, each error with its fail and info counts", () => {
    const history = new TimedHistory()
      .invoke(0, "buy").complete(0, "fail", { error: "insufficient_stock", available: 0 })
      .invoke(1, "buy").complete(1, "fail", { error: "insufficient_stock" })
      .invoke(2, "add").complete(2, "fail", { error: "no_leader" })
      .invoke(3, "buy").complete(3, "info", { error: "timeout" })
      .invoke(4, "add").complete(4, "ok")
      .invoke(5, "read").complete(5, "fail", { error: "ECONNREFUSED" })
      .invoke(6, "create").complete(6, "fail", { error: "conflict" })
      .invoke(7, "buy");
    const breakdown = failuresByCause(history.operations());
    expect(breakdown).to.include({ ok: 1, fail: 5, info: 2, rejected: 3, unavailable: 4 });
    expect(breakdown.errors).to.deep.equal([
      { error: "insufficient_stock", cause: "rejected", fail: 2, info: 0 },
      { error: "conflict", cause: "rejected", fail: 1, info: 0 },
      { error: "ECONNREFUSED", cause: "unavailable", fail: 1, info: 0 },
      { error: "no_leader", cause: "unavailable", fail: 1, info: 0 },
      { error: "timeout", cause: "unavailable", fail: 0, info: 1 },
      { error: unfinishedError, cause: "unavailable", fail: 0, info: 1 },
    ]);
  });
});

describe("chaos report: unavailability per fault", () => {
  const faults: TimelineFault[] = [
    { time: 100 * ms, phase: "start", fault: "kill", description: "SIGKILL n1 (the leader)" },
    { time: 400 * ms, phase: "end", fault: "kill", description: "restarted n1" },
    { time: 1000 * ms, phase: "start", fault: "partition", description: "n2 is isolated" },
    { time: 1500 * ms, phase: "end", fault: "partition", description: "healed" },
    { time: 2000 * ms, phase: "heal-all", fault: "final", description: "heal everything" },
  ];

  // Around the kill: a write invoked before it and acknowledged after it does not count; a
  // read does not count; failed writes are counted until the acknowledgement. Around the
  // partition, writes keep working at once. After it, nothing is acknowledged.
  const history = new TimedHistory()
    .at(90).invoke(0, "buy")
    .at(110).invoke(1, "add")
    .at(120).complete(1, "fail", { error: "no_leader" })
    .at(130).invoke(2, "read")
    .at(140).complete(2, "ok", { stock: 3 })
    .at(150).invoke(3, "create", { sku: "b", stock: 1, node: "n3" })
    .at(160).complete(0, "ok")
    .at(170).invoke(4, "buy", { sku: "a", qty: 1, node: "n2" })
    .at(300).complete(4, "info", { error: "timeout" })
    .at(520).complete(3, "ok")
    .at(1005).invoke(5, "add", { sku: "a", qty: 1, node: "n1" })
    .at(1030).complete(5, "ok")
    .at(1900).invoke(6, "buy")
    .at(1950).complete(6, "fail", { error: "insufficient_stock" });

  it("measures from each fault to the first write acknowledged after it", () => {
    const spans = faultSpans(faults, 2000 * ms);
    const result = unavailabilityPerFault(history.operations(), spans);
    expect(result).to.have.length(2);
    const [kill, partition] = result;
    expect(kill).to.deep.include({ fault: 1, kind: "kill", unavailableMs: 420,
      failedWrites: { no_leader: 1, timeout: 1 } });
    expect(kill!.firstAck).to.deep.equal({ atNs: 520 * ms, f: "create", node: "n3",
      refusal: null, duringFault: false });
    expect(partition).to.deep.include({ fault: 2, unavailableMs: 30, failedWrites: {} });
    expect(partition!.firstAck).to.include({ node: "n1", duringFault: true });
  });

  it("takes the earliest acknowledgement, not the first invoked write", () => {
    const overlapping = new TimedHistory()
      .at(110).invoke(0, "buy")
      .at(120).invoke(1, "add")
      .at(150).complete(1, "ok")
      .at(400).complete(0, "ok");
    const [kill] = unavailabilityPerFault(overlapping.operations(), faultSpans(faults, 500 * ms));
    expect(kill!.unavailableMs).to.equal(50);
    expect(kill!.firstAck?.f).to.equal("add");
  });

  it("counts the store's refusal of a write as an answer, and other failures as not", () => {
    const refused = new TimedHistory()
      .at(110).invoke(0, "buy", { sku: "a", qty: 9, node: "n2" })
      .at(115).invoke(1, "add")
      .at(130).complete(1, "info", { error: "timeout" })
      .at(150).complete(0, "fail", { error: "insufficient_stock", available: 1 })
      .at(160).invoke(2, "add").at(170).complete(2, "ok");
    const [kill] = unavailabilityPerFault(refused.operations(), faultSpans(faults, 500 * ms));
    expect(kill).to.deep.include({ unavailableMs: 50, failedWrites: { timeout: 1 } });
    expect(kill!.firstAck).to.include({ f: "buy", refusal: "insufficient_stock", node: "n2" });
  });

  it("says when no write was answered after a fault, and lists the failures", () => {
    const onlyFailures = new TimedHistory()
      .at(110).invoke(0, "buy").at(200).complete(0, "fail", { error: "ECONNREFUSED" });
    const [kill] = unavailabilityPerFault(onlyFailures.operations(),
      faultSpans(faults.slice(0, 2), 300 * ms));
    expect(kill).to.deep.include({ unavailableMs: null, firstAck: null,
      failedWrites: { ECONNREFUSED: 1 } });
  });

  it("formats the outcomes, the elections and each fault in the text summary", () => {
    const summary = buildChaosSummary({
      reproduce: { command: "npm run chaos -- --seed 7", note: null },
      operations: history.operations(), spans: faultSpans(faults, 2000 * ms),
      elections: { leadersElected: 2, campaigns: 3, preVotes: 4, checkQuorumStepDowns: 1,
        refusals: { leaderAlive: 2 }, events: {}, byNode: { n2: 1, n3: 1 }, firstTerm: 2,
        lastTerm: 3, missed: 0, unannouncedRestarts: 0, dropped: 0 },
      leaders: [{ node: "n2", term: 2, fromMs: 0, toMs: 100 },
        { node: "n3", term: 3, fromMs: 250, toMs: 2000 }],
    });
    const text = formatChaosSummary(summary);
    expect(text).to.contain("Reproduce: npm run chaos -- --seed 7");
    expect(text).to.contain("rejected by the store: 1: insufficient_stock 1 fail");
    expect(text).to.contain("unavailable (not served): 2: no_leader 1 fail, timeout 1 info");
    expect(text).to.contain("2 leaders elected (terms 2-3): n2 1, n3 1");
    expect(text).to.contain("t2 n2 0.0-0.1, t3 n3 0.3-2.0");
    expect(text).to.contain("F1 at 0.1 s, kill SIGKILL n1 (the leader): 420 ms " +
      "(create ok via n3, 0.1 s after it healed); not served before: no_leader 1, timeout 1");
    expect(text).to.contain("F2 at 1.0 s, partition n2 is isolated: 30 ms " +
      "(add ok via n1, during the fault)");
    expect(text).to.contain("kill: 1 fault, median 420 ms, max 420 ms");
    const unknown = formatChaosSummary({ ...summary, elections: null });
    expect(unknown).to.contain("Elections: not known");
  });
});
