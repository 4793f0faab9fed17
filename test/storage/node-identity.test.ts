/**
 * The data folder's identity file: written atomically and read back, refused with a clear
 * StorageError when damaged (never silently replaced: it is what tells a node it ran before),
 * and fenced by --repair, creating one for a folder that had none.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import {
  fenceIdentity,
  identityFileName,
  newIncarnation,
  readIdentity,
  StorageError,
  writeIdentity,
  type NodeIdentity,
} from "../../src/storage/index.js";

describe("node identity file", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "raftmarket-identity-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const identity: NodeIdentity = { format: 1, clusterId: "c1", nodeId: "n1",
    incarnation: newIncarnation(), origin: "bootstrap", fence: null };

  it("is absent in a new folder, and reads back what was written", () => {
    expect(readIdentity(dir)).to.equal(null);
    writeIdentity(dir, identity);
    expect(readIdentity(dir)).to.deep.equal(identity);
    expect(newIncarnation()).to.match(/^[0-9a-f]{16}$/).and.not.equal(identity.incarnation);
  });

  it("refuses a damaged file with a StorageError naming it", () => {
    for (const text of ["{", "[]", '{"format":2}', JSON.stringify({ ...identity, fence: 5 })]) {
      writeFileSync(path.join(dir, identityFileName), text);
      expect(() => readIdentity(dir)).to.throw(StorageError, /IDENTITY is not a valid/);
    }
  });

  it("fences an existing identity, or makes a fenced one", () => {
    writeIdentity(dir, identity);
    const fence = { reason: "lost entries 3..9", at: "2026-01-01T00:00:00.000Z" };
    expect(fenceIdentity(dir, fence, identity)).to.deep.equal({ ...identity, fence });
    expect(readIdentity(dir)?.fence).to.deep.equal(fence);
    const other = mkdtempSync(path.join(tmpdir(), "raftmarket-identity-"));
    try {
      const made = fenceIdentity(other, fence, { clusterId: "c2", nodeId: "n2",
        incarnation: "ab", origin: "adopted" });
      expect(readIdentity(other)).to.deep.equal(made);
      expect(made).to.deep.include({ nodeId: "n2", fence });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
