/** The public surface of the storage layer. */
export * from "./storage.js";
export { EntryLog } from "./entry-log.js";
export {
  MemorySnapshotStore,
  MemoryStorage,
  defaultMemoryStorageOptions,
  type MemorySnapshotStoreOptions,
  type MemoryStorageOptions,
} from "./memory-storage.js";
export {
  FileStorage,
  defaultFileStorageOptions,
  describeRecovery,
  type FileStorageOptions,
  type FileStorageStats,
  type RecoverySummary,
} from "./file-storage.js";
export {
  FileSnapshotStore,
  defaultFileSnapshotStoreOptions,
  type FileSnapshotStoreOptions,
} from "./snapshot-store.js";
export {
  describeRepair,
  lostCommittedRange,
  repairWal,
  type RemovedBytes,
  type RepairReport,
} from "./wal-repair.js";
export {
  dataDirIsPristine,
  fenceIdentity,
  identityFileName,
  newIncarnation,
  readIdentity,
  writeIdentity,
  type IdentityFence,
  type AddressRecord,
  type BootstrapRecord,
  type JoinRecord,
  type NodeIdentity,
} from "./node-identity.js";
