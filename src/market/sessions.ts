/**
 * Exactly-once requests: the session table maps each requestId to the first result of the
 * command that carried it. A retry of the same request (same digest) gets that stored result
 * and is not applied again; the same requestId with a different body is a requestIdConflict.
 *
 * The table is replicated state: it changes only inside apply and travels in snapshots, so
 * every replica answers a retry identically, whichever replica the client reaches after a
 * failover. It is bounded two ways, both deterministic because they depend only on the log:
 *
 *   - expiry: the log clock is the highest timeMs applied so far (leaders' clocks may step
 *     back across a failover; the maximum does not). A session recorded at log clock t
 *     expires once the log clock reaches t + sessionTtlMs.
 *   - eviction: recording into a full table first forgets the oldest session.
 *
 * A retry later than either bound is applied as a new request; clients must retry within
 * sessionTtlMs, and sessionsMax must cover the requests of that long.
 *
 * The table lives in the state store (market-state-machine.ts: tables sessions and
 * sessionQueue, the queue holding requestIds oldest first, so expiry and eviction take its
 * head).
 */
import { canonicalJson, sha256Hex } from "./canonical.js";
import type { BuyCommand, MarketCommand, MarketResult } from "./commands.js";

export interface Session {
  readonly requestId: string;
  /** commandDigest of the command that created the session. */
  readonly digest: string;
  /** The log clock when the session was recorded. */
  readonly recordedAtMs: number;
  /** The log index of the command that created the session. */
  readonly index: number;
  readonly result: MarketResult;
}

/**
 * The identity of a request: the sha256 of the canonical JSON of the command without timeMs
 * (the leader's clock at proposal differs between a request and its retry).
 */
export function commandDigest(command: MarketCommand): string {
  if (command.kind === "buy") return sha256Hex(buyRequestJson(command));
  const { timeMs: _timeMs, ...request } = command;
  return sha256Hex(canonicalJson(request));
}

/**
 * canonicalJson of a buy without its timeMs, written out: every replica digests every buy it
 * applies, and the copy without timeMs, encoded member by member with its keys sorted, cost
 * each replica about as much as the hash. A validated buy holds exactly these fields
 * (validate.ts builds it); test/market/sessions.test.ts checks this against canonicalJson.
 */
function buyRequestJson(command: BuyCommand): string {
  let lines = "";
  for (const line of command.lines) {
    lines += `${lines === "" ? "" : ","}{"qty":${JSON.stringify(line.qty)},` +
      `"sku":${JSON.stringify(line.sku)}}`;
  }
  return `{"kind":"buy","lines":[${lines}],"requestId":${JSON.stringify(command.requestId)}}`;
}
