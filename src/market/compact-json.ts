/**
 * A reader for compact JSON lines (no whitespace, no escapes, integers only), as the snapshot
 * text's records are, that gives the same value JSON.parse gives, or `undefined` when the text
 * is anything else: the caller then uses JSON.parse, which also names the error.
 *
 * Why not JSON.parse alone: V8's JSON.parse internalizes string values of up to 10 characters
 * ("o-647257", "req-64725"). Internalized strings live in the isolate's string table until a
 * full GC, so reading a million orders grows that table by millions of entries, and each time
 * it doubles it is rehashed on the main thread: loop stalls of 25-100 ms at a million orders
 * (`npm run bench -- big-state`), where the issue allows 50. Strings cut from the line with
 * slice() are never internalized.
 */

/** Deeper than any market record (a snapshot line is three levels deep). */
const depthMax = 16;
/** Digits of a number read here: 15 or fewer are always exact in a double. */
const digitsMax = 15;

const quote = 0x22;
const backslash = 0x5c;
const comma = 0x2c;
const colon = 0x3a;
const minus = 0x2d;
const zero = 0x30;
const nine = 0x39;

/** Signals "not compact JSON": the caller falls back to JSON.parse. Made once, thrown often. */
class NotCompact extends Error {}
const notCompact = new NotCompact("not compact JSON");

/**
 * The value of `text` if it is compact JSON: objects, arrays, strings with no backslash,
 * integers of at most 15 digits, true, false and null, with no whitespace, and no key named
 * `__proto__` (an assignment would set the prototype, where JSON.parse makes a property).
 * Else `undefined`: JSON.parse decides (the text may still be valid JSON, or not JSON).
 */
export function parseCompactJson(text: string): unknown {
  const reader = new Reader(text);
  try {
    const value = reader.value(0);
    return reader.position === text.length ? value : undefined;
  } catch (error) {
    if (error === notCompact) return undefined;
    throw error;
  }
}

/** JSON.parse(text), through parseCompactJson when the text is compact. */
export function parseJsonLine(text: string): unknown {
  const value = parseCompactJson(text);
  return value === undefined ? JSON.parse(text) as unknown : value;
}

class Reader {
  position = 0;

  constructor(private readonly text: string) {}

  value(depth: number): unknown {
    if (depth > depthMax) throw notCompact;
    const code = this.text.charCodeAt(this.position);
    if (code === 0x7b) return this.object(depth);
    if (code === 0x5b) return this.array(depth);
    if (code === quote) return this.string();
    if (code === minus || (code >= zero && code <= nine)) return this.integer();
    if (this.literal("true")) return true;
    if (this.literal("false")) return false;
    if (this.literal("null")) return null;
    throw notCompact;
  }

  private object(depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.position++;
    if (this.take(0x7d)) return result;
    do {
      if (this.text.charCodeAt(this.position) !== quote) throw notCompact;
      const key = this.string();
      if (key === "__proto__") throw notCompact;
      if (!this.take(colon)) throw notCompact;
      result[key] = this.value(depth + 1);
    } while (this.take(comma));
    if (!this.take(0x7d)) throw notCompact;
    return result;
  }

  private array(depth: number): unknown[] {
    const result: unknown[] = [];
    this.position++;
    if (this.take(0x5d)) return result;
    do {
      result.push(this.value(depth + 1));
    } while (this.take(comma));
    if (!this.take(0x5d)) throw notCompact;
    return result;
  }

  /** A string with no escapes and no control character: what JSON.parse gives for it. */
  private string(): string {
    const start = this.position + 1;
    const end = this.text.indexOf("\"", start);
    if (end < 0) throw notCompact;
    for (let k = start; k < end; k++) {
      const code = this.text.charCodeAt(k);
      if (code === backslash || code < 0x20) throw notCompact;
    }
    this.position = end + 1;
    return this.text.slice(start, end);
  }

  /**
   * -?(0|[1-9][0-9]*), at most digitsMax digits. A fraction or an exponent after it is no
   * comma, bracket or end of text, so the value around it gives up there.
   */
  private integer(): number {
    const start = this.position;
    if (this.text.charCodeAt(this.position) === minus) this.position++;
    const digitsStart = this.position;
    while (this.position < this.text.length) {
      const code = this.text.charCodeAt(this.position);
      if (code < zero || code > nine) break;
      this.position++;
    }
    const digits = this.position - digitsStart;
    if (digits === 0 || digits > digitsMax) throw notCompact;
    if (digits > 1 && this.text.charCodeAt(digitsStart) === zero) throw notCompact;
    return Number(this.text.slice(start, this.position));
  }

  private literal(word: string): boolean {
    if (!this.text.startsWith(word, this.position)) return false;
    this.position += word.length;
    return true;
  }

  private take(code: number): boolean {
    if (this.text.charCodeAt(this.position) !== code) return false;
    this.position++;
    return true;
  }
}
