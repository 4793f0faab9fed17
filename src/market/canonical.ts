/**
 * Canonical JSON: one byte string per value, whatever order its keys were built in. Object keys
 * are sorted by UTF-16 code unit (never localeCompare, which depends on the machine's locale);
 * arrays keep their order, so callers put arrays in a canonical order first. Equal states give
 * equal bytes, and so equal hashes on every replica.
 */
import { hash } from "node:crypto";
import { assert, InvariantError } from "./assert.js";

/** Nesting deeper than this is a bug: no market value is more than a few levels deep. */
const depthMax = 32;

export function canonicalJson(value: unknown): string {
  return canonicalJsonAt(value, 0);
}

function canonicalJsonAt(value: unknown, depth: number): string {
  assert(depth <= depthMax, "canonicalJson: value nested too deeply");
  if (value === null || typeof value === "string" || typeof value === "boolean") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    assert(Number.isFinite(value), "canonicalJson: numbers must be finite");
    return JSON.stringify(value);
  }
  // Built by concatenation, keys sorted only when they are not in order already: every apply
  // hashes a command and its session this way, so its allocations count.
  if (Array.isArray(value)) {
    let text = "[";
    for (let k = 0; k < value.length; k++) {
      text += (k === 0 ? "" : ",") + canonicalJsonAt(value[k] as unknown, depth + 1);
    }
    return `${text}]`;
  }
  assert(typeof value === "object", `canonicalJson: cannot encode a ${typeof value}`);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!inOrder(keys)) sortKeys(keys);
  let text = "{";
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    const member = record[key];
    // Not assert(): its message would be formatted for every member of every value.
    if (member === undefined) {
      throw new InvariantError(`canonicalJson: property ${key} is undefined`);
    }
    text += `${k === 0 ? "" : ","}${JSON.stringify(key)}:${canonicalJsonAt(member, depth + 1)}`;
  }
  return `${text}}`;
}

/**
 * Sorts `keys` by UTF-16 code unit, in place: an insertion sort, as a market value has a few
 * keys, and Array.prototype.sort copies them to a scratch array and calls back per comparison
 * (every apply digests a command whose keys are out of order). Keys are distinct, so any sort
 * gives the same order.
 */
function sortKeys(keys: string[]): void {
  for (let k = 1; k < keys.length; k++) {
    const key = keys[k]!;
    let j = k - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
}

function inOrder(keys: readonly string[]): boolean {
  for (let k = 1; k < keys.length; k++) if (keys[k - 1]! > keys[k]!) return false;
  return true;
}

/** Orders strings by UTF-16 code unit: the same on every machine, unlike localeCompare. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The sha256 of `text` (as UTF-8), in lowercase hex. The one-shot crypto.hash (Node 20.12) skips
 * the Hash object createHash builds: 2.2 against 3.0 µs for a record, and apply hashes several.
 */
export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}
