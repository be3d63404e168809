// A digest of the znode tree's replicated state: every row apply() reads or writes, so that
// two replicas at the same applied index can be compared with one string (the simulator's
// "every replica's tree is identical" check, and an operator's cross-check of members). Equal
// replicas hash equal; any difference that could make a later apply() answer differently
// changes the hash.
//
// What is in it, and why (the tables come from the store's schema, src/storage/sqlite-store.ts):
// - znodes: every column of every node — path, parent, data, version, cversion (which also
//   numbers sequential children: the sequence counters), the zxids, the leader times, the
//   ephemeral owner and the child count.
// - znode_attrs: every column (a node's ACL, aversion and container/TTL kind, src/tree/attrs.ts).
// - sessions: every column (TTL, creation and renewal zxids and times).
// - requests: the deduplication state (request id, first zxid, the encoded first outcome, the
//   dedup clock), for the keys still inside the window. A key more than REQUEST_IDS_KEPT_SLOTS
//   behind the applied index and older than REQUEST_IDS_KEPT_MS on the dedup clock is
//   forgotten by apply() whether or not its row is still there, and whether it is
//   depends on when this process last ran the batched eviction (it restarts from zero with the
//   process), so those rows are left out: a replica that restarted must not look diverged.
// - the applied index itself, so hashes taken at different indexes never compare equal.
// What is not, and why:
// - entries, and meta's acceptor fields: the consensus layer's log and promises, not the tree;
//   they legitimately differ between replicas (unchosen acceptances, compaction).
// - watch_batches and meta's watch_history_from: each node's watch history, pruned by its own
//   --watch-history-slots and restart times; apply() never reads them.
// - ZnodeTree's dataBytesMax is a setting, not state; members must agree on it separately.
// Any other table makes treeHash throw: a new table must be sorted into one list or the other
// here, so the hash cannot silently stop covering the state.
import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import type { SqliteDatabase } from "../storage/sqlite-store.js";
import { requestsKeptAt, requestsStillKept } from "./tree.js";
import { TABLE_COLUMNS, type MemTreeTables } from "./mem-tables.js";

/** Tables whose rows are hashed, in this order, each in primary-key order. */
export const TREE_HASH_TABLES = ["znodes", "znode_attrs", "sessions", "requests"] as const;

/** Tables of the store deliberately not hashed (see the file comment). */
export const TREE_HASH_EXCLUDED_TABLES = ["meta", "entries", "watch_batches"] as const;

/** Version of the digest's layout; changes whenever what or how it hashes changes. */
const TREE_HASH_FORMAT = "zk-tree-hash/2";

export interface TreeHashOptions {
  /**
   * The applied index the tree is at. Default: meta's `applied`, which the store records in
   * the same transaction as each apply; pass it when the tree's database has no such row.
   */
  readonly appliedIndex?: number;
}

/** The tree's state as a sha256 hex digest; see the file comment for what it covers. */
export function treeHash(db: SqliteDatabase, opts: TreeHashOptions = {}): string {
  checkTables(db);
  const applied = opts.appliedIndex ?? appliedFromMeta(db);
  const h = new TreeHasher(applied);
  // Rows of keys apply() would still find; older ones are forgotten (tree.ts, apply()): the
  // next apply is at applied + 1 or later with a dedup clock no earlier than today's, and
  // forgets keys outside both the slot and the time bound of the window.
  const kept = requestsStillKept(db, applied);
  hashRows(h, db, "znodes", "SELECT * FROM znodes ORDER BY path", []);
  hashRows(h, db, "znode_attrs", "SELECT * FROM znode_attrs ORDER BY path", []);
  hashRows(h, db, "sessions", "SELECT * FROM sessions ORDER BY id", []);
  hashRows(h, db, "requests", "SELECT * FROM requests WHERE zxid >= ? OR time_ms >= ? ORDER BY zxid", [kept.fromZxid, kept.fromTimeMs]);
  return h.digest();
}

/** treeHash of a tree in memory (mem-tables.ts) at applied index `applied`: equal to treeHash of the same rows in SQLite. */
export function memTreeHash(t: MemTreeTables, applied: number): string {
  const h = new TreeHasher(applied);
  // The rows treeHash keeps of the requests (requestsStillKept, on the maps' dedup clock).
  const kept = requestsKeptAt(applied, t.requestClock() ?? 0);
  const fromZxid = BigInt(kept.fromZxid);
  const fromTimeMs = BigInt(kept.fromTimeMs);
  for (const table of TREE_HASH_TABLES) {
    h.table(table, TABLE_COLUMNS[table]);
    for (const row of t.rows(table)) {
      if (table === "requests" && !((row[0] as bigint) >= fromZxid || (row[4] as bigint) >= fromTimeMs)) continue;
      h.row(row);
    }
    h.endTable();
  }
  return h.digest();
}

