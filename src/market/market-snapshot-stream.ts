/**
 * The streamed snapshot format (v3), for transfers of a state of any size: newline-delimited
 * canonical JSON, one record a line, so that it is written a slice of records at a time and
 * read a chunk at a time, and no string ever holds the whole (a V8 string stops at 2^29 units).
 *
 *   {"appliedIndex","clockMs","config","format","itemCount","orderCount","sessionCount"}\n
 *   then itemCount item lines (sku order), orderCount order lines (index order),
 *   sessionCount session lines (oldest first), each ending with \n.
 *
 * Every line is ASCII: characters above U+007E are written as \uXXXX escapes (lowercase hex,
 * as JSON.stringify writes lone surrogates), so that a UTF-16 offset into the text is also a
 * byte offset into a file that holds it. The text is canonical: one state, one text.
 * MarketSnapshotDecoder checks, a chunk at a time, everything decodeMarketSnapshot checks of a
 * v2 snapshot (each record, the order of each table, the ties between them) and that every
 * line is in canonical form, and throws MarketSnapshotError naming the first bad field.
 */
import { parseJsonLine } from "./compact-json.js";
import { encodeConfig, encodeItem, encodeOrder, encodeSession } from "./encoding.js";
import { isRecord, ownField, readInteger, type FieldProblem } from "./fields.js";
import type { MarketConfig } from "./config.js";
import {
  isFieldProblem,
  MarketSnapshotError,
  readConfig,
  readItemAt,
  readOrder,
  readSession,
  type MarketSnapshotSource,
} from "./market-snapshot.js";
import type { Item, Order } from "./model.js";
import type { Session } from "./sessions.js";
import { integerRanges } from "./validate.js";

export const marketSnapshotFormatV3 = "raftmarket.market.v3";

/** What the first line says. */
export interface MarketSnapshotHeader {
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly config: MarketConfig;
  readonly itemCount: number;
  readonly orderCount: number;
  readonly sessionCount: number;
}

export type MarketSnapshotRecord =
  | { readonly kind: "item"; readonly item: Item }
  | { readonly kind: "order"; readonly order: Order }
  | { readonly kind: "session"; readonly session: Session };

/** A line longer than this is refused before it is parsed: records are a few KiB at most. */
const lineUnitsMax = 1 << 20;

