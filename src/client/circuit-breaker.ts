/**
 * A circuit breaker per endpoint (Nygard, "Release It!"): it stops a client from spending its
 * retry budget on a node that is down. It counts only failures to get any HTTP answer
 * (connection refused or reset, timeouts); a node that answers, even with an error, is up.
 *
 *   closed --failuresMax consecutive failures--> open --cooldownMs--> half-open
 *   half-open --the one trial succeeds--> closed
 *   half-open --the one trial fails-----> open (the cooldown starts again)
 */
export type BreakerState = "closed" | "open" | "halfOpen";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failuresMax: number;
  /** How long an open breaker refuses before it lets one trial through. */
  readonly cooldownMs: number;
}

export class CircuitBreaker {
  private stateValue: BreakerState = "closed";
  /** Invariant: < failuresMax while closed. */
  private consecutiveFailures = 0;
  private openedAtMs = 0;
  /** Invariant: only true while half-open. */
  private trialInFlight = false;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!(options.failuresMax >= 1 && options.cooldownMs >= 0)) {
      throw new RangeError("circuit breaker: failuresMax >= 1 and cooldownMs >= 0");
    }
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  /**
   * Whether a request may go to this endpoint now. When it says yes to an open breaker past
   * its cooldown, that request is the half-open trial: the caller must report its outcome.
   */
  tryAcquire(nowMs: number): boolean {
    switch (this.stateValue) {
      case "closed":
        return true;
      case "open":
        if (nowMs - this.openedAtMs < this.options.cooldownMs) return false;
        this.stateValue = "halfOpen";
        this.trialInFlight = true;
        return true;
      case "halfOpen":
        if (this.trialInFlight) return false;
        this.trialInFlight = true;
        return true;
    }
  }

  /** When an open breaker will let a trial through (now, for closed or half-open ones). */
  availableAtMs(nowMs: number): number {
    return this.stateValue === "open" ? this.openedAtMs + this.options.cooldownMs : nowMs;
  }

  recordSuccess(): void {
    this.stateValue = "closed";
    this.consecutiveFailures = 0;
    this.trialInFlight = false;
  }

  recordFailure(nowMs: number): void {
    this.trialInFlight = false;
    if (this.stateValue === "halfOpen") {
      this.open(nowMs);
      return;
    }
    this.consecutiveFailures += 1;
    if (this.consecutiveFailures >= this.options.failuresMax) this.open(nowMs);
  }

  private open(nowMs: number): void {
    this.stateValue = "open";
    this.openedAtMs = nowMs;
    this.consecutiveFailures = 0;
  }
}
