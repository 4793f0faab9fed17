/**
 * The one place where errors become HTTP answers (STYLE.md §4, Hono's errorHandler): an
 * ApiError is rendered with the status its code maps to; a client-side error of the HTTP stack
 * (express's router, http-errors, body-parser and raw-body: a `status` or `statusCode` of 4xx,
 * `expose`, a known `type`, a URIError from a malformed percent-escape) becomes the matching
 * 4xx ApiError, logged at debug without a stack; damaged storage (StateStoreError) stops the
 * node and is 503 unavailable; anything else is a bug, logged with its stack and answered 500
 * internal without details.
 */
import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { StateStoreError } from "../market/state-store.js";
import {
  ApiError,
  codeOfClientStatus,
  truncateForMessage,
  type ApiErrorCode,
} from "./api-error.js";

/** What the errors of the HTTP stack carry: http-errors sets status, statusCode and expose. */
interface HttpStackError {
  readonly status?: unknown;
  readonly statusCode?: unknown;
  readonly expose?: unknown;
  readonly type?: unknown;
}

/** The code of each `type` body-parser and raw-body give their errors. */
const codeOfType: Readonly<Record<string, ApiErrorCode>> = {
  "entity.too.large": "too_large",
  "entity.parse.failed": "invalid_request",
  "entity.verify.failed": "invalid_request",
  "encoding.unsupported": "unsupported_media_type",
  "charset.unsupported": "unsupported_media_type",
  "request.aborted": "invalid_request",
  "request.size.invalid": "invalid_request",
  "stream.encoding.set": "invalid_request",
  "stream.not.readable": "invalid_request",
};

/** The 4xx status of a client-side error of the HTTP stack, or null if it is not one. */
function clientStatusOf(error: unknown): number | null {
  if (typeof error !== "object" || error === null) return null;
  const candidate = error as HttpStackError;
  const status = typeof candidate.status === "number" ? candidate.status
    : typeof candidate.statusCode === "number" ? candidate.statusCode : null;
  if (status !== null && status >= 400 && status < 500) return status;
  if (candidate.expose === true) return 400;
  if (typeof candidate.type === "string" && Object.hasOwn(codeOfType, candidate.type)) return 400;
  return null;
}

/** Translates an error thrown anywhere in a request into an ApiError, or null for a bug. */
export function toApiError(error: unknown, bodyLimitBytes: number): ApiError | null {
  if (error instanceof ApiError) return error;
  // Express's router throws it when a path parameter holds a malformed percent-escape.
  if (error instanceof URIError) {
    return new ApiError("invalid_request", "the path holds a malformed percent-escape",
      { field: "path" });
  }
  const status = clientStatusOf(error);
  if (status === null) return null;
  const type = (error as HttpStackError).type;
  const code = typeof type === "string" && Object.hasOwn(codeOfType, type)
    ? codeOfType[type] ?? "invalid_request" : codeOfClientStatus(status);
  if (code === "too_large") {
    return new ApiError("too_large", `the request body is larger than ${bodyLimitBytes} bytes`,
      { limit: bodyLimitBytes });
  }
  if (type === "entity.parse.failed") {
    return new ApiError("invalid_request", "body is not valid JSON", { field: "body" });
  }
  const message = error instanceof Error ? error.message : "the request is malformed";
  return new ApiError(code, truncateForMessage(message));
}

/**
 * `onStorageFailure` hears of a StateStoreError a query met (a stored value that fails its
 * checksum): the node stops, and the answer is 503 unavailable, so that the client goes to
 * another node; never a 500, and never a node that goes on serving from a damaged disk.
 */
export function errorMiddleware(logger: Logger, bodyLimitBytes: number,
  onStorageFailure: (error: Error) => void): ErrorRequestHandler {
  return (error: unknown, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    if (error instanceof StateStoreError) {
      onStorageFailure(error);
      if (request.socket.destroyed) return;
      const unavailable = new ApiError("unavailable", "this node's stored state failed a " +
        "check and the node is stopping: send the request to another node");
      response.status(unavailable.status).json(unavailable.toBody());
      return;
    }
    // The client is gone (a timeout or an abort destroyed the socket): nobody to answer.
    if (request.socket.destroyed) return;
    let apiError = toApiError(error, bodyLimitBytes);
    if (apiError === null) {
      logger.error({ err: error, method: request.method, url: request.originalUrl },
        "unexpected error in the client API");
      apiError = new ApiError("internal", "internal error");
    } else if (!(error instanceof ApiError)) {
      logger.debug({ method: request.method, url: truncateForMessage(request.originalUrl),
        code: apiError.code, reason: apiError.message }, "malformed request");
    }
    response.status(apiError.status).json(apiError.toBody());
  };
}

/** Any path no route matched: a JSON 404 like every other error. */
export const unknownRouteHandler: RequestHandler = (request) => {
  throw new ApiError("not_found", `no route ${request.method} ${truncateForMessage(request.path)}`,
    { resource: "route" });
};
