import { crc32 } from "node:zlib";
import { assert, type Entry, type EntryKind, type HardState } from "../raft/index.js";
import { StorageError } from "./storage.js";

/**
 * The write-ahead log's record format. A segment file is a sequence of records:
 *
 *   [length u32 LE][crc32 u32 LE][type u8][payload: length bytes]
 *
 * The CRC covers the type byte and the payload, so a flipped bit anywhere but in the length is
 * caught by the CRC, and a flipped length either runs past the end of the file or makes the CRC
 * of the wrong byte range fail. Integers in payloads are little-endian; u64 fields hold safe
 * integers (below 2^53) and decoding anything larger is corruption.
 *
 * Record types:
 *   segmentHeader  the first record of every segment: the log's state at the segment's start
 *                  (next index, compaction point, hard state), so that deleting older segments
 *                  loses nothing (etcd writes the hard state at the head of each new file too).
 *   entries        a contiguous batch. Its first index truncates any suffix from there on, so
 *                  when records disagree the later one wins.
 *   hardState      term, vote, commit.
 *   compact        entries at or below this index are in a snapshot: the log starts after it.
 *   reset          every entry is discarded and the log restarts after this index and term (a
 *                  follower installing the leader's snapshot).
 */

export const recordHeaderBytes = 9;
/** The format's hard ceiling on one record's payload; a larger length field is corruption. */
export const recordPayloadBytesLimit = 256 * 1024 * 1024;
export const walFormatVersion = 1;

