/**
 * FsyncPlacement: where FileStorage runs an fdatasync. Method: the policy alone, fed durations
 * and times; file-storage.test.ts checks that FileStorage follows it.
 */
import { expect } from "chai";
import { FsyncPlacement } from "../../src/storage/fsync-placement.js";

describe("FsyncPlacement", () => {
  it("keeps fdatasyncs inline while each takes at most inlineMsMax", () => {
    const placement = new FsyncPlacement(5, 10_000);
    for (const [nowMs, durationMs] of [[0, 0.2], [1, 5], [2, 4.9]] as const) {
      expect(placement.inline(nowMs)).to.equal(true);
      expect(placement.noteInline(durationMs, nowMs)).to.equal(false);
    }
    expect(placement.slowInlineCount).to.equal(0);
  });

  it("puts them on the pool for poolHoldMs after a slower one, then inline again", () => {
    const placement = new FsyncPlacement(5, 10_000);
    expect(placement.noteInline(5.1, 100)).to.equal(true);
    expect([placement.inline(100), placement.inline(10_099.9), placement.inline(10_100)])
      .to.deep.equal([false, false, true]);
    // A second slow one starts a new hold from its own end.
    expect(placement.noteInline(40, 10_140)).to.equal(true);
    expect([placement.inline(20_139), placement.inline(20_140)]).to.deep.equal([false, true]);
    expect(placement.slowInlineCount).to.equal(2);
  });

  it("extends the hold while pool fdatasyncs are slow, never shortens it", () => {
    const placement = new FsyncPlacement(5, 10_000);
    placement.noteInline(30, 0);
    placement.notePool(6, 4_000);
    expect([placement.inline(13_999), placement.inline(14_000)]).to.deep.equal([false, true]);
    placement.notePool(0.3, 14_500);
    placement.notePool(5, 14_600);
    expect(placement.inline(14_700), "fast pool fdatasyncs keep the inline placement")
      .to.equal(true);
    expect(placement.slowInlineCount).to.equal(1);
  });

  it("with inlineMsMax 0, never runs one inline", () => {
    const placement = new FsyncPlacement(0, 10_000);
    expect([placement.inline(0), placement.inline(1e9)]).to.deep.equal([false, false]);
    expect([placement.neverInline, new FsyncPlacement(5, 10_000).neverInline])
      .to.deep.equal([true, false]);
  });
});
