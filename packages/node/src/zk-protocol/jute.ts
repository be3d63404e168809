// Jute, ZooKeeper's record serialization: big-endian int (4 bytes), long (8), boolean (1),
// buffer and ustring (an int length, -1 for null, then the bytes), vector (an int count, -1
// for null, then the items). zk's zxids and session ids stay below 2^53, so longs are read
// and written as JS numbers; a larger value on the wire is refused, never rounded.

export class JuteError extends Error {
  override readonly name = "JuteError";
}

export class JuteReader {
  private off = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.off;
  }

  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new JuteError(`record ends after ${this.buf.length} bytes; ${n} more expected at offset ${this.off}`);
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  long(): number {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new JuteError(`long ${v} is beyond what zk uses (2^53)`);
    return Number(v);
  }

  bool(): boolean {
    this.need(1);
    return this.buf[this.off++] !== 0;
  }

  buffer(): Buffer | null {
    const n = this.int();
    if (n < 0) return null;
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  ustring(): string | null {
    const b = this.buffer();
    return b === null ? null : b.toString("utf8");
  }

  /** A ustring that must be present (a path): null reads as "". */
  path(): string {
    return this.ustring() ?? "";
  }

  vector<T>(item: (r: JuteReader) => T): T[] | null {
    const n = this.int();
    if (n < 0) return null;
    // Each item is at least one byte: a count beyond the record is a lie, not an allocation.
    if (n > this.remaining) throw new JuteError(`vector of ${n} items in ${this.remaining} bytes`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }
}

export class JuteWriter {
  private chunks: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  int(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.push(b);
  }

  long(v: number | bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(v));
    return this.push(b);
  }

  bool(v: boolean): this {
    return this.push(Buffer.from([v ? 1 : 0]));
  }

  buffer(v: Uint8Array | null): this {
    if (v === null) return this.int(-1);
    this.int(v.length);
    return this.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }

  ustring(v: string | null): this {
    return this.buffer(v === null ? null : Buffer.from(v, "utf8"));
  }

  vector<T>(items: readonly T[] | null, item: (w: JuteWriter, v: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  /** The record with its 4-byte length prefix: one frame on the wire. */
  frame(): Buffer {
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(this.size);
    return Buffer.concat([len, ...this.chunks], this.size + 4);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}
