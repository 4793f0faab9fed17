/**
 * The codes of DESIGN.md §3, plus these extensions: `limit_exceeded` (409, the state is at one
 * of its bounds), `unauthorized` (401, an admin request without the cluster's admin token),
 * `unsupported_media_type` (415, a body that is not JSON, or in a content-encoding or charset
 * the API does not read), `request_timeout` (408, the request did not arrive within the
 * server's bound), `headers_too_large` (431) and `internal` (500, a bug; the details are
 * logged, not sent).
 */
export type ApiErrorCode =
  | "invalid_request"
  | "not_found"
  | "insufficient_stock"
  | "conflict"
  | "limit_exceeded"
  | "too_large"
  | "no_leader"
  | "unavailable"
  | "timeout"
  | "unauthorized"
  | "unsupported_media_type"
  | "request_timeout"
  | "headers_too_large"
  | "internal";
