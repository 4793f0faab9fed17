/**
 * Goal: a cell of `npm run bench -- vs-etcd` with fewer clients than members talks to the
 * members it says (the leader, or a follower), since which one it is moves the result more
 * than the systems differ. Method: the placement helpers of scripts/bench-vs-etcd.ts with a
 * stand-in target that names its leader; no cluster, no etcd.
 */
import { expect } from "chai";
import {
  cellPlacements, firstMemberFor, membersText, placementText, type Target,
} from "../../scripts/bench-vs-etcd.js";

/** A target whose leader is member `leader` (from 0), or unknown (null). */
function targetLeading(leader: number | null): Target {
  return { name: "raftmarket", leaderPosition: () => Promise.resolve(leader) } as Target;
}

describe("bench vs-etcd placement", () => {
  it("runs a cell with fewer clients than members on the leader and on a follower by default",
    () => {
      expect(cellPlacements(1, "both")).to.deep.equal(["leader", "follower"]);
      expect(cellPlacements(2, "both")).to.deep.equal(["leader", "follower"]);
      expect(cellPlacements(1, "follower")).to.deep.equal(["follower"]);
      expect(cellPlacements(1, "spread")).to.deep.equal(["spread"]);
      // Three clients or more reach every member: placing them changes nothing.
      expect(cellPlacements(3, "both")).to.deep.equal(["spread"]);
      expect(cellPlacements(64, "leader")).to.deep.equal(["spread"]);
    });

  it("starts at the leader, or at the member after it, wherever the leader is", async () => {
    for (const leader of [0, 1, 2]) {
      expect(await firstMemberFor(targetLeading(leader), "leader"))
        .to.deep.equal({ member: leader, placed: true });
      const follower = await firstMemberFor(targetLeading(leader), "follower");
      expect(follower.placed).to.equal(true);
      expect(follower.member).to.not.equal(leader);
      expect(follower.member).to.be.within(0, 2);
    }
    expect(await firstMemberFor(targetLeading(2), "spread"))
      .to.deep.equal({ member: 0, placed: false });
  });

  it("falls back to member 1 when no leader is known, and the members say so", async () => {
    const log = console.log;
    console.log = () => undefined;
    try {
      expect(await firstMemberFor(targetLeading(null), "leader"))
        .to.deep.equal({ member: 0, placed: false });
    } finally {
      console.log = log;
    }
    expect(membersText(0, 1, false)).to.equal("1?");
  });

  it("names the members a run's clients talk to, from 1, wrapping around", () => {
    expect(membersText(1, 1, true)).to.equal("2");
    expect(membersText(2, 2, true)).to.equal("3+1");
    expect(membersText(0, 5, true)).to.equal("1+2+3");
  });

  it("labels a placed cell by where its first client starts", () => {
    expect(placementText("spread", 1)).to.equal("");
    expect(placementText("leader", 1)).to.equal(" on the leader");
    expect(placementText("follower", 1)).to.equal(" on a follower");
    expect(placementText("leader", 2)).to.equal(", the first on the leader");
  });
});
