/**
 * parseCompactJson against JSON.parse. Method: hand-picked texts at every edge of the subset it
 * reads (escapes, fractions, exponents, leading zeros, whitespace, __proto__, depth, trailing
 * text, truncations), then 3,000 random values and 3,000 random byte-level mutations of their
 * texts (seeded). Checks: wherever it gives a value, the value is JSON.parse's (deep equal, the
 * same key order, duplicate keys resolved the same way, the same prototypes, -0 kept); it gives
 * undefined for everything outside the subset, and parseJsonLine then gives JSON.parse's value
 * or throws JSON.parse's SyntaxError.
 */
import { expect } from "chai";
import { parseCompactJson, parseJsonLine } from "../../src/market/compact-json.js";
import { SeededRng } from "../../src/raft/index.js";

/** JSON.parse's verdict: the value, or "invalid". */
function reference(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return "invalid";
  }
}

function expectSameAsJsonParse(text: string): void {
  const fast = parseCompactJson(text);
  const expected = reference(text);
  if (fast !== undefined) {
    expect(expected, `JSON.parse refuses ${JSON.stringify(text)}`).to.not.equal("invalid");
    expect(fast, text).to.deep.equal(expected);
    // deep.equal ignores key order and prototypes: the text of the value pins the order.
    expect(JSON.stringify(fast), text).to.equal(JSON.stringify(expected));
    expectSamePrototypes(fast, expected, text);
    expect(Object.is(fast, -0)).to.equal(Object.is(expected, -0));
  }
  if (expected === "invalid") {
    expect(() => parseJsonLine(text), text).to.throw(SyntaxError);
  } else {
    expect(parseJsonLine(text), text).to.deep.equal(expected);
  }
}

function expectSamePrototypes(actual: unknown, expected: unknown, text: string): void {
  if (typeof expected !== "object" || expected === null) return;
  expect(Object.getPrototypeOf(actual), text).to.equal(Object.getPrototypeOf(expected));
  for (const key of Object.keys(expected)) {
    expectSamePrototypes((actual as Record<string, unknown>)[key],
      (expected as Record<string, unknown>)[key], text);
  }
}

function randomString(rng: SeededRng): string {
  const alphabet = ["a", "Z", "0", "-", " ", "\"", "\\", "é", "\u0001", "😀", "/", "\n", "_"];
  let text = "";
  for (let k = rng.nextInt(8); k > 0; k--) text += alphabet[rng.nextInt(alphabet.length)];
  return text;
}

function randomValue(rng: SeededRng, depth: number): unknown {
  const kind = rng.nextInt(depth > 3 ? 5 : 7);
  switch (kind) {
    case 0: return rng.nextInt(3) === 0 ? -rng.nextInt(1_000_000_000) : rng.nextInt(100);
    case 1: return randomString(rng);
    case 2: return [true, false, null][rng.nextInt(3)];
    case 3: return rng.nextFloat() * 1000 - 500;
    case 4: return Number.MAX_SAFE_INTEGER - rng.nextInt(10);
    case 5: return Array.from({ length: rng.nextInt(4) }, () => randomValue(rng, depth + 1));
    default: {
      const value: Record<string, unknown> = {};
      for (let k = rng.nextInt(4); k > 0; k--) value[randomString(rng)] = randomValue(rng, depth + 1);
      return value;
    }
  }
}

describe("parseCompactJson", () => {
  it("reads a snapshot record as JSON.parse does, without falling back", () => {
    const line = "{\"index\":647257,\"lines\":[{\"priceCents\":157,\"qty\":2,\"sku\":\"sku-0057\"}]," +
      "\"orderId\":\"o-647257\",\"requestId\":\"req-647257\",\"status\":\"confirmed\"," +
      "\"totalCents\":314}";
    expect(parseCompactJson(line)).to.deep.equal(JSON.parse(line));
    expect(parseCompactJson("[\"req-1\",1,\"sku-0001\",3,-250,true,false,null,[],{}]"))
      .to.deep.equal(["req-1", 1, "sku-0001", 3, -250, true, false, null, [], {}]);
    expect(Object.is(parseCompactJson("-0"), -0)).to.equal(true);
  });

  it("keeps the last of duplicate keys, in the place of the first, as JSON.parse does", () => {
    for (const text of ["{\"b\":1,\"a\":2,\"b\":3}", "{\"a\":{\"x\":1},\"a\":[1]}",
      "[{\"k\":true,\"k\":null}]", "{\"2\":1,\"1\":2,\"b\":3,\"0\":4}"]) {
      expect(parseCompactJson(text), text).to.not.equal(undefined);
      expectSameAsJsonParse(text);
    }
  });

  it("leaves everything outside its subset to JSON.parse", () => {
    const outside = [
      "", " 1", "1 ", "{ }", "[1, 2]", "{\"a\": 1}", "\"a\\\"b\"", "\"a\\u00e9\"", "\"\\n\"",
      "1.5", "1e3", "1E3", "-", "01", "-01", "1234567890123456", "{\"__proto__\":{\"x\":1}}",
      "\"tab\there\"", "tru", "nul", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "[1]x", "[[[[[[" +
      "[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]", "\"open", "[1", "{\"a\":1", "'a'", "NaN", "Infinity",
    ];
    for (const text of outside) {
      expect(parseCompactJson(text), JSON.stringify(text)).to.equal(undefined);
      expectSameAsJsonParse(text);
    }
  });

  it("keeps a __proto__ key as a property, as JSON.parse does", () => {
    const value = parseJsonLine("{\"__proto__\":{\"polluted\":1}}") as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).to.equal(Object.prototype);
    expect(Object.keys(value)).to.deep.equal(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it("agrees with JSON.parse on random values and on random mutations of their text", () => {
    const rng = new SeededRng(2026);
    let readHere = 0;
    const bytes = ["{", "}", "[", "]", "\"", ",", ":", "-", "0", "7", ".", "e", " ", "\\", "x"];
    for (let round = 0; round < 3000; round++) {
      const text = JSON.stringify(randomValue(rng, 0));
      expectSameAsJsonParse(text);
      if (parseCompactJson(text) !== undefined) readHere++;
      const at = rng.nextInt(text.length + 1);
      const mutated = rng.nextInt(2) === 0
        ? text.slice(0, at) + bytes[rng.nextInt(bytes.length)] + text.slice(at)
        : text.slice(0, at) + text.slice(at + 1);
      expectSameAsJsonParse(mutated);
    }
    // The subset is what the records are: most random values fall in it, not a few.
    expect(readHere).to.be.greaterThan(1000);
  });
});
