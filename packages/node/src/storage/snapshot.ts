// Snapshots of a node's state machine: everything apply() reads (the znode tree, sessions,
// the deduplication rows) as of one applied slot, in one self-describing, checksummed file.
// The SQLite store *is* the state machine at its applied index, so a snapshot is not needed to
// survive a restart; it is what a far-behind follower installs instead of the compacted log,
// and what `zk-cli snapshot save/restore` backs up and restores.
//
// Layout (all integers big-endian):
//   "ZKSNAP\0\x01"                         8-byte magic, format 1
//   u32 n, n bytes of JSON                  SnapshotHeader (cluster id, slot, schema version, ...)
//   per table of SNAPSHOT_TABLES, in order:
//     'T' str(name) u32(columns) str(column)...   the table's columns, as SELECT * returns them
//     'R' value...                                 one row per record, one value per column
//     'E' u64(rows)
//   'S' u32 n, n bytes of JSON              SnapshotSummary (row counts, the tree hash)
//   "ZKSNEND\x01" u64(bytes before it) sha256(bytes before it)      48-byte footer
// A value is 'n' (null) | 'i' int64 | 'f' float64 | 's' u32 len utf8 | 'b' u32 len bytes.
//
// Written from one read transaction of a connection of its own (WAL: the writer goes on
// meanwhile), in pages of rows with a turn of the event loop between them, and handed out as
// chunks of at most chunkBytes: the node keeps serving while a large snapshot streams out.
// Read back in one pass that hashes as it decodes; the footer is checked before anything is
// decoded, the checksum at the end, so an installer that writes inside one transaction rolls
// the whole of it back on any damage.
import { createHash, type Hash } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import Database from "better-sqlite3";
import { TREE_HASH_TABLES, TreeHasher, checkTables } from "../tree/hash.js";
import { requestsStillKept } from "../tree/tree.js";
import type { SqliteDatabase } from "./sqlite-store.js";

export const SNAPSHOT_FORMAT = "zk-snapshot/1";
const HEAD_MAGIC = Buffer.from("ZKSNAP\u0000\u0001", "latin1");
const FOOT_MAGIC = Buffer.from("ZKSNEND\u0001", "latin1");
const FOOTER_BYTES = FOOT_MAGIC.length + 8 + 32;
/** Chunks handed out by snapshotChunks, by default: the unit of a transfer and of its resume. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Rows read per query while writing; a page also ends after PAGE_BYTES_MAX of values. */
const PAGE_ROWS_MAX = 256;
const PAGE_BYTES_MAX = 256 * 1024;
/** Bounds a damaged length field can claim before the checksum is known. */
const JSON_BYTES_MAX = 1024 * 1024;
const FILE_READ_BYTES = 1024 * 1024;

/** The state machine's tables, each read in the order of its primary key (the tree hash's order). */
export const SNAPSHOT_TABLES = [
  { name: "znodes", key: "path", sinceSchema: 2 },
  { name: "znode_attrs", key: "path", sinceSchema: 5 },
  { name: "sessions", key: "id", sinceSchema: 2 },
  { name: "requests", key: "zxid", sinceSchema: 2 },
] as const;

/** The oldest store schema whose snapshots this build installs (a table it lacks is installed empty). */
const SNAPSHOT_SCHEMA_MIN = 4;

/** The tables a snapshot of a store at `schema` holds. */
function tablesOf(schema: number) {
  return SNAPSHOT_TABLES.filter((t) => t.sinceSchema <= schema);
}

if (SNAPSHOT_TABLES.map((t) => t.name).join() !== TREE_HASH_TABLES.join()) {
  throw new Error("zk: bug: a snapshot must carry exactly the tables the tree hash covers (src/tree/hash.ts)");
}

export interface SnapshotHeader {
  readonly format: string;
  /** The cluster the state was taken from (a restore makes a new cluster id). */
  readonly clusterId: string;
  /** The node whose store it was read from. */
  readonly nodeId: string;
  /** The applied index (= the zxid of the last applied command) the state is at. */
  readonly slot: number;
  /** The store's schema version; an installer refuses another (the columns must match). */
  readonly schemaVersion: number;
  /** Wall-clock time of the read, for people. */
  readonly createdAtMs: number;
  /** The source's watch history began here; an installed node's begins at slot + 1. */
  readonly watchHistoryFrom: number;
  /**
   * The cluster's configuration at `slot` (src/membership.ts, as stored in meta); installed
   * with the state. Absent in snapshots made before membership changes.
   */
  readonly membership?: string;
}

