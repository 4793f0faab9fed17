/**
 * What the state machine applies (commands, one per log entry) and what it answers (results).
 * Plain JSON-serializable types: a command travels in a log entry, a result is stored in the
 * session table and so in snapshots.
 *
 * Every command carries `requestId` (exactly-once, see sessions.ts) and `timeMs`, the
 * leader's clock when it proposed the command. timeMs is used only to expire sessions; it never
 * changes an item or an order, and it is not part of the request's identity.
 */
import type { Item, Order, OrderLineRequest } from "./model.js";

interface CommandBase {
  /** Unique per logical operation; a retry reuses it. */
  readonly requestId: string;
  /** Milliseconds since the epoch on the proposing leader's clock. */
  readonly timeMs: number;
}

export interface CreateItemCommand extends CommandBase {
  readonly kind: "createItem";
  readonly sku: string;
  readonly name: string;
  readonly area: string;
  readonly priceCents: number;
  readonly stock: number;
}

export interface AddStockCommand extends CommandBase {
  readonly kind: "addStock";
  readonly sku: string;
  /** Units to add; > 0. */
  readonly qty: number;
}

/** All or nothing: either every line is bought or none is. Lines of one sku are summed. */
export interface BuyCommand extends CommandBase {
  readonly kind: "buy";
  readonly lines: readonly OrderLineRequest[];
}

/** Cancels a confirmed order and restocks its lines, exactly once. */
export interface CancelCommand extends CommandBase {
  readonly kind: "cancel";
  readonly orderId: string;
}

export type MarketCommand = CreateItemCommand | AddStockCommand | BuyCommand | CancelCommand;
export type MarketCommandKind = MarketCommand["kind"];

/** A command as a client asks for it, before the leader stamps its clock on it. */
export type MarketRequest = MarketCommand extends infer C
  ? C extends MarketCommand ? Omit<C, "timeMs"> : never
  : never;

/** The fields of a createItem, as the demo catalogue and `POST /v1/items` carry them. */
export type CreateItemBody = Omit<CreateItemCommand, "kind" | "requestId" | "timeMs">;

/** Stamps the leader's clock on a validated request, making it a command for the log. */
export function commandFromRequest(request: MarketRequest, timeMs: number): MarketCommand {
  return { ...request, timeMs } as MarketCommand;
}

/** The data of the log entry that carries `command`; MarketStateMachine.applyEncoded reads it. */
export function encodeCommand(command: MarketCommand): string {
  return JSON.stringify(command);
}

/**
 * A command's request without its time, as text: what a follower that forwarded a write
 * matches applied entries against, since the leader restamps the time (restampCommand).
 */
export function requestKey(command: MarketCommand): string {
  const { timeMs: _timeMs, ...request } = command;
  return JSON.stringify(request);
}

/** requestKey of a log entry's data; null for data that is not a JSON object. */
export function requestKeyOfData(data: string): string | null {
  const parsed = parseObject(data);
  if (parsed === null) return null;
  const { timeMs: _timeMs, ...request } = parsed;
  return JSON.stringify(request);
}

/**
 * A forwarded command with the leader's clock as its time, so that, as for the leader's own
 * proposals, only leaders' clocks ever reach the session table (sessions expire by the largest
 * time applied). Key order is kept, so requestKeyOfData is unchanged. Data that is not a JSON
 * object is passed on as it is: every replica rejects it alike.
 */
export function restampCommand(data: string, timeMs: number): string {
  const parsed = parseObject(data);
  return parsed === null ? data : JSON.stringify({ ...parsed, timeMs });
}

function parseObject(data: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(data);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? parsed as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

export type MarketSuccess =
  | { readonly ok: true; readonly kind: "item"; readonly item: Item }
  | { readonly ok: true; readonly kind: "order"; readonly order: Order };

/**
 * A deterministic rejection: stored per requestId like a success, never thrown. The API
 * layer maps each to one ApiError (DESIGN.md §3); the intended mapping is
 *
 *   invalidCommand    -> 400 invalid_request (with `field`)
 *   notFound          -> 404 not_found
 *   alreadyExists     -> 409 conflict (the sku is taken)
 *   insufficientStock -> 409 insufficient_stock (with `sku`, `available`)
 *   requestIdConflict -> 409 conflict (requestId reused with a different body)
 *   limitExceeded     -> 409 (the state is at a bound: too many items, stock above stockMax)
 */
export type MarketRejection =
  | { readonly ok: false; readonly error: "invalidCommand"; readonly field: string;
      readonly message: string }
  | { readonly ok: false; readonly error: "notFound"; readonly resource: "item";
      readonly sku: string; readonly message: string }
  | { readonly ok: false; readonly error: "notFound"; readonly resource: "order";
      readonly orderId: string; readonly message: string }
  | { readonly ok: false; readonly error: "alreadyExists"; readonly sku: string;
      readonly message: string }
  | { readonly ok: false; readonly error: "insufficientStock"; readonly sku: string;
      readonly available: number; readonly requested: number; readonly message: string }
  | { readonly ok: false; readonly error: "requestIdConflict"; readonly requestId: string;
      readonly message: string }
  | { readonly ok: false; readonly error: "limitExceeded"; readonly field: string;
      readonly limit: number; readonly message: string };

export type MarketErrorCode = MarketRejection["error"];

/** Every code once; a Record, so that adding a rejection without listing it fails to compile. */
const marketErrorCodeSet: Readonly<Record<MarketErrorCode, true>> = {
  invalidCommand: true,
  notFound: true,
  alreadyExists: true,
  insufficientStock: true,
  requestIdConflict: true,
  limitExceeded: true,
};
export const marketErrorCodes = Object.freeze(Object.keys(marketErrorCodeSet)) as
  readonly MarketErrorCode[];

export type MarketResult = MarketSuccess | MarketRejection;
