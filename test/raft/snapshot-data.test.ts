/**
 * Snapshot data that is never one string (snapshot-data.ts). A state of hundreds of megabytes
 * cannot be one V8 string (2^29 units at most), so the core slices the data it sends by offset
 * (SnapshotData) and hands a follower's chunks to a receiver as they arrive. Method: compare
 * ChunkedSnapshotData's slices with a string's on every range; stream a chunked snapshot through
 * a simulated cluster and check the follower installs the same text; step chunks into a
 * follower with a receiver and check it sees each chunk once, in order, that a problem it
 * reports refuses the snapshot (a violation, no answer, no install), and that a new transfer
 * gets a new receiver.
 */
import { expect } from "chai";
import {
  ChunkedSnapshotData,
  makeRaftConfig,
  RaftNode,
  SeededRng,
  snapshotText,
  type RaftMessage,
  type Ready,
  type SnapshotData,
  type SnapshotMeta,
  type SnapshotReceiver,
} from "../../src/raft/index.js";
import { SimCluster, nodeIds, toyStateSnapshot } from "../../src/sim/cluster.js";
import { electionTimeoutTicks, expectSameApplied, SafetyMonitor, waitForLeader } from "./helpers.js";

const voters = ["n1", "n2", "n3"];

function pieces(text: string, sizes: readonly number[]): string[] {
  const result: string[] = [];
  let offset = 0;
  for (let k = 0; offset < text.length; k++) {
    const size = sizes[k % sizes.length]!;
    result.push(text.slice(offset, offset + size));
    offset += size;
  }
  return result;
}

function chunk(offset: number, data: string, done: boolean, index = 9): RaftMessage {
  return { type: "snapshot", from: "n2", to: "n1", term: 2,
    meta: { index, term: 1, voters }, offset, data, done };
}

function drain(node: RaftNode): Ready {
  const ready = node.ready();
  node.advance();
  return ready;
}

class RecordingReceiver implements SnapshotReceiver {
  readonly chunks: string[] = [];
  finished = false;
  constructor(readonly meta: SnapshotMeta, private readonly refuse: (data: string) => boolean) {}
  append(data: string): string | null {
    if (this.refuse(data)) return `refused ${data}`;
    this.chunks.push(data);
    return null;
  }
  finish(): string | null {
    this.finished = true;
    return null;
  }
  data(): SnapshotData {
    return new ChunkedSnapshotData(this.chunks);
  }
}

