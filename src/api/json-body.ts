/**
 * The JSON body reader of the client and admin APIs, in place of express.json(). It exists
 * because body-parser reads a refused body to its end before answering: a declared 100 MB body
 * was awaited in full (or forever, if the client sent 5 bytes of it) before the 413, and so was
 * the rest of a chunked body past the limit. Here every refusal is decided as early as
 * possible and answered at once with `connection: close`, so node closes the socket once the
 * answer is out instead of reading what the client still has to send:
 *
 * - from the headers, before a byte of the body is read: a non-JSON content type or a charset
 *   other than UTF-8 (415 unsupported_media_type), a content-encoding other than identity,
 *   gzip, deflate or br (415), a declared Content-Length over the limit (413 too_large);
 * - while reading: more than the limit on the wire, or after decompression (413);
 * - after reading: a body that does not decompress, is not UTF-8, is not JSON (400
 *   invalid_request), or is JSON but not an object (400: every body of the API is an object).
 *
 * A request without a body leaves `request.body` undefined; the routes then say the body is
 * required. Every refusal is an ApiError passed to the one error middleware.
 */
import type { Request, RequestHandler, Response } from "express";
import type { Transform } from "node:stream";
import zlib from "node:zlib";
import { ApiError } from "./api-error.js";

const decoders: Readonly<Record<string, (() => Transform) | null>> = {
  identity: null,
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/** Requests whose body a jsonBody reader has taken (the admin router's, then the app's). */
const bodiesTaken = new WeakSet<Request>();

export function jsonBody(bodyLimitBytes: number): RequestHandler {
  return (request, response, next) => {
    if (bodiesTaken.has(request)) {
      next();
      return;
    }
    bodiesTaken.add(request);
    const withBody = hasBody(request);
    const refusal = contentTypeProblem(request, withBody) ??
      (withBody ? lengthProblem(request, bodyLimitBytes) : null);
    if (refusal !== null || !withBody) {
      if (refusal !== null) refuse(response, refusal, next);
      else next();
      return;
    }
    readBody(request, bodyLimitBytes).then((bytes) => {
      let body: unknown;
      try {
        body = parseJsonObject(bytes);
      } catch (error) {
        next(error);
        return;
      }
      request.body = body;
      next();
    }, (error: unknown) => refuse(response, error, next));
  };
}

/** Answers with the error and closes the connection after it: the body is left unread. */
function refuse(response: Response, error: unknown, next: (error: unknown) => void): void {
  if (!response.headersSent) response.setHeader("connection", "close");
  next(error);
}

/** RFC 9112 §6.3: a request has a body iff it has Transfer-Encoding or a Content-Length. */
function hasBody(request: Request): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0");
}

/**
 * 415 for a declared content type the API does not read. A bodyless request is refused only
 * if it names a type and is a write (a POST with `content-type: text/plain` and no body is a
 * client speaking the wrong language, a GET with a stray header is harmless).
 */
function contentTypeProblem(request: Request, withBody: boolean): ApiError | null {
  const header = request.headers["content-type"];
  if (header === undefined || (!withBody && ["GET", "HEAD"].includes(request.method))) {
    return null;
  }
  const [mediaType = "", ...parameters] = header.split(";").map((part) => part.trim());
  const type = mediaType.toLowerCase();
  if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    return new ApiError("unsupported_media_type", "the body must be JSON: send " +
      "`content-type: application/json`", { field: "content-type" });
  }
  const charset = parameters.map((parameter) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(parameter))
    .find((match) => match !== null)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    return new ApiError("unsupported_media_type", "the body must be UTF-8 JSON (charset " +
      "utf-8)", { field: "content-type" });
  }
  const encoding = contentEncoding(request);
  if (!Object.hasOwn(decoders, encoding)) {
    return new ApiError("unsupported_media_type", "content-encoding must be identity, gzip, " +
      "deflate or br", { field: "content-encoding" });
  }
  return null;
}

function contentEncoding(request: Request): string {
  const header = request.headers["content-encoding"];
  return header === undefined || header.trim() === "" ? "identity" : header.trim().toLowerCase();
}

function lengthProblem(request: Request, bodyLimitBytes: number): ApiError | null {
  const declared = Number(request.headers["content-length"] ?? 0);
  return declared > bodyLimitBytes ? tooLarge(bodyLimitBytes) : null;
}

function tooLarge(bodyLimitBytes: number): ApiError {
  return new ApiError("too_large", `the request body is larger than ${bodyLimitBytes} bytes`,
    { limit: bodyLimitBytes });
}

/**
 * The body's bytes, decompressed, at most bodyLimitBytes of them both on the wire and after
 * decompression (a small gzip body may inflate to gigabytes). Stops reading at the first
 * problem; the caller closes the connection.
 */
function readBody(request: Request, bodyLimitBytes: number): Promise<Buffer> {
  const encoding = contentEncoding(request);
  const makeDecoder = Object.hasOwn(decoders, encoding) ? decoders[encoding] ?? null : null;
  const decoder = makeDecoder === null ? null : makeDecoder();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let bodyBytes = 0;
    let settled = false;
    const settle = (error: ApiError | null): void => {
      if (settled) return;
      settled = true;
      request.off("data", onWire).off("end", onWireEnd).off("close", onClose);
      if (error === null) resolve(Buffer.concat(chunks));
      else {
        decoder?.destroy();
        reject(error);
      }
    };
    const onBody = (chunk: Buffer): void => {
      bodyBytes += chunk.length;
      if (bodyBytes > bodyLimitBytes) settle(tooLarge(bodyLimitBytes));
      else chunks.push(chunk);
    };
    const onWire = (chunk: Buffer): void => {
      wireBytes += chunk.length;
      if (wireBytes > bodyLimitBytes) settle(tooLarge(bodyLimitBytes));
      else if (decoder === null) onBody(chunk);
      else decoder.write(chunk);
    };
    const onWireEnd = (): void => {
      if (decoder === null) settle(null);
      else decoder.end();
    };
    // Node emits close after end too (autoDestroy); only a close before the end is an abort.
    const onClose = (): void => {
      if (!request.complete) {
        settle(new ApiError("invalid_request",
          "the request was aborted before its body was complete", { field: "body" }));
      }
    };
    decoder?.on("data", onBody).on("end", () => settle(null)).on("error", () => settle(
      new ApiError("invalid_request", `the body is not valid ${encoding} data`,
        { field: "body" })));
    request.on("data", onWire).on("end", onWireEnd).on("close", onClose);
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as a JSON object; undefined for an empty body (the route says it is required). */
function parseJsonObject(bytes: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError("invalid_request", "the body is not valid UTF-8", { field: "body" });
  }
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError("invalid_request", "body is not valid JSON", { field: "body" });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError("invalid_request", "body must be a JSON object", { field: "body" });
  }
  return value;
}
