/**
 * RaftServer, the driver, in one process: three servers over an in-memory hub with real
 * timers, MemoryStorage or FileStorage in a temporary folder. They elect a leader, commit and
 * apply writes with group commit, answer followers' linearizable reads through ReadIndex,
 * converge to one state hash, refuse work beyond their bounds, and keep everything across a
 * restart from disk, applying each requestId once. Waits poll for a condition with a generous
 * bound; every server is stopped in an after hook.
 */
import { MemoryStateStore } from "../../src/storage/memory-state-store.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import pino from "pino";
import {
  canonicalJson,
  MarketSnapshotInstall,
  MarketStateMachine,
  type MarketRequest,
} from "../../src/market/index.js";
import { RaftServer, type RaftServerOptions } from "../../src/node/raft-server.js";
import { realScheduler } from "../../src/node/scheduler.js";
import type { NodeId, RaftMessage } from "../../src/raft/index.js";
import {
  FileSnapshotStore, FileStorage, MemorySnapshotStore, MemoryStorage,
} from "../../src/storage/index.js";
import { LmdbStateStore } from "../../src/storage/lmdb-state-store.js";
import type { Transport } from "../../src/transport/transport.js";
import { request, serveNode } from "../api/helpers.js";
import { LogFeeder, snapshotStreamText } from "../market/helpers.js";

class Hub {
  private readonly handlers = new Map<NodeId, (messages: readonly RaftMessage[]) => void>();
  /** Nodes cut off from every other: their messages, both ways, are lost. */
  readonly cut = new Set<NodeId>();

  transport(id: NodeId): Transport {
    return {
      send: (messages) => {
        for (const message of messages) {
          if (this.cut.has(message.from) || this.cut.has(message.to)) continue;
          setImmediate(() => this.handlers.get(message.to)?.([message]));
        }
      },
      onReceive: (handler) => void this.handlers.set(id, handler),
      start: async () => {},
      close: async () => void this.handlers.delete(id),
    };
  }
}

const ids = ["n1", "n2", "n3"];

function startCluster(overrides: Partial<RaftServerOptions> = {}, dataRoot?: string,
  hub = new Hub(), perNode: (id: NodeId) => Partial<RaftServerOptions> = () => ({})): RaftServer[] {
  return ids.map((id) => RaftServer.start({
    id, voters: ids, dataDir: path.join(dataRoot ?? "/nonexistent", id), transport: hub.transport(id),
    logger: pino({ level: "silent" }), tickIntervalMs: 5,
    raft: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2 },
    bootstrapAddresses: [], snapshot: { entriesBetweenSnapshots: 50, trailingEntries: 5 },
    ...(dataRoot === undefined
      ? { openStorage: () => ({ log: new MemoryStorage(), state: new MemoryStateStore(),
        snapshots: new MemorySnapshotStore() }) }
      : {}),
    ...overrides,
    ...perNode(id),
  }));
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const leaderOf = (servers: RaftServer[]): RaftServer | undefined =>
  servers.find((server) => server.status().role === "leader");

const createApple = (requestId: string, sku = "apple-1kg"): MarketRequest => ({
  kind: "createItem", requestId, sku, name: "Apples", area: "fruit", priceCents: 300, stock: 10 });

