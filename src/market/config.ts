/**
 * Configuration of one MarketStateMachine: the bounds on its replicated tables. Every replica
 * must use the same values, or they would expire and evict differently; so the values travel
 * inside every snapshot, and a restored machine takes them from the snapshot.
 */
export interface MarketConfig {
  /** Sessions (requestId -> first result) kept; when full, the oldest is evicted. */
  readonly sessionsMax: number;
  /**
   * A session expires once the log clock (the highest timeMs applied so far) is this far past
   * the time it was recorded. A client must not retry a requestId for longer than this.
   */
  readonly sessionTtlMs: number;
  /** Items in the catalogue; a createItem beyond this is rejected as limitExceeded. */
  readonly itemsMax: number;
}

export const defaultMarketConfig = {
  sessionsMax: 100_000,
  sessionTtlMs: 10 * 60 * 1000,
  itemsMax: 100_000,
} as const satisfies MarketConfig;

/** A configuration that cannot work. The message lists every problem, one per line. */
export class MarketConfigError extends Error {
  override readonly name = "MarketConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid market config:\n  - ${problems.join("\n  - ")}`);
  }
}

const configFields = [
  "sessionsMax", "sessionTtlMs", "itemsMax",
] as const satisfies readonly (keyof MarketConfig)[];

/** Bounds that keep one replica's memory sane; far above any useful setting. */
const configValueMax = 100_000_000;

/** Returns every problem with `config`; an empty list means it is valid. */
export function marketConfigProblems(config: MarketConfig): string[] {
  const problems: string[] = [];
  for (const field of configFields) {
    const value: unknown = config[field];
    const max = field === "sessionTtlMs" ? Number.MAX_SAFE_INTEGER : configValueMax;
    if (!(typeof value === "number" && Number.isSafeInteger(value) && value >= 1 &&
      value <= max)) {
      problems.push(`${field} must be an integer in [1, ${max}], got ${String(value)}`);
    }
  }
  return problems;
}

/** Throws MarketConfigError listing every problem, if there is any. */
export function validateMarketConfig(config: MarketConfig): void {
  const problems = marketConfigProblems(config);
  if (problems.length > 0) throw new MarketConfigError(problems);
}
