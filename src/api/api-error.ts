/**
 * The one error type of the client API (STYLE.md §4): every failure a client can see becomes
 * exactly one ApiError, whose code decides the HTTP status through `apiErrorStatus`, and the
 * error middleware renders it as `{"error":{"code","message",...details}}` (DESIGN.md §3).
 */
import type { MarketRejection } from "../market/index.js";
import type { ApiErrorCode } from "../wire/api-error-code.js";

// The codes are a type of the wire (src/wire/), shared with the client.
export type { ApiErrorCode } from "../wire/api-error-code.js";

/** The HTTP status of every code, once (tRPC's JSONRPC2_TO_HTTP_CODE). */
export const apiErrorStatus: Readonly<Record<ApiErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  not_found: 404,
  insufficient_stock: 409,
  conflict: 409,
  limit_exceeded: 409,
  too_large: 413,
  no_leader: 503,
  unavailable: 503,
  timeout: 504,
  unauthorized: 401,
  unsupported_media_type: 415,
  request_timeout: 408,
  headers_too_large: 431,
  internal: 500,
});

/** The codes a 4xx from the HTTP stack (node's parser, express, body-parser) may become. */
const clientStatusCodes: readonly ApiErrorCode[] = ["invalid_request", "unauthorized",
  "not_found", "too_large", "unsupported_media_type", "request_timeout", "headers_too_large"];

/** The code of a 4xx status the HTTP stack chose: its entry in the table, else 400. */
export function codeOfClientStatus(status: number): ApiErrorCode {
  return clientStatusCodes.find((code) => apiErrorStatus[code] === status) ?? "invalid_request";
}

/** Extra fields of an error body, beside code and message: `field`, `sku`, `leaderId`... */
export type ApiErrorDetails = Readonly<Record<string, string | number | null>>;

export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: ApiErrorDetails = {},
  ) {
    super(message);
  }

  get status(): number {
    return apiErrorStatus[this.code];
  }

  /** The response body. Details never overwrite code or message. */
  toBody(): { error: Record<string, string | number | null> } {
    return { error: { ...this.details, code: this.code, message: this.message } };
  }
}

export function invalidRequest(field: string, message: string): ApiError {
  return new ApiError("invalid_request", `${field} ${message}`, { field });
}

/** The longest piece of client input echoed back in a message. */
export const echoLengthMax = 80;

/** `text` for an error message, cut to echoLengthMax characters so a huge input is not echoed. */
export function truncateForMessage(text: string): string {
  return text.length <= echoLengthMax ? text
    : `${text.slice(0, echoLengthMax)}... (${text.length} characters)`;
}

export function noLeader(leaderId: string | null, message?: string): ApiError {
  return new ApiError("no_leader", message ?? (leaderId === null
    ? "no leader is known: an election may be under way, retry shortly"
    : `leader ${leaderId} cannot be reached from here, retry shortly`), { leaderId });
}

export function timeoutError(message: string): ApiError {
  return new ApiError("timeout", `${message}; the outcome is unknown: retry with the same ` +
    "requestId");
}

/**
 * The one mapping from a state-machine rejection to an ApiError (the table in
 * src/market/commands.ts).
 */
export function rejectionToApiError(rejection: MarketRejection): ApiError {
  switch (rejection.error) {
    case "invalidCommand":
      return new ApiError("invalid_request", rejection.message, { field: rejection.field });
    case "notFound":
      return rejection.resource === "item"
        ? new ApiError("not_found", rejection.message, { resource: "item", sku: rejection.sku })
        : new ApiError("not_found", rejection.message,
          { resource: "order", orderId: rejection.orderId });
    case "alreadyExists":
      return new ApiError("conflict", rejection.message, { sku: rejection.sku });
    case "insufficientStock":
      return new ApiError("insufficient_stock", rejection.message, {
        sku: rejection.sku, available: rejection.available, requested: rejection.requested,
      });
    case "requestIdConflict":
      return new ApiError("conflict", rejection.message, { requestId: rejection.requestId });
    case "limitExceeded":
      return new ApiError("limit_exceeded", rejection.message,
        { field: rejection.field, limit: rejection.limit });
    default:
      return assertNeverRejection(rejection);
  }
}

function assertNeverRejection(rejection: never): never {
  throw new Error(`unhandled market rejection ${JSON.stringify(rejection)}`);
}
