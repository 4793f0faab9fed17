/**
 * The admin API (/admin/faults, /admin/leadership/transfer) over real HTTP on 127.0.0.1. Goal:
 * nothing under /admin answers without the admin token, fault rules round-trip exactly, a bad
 * rule is a 400 naming it and changes nothing, and a leadership transfer reports the core's
 * answer. Method: createClientApp over a FakeNodeService with a fake fault store (which
 * validates like FaultyTransport) and a scripted transferLeadership; one app per test.
 */
import { expect } from "chai";
import type { AdminFaults } from "../../src/api/index.js";
import { linkRuleError, type LinkRule } from "../../src/transport/faulty-transport.js";
import { FakeNodeService } from "./fake-node-service.js";
import { request, serveNode, type Served } from "./helpers.js";

const adminToken = "test-admin-token";
const authorized = { authorization: `Bearer ${adminToken}` };

class FakeFaults implements AdminFaults {
  current: LinkRule[] = [];
  setRules(rules: readonly LinkRule[]): void {
    for (const rule of rules) {
      if (linkRuleError(rule) !== null) throw new RangeError("invalid rule reached setRules");
    }
    this.current = rules.map((rule) => ({ ...rule }));
  }
  clearRules(): void {
    this.current = [];
  }
  rules(): LinkRule[] {
    return this.current.map((rule) => ({ ...rule }));
  }
}

