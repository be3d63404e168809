// The znode tree's rows in JavaScript maps (ZooKeeper's DataTree): the same rows as the store's
// tables (tables.ts), with the indexes the tree's reads need kept by hand (a node's children,
// a session's ephemerals). Nothing here is durable by itself: zk-node --tree-in-memory
// (machine.ts) writes the rows changed since the last checkpoint into the store's own tables
// (writeCheckpoint) every CHECKPOINT_ENTRIES applied entries and at each snapshot point, and a
// restart loads them (load) and replays the log after them. So the store file is the tree as
// of its `applied` index, exactly as with the tree in SQLite, only that index is the last
// checkpoint's rather than the last apply's (docs/design.md, "The tree in memory").
// test/tree-tables.test.ts checks the maps against SqliteTreeTables command by command.
//
// atomically() and undoable() keep an undo journal while they run: every write pushes the
// closure that takes it back, and a throw runs them newest first. Outside them nothing is
// journaled (a write costs a map operation and a dirty mark, no allocation beyond the row).
import { invariant } from "../paxos/invariant.js";
import type { SqliteDatabase } from "../storage/sqlite-store.js";
import type { AttrsRow, ChildRow, DataRow, RequestRow, SessionRow, StatRow, TreeTables } from "./tables.js";

/** A znode: its Stat columns, its data, and the paths of its children. */
interface MemNode {
  version: number;
  cversion: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime_ms: number;
  mtime_ms: number;
  ephemeral_owner: number;
  num_children: number;
  data_length: number;
  data: Uint8Array;
  readonly parent: string;
  /** Null while it has none: most znodes are leaves, and an empty Set costs ~180 bytes each. */
  children: Set<string> | null;
  /**
   * The store's table holds this node's row (it was loaded, or a committed checkpoint wrote
   * it): the next checkpoint UPDATEs it in place (writeCheckpoint). Nothing else writes those
   * tables while the tree is in memory, so an UPDATE that finds no row is a bug.
   */
  stored: boolean;
}

function addChild(n: MemNode, path: string): void {
  (n.children ??= new Set()).add(path);
}

function removeChild(n: MemNode, path: string): void {
  if (n.children === null) return;
  n.children.delete(path);
  if (n.children.size === 0) n.children = null;
}

const childCount = (n: MemNode): number => n.children?.size ?? 0;

interface MemRequest extends RequestRow {
  readonly requestId: string;
}

// A valid path holds no surrogate (paths.ts), so JavaScript's order of strings is SQLite's
// BINARY order of their UTF-8 bytes.
const sorted = (paths: Iterable<string>): string[] => [...paths].sort();
/** Request rows per INSERT statement of a checkpoint (5 columns each: 320 parameters). */
const REQUESTS_PER_INSERT = 64;

/** The columns of each table as the store's schema orders them (what rows() yields). */
export const TABLE_COLUMNS = {
  znodes: ["path", "parent", "data", "version", "cversion", "czxid", "mzxid", "pzxid", "ctime_ms", "mtime_ms", "ephemeral_owner", "num_children"],
  znode_attrs: ["path", "acl", "aversion", "kind", "ttl_ms"],
  sessions: ["id", "ttl_ms", "created_zxid", "created_ms", "renewed_zxid", "renewed_ms"],
  requests: ["zxid", "request_id", "result", "error", "time_ms"],
} as const;

export class MemTreeTables implements TreeTables {
  private readonly nodes = new Map<string, MemNode>();
  private readonly ephemeralsByOwner = new Map<number, Set<string>>();
  private ephemeralCount = 0;
  private readonly sessionRows = new Map<number, SessionRow>();
  private readonly requests = new Map<string, MemRequest>();
  /** Remembered requests in zxid order, from `requestsHead`; an entry whose row was deleted or replaced is skipped. */
  private requestQueue: MemRequest[] = [];
  private requestsHead = 0;
  private readonly attrRows = new Map<string, AttrsRow>();
  /** While atomically() or undoable() runs: how to take back each write since it began. */
  private undo: (() => void)[] | null = null;
  // What changed since the last checkpoint (writeCheckpoint): keys whose rows are written again
  // (or deleted, if gone), requests above `checkpointedZxid`, requests forgotten one by one,
  // and the end of the prefix of requests evicted.
  private readonly dirtyNodes = new Set<string>();
  private readonly dirtyAttrs = new Set<string>();
  private readonly dirtySessions = new Set<number>();
  private readonly deletedRequests = new Set<string>();
  private checkpointedZxid = 0;
  private evictedThrough = 0;

