/** The client API of a node (DESIGN.md §3): the express app and its one error type. */
export {
  ApiError,
  apiErrorStatus,
  rejectionToApiError,
  type ApiErrorCode,
  type ApiErrorDetails,
} from "./api-error.js";
export {
  adminRouter,
  adminRulesMax,
  validateRules,
  type AdminFaults,
  type AdminOptions,
} from "./admin-routes.js";
export {
  clientAppDefaults,
  createClientApp,
  nodeHeader,
  type ClientAppOptions,
} from "./client-app.js";
export {
  clientServerDefaults,
  createClientServer,
  listenClientApp,
  type ClientServerSettings,
} from "./client-server.js";
export { forwardedHeader, leaderHeader } from "./leader-forwarder.js";
export { parseConsistency, type Consistency } from "./market-routes.js";
