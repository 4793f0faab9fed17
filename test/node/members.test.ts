/**
 * The published-member table (members.ts): the first incarnation of an id stays, a repeat is
 * harmless, another incarnation is a conflict (the node lost its data); the publication entry
 * round-trips and is never mistaken for a market command. Snapshots carry the table in their
 * meta, through the file format too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { decodePublish, encodePublish, MemberTable } from "../../src/node/members.js";
import { FileSnapshotStore } from "../../src/storage/index.js";

describe("published members", () => {
  it("keeps the first incarnation, repeats are no-ops, another incarnation conflicts", () => {
    const table = new MemberTable();
    expect(table.apply("n2", "aa", 3)).to.deep.equal({ kind: "recorded" });
    expect(table.apply("n1", "bb", 4)).to.deep.equal({ kind: "recorded" });
    expect(table.apply("n2", "aa", 9)).to.deep.equal({ kind: "repeated" });
    expect(table.apply("n2", "cc", 12)).to.deep.equal({ kind: "conflict",
      first: { id: "n2", incarnation: "aa", index: 3 } });
    expect(table.list().map((record) => record.id)).to.deep.equal(["n1", "n2"]);
    expect(new MemberTable(table.list()).get("n2")).to.deep.equal(
      { id: "n2", incarnation: "aa", index: 3 });
  });

  it("decodes its own entries only", () => {
    expect(decodePublish(encodePublish("n3", "abc"))).to.deep.equal(
      { nodeId: "n3", incarnation: "abc" });
    // The leader restamps forwarded proposals with its clock: still a publication.
    const restamped = JSON.stringify({ ...JSON.parse(encodePublish("n3", "abc")) as object,
      timeMs: 5 });
    expect(decodePublish(restamped)).to.deep.equal({ nodeId: "n3", incarnation: "abc" });
    expect(decodePublish('{"kind":"buy","requestId":"x","lines":[]}')).to.equal(null);
    expect(decodePublish('{"kind":"publishMember",')).to.equal(null);
    expect(decodePublish('{"kind":"publishMember","nodeId":5,"incarnation":"a"}')).to.equal(null);
  });

  it("survives a snapshot file round trip in the meta", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "raftmarket-members-"));
    try {
      const store = new FileSnapshotStore(dir);
      const members = [{ id: "n1", incarnation: "aa", index: 2 }];
      store.save({ meta: { index: 5, term: 1, voters: ["n1"], members }, data: "{}" });
      expect(new FileSnapshotStore(dir).latest()?.meta.members).to.deep.equal(members);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
