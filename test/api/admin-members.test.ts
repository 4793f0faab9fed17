/**
 * The admin API's membership routes (GET/POST /admin/members, promote, DELETE) over real HTTP on
 * 127.0.0.1. Goal: every bad body or id is a 400 naming the field, before anything is
 * proposed; each outcome of a change maps to its documented status and `reason` (applied 201/200,
 * not the leader 409 with leaderId, refusals 409 or 400, not seen to apply 504), never a 5xx;
 * the token is required; a node without membership answers 404. Method: createClientApp over a
 * FakeNodeService with a scripted changeMembership that records what it was asked.
 */
import { expect } from "chai";
import type { MembershipOutcome, MembershipRequest, MembersView } from "../../src/node/membership.js";
import { FakeNodeService } from "./fake-node-service.js";
import { request, serveNode, type Served } from "./helpers.js";

const adminToken = "test-admin-token";
const authorized = { authorization: `Bearer ${adminToken}` };
const conf = { voters: ["n1", "n2", "n3"], learners: ["n4"], votersOutgoing: [] };
const view: MembersView = { nodeId: "n1", leaderId: "n1", term: 2, conf, joint: false,
  lastLogIndex: 9, members: [{ id: "n4", role: "learner", peerUrl: "http://127.0.0.1:7104",
    clientUrl: "http://127.0.0.1:7004", match: 9, next: 10, progress: "replicate" }],
  removed: [], bootstrapVoters: ["n1", "n2", "n3"], bootstrapAddresses: [] };

describe("admin API: members", () => {
  let asked: MembershipRequest[];
  let outcome: MembershipOutcome;
  let served: Served;

  beforeEach(async () => {
    asked = [];
    outcome = { kind: "applied", index: 9, conf };
    served = await serveNode(new FakeNodeService("n1"), { admin: {
      adminToken,
      faults: { setRules: () => {}, clearRules: () => {}, rules: () => [] },
      transferLeadership: () => "started",
      membership: {
        members: () => view,
        changeMembership: (change) => {
          asked.push(change);
          return Promise.resolve(outcome);
        },
      },
    } });
  });
  afterEach(async () => served.close());

  const add = { id: "n4", peerUrl: "http://127.0.0.1:7104", clientUrl: "http://127.0.0.1:7004",
    learner: true };

  it("lists the members, and refuses without the token", async () => {
    const listed = await request(`${served.url}/admin/members`, "GET", undefined, authorized);
    expect(listed.status).to.equal(200);
    expect(listed.body).to.deep.equal(view);
    const anonymous = await request(`${served.url}/admin/members`, "GET");
    expect(anonymous.status).to.equal(401);
  });

  it("adds, promotes and removes, answering with the index and configuration", async () => {
    const added = await request(`${served.url}/admin/members`, "POST", add, authorized);
    expect(added.status).to.equal(201);
    expect(added.body).to.deep.include({ index: 9, conf });
    expect(added.body.member.id).to.equal("n4");
    const promoted = await request(`${served.url}/admin/members/n4/promote`, "POST", undefined,
      authorized);
    expect(promoted.status).to.equal(200);
    const removed = await request(`${served.url}/admin/members/n2`, "DELETE", undefined,
      authorized);
    expect(removed.status).to.equal(200);
    expect(removed.body).to.deep.equal({ index: 9, conf });
    expect(asked).to.deep.equal([{ kind: "add", ...add }, { kind: "promote", id: "n4" },
      { kind: "remove", id: "n2" }]);
  });

  it("takes learner as false when absent (etcd's default)", async () => {
    const { learner: _learner, ...voter } = add;
    const added = await request(`${served.url}/admin/members`, "POST", voter, authorized);
    expect(added.status).to.equal(201);
    expect(asked[0]).to.deep.include({ kind: "add", learner: false });
  });

  const badBodies: { what: string; body: unknown; field: string }[] = [
    { what: "an array", body: [], field: "body" },
    { what: "no id", body: { ...add, id: undefined }, field: "id" },
    { what: "an id with a slash", body: { ...add, id: "n/4" }, field: "id" },
    { what: "an over-long id", body: { ...add, id: "n".repeat(33) }, field: "id" },
    { what: "a peer URL that is no URL", body: { ...add, peerUrl: "nope" }, field: "peerUrl" },
    { what: "a client URL without a port", body: { ...add, clientUrl: "http://127.0.0.1" },
      field: "clientUrl" },
    { what: "a URL with a path", body: { ...add, peerUrl: "http://127.0.0.1:1/x" },
      field: "peerUrl" },
    { what: "an ftp URL", body: { ...add, peerUrl: "ftp://127.0.0.1:1" }, field: "peerUrl" },
    { what: "learner as a string", body: { ...add, learner: "yes" }, field: "learner" },
    { what: "an unknown field", body: { ...add, role: "voter" }, field: "role" },
  ];
  for (const { what, body, field } of badBodies) {
    it(`answers 400 naming ${field} for ${what}, and proposes nothing`, async () => {
      const answer = await request(`${served.url}/admin/members`, "POST", body, authorized);
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.include({ code: "invalid_request", field });
      expect(asked).to.deep.equal([]);
    });
  }

  it("answers 400 for a bad id in the path", async () => {
    const answer = await request(`${served.url}/admin/members/${"x".repeat(40)}`, "DELETE",
      undefined, authorized);
    expect(answer.status).to.equal(400);
    expect(asked).to.deep.equal([]);
  });

  const outcomes: { outcome: MembershipOutcome; status: number; code: string;
    reason: string }[] = [
    { outcome: { kind: "notLeader", leaderId: "n2" }, status: 409, code: "conflict",
      reason: "notLeader" },
    { outcome: { kind: "refused", reason: "changeInFlight", message: "one at a time" },
      status: 409, code: "conflict", reason: "changeInFlight" },
    { outcome: { kind: "refused", reason: "learnerBehind", message: "n4 is 15 entries behind" },
      status: 409, code: "conflict", reason: "learnerBehind" },
    { outcome: { kind: "refused", reason: "invalid", message: "n9 is not a member" },
      status: 400, code: "invalid_request", reason: "invalid" },
    { outcome: { kind: "overloaded" }, status: 503, code: "unavailable", reason: "overloaded" },
    { outcome: { kind: "timeout" }, status: 504, code: "timeout", reason: "timeout" },
    { outcome: { kind: "unknown", leaderId: null }, status: 504, code: "timeout",
      reason: "unknown" },
  ];
  for (const { outcome: scripted, status, code, reason } of outcomes) {
    it(`answers ${status} ${code} (${reason}) for a ${scripted.kind} outcome`, async () => {
      outcome = scripted;
      const answer = await request(`${served.url}/admin/members/n4/promote`, "POST", undefined,
        authorized);
      expect(answer.status).to.equal(status);
      expect(answer.body.error).to.include({ code, reason });
      if (scripted.kind === "notLeader") expect(answer.body.error.leaderId).to.equal("n2");
    });
  }

  it("answers 404 on a node without membership", async () => {
    const plain = await serveNode(new FakeNodeService("n1"), { admin: { adminToken,
      faults: { setRules: () => {}, clearRules: () => {}, rules: () => [] },
      transferLeadership: () => "started" } });
    try {
      const answer = await request(`${plain.url}/admin/members`, "GET", undefined, authorized);
      expect(answer.status).to.equal(404);
    } finally {
      await plain.close();
    }
  });
});