export interface SnapshotSummary {
  /** Rows per table. */
  readonly rows: Readonly<Record<string, number>>;
  /** treeHash() of the state at `slot` (src/tree/hash.ts): equal after an install. */
  readonly treeHash: string;
}

export interface SnapshotInfo {
  readonly header: SnapshotHeader;
  readonly summary: SnapshotSummary;
  /** The file's size, footer included. */
  readonly bytes: number;
  /** sha256 (hex) of every byte before the footer: what the footer carries. */
  readonly sha256: string;
}

/** A snapshot that cannot be used; the message is one line naming the file and what is wrong. */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

// ---- Writing ------------------------------------------------------------------------------

/**
 * A connection of its own for reading a snapshot beside the node's writer: the read
 * transaction a snapshot holds must not be the writer's (its transactions would nest in it).
 */
export function openSnapshotSource(dbPath: string): SqliteDatabase {
  return new Database(dbPath, { readonly: true, fileMustExist: true });
}

/**
 * The snapshot of the store behind `db` (a connection only this snapshot uses; see
 * openSnapshotSource) as chunks of at most `chunkBytes`, read in one read transaction. The
 * generator's return value describes what was written. Abandoning it ends the read.
 */
export async function* snapshotChunks(
  db: SqliteDatabase,
  opts: { readonly chunkBytes?: number } = {},
): AsyncGenerator<Buffer, SnapshotInfo, void> {
  const chunkBytes = opts.chunkBytes ?? SNAPSHOT_CHUNK_BYTES_DEFAULT;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`zk: chunkBytes ${chunkBytes} must be a positive integer`);
  if (db.inTransaction) throw new Error("zk: bug: a snapshot needs a connection of its own (openSnapshotSource), not one in a transaction");
  const out = new ChunkWriter(chunkBytes);
  // A deferred BEGIN: the first SELECT fixes what every later one of this snapshot sees.
  db.prepare("BEGIN").run();
  try {
    checkTables(db);
    const meta = new Map(db.prepare<[], { key: string; value: unknown }>("SELECT key, value FROM meta").all().map((r) => [r.key, r.value] as const));
    const header: SnapshotHeader = {
      format: SNAPSHOT_FORMAT,
      clusterId: String(meta.get("cluster_id") ?? ""),
      nodeId: String(meta.get("node_id") ?? ""),
      slot: Number(meta.get("applied") ?? 0),
      schemaVersion: Number(meta.get("schema_version") ?? 0),
      createdAtMs: Date.now(),
      watchHistoryFrom: Number(meta.get("watch_history_from") ?? 1),
      ...(typeof meta.get("membership") === "string" ? { membership: meta.get("membership") as string } : {}),
    };
    out.raw(HEAD_MAGIC);
    out.json(header);
    const hasher = new TreeHasher(header.slot);
    const kept = requestsStillKept(db, header.slot);
    const rows: Record<string, number> = {};
    for (const t of SNAPSHOT_TABLES) {
      const first = db.prepare(`SELECT * FROM ${t.name} ORDER BY ${t.key} LIMIT ?`).raw(true).safeIntegers(true);
      const after = db.prepare(`SELECT * FROM ${t.name} WHERE ${t.key} > ? ORDER BY ${t.key} LIMIT ?`).raw(true).safeIntegers(true);
      const columns = first.columns().map((c) => c.name);
      const keyAt = columns.indexOf(t.key);
      // The tree hash leaves out request rows apply() has forgotten (hash.ts); the file keeps them.
      const hashed = t.name === "requests" ? requestKeptFilter(columns, kept) : () => true;
      out.tag("T");
      out.str(t.name);
      out.u32(columns.length);
      for (const c of columns) out.str(c);
      hasher.table(t.name, columns);
      let last: unknown = undefined;
      let n = 0;
      for (;;) {
        let pageRows = 0;
        let pageBytes = 0;
        const page = (last === undefined ? first.iterate(PAGE_ROWS_MAX) : after.iterate(last, PAGE_ROWS_MAX)) as Iterable<unknown[]>;
        for (const row of page) {
          out.tag("R");
          for (const v of row) pageBytes += out.value(v);
          if (hashed(row)) hasher.row(row);
          last = row[keyAt];
          pageRows++;
          // Leaving the loop early resets the statement; the next page starts after `last`.
          if (pageBytes >= PAGE_BYTES_MAX) break;
        }
        n += pageRows;
        yield* out.drain();
        if (pageRows === 0 || (pageRows < PAGE_ROWS_MAX && pageBytes < PAGE_BYTES_MAX)) break;
        // Let the node run between pages (its writes go on beside this read).
        await nextTurn();
      }
      out.tag("E");
      out.u64(n);
      hasher.endTable();
      rows[t.name] = n;
    }
    db.prepare("COMMIT").run();
    const summary: SnapshotSummary = { rows, treeHash: hasher.digest() };
    out.tag("S");
    out.json(summary);
    const bytes = out.finish();
    yield* out.drain(true);
    return { header, summary, bytes: bytes.total, sha256: bytes.sha256 };
  } finally {
    if (db.inTransaction) db.prepare("ROLLBACK").run();
  }
}

