/**
 * The replicated address book (src/node/member-addresses.ts) and the join verdict
 * (src/cli/market-node-join.ts). Goal: a change's context gives the transport a new member's
 * address as soon as the change is logged, and the applied book only once it applies; a
 * removal marks the id, which stays used; anything malformed from a peer, a disk or a context is
 * dropped, never used; a joining node is refused when its id is unknown, removed, already ran,
 * or added with other URLs, and told what to do. Method: the pure classes and functions.
 */
import { expect } from "chai";
import { judgeJoin } from "../../src/cli/market-node-join.js";
import {
  decodeChangeContext,
  encodeChangeContext,
  MemberAddresses,
  memberUrlProblem,
  peerEndpointOf,
  type MemberAddress,
} from "../../src/node/member-addresses.js";
import type { MembersView } from "../../src/node/membership.js";
import type { ConfChange } from "../../src/raft/index.js";

const boot: MemberAddress[] = ["n1", "n2", "n3"].map((id, k) => ({ id,
  peerUrl: `http://127.0.0.1:710${k + 1}`, clientUrl: `http://127.0.0.1:700${k + 1}` }));
const n4: MemberAddress = { id: "n4", peerUrl: "http://127.0.0.1:7104",
  clientUrl: "http://127.0.0.1:7004" };
const addN4: ConfChange = { ops: [{ type: "addLearner", id: "n4" }],
  context: encodeChangeContext([n4]) };

describe("member addresses", () => {
  it("knows a new member once its change is logged, and books it once it applies", () => {
    const seen: string[][] = [];
    const book = new MemberAddresses(boot, (known) => seen.push(known.map(({ id }) => id)));
    book.noteLogged(addN4);
    expect(book.get("n4")).to.deep.equal(n4);
    expect(book.known().map(({ id }) => id)).to.deep.equal(["n1", "n2", "n3", "n4"]);
    expect(book.list().map(({ id }) => id)).to.deep.equal(["n1", "n2", "n3"]);
    expect(seen.at(-1)).to.deep.equal(["n1", "n2", "n3", "n4"]);
    book.noteApplied(addN4, 7);
    expect(book.list()).to.deep.equal([...boot, n4]);
  });

  it("marks a removed member with its index, and keeps its id used", () => {
    const book = new MemberAddresses(boot);
    book.noteApplied({ ops: [{ type: "remove", id: "n2" }] }, 9);
    expect(book.get("n2")?.removedAtIndex).to.equal(9);
    expect(book.everUsed("n2")).to.equal(true);
    // A later change naming the id with other addresses does not replace the first ones.
    book.noteApplied({ ops: [{ type: "addLearner", id: "n2" }], context: encodeChangeContext([
      { id: "n2", peerUrl: "http://127.0.0.1:1", clientUrl: "http://127.0.0.1:2" }]) }, 10);
    expect(book.get("n2")?.peerUrl).to.equal("http://127.0.0.1:7102");
  });

  it("takes only addresses of nodes the change adds", () => {
    const book = new MemberAddresses(boot);
    book.noteLogged({ ops: [{ type: "promote", id: "n4" }], context: encodeChangeContext([n4]) });
    expect(book.get("n4")).to.equal(null);
  });

  it("drops malformed contexts and stored addresses instead of using them", () => {
    for (const context of [undefined, "", "{", "null", "[]", '{"addresses":5}',
      JSON.stringify({ addresses: [{ id: "n4", peerUrl: "nope", clientUrl: "http://a:1" }] }),
      JSON.stringify({ addresses: [{ ...n4, extra: 1 }] }),
      JSON.stringify({ addresses: Array.from({ length: 17 }, () => n4) })]) {
      expect(decodeChangeContext(context), String(context)).to.deep.equal([]);
    }
    const book = new MemberAddresses(boot);
    book.reset([{ id: "n9", peerUrl: "http://[bad", clientUrl: "x" }, n4]);
    expect(book.list()).to.deep.equal([n4]);
  });

  it("checks URLs, and gives the transport a host and a port", () => {
    expect(memberUrlProblem("http://127.0.0.1:7101")).to.equal(null);
    expect(memberUrlProblem("https://[::1]:7101")).to.equal(null);
    for (const bad of [undefined, "", "127.0.0.1:7101", "http://127.0.0.1", "http://h:1/p",
      "http://u:p@h:1", "x".repeat(300)]) {
      expect(memberUrlProblem(bad), String(bad)).to.be.a("string");
    }
    expect(peerEndpointOf({ ...n4, peerUrl: "http://[::1]:7104" }))
      .to.deep.equal({ id: "n4", host: "::1", peerPort: 7104 });
  });
});

describe("joining a running cluster (market-node --join)", () => {
  const ask = { urls: ["http://127.0.0.1:7001"], id: "n4", peerUrl: n4.peerUrl,
    clientUrl: n4.clientUrl, adminToken: "t" };
  const view: MembersView = { nodeId: "n1", leaderId: "n1", term: 2, clusterId: "c1",
    conf: { voters: ["n1", "n2", "n3"], learners: ["n4"], votersOutgoing: [] }, joint: false,
    lastLogIndex: 9, bootstrapVoters: ["n1", "n2", "n3"], bootstrapAddresses: boot,
    published: ["n1", "n2", "n3"],
    removed: [], members: [...boot.map((address) => ({ ...address, role: "voter" as const })),
      { ...n4, role: "learner" as const }] };

  it("joins a node that was added, with the cluster's bootstrap voters and addresses", () => {
    const verdict = judgeJoin(ask, view);
    expect(verdict).to.deep.equal({ kind: "join", clusterId: "c1", role: "learner",
      bootstrap: { voters: ["n1", "n2", "n3"], addresses: boot },
      join: { addresses: [...boot, n4] } });
  });

  it("refuses, saying what to do, a node not added, removed, already run, or moved", () => {
    const refusal = (changed: Partial<MembersView>, own = ask): string => {
      const verdict = judgeJoin(own, { ...view, ...changed });
      expect(verdict.kind).to.equal("refuse");
      return (verdict as { message: string }).message;
    };
    expect(refusal({ members: view.members.slice(0, 3) })).to.include("market-cli member add n4");
    expect(refusal({ removed: [{ id: "n4", removedAtIndex: 5 }] }))
      .to.include("never used again");
    expect(refusal({ published: ["n4"] })).to.include("already run");
    expect(refusal({}, { ...ask, peerUrl: "http://127.0.0.1:9999" }))
      .to.include("start it with the URLs it was added with");
    for (const malformed of [{ clusterId: undefined }, { clusterId: "a b" },
      { members: [null] }, { bootstrapVoters: [] }, { bootstrapAddresses: [{ ...n4, peerUrl: "x" }] },
      { members: [{ ...n4, role: "voter" as const, clientUrl: "http://[" }] }]) {
      const retry = judgeJoin(ask, { ...view, ...malformed } as MembersView);
      expect(retry.kind, JSON.stringify(malformed)).to.equal("retry");
    }
  });
});