/**
 * The digest built a row at a time, for a reader that already walks the tables (a snapshot
 * being written hashes what it writes). Feed TREE_HASH_TABLES in order, each table's rows in
 * primary-key order as `SELECT *` returns them with safeIntegers, and only the requests rows
 * treeHash keeps (requestsStillKept): the digest then equals treeHash's.
 */
export class TreeHasher {
  private readonly h: Hash = createHash("sha256");
  // Encoded bytes are gathered here and hashed in blocks: one native update per value would
  // cost more than the hashing itself.
  private readonly buf = Buffer.allocUnsafe(HASH_BLOCK_BYTES);
  private pos = 0;

  constructor(applied: number) {
    if (!Number.isSafeInteger(applied) || applied < 0) throw new RangeError(`zk: applied index ${applied} is not a slot`);
    this.string(TREE_HASH_FORMAT);
    this.value(BigInt(applied));
  }

  /** A table begins: its name and column names (so a schema change changes the hash). */
  table(name: string, columns: readonly string[]): void {
    this.string(name);
    this.value(BigInt(columns.length));
    for (const c of columns) this.string(c);
  }

  row(values: readonly unknown[]): void {
    this.tag(0x72); // "r"
    for (const v of values) this.value(v);
  }

  endTable(): void {
    this.tag(0x65); // "e"
  }

  digest(): string {
    this.flush();
    return this.h.digest("hex");
  }

  // Every value typed and length-prefixed, so that no two different tables of rows encode to
  // the same bytes: "n" null, "i" int64, "f" float64, "s" u32 + utf8, "b" u32 + bytes.
  private value(v: unknown): void {
    if (v === null) {
      this.tag(0x6e); // "n"
    } else if (typeof v === "bigint") {
      this.room(9);
      this.buf[this.pos] = 0x69; // "i"
      this.buf.writeBigInt64BE(v, this.pos + 1);
      this.pos += 9;
    } else if (typeof v === "number") {
      // REAL: none of the tree's columns are (STRICT INTEGER), but meta's untyped value could be.
      this.room(9);
      this.buf[this.pos] = 0x66; // "f"
      this.buf.writeDoubleBE(v, this.pos + 1);
      this.pos += 9;
    } else if (typeof v === "string") {
      this.string(v);
    } else if (v instanceof Uint8Array) {
      this.bytes(0x62, v); // "b"
    } else {
      throw new TypeError(`zk: treeHash: unexpected SQLite value of type ${typeof v}`);
    }
  }

  private string(s: string): void {
    this.bytes(0x73, Buffer.from(s, "utf8")); // "s"
  }

  private bytes(tag: number, b: Uint8Array): void {
    this.room(5);
    this.buf[this.pos] = tag;
    this.buf.writeUInt32BE(b.length, this.pos + 1);
    this.pos += 5;
    if (b.length > HASH_BLOCK_BYTES / 4) {
      this.flush();
      this.h.update(b);
      return;
    }
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private tag(t: number): void {
    this.room(1);
    this.buf[this.pos++] = t;
  }

  private room(n: number): void {
    if (this.pos + n > HASH_BLOCK_BYTES) this.flush();
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.h.update(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }
}

/** How much encoded data TreeHasher gathers before one hash update. */
const HASH_BLOCK_BYTES = 64 * 1024;

/** Throws unless the store has exactly the tables this file sorts (hashed or excluded). */
export function checkTables(db: SqliteDatabase): void {
  const known = new Set<string>([...TREE_HASH_TABLES, ...TREE_HASH_EXCLUDED_TABLES]);
  const tables = db
    .prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all();
  const unknown = tables.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw new Error(
      `zk: bug: treeHash does not know table(s) ${unknown.join(", ")}; add each to TREE_HASH_TABLES or TREE_HASH_EXCLUDED_TABLES in src/tree/hash.ts`,
    );
  }
  for (const t of TREE_HASH_TABLES) {
    if (!tables.includes(t)) throw new Error(`zk: treeHash: the database has no ${t} table; is it a zk store at schema 2 or later?`);
  }
}

function appliedFromMeta(db: SqliteDatabase): number {
  const v = db.prepare<[], unknown>("SELECT value FROM meta WHERE key = 'applied'").pluck().get();
  if (v === undefined) throw new Error("zk: treeHash: the database has no applied index in meta; pass opts.appliedIndex");
  return Number(v);
}

/**
 * One table: its name, its column names, then every row. Integers are read as bigints (exact
 * to 64 bits) and every value is typed and length-prefixed, so that no two different tables
 * of rows encode to the same bytes.
 */
function hashRows(h: TreeHasher, db: SqliteDatabase, table: string, sql: string, params: unknown[]): void {
  const stmt = db.prepare(sql).raw(true).safeIntegers(true);
  h.table(table, stmt.columns().map((c) => c.name));
  for (const row of stmt.iterate(...params) as Iterable<unknown[]>) h.row(row);
  h.endTable();
}

