/**
 * Validation of untrusted input: request bodies from the HTTP layer, commands decoded from log
 * entries, and search queries. Nothing here throws; a bad input gives `{ok: false, field,
 * message}` naming the first bad field by its path (`lines[2].qty`), which the API turns into
 * `400 invalid_request`. A good input gives a fresh object holding only the known fields, so
 * unknown fields never reach the log, the session digest or the state.
 */
import type {
  AddStockCommand,
  BuyCommand,
  CancelCommand,
  CreateItemCommand,
  MarketCommand,
  MarketRequest,
} from "./commands.js";
import {
  fieldPath,
  fieldProblem,
  isRecord,
  ownField,
  readInteger,
  readText,
  type FieldProblem,
  type JsonRecord,
  type TextRule,
} from "./fields.js";
import { marketLimits as limits, type Item, type OrderLineRequest } from "./model.js";
import type { SearchQuery } from "./catalogue.js";

export type { FieldProblem } from "./fields.js";

export type RequestValidation = { readonly ok: true; readonly request: MarketRequest } |
  FieldProblem;
export type CommandValidation = { readonly ok: true; readonly command: MarketCommand } |
  FieldProblem;
export type SearchQueryValidation = { readonly ok: true; readonly query: SearchQuery } |
  FieldProblem;

const identifierPattern = /^[\x21-\x7e]+$/;
const identifierHint = "printable ASCII characters without spaces";

export const textRules = {
  sku: {
    lengthMin: 1,
    lengthMax: limits.skuLengthMax,
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    patternHint: "letters, digits, '.', '_' and '-', starting with a letter or digit",
  },
  name: { lengthMin: 1, lengthMax: limits.nameLengthMax },
  area: { lengthMin: 1, lengthMax: limits.areaLengthMax },
  requestId: {
    lengthMin: 1,
    lengthMax: limits.requestIdLengthMax,
    pattern: identifierPattern,
    patternHint: identifierHint,
  },
  orderId: {
    lengthMin: 1,
    lengthMax: limits.orderIdLengthMax,
    pattern: identifierPattern,
    patternHint: identifierHint,
  },
  searchText: { lengthMin: 0, lengthMax: limits.searchTextLengthMax },
} as const satisfies Record<string, TextRule>;

export const integerRanges = {
  priceCents: { min: 0, max: limits.priceCentsMax },
  stock: { min: 0, max: limits.stockMax },
  addQty: { min: 1, max: limits.addQtyMax },
  buyQty: { min: 1, max: limits.buyQtyMax },
  timeMs: { min: 0, max: Number.MAX_SAFE_INTEGER },
  searchLimit: { min: 1, max: limits.searchLimitMax },
} as const;