  constructor() {
    // The root, as the store's schema creates it.
    this.nodes.set("/", newNode("", new Uint8Array(0), 0, 0, 0));
  }

  /** Memory has no enclosing transaction: each write stands, except inside atomically() or undoable(). */
  get inTransaction(): boolean {
    return true;
  }

  stat(path: string): StatRow | undefined {
    return this.nodes.get(path);
  }

  data(path: string): DataRow | undefined {
    const n = this.nodes.get(path);
    return n === undefined ? undefined : { stat: n, data: n.data };
  }

  insert(path: string, parent: string, data: Uint8Array, zxid: number, timeMs: number, owner: number): void {
    invariant(!this.nodes.has(path), `inserting ${path}, which exists`);
    const p = this.nodes.get(parent);
    invariant(p !== undefined, `inserting ${path} under ${parent}, which does not exist`);
    this.nodes.set(path, newNode(parent, own(data), zxid, timeMs, owner));
    addChild(p, path);
    this.dirtyNodes.add(path);
    if (owner !== 0) this.addEphemeral(owner, path);
    this.undo?.push(() => this.removeRow(path));
  }

  setData(path: string, data: Uint8Array, version: number, mzxid: number, mtimeMs: number): void {
    const n = this.must(path);
    if (this.undo !== null) {
      const { data: d, version: v, mzxid: z, mtime_ms: t } = n;
      this.undo.push(() => this.setData(path, d, v, z, t));
    }
    this.dirtyNodes.add(path);
    n.data = own(data);
    n.data_length = data.length;
    n.version = version;
    n.mzxid = mzxid;
    n.mtime_ms = mtimeMs;
  }

  setChildren(path: string, cversion: number, pzxid: number, numChildren: number): void {
    const n = this.must(path);
    if (this.undo !== null) {
      const { cversion: c, pzxid: z, num_children: k } = n;
      this.undo.push(() => this.setChildren(path, c, z, k));
    }
    this.dirtyNodes.add(path);
    n.cversion = cversion;
    n.pzxid = pzxid;
    n.num_children = numChildren;
  }

  delete(path: string): number {
    const n = this.nodes.get(path);
    if (n === undefined) return 0;
    invariant(childCount(n) === 0, `deleting ${path}, which has children`);
    this.removeRow(path);
    this.dirtyNodes.add(path);
    this.undo?.push(() => this.restoreRow(path, n));
    return 1;
  }

  childPaths(path: string): string[] {
    const n = this.nodes.get(path);
    return n === undefined || n.children === null ? [] : sorted(n.children);
  }

  childStats(path: string): ChildRow[] {
    return this.childPaths(path).map((p) => ({ ...this.must(p), path: p }));
  }

  ephemerals(owner: number): string[] {
    const set = this.ephemeralsByOwner.get(owner);
    return set === undefined ? [] : sorted(set);
  }