describe("admin API", () => {
  let faults: FakeFaults;
  let transfers: string[];
  let transferResult: string;
  let served: Served;

  beforeEach(async () => {
    faults = new FakeFaults();
    transfers = [];
    transferResult = "started";
    served = await serveNode(new FakeNodeService("n1"), { admin: {
      adminToken,
      faults,
      transferLeadership: (target) => {
        transfers.push(target);
        return transferResult;
      },
    } });
  });
  afterEach(async () => served.close());

  const cut: LinkRule[] = [{ from: "n1", to: "n2", drop: true },
    { from: "*", to: "n3", delayMs: 80, jitterMs: 8, dropRate: 0.1, duplicateRate: 0.05 }];

  describe("requires the admin token", () => {
    const attempts: { what: string; headers: Record<string, string> }[] = [
      { what: "no authorization header", headers: {} },
      { what: "a wrong token", headers: { authorization: "Bearer not-the-token" } },
      { what: "the token without the Bearer scheme", headers: { authorization: adminToken } },
      { what: "the peer scheme", headers: { authorization: `Basic ${adminToken}` } },
    ];
    for (const { what, headers } of attempts) {
      it(`answers 401 unauthorized to every route with ${what}`, async () => {
        faults.current = [{ from: "n1", to: "n2", drop: true }];
        const answers = [
          await request(`${served.url}/admin/faults`, "GET", undefined, headers),
          await request(`${served.url}/admin/faults`, "PUT", { rules: [] }, headers),
          await request(`${served.url}/admin/faults`, "DELETE", undefined, headers),
          await request(`${served.url}/admin/leadership/transfer`, "POST", { target: "n2" },
            headers),
          await request(`${served.url}/admin/no-such-route`, "GET", undefined, headers),
        ];
        for (const answer of answers) {
          expect(answer.status).to.equal(401);
          expect(answer.body.error.code).to.equal("unauthorized");
          expect(answer.body.error.message).to.be.a("string");
        }
        expect(faults.current).to.deep.equal([{ from: "n1", to: "n2", drop: true }]);
        expect(transfers).to.deep.equal([]);
      });
    }

    it("checks the token before parsing the body", async () => {
      const answer = await request(`${served.url}/admin/faults`, "PUT", "{not json");
      expect(answer.status).to.equal(401);
    });

    it("leaves the client API open", async () => {
      const answer = await request(`${served.url}/v1/cluster/status`);
      expect(answer.status).to.equal(200);
    });
  });

  it("round-trips rules: PUT replaces, GET returns them, DELETE clears", async () => {
    const empty = await request(`${served.url}/admin/faults`, "GET", undefined, authorized);
    expect(empty).to.deep.include({ status: 200, body: { rules: [] } });
    const put = await request(`${served.url}/admin/faults`, "PUT", { rules: cut }, authorized);
    expect(put.status).to.equal(200);
    expect(put.body).to.deep.equal({ rules: cut });
    expect(faults.current).to.deep.equal(cut);
    const got = await request(`${served.url}/admin/faults`, "GET", undefined, authorized);
    expect(got.body).to.deep.equal({ rules: cut });
    // A second PUT replaces, never appends.
    const second = [{ from: "n2", to: "n1", drop: true }];
    await request(`${served.url}/admin/faults`, "PUT", { rules: second }, authorized);
    expect(faults.current).to.deep.equal(second);
    const cleared = await request(`${served.url}/admin/faults`, "DELETE", undefined, authorized);
    expect(cleared).to.deep.include({ status: 200, body: { rules: [] } });
    expect(faults.current).to.deep.equal([]);
  });

  const badBodies: { what: string; body: unknown; field: string; message: RegExp }[] = [
    { what: "a rate above 1", body: { rules: [{ from: "n1" }, { dropRate: 2 }] },
      field: "rules[1]", message: /dropRate must be a number in \[0, 1\]/ },
    { what: "a negative delay", body: { rules: [{ delayMs: -5 }] }, field: "rules[0]",
      message: /delayMs must be a finite number >= 0/ },
    { what: "an empty node id", body: { rules: [{ from: "" }] }, field: "rules[0]",
      message: /from must be a node id/ },
    { what: "a string drop", body: { rules: [{ drop: "yes" }] }, field: "rules[0]",
      message: /drop must be a boolean/ },
    { what: "an unknown field", body: { rules: [{ from: "n1", delay: 80 }] },
      field: "rules[0].delay", message: /not a link rule field/ },
    { what: "a rule that is not an object", body: { rules: [7] }, field: "rules[0]",
      message: /must be an object/ },
    { what: "no rules array", body: { rule: [] }, field: "rules", message: /must be an array/ },
  ];
  for (const { what, body, field, message } of badBodies) {
    it(`PUT with ${what} is 400 invalid_request naming ${field}, changing nothing`, async () => {
      faults.current = [{ from: "n1", to: "n2", drop: true }];
      const answer = await request(`${served.url}/admin/faults`, "PUT", body, authorized);
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.include({ code: "invalid_request", field });
      expect(answer.body.error.message).to.match(message);
      expect(faults.current).to.deep.equal([{ from: "n1", to: "n2", drop: true }]);
    });
  }

  it("POST /admin/leadership/transfer starts a transfer and reports it", async () => {
    const answer = await request(`${served.url}/admin/leadership/transfer`, "POST",
      { target: "n2" }, authorized);
    expect(answer).to.deep.include({ status: 200, body: { result: "started", target: "n2" } });
    expect(transfers).to.deep.equal(["n2"]);
  });

  it("a transfer to a non-member is 400, from a follower 409, without a target 400",
    async () => {
      transferResult = "unknownTarget";
      const unknown = await request(`${served.url}/admin/leadership/transfer`, "POST",
        { target: "n9" }, authorized);
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error).to.include({ code: "invalid_request", field: "target" });
      transferResult = "notLeader";
      const follower = await request(`${served.url}/admin/leadership/transfer`, "POST",
        { target: "n2" }, authorized);
      expect(follower.status).to.equal(409);
      expect(follower.body.error).to.include({ code: "conflict", result: "notLeader" });
      const missing = await request(`${served.url}/admin/leadership/transfer`, "POST", {},
        authorized);
      expect(missing.status).to.equal(400);
      expect(missing.body.error).to.include({ field: "target" });
      expect(transfers).to.deep.equal(["n9", "n2"]);
    });

  it("is not mounted without the admin option: 404", async () => {
    const plain = await serveNode(new FakeNodeService("n2"));
    try {
      const answer = await request(`${plain.url}/admin/faults`, "GET", undefined, authorized);
      expect(answer.status).to.equal(404);
      expect(answer.body.error.code).to.equal("not_found");
    } finally {
      await plain.close();
    }
  });
});