describe("chunked snapshot data", () => {
  it("slices like the joined string, across chunk boundaries and empty chunks", () => {
    const text = "abcdefghijklmnopqrstuvwxyz\u00e9\u{1F35E}0123456789";
    const chunks = ["", ...pieces(text, [1, 5, 3, 11, 2]), ""];
    chunks.splice(4, 0, "");
    const data = new ChunkedSnapshotData(chunks);
    expect(data.length).to.equal(text.length);
    for (let start = 0; start <= text.length; start++) {
      for (let end = start; end <= text.length; end++) {
        expect(data.slice(start, end), `[${start}, ${end})`).to.equal(text.slice(start, end));
      }
    }
    expect(snapshotText(data)).to.equal(text);
    expect(() => data.slice(3, text.length + 1)).to.throw();
    expect(new ChunkedSnapshotData([]).slice(0, 0)).to.equal("");
  });

  it("holds more than a V8 string can (2^29 units) and slices its end", () => {
    // One 1 MiB string, referred to 600 times: 600 MiB of data in about 1 MiB of heap.
    const piece = "x".repeat(2 ** 20 - 1) + "\n";
    const data = new ChunkedSnapshotData(new Array<string>(600).fill(piece));
    expect(data.length).to.equal(600 * 2 ** 20).and.to.be.greaterThan(2 ** 29);
    expect(data.slice(data.length - 3, data.length)).to.equal("xx\n");
    expect(data.slice(2 ** 29 - 1, 2 ** 29 + 1)).to.equal("\nx");
  });

  it("a leader streams chunked data by offset; the follower installs the same text", () => {
    const cluster = new SimCluster({
      ids: nodeIds(3), seed: 5, config: { snapshotChunkBytes: 50 },
      network: { dropRate: 0, duplicateRate: 0, delayTicksMax: 0 },
      snapshots: { entriesBetweenSnapshots: 5, trailingEntries: 0,
        onDemand: { offerDelayTicksMax: 0, askIgnoreRate: 0 } },
    });
    cluster.snapshotAsksAnswered = false;
    new SafetyMonitor(cluster);
    const leader = waitForLeader(cluster, 50 * electionTimeoutTicks);
    const lagging = cluster.node(cluster.ids.find((id) => id !== leader.id)!);
    cluster.isolate(lagging.id);
    for (let k = 0; k < 40; k++) {
      cluster.propose(`w${k}`);
      cluster.tick();
    }
    cluster.heal();
    expect(leader.raft.compactedIndex(), "the leader compacted past the cut-off follower")
      .to.be.greaterThan(lagging.lastApplied());
    const index = leader.lastApplied();
    const applied = leader.applied.slice(0, index);
    const text = toyStateSnapshot(applied);
    // Chunks of odd sizes, none aligned with the 50-unit transfer chunks.
    const data = new ChunkedSnapshotData(pieces(text, [7, 33, 101]));
    let offered = false;
    expect(cluster.tickUntil(() => {
      if (!offered && leader.raft.status().progress[lagging.id]?.state !== "snapshot") {
        offered = leader.raft.offerSnapshot({ meta: { index, term: applied[index - 1]!.term,
          voters: leader.raft.status().voters }, data }).kind === "accepted";
      }
      return lagging.lastApplied() >= index;
    }, 400)).to.equal(true);
    expect(offered).to.equal(true);
    expect(snapshotText(lagging.disk.snapshot!.data)).to.equal(text);
    cluster.propose("after");
    cluster.tick(5);
    expectSameApplied(cluster);
  });

  it("hands a follower's receiver each chunk once, in order, and installs its data", () => {
    const receivers: RecordingReceiver[] = [];
    const node = new RaftNode(makeRaftConfig({ id: "n1", voters }, {
      snapshotReceiver: (meta) => {
        const receiver = new RecordingReceiver(meta, (data) => data === "BAD");
        receivers.push(receiver);
        return receiver;
      },
    }), new SeededRng(3), { hardState: { term: 1, vote: null, commit: 0 }, snapshot: null,
      entries: [] });
    node.step(chunk(0, "abc", false));
    node.step(chunk(0, "abc", false)); // a duplicate: answered, not appended again
    node.step(chunk(3, "def", false));
    let ready = drain(node);
    expect(ready.snapshot).to.equal(null);
    node.step(chunk(6, "gh", true));
    ready = drain(node);
    expect(receivers.length).to.equal(1);
    expect(receivers[0]!.chunks).to.deep.equal(["abc", "def", "gh"]);
    expect(receivers[0]!.finished).to.equal(true);
    expect(snapshotText(ready.snapshot!.data)).to.equal("abcdefgh");
    expect(ready.messages.filter((m) => m.type === "snapshotResponse").at(-1))
      .to.include({ installed: true, nextOffset: 8 });
  });

  it("refuses a snapshot whose receiver reports a problem mid-transfer; the next transfer " +
    "gets a new receiver", () => {
    const receivers: RecordingReceiver[] = [];
    const node = new RaftNode(makeRaftConfig({ id: "n1", voters }, {
      snapshotReceiver: (meta) => {
        const receiver = new RecordingReceiver(meta, (data) => data === "BAD");
        receivers.push(receiver);
        return receiver;
      },
    }), new SeededRng(3), { hardState: { term: 1, vote: null, commit: 0 }, snapshot: null,
      entries: [] });
    node.step(chunk(0, "abc", false));
    drain(node);
    node.step(chunk(3, "BAD", false));
    const ready = drain(node);
    expect(ready.violations.map((v) => v.reason)).to.deep.equal(["snapshotInvalid"]);
    expect(ready.messages.filter((m) => m.type === "snapshotResponse")).to.deep.equal([]);
    expect(ready.snapshot).to.equal(null);
    // The leader's resend of a later chunk is sent back to the start: a new receiver.
    node.step(chunk(6, "gh", true));
    expect(drain(node).messages.at(-1)).to.include({ type: "snapshotResponse", nextOffset: 0 });
    node.step(chunk(0, "ok", true));
    const installed = drain(node);
    expect(receivers.length).to.equal(2);
    expect(snapshotText(installed.snapshot!.data)).to.equal("ok");
  });
});
