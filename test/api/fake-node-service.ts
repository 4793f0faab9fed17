/**
 * A NodeService for API and CLI tests: a real MarketStateMachine behind a scriptable node. As
 * leader it applies every submitted request at the next index at once; as follower it answers
 * notLeader with its leaderId; `nextSubmit` and `nextRead` script one outcome each (overloaded,
 * timeout, a promise that never settles...). It records what it was asked.
 */
import {
  commandFromRequest,
  demoRequests,
  MarketStateMachine,
  type MarketConfig,
  type MarketRequest,
} from "../../src/market/index.js";
import type {
  NodeService,
  NodeStatus,
  ReadBarrierOutcome,
  SubmitOutcome,
} from "../../src/node/node-service.js";
import { logTailOf, type LogTail } from "../../src/node/log-tail.js";
import { RaftEventLog, type RaftEventPage } from "../../src/node/raft-event-log.js";
import type { Entry, Role } from "../../src/raft/index.js";
import pino from "pino";

export class FakeNodeService implements NodeService {
  readonly machine: MarketStateMachine;
  role: Role = "leader";
  leaderId: string | null;
  term = 3;
  readonly clientUrls = new Map<string, string>();
  readonly submitted: MarketRequest[] = [];
  readBarrierCalls = 0;
  /** Answers the next submit instead of the default behaviour, then clears itself. */
  nextSubmit: (() => Promise<SubmitOutcome>) | null = null;
  nextRead: (() => Promise<ReadBarrierOutcome>) | null = null;
  /** Thrown by status(), to test the 500 path. */
  statusError: Error | null = null;
  /** Thrown by market(), as a damaged state store throws from a query. */
  marketError: Error | null = null;
  /** What storageFailed was told. */
  readonly storageFailures: Error[] = [];
  /** Raft events to serve: record into it. */
  readonly events: RaftEventLog;
  private index = 0;

  constructor(readonly id: string, config: Partial<MarketConfig> = {}) {
    this.machine = new MarketStateMachine(config);
    this.leaderId = id;
    this.events = new RaftEventLog(id, pino({ level: "silent" }));
  }

  /** Makes this node a follower of `leaderId` (null: no leader known). */
  follow(leaderId: string | null): this {
    this.role = "follower";
    this.leaderId = leaderId;
    return this;
  }

  /** Applies the demo catalogue directly, as if committed. */
  loadDemo(): this {
    for (const request of demoRequests()) this.applyNow(request);
    return this;
  }

  applyNow(request: MarketRequest): SubmitOutcome {
    this.index += 1;
    const result = this.machine.apply(commandFromRequest(request, 1_700_000_000_000), this.index);
    return { kind: "applied", result, index: this.index };
  }

  submit(request: MarketRequest): Promise<SubmitOutcome> {
    this.submitted.push(request);
    const scripted = this.nextSubmit;
    if (scripted !== null) {
      this.nextSubmit = null;
      return scripted();
    }
    if (this.role !== "leader") {
      return Promise.resolve({ kind: "notLeader", leaderId: this.leaderId });
    }
    return Promise.resolve(this.applyNow(request));
  }

  readBarrier(): Promise<ReadBarrierOutcome> {
    this.readBarrierCalls += 1;
    const scripted = this.nextRead;
    if (scripted !== null) {
      this.nextRead = null;
      return scripted();
    }
    if (this.leaderId === null) return Promise.resolve({ kind: "noLeader", leaderId: null });
    return Promise.resolve({ kind: "ready", appliedIndex: this.machine.appliedIndex });
  }

  market(): MarketStateMachine {
    if (this.marketError !== null) throw this.marketError;
    return this.machine;
  }

  raftEvents(after: number, limit: number): RaftEventPage {
    return this.events.page(after, limit);
  }

  storageFailed(error: Error): void {
    this.storageFailures.push(error);
  }

  status(): NodeStatus {
    if (this.statusError !== null) throw this.statusError;
    return {
      id: this.id, role: this.role, term: this.term, leaderId: this.leaderId,
      commitIndex: this.index, appliedIndex: this.machine.appliedIndex, lastLogIndex: this.index,
      members: ["n1", "n2", "n3"], stateHash: this.machine.stateHash(),
      vote: this.role === "leader" ? this.id : this.leaderId, lastLogTerm: this.term,
      progress: {}, electionElapsedTicks: 0, electionTimeoutTicks: 15,
    };
  }

  /** Every applied write is one entry of the current term; nothing is compacted. */
  logTail(limit: number): LogTail {
    const entries: Entry[] = Array.from({ length: this.index }, (_unused, k) =>
      ({ index: k + 1, term: this.term, kind: "normal", data: "{}" }));
    return logTailOf({ entries: (low, high) => entries.slice(low - 1, high - 1),
      compactedIndex: () => 0 }, { id: this.id, term: this.term, commitIndex: this.index,
      lastLogIndex: this.index }, limit);
  }

  clientUrlOf(id: string): string | null {
    return this.clientUrls.get(id) ?? null;
  }
}