/**
 * Write the snapshot of the store at `dbPath` to `file`, atomically: into `file`.tmp, fsynced,
 * then renamed. Reads through a connection of its own, so the node may run meanwhile.
 */
export async function writeSnapshotFile(dbPath: string, file: string, opts: { readonly chunkBytes?: number } = {}): Promise<SnapshotInfo> {
  const db = openSnapshotSource(dbPath);
  try {
    return await writeChunksToFile(snapshotChunks(db, opts), file);
  } finally {
    db.close();
  }
}

/**
 * Write chunks (a snapshot's, local or received) to `file` atomically: a temp file beside it,
 * fsynced, renamed over `file`, the directory fsynced. The temp file goes on any failure.
 */
export async function writeChunksToFile<R>(chunks: AsyncIterable<Uint8Array> & AsyncIterator<Uint8Array, R>, file: string): Promise<R> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  let ok = false;
  try {
    let r = await chunks.next();
    while (!r.done) {
      writeAll(fd, r.value);
      r = await chunks.next();
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
    fsyncDir(dirname(file));
    ok = true;
    return r.value;
  } finally {
    if (!ok) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
    }
  }
}

function requestKeptFilter(columns: readonly string[], kept: { fromZxid: number; fromTimeMs: number }): (row: readonly unknown[]) => boolean {
  const zxidAt = columns.indexOf("zxid");
  const timeAt = columns.indexOf("time_ms");
  if (zxidAt < 0 || timeAt < 0) throw new Error("zk: bug: the requests table has no zxid or time_ms column");
  const fromZxid = BigInt(kept.fromZxid);
  const fromTime = BigInt(kept.fromTimeMs);
  return (row) => (row[zxidAt] as bigint) >= fromZxid || (row[timeAt] as bigint) >= fromTime;
}

/**
 * Encodes records into one growing buffer, hashes every byte, and cuts what it holds into
 * chunks of chunkBytes (each a copy, so a chunk a consumer still holds never changes).
 */
class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  /** Bytes already handed out as chunks. */
  private flushed = 0;
  /** finish() hashed what the buffer held; drain must not hash it again. */
  private finished = false;
  private readonly hash: Hash = createHash("sha256");

  constructor(private readonly chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, 2 * chunkBytes));
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  tag(t: string): void {
    this.room(1);
    this.buf[this.pos++] = t.charCodeAt(0);
  }

  u32(n: number): void {
    this.room(4);
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4;
  }

  u64(n: number | bigint): void {
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt(n), this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u32(n);
    this.room(n);
    this.buf.write(s, this.pos, n, "utf8");
    this.pos += n;
  }

  json(v: unknown): void {
    this.str(JSON.stringify(v));
  }

  /** One value; returns its encoded size, for bounding pages. */
  value(v: unknown): number {
    const before = this.pos;
    if (v === null) {
      this.tag("n");
    } else if (typeof v === "bigint") {
      this.tag("i");
      this.room(8);
      this.buf.writeBigInt64BE(v, this.pos);
      this.pos += 8;
    } else if (typeof v === "number") {
      this.tag("f");
      this.room(8);
      this.buf.writeDoubleBE(v, this.pos);
      this.pos += 8;
    } else if (typeof v === "string") {
      this.tag("s");
      this.str(v);
    } else if (v instanceof Uint8Array) {
      this.tag("b");
      this.u32(v.length);
      this.raw(v);
    } else {
      throw new TypeError(`zk: snapshot: unexpected SQLite value of type ${typeof v}`);
    }
    return this.pos - before;
  }

  /** Append the footer (length and sha256 of everything before it); no more records after it. */
  finish(): { total: number; sha256: string } {
    this.hash.update(this.buf.subarray(0, this.pos));
    this.finished = true;
    const digest = this.hash.digest();
    const before = this.flushed + this.pos;
    this.raw(FOOT_MAGIC);
    this.u64(before);
    this.raw(digest);
    return { total: before + FOOTER_BYTES, sha256: digest.toString("hex") };
  }

  /** Full chunks held so far (and, with `all`, the rest). */
  *drain(all = false): Generator<Buffer> {
    while (this.pos >= this.chunkBytes || (all && this.pos > 0)) {
      const n = Math.min(this.chunkBytes, this.pos);
      const chunk = Buffer.from(this.buf.subarray(0, n));
      if (!this.finished) this.hash.update(chunk);
      this.buf.copy(this.buf, 0, n, this.pos);
      this.pos -= n;
      this.flushed += n;
      yield chunk;
    }
  }
}