export const RecordType =
  { segmentHeader: 1, entries: 2, hardState: 3, compact: 4, reset: 5 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const entryKinds: readonly EntryKind[] = ["normal", "config"];
/** An entries payload: [first index u64][count u32], then per entry [term u64][kind u8][length
 * u32][data], so an entry costs 13 bytes beyond its data, and a batch 21 bytes for its record. */
const entriesHeaderBytes = 12;
const entryHeaderBytes = 13;

/** The state a segment starts from. */
export interface SegmentHeader {
  readonly version: number;
  readonly sequence: number;
  /** lastIndex() + 1 when the segment was created; also in the file name. */
  readonly nextIndex: number;
  readonly compactedIndex: number;
  readonly hardState: HardState;
}

/** A record whose length and CRC verified. `payload` is a view into the segment's bytes. */
export interface RawRecord {
  readonly type: RecordType;
  readonly offset: number;
  readonly payload: Buffer;
}

// ---------------------------------------------------------------- encoding

function writeU64(buffer: Buffer, offset: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field out of range: ${value}`);
  buffer.writeUInt32LE(value % 0x1_0000_0000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
  return offset + 8;
}

/** Allocates a record with room for `payloadBytes`, filled in by `fill`, then seals it. */
function makeRecord(type: RecordType, payloadBytes: number,
  fill: (buffer: Buffer, offset: number) => number): Buffer {
  const record = Buffer.allocUnsafe(recordHeaderBytes + payloadBytes);
  record.writeUInt32LE(payloadBytes, 0);
  record.writeUInt8(type, 8);
  const end = fill(record, recordHeaderBytes);
  assert(end === record.length, `record type ${type} filled ${end} of ${record.length} bytes`);
  record.writeUInt32LE(crc32(record.subarray(8)), 4);
  return record;
}

function hardStateBytes(state: HardState): number {
  const voteBytes = state.vote === null ? 0 : Buffer.byteLength(state.vote);
  if (voteBytes > 0xffff) throw new StorageError(`vote is ${voteBytes} bytes, the limit is 65535`);
  return 8 + 8 + 1 + 2 + voteBytes;
}

function writeHardState(buffer: Buffer, offset: number, state: HardState): number {
  let at = writeU64(buffer, offset, state.term);
  at = writeU64(buffer, at, state.commit);
  buffer.writeUInt8(state.vote === null ? 0 : 1, at);
  const voteBytes = state.vote === null ? 0 : Buffer.byteLength(state.vote);
  buffer.writeUInt16LE(voteBytes, at + 1);
  at += 3;
  if (state.vote !== null) at += buffer.write(state.vote, at, "utf8");
  return at;
}

export function encodeHardStateRecord(state: HardState): Buffer {
  return makeRecord(RecordType.hardState, hardStateBytes(state),
    (buffer, offset) => writeHardState(buffer, offset, state));
}

export function encodeCompactRecord(index: number): Buffer {
  return makeRecord(RecordType.compact, 8, (buffer, offset) => writeU64(buffer, offset, index));
}

export function encodeResetRecord(index: number, term: number): Buffer {
  return makeRecord(RecordType.reset, 16, (buffer, offset) =>
    writeU64(buffer, writeU64(buffer, offset, index), term));
}

export function encodeSegmentHeaderRecord(header: SegmentHeader): Buffer {
  return makeRecord(RecordType.segmentHeader, 1 + 24 + hardStateBytes(header.hardState),
    (buffer, offset) => {
      buffer.writeUInt8(header.version, offset);
      let at = writeU64(buffer, offset + 1, header.sequence);
      at = writeU64(buffer, at, header.nextIndex);
      at = writeU64(buffer, at, header.compactedIndex);
      return writeHardState(buffer, at, header.hardState);
    });
}

/**
 * Encodes a contiguous batch as few records as possible, each payload at most `payloadBytesMax`
 * (a batch larger than that is split; later records continue where the earlier stopped). An
 * entry that alone does not fit throws StorageError, before anything is returned.
 */
export function encodeEntriesRecords(entries: readonly Entry[], payloadBytesMax: number):
  Buffer[] {
  assert(payloadBytesMax <= recordPayloadBytesLimit, "payloadBytesMax above the format limit");
  const dataBytes = entries.map((entry) => Buffer.byteLength(entry.data));
  const records: Buffer[] = [];
  let start = 0;
  while (start < entries.length) {
    let payloadBytes = entriesHeaderBytes;
    let end = start;
    while (end < entries.length &&
      payloadBytes + entryHeaderBytes + dataBytes[end]! <= payloadBytesMax) {
      payloadBytes += entryHeaderBytes + dataBytes[end]!;
      end++;
    }
    if (end === start) {
      throw new StorageError(`entry ${entries[start]!.index} holds ${dataBytes[start]} bytes, ` +
        `more than fits in a record (${payloadBytesMax - entriesHeaderBytes - entryHeaderBytes})`);
    }
    records.push(encodeEntriesPayload(entries, start, end, payloadBytes));
    start = end;
  }
  return records;
}

function encodeEntriesPayload(entries: readonly Entry[], start: number, end: number,
  payloadBytes: number): Buffer {
  return makeRecord(RecordType.entries, payloadBytes, (buffer, offset) => {
    let at = writeU64(buffer, offset, entries[start]!.index);
    buffer.writeUInt32LE(end - start, at);
    at += 4;
    for (let k = start; k < end; k++) {
      const entry = entries[k]!;
      at = writeU64(buffer, at, entry.term);
      const kind = entryKinds.indexOf(entry.kind);
      assert(kind >= 0, `unknown entry kind ${entry.kind}`);
      buffer.writeUInt8(kind, at);
      const dataBytes = buffer.write(entry.data, at + 5, "utf8");
      buffer.writeUInt32LE(dataBytes, at + 1);
      at += 5 + dataBytes;
    }
    return at;
  });
}

// ---------------------------------------------------------------- decoding

/** A payload that verified but does not parse: a bug or corruption the CRC missed. */
export class PayloadError extends Error {
  override readonly name = "PayloadError";
}

/** Reads a payload field by field, throwing PayloadError past its end. */
class PayloadReader {
  private at = 0;
  constructor(private readonly payload: Buffer) {}

  private need(byteCount: number): void {
    if (this.at + byteCount > this.payload.length) {
      throw new PayloadError(`payload ends at ${this.payload.length}, field needs ` +
        `${this.at + byteCount}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.payload.readUInt8(this.at++);
  }

  u16(): number {
    this.need(2);
    const value = this.payload.readUInt16LE(this.at);
    this.at += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.payload.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  u64(): number {
    const low = this.u32();
    const high = this.u32();
    if (high > 0x1f_ffff) throw new PayloadError("u64 field above 2^53");
    return high * 0x1_0000_0000 + low;
  }

  utf8(byteCount: number): string {
    this.need(byteCount);
    const text = this.payload.toString("utf8", this.at, this.at + byteCount);
    this.at += byteCount;
    return text;
  }

  hardState(): HardState {
    const term = this.u64();
    const commit = this.u64();
    const hasVote = this.u8();
    const voteBytes = this.u16();
    if (hasVote > 1 || (hasVote === 0 && voteBytes !== 0)) throw new PayloadError("bad vote");
    return { term, commit, vote: hasVote === 1 ? this.utf8(voteBytes) : null };
  }

  end(): void {
    if (this.at !== this.payload.length) {
      throw new PayloadError(`${this.payload.length - this.at} trailing payload bytes`);
    }
  }
}

export function decodeHardState(payload: Buffer): HardState {
  const reader = new PayloadReader(payload);
  const state = reader.hardState();
  reader.end();
  return state;
}

export function decodeCompact(payload: Buffer): number {
  const reader = new PayloadReader(payload);
  const index = reader.u64();
  reader.end();
  return index;
}

export function decodeReset(payload: Buffer): { index: number; term: number } {
  const reader = new PayloadReader(payload);
  const index = reader.u64();
  const term = reader.u64();
  reader.end();
  return { index, term };
}

export function decodeSegmentHeader(payload: Buffer): SegmentHeader {
  const reader = new PayloadReader(payload);
  const version = reader.u8();
  if (version !== walFormatVersion) throw new PayloadError(`unknown WAL version ${version}`);
  const sequence = reader.u64();
  const nextIndex = reader.u64();
  const compactedIndex = reader.u64();
  const hardState = reader.hardState();
  reader.end();
  return { version, sequence, nextIndex, compactedIndex, hardState };
}

export function decodeEntries(payload: Buffer): Entry[] {
  const reader = new PayloadReader(payload);
  const indexFirst = reader.u64();
  const count = reader.u32();
  // Each entry takes at least entryHeaderBytes, so a count beyond that is corruption, and the
  // loop below stays bounded by the payload's size whatever the count field says.
  if (indexFirst < 1 || count < 1 || count * entryHeaderBytes > payload.length) {
    throw new PayloadError(`bad entries batch: first index ${indexFirst}, count ${count}`);
  }
  const entries: Entry[] = [];
  for (let k = 0; k < count; k++) {
    const term = reader.u64();
    const kind = entryKinds[reader.u8()];
    if (kind === undefined) throw new PayloadError("unknown entry kind");
    const data = reader.utf8(reader.u32());
    entries.push({ index: indexFirst + k, term, kind, data });
  }
  reader.end();
  return entries;
}

/** The first and last index of an entries payload, without decoding the entries. */
export function entriesPayloadRange(payload: Buffer): { indexFirst: number; indexLast: number } {
  const reader = new PayloadReader(payload);
  const indexFirst = reader.u64();
  const count = reader.u32();
  return { indexFirst, indexLast: indexFirst + count - 1 };
}

// ---------------------------------------------------------------- scanning

export type RecordCheck =
  | { readonly ok: true; readonly record: RawRecord; readonly end: number }
  | { readonly ok: false; readonly reason: string };

/** Verifies the record at `offset`: a whole header, a sane length inside the bytes, the CRC. */
export function checkRecordAt(bytes: Buffer, offset: number): RecordCheck {
  if (offset + recordHeaderBytes > bytes.length) {
    return { ok: false, reason: `partial record header (${bytes.length - offset} of ` +
      `${recordHeaderBytes} bytes)` };
  }
  const payloadBytes = bytes.readUInt32LE(offset);
  if (payloadBytes > recordPayloadBytesLimit) {
    return { ok: false, reason: `record length ${payloadBytes} above the limit` };
  }
  const end = offset + recordHeaderBytes + payloadBytes;
  if (end > bytes.length) {
    return { ok: false, reason: `record of ${payloadBytes} bytes runs past the end of the file ` +
      `(${bytes.length - offset - recordHeaderBytes} present)` };
  }
  const type = bytes.readUInt8(offset + 8);
  if (type < RecordType.segmentHeader || type > RecordType.reset) {
    return { ok: false, reason: `unknown record type ${type}` };
  }
  const crcStored = bytes.readUInt32LE(offset + 4);
  const crcComputed = crc32(bytes.subarray(offset + 8, end));
  if (crcStored !== crcComputed) {
    return { ok: false, reason: `checksum mismatch (stored ${crcStored.toString(16)}, ` +
      `computed ${crcComputed.toString(16)})` };
  }
  const record = { type: type as RecordType, offset,
    payload: bytes.subarray(offset + recordHeaderBytes, end) };
  return { ok: true, record, end };
}

/**
 * The offset of the first verifiable record strictly after `offset`, or null. Used only after a
 * failure, to tell a torn tail (nothing valid follows) from damage in the middle (valid records
 * follow). Candidates are filtered by length and type before their CRC is computed, so garbage
 * costs a few comparisons per byte.
 */
export function findNextValidRecord(bytes: Buffer, offset: number): number | null {
  for (let at = offset + 1; at + recordHeaderBytes <= bytes.length; at++) {
    const type = bytes.readUInt8(at + 8);
    if (type === 0) {
      // No record has type 0, so no candidate starts before the next non-zero byte less 8: a
      // preallocated tail of zeros (FileStorage) is crossed a page at a time, not byte by byte.
      const nonZero = firstNonZeroByte(bytes, at + 8);
      if (nonZero === -1) return null;
      at = nonZero - 8 - 1; // the loop's at++ lands on nonZero - 8
      continue;
    }
    if (type > RecordType.reset) continue;
    const payloadBytes = bytes.readUInt32LE(at);
    if (at + recordHeaderBytes + payloadBytes > bytes.length) continue;
    if (checkRecordAt(bytes, at).ok) return at;
  }
  return null;
}

const zeroPage = Buffer.alloc(64 * 1024);

/** How many bytes at the end of `bytes`, none before `from`, are zero. */
export function trailingZeroBytes(bytes: Buffer, from: number): number {
  let end = bytes.length;
  while (end - zeroPage.length >= from &&
    bytes.subarray(end - zeroPage.length, end).equals(zeroPage)) end -= zeroPage.length;
  while (end > from && bytes[end - 1] === 0) end--;
  return bytes.length - end;
}

/** The offset of the first non-zero byte at or after `from`, or -1 when there is none. */
export function firstNonZeroByte(bytes: Buffer, from: number): number {
  let at = from;
  while (at < bytes.length) {
    const end = Math.min(at + zeroPage.length, bytes.length);
    if (bytes.subarray(at, end).equals(zeroPage.subarray(0, end - at))) {
      at = end;
      continue;
    }
    while (bytes[at] === 0) at++;
    return at;
  }
  return -1;
}

export interface ScanFailure {
  readonly offset: number;
  readonly reason: string;
  /** Where a valid record follows the failure, or null when none does (a torn tail). */
  readonly nextValidOffset: number | null;
  /** Every byte from `offset` to the end is zero: space FileStorage preallocated and has not
   * written yet (or a torn write that landed none of its bytes). */
  readonly zeroTail: boolean;
}

export interface SegmentScan {
  /** The verified records, in order, up to the first failure. */
  readonly records: RawRecord[];
  /** The end of the last verified record: the length to truncate to after a torn tail. */
  readonly goodBytes: number;
  readonly failure: ScanFailure | null;
}

/** Verifies a segment's records in order, stopping at the first one that fails. */
export function scanSegment(bytes: Buffer): SegmentScan {
  const records: RawRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const check = checkRecordAt(bytes, offset);
    if (!check.ok) {
      const zeroTail = firstNonZeroByte(bytes, offset) === -1;
      const failure = { offset, zeroTail,
        reason: zeroTail ? `zeros from byte ${offset} to the end of the file` : check.reason,
        nextValidOffset: zeroTail ? null : findNextValidRecord(bytes, offset) };
      return { records, goodBytes: offset, failure };
    }
    records.push(check.record);
    offset = check.end;
  }
  return { records, goodBytes: offset, failure: null };
}