/** JSON.stringify with every character above U+007E escaped: ASCII text. */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007e]*$/.test(json)) return json;
  return json.replace(/[\u007f-\uffff]/g,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function encodeHeader(header: MarketSnapshotHeader): object {
  return {
    appliedIndex: header.appliedIndex, clockMs: header.clockMs, config: encodeConfig(header.config),
    format: marketSnapshotFormatV3, itemCount: header.itemCount, orderCount: header.orderCount,
    sessionCount: header.sessionCount,
  };
}

/**
 * Writes the v3 text of `source` through `emit`, in chunks of about `chunkUnits`, with
 * `pause()` after every `recordsPerSlice` records, so that a node keeps its heartbeats while it
 * encodes a large state; the source must not change meanwhile (a database view). Returns the
 * length of the text. Throws if the streams do not hold the counts the source gave.
 */
export async function encodeMarketSnapshotStream(source: MarketSnapshotSource,
  emit: (chunk: string) => void, pause: () => Promise<void>,
  options: { readonly recordsPerSlice?: number; readonly chunkUnits?: number } = {}):
  Promise<number> {
  const counts = source.counts;
  if (counts === undefined) throw new MarketSnapshotError("a v3 snapshot needs the record counts");
  const recordsPerSlice = options.recordsPerSlice ?? 2000;
  const chunkUnits = options.chunkUnits ?? 256 * 1024;
  let parts: string[] = [];
  let partUnits = 0;
  let length = 0;
  const push = (line: string): void => {
    parts.push(line, "\n");
    partUnits += line.length + 1;
    if (partUnits >= chunkUnits) flush();
  };
  const flush = (): void => {
    if (partUnits === 0) return;
    emit(parts.join(""));
    length += partUnits;
    parts = [];
    partUnits = 0;
  };
  push(asciiJson(encodeHeader({ appliedIndex: source.appliedIndex, clockMs: source.clockMs,
    config: source.config, itemCount: counts.items, orderCount: counts.orders,
    sessionCount: counts.sessions })));
  const sections: [string, Iterable<unknown>, (record: never) => object, number][] = [
    ["items", source.items, encodeItem as (record: never) => object, counts.items],
    ["orders", source.orders, encodeOrder as (record: never) => object, counts.orders],
    ["sessions", source.sessions, encodeSession as (record: never) => object, counts.sessions],
  ];
  let sinceSlice = 0;
  for (const [name, records, encode, expected] of sections) {
    let count = 0;
    for (const record of records) {
      push(asciiJson(encode(record as never)));
      count++;
      if (++sinceSlice >= recordsPerSlice) {
        sinceSlice = 0;
        await pause();
      }
    }
    if (count !== expected) {
      throw new MarketSnapshotError(`the state holds ${count} ${name}, its meta says ${expected}`);
    }
  }
  flush();
  return length;
}

type Section = "header" | "items" | "orders" | "sessions" | "end";

/**
 * Reads a v3 text a chunk at a time (chunks may split lines anywhere), checking as it goes:
 * push() throws MarketSnapshotError at the first problem, and hands each record checked to
 * `onRecord`; end() checks that the text was whole. Holds the skus of the items and the
 * requestIds of the sessions (bounded by the config's itemsMax and sessionsMax), never the
 * orders.
 */
export class MarketSnapshotDecoder {
  private pending = "";
  private section: Section = "header";
  private headerRead: MarketSnapshotHeader | null = null;
  /** Records read in the current section. */
  private count = 0;
  private readonly skus = new Set<string>();
  private previousSku: string | null = null;
  private previousIndex = 0;
  private previousRecordedAtMs = 0;
  private readonly requestIds = new Set<string>();

  constructor(private readonly expected: { readonly index?: number } = {}) {}

  get header(): MarketSnapshotHeader | null {
    return this.headerRead;
  }

  push(text: string, onRecord?: (record: MarketSnapshotRecord) => void): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      if (newline < 0) break;
      const line = start === 0 && this.pending.length > 0
        ? this.pending + text.slice(0, newline) : text.slice(start, newline);
      if (start === 0) this.pending = "";
      this.readLine(line, onRecord);
      start = newline + 1;
    }
    this.pending += start === 0 ? text : text.slice(start);
    if (this.pending.length > lineUnitsMax) {
      this.fail(this.where(), `is a line longer than ${lineUnitsMax} characters`);
    }
  }

  /** The text is over: throws unless it held every record its header announced. */
  end(): MarketSnapshotHeader {
    if (this.pending.length > 0) this.fail(this.where(), "does not end with a newline");
    if (this.section !== "end" || this.headerRead === null) {
      this.fail(this.where(), "is missing: the snapshot ends early");
    }
    return this.headerRead;
  }

  private where(): string {
    return this.section === "header" || this.section === "end" ? this.section
      : `${this.section}[${this.count}]`;
  }

  private fail(field: string, message: string): never {
    throw new MarketSnapshotError(`market snapshot: ${field} ${message}`);
  }

  private check<T>(value: T | FieldProblem): T {
    if (isFieldProblem(value)) this.fail(value.field, value.message);
    return value as T;
  }

  private readLine(line: string, onRecord?: (record: MarketSnapshotRecord) => void): void {
    const field = this.where();
    if (this.section === "end") this.fail("end", "has text after the last record");
    let parsed: unknown;
    try {
      // Not JSON.parse alone: it would put every short id in V8's string table (compact-json.ts).
      parsed = parseJsonLine(line);
    } catch (error) {
      this.fail(field, `is not JSON: ${(error as Error).message}`);
    }
    switch (this.section) {
      case "header": {
        const header = this.readHeader(parsed);
        if (asciiJson(encodeHeader(header)) !== line) this.fail(field, "is not in canonical form");
        this.headerRead = header;
        this.nextSection();
        return;
      }
      case "items": {
        const item = this.check(readItemAt(parsed, field));
        this.canonical(encodeItem(item), line, field);
        if (this.previousSku !== null && !(this.previousSku < item.sku)) {
          this.fail(`${field}.sku`, "must be greater than the previous sku");
        }
        this.previousSku = item.sku;
        this.skus.add(item.sku);
        onRecord?.({ kind: "item", item });
        break;
      }
      case "orders": {
        const order = this.check(readOrder(parsed, field));
        this.canonical(encodeOrder(order), line, field);
        if (order.index <= this.previousIndex || order.index > this.headerRead!.appliedIndex) {
          this.fail(`${field}.index`, "must increase along the orders and not exceed appliedIndex");
        }
        this.previousIndex = order.index;
        const lineSkus = new Set<string>();
        for (const [j, orderLine] of order.lines.entries()) {
          if (!this.skus.has(orderLine.sku) || lineSkus.has(orderLine.sku)) {
            this.fail(`${field}.lines[${j}].sku`, "must be a known sku, once per order");
          }
          lineSkus.add(orderLine.sku);
        }
        onRecord?.({ kind: "order", order });
        break;
      }
      case "sessions": {
        const session = this.check(readSession(parsed, field));
        this.canonical(encodeSession(session), line, field);
        if (session.index <= this.previousIndex || session.index > this.headerRead!.appliedIndex) {
          this.fail(`${field}.index`,
            "must increase along the sessions and not exceed appliedIndex");
        }
        if (session.recordedAtMs < this.previousRecordedAtMs ||
          session.recordedAtMs > this.headerRead!.clockMs) {
          this.fail(`${field}.recordedAtMs`, "must not decrease along the sessions nor exceed clockMs");
        }
        if (this.requestIds.has(session.requestId)) this.fail(`${field}.requestId`, "must not repeat");
        this.requestIds.add(session.requestId);
        this.previousIndex = session.index;
        this.previousRecordedAtMs = session.recordedAtMs;
        onRecord?.({ kind: "session", session });
        break;
      }
      default:
        this.fail(field, "is out of place");
    }
    this.count++;
    this.nextSection();
  }

  private canonical(encoded: object, line: string, field: string): void {
    if (asciiJson(encoded) !== line) this.fail(field, "is not in canonical form");
  }

  /** Moves past every section whose records are all read. */
  private nextSection(): void {
    const header = this.headerRead!;
    if (this.section === "header") {
      this.section = "items";
      this.count = 0;
    }
    if (this.section === "items" && this.count === header.itemCount) {
      this.section = "orders";
      this.count = 0;
      this.previousIndex = 0;
    }
    if (this.section === "orders" && this.count === header.orderCount) {
      this.section = "sessions";
      this.count = 0;
      this.previousIndex = 0;
    }
    if (this.section === "sessions" && this.count === header.sessionCount) this.section = "end";
  }

  private readHeader(value: unknown): MarketSnapshotHeader {
    if (!isRecord(value)) this.fail("header", "must be a JSON object");
    const format = ownField(value, "format");
    if (format !== marketSnapshotFormatV3) this.fail("format", `must be ${marketSnapshotFormatV3}`);
    const config = this.check(readConfig(ownField(value, "config"), false));
    const anyCount = { min: 0, max: Number.MAX_SAFE_INTEGER };
    const appliedIndex = this.check(readInteger(value, "appliedIndex", "", anyCount));
    const clockMs = this.check(readInteger(value, "clockMs", "", integerRanges.timeMs));
    const itemCount = this.check(readInteger(value, "itemCount", "", { min: 0, max: config.itemsMax }));
    const orderCount = this.check(readInteger(value, "orderCount", "", anyCount));
    const sessionCount = this.check(readInteger(value, "sessionCount", "",
      { min: 0, max: config.sessionsMax }));
    if (this.expected.index !== undefined && appliedIndex !== this.expected.index) {
      throw new MarketSnapshotError(`market snapshot holds the state at index ${appliedIndex}, ` +
        `not at ${this.expected.index}`);
    }
    return { appliedIndex, clockMs, config, itemCount, orderCount, sessionCount };
  }
}

/** Decodes a whole v3 text held in chunks (tests, small states): the header and the records. */
export function decodeMarketSnapshotChunks(chunks: Iterable<string>,
  expected: { readonly index?: number } = {}):
  { header: MarketSnapshotHeader; records: MarketSnapshotRecord[] } {
  const decoder = new MarketSnapshotDecoder(expected);
  const records: MarketSnapshotRecord[] = [];
  for (const chunk of chunks) decoder.push(chunk, (record) => records.push(record));
  return { header: decoder.end(), records };
}