/** `POST /v1/items` body: `{requestId, sku, name, area, priceCents, stock}`. */
export function validateCreateItemRequest(body: unknown): RequestValidation {
  if (!isRecord(body)) return fieldProblem("body", "must be a JSON object");
  const requestId = readText(body, "requestId", "", textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const item = readItem(body, "");
  if ("ok" in item) return item;
  const request: Omit<CreateItemCommand, "timeMs"> = { kind: "createItem", requestId, ...item };
  return { ok: true, request };
}

/** `POST /v1/items/:sku/stock`: the sku from the path, `{requestId, qty}` from the body. */
export function validateAddStockRequest(sku: unknown, body: unknown): RequestValidation {
  if (!isRecord(body)) return fieldProblem("body", "must be a JSON object");
  return validateAddStockFields({ ...body, sku }, "");
}

/** `POST /v1/orders` body: `{requestId, lines: [{sku, qty}]}`. */
export function validateBuyRequest(body: unknown): RequestValidation {
  if (!isRecord(body)) return fieldProblem("body", "must be a JSON object");
  return validateBuyFields(body, "");
}

/** `POST /v1/orders/:orderId/cancel`: the orderId from the path, `{requestId}` from the body. */
export function validateCancelRequest(orderId: unknown, body: unknown): RequestValidation {
  if (!isRecord(body)) return fieldProblem("body", "must be a JSON object");
  return validateCancelFields({ ...body, orderId }, "");
}

/** A request with its `kind`, as a client library or a forwarding follower sends it. */
export function validateRequest(input: unknown): RequestValidation {
  if (!isRecord(input)) return fieldProblem("body", "must be a JSON object");
  const kind = ownField(input, "kind");
  switch (kind) {
    case "createItem": return validateCreateItemRequest(input);
    case "addStock": return validateAddStockFields(input, "");
    case "buy": return validateBuyFields(input, "");
    case "cancel": return validateCancelFields(input, "");
    default:
      return fieldProblem("kind", "must be one of createItem, addStock, buy, cancel");
  }
}

/** A full command (a request with the leader's `timeMs`), as decoded from a log entry. */
export function validateCommand(input: unknown): CommandValidation {
  const checked = validateRequest(input);
  if (!checked.ok) return checked;
  if (!isRecord(input)) return fieldProblem("body", "must be a JSON object");
  const timeMs = readInteger(input, "timeMs", "", integerRanges.timeMs);
  if (typeof timeMs !== "number") return timeMs;
  // The request is this call's own fresh object: timeMs goes onto it, last as a spread would
  // put it, rather than into a copy (every replica validates every entry it applies).
  const command = checked.request as Record<string, unknown>;
  command.timeMs = timeMs;
  return { ok: true, command: command as unknown as MarketCommand };
}

function validateAddStockFields(record: JsonRecord, parent: string): RequestValidation {
  const requestId = readText(record, "requestId", parent, textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const sku = readText(record, "sku", parent, textRules.sku);
  if (typeof sku !== "string") return sku;
  const qty = readInteger(record, "qty", parent, integerRanges.addQty);
  if (typeof qty !== "number") return qty;
  const request: Omit<AddStockCommand, "timeMs"> = { kind: "addStock", requestId, sku, qty };
  return { ok: true, request };
}

function validateBuyFields(record: JsonRecord, parent: string): RequestValidation {
  const requestId = readText(record, "requestId", parent, textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const lines = readLines(record, parent);
  if (!Array.isArray(lines)) return lines;
  const request: Omit<BuyCommand, "timeMs"> = { kind: "buy", requestId, lines };
  return { ok: true, request };
}

function validateCancelFields(record: JsonRecord, parent: string): RequestValidation {
  const requestId = readText(record, "requestId", parent, textRules.requestId);
  if (typeof requestId !== "string") return requestId;
  const orderId = readText(record, "orderId", parent, textRules.orderId);
  if (typeof orderId !== "string") return orderId;
  const request: Omit<CancelCommand, "timeMs"> = { kind: "cancel", requestId, orderId };
  return { ok: true, request };
}

/** `lines`: 1 to linesPerOrderMax lines of `{sku, qty}`. */
function readLines(record: JsonRecord, parent: string): OrderLineRequest[] | FieldProblem {
  const field = fieldPath(parent, "lines");
  const value = ownField(record, "lines");
  if (value === undefined) return fieldProblem(field, "is required");
  if (!Array.isArray(value)) return fieldProblem(field, "must be an array of {sku, qty}");
  if (value.length < 1 || value.length > limits.linesPerOrderMax) {
    return fieldProblem(field,
      `must have 1 to ${limits.linesPerOrderMax} lines, got ${value.length}`);
  }
  const lines: OrderLineRequest[] = [];
  for (let k = 0; k < value.length; k++) {
    const linePath = `${field}[${k}]`;
    const line: unknown = value[k];
    if (!isRecord(line)) return fieldProblem(linePath, "must be an object {sku, qty}");
    const sku = readText(line, "sku", linePath, textRules.sku);
    if (typeof sku !== "string") return sku;
    const qty = readInteger(line, "qty", linePath, integerRanges.buyQty);
    if (typeof qty !== "number") return qty;
    lines.push({ sku, qty });
  }
  return lines;
}

/**
 * The fields of an item `{sku, name, area, priceCents, stock}` under `parent`: the body of a
 * createItem, or an item in a snapshot.
 */
export function readItem(record: JsonRecord, parent: string): Item | FieldProblem {
  const sku = readText(record, "sku", parent, textRules.sku);
  if (typeof sku !== "string") return sku;
  const name = readText(record, "name", parent, textRules.name);
  if (typeof name !== "string") return name;
  const area = readText(record, "area", parent, textRules.area);
  if (typeof area !== "string") return area;
  const priceCents = readInteger(record, "priceCents", parent, integerRanges.priceCents);
  if (typeof priceCents !== "number") return priceCents;
  const stock = readInteger(record, "stock", parent, integerRanges.stock);
  if (typeof stock !== "number") return stock;
  return { sku, name, area, priceCents, stock };
}

/**
 * `GET /v1/items` query: `q`, `area`, `inStock`, `limit`. Accepts the strings of a URL query
 * (`inStock=true`, `limit=20`) as well as typed values. `q` is trimmed; empty `q` or `area`
 * mean no filter.
 */
export function validateSearchQuery(input: unknown): SearchQueryValidation {
  if (input === undefined) return { ok: true, query: {} };
  if (!isRecord(input)) return fieldProblem("query", "must be an object");
  const q = readOptionalText(input, "q", textRules.searchText, true);
  if (typeof q === "object") return q;
  const area = readOptionalText(input, "area", { ...textRules.area, lengthMin: 0 }, false);
  if (typeof area === "object") return area;
  const inStock = readQueryBoolean(input, "inStock");
  if (typeof inStock === "object") return inStock;
  const limit = readQueryLimit(input);
  if (typeof limit === "object") return limit;
  const query: SearchQuery = {
    ...(q !== undefined && q !== "" ? { q } : {}),
    ...(area !== undefined && area !== "" ? { area } : {}),
    ...(inStock !== undefined ? { inStock } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
  return { ok: true, query };
}

function readOptionalText(
  record: JsonRecord,
  key: string,
  rule: TextRule,
  trim: boolean,
): string | undefined | FieldProblem {
  const value = ownField(record, key);
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return fieldProblem(key, "must be given at most once");
  const text = trim && typeof value === "string" ? value.trim() : value;
  return readText({ [key]: text }, key, "", rule);
}

function readQueryBoolean(record: JsonRecord, key: string): boolean | undefined | FieldProblem {
  const value = ownField(record, key);
  if (value === undefined || typeof value === "boolean") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  return fieldProblem(key, "must be true or false");
}

function readQueryLimit(record: JsonRecord): number | undefined | FieldProblem {
  const value = ownField(record, "limit");
  if (value === undefined) return undefined;
  const number = typeof value === "string" && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  return readInteger({ limit: number }, "limit", "", integerRanges.searchLimit);
}
