/** The public surface of the marketplace state machine. Everything else is internal. */
export { InvariantError } from "./assert.js";
export { canonicalJson, sha256Hex } from "./canonical.js";
export type { SearchQuery } from "./catalogue.js";
export {
  commandFromRequest,
  encodeCommand,
  requestKey,
  requestKeyOfData,
  restampCommand,
  marketErrorCodes,
  type AddStockCommand,
  type BuyCommand,
  type CancelCommand,
  type CreateItemBody,
  type CreateItemCommand,
  type MarketCommand,
  type MarketCommandKind,
  type MarketErrorCode,
  type MarketRejection,
  type MarketRequest,
  type MarketResult,
  type MarketSuccess,
} from "./commands.js";
export {
  defaultMarketConfig,
  MarketConfigError,
  marketConfigProblems,
  validateMarketConfig,
  type MarketConfig,
} from "./config.js";
export { demoCatalogue, demoRequests } from "./demo-data.js";
export {
  encodeMarketSnapshotAsync, MarketSnapshotError, marketSnapshotFormat, type MarketSnapshotState,
} from "./market-snapshot.js";
export {
  installMarketSnapshot,
  MarketInstallInterruptedError,
  MarketSnapshotInstall,
  MarketStateMachine,
  type InstallMarker,
  type MarketEntry,
  type MarketStats,
  type SnapshotExpectations,
} from "./market-state-machine.js";
export {
  asciiJson,
  decodeMarketSnapshotChunks,
  encodeMarketSnapshotStream,
  MarketSnapshotDecoder,
  marketSnapshotFormatV3,
  type MarketSnapshotHeader,
  type MarketSnapshotRecord,
} from "./market-snapshot-stream.js";
export type { StateStore } from "./state-store.js";
export {
  marketLimits,
  orderIdForIndex,
  type Item,
  type Order,
  type OrderLine,
  type OrderLineRequest,
  type OrderStatus,
} from "./model.js";
export { commandDigest } from "./sessions.js";
export {
  validateAddStockRequest,
  validateBuyRequest,
  validateCancelRequest,
  validateCommand,
  validateCreateItemRequest,
  validateRequest,
  validateSearchQuery,
  type CommandValidation,
  type FieldProblem,
  type RequestValidation,
  type SearchQueryValidation,
} from "./validate.js";