// ---- Reading ------------------------------------------------------------------------------

/** What a reader of a snapshot's tables is handed, table by table, row by row. */
export interface SnapshotVisitor {
  header?(h: SnapshotHeader): void;
  table?(name: string, columns: readonly string[]): void;
  /** Integers arrive as bigints (exact), text as strings, blobs as Buffers. */
  row?(table: string, values: unknown[]): void;
}

/**
 * Read the snapshot in `file` once, from the start, handing its contents to `visitor`, and
 * check it: the footer before anything is decoded, the structure while decoding, the checksum
 * at the end. Throws SnapshotError (one line) on any damage; a visitor that wrote inside a
 * transaction must then roll it back.
 */
export function readSnapshotFile(file: string, visitor: SnapshotVisitor = {}): SnapshotInfo {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SnapshotError(code === "ENOENT" ? `${file}: no such file` : `${file}: cannot open: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SnapshotError(`${file} is not a file (a snapshot is one file)`);
    const size = st.size;
    const bodyBytes = checkFooter(fd, file, size);
    const r = new FileReader(fd, file, bodyBytes);
    const magic = r.bytes(HEAD_MAGIC.length);
    if (!magic.equals(HEAD_MAGIC)) throw r.damaged("does not start with a zk snapshot header");
    const header = parseHeader(r.json(), r);
    visitor.header?.(header);
    const rows: Record<string, number> = {};
    const tables = tablesOf(header.schemaVersion);
    for (const t of tables) {
      r.expectTag("T", `the table ${t.name}`);
      const name = r.str();
      if (name !== t.name) throw r.damaged(`has table ${JSON.stringify(name)} where ${t.name} belongs`);
      const ncols = r.u32();
      if (ncols < 1 || ncols > 64) throw r.damaged(`claims ${ncols} columns for ${name}`);
      const columns = Array.from({ length: ncols }, () => r.str());
      visitor.table?.(name, columns);
      let n = 0;
      for (;;) {
        const tag = r.tag();
        if (tag === "E") break;
        if (tag !== "R") throw r.damaged(`has record type ${JSON.stringify(tag)} inside table ${name}`);
        const values = columns.map(() => r.value());
        visitor.row?.(name, values);
        n++;
      }
      const counted = r.u64();
      if (counted !== n) throw r.damaged(`counts ${counted} rows of ${name} but holds ${n}`);
      rows[name] = n;
    }
    r.expectTag("S", "the summary");
    const summary = parseSummary(r.json(), r);
    for (const t of tables) {
      if (summary.rows[t.name] !== rows[t.name]) throw r.damaged(`summary counts ${summary.rows[t.name]} rows of ${t.name}, the file holds ${rows[t.name]}`);
    }
    if (r.offset !== bodyBytes) throw r.damaged(`has ${bodyBytes - r.offset} bytes after its summary`);
    const sha256 = r.digest();
    const stored = Buffer.alloc(32);
    readAt(fd, stored, size - 32);
    if (!stored.equals(Buffer.from(sha256, "hex"))) {
      throw new SnapshotError(`${file} is corrupted: its checksum does not match its contents (sha256 ${sha256}, footer says ${stored.toString("hex")}); use another copy`);
    }
    return { header, summary, bytes: size, sha256 };
  } finally {
    closeSync(fd);
  }
}

/** Check a snapshot file without installing it (readSnapshotFile with no visitor). */
export function verifySnapshotFile(file: string): SnapshotInfo {
  return readSnapshotFile(file);
}

/** The footer's length and magic: a truncated file fails here, before anything is decoded. */
function checkFooter(fd: number, file: string, size: number): number {
  const head = Buffer.alloc(Math.min(size, HEAD_MAGIC.length));
  readAt(fd, head, 0);
  if (size === 0) throw new SnapshotError(`${file} is empty (not a zk snapshot)`);
  if (!head.equals(HEAD_MAGIC.subarray(0, head.length))) throw new SnapshotError(`${file} is not a zk snapshot (no ZKSNAP header)`);
  if (size < HEAD_MAGIC.length + 4 + FOOTER_BYTES) throw new SnapshotError(`${file} is truncated (${size} bytes, too short for a zk snapshot); use a complete copy`);
  const foot = Buffer.alloc(FOOTER_BYTES);
  readAt(fd, foot, size - FOOTER_BYTES);
  if (!foot.subarray(0, FOOT_MAGIC.length).equals(FOOT_MAGIC)) {
    throw new SnapshotError(`${file} is truncated or damaged: it does not end with a snapshot footer (${size} bytes); use a complete copy`);
  }
  const body = foot.readBigUInt64BE(FOOT_MAGIC.length);
  if (body !== BigInt(size - FOOTER_BYTES)) {
    throw new SnapshotError(`${file} is damaged: its footer says ${body + BigInt(FOOTER_BYTES)} bytes, the file has ${size}; use a complete copy`);
  }
  return size - FOOTER_BYTES;
}

function parseHeader(v: unknown, r: FileReader): SnapshotHeader {
  const h = v as Partial<SnapshotHeader> | null;
  if (typeof h !== "object" || h === null) throw r.damaged("has no header object");
  if (h.format !== SNAPSHOT_FORMAT) throw new SnapshotError(`${r.file} has snapshot format ${JSON.stringify(h.format)}; this zk reads ${SNAPSHOT_FORMAT} (use a matching zk version)`);
  const slot = h.slot;
  if (typeof slot !== "number" || !Number.isSafeInteger(slot) || slot < 0) throw r.damaged(`has a bad slot ${JSON.stringify(slot)}`);
  if (typeof h.clusterId !== "string" || typeof h.nodeId !== "string" || typeof h.schemaVersion !== "number") throw r.damaged("has an incomplete header");
  return {
    format: h.format,
    clusterId: h.clusterId,
    nodeId: h.nodeId,
    slot,
    schemaVersion: h.schemaVersion,
    createdAtMs: Number(h.createdAtMs ?? 0),
    watchHistoryFrom: Number(h.watchHistoryFrom ?? 1),
    ...(typeof h.membership === "string" ? { membership: h.membership } : {}),
  };
}

function parseSummary(v: unknown, r: FileReader): SnapshotSummary {
  const s = v as Partial<SnapshotSummary> | null;
  if (typeof s !== "object" || s === null || typeof s.treeHash !== "string" || typeof s.rows !== "object" || s.rows === null) throw r.damaged("has a bad summary");
  return { rows: s.rows, treeHash: s.treeHash };
}

/** Buffered, hashing, bounds-checked reads of a snapshot's body (never past `end`). */
class FileReader {
  offset = 0;
  private buf = Buffer.alloc(0);
  private at = 0;
  private fileAt = 0;
  private readonly hash: Hash = createHash("sha256");

  constructor(
    private readonly fd: number,
    readonly file: string,
    private readonly end: number,
  ) {}

  damaged(what: string): SnapshotError {
    return new SnapshotError(`${this.file} is corrupted: it ${what} (at byte ${this.offset}); use another copy`);
  }

  bytes(n: number): Buffer {
    if (n > this.end - this.offset) throw this.damaged(`claims ${n} bytes where ${this.end - this.offset} are left`);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      if (this.at === this.buf.length) this.refill();
      const take = Math.min(n - filled, this.buf.length - this.at);
      this.buf.copy(out, filled, this.at, this.at + take);
      this.at += take;
      filled += take;
    }
    this.offset += n;
    return out;
  }

  tag(): string {
    return this.bytes(1).toString("latin1");
  }

  expectTag(t: string, what: string): void {
    const got = this.tag();
    if (got !== t) throw this.damaged(`has record type ${JSON.stringify(got)} where ${what} belongs`);
  }

  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  u64(): number {
    const v = this.bytes(8).readBigUInt64BE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.damaged(`has a count of ${v}`);
    return Number(v);
  }

  str(): string {
    return this.bytes(this.u32()).toString("utf8");
  }

  json(): unknown {
    const n = this.u32();
    if (n > JSON_BYTES_MAX) throw this.damaged(`claims a ${n}-byte header`);
    try {
      return JSON.parse(this.bytes(n).toString("utf8")) as unknown;
    } catch (e) {
      if (e instanceof SnapshotError) throw e;
      throw this.damaged("has a header that is not JSON");
    }
  }

  value(): unknown {
    const t = this.tag();
    switch (t) {
      case "n":
        return null;
      case "i":
        return this.bytes(8).readBigInt64BE(0);
      case "f":
        return this.bytes(8).readDoubleBE(0);
      case "s":
        return this.str();
      case "b":
        return this.bytes(this.u32());
      default:
        throw this.damaged(`has value type ${JSON.stringify(t)}`);
    }
  }

  digest(): string {
    return this.hash.digest("hex");
  }

  private refill(): void {
    const want = Math.min(FILE_READ_BYTES, this.end - this.fileAt);
    if (want <= 0) throw this.damaged("ends early");
    const b = Buffer.allocUnsafe(want);
    readAt(this.fd, b, this.fileAt);
    this.fileAt += want;
    this.hash.update(b);
    this.buf = b;
    this.at = 0;
  }
}

// ---- Installing ---------------------------------------------------------------------------

/**
 * Replace the state machine's tables in `db` with the snapshot's, and begin the watch history
 * after its slot. Must run inside the caller's transaction, which also records the applied
 * index and the log's new start (SqliteAcceptorStore.installSnapshot): on a damaged file this
 * throws and the caller's rollback leaves the old state whole.
 */
export function loadSnapshotInto(db: SqliteDatabase, file: string, opts: { readonly clusterId?: string } = {}): SnapshotInfo {
  if (!db.inTransaction) throw new Error("zk: bug: loadSnapshotInto must run inside the transaction that records the applied index");
  const schema = Number(db.prepare<[], unknown>("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get());
  let insert: Database.Statement | null = null;
  for (const t of SNAPSHOT_TABLES) db.prepare(`DELETE FROM ${t.name}`).run();
  const info = readSnapshotFile(file, {
    header: (h) => {
      // An older snapshot lacks only whole tables (tablesOf), emptied below and left so.
      if (h.schemaVersion !== schema && !(h.schemaVersion >= SNAPSHOT_SCHEMA_MIN && h.schemaVersion < schema)) {
        throw new SnapshotError(`${file} is of store schema ${h.schemaVersion}, this store is at ${schema}; restore it with the zk version that wrote it`);
      }
      if (opts.clusterId !== undefined && h.clusterId !== opts.clusterId) {
        throw new SnapshotError(`${file} is a snapshot of cluster ${JSON.stringify(h.clusterId)}, not ${JSON.stringify(opts.clusterId)}`);
      }
    },
    table: (name, columns) => {
      const mine = db.prepare<[], string>(`SELECT name FROM pragma_table_info('${name}') ORDER BY cid`).pluck().all();
      if (mine.join() !== columns.join()) {
        throw new SnapshotError(`${file}: table ${name} has columns (${columns.join(", ")}), this store's are (${mine.join(", ")}); restore it with the zk version that wrote it`);
      }
      db.prepare(`DELETE FROM ${name}`).run();
      insert = db.prepare(`INSERT INTO ${name} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
    },
    row: (_name, values) => {
      insert!.run(...values);
    },
  });
  // The history of events before the snapshot is not in it: a watch from an older zxid is
  // told COMPACTED, naming slot + 1 (watch-log.ts).
  db.prepare("DELETE FROM watch_batches").run();
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watch_history_from', ?)").run(String(info.header.slot + 1));
  // The configuration travels with the state it is part of.
  if (info.header.membership !== undefined) db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('membership', ?)").run(info.header.membership);
  return info;
}

// ---- Files --------------------------------------------------------------------------------

function readAt(fd: number, b: Buffer, position: number): void {
  let done = 0;
  while (done < b.length) {
    const n = readSync(fd, b, done, b.length - done, position + done);
    if (n === 0) throw new SnapshotError(`snapshot file ended early at byte ${position + done}`);
    done += n;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done);
}

/** Make a rename durable: fsync the directory that holds it. */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename still happened
  } finally {
    closeSync(fd);
  }
}
