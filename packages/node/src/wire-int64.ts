// 64-bit protobuf integers as JS numbers, without BigInt. The generated code (ts-proto with
// forceLong=number) reads an int64 as @bufbuild/protobuf's BigInt, turns it into a string and
// parses that (`longToNumber`), and writes one through BigInt and a DataView: ~300 ns and ~120
// ns a field, on every zxid, slot, time and Stat field of every message. scripts/gen-proto.sh
// points the generated code at these instead (scripts/gen-proto-int64.mjs), which split the
// varint into 32-bit halves as the library does internally and combine them in floating
// point: ~20 ns. Values beyond 2^53 - 1 still throw, as longToNumber did.
//
// They use the library's own private varint routines (BinaryReader.varint64 and its two
// halves, BinaryWriter.writeVarint64; @bufbuild/protobuf is pinned). A self-check at load
// compares them with the public path on boundary values; if the library ever changes, every
// call takes the public path instead (slower, same bytes and values).
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

interface ReaderInternals {
  varint64(): void;
  varint64Lo: number;
  varint64Hi: number;
}
interface WriterInternals {
  writeVarint64(lo: number, hi: number): BinaryWriter;
}

const TWO_32 = 4294967296;

function fromHalves(lo: number, hi: number, signed: boolean): number {
  // hi as a signed 32-bit word for int64 (two's complement), unsigned for uint64.
  const h = signed ? hi | 0 : hi >>> 0;
  const n = h * TWO_32 + (lo >>> 0);
  if (n > Number.MAX_SAFE_INTEGER) throw new globalThis.Error("Value is larger than Number.MAX_SAFE_INTEGER");
  if (n < Number.MIN_SAFE_INTEGER) throw new globalThis.Error("Value is smaller than Number.MIN_SAFE_INTEGER");
  return n;
}

function libToNumber(v: { toString(): string }): number {
  const n = Number(v.toString());
  if (n > Number.MAX_SAFE_INTEGER) throw new globalThis.Error("Value is larger than Number.MAX_SAFE_INTEGER");
  if (n < Number.MIN_SAFE_INTEGER) throw new globalThis.Error("Value is smaller than Number.MIN_SAFE_INTEGER");
  return n;
}

function fastRead(reader: BinaryReader, signed: boolean): number {
  const r = reader as unknown as ReaderInternals;
  r.varint64();
  return fromHalves(r.varint64Lo, r.varint64Hi, signed);
}

function fastWrite(writer: BinaryWriter, value: number, signed: boolean): BinaryWriter {
  // Negative and non-integer values (rare in zk) keep the library's checks and encoding.
  if (!Number.isSafeInteger(value) || value < 0) return signed ? writer.int64(value) : writer.uint64(value);
  if (value < TWO_32) return writer.uint32(value);
  return (writer as unknown as WriterInternals).writeVarint64(value >>> 0, Math.floor(value / TWO_32));
}

/** Whether the fast path gives the library's bytes and values (checked once, at load). */
function fastPathAgrees(): boolean {
  try {
    const values = [0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, TWO_32 - 1, TWO_32, TWO_32 + 1, 1_764_700_000_123, Number.MAX_SAFE_INTEGER];
    for (const v of values) {
      const lib = new BinaryWriter().uint64(v).finish();
      const fast = fastWrite(new BinaryWriter(), v, false).finish();
      if (lib.length !== fast.length || lib.some((b, i) => b !== fast[i])) return false;
      if (fastRead(new BinaryReader(lib), false) !== v || fastRead(new BinaryReader(lib), true) !== v) return false;
    }
    for (const v of [-1, -128, -(2 ** 31), -TWO_32, Number.MIN_SAFE_INTEGER]) {
      if (fastRead(new BinaryReader(new BinaryWriter().int64(v).finish()), true) !== v) return false;
    }
    return true;
  } catch {
    return false;
  }
}

const FAST = fastPathAgrees();

/** Whether the BigInt-free path is in use (false only if the library changed under us). */
export const int64FastPath = FAST;

export function readUint64(reader: BinaryReader): number {
  return FAST ? fastRead(reader, false) : libToNumber(reader.uint64());
}

export function readInt64(reader: BinaryReader): number {
  return FAST ? fastRead(reader, true) : libToNumber(reader.int64());
}

/** Writes `value` as a uint64 varint (the same bytes as BinaryWriter.uint64). */
export function writeUint64(writer: BinaryWriter, value: number): BinaryWriter {
  return FAST ? fastWrite(writer, value, false) : writer.uint64(value);
}

/** Writes `value` as an int64 varint (the same bytes as BinaryWriter.int64). */
export function writeInt64(writer: BinaryWriter, value: number): BinaryWriter {
  return FAST ? fastWrite(writer, value, true) : writer.int64(value);
}