describe("RaftServer (the driver)", () => {
  let servers: RaftServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    servers = [];
  });

  it("elects one leader, applies writes everywhere and converges to one state hash", async () => {
    servers = startCluster();
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const created = await leader.submit(createApple("create-1"));
    expect(created.kind).to.equal("applied");
    const writes = Array.from({ length: 120 }, (_, k) => leader.submit({ kind: "buy",
      requestId: `buy-${k}`, lines: [{ sku: "apple-1kg", qty: 1 }] }));
    const outcomes = await Promise.all(writes);
    const confirmed = outcomes.filter((outcome) => outcome.kind === "applied" && outcome.result.ok);
    // Ten in stock: exactly ten buys succeed, every other one is a deterministic rejection.
    expect(confirmed).to.have.length(10);
    expect(leader.market().getItem("apple-1kg")?.stock).to.equal(0);
    const hashes = await waitFor(() => {
      const statuses = servers.map((server) => server.status());
      const applied = new Set(statuses.map((status) => status.appliedIndex));
      return applied.size === 1 ? new Set(statuses.map((status) => status.stateHash)) : undefined;
    }, "equal applied indexes");
    expect(hashes.size).to.equal(1);
    // The Raft gauges are read at the scrape: they show the state now, not at a loop pass.
    const status = leader.status();
    const scraped = await leader.metrics.registry.metrics();
    expect(scraped).to.match(new RegExp(`raft_role\\{role="leader",node="${status.id}"\\} 1\\n`));
    expect(scraped).to.match(new RegExp(`raft_role\\{role="follower",node="${status.id}"\\} 0\\n`));
    expect(scraped).to.include(`raft_term{node="${status.id}"} ${status.term}\n`);
    expect(scraped).to.include(`raft_applied_index{node="${status.id}"} ${status.appliedIndex}\n`);
    expect(scraped).to.include(`raft_commit_index{node="${status.id}"} ${status.commitIndex}\n`);
  });

  it("answers a write of its own before it tells the followers of its commit, and tells them " +
    "of a forwarded write's commit before it applies it", async () => {
    // Each commit-only append the nodes send, with what its sender had applied and answered.
    const news: { from: NodeId; commit: number; applied: number; answered: number }[] = [];
    let answered = 0;
    const byId = new Map<NodeId, RaftServer>();
    const hub = new Hub();
    servers = startCluster({}, undefined, hub, (id) => {
      const inner = hub.transport(id);
      return { transport: { ...inner, send: (messages) => {
        for (const message of messages) {
          if (message.type !== "append" || message.commitOnly !== true) continue;
          news.push({ from: id, commit: message.leaderCommit, answered,
            applied: byId.get(id)?.status().appliedIndex ?? 0 });
        }
        inner.send(messages);
      } } };
    });
    for (const server of servers) byId.set(server.id, server);
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const follower = servers.find((server) => server !== leader)!;
    await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
      "the follower to learn the leader");
    // The leader's empty entry first: committed with the write, its news would not wait.
    await waitFor(() => {
      const status = leader.status();
      return status.lastLogIndex > 0 && status.appliedIndex === status.lastLogIndex ? true
        : undefined;
    }, "the leader's empty entry to apply");
    const firstNewsOf = (index: number) => waitFor(() => news.find((sent) =>
      sent.from === leader.id && sent.commit >= index), `news of the commit of ${index}`);

    const own = await leader.submit(createApple("own")).then((outcome) => {
      if (outcome.kind === "applied") answered = outcome.index;
      return outcome;
    });
    if (own.kind !== "applied") throw new Error(`own write: ${own.kind}`);
    // Its own client first: no follower waits for this commit.
    expect((await firstNewsOf(own.index)).answered).to.be.at.least(own.index);

    const forwarded = await follower.submit(createApple("forwarded", "pear-1kg"));
    if (forwarded.kind !== "applied") throw new Error(`forwarded write: ${forwarded.kind}`);
    // The follower answers its client once it applies the entry: the news goes first.
    expect((await firstNewsOf(forwarded.index)).applied).to.be.below(forwarded.index);
  });

  it("sends the entry a follower forwarded, and the news of its commit, to that follower first",
    async () => {
      // The leader's send() calls, each as the peers its appends went to, in order.
      const sends: { from: NodeId; appends: { to: NodeId; last: number; news: boolean }[] }[] = [];
      const hub = new Hub();
      servers = startCluster({}, undefined, hub, (id) => {
        const inner = hub.transport(id);
        return { transport: { ...inner, send: (messages) => {
          const appends = messages.flatMap((message) => message.type !== "append" ? []
            : [{ to: message.to, news: message.commitOnly === true,
              last: message.entries.at(-1)?.index ?? message.leaderCommit }]);
          if (appends.length > 1) sends.push({ from: id, appends });
          inner.send(messages);
        } } };
      });
      const leader = await waitFor(() => leaderOf(servers), "a leader");
      const followers = servers.filter((server) => server !== leader);
      for (const follower of followers) {
        await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
          "the followers to learn the leader");
      }
      // Each follower in turn, so that one of them is not the first the core names.
      for (const [k, follower] of followers.entries()) {
        const outcome = await follower.submit(createApple(`forwarded-${k}`, `pear-${k}`));
        if (outcome.kind !== "applied") throw new Error(`forwarded write: ${outcome.kind}`);
        const firstOf = (news: boolean) => sends.find((sent) => sent.from === leader.id &&
          sent.appends.some((append) => append.news === news && append.last >= outcome.index));
        expect(firstOf(false)?.appends[0]?.to, "the entry").to.equal(follower.id);
        expect(firstOf(true)?.appends[0]?.to, "the news of its commit").to.equal(follower.id);
      }
    });

  it("forwards a follower's write to the leader and answers it once applied there", async () => {
    servers = startCluster();
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const follower = servers.find((server) => server !== leader)!;
    await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
      "the follower to learn the leader");
    const written = await follower.submit(createApple("create-f"));
    expect(written.kind).to.equal("applied");
    if (written.kind !== "applied") return;
    expect(written.result.ok).to.equal(true);
    // Applied at the follower under the index the leader gave it; the leader has it too.
    expect(follower.status().appliedIndex).to.be.at.least(written.index);
    expect(leader.market().getItem("apple-1kg")?.stock).to.equal(10);
    // A retry through the follower returns the first result; a reuse with another body is a
    // conflict. Neither changes anything.
    const retried = await follower.submit(createApple("create-f"));
    expect(retried).to.deep.include({ kind: "applied" });
    expect(retried.kind === "applied" && retried.result).to.deep.equal(written.result);
    const reused = await follower.submit({ kind: "createItem", requestId: "create-f",
      sku: "apple-1kg", name: "Apples", area: "fruit", priceCents: 300, stock: 99 });
    expect(reused.kind === "applied" && !reused.result.ok && reused.result.error)
      .to.equal("requestIdConflict");
    expect(leader.market().getItem("apple-1kg")?.stock).to.equal(10);
  });

  it("stamps a forwarded write with the leader's clock, not the follower's", async () => {
    const clockOf = (id: NodeId): number => 1_000 * (ids.indexOf(id) + 1);
    servers = startCluster({}, undefined, new Hub(),
      (id) => ({ scheduler: { ...realScheduler, wallClockMs: () => clockOf(id) } }));
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const follower = servers.find((server) => server !== leader)!;
    await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
      "the follower to learn the leader");
    expect((await follower.submit(createApple("create-clock"))).kind).to.equal("applied");
    // Sessions expire by the largest time applied: only leaders' clocks may set it.
    expect(follower.market().stats().clockMs).to.equal(clockOf(leader.id));
    expect(leader.market().stats().clockMs).to.equal(clockOf(leader.id));
  });

  it("answers a forwarded write 'unknown' as soon as the leader changes, never 'applied' " +
    "unless applied", async () => {
    const hub = new Hub();
    servers = startCluster({ proposalTimeoutMs: 30_000 }, undefined, hub);
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const follower = servers.find((server) => server !== leader)!;
    await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
      "the follower to learn the leader");
    hub.cut.add(leader.id);
    const startedMs = Date.now();
    const outcome = await follower.submit(createApple("create-lost"));
    // Lost with the cut-off leader: the others elect a new one, and the follower says so at
    // once instead of holding its client for the whole proposal timeout.
    expect(outcome).to.deep.equal({ kind: "unknown", leaderId: outcome.kind === "unknown"
      ? outcome.leaderId : null });
    expect(Date.now() - startedMs).to.be.below(10_000);
    expect(follower.market().getItem("apple-1kg")).to.equal(undefined);
    // The client retries with the same requestId until a new leader takes it: applied once.
    let retried = await follower.submit(createApple("create-lost"));
    for (let attempt = 0; retried.kind !== "applied" && attempt < 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      retried = await follower.submit(createApple("create-lost"));
    }
    expect(retried.kind === "applied" && retried.result.ok).to.equal(true);
    expect(follower.market().getItem("apple-1kg")?.stock).to.equal(10);
  });

  it("answers a follower's write with the leader's id when it must not forward, and serves " +
    "it a linearizable read", async () => {
    servers = startCluster({ forwardProposals: false });
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const follower = servers.find((server) => server !== leader)!;
    // Right after an election a follower may not have heard from the leader yet.
    await waitFor(() => (follower.status().leaderId === leader.id ? true : undefined),
      "the follower to learn the leader");
    const refused = await follower.submit(createApple("create-f"));
    expect(refused).to.deep.equal({ kind: "notLeader", leaderId: leader.id });
    const written = await leader.submit(createApple("create-l"));
    expect(written.kind).to.equal("applied");
    const read = await follower.readBarrier();
    expect(read.kind).to.equal("ready");
    // The read point covers the acknowledged write: the follower must see it.
    expect(follower.market().getItem("apple-1kg")?.stock).to.equal(10);
  });

  it("answers 'unknown' to a write whose index its node later reuses as leader again, never " +
    "with the new write's result", async () => {
    // The leader takes three writes while cut off; the others elect a leader M whose log ends
    // before them, and M's no-op truncates them on the old leader's return. Leadership then
    // comes back to the old leader (a transfer), whose no-op and next write land on the
    // indexes its first writes had: the third one's waiter must hear "unknown", not the new
    // write's result.
    const hub = new Hub();
    servers = startCluster({ forwardProposals: false, proposalTimeoutMs: 30_000 }, undefined, hub);
    const first = await waitFor(() => leaderOf(servers), "a leader");
    // Its own first entry committed before the cut: otherwise the next leader's first entry
    // takes that index, and nothing commits past it.
    await waitFor(() => first.status().commitIndex === first.status().lastLogIndex &&
      first.status().commitIndex > 0 ? true : undefined, "the first leader's entry committed");
    const base = first.status().lastLogIndex;
    hub.cut.add(first.id);
    const lost = [1, 2, 3].map((k) => first.submit(createApple(`lost-${k}`, `lost-${k}`)));
    expect(first.status().lastLogIndex).to.equal(base + 3);
    const others = servers.filter((server) => server !== first);
    const second = await waitFor(() => others.find((server) =>
      server.status().role === "leader" && server.status().commitIndex > base), "a new leader");
    expect(second.status().lastLogIndex).to.equal(base + 1);
    hub.cut.delete(first.id);
    await waitFor(() => first.status().lastLogIndex === base + 1 &&
      first.status().leaderId === second.id ? true : undefined, "the old leader truncated");
    second.transferLeadership(first.id);
    await waitFor(() => first.status().role === "leader" &&
      first.status().commitIndex >= base + 2 ? true : undefined, "leadership back");
    const reused = await first.submit(createApple("new", "new-sku"));
    expect(reused.kind).to.equal("applied");
    if (reused.kind !== "applied") return;
    expect(reused.index).to.equal(base + 3);
    expect(reused.result.ok && reused.result.kind === "item" && reused.result.item.sku)
      .to.equal("new-sku");
    const outcomes = await Promise.all(lost);
    expect(outcomes.map((outcome) => outcome.kind)).to.deep.equal(["unknown", "unknown",
      "unknown"]);
    expect(first.market().getItem("lost-3")).to.equal(undefined);
  });

  it("stops, and answers 503 rather than 500, when a query meets a damaged stored value",
    async () => {
      const stores = new Map<NodeId, MemoryStateStore>();
      const fatal: Error[] = [];
      servers = startCluster({}, undefined, new Hub(), (id) => ({
        openStorage: () => {
          const state = new MemoryStateStore();
          stores.set(id, state);
          return { log: new MemoryStorage(), state, snapshots: new MemorySnapshotStore() };
        },
        onFatal: (error) => fatal.push(error),
      }));
      const leader = await waitFor(() => leaderOf(servers), "a leader");
      expect((await leader.submit(createApple("create-1"))).kind).to.equal("applied");
      const bought = await leader.submit({ kind: "buy", requestId: "buy-1",
        lines: [{ sku: "apple-1kg", qty: 1 }] });
      expect(bought.kind).to.equal("applied");
      const index = (bought as { index: number }).index;
      const follower = servers.find((server) => server !== leader)!;
      await waitFor(() => follower.market().getOrder(`o-${index}`), "the order on a follower");
      // Orders are read from the store (items are mirrored in memory).
      expect(stores.get(follower.id)!.damage("orders", index)).to.equal(true);
      const served = await serveNode(follower);
      try {
        const answer = await request(`${served.url}/v1/orders/o-${index}`);
        expect(answer.status).to.equal(503);
        expect(answer.body.error.code).to.equal("unavailable");
      } finally {
        await served.close();
      }
      expect(fatal.map((error) => error.name)).to.deep.equal(["StateStoreError"]);
      // Stopped: it neither serves writes nor takes part any more; the other two go on.
      expect((await follower.submit(createApple("create-2", "pear"))).kind).to.not.equal("applied");
      const survivors = servers.filter((server) => server !== follower);
      const next = await waitFor(() => leaderOf(survivors), "a leader among the others");
      expect((await next.submit(createApple("create-3", "plum"))).kind).to.equal("applied");
    });

  it("stops cleanly when an apply beside its own fsync fails: the pass waits for the fsync",
    async () => {
      // A Ready's fdatasync starts before the committed entries it may apply beside it. When
      // that apply fails (a database write error), the node stops; its stop closes the log, which
      // it must not do while that fsync is still in flight (an assertion, then an unhandled
      // rejection, and the state store left open).
      const root = mkdtempSync(path.join(tmpdir(), "raft-apply-failure-"));
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      const fatal: Error[] = [];
      const stopped = new Map<NodeId, Promise<unknown>>();
      let failedOn: NodeId | null = null;
      let armed = false;
      try {
        servers = startCluster({}, root, new Hub(), (id) => ({
          openStorage: () => {
            const log = FileStorage.open(path.join(root, id, "wal"));
            let syncing = 0;
            const syncAsync = log.syncAsync.bind(log);
            log.syncAsync = () => {
              syncing++;
              return syncAsync().finally(() => syncing--);
            };
            class FailingBesideFsync extends MemoryStateStore {
              override write(body: Parameters<MemoryStateStore["write"]>[0]): void {
                if (armed && syncing > 0 && failedOn === null) {
                  failedOn = id;
                  throw new Error("injected database write failure");
                }
                super.write(body);
              }
            }
            return { log, state: new FailingBesideFsync(), snapshots: new MemorySnapshotStore() };
          },
          onFatal: (error) => fatal.push(error),
        }));
        for (const server of servers) {
          const stop = server.stop.bind(server);
          server.stop = () => {
            const done = stop();
            stopped.set(server.id, done.then(() => null, (error: unknown) => error));
            return done;
          };
        }
        const leader = await waitFor(() => leaderOf(servers), "a leader");
        expect((await leader.submit(createApple("create-1"))).kind).to.equal("applied");
        armed = true;
        await Promise.all(Array.from({ length: 300 }, (_, k) => leader.submit({ kind: "buy",
          requestId: `buy-${k}`, lines: [{ sku: "apple-1kg", qty: 1 }] })));
        await waitFor(() => (fatal.length > 0 ? true : undefined), "the injected failure");
        expect(failedOn).to.not.equal(null);
        expect(fatal[0]!.message).to.include("injected database write failure");
        const stopError = await waitFor(() => stopped.get(failedOn!), "the failed node's stop");
        expect(stopError).to.equal(null);
        expect(unhandled).to.deep.equal([]);
      } finally {
        process.off("unhandledRejection", onUnhandled);
        await Promise.all(servers.map((server) => server.stop()));
        servers = [];
        rmSync(root, { recursive: true, force: true });
      }
    });

  it("logs a CheckQuorum step-down with its reason and serves it at /v1/cluster/events",
    async () => {
      const hub = new Hub();
      const lines = new Map<NodeId, string[]>();
      servers = startCluster({}, undefined, hub, (id) => ({
        logger: pino({ level: "info", base: { node: id } }, { write: (line: string) => {
          lines.set(id, [...(lines.get(id) ?? []), line]);
        } }),
      }));
      const leader = await waitFor(() => leaderOf(servers), "a leader");
      // The core is leader at once; the loop pass that logs its events runs a turn later.
      const elected = await waitFor(() => (lines.get(leader.id) ?? [])
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.event === "leaderElected"), "the election in the leader's log");
      expect(elected).to.include({ node: leader.id, level: 30 });
      hub.cut.add(leader.id);
      const stepDown = await waitFor(() => (lines.get(leader.id) ?? [])
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.event === "roleChanged" && line.reason === "checkQuorum"),
      "the isolated leader's step-down");
      expect(stepDown).to.include({ node: leader.id, from: "leader", to: "follower", level: 30 });
      expect(stepDown.msg).to.match(/^became follower at term \d+: CheckQuorum/);
      const served = await serveNode(leader);
      try {
        const page = await request(`${served.url}/v1/cluster/events?after=0&limit=1000`);
        expect(page.status).to.equal(200);
        expect(page.body.node).to.equal(leader.id);
        const kinds = page.body.events.map((event: { kind: string; reason?: string }) =>
          `${event.kind}${event.reason === undefined ? "" : `:${event.reason}`}`);
        expect(kinds).to.include.members(["leaderElected", "roleChanged:checkQuorum"]);
        const bad = await request(`${served.url}/v1/cluster/events?limit=0`);
        expect(bad.status).to.equal(400);
        expect(bad.body.error).to.include({ code: "invalid_request", field: "limit" });
      } finally {
        await served.close();
      }
    });

  it("refuses proposals beyond pendingProposalsMax as overloaded", async () => {
    servers = startCluster({ pendingProposalsMax: 4 });
    const leader = await waitFor(() => leaderOf(servers), "a leader");
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, k) =>
      leader.submit(createApple(`c-${k}`, `sku-${k}`))));
    const kinds = outcomes.map((outcome) => outcome.kind);
    expect(kinds.filter((kind) => kind === "overloaded")).to.have.length(8);
    expect(kinds.filter((kind) => kind === "applied")).to.have.length(4);
  });

  it("restarts from disk with every acknowledged write, and applies a retried requestId once", async () => {
    const dataRoot = mkdtempSync(path.join(tmpdir(), "raft-server-"));
    try {
      servers = startCluster({ snapshot: { entriesBetweenSnapshots: 7, trailingEntries: 2 } }, dataRoot);
      let leader = await waitFor(() => leaderOf(servers), "a leader");
      expect((await leader.submit(createApple("create-1"))).kind).to.equal("applied");
      for (let k = 0; k < 20; k++) {
        const outcome = await leader.submit({ kind: "addStock", requestId: `add-${k}`,
          sku: "apple-1kg", qty: 1 });
        expect(outcome.kind).to.equal("applied");
      }
      await Promise.all(servers.map((server) => server.stop()));
      servers = startCluster({ snapshot: { entriesBetweenSnapshots: 7, trailingEntries: 2 } }, dataRoot);
      leader = await waitFor(() => leaderOf(servers), "a leader after restart");
      // A retry of an acknowledged write returns its first result and changes nothing.
      const retried = await leader.submit({ kind: "addStock", requestId: "add-3", sku: "apple-1kg",
        qty: 1 });
      expect(retried.kind).to.equal("applied");
      const read = await leader.readBarrier();
      expect(read.kind).to.equal("ready");
      expect(leader.market().getItem("apple-1kg")?.stock).to.equal(30);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      servers = [];
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });

  it("migrates a data folder of the earlier version: its v1 snapshot into the database, then " +
    "the log after it", async () => {
    const dataRoot = mkdtempSync(path.join(tmpdir(), "raft-server-"));
    try {
      // What the earlier version left: a v1 snapshot at index 5 (term 1), and a log after it.
      const earlier = new MarketStateMachine({ sessionsMax: 500 });
      const feeder = new LogFeeder(earlier);
      // Its sessions must still be alive by the leader clocks of this test.
      feeder.timeMs = Date.now();
      feeder.apply(createApple("old-create"));
      const kept = feeder.apply({ kind: "buy", requestId: "old-buy-1",
        lines: [{ sku: "apple-1kg", qty: 2 }] });
      feeder.apply({ kind: "buy", requestId: "old-buy-2", lines: [{ sku: "apple-1kg", qty: 1 }] });
      feeder.apply({ kind: "cancel", requestId: "old-cancel", orderId: "o-3" });
      feeder.apply({ kind: "addStock", requestId: "old-add", sku: "apple-1kg", qty: 4 });
      const v2 = JSON.parse(earlier.snapshot()) as { config: object };
      const v1 = canonicalJson({ ...v2, format: "raftmarket.market.v1",
        config: { ...v2.config, ordersMax: 100_000 } });
      for (const id of ids) {
        new FileSnapshotStore(path.join(dataRoot, id, "snapshots"))
          .save({ meta: { index: 5, term: 1, voters: ids }, data: v1 });
        const log = FileStorage.open(path.join(dataRoot, id, "wal"));
        log.resetTo(5, 1);
        log.setHardState({ term: 1, vote: null, commit: 5 });
        log.sync();
        log.close();
      }
      const warnings: string[] = [];
      const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
      servers = startCluster({ logger }, dataRoot);
      expect(warnings.filter((line) => line.includes("migrated the snapshot of an earlier version")))
        .to.have.length(3);
      const leader = await waitFor(() => leaderOf(servers), "a leader after the migration");
      expect((await leader.submit({ kind: "buy", requestId: "new-buy",
        lines: [{ sku: "apple-1kg", qty: 1 }] })).kind).to.equal("applied");
      // The retry of a request the earlier version answered gets that answer.
      const retried = await leader.submit({ kind: "buy", requestId: "old-buy-1",
        lines: [{ sku: "apple-1kg", qty: 2 }] });
      expect(retried.kind === "applied" && retried.result).to.deep.equal(kept);
      await waitFor(() => new Set(servers.map((server) => server.status().stateHash)).size === 1 &&
        servers.every((server) => server.status().appliedIndex === leader.status().appliedIndex)
        ? true : undefined, "one state hash");
      for (const server of servers) {
        expect(server.market().getItem("apple-1kg")?.stock).to.equal(10 - 2 - 1 + 1 + 4 - 1);
        expect(server.market().getOrder("o-3")?.status).to.equal("cancelled");
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      servers = [];
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });
});

describe("RaftServer catch-up by snapshot", () => {
  it("brings a follower that fell far behind up to date through InstallSnapshot", async () => {
    const dataRoot = mkdtempSync(path.join(tmpdir(), "raft-server-snap-"));
    const hub = new Hub();
    const lines: string[] = [];
    const start = (id: string): RaftServer => RaftServer.start({
      id, voters: ids, dataDir: path.join(dataRoot, id), transport: hub.transport(id),
      logger: pino({ level: "info", base: { node: id } },
        { write: (line: string) => void lines.push(line) }),
      tickIntervalMs: 5,
      raft: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, snapshotChunkBytes: 512 },
      bootstrapAddresses: [], snapshot: { entriesBetweenSnapshots: 10, trailingEntries: 2 },
    });
    let running = ids.map(start);
    try {
      const leader = await waitFor(() => leaderOf(running), "a leader");
      const lagging = running.find((server) => server !== leader)!;
      await lagging.stop();
      running = running.filter((server) => server !== lagging);
      expect((await leader.submit(createApple("create"))).kind).to.equal("applied");
      for (let k = 0; k < 60; k++) {
        const outcome = await leader.submit({ kind: "addStock", requestId: `add-${k}`,
          sku: "apple-1kg", qty: 1 });
        expect(outcome.kind).to.equal("applied");
      }
      // The leader compacted its log far past the lagging node: only a snapshot can help it.
      expect(leader.status().appliedIndex).to.be.greaterThan(50);
      const restarted = start(lagging.id);
      running.push(restarted);
      await waitFor(() => {
        const status = restarted.status();
        return status.appliedIndex === leader.status().appliedIndex &&
          status.stateHash === leader.status().stateHash ? true : undefined;
      }, "the lagging node to catch up");
      expect(restarted.market().getItem("apple-1kg")?.stock).to.equal(70);
      // It got there by InstallSnapshot: the leader encoded one from its database when asked,
      // and the lagging node installed one past index 50.
      const logged = lines.map((line) => JSON.parse(line) as { node: string; msg: string;
        event?: string; to?: string; snapshotIndex?: number });
      expect(logged.some((line) => line.node === leader.id &&
        line.msg === "encoded a snapshot for a follower")).to.equal(true);
      expect(logged.some((line) => line.node === leader.id && line.event === "snapshotSent" &&
        line.to === lagging.id)).to.equal(true);
      const installed = logged.filter((line) => line.node === lagging.id &&
        line.event === "snapshotInstalled");
      expect(Math.max(0, ...installed.map((line) => line.snapshotIndex ?? 0))).to.be.greaterThan(50);
      expect(logged.some((line) => line.node === lagging.id && line.event === "snapshotReceived"))
        .to.equal(true);
    } finally {
      await Promise.all(running.map((server) => server.stop()));
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });
});

describe("RaftServer after a crash mid-install", () => {
  /** A market at index 20 with orders, its v3 text, and the Raft meta a leader would send. */
  async function sourceSnapshot(): Promise<{ market: MarketStateMachine; text: string;
    meta: { index: number; term: number; voters: string[]; members: never[] } }> {
    const market = new MarketStateMachine({}, new MemoryStateStore());
    const log = new LogFeeder(market);
    log.apply({ kind: "createItem", requestId: "c", sku: "apple-1kg", name: "Apple",
      area: "Fruit", priceCents: 100, stock: 1000 });
    for (let k = 0; k < 19; k++) {
      log.apply({ kind: "buy", requestId: `b${k}`, lines: [{ sku: "apple-1kg", qty: 1 }] });
    }
    const store = (market as unknown as { store: MemoryStateStore }).store;
    return { market, text: (await snapshotStreamText(store)).join(""),
      meta: { index: market.appliedIndex, term: 1, voters: ids, members: [] } };
  }

  /** A data folder whose database an install of `text` left after `steps` writes. */
  async function cutShort(dataDir: string, text: string, meta: object, steps: number,
    keepFile: boolean): Promise<void> {
    const store = LmdbStateStore.open(path.join(dataDir, "state"));
    new MarketStateMachine({}, store);
    const chunks = [text];
    const install = new MarketSnapshotInstall(store, () => chunks.shift() ?? null, meta,
      { index: (meta as { index: number }).index }, 3);
    for (let k = 0; k < steps; k++) expect(install.step()).to.equal(false);
    await store.flushed();
    await store.close();
    FileStorage.open(path.join(dataDir, "wal")).close();
    if (keepFile) writeFileSync(path.join(dataDir, "snapshot-installing"), text, "latin1");
  }

  it("redoes the install from the snapshot file it was reading, then serves", async () => {
    const dataRoot = mkdtempSync(path.join(tmpdir(), "raft-server-install-"));
    const { market, text, meta } = await sourceSnapshot();
    await cutShort(path.join(dataRoot, "n1"), text, meta, 3, true);
    const warnings: string[] = [];
    const server = RaftServer.start({
      id: "n1", voters: ids, dataDir: path.join(dataRoot, "n1"), transport: new Hub().transport("n1"),
      logger: pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) }),
      tickIntervalMs: 5, bootstrapAddresses: [],
      snapshot: { entriesBetweenSnapshots: 50, trailingEntries: 5 },
    });
    try {
      expect(warnings.some((line) => line.includes("redid a snapshot install"))).to.equal(true);
      expect(server.status().appliedIndex).to.equal(meta.index);
      expect(server.status().stateHash).to.equal(market.stateHash());
      expect(server.market().getOrder("o-20")?.index).to.equal(20);
    } finally {
      await server.stop();
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });

  it("refuses to start on a database cut short mid-install without its snapshot file", async () => {
    const dataRoot = mkdtempSync(path.join(tmpdir(), "raft-server-install-"));
    const { text, meta } = await sourceSnapshot();
    await cutShort(path.join(dataRoot, "n1"), text, meta, 2, false);
    try {
      expect(() => RaftServer.start({
        id: "n1", voters: ids, dataDir: path.join(dataRoot, "n1"),
        transport: new Hub().transport("n1"), logger: pino({ level: "silent" }),
        tickIntervalMs: 5, bootstrapAddresses: [],
        snapshot: { entriesBetweenSnapshots: 50, trailingEntries: 5 },
      })).to.throw(/snapshot install cut short/);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });

  it("refuses a memory store a crash left mid-install (MemoryStateStore.crash)", async () => {
    const { text, meta } = await sourceSnapshot();
    const store = new MemoryStateStore();
    new MarketStateMachine({}, store);
    await store.flushed();
    const chunks = [text];
    const install = new MarketSnapshotInstall(store, () => chunks.shift() ?? null, meta,
      { index: meta.index }, 3);
    while (!install.step()) { /* whole, unflushed */ }
    const crashed = store.crash(2);
    expect(() => RaftServer.start({
      id: "n1", voters: ids, dataDir: "/nonexistent/n1", transport: new Hub().transport("n1"),
      logger: pino({ level: "silent" }), tickIntervalMs: 5, bootstrapAddresses: [],
      snapshot: { entriesBetweenSnapshots: 50, trailingEntries: 5 },
      openStorage: () => ({ log: new MemoryStorage(), state: crashed,
        snapshots: new MemorySnapshotStore() }),
    })).to.throw(/snapshot install cut short/);
  });
});
