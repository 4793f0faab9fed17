/**
 * The one place where errors become HTTP answers (STYLE.md §4, Hono's errorHandler): an
 * ApiError is rendered with the status its code maps to; an error from the JSON body parser
 * becomes 413 too_large or 400 invalid_request; anything else is a bug, logged with its stack
 * and answered 500 internal without details.
 */
import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { ApiError } from "./api-error.js";

/** The errors body-parser throws carry a `type` and a 4xx `status`. */
interface BodyParserError {
  readonly type: string;
  readonly status: number;
  readonly message: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as Partial<BodyParserError>;
  return typeof candidate.type === "string" && typeof candidate.status === "number" &&
    candidate.status >= 400 && candidate.status < 500;
}

/** Translates an error thrown anywhere in a request into an ApiError, or null for a bug. */
export function toApiError(error: unknown, bodyLimitBytes: number): ApiError | null {
  if (error instanceof ApiError) return error;
  if (!isBodyParserError(error)) return null;
  if (error.type === "entity.too.large") {
    return new ApiError("too_large", `the request body is larger than ${bodyLimitBytes} bytes`,
      { limit: bodyLimitBytes });
  }
  if (error.type === "entity.parse.failed") {
    return new ApiError("invalid_request", "body is not valid JSON", { field: "body" });
  }
  return new ApiError("invalid_request", `body ${error.message}`, { field: "body" });
}

export function errorMiddleware(logger: Logger, bodyLimitBytes: number): ErrorRequestHandler {
  return (error: unknown, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    let apiError = toApiError(error, bodyLimitBytes);
    if (apiError === null) {
      logger.error({ err: error, method: request.method, url: request.originalUrl },
        "unexpected error in the client API");
      apiError = new ApiError("internal", "internal error");
    }
    response.status(apiError.status).json(apiError.toBody());
  };
}

/** Any path no route matched: a JSON 404 like every other error. */
export const unknownRouteHandler: RequestHandler = (request) => {
  throw new ApiError("not_found", `no route ${request.method} ${request.path}`,
    { resource: "route" });
};
