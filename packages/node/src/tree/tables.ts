// Where the znode tree's state lives: the rows ZnodeTree (tree.ts) reads and writes, behind
// one interface with two implementations. SqliteTreeTables keeps them in the store file's
// tables, written by every apply (the default: the tree on disk is the tree as of the applied
// index); MemTreeTables (mem-tables.ts) keeps them in JavaScript maps, ZooKeeper's DataTree,
// written to those tables at checkpoints (zk-node --tree-in-memory; the plan in
// docs/benchmarks.md: the tree out of SQLite's per-write path).
// ZnodeTree holds every rule of the data model; a table set only stores rows, so both give the
// same outcomes for the same commands (test/tree-tables.test.ts applies random commands to
// both and compares every answer and every row).
//
// The rows are those of the store's schema (sqlite-store.ts), by column name, so that a
// snapshot (storage/snapshot.ts) and the tree hash (hash.ts) read the same rows from either.
import type { SqliteDatabase } from "../storage/sqlite-store.js";

/** A znode's Stat columns (data_length: the data's size, not stored). */
export interface StatRow {
  readonly version: number;
  readonly cversion: number;
  readonly czxid: number;
  readonly mzxid: number;
  readonly pzxid: number;
  readonly ctime_ms: number;
  readonly mtime_ms: number;
  readonly ephemeral_owner: number;
  readonly num_children: number;
  readonly data_length: number;
}

export interface DataRow {
  readonly stat: StatRow;
  readonly data: Uint8Array;
}

export interface ChildRow extends StatRow {
  readonly path: string;
}

export interface SessionRow {
  readonly id: number;
  readonly ttl_ms: number;
  readonly created_zxid: number;
  readonly created_ms: number;
  readonly renewed_zxid: number;
  readonly renewed_ms: number;
}

export interface RequestRow {
  readonly zxid: number;
  readonly result: Uint8Array | null;
  readonly error: Uint8Array | null;
  readonly time_ms: number;
}

/** A znode_attrs row (attrs.ts): the ACL as acl.ts's canonical JSON. */
export interface AttrsRow {
  readonly acl: string;
  readonly aversion: number;
  readonly kind: number;
  readonly ttl_ms: number;
}

/**
 * The tree's rows. Every "all" answer is sorted by its key (paths in SQLite's BINARY order,
 * the order of their UTF-8 bytes), so that apply() is deterministic on either implementation.
 */
export interface TreeTables {
  /** Whether writes are inside an enclosing unit that rolls back as one (SQLite: a transaction). */
  readonly inTransaction: boolean;

  stat(path: string): StatRow | undefined;
  data(path: string): DataRow | undefined;
  /** A new node with version and cversion 0, czxid = mzxid = pzxid = zxid, no children. */
  insert(path: string, parent: string, data: Uint8Array, zxid: number, timeMs: number, owner: number): void;
  setData(path: string, data: Uint8Array, version: number, mzxid: number, mtimeMs: number): void;
  setChildren(path: string, cversion: number, pzxid: number, numChildren: number): void;
  /** How many nodes it deleted (0 or 1). */
  delete(path: string): number;
  childPaths(path: string): string[];
  childStats(path: string): ChildRow[];
  /** Paths of the session's ephemeral nodes. */
  ephemerals(owner: number): string[];
  /** Nodes below `path`, not counting itself. */
  descendantCount(path: string): number;
  countAll(): number;
  countEphemerals(): number;

  session(id: number): SessionRow | undefined;
  sessions(): SessionRow[];
  /** A new session, or a renewal: ttl and renewed_* change, created_* stay. */
  upsertSession(id: number, ttlMs: number, zxid: number, timeMs: number): void;
  deleteSession(id: number): void;

  request(requestId: string): RequestRow | undefined;
  putRequest(zxid: number, requestId: string, result: Uint8Array | null, error: Uint8Array | null, timeMs: number): void;
  deleteRequest(requestId: string): void;
  /** The time of the newest remembered request (the deduplication clock), if any. */
  requestClock(): number | undefined;
  /**
   * Forget every request at or below zxid `atMost` whose time is before `beforeMs`. Times never
   * go down as zxids go up, so those rows are a prefix in zxid order.
   */
  evictRequests(beforeMs: number, atMost: number): void;

  attrs(path: string): AttrsRow | undefined;
  putAttrs(path: string, row: AttrsRow): void;
  deleteAttrs(path: string): void;
  /** Containers that had a child and have none, TTL nodes without children unmodified for their TTL at `nowMs`. */
  reapable(nowMs: number, limit: number): string[];
  isReapable(path: string, nowMs: number): boolean;

