/**
 * How LmdbStateStore lays out a value on disk: its JSON text in UTF-8, then a CRC-32 (4 bytes,
 * little-endian) over the table, the key and those bytes. LMDB checks nothing of what it
 * stores, so without the checksum a flipped bit on disk or in the page cache would be served
 * as state, and every replica that took a snapshot from this one would copy it. Seeding the
 * checksum with the table and key also catches a value that surfaces under another key (a
 * flipped byte in a key, a misdirected page).
 *
 * JSON, not MessagePack: a value must read back exactly as written, or a replica that reopened
 * its database would hash and answer differently from one that did not. JSON.stringify escapes
 * a lone surrogate (which a command's name may hold) and JSON.parse restores it, where
 * msgpackr writes it as invalid UTF-8 that reads back as U+FFFD. Each value decodes on its own.
 */
import { crc32 } from "node:zlib";
import { assert } from "../raft/index.js";
import type { StateKey, StateTable } from "./state-store.js";

export const checksumBytes = 4;

/** Why a stored value cannot be served; null when it is sound. */
export type DecodeFailure = "checksum mismatch" | "undecodable value";

export function encodeStateValue(table: StateTable, key: StateKey, value: unknown): Buffer {
  const text = JSON.stringify(value) as string | undefined;
  assert(text !== undefined, `state value at ${table}/${String(key)} is not JSON data`);
  const textBytes = Buffer.byteLength(text, "utf8");
  const bytes = Buffer.allocUnsafe(textBytes + checksumBytes);
  bytes.write(text, 0, "utf8");
  bytes.writeUInt32LE(checksum(table, key, bytes.subarray(0, textBytes)), textBytes);
  return bytes;
}

/** The value in `bytes` (as encodeStateValue laid them out), or why it cannot be trusted. */
export function decodeStateValue(table: StateTable, key: StateKey, bytes: Uint8Array):
  { readonly ok: true; readonly value: unknown } | { readonly ok: false;
    readonly failure: DecodeFailure } {
  if (bytes.length < checksumBytes + 1) return { ok: false, failure: "checksum mismatch" };
  // CRC-32 over a message followed by its own CRC (little-endian) ends in a fixed residue,
  // whatever the seed: so the whole value is checked in one pass, without a view of its text
  // part (a Buffer each: reading 100,000 short values in a range took about half as long
  // without it). The text is never empty here (at least one byte, checked above).
  // lmdb-js's getBinaryFast hands out a reused buffer with its `length` set to the value's
  // size; native code (crc32) reads the whole buffer, so it gets a view of the value.
  const value = bytes.byteLength === bytes.length ? bytes : bytes.subarray(0, bytes.length);
  if (crc32(value, checksumSeed(table, key)) !== crc32Residue) {
    return { ok: false, failure: "checksum mismatch" };
  }
  const textBytes = bytes.length - checksumBytes;
  try {
    const text = Buffer.isBuffer(bytes) ? bytes.toString("utf8", 0, textBytes)
      : Buffer.from(bytes.buffer, bytes.byteOffset, textBytes).toString("utf8");
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    // A sound checksum over bytes that are not JSON: written by another encoder, not by a flip.
    return { ok: false, failure: "undecodable value" };
  }
}

/** crc32(message + its crc32 as 4 little-endian bytes), for any non-empty message and seed. */
const crc32Residue = 0x2144df1c;

function checksum(table: StateTable, key: StateKey, packed: Uint8Array): number {
  const sum = crc32(packed, checksumSeed(table, key));
  assert(sum >= 0 && sum <= 0xffff_ffff, "crc32 is an unsigned 32-bit number");
  return sum;
}

/** The checksum starts from the table and key, so a value under another key is refused. */
function checksumSeed(table: StateTable, key: StateKey): number {
  return crc32(typeof key === "number" ? `${table}\0#${key}` : `${table}\0$${key}`);
}
