/**
 * How LmdbStateStore lays out a value on disk: its MessagePack bytes, then a CRC-32 (4 bytes,
 * little-endian) over the table, the key and those bytes. LMDB checks nothing of what it
 * stores, so without the checksum a flipped bit on disk or in the page cache would be served
 * as state, and every replica that took a snapshot from this one would copy it. Seeding the
 * checksum with the table and key also catches a value that surfaces under another key (a
 * flipped byte in a key, a misdirected page).
 *
 * MessagePack without shared structures (msgpackr's `useRecords: false`): each value decodes
 * on its own, with no dictionary that a lost or stale write could leave out of step.
 */
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { assert } from "../raft/index.js";
import type { StateKey, StateTable } from "./state-store.js";

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const checksumBytes = 4;

/** Why a stored value cannot be served; null when it is sound. */
export type DecodeFailure = "checksum mismatch" | "undecodable value";

export function encodeStateValue(table: StateTable, key: StateKey, value: unknown): Buffer {
  const packed = packr.pack(value);
  // packr may hand out a view of a buffer it later reuses; the value waits for its commit in a
  // layer, so it gets bytes of its own, which also make room for the checksum.
  const bytes = Buffer.allocUnsafe(packed.length + checksumBytes);
  packed.copy(bytes, 0);
  bytes.writeUInt32LE(checksum(table, key, packed), packed.length);
  return bytes;
}

/** The value in `bytes` (as encodeStateValue laid them out), or why it cannot be trusted. */
export function decodeStateValue(table: StateTable, key: StateKey, bytes: Uint8Array):
  { readonly ok: true; readonly value: unknown } | { readonly ok: false;
    readonly failure: DecodeFailure } {
  if (bytes.length < checksumBytes + 1) return { ok: false, failure: "checksum mismatch" };
  const packedBytes = bytes.length - checksumBytes;
  const packed = bytes.subarray(0, packedBytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(packedBytes, true) !== checksum(table, key, packed)) {
    return { ok: false, failure: "checksum mismatch" };
  }
  try {
    return { ok: true, value: packr.unpack(packed) };
  } catch {
    // A sound checksum over bytes msgpackr refuses: written by another encoder, not by a flip.
    return { ok: false, failure: "undecodable value" };
  }
}

function checksum(table: StateTable, key: StateKey, packed: Uint8Array): number {
  const seed = crc32(typeof key === "number" ? `${table}\0#${key}` : `${table}\0$${key}`);
  const sum = crc32(packed, seed);
  assert(sum >= 0 && sum <= 0xffff_ffff, "crc32 is an unsigned 32-bit number");
  return sum;
}