  descendantCount(path: string): number {
    const n = this.nodes.get(path);
    if (n === undefined) return 0;
    let count = 0;
    const stack = [n];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      if (top.children === null) continue;
      count += top.children.size;
      for (const c of top.children) stack.push(this.must(c));
    }
    return count;
  }

  countAll(): number {
    return this.nodes.size;
  }

  countEphemerals(): number {
    return this.ephemeralCount;
  }

  session(id: number): SessionRow | undefined {
    return this.sessionRows.get(id);
  }

  sessions(): SessionRow[] {
    return [...this.sessionRows.values()].sort((a, b) => a.id - b.id);
  }

  upsertSession(id: number, ttlMs: number, zxid: number, timeMs: number): void {
    const old = this.sessionRows.get(id);
    const row: SessionRow = old === undefined
      ? { id, ttl_ms: ttlMs, created_zxid: zxid, created_ms: timeMs, renewed_zxid: zxid, renewed_ms: timeMs }
      : { ...old, ttl_ms: ttlMs, renewed_zxid: zxid, renewed_ms: timeMs };
    this.setRow(this.sessionRows, this.dirtySessions, id, row);
  }

  deleteSession(id: number): void {
    this.setRow(this.sessionRows, this.dirtySessions, id, undefined);
  }

  request(requestId: string): RequestRow | undefined {
    return this.requests.get(requestId);
  }

  putRequest(zxid: number, requestId: string, result: Uint8Array | null, error: Uint8Array | null, timeMs: number): void {
    invariant(!this.requests.has(requestId), `request ${JSON.stringify(requestId)} is remembered already`);
    const last = this.newestRequest();
    invariant(last === undefined || last.zxid < zxid, `request at zxid ${zxid} after one at ${last?.zxid}`);
    invariant((result === null) !== (error === null), `request ${JSON.stringify(requestId)} needs exactly one of result and error`);
    const row: MemRequest = { zxid, requestId, result, error, time_ms: timeMs };
    this.requests.set(requestId, row);
    this.requestQueue.push(row);
    this.undo?.push(() => {
      this.requests.delete(requestId);
      invariant(this.requestQueue.pop() === row, "the request queue changed under an undo");
    });
  }

  deleteRequest(requestId: string): void {
    const old = this.requests.get(requestId);
    if (old === undefined) return;
    this.requests.delete(requestId);
    this.deletedRequests.add(requestId);
    // Its queue entry stays, skipped as dead; an undo makes it live again.
    this.undo?.push(() => this.requests.set(requestId, old));
  }

  requestClock(): number | undefined {
    return this.newestRequest()?.time_ms;
  }

  evictRequests(beforeMs: number, atMost: number): void {
    const q = this.requestQueue;
    const head0 = this.requestsHead;
    const through0 = this.evictedThrough;
    const evicted: MemRequest[] = [];
    let h = head0;
    for (; h < q.length; h++) {
      const r = q[h]!;
      if (!this.isLive(r)) continue;
      if (r.zxid > atMost || r.time_ms >= beforeMs) break;
      this.requests.delete(r.requestId);
      evicted.push(r);
      this.evictedThrough = r.zxid;
    }
    this.requestsHead = h;
    if (this.undo !== null) {
      this.undo.push(() => {
        for (const r of evicted) this.requests.set(r.requestId, r);
        this.requestsHead = head0;
        this.evictedThrough = through0;
      });
    } else if (h > 1024 && h * 2 > q.length) {
      this.requestQueue = q.slice(h);
      this.requestsHead = 0;
    }
  }

  attrs(path: string): AttrsRow | undefined {
    return this.attrRows.get(path);
  }

  putAttrs(path: string, row: AttrsRow): void {
    this.setRow(this.attrRows, this.dirtyAttrs, path, { ...row });
  }

  deleteAttrs(path: string): void {
    this.setRow(this.attrRows, this.dirtyAttrs, path, undefined);
  }

  reapable(nowMs: number, limit: number): string[] {
    const out: string[] = [];
    for (const path of sorted(this.attrRows.keys())) {
      if (out.length >= limit) break;
      if (this.isReapable(path, nowMs)) out.push(path);
    }
    return out;
  }

  isReapable(path: string, nowMs: number): boolean {
    const a = this.attrRows.get(path);
    const z = this.nodes.get(path);
    if (a === undefined || z === undefined || a.kind === 0 || z.num_children !== 0) return false;
    return (a.kind === 1 && z.cversion > 0) || (a.kind === 2 && z.mtime_ms + a.ttl_ms <= nowMs);
  }

  atomically<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => this.undoable(() => fn(...args));
  }

  /**
   * fn(), every write of it taken back if it throws (then the throw goes on). The machine runs
   * each store transaction that applies entries in one: a commit that fails after the applies
   * leaves the maps as they were, as SQLite's rollback leaves its tables.
   */
  undoable<T>(fn: () => T): T {
    const outer = this.undo;
    const journal: (() => void)[] = [];
    this.undo = journal;
    let out: T;
    try {
      out = fn();
    } catch (err) {
      this.undo = null;
      for (let i = journal.length - 1; i >= 0; i--) journal[i]!();
      this.undo = outer;
      throw err;
    }
    // Kept: an enclosing undoable() takes these back too if it fails.
    if (outer !== null) for (const u of journal) outer.push(u);
    this.undo = outer;
    return out;
  }

  // ---- Checkpoints ----------------------------------------------------------------------------

  /** The tables of the store behind `db` (its tree as of its applied index), in memory. */
  static load(db: SqliteDatabase): MemTreeTables {
    const t = new MemTreeTables();
    t.reload(db);
    return t;
  }

  /** Become the tree of the store behind `db` (a snapshot was installed into its tables): nothing else is kept. */
  reload(db: SqliteDatabase): void {
    invariant(this.undo === null, "reloading the tree inside an undoable write");
    const t = this;
    t.nodes.clear();
    t.ephemeralsByOwner.clear();
    t.ephemeralCount = 0;
    t.sessionRows.clear();
    t.requests.clear();
    t.requestQueue = [];
    t.requestsHead = 0;
    t.attrRows.clear();
    t.dirtyNodes.clear();
    t.dirtyAttrs.clear();
    t.dirtySessions.clear();
    t.deletedRequests.clear();
    t.checkpointedZxid = 0;
    t.evictedThrough = 0;
    const rows = db
      .prepare<[], [string, string, Uint8Array, number, number, number, number, number, number, number, number, number]>(
        "SELECT path, parent, data, version, cversion, czxid, mzxid, pzxid, ctime_ms, mtime_ms, ephemeral_owner, num_children FROM znodes ORDER BY path",
      )
      .raw(true);
    for (const [path, parent, data, version, cversion, czxid, mzxid, pzxid, ctime, mtime, owner, numChildren] of rows.iterate()) {
      const n = newNode(parent, own(data), czxid, ctime, owner);
      Object.assign(n, { version, cversion, mzxid, pzxid, mtime_ms: mtime, num_children: numChildren, stored: true });
      t.nodes.set(path, n);
      if (owner !== 0) t.addEphemeral(owner, path);
    }
    for (const [path, n] of t.nodes) if (path !== "/") addChild(t.must(n.parent), path);
    for (const [path, n] of t.nodes) invariant(childCount(n) === n.num_children, `${path} counts ${n.num_children} children and has ${childCount(n)}`);
    for (const r of db.prepare<[], AttrsRow & { path: string }>("SELECT path, acl, aversion, kind, ttl_ms FROM znode_attrs").iterate()) {
      t.attrRows.set(r.path, { acl: r.acl, aversion: r.aversion, kind: r.kind, ttl_ms: r.ttl_ms });
    }
    for (const r of db.prepare<[], SessionRow>("SELECT id, ttl_ms, created_zxid, created_ms, renewed_zxid, renewed_ms FROM sessions").iterate()) {
      t.sessionRows.set(r.id, { ...r });
    }
    type Row = { zxid: number; request_id: string; result: Uint8Array | null; error: Uint8Array | null; time_ms: number };
    for (const r of db.prepare<[], Row>("SELECT zxid, request_id, result, error, time_ms FROM requests ORDER BY zxid").iterate()) {
      const row: MemRequest = { zxid: r.zxid, requestId: r.request_id, result: r.result === null ? null : own(r.result), error: r.error === null ? null : own(r.error), time_ms: r.time_ms };
      t.requests.set(row.requestId, row);
      t.requestQueue.push(row);
      t.checkpointedZxid = row.zxid;
    }
  }

  /**
   * Inside the caller's transaction on the store's connection, the one that records the
   * checkpoint's slot as applied: write every row changed since the last checkpoint. Call
   * checkpointed() once that transaction has committed; if it rolled back, the changes stay
   * marked and the next checkpoint writes them.
   */
  writeCheckpoint(db: SqliteDatabase): { rows: number } {
    invariant(db.inTransaction, "a checkpoint is written inside the transaction that records its slot");
    let rows = 0;
    // Each table's changed keys: the row as it is now, or a DELETE if it is gone; `updated`
    // first, which writes the row in place where the table holds it.
    const write = <K>(table: keyof typeof TABLE_COLUMNS, dirty: Set<K>, rowOf: (key: K) => unknown[] | undefined, updated?: (key: K) => boolean) => {
      const cols = TABLE_COLUMNS[table];
      const put = db.prepare(`INSERT OR REPLACE INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`);
      const del = db.prepare(`DELETE FROM ${table} WHERE ${cols[0]} = ?`);
      for (const key of dirty) {
        rows++;
        if (updated?.(key)) continue;
        const row = rowOf(key);
        if (row === undefined) del.run(key);
        else put.run(...row);
      }
    };
    // A node whose row the table holds is an UPDATE of the columns that change: INSERT OR
    // REPLACE deletes and reinserts the row in the table and in each index (1.85x the time
    // for 630 existing rows in a throwaway script: 5.3 against 2.9 ms).
    const update = db.prepare("UPDATE znodes SET data = ?, version = ?, cversion = ?, mzxid = ?, pzxid = ?, mtime_ms = ?, num_children = ? WHERE path = ?");
    const inPlace = (p: string): boolean => {
      const n = this.nodes.get(p);
      if (n === undefined || !n.stored) return false;
      const changed = update.run(n.data, n.version, n.cversion, n.mzxid, n.pzxid, n.mtime_ms, n.num_children, p).changes;
      invariant(changed === 1, `the checkpoint found no row of ${p} to update, which the last one wrote`);
      return true;
    };
    write("znodes", this.dirtyNodes, (p) => this.nodeRow(p), inPlace);
    write("znode_attrs", this.dirtyAttrs, (p) => this.attrsRow(p));
    write("sessions", this.dirtySessions, (id) => this.sessionRow(id));
    // Requests: the evicted prefix and the ones forgotten one by one go; every live row whose
    // key was forgotten once (an undo may have brought it back) and every row newer than the
    // last checkpoint is written.
    if (this.evictedThrough > 0) rows += db.prepare("DELETE FROM requests WHERE zxid <= ?").run(this.evictedThrough).changes;
    const delRequest = db.prepare("DELETE FROM requests WHERE request_id = ?");
    const cols = TABLE_COLUMNS.requests;
    /** An INSERT of n request rows. */
    const insertRequests = (n: number) => db.prepare(`INSERT OR REPLACE INTO requests (${cols.join(", ")}) VALUES ${Array(n).fill(`(${cols.map(() => "?").join(", ")})`).join(", ")}`);
    const putRequest = insertRequests(1);
    for (const id of this.deletedRequests) {
      delRequest.run(id);
      const live = this.requests.get(id);
      if (live !== undefined && live.zxid <= this.checkpointedZxid) putRequest.run(...requestRow(live));
      rows++;
    }
    const fresh: MemRequest[] = [];
    for (let i = this.requestQueue.length - 1; i >= this.requestsHead; i--) {
      const r = this.requestQueue[i]!;
      if (r.zxid <= this.checkpointedZxid) break;
      if (this.isLive(r)) fresh.push(r);
    }
    // REQUESTS_PER_INSERT rows a statement: a request row is most of a checkpoint (one a
    // write, where znode rows coalesce by path), and one multi-row INSERT costs less than as
    // many runs of a single-row one, each a call from JavaScript into SQLite.
    const full = fresh.length >= REQUESTS_PER_INSERT ? insertRequests(REQUESTS_PER_INSERT) : null;
    for (let i = 0; i < fresh.length; i += REQUESTS_PER_INSERT) {
      const part = fresh.slice(i, i + REQUESTS_PER_INSERT);
      (part.length === REQUESTS_PER_INSERT ? full! : insertRequests(part.length)).run(...part.flatMap(requestRow));
    }
    rows += fresh.length;
    return { rows };
  }

  /** The checkpoint writeCheckpoint wrote has committed: nothing is changed since. */
  checkpointed(): void {
    for (const p of this.dirtyNodes) {
      const n = this.nodes.get(p);
      if (n !== undefined) n.stored = true;
    }
    this.dirtyNodes.clear();
    this.dirtyAttrs.clear();
    this.dirtySessions.clear();
    this.deletedRequests.clear();
    this.evictedThrough = 0;
    this.checkpointedZxid = Math.max(this.checkpointedZxid, this.newestRequest()?.zxid ?? 0);
  }

  /**
   * Every row of `table` (one of the tree hash's tables, hash.ts) in primary-key order, as
   * `SELECT *` with safeIntegers returns it: the tree hash of the maps.
   */
  *rows(table: keyof typeof TABLE_COLUMNS): Generator<unknown[]> {
    const exact = (row: unknown[]) => row.map((v) => (typeof v === "number" ? BigInt(v) : v));
    switch (table) {
      case "znodes":
        for (const p of sorted(this.nodes.keys())) yield exact(this.nodeRow(p)!);
        return;
      case "znode_attrs":
        for (const p of sorted(this.attrRows.keys())) yield exact(this.attrsRow(p)!);
        return;
      case "sessions":
        for (const r of this.sessions()) yield exact(this.sessionRow(r.id)!);
        return;
      case "requests":
        for (let k = this.requestsHead; k < this.requestQueue.length; k++) {
          const r = this.requestQueue[k]!;
          if (this.isLive(r)) yield exact(requestRow(r));
        }
        return;
    }
  }

  // Each table's row in TABLE_COLUMNS order (undefined: no such row).
  private nodeRow(p: string): unknown[] | undefined {
    const n = this.nodes.get(p);
    return n && [p, n.parent, n.data, n.version, n.cversion, n.czxid, n.mzxid, n.pzxid, n.ctime_ms, n.mtime_ms, n.ephemeral_owner, n.num_children];
  }

  private attrsRow(p: string): unknown[] | undefined {
    const a = this.attrRows.get(p);
    return a && [p, a.acl, a.aversion, a.kind, a.ttl_ms];
  }

  private sessionRow(id: number): unknown[] | undefined {
    const r = this.sessionRows.get(id);
    return r && [r.id, r.ttl_ms, r.created_zxid, r.created_ms, r.renewed_zxid, r.renewed_ms];
  }

  // ---- Rows and indexes ---------------------------------------------------------------------

  /** A keyed row set (a row) or deleted (undefined), marked for the next checkpoint, and undone with an undoable write. */
  private setRow<K, V>(rows: Map<K, V>, dirty: Set<K>, key: K, row: V | undefined): void {
    const old = rows.get(key);
    if (row !== undefined) rows.set(key, row);
    else if (old === undefined) return;
    else rows.delete(key);
    dirty.add(key);
    this.undo?.push(() => (old === undefined ? rows.delete(key) : rows.set(key, old)));
  }

  private must(path: string): MemNode {
    const n = this.nodes.get(path);
    invariant(n !== undefined, `no node ${path}`);
    return n;
  }

  private isLive(r: MemRequest): boolean {
    return this.requests.get(r.requestId) === r;
  }

  private newestRequest(): MemRequest | undefined {
    for (let i = this.requestQueue.length - 1; i >= this.requestsHead; i--) {
      const r = this.requestQueue[i]!;
      if (this.isLive(r)) return r;
    }
    return undefined;
  }

  private addEphemeral(owner: number, path: string): void {
    let set = this.ephemeralsByOwner.get(owner);
    if (set === undefined) this.ephemeralsByOwner.set(owner, (set = new Set()));
    set.add(path);
    this.ephemeralCount++;
  }

  /** Take a node out of the maps and its parent's children (no journal). */
  private removeRow(path: string): void {
    const n = this.must(path);
    this.nodes.delete(path);
    const p = this.nodes.get(n.parent);
    if (p !== undefined) removeChild(p, path);
    if (n.ephemeral_owner !== 0) {
      const set = this.ephemeralsByOwner.get(n.ephemeral_owner)!;
      set.delete(path);
      if (set.size === 0) this.ephemeralsByOwner.delete(n.ephemeral_owner);
      this.ephemeralCount--;
    }
  }

  /** Put a removed node back as it was (no journal). */
  private restoreRow(path: string, n: MemNode): void {
    this.nodes.set(path, n);
    addChild(this.must(n.parent), path);
    if (n.ephemeral_owner !== 0) this.addEphemeral(n.ephemeral_owner, path);
  }
}

/** The data of every empty znode (a zero-length array has nothing to change). */
const NO_DATA = new Uint8Array(0);

/**
 * A copy of data the tree keeps: a command's bytes are a view of the whole decoded entry (or
 * batch), which a kept view would hold in memory for as long as the node lives.
 */
function own(data: Uint8Array): Uint8Array {
  return data.length === 0 ? NO_DATA : new Uint8Array(data);
}

function requestRow(r: MemRequest): unknown[] {
  return [r.zxid, r.requestId, r.result, r.error, r.time_ms];
}

function newNode(parent: string, data: Uint8Array, zxid: number, timeMs: number, owner: number): MemNode {
  return {
    version: 0,
    cversion: 0,
    czxid: zxid,
    mzxid: zxid,
    pzxid: zxid,
    ctime_ms: timeMs,
    mtime_ms: timeMs,
    ephemeral_owner: owner,
    num_children: 0,
    data_length: data.length,
    data,
    parent,
    children: null,
    stored: false,
  };
}
