// The znode tree's rows in JavaScript maps (ZooKeeper's DataTree): the same rows as the store's
// tables (tables.ts), with the indexes the tree's reads need kept by hand (a node's children,
// a session's ephemerals). Nothing here is durable: the plan in docs/benchmarks.md makes the
// tree durable as snapshot files plus the log after them; until then only tests and benchmarks
// use it (test/tree-tables.test.ts checks it against SqliteTreeTables command by command).
//
// atomically() keeps an undo journal while it runs: every write pushes the closure that takes
// it back, and a throw runs them newest first. Outside it nothing is journaled (a write costs a
// map operation, no allocation beyond the row).
import { invariant } from "../paxos/invariant.js";
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
  readonly children: Set<string>;
}

interface MemRequest extends RequestRow {
  readonly requestId: string;
}

// A valid path holds no surrogate (paths.ts), so JavaScript's order of strings is SQLite's
// BINARY order of their UTF-8 bytes.
const sorted = (paths: Iterable<string>): string[] => [...paths].sort();

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
  /** While atomically() runs: how to take back each write since it began. */
  private undo: (() => void)[] | null = null;

  constructor() {
    // The root, as the store's schema creates it.
    this.nodes.set("/", newNode("", new Uint8Array(0), 0, 0, 0));
  }

  /** Memory has no enclosing transaction: each write stands, except inside atomically(). */
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
    p.children.add(path);
    if (owner !== 0) this.addEphemeral(owner, path);
    this.undo?.push(() => this.removeRow(path));
  }

  setData(path: string, data: Uint8Array, version: number, mzxid: number, mtimeMs: number): void {
    const n = this.must(path);
    if (this.undo !== null) {
      const { data: d, version: v, mzxid: z, mtime_ms: t } = n;
      this.undo.push(() => this.setData(path, d, v, z, t));
    }
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
    n.cversion = cversion;
    n.pzxid = pzxid;
    n.num_children = numChildren;
  }

  delete(path: string): number {
    const n = this.nodes.get(path);
    if (n === undefined) return 0;
    invariant(n.children.size === 0, `deleting ${path}, which has children`);
    this.removeRow(path);
    this.undo?.push(() => this.restoreRow(path, n));
    return 1;
  }

  childPaths(path: string): string[] {
    const n = this.nodes.get(path);
    return n === undefined ? [] : sorted(n.children);
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
    this.sessionRows.set(id, row);
    this.undo?.push(() => (old === undefined ? this.sessionRows.delete(id) : this.sessionRows.set(id, old)));
  }

  deleteSession(id: number): void {
    const old = this.sessionRows.get(id);
    if (old === undefined) return;
    this.sessionRows.delete(id);
    this.undo?.push(() => this.sessionRows.set(id, old));
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
    // Its queue entry stays, skipped as dead; an undo makes it live again.
    this.undo?.push(() => this.requests.set(requestId, old));
  }

  requestClock(): number | undefined {
    return this.newestRequest()?.time_ms;
  }

  evictRequests(beforeMs: number, atMost: number): void {
    const q = this.requestQueue;
    const head0 = this.requestsHead;
    const evicted: MemRequest[] = [];
    let h = head0;
    for (; h < q.length; h++) {
      const r = q[h]!;
      if (!this.isLive(r)) continue;
      if (r.zxid > atMost || r.time_ms >= beforeMs) break;
      this.requests.delete(r.requestId);
      evicted.push(r);
    }
    this.requestsHead = h;
    if (this.undo !== null) {
      this.undo.push(() => {
        for (const r of evicted) this.requests.set(r.requestId, r);
        this.requestsHead = head0;
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
    const old = this.attrRows.get(path);
    this.attrRows.set(path, { ...row });
    this.undo?.push(() => (old === undefined ? this.attrRows.delete(path) : this.attrRows.set(path, old)));
  }

  deleteAttrs(path: string): void {
    const old = this.attrRows.get(path);
    if (old === undefined) return;
    this.attrRows.delete(path);
    this.undo?.push(() => this.attrRows.set(path, old));
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
    return (...args: A) => {
      const outer = this.undo;
      const journal: (() => void)[] = [];
      this.undo = journal;
      try {
        fn(...args);
      } catch (err) {
        this.undo = null;
        for (let i = journal.length - 1; i >= 0; i--) journal[i]!();
        this.undo = outer;
        throw err;
      }
      // Kept: an enclosing atomically() takes these back too if it fails.
      if (outer !== null) for (const u of journal) outer.push(u);
      this.undo = outer;
    };
  }

  // ---- Rows and indexes ---------------------------------------------------------------------

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
    this.nodes.get(n.parent)?.children.delete(path);
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
    this.must(n.parent).children.add(path);
    if (n.ephemeral_owner !== 0) this.addEphemeral(n.ephemeral_owner, path);
  }
}

/**
 * A copy of data the tree keeps: a command's bytes are a view of the whole decoded entry (or
 * batch), which a kept view would hold in memory for as long as the node lives.
 */
function own(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
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
    children: new Set(),
  };
}
