/**
 * The one error MarketClient throws. `code` is the API's error code (DESIGN.md §3) when a node
 * answered, or `unreachable` when no endpoint gave any HTTP answer, or `unexpected_response`
 * when an answer was not the API's JSON. `status` is the HTTP status, 0 without an answer.
 */
import type { ApiErrorCode } from "../wire/api-error-code.js";

export type MarketClientErrorCode = ApiErrorCode | "unreachable" | "unexpected_response";

export interface MarketClientErrorInit {
  readonly code: MarketClientErrorCode;
  readonly status: number;
  readonly message: string;
  /** The error body's other fields: `field`, `sku`, `available`, `leaderId`... */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The endpoint of the last attempt. */
  readonly endpoint?: string | null;
  readonly attempts?: number;
  /**
   * True when a write may have been applied although no success came back (a timeout, a
   * connection lost after sending, a 504): retrying with the same requestId is safe and tells.
   */
  readonly outcomeUnknown?: boolean;
}

export class MarketClientError extends Error {
  override readonly name = "MarketClientError";
  readonly code: MarketClientErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;
  readonly endpoint: string | null;
  readonly attempts: number;
  readonly outcomeUnknown: boolean;

  constructor(init: MarketClientErrorInit) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.details = init.details ?? {};
    this.endpoint = init.endpoint ?? null;
    this.attempts = init.attempts ?? 1;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
  }

  /** Whether the client retries this kind of error (until its attempts or budget run out). */
  get retryable(): boolean {
    return this.code === "unreachable" || this.status === 503 || this.status === 504;
  }
}