  /** fn as one unit inside the enclosing one: a throw undoes its writes only, and goes on. */
  atomically<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

// length(data) does not read the blob (SQLite takes the size from the record header), so
// stat reads stay cheap however large the data.
const STAT_COLUMNS =
  "version, cversion, czxid, mzxid, pzxid, ctime_ms, mtime_ms, ephemeral_owner, num_children, length(data) AS data_length";

/** The columns of STAT_COLUMNS, in order, as a StatRow. */
function statRowOf(c: readonly number[]): StatRow {
  return {
    version: c[0]!,
    cversion: c[1]!,
    czxid: c[2]!,
    mzxid: c[3]!,
    pzxid: c[4]!,
    ctime_ms: c[5]!,
    mtime_ms: c[6]!,
    ephemeral_owner: c[7]!,
    num_children: c[8]!,
    data_length: c[9]!,
  };
}

/** The reap rule of TreeTables.reapable, on a joined znode_attrs a / znodes z row (ZooKeeper's ContainerManager.getCandidates). */
const REAPABLE = `a.kind != 0 AND z.num_children = 0
  AND ((a.kind = 1 AND z.cversion > 0) OR (a.kind = 2 AND z.mtime_ms + a.ttl_ms <= ?))`;

function prepare(db: SqliteDatabase) {
  return {
    // Stats are read as arrays of columns and made into StatRows here: the stat read is the
    // hottest statement of every write on every member, and better-sqlite3 builds a row
    // object with named keys much more slowly (scripts/bench/apply.mts; docs/benchmarks.md).
    stat: db.prepare<[string], number[]>(`SELECT ${STAT_COLUMNS} FROM znodes WHERE path = ?`).raw(true),
    data: db.prepare<[string], unknown[]>(`SELECT ${STAT_COLUMNS}, data FROM znodes WHERE path = ?`).raw(true),
    insert: db.prepare<[string, string, Uint8Array, number, number, number, number, number, number]>(
      `INSERT INTO znodes (path, parent, data, version, cversion, czxid, mzxid, pzxid, ctime_ms, mtime_ms,
                           ephemeral_owner, num_children)
       VALUES (?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, 0)`,
    ),
    setData: db.prepare<[Uint8Array, number, number, number, string]>(
      "UPDATE znodes SET data = ?, version = ?, mzxid = ?, mtime_ms = ? WHERE path = ?",
    ),
    setChildren: db.prepare<[number, number, number, string]>(
      "UPDATE znodes SET cversion = ?, pzxid = ?, num_children = ? WHERE path = ?",
    ),
    delete: db.prepare<[string]>("DELETE FROM znodes WHERE path = ?"),
    childPaths: db.prepare<[string], string>("SELECT path FROM znodes WHERE parent = ? ORDER BY path").pluck(),
    childStats: db.prepare<[string], ChildRow>(`SELECT path, ${STAT_COLUMNS} FROM znodes WHERE parent = ? ORDER BY path`),
    // "ephemeral_owner != 0" repeats the partial index's condition so that SQLite uses it.
    ephemerals: db
      .prepare<[number], string>("SELECT path FROM znodes WHERE ephemeral_owner = ? AND ephemeral_owner != 0 ORDER BY path")
      .pluck(),
    // A path range on the primary key: "/a/" <= path < "/a0" is every descendant of /a ('0' follows '/').
    countBetween: db.prepare<[string, string], number>("SELECT count(*) FROM znodes WHERE path > ? AND path < ?").pluck(),
    countAll: db.prepare<[], number>("SELECT count(*) FROM znodes").pluck(),
    countEphemerals: db.prepare<[], number>("SELECT count(*) FROM znodes WHERE ephemeral_owner != 0").pluck(),
    sessionGet: db.prepare<[number], SessionRow>("SELECT * FROM sessions WHERE id = ?"),
    sessionsAll: db.prepare<[], SessionRow>("SELECT * FROM sessions ORDER BY id"),
    sessionUpsert: db.prepare<[number, number, number, number, number, number]>(
      `INSERT INTO sessions (id, ttl_ms, created_zxid, created_ms, renewed_zxid, renewed_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         ttl_ms = excluded.ttl_ms, renewed_zxid = excluded.renewed_zxid, renewed_ms = excluded.renewed_ms`,
    ),
    sessionDelete: db.prepare<[number]>("DELETE FROM sessions WHERE id = ?"),
    requestGet: db.prepare<[string], RequestRow>("SELECT zxid, result, error, time_ms FROM requests WHERE request_id = ?"),
    requestPut: db.prepare<[number, string, Uint8Array | null, Uint8Array | null, number]>(
      "INSERT INTO requests (zxid, request_id, result, error, time_ms) VALUES (?, ?, ?, ?, ?)",
    ),
    requestEvict: db.prepare<[number]>("DELETE FROM requests WHERE zxid <= ?"),
    // Times only grow with zxid (the dedup clock never goes back), so this is a boundary.
    requestClock: db.prepare<[], number>("SELECT time_ms FROM requests ORDER BY zxid DESC LIMIT 1").pluck(),
    requestAtOrBelow: db.prepare<[number], { zxid: number; time_ms: number }>(
      "SELECT zxid, time_ms FROM requests WHERE zxid <= ? ORDER BY zxid DESC LIMIT 1",
    ),
    requestDelete: db.prepare<[string]>("DELETE FROM requests WHERE request_id = ?"),
    attrsGet: db.prepare<[string], AttrsRow>("SELECT acl, aversion, kind, ttl_ms FROM znode_attrs WHERE path = ?"),
    attrsPut: db.prepare<[string, string, number, number, number]>(
      "INSERT OR REPLACE INTO znode_attrs (path, acl, aversion, kind, ttl_ms) VALUES (?, ?, ?, ?, ?)",
    ),
    attrsDelete: db.prepare<[string]>("DELETE FROM znode_attrs WHERE path = ?"),
    reapableOne: db
      .prepare<[string, number], number>(`SELECT 1 FROM znode_attrs a JOIN znodes z ON z.path = a.path WHERE a.path = ? AND ${REAPABLE}`)
      .pluck(),
    reapable: db
      .prepare<[number, number], string>(`SELECT a.path FROM znode_attrs a JOIN znodes z ON z.path = a.path WHERE ${REAPABLE} ORDER BY a.path LIMIT ?`)
      .pluck(),
  };
}

/** The tree in the store's tables: written inside the store's transactions, so a rolled back one undoes its applies. */
export class SqliteTreeTables implements TreeTables {
  private readonly s: ReturnType<typeof prepare>;

