/**
 * The peer message schemas (src/transport/peer-message-schema.ts). Goal: show that the check a
 * node runs on every peer batch accepts everything the real core sends — so that strict shapes
 * never cut a working cluster apart — and refuses malformed batches whole, naming the field at
 * fault. Method: a simulated 3-node cluster (the real core, sim/cluster.ts) goes through
 * elections, writes, a forwarded write and read, a snapshot install to a node that missed
 * entries, and a leadership transfer; every message it sends is put through a JSON round trip
 * and the schema, and every message type must have been seen. Then parseRaftMessages on
 * hand-made bodies.
 */
import { expect } from "chai";
import type {
  InstallSnapshotRequest,
  MessageType,
  RaftMessage,
} from "../../src/raft/index.js";
import { nodeIds, SimCluster } from "../../src/sim/cluster.js";
import { parseRaftMessages, raftMessageSchema } from "../../src/transport/index.js";
import { sampleMessages } from "./helpers.js";

/** Drives a simulated cluster through every kind of exchange; returns what it sent. */
function messagesOfABusyCluster(): RaftMessage[] {
  const sent: RaftMessage[] = [];
  const cluster = new SimCluster({ ids: nodeIds(3), seed: 7,
    snapshots: { entriesBetweenSnapshots: 5, trailingEntries: 0 },
    config: { snapshotChunkBytes: 16 } });
  cluster.observer = { onSend: (_node, message) => sent.push(message) };
  expect(cluster.tickUntil(() => cluster.leader() !== null, 500)).to.equal(true);
  const leader = (): string => cluster.leader()!.id;
  const follower = (): string => cluster.ids.find((id) => id !== leader())!;
  for (let k = 0; k < 8; k++) cluster.propose(`write ${k}`);
  cluster.tick(20);
  cluster.node(follower()).raft.readIndex("follower:boot:1");
  cluster.node(follower()).raft.forward(["forwarded"]);
  cluster.tick(20);
  const behind = follower();
  cluster.crash(behind);
  for (let k = 0; k < 30; k++) cluster.propose(`while down ${k}`);
  cluster.tick(40);
  cluster.restart(behind);
  cluster.tick(200);
  cluster.node(leader()).raft.transferLeadership(behind);
  cluster.tick(100);
  return sent;
}

describe("peer message schemas", () => {
  it("accept every message the core sends, after a JSON round trip", () => {
    const sent = messagesOfABusyCluster();
    const seen = new Set<MessageType>();
    for (const message of sent) {
      const parsed = raftMessageSchema.safeParse(JSON.parse(JSON.stringify(message)));
      if (!parsed.success) {
        expect.fail(`refused ${JSON.stringify(message)}: ${parsed.error.message}`);
      }
      seen.add(message.type);
    }
    const every = Object.keys(sampleMessages("a", "b")).sort();
    expect([...seen].sort()).to.deep.equal(every);
  });

  it("accept one sample of every type, addressed to self from a peer", () => {
    const samples = Object.values(sampleMessages("a", "b"));
    const parsed = parseRaftMessages(samples, "b", (id) => id === "a");
    expect(parsed).to.deep.equal({ ok: true, messages: samples });
  });

  it("accept a snapshot whose meta carries the published members", () => {
    const snapshot = sampleMessages("a", "b").snapshot as InstallSnapshotRequest;
    const members = [{ id: "a", incarnation: "0123456789abcdef", index: 2 }];
    const withMembers = { ...snapshot, meta: { ...snapshot.meta, members } };
    expect(parseRaftMessages([withMembers], "b", (id) => id === "a")).to.deep.equal(
      { ok: true, messages: [withMembers] });
    const bad = { ...snapshot, meta: { ...snapshot.meta, members: [{ id: "a", index: 2 }] } };
    expect(parseRaftMessages([bad], "b", (id) => id === "a")).to.deep.equal({ ok: false,
      error: "messages[0].meta.members[0].incarnation: Required" });
  });

  const cases: [string, unknown, string][] = [
    ["a body that is not an array", { type: "heartbeat" },
      "messages: Expected array, received object"],
    ["an append without entries", [{ ...sampleMessages("a", "b").append, entries: undefined }],
      "messages[0].entries: Required"],
    ["a from longer than any node id", [{ ...sampleMessages("a", "b").timeoutNow,
      from: "a".repeat(65) }], "messages[0].from: String must contain at most 64 character(s)"],
    ["a message for another node", [sampleMessages("a", "c").timeoutNow],
      "messages[0].to: addressed to c, this node is b"],
    ["a message from a stranger", [sampleMessages("z", "b").timeoutNow],
      "messages[0].from: z is not a known peer of this node"],
  ];
  for (const [what, body, error] of cases) {
    it(`refuse ${what}, naming the field`, () => {
      expect(parseRaftMessages(body, "b", (id) => id === "a")).to.deep.equal({ ok: false, error });
    });
  }

  it("name at most three problems and count the rest", () => {
    const bad = Array.from({ length: 5 }, () => ({ type: "timeoutNow" }));
    const parsed = parseRaftMessages(bad, "b", () => true);
    expect(parsed.ok).to.equal(false);
    const error = parsed.ok ? "" : parsed.error;
    expect(error.split("; ")).to.have.length(4);
    expect(error).to.match(/^messages\[0\]\.from: Required; .*; and \d+ more$/);
  });
});
