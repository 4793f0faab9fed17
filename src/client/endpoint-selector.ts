/**
 * Leader discovery for MarketClient: which endpoint the next attempt goes to. It prefers the
 * endpoint that answered last, moves to the leader when a node names it (and its endpoint is
 * known), moves to the next endpoint when one gives no answer, and skips endpoints whose
 * circuit breaker is open. Node ids are mapped to endpoints from configuration and from the
 * `x-raftmarket-node` header of every answer.
 */
import { CircuitBreaker, type CircuitBreakerOptions } from "./circuit-breaker.js";

/** At most this many endpoints, configured and learned: removed members stay listed. */
const endpointsMax = 64;

export class EndpointSelector {
  private readonly urls: string[];
  private readonly breakers: CircuitBreaker[];
  private readonly endpointById = new Map<string, string>();
  /** The endpoint tried first. Invariant: 0 <= preferred < endpoints.length. */
  private preferred = 0;

  /** `endpoints` are normalized, distinct and not empty. */
  constructor(endpoints: readonly string[], private readonly breaker: CircuitBreakerOptions,
    nodeEndpoints: ReadonlyMap<string, string>) {
    if (endpoints.length === 0) throw new TypeError("EndpointSelector: no endpoints");
    this.urls = [...endpoints];
    this.breakers = endpoints.map(() => new CircuitBreaker(breaker));
    for (const [id, url] of nodeEndpoints) this.endpointById.set(id, url);
  }

  /** The endpoints, configured first, then those learned from the cluster (addEndpoint). */
  get endpoints(): readonly string[] {
    return this.urls;
  }

  /**
   * A member the cluster named (a node added after the client was configured): tried like the
   * others from now on. Bounded by the members a cluster can have.
   */
  addEndpoint(url: string, id: string): void {
    this.endpointById.set(id, url);
    if (this.urls.includes(url) || this.urls.length >= endpointsMax) return;
    this.urls.push(url);
    this.breakers.push(new CircuitBreaker(this.breaker));
  }

  get preferredEndpoint(): string {
    return this.url(this.preferred);
  }

  url(index: number): string {
    const url = this.endpoints[index];
    if (url === undefined) throw new RangeError(`no endpoint ${index}`);
    return url;
  }

  endpointOf(id: string): string | null {
    return this.endpointById.get(id) ?? null;
  }

  /** The node id known at `url`, or null. */
  idOf(url: string): string | null {
    for (const [id, known] of this.endpointById) if (known === url) return id;
    return null;
  }

  /** Records that node `id` answered at `url`. */
  learn(id: string | null, url: string): void {
    if (id !== null) this.endpointById.set(id, url);
  }

  /**
   * The first endpoint, from the preferred one on, whose breaker lets a request through now,
   * or null when every breaker is open. The caller must report the attempt's outcome.
   */
  pick(nowMs: number): number | null {
    for (let k = 0; k < this.endpoints.length; k++) {
      const index = (this.preferred + k) % this.endpoints.length;
      if (this.breakers[index]!.tryAcquire(nowMs)) return index;
    }
    return null;
  }

  /** When the first open breaker will allow a trial. */
  availableAtMs(nowMs: number): number {
    return Math.min(...this.breakers.map((breaker) => breaker.availableAtMs(nowMs)));
  }

  /** Endpoint `index` gave no answer: it counts against its breaker; try the next one. */
  recordNoAnswer(index: number, nowMs: number): void {
    this.breakers[index]!.recordFailure(nowMs);
    this.preferred = (index + 1) % this.endpoints.length;
  }

  /** Endpoint `index` answered (success or error): it is up. */
  recordAnswer(index: number): void {
    this.breakers[index]!.recordSuccess();
  }

  /** After a success: stay, or go straight to the leader that a follower forwarded to. */
  preferAfterSuccess(index: number, leaderId: string | null): void {
    this.preferred = this.indexOfNode(leaderId) ?? index;
  }

  /** After a retryable answer: stay on `index`. */
  stay(index: number): void {
    this.preferred = index;
  }

  /** After no_leader or a timeout: go to the hinted leader if known, else the next endpoint. */
  followHint(index: number, leaderId: string | null): void {
    const hinted = this.indexOfNode(leaderId);
    this.preferred = hinted !== null && hinted !== index ? hinted
      : (index + 1) % this.endpoints.length;
  }

  private indexOfNode(id: string | null): number | null {
    if (id === null) return null;
    const url = this.endpointById.get(id);
    if (url === undefined) return null;
    const index = this.endpoints.indexOf(url);
    return index < 0 ? null : index;
  }
}