  constructor(readonly db: SqliteDatabase) {
    this.s = prepare(db);
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  stat(path: string): StatRow | undefined {
    const c = this.s.stat.get(path);
    return c === undefined ? undefined : statRowOf(c);
  }

  data(path: string): DataRow | undefined {
    const c = this.s.data.get(path);
    return c === undefined ? undefined : { stat: statRowOf(c as number[]), data: c[10] as Uint8Array };
  }

  insert(path: string, parent: string, data: Uint8Array, zxid: number, timeMs: number, owner: number): void {
    this.s.insert.run(path, parent, data, zxid, zxid, zxid, timeMs, timeMs, owner);
  }

  setData(path: string, data: Uint8Array, version: number, mzxid: number, mtimeMs: number): void {
    this.s.setData.run(data, version, mzxid, mtimeMs, path);
  }

  setChildren(path: string, cversion: number, pzxid: number, numChildren: number): void {
    this.s.setChildren.run(cversion, pzxid, numChildren, path);
  }

  delete(path: string): number {
    return this.s.delete.run(path).changes;
  }

  childPaths(path: string): string[] {
    return this.s.childPaths.all(path);
  }

  childStats(path: string): ChildRow[] {
    return this.s.childStats.all(path);
  }

  ephemerals(owner: number): string[] {
    return this.s.ephemerals.all(owner);
  }

  descendantCount(path: string): number {
    const base = path === "/" ? "" : path;
    return this.s.countBetween.get(base + "/", base + "0") ?? 0;
  }

  countAll(): number {
    return this.s.countAll.get() ?? 0;
  }

  countEphemerals(): number {
    return this.s.countEphemerals.get() ?? 0;
  }

  session(id: number): SessionRow | undefined {
    return this.s.sessionGet.get(id);
  }

  sessions(): SessionRow[] {
    return this.s.sessionsAll.all();
  }

  upsertSession(id: number, ttlMs: number, zxid: number, timeMs: number): void {
    this.s.sessionUpsert.run(id, ttlMs, zxid, timeMs, zxid, timeMs);
  }

  deleteSession(id: number): void {
    this.s.sessionDelete.run(id);
  }

  request(requestId: string): RequestRow | undefined {
    return this.s.requestGet.get(requestId);
  }

  putRequest(zxid: number, requestId: string, result: Uint8Array | null, error: Uint8Array | null, timeMs: number): void {
    this.s.requestPut.run(zxid, requestId, result, error, timeMs);
  }

  deleteRequest(requestId: string): void {
    this.s.requestDelete.run(requestId);
  }

  requestClock(): number | undefined {
    return this.s.requestClock.get();
  }

  evictRequests(beforeMs: number, atMost: number): void {
    // The prefix ends at the newest row at or below atMost whose time is before beforeMs: a
    // binary search over zxids finds it in ~50 lookups, with no index on the time.
    let found: number | undefined;
    let lo = 0;
    let hi = atMost;
    while (lo <= hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const row = this.s.requestAtOrBelow.get(mid);
      if (row === undefined) {
        lo = mid + 1; // nothing at or below mid
      } else if (row.time_ms < beforeMs) {
        found = row.zxid; // out of the window: look above it
        lo = mid + 1;
      } else {
        hi = row.zxid - 1; // still in the window, and so is everything above it
      }
    }
    if (found !== undefined) this.s.requestEvict.run(found);
  }

  attrs(path: string): AttrsRow | undefined {
    return this.s.attrsGet.get(path);
  }

  putAttrs(path: string, row: AttrsRow): void {
    this.s.attrsPut.run(path, row.acl, row.aversion, row.kind, row.ttl_ms);
  }

  deleteAttrs(path: string): void {
    this.s.attrsDelete.run(path);
  }

  reapable(nowMs: number, limit: number): string[] {
    return this.s.reapable.all(nowMs, limit);
  }

  isReapable(path: string, nowMs: number): boolean {
    return this.s.reapableOne.get(path, nowMs) !== undefined;
  }

  atomically<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    // Called inside the caller's transaction, better-sqlite3 makes this a SAVEPOINT: a throw
    // rolls back fn's writes only.
    const t = this.db.transaction(fn);
    return (...args: A) => t(...args);
  }
}
