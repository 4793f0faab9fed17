/** The client library of the API in DESIGN.md §3. */
export { backoffDelayMs, type BackoffOptions } from "./backoff.js";
export {
  CircuitBreaker,
  type BreakerState,
  type CircuitBreakerOptions,
} from "./circuit-breaker.js";
export {
  endpointsFromEnv,
  endpointsVariable,
  normalizeEndpoint,
  parseEndpointList,
} from "./endpoints.js";
export {
  MarketClient,
  marketClientDefaults,
  type Consistency,
  type EndpointStatus,
  type ItemRead,
  type ItemsRead,
  type MarketClientOptions,
  type OrderRead,
  type ReadOptions,
  type SearchOptions,
  type WriteOptions,
} from "./market-client.js";
export {
  MarketClientError,
  type MarketClientErrorCode,
  type MarketClientErrorInit,
} from "./market-client-error.js";
export { EndpointSelector } from "./endpoint-selector.js";
export type { RaftEventPage, RaftEventRecord } from "../wire/raft-events.js";
