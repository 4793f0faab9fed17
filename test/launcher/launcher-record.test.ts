/**
 * The launcher's record of the nodes it added from its page (launcher-record.ts). Goal: a valid
 * record is read back as written; a missing one is no record and no message; a damaged one
 * (not JSON, a field wrong, or another file of that name) is said in exactly one line and
 * ignored, never thrown; a write leaves no temporary file; and at start, a recorded node runs
 * again only if its folder exists and is not fenced, each skip with its reason. Method: files
 * in a temporary folder, read and written through the module's functions, no process started.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { JoiningNode } from "../../src/launcher/launcher-processes.js";
import {
  launcherRecordFileName,
  launcherRecordPath,
  openLauncherRecord,
  planRecordedNodes,
  readLauncherRecord,
  writeLauncherRecord,
} from "../../src/launcher/launcher-record.js";
import { writeIdentity } from "../../src/storage/index.js";

describe("the launcher's record of the nodes it added", () => {
  let root: string;
  let config: { nodes: { id: string; dataDir: string }[] };
  let file: string;

  const nodeAt = (id: string): JoiningNode => ({ id, peerUrl: "http://127.0.0.1:7104",
    clientUrl: "http://127.0.0.1:7004", dataDir: path.join(root, "data", id),
    joinUrls: ["http://127.0.0.1:7001", "http://127.0.0.1:7002"] });

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "raftmarket-record-"));
    config = { nodes: ["n1", "n2", "n3"].map((id) => ({ id, dataDir: path.join(root, "data",
      id) })) };
    file = launcherRecordPath(config);
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("lives beside the cluster file's nodes' data folders", () => {
    expect(file).to.equal(path.join(root, "data", launcherRecordFileName));
  });

  it("reads back a valid record, and a write leaves no temporary file", () => {
    writeLauncherRecord(file, [nodeAt("n4"), nodeAt("n5")]);
    expect(readLauncherRecord(file)).to.deep.equal({ kind: "read",
      nodes: [nodeAt("n4"), nodeAt("n5")] });
    expect(readdirSync(path.dirname(file))).to.deep.equal([launcherRecordFileName]);
    const lines: string[] = [];
    const record = openLauncherRecord(config, (line) => lines.push(line));
    expect(record.nodes().map((node) => node.id)).to.deep.equal(["n4", "n5"]);
    record.forget("n4");
    record.forget("n9");
    expect(readLauncherRecord(file)).to.deep.equal({ kind: "read", nodes: [nodeAt("n5")] });
    expect(lines).to.deep.equal([]);
  });

  it("takes a missing record for no nodes, and says nothing", () => {
    expect(readLauncherRecord(file)).to.deep.equal({ kind: "missing" });
    const lines: string[] = [];
    expect(openLauncherRecord(config, (line) => lines.push(line)).nodes()).to.deep.equal([]);
    expect(lines).to.deep.equal([]);
  });

  it("says a damaged or foreign record in one line and ignores it", () => {
    const valid = { kind: "raftmarket-launcher-nodes", version: 1, nodes: [nodeAt("n4")] };
    const cases: [string, RegExp][] = [
      ['{"kind": "raftmarket-launcher-nodes", "nodes": [', /is not valid JSON/],
      [JSON.stringify({ name: "some other tool's file" }), /is not a launcher record/],
      [JSON.stringify({ ...valid, nodes: [{ ...nodeAt("n4"), dataDir: "data/n4" }] }),
        /nodes\.0\.dataDir: must be an absolute path/],
      [JSON.stringify({ ...valid, nodes: [{ ...nodeAt("n4"), joinUrls: [] }] }),
        /nodes\.0\.joinUrls/],
      [JSON.stringify({ ...valid, nodes: [nodeAt("n4"), nodeAt("n4")] }), /two nodes have id/],
      [JSON.stringify({ ...valid, version: 2 }), /version/],
    ];
    mkdirSync(path.dirname(file), { recursive: true });
    for (const [text, problem] of cases) {
      writeFileSync(file, text);
      const read = readLauncherRecord(file);
      expect(read.kind, text).to.equal("damaged");
      const lines: string[] = [];
      const record = openLauncherRecord(config, (line) => lines.push(line));
      expect(record.nodes(), text).to.deep.equal([]);
      expect(lines, text).to.have.length(1);
      expect(lines[0], text).to.match(problem);
      expect(lines[0], text).to.include(file);
      expect(lines[0], text).to.not.include("\n");
    }
  });

  it("starts a recorded node whose folder exists and is not fenced; skips the others", () => {
    const [running, fenced, missing, named] = ["n4", "n5", "n6", "n3"].map(nodeAt);
    for (const node of [running!, fenced!]) mkdirSync(node.dataDir, { recursive: true });
    writeIdentity(fenced!.dataDir, { format: 1, clusterId: "c", nodeId: "n5", incarnation: "i",
      origin: "joined", fence: { reason: "removed from the cluster at index 9", at: "now" } });
    const plans = planRecordedNodes(config, [running!, fenced!, missing!, named!], false);
    expect(plans.map((plan) => [plan.node.id, plan.kind,
      plan.kind === "skip" ? plan.forget : null])).to.deep.equal([["n4", "start", null],
      ["n5", "skip", true], ["n6", "skip", false], ["n3", "skip", true]]);
    const reasons = plans.map((plan) => plan.kind === "skip" ? plan.reason : "");
    expect(reasons[1]).to.include("fenced (removed from the cluster at index 9)");
    expect(reasons[2]).to.include("is missing");
    expect(reasons[3]).to.include("the cluster file now names it");
    // A new cluster (every file node's folder empty): the old cluster's nodes do not start.
    expect(planRecordedNodes(config, [running!], true)[0]!.kind).to.equal("skip");
  });
});
