/**
 * canonicalJson's key order. Method: objects built with their keys in many orders, among them
 * keys that UTF-16 code units and locale order sort differently, compared with the order
 * Array.prototype.sort gives by code unit. Checks: one output whatever the order the keys were
 * built in, with keys sorted by code unit at every level.
 */
import { expect } from "chai";
import { canonicalJson, compareCodeUnits } from "../../src/market/canonical.js";
import { SeededRng } from "../../src/raft/index.js";

const keys = ["b", "a", "ab", "A", "é", "z", "\uFFFD", "😀", "a\u0001", "10", "9", "Z", "_"];

describe("canonicalJson", () => {
  it("writes the keys of every object sorted by UTF-16 code unit, whatever their order", () => {
    const rng = new SeededRng(11);
    const sorted = [...keys].sort(compareCodeUnits);
    const expected = `{${sorted.map((key) => `${JSON.stringify(key)}:{"x":1,"y":[2,{"a":3,"b":4}]}`)
      .join(",")}}`;
    for (let round = 0; round < 50; round++) {
      const shuffled = keys.map((key) => ({ key, order: rng.nextFloat() }))
        .sort((a, b) => a.order - b.order).map(({ key }) => key);
      const value = Object.fromEntries(shuffled.map((key) => [key,
        round % 2 === 0 ? { y: [2, { b: 4, a: 3 }], x: 1 } : { x: 1, y: [2, { a: 3, b: 4 }] }]));
      expect(canonicalJson(value)).to.equal(expected);
    }
  });
});
