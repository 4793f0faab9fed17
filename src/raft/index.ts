/** The public surface of the Raft core. Everything else in src/raft/ is internal. */
export { assert, assertNever, InvariantError } from "./assert.js";
export {
  defaultRaftConfig,
  makeRaftConfig,
  raftConfigProblems,
  RaftConfigError,
  validateRaftConfig,
  type RaftConfig,
} from "./config.js";
export * from "./messages.js";
export {
  applyConfChange,
  confOfMeta,
  confOfStatus,
  confStateProblem,
  decodeConfChange,
  emptyConfState,
  encodeConfChange,
  isJoint,
  isVoter,
  members,
  metaOfConf,
  type ConfChange,
  type ConfChangeOp,
  type ConfState,
} from "./conf-state.js";
export {
  eventsPerReadyMax,
  type RaftEvent,
  type RaftEventKind,
  type RoleChangeReason,
  type VoteRefusal,
} from "./events.js";
export { emptyInitialState, type RaftInitialState } from "./raft.js";
export {
  mayPrecedePersist,
  RaftNode,
  type ConfChangeProposeResult,
  type ConfChangeRefusal,
  type ForwardMessageResult,
  type ForwardResult,
  type ProgressStatus,
  type ProposeResult,
  type RaftStatus,
  type ReadIndexResult,
  type Ready,
  type SoftState,
  type TransferResult,
} from "./raft-node.js";
export { SeededRng, type Rng } from "./rng.js";
export {
  ChunkedSnapshotData,
  MemorySnapshotReceiver,
  snapshotText,
  type SnapshotReceiver,
} from "./snapshot-data.js";
export type { OfferSnapshotResult } from "./snapshot-supply.js";
export {
  violationReasons,
  violationsPerReadyMax,
  type ProtocolViolation,
  type ViolationReason,
} from "./violation.js";
