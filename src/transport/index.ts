export type { PeerAddress, Transport } from "./transport.js";
export type { PeerStats, TransportStats } from "./transport-stats.js";
export { BoundedQueue } from "./bounded-queue.js";
export {
  MemoryNetwork,
  MemoryTransport,
  memoryQueueMessagesMaxDefault,
  type MemoryTransportOptions,
} from "./memory-transport.js";
export {
  HttpTransport,
  httpTransportDefaults,
  type HttpTransportOptions,
} from "./http-transport.js";
export { parsePeerIdentity, peerIdentityPath, type PeerIdentity } from "./peer-identity.js";
export { clusterIdHeader, peerMessagesPath } from "./peer-app.js";
export {
  parseRaftMessages,
  raftBatchSchema,
  raftMessageSchema,
  type ParseResult,
} from "./peer-message-schema.js";
export {
  FaultyTransport,
  delayedMessagesMaxDefault,
  linkRuleError,
  type FaultStats,
  type FaultyTransportOptions,
  type IncomingFaults,
  type LinkEnd,
  type LinkRule,
} from "./faulty-transport.js";
