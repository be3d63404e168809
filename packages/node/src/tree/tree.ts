// The znode state machine: ZooKeeper's data model in SQLite tables of the node's store file.
// apply(zxid, command) runs for every chosen log entry, in slot order, inside the caller's
// transaction that also records the applied index, so the tree on disk is always the tree as
// of the applied index. Every replica applies the same commands to the same state and must
// end in the same state: nothing here reads a clock, a random source or a local setting that
// could differ between members (time comes from Command.time_ms).
import type { SqliteDatabase } from "../storage/sqlite-store.js";
import { invariant } from "../paxos/invariant.js";
import type {
  CheckOp,
  CloseSessionOp,
  CreateOp,
  CreateResult,
  DeleteOp,
  MultiOp,
  MultiResult,
  Op,
  OpenSessionOp,
  OpResult,
  PutOp,
  Principal,
  PutResult,
  ReapNodeOp,
  SetAclOp,
  SetAclResult,
  SetOp,
  SetResult,
  Stat,
} from "../gen/zk/v1/types.js";
import { Command, CommandResult, ErrorCode, ErrorDetail, Outcome } from "../gen/zk/v1/types.js";
import type { WatchEvent } from "../gen/zk/v1/kv.js";
import { EventType } from "../gen/zk/v1/kv.js";
import { ROOT, basename, parent, sequentialSuffix, validatePath } from "./paths.js";
import { encodeShared } from "./encode.js";
import { Perm, allowed, fixupAcl, OPEN_ACL, type Acl } from "./acl.js";
import { NodeKind, ZnodeAttrs, type NodeAttrs, type NodeKindValue } from "./attrs.js";
import { SqliteTreeTables, type SessionRow, type StatRow, type TreeTables } from "./tables.js";

/** Default largest znode data: 1 MiB, ZooKeeper's jute.maxbuffer. */
export const DATA_BYTES_MAX_DEFAULT = 1024 * 1024;

/**
 * The deduplication window. A request id is remembered for at least REQUEST_IDS_KEPT_MS of
 * leader time AND at least REQUEST_IDS_KEPT_SLOTS log slots after its first application; a
 * retry outside both is applied again. The time bound is what clients rely on: it is longer
 * than the longest window in which any client of this repository resends a write with the
 * same key (ZkClient: its --timeout, capped at REQUEST_IDS_KEPT_MS / 2; ZkSession and the CLI's
 * recipes: the session TTL, at most 300 s, plus 2 s), with room for leader clocks that
 * disagree by minutes. It is enforced deterministically: "now" is the largest leader time
 * (Command.time_ms, in the log) of any command with a request id applied so far — never a
 * local clock, and never going back when a leader with a slower clock takes over.
 */
export const REQUEST_IDS_KEPT_MS = 10 * 60_000;
/** The slot bound of the window (see REQUEST_IDS_KEPT_MS). */
export const REQUEST_IDS_KEPT_SLOTS = 100_000;
/** Keys older than the window are deleted once per this many slots (so a few linger a little longer). */
const REQUEST_EVICT_EVERY_SLOTS = 1000;

/** The longest Command.request_id, in UTF-16 code units. */
export const REQUEST_ID_LENGTH_MAX = 256;

/**
 * Request ids the node itself puts on commands it proposes (a session's expiry) start with
 * this; a client's deduplication key never may. Without the separate namespace a client
 * that wrote with the key "expire-<id>" would make the session's expiry a "retry" of its
 * write, and the session would never expire.
 */
const INTERNAL_REQUEST_PREFIX = "\u0000zk:";

/**
 * Whether a request first applied at `firstZxid` (dedup clock then: `firstMs`) is forgotten
 * when seen again at `zxid` with the dedup clock at `nowMs`: outside both bounds of the window.
 */
function forgotten(firstZxid: number, firstMs: number, zxid: number, nowMs: number): boolean {
  return firstZxid < zxid - REQUEST_IDS_KEPT_SLOTS && firstMs < nowMs - REQUEST_IDS_KEPT_MS;
}

/**
 * The deduplication clock of a store: the time of its newest remembered request (times are
 * stored non-decreasing, and the newest row is never evicted). Also for the tree's hash.
 */
export function dedupClockMs(db: SqliteDatabase): number {
  return db.prepare<[], number>("SELECT time_ms FROM requests ORDER BY zxid DESC LIMIT 1").pluck().get() ?? 0;
}

/**
 * Which remembered requests the next apply after `applied` may still honour: those at or after
 * `fromZxid`, or with a time at or after `fromTimeMs`. Every other row is forgotten whether or
 * not eviction has deleted it yet (for the tree's hash).
 */
export function requestsStillKept(db: SqliteDatabase, applied: number): { fromZxid: number; fromTimeMs: number } {
  return requestsKeptAt(applied, dedupClockMs(db));
}

/** requestsStillKept for a tree whose dedup clock is `clockMs` (a tree in memory). */
export function requestsKeptAt(applied: number, clockMs: number): { fromZxid: number; fromTimeMs: number } {
  return { fromZxid: applied + 1 - REQUEST_IDS_KEPT_SLOTS, fromTimeMs: clockMs - REQUEST_IDS_KEPT_MS };
}

/** The request id of a command the node proposes on its own behalf. */
export function internalRequestKey(name: string): string {
  return INTERNAL_REQUEST_PREFIX + name;
}

/** Commands only the node proposes; everything else carries a client's key (or none). */
function isInternalOp(command: Command): boolean {
  return command.op?.$case === "expireSession" || command.op?.$case === "reapNode";
}

/**
 * The key a command is deduplicated by: an internal command's always lies in the internal
 * namespace (also one logged by an older zk-node as plain "expire-<id>", so that replaying
 * it gives the same outcome on every replica).
 */
function dedupKeyOf(command: Command): string {
  const rid = command.requestId;
  if (rid === "" || !isInternalOp(command) || rid.startsWith(INTERNAL_REQUEST_PREFIX)) return rid;
  return INTERNAL_REQUEST_PREFIX + rid;
}

export interface ZnodeTreeOptions {
  /**
   * Largest data of one znode, in bytes. Part of the replicated state machine: every member
   * must use the same value, or a write near the limit succeeds on some and fails on others.
   */
  readonly dataBytesMax?: number;
}

/**
 * What applying one command did. A failed command changed nothing and has no events; a
 * deduplicated retry returns its first outcome, also without events (they were emitted the
 * first time).
 */
export type ApplyOutcome =
  | { readonly result: CommandResult; readonly events: WatchEvent[]; readonly firstZxid?: number }
  | { readonly error: ErrorDetail; readonly events: WatchEvent[]; readonly firstZxid?: number };

export interface ZnodeData {
  readonly data: Uint8Array;
  readonly stat: Stat;
}

export interface ChildEntry {
  readonly name: string;
  /** Present when list() was asked for stats. */
  readonly stat?: Stat;
}

export interface SessionInfo {
  readonly id: number;
  readonly ttlMs: number;
  /** The zxid and leader time of the open_session that created the session. */
  readonly createdZxid: number;
  readonly createdMs: number;
  /** The zxid and leader time of the latest open_session (creation or renewal) in the log. */
  readonly renewedZxid: number;
  readonly renewedMs: number;
}

/** Encode a command for Entry.command. */
export function encodeCommand(cmd: Command): Uint8Array {
  return encodeShared(Command.encode, cmd);
}

/**
 * Decode Entry.command. Empty bytes (the consensus layer's hole-filling no-op, which the
 * driver skips before apply) decode to an explicit noop command.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  if (bytes.length === 0) return { requestId: "", timeMs: 0, nonce: 0, op: { $case: "noop", value: {} } };
  return Command.decode(bytes);
}

// ---- Internals ----------------------------------------------------------------------------

/** A failed op: what the client sees as an ErrorDetail. Not an Error: no stack to capture. */
class OpFailure {
  constructor(
    readonly code: ErrorCode,
    readonly message: string,
    readonly path: string,
    readonly opIndex?: number,
  ) {}

  toDetail(): ErrorDetail {
    return {
      code: this.code,
      message: this.message,
      path: this.path,
      leaderHint: "",
      opIndex: this.opIndex,
      leaderId: "",
      outcome: Outcome.UNSPECIFIED, // an answer (NO_NODE, BAD_VERSION...): nothing was changed
      noLeader: false,
    };
  }
}

/** Thrown out of the multi savepoint to roll it back. */
class MultiAbort {
  constructor(
    readonly failure: OpFailure,
    readonly index: number,
  ) {}
}

function toStat(r: StatRow): Stat {
  return {
    version: r.version,
    cversion: r.cversion,
    czxid: r.czxid,
    mzxid: r.mzxid,
    ctimeMs: r.ctime_ms,
    mtimeMs: r.mtime_ms,
    ephemeralOwner: r.ephemeral_owner,
    numChildren: r.num_children,
    dataLength: r.data_length,
    pzxid: r.pzxid,
  };
}

function toSession(r: SessionRow): SessionInfo {
  return {
    id: r.id,
    ttlMs: r.ttl_ms,
    createdZxid: r.created_zxid,
    createdMs: r.created_ms,
    renewedZxid: r.renewed_zxid,
    renewedMs: r.renewed_ms,
  };
}

/** better-sqlite3 returns Buffers; callers get plain Uint8Arrays (a view, no copy). */
function bytesOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function badVersion(path: string, expected: number | undefined, actual: number): OpFailure | null {
  if (expected === undefined || expected === -1 || expected === actual) return null;
  return new OpFailure(ErrorCode.BAD_VERSION, `version mismatch on ${path}: expected ${expected}, is ${actual}`, path);
}

function noNode(path: string): OpFailure {
  return new OpFailure(ErrorCode.NO_NODE, `node ${path} does not exist`, path);
}

function sessionGone(id: number, path: string): OpFailure {
  return new OpFailure(ErrorCode.SESSION_EXPIRED, `session ${id} does not exist (closed or expired)`, path);
}

// ---- The tree -----------------------------------------------------------------------------

export class ZnodeTree {
  readonly dataBytesMax: number;
  /** Where the rows live (tables.ts): the store file, or memory. */
  readonly tables: TreeTables;
  /** ACLs, aversions, container and TTL kinds (attrs.ts). */
  private readonly attrs: ZnodeAttrs;
  /** The principals of the command being applied; null: no ACL checks (Command.auth absent). */
  private principals: readonly Principal[] | null = null;
  private lastEvictAt = 0;
  private readonly multiSavepoint: (zxid: number, t: number, m: MultiOp, out: MultiResult, events: WatchEvent[]) => void;

  /**
   * `db`: the store's connection, whose schema (v2+) holds the tree's tables; or the rows'
   * TreeTables themselves (MemTreeTables: the tree in memory).
   */
  constructor(db: SqliteDatabase | TreeTables, opts: ZnodeTreeOptions = {}) {
    const max = opts.dataBytesMax ?? DATA_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`zk: dataBytesMax ${max} must be an integer >= 0`);
    this.dataBytesMax = max;
    this.tables = "prepare" in db ? new SqliteTreeTables(db) : db;
    this.attrs = new ZnodeAttrs(this.tables);
    // A throw rolls back the multi's writes only (SQLite: a SAVEPOINT in the caller's transaction).
    this.multiSavepoint = this.tables.atomically((zxid: number, t: number, m: MultiOp, out: MultiResult, events: WatchEvent[]) => {
      for (let i = 0; i < m.ops.length; i++) {
        const r = this.applyOp(zxid, t, m.ops[i] as Op, events);
        if (r instanceof OpFailure) throw new MultiAbort(r, i);
        out.results.push(r);
      }
    });
    const root = this.tables.stat(ROOT);
    invariant(root !== undefined, "the znode tree has no root; the store's schema is older than the tree's");
  }

  /**
   * Apply the command chosen at log slot `zxid`. Runs inside the caller's transaction, the
   * same one that records `zxid` as applied; it opens none (a multi uses a savepoint in it).
   */
  apply(zxid: number, command: Command): ApplyOutcome {
    invariant(Number.isSafeInteger(zxid) && zxid >= 1, `zxid ${zxid} is not a log slot`);
    // Outside a transaction each write would commit on its own, and a crash between them
    // would leave a half-applied command that replay applies again.
    invariant(this.tables.inTransaction, "ZnodeTree.apply must run inside the transaction that records the applied index");

    const rid = dedupKeyOf(command);
    let dedupNowMs = 0;
    if (command.requestId.length > REQUEST_ID_LENGTH_MAX) {
      const msg = `request id is ${command.requestId.length} characters long, above the limit of ${REQUEST_ID_LENGTH_MAX}`;
      return { error: new OpFailure(ErrorCode.INVALID_ARGUMENT, msg, "").toDetail(), events: [] };
    }
    if (!isInternalOp(command) && rid.startsWith(INTERNAL_REQUEST_PREFIX)) {
      const msg = "a request id may not start with a NUL character (reserved for zk-node's own commands)";
      return { error: new OpFailure(ErrorCode.INVALID_ARGUMENT, msg, "").toDetail(), events: [] };
    }
    if (rid !== "") {
      // Read from the table, not cached: the clock is exactly what the store holds (a rolled
      // back transaction cannot leave it ahead), on every replica alike.
      dedupNowMs = Math.max(this.tables.requestClock() ?? 0, command.timeMs);
      let prior = this.tables.request(rid);
      if (prior !== undefined && forgotten(prior.zxid, prior.time_ms, zxid, dedupNowMs)) {
        // Outside the window (eviction runs in batches): forgotten, exactly as if evicted.
        this.tables.deleteRequest(rid);
        prior = undefined;
      }
      if (prior !== undefined) {
        // A retry: the first application's outcome, and the zxid it happened at.
        if (prior.result !== null) return { result: CommandResult.decode(prior.result), events: [], firstZxid: prior.zxid };
        invariant(prior.error !== null, `request ${JSON.stringify(rid)} was recorded with neither result nor error`);
        return { error: ErrorDetail.decode(prior.error), events: [], firstZxid: prior.zxid };
      }
    }

    const events: WatchEvent[] = [];
    this.principals = command.auth === undefined ? null : command.auth.ids;
    let r: CommandResult | OpFailure;
    try {
      r = this.execute(zxid, command, events);
    } finally {
      this.principals = null;
    }
    const outcome: ApplyOutcome = r instanceof OpFailure ? { error: r.toDetail(), events: [] } : { result: r, events };

    if (rid !== "") {
      if ("result" in outcome) {
        this.tables.putRequest(zxid, rid, encodeShared(CommandResult.encode, outcome.result), null, dedupNowMs);
      } else {
        this.tables.putRequest(zxid, rid, null, encodeShared(ErrorDetail.encode, outcome.error), dedupNowMs);
      }
      // Forget old keys in batches: a range delete per write would cost a page per write.
      // Only keys outside both bounds go, so a row is deleted only once apply() ignores it.
      if (zxid - this.lastEvictAt >= REQUEST_EVICT_EVERY_SLOTS) {
        this.lastEvictAt = zxid;
        this.tables.evictRequests(dedupNowMs - REQUEST_IDS_KEPT_MS, zxid - REQUEST_IDS_KEPT_SLOTS);
      }
    }
    return outcome;
  }

  // ---- Reads (any time; inside or outside a transaction) ----------------------------------
  // An invalid path names no node, so reads need no validation: they just find nothing.

  /** The node's data and stat, or null if it does not exist. */
  get(path: string): ZnodeData | null {
    const r = this.tables.data(path);
    return r === undefined ? null : { data: bytesOf(r.data), stat: toStat(r.stat) };
  }

  /** The node's stat, or null if it does not exist. */
  exists(path: string): Stat | null {
    const r = this.tables.stat(path);
    return r === undefined ? null : toStat(r);
  }

  /** The node's children sorted by name (with their stats if asked), or null if it does not exist. */
  list(path: string, withStats = false): { children: ChildEntry[] } | null {
    if (this.tables.stat(path) === undefined) return null;
    if (withStats) {
      return { children: this.tables.childStats(path).map((r) => ({ name: basename(r.path), stat: toStat(r) })) };
    }
    return { children: this.tables.childPaths(path).map((p) => ({ name: basename(p) })) };
  }

  /** Every live session, by id. */
  sessions(): SessionInfo[] {
    return this.tables.sessions().map(toSession);
  }

  /** The session, or null if it does not exist (never opened, closed or expired). */
  session(id: number): SessionInfo | null {
    const r = this.tables.session(id);
    return r === undefined ? null : toSession(r);
  }

  /** Paths of the session's ephemeral nodes, sorted. */
  ephemeralsOf(sessionId: number): string[] {
    return this.tables.ephemerals(sessionId);
  }

  /** How many nodes lie below `path` (children, their children, ...), not counting itself. */
  descendantCount(path: string): number {
    return this.tables.descendantCount(path);
  }

  /** The node's ACL, aversion and kind, or null if it does not exist. */
  attrsOf(path: string): NodeAttrs | null {
    return this.tables.stat(path) === undefined ? null : this.attrs.get(path);
  }

  /** Whether `principals` may do `perm` on the node (true for a missing node: the caller answers NoNode). */
  permits(path: string, principals: readonly Principal[], perm: number): boolean {
    return allowed(this.attrs.get(path).acl, principals, perm);
  }

  /** Container and TTL nodes the leader may reap at leader time `nowMs` (attrs.ts). */
  reapable(nowMs: number): string[] {
    return this.attrs.reapable(nowMs);
  }

  /** Every node, the root included; and how many of them are ephemeral. */
  counts(): { znodes: number; ephemerals: number } {
    return { znodes: this.tables.countAll(), ephemerals: this.tables.countEphemerals() };
  }

  // ---- Commands ---------------------------------------------------------------------------

  private execute(zxid: number, cmd: Command, events: WatchEvent[]): CommandResult | OpFailure {
    const t = cmd.timeMs;
    const op = cmd.op;
    switch (op?.$case) {
      case "put": {
        const r = this.put(zxid, t, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "put", value: r } };
      }
      case "create": {
        const r = this.create(zxid, t, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "create", value: r } };
      }
      case "set": {
        const r = this.set(zxid, t, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "set", value: r } };
      }
      case "delete": {
        const r = this.delete(zxid, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "delete", value: {} } };
      }
      case "multi": {
        const r = this.multi(zxid, t, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "multi", value: r } };
      }
      case "openSession": {
        const r = this.openSession(zxid, t, op.value);
        return r instanceof OpFailure ? r : { result: { $case: "openSession", value: r } };
      }
      case "closeSession":
      case "expireSession": {
        const r = this.endSession(zxid, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "none", value: {} } };
      }
      case "noop":
        return { result: { $case: "none", value: {} } };
      case "setAcl": {
        const r = this.setAcl(op.value);
        return r instanceof OpFailure ? r : { result: { $case: "setAcl", value: r } };
      }
      case "reapNode": {
        const r = this.reapNode(zxid, t, op.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "none", value: {} } };
      }
      case undefined:
        return new OpFailure(ErrorCode.INVALID_ARGUMENT, "the command has no op (or one this zk-node does not know)", "");
    }
  }

  private applyOp(zxid: number, t: number, op: Op, events: WatchEvent[]): OpResult | OpFailure {
    const o = op.op;
    switch (o?.$case) {
      case "put": {
        const r = this.put(zxid, t, o.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "put", value: r } };
      }
      case "create": {
        const r = this.create(zxid, t, o.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "create", value: r } };
      }
      case "set": {
        const r = this.set(zxid, t, o.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "set", value: r } };
      }
      case "delete": {
        const r = this.delete(zxid, o.value, events);
        return r instanceof OpFailure ? r : { result: { $case: "delete", value: {} } };
      }
      case "check": {
        const r = this.check(o.value);
        return r instanceof OpFailure ? r : { result: { $case: "check", value: {} } };
      }
      case undefined:
        return new OpFailure(ErrorCode.INVALID_ARGUMENT, "the op has no operation (or one this zk-node does not know)", "");
    }
  }

  private multi(zxid: number, t: number, m: MultiOp, events: WatchEvent[]): MultiResult | OpFailure {
    const out: MultiResult = { results: [] };
    const local: WatchEvent[] = [];
    try {
      this.multiSavepoint(zxid, t, m, out, local);
    } catch (err) {
      if (!(err instanceof MultiAbort)) throw err;
      const f = err.failure;
      return new OpFailure(f.code, `multi op ${err.index}: ${f.message}`, f.path, err.index);
    }
    for (const e of local) events.push(e);
    return out;
  }

  // Checks come in ZooKeeper's order (PrepRequestProcessor), so that a request failing
  // several ways fails with the code ZooKeeper would give.

  private create(zxid: number, t: number, op: CreateOp, events: WatchEvent[]): CreateResult | OpFailure {
    const invalid = validatePath(op.path, { sequential: op.sequential });
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    const tooBig = this.checkData(op.path, op.data);
    if (tooBig !== null) return tooBig;
    const kind = nodeKindOf(op);
    if (kind instanceof OpFailure) return kind;
    const acl = this.aclToStore(op.path, op.options?.acl ?? []);
    if (acl instanceof OpFailure) return acl;
    let owner = 0;
    if (op.ephemeral) {
      if (op.sessionId === 0) {
        return new OpFailure(ErrorCode.INVALID_ARGUMENT, `ephemeral node ${op.path} needs a session (session_id is 0)`, op.path);
      }
      if (this.tables.session(op.sessionId) === undefined) return sessionGone(op.sessionId, op.path);
      owner = op.sessionId;
    }
    if (!op.sequential && op.path === ROOT) {
      return new OpFailure(ErrorCode.NODE_EXISTS, `node ${ROOT} already exists`, ROOT);
    }
    // A sequential prefix may end with "/" ("/q/" makes "/q/0000000007"): its parent is the
    // parent of the full name.
    const parentPath = parent(op.sequential ? op.path + "0" : op.path);
    const p = this.tables.stat(parentPath);
    if (p === undefined) return new OpFailure(ErrorCode.NO_NODE, `parent ${parentPath} does not exist`, op.path);
    const denied = this.denied(parentPath, Perm.create, op.path);
    if (denied !== null) return denied;
    let path = op.path;
    if (op.sequential) {
      path = op.path + sequentialSuffix(p.cversion);
      // Only a counter beyond 10 digits can make the full path invalid (too long).
      const tooLong = validatePath(path);
      if (tooLong !== null) return new OpFailure(ErrorCode.INVALID_PATH, tooLong, op.path);
    }
    if (this.tables.stat(path) !== undefined) {
      return new OpFailure(ErrorCode.NODE_EXISTS, `node ${path} already exists`, path);
    }
    if (p.ephemeral_owner !== 0) return noChildrenForEphemerals(parentPath, path);
    const stat = this.insertNode(zxid, t, path, parentPath, p, op.data, owner, events);
    this.attrs.created(path, acl, kind, op.options?.ttlMs ?? 0);
    return { path, stat };
  }

  private put(zxid: number, t: number, op: PutOp, events: WatchEvent[]): PutResult | OpFailure {
    const invalid = validatePath(op.path);
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    const tooBig = this.checkData(op.path, op.data);
    if (tooBig !== null) return tooBig;
    const path = op.path;
    const row = this.tables.stat(path);
    if (row !== undefined) {
      const denied = this.denied(path, Perm.write, path);
      if (denied !== null) return denied;
      const mismatch = badVersion(path, op.expectedVersion, row.version);
      if (mismatch !== null) return mismatch;
      const stat = this.writeData(zxid, t, path, row, op.data, events);
      return { path, version: stat.version, created: false, stat };
    }
    if (op.expectedVersion !== undefined && op.expectedVersion !== -1) {
      return new OpFailure(ErrorCode.NO_NODE, `node ${path} does not exist (expected version ${op.expectedVersion})`, path);
    }
    const parentPath = parent(path);
    const p = this.tables.stat(parentPath);
    if (p === undefined) return new OpFailure(ErrorCode.NO_NODE, `parent ${parentPath} does not exist`, path);
    if (op.options?.container || (op.options?.ttlMs ?? 0) > 0) return new OpFailure(ErrorCode.INVALID_ARGUMENT, `put creates plain nodes only (${path})`, path);
    const acl = this.aclToStore(path, op.options?.acl ?? []);
    if (acl instanceof OpFailure) return acl;
    const denied = this.denied(parentPath, Perm.create, path);
    if (denied !== null) return denied;
    if (p.ephemeral_owner !== 0) return noChildrenForEphemerals(parentPath, path);
    const stat = this.insertNode(zxid, t, path, parentPath, p, op.data, 0, events);
    this.attrs.created(path, acl, NodeKind.plain, 0);
    return { path, version: 0, created: true, stat };
  }

  private set(zxid: number, t: number, op: SetOp, events: WatchEvent[]): SetResult | OpFailure {
    const invalid = validatePath(op.path);
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    const tooBig = this.checkData(op.path, op.data);
    if (tooBig !== null) return tooBig;
    const row = this.tables.stat(op.path);
    if (row === undefined) return noNode(op.path);
    const denied = this.denied(op.path, Perm.write, op.path);
    if (denied !== null) return denied;
    const mismatch = badVersion(op.path, op.expectedVersion, row.version);
    if (mismatch !== null) return mismatch;
    return { stat: this.writeData(zxid, t, op.path, row, op.data, events) };
  }

  private delete(zxid: number, op: DeleteOp, events: WatchEvent[]): true | OpFailure {
    const invalid = validatePath(op.path);
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    if (op.path === ROOT) return new OpFailure(ErrorCode.INVALID_ARGUMENT, `the root node ${ROOT} cannot be deleted`, ROOT);
    // As ZooKeeper: DELETE on the parent is checked before the node is looked up.
    const denied = this.denied(parent(op.path), Perm.delete, op.path);
    if (denied !== null) return denied;
    const row = this.tables.stat(op.path);
    if (row === undefined) return noNode(op.path);
    const mismatch = badVersion(op.path, op.expectedVersion, row.version);
    if (mismatch !== null) return mismatch;
    if (row.num_children > 0) {
      const n = row.num_children;
      return new OpFailure(ErrorCode.NOT_EMPTY, `node ${op.path} has ${n} ${n === 1 ? "child" : "children"}`, op.path);
    }
    this.removeNode(zxid, op.path, events);
    return true;
  }

  private check(op: CheckOp): true | OpFailure {
    const invalid = validatePath(op.path);
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    const row = this.tables.stat(op.path);
    if (row === undefined) return noNode(op.path);
    const denied = this.denied(op.path, Perm.read, op.path);
    if (denied !== null) return denied;
    return badVersion(op.path, op.expectedVersion, row.version) ?? true;
  }

  private openSession(zxid: number, t: number, op: OpenSessionOp): { sessionId: number; ttlMs: number } | OpFailure {
    if (op.sessionId === 0) return new OpFailure(ErrorCode.INVALID_ARGUMENT, "session id 0 is not a session", "");
    if (op.ttlMs <= 0) {
      return new OpFailure(ErrorCode.INVALID_ARGUMENT, `session ${op.sessionId}: ttl_ms must be above 0`, "");
    }
    // The proposer clamps the TTL before proposing; clamping here would need a setting every
    // replica agrees on.
    this.tables.upsertSession(op.sessionId, op.ttlMs, zxid, t);
    return { sessionId: op.sessionId, ttlMs: op.ttlMs };
  }

  private endSession(zxid: number, op: CloseSessionOp, events: WatchEvent[]): true | OpFailure {
    const id = op.sessionId;
    if (this.tables.session(id) === undefined) return sessionGone(id, "");
    // Ephemeral nodes have no children, so any order works; path order keeps it deterministic.
    for (const path of this.tables.ephemerals(id)) this.removeNode(zxid, path, events);
    this.tables.deleteSession(id);
    return true;
  }

  // Checks in ZooKeeper's order for setACL: InvalidACL, NoNode, NoAuth (ADMIN), BadVersion.
  private setAcl(op: SetAclOp): SetAclResult | OpFailure {
    const invalid = validatePath(op.path);
    if (invalid !== null) return new OpFailure(ErrorCode.INVALID_PATH, invalid, op.path);
    const acl = this.aclToStore(op.path, op.acl, false);
    if (acl instanceof OpFailure) return acl;
    const row = this.tables.stat(op.path);
    if (row === undefined) return noNode(op.path);
    const denied = this.denied(op.path, Perm.admin, op.path);
    if (denied !== null) return denied;
    const a = this.attrs.get(op.path);
    const expected = op.expectedAversion;
    if (expected !== undefined && expected !== -1 && expected !== a.aversion) {
      return new OpFailure(ErrorCode.BAD_VERSION, `ACL version mismatch on ${op.path}: expected ${expected}, is ${a.aversion}`, op.path);
    }
    this.attrs.setAcl(op.path, acl, a.aversion + 1);
    return { stat: toStat(row), aversion: a.aversion + 1 };
  }

  /** The leader's reaping of a container or TTL node: only if it still qualifies at the command's time. */
  private reapNode(zxid: number, t: number, op: ReapNodeOp, events: WatchEvent[]): true | OpFailure {
    if (this.tables.stat(op.path) === undefined) return noNode(op.path);
    if (!this.attrs.isReapable(op.path, t)) {
      return new OpFailure(ErrorCode.INVALID_ARGUMENT, `node ${op.path} is not an empty container or an expired TTL node`, op.path);
    }
    this.removeNode(zxid, op.path, events);
    return true;
  }

  /** NO_AUTH unless the command's principals may do `perm` on `aclPath` (no check without Command.auth). */
  private denied(aclPath: string, perm: number, path: string): OpFailure | null {
    if (this.principals === null || allowed(this.attrs.get(aclPath).acl, this.principals, perm)) return null;
    return new OpFailure(ErrorCode.NO_AUTH, `not authorized: ${aclPath === path ? "" : `the parent ${aclPath} of `}${path} does not grant ${permName(perm)} to ${principalsText(this.principals)}`, path);
  }

  /** The ACL a create or set_acl stores; an empty one on create means world:anyone:cdrwa. */
  private aclToStore(path: string, acl: readonly Acl[], emptyIsOpen = true): readonly Acl[] | OpFailure {
    if (acl.length === 0 && emptyIsOpen) return OPEN_ACL;
    const fixed = fixupAcl(acl, this.principals ?? []);
    if (fixed === null) return new OpFailure(ErrorCode.INVALID_ACL, `invalid ACL for ${path}: an entry has an unknown scheme or a malformed id, the list is empty, or scheme auth names no authenticated user`, path);
    return fixed;
  }

  // ---- Mutations (all checks done) ---------------------------------------------------------

  private checkData(path: string, data: Uint8Array): OpFailure | null {
    if (data.length <= this.dataBytesMax) return null;
    return new OpFailure(
      ErrorCode.INVALID_ARGUMENT,
      `data for ${path} is ${data.length} bytes, above the limit of ${this.dataBytesMax}`,
      path,
    );
  }

  private insertNode(
    zxid: number,
    t: number,
    path: string,
    parentPath: string,
    p: StatRow,
    data: Uint8Array,
    owner: number,
    events: WatchEvent[],
  ): Stat {
    this.tables.insert(path, parentPath, data, zxid, t, owner);
    const stat: Stat = {
      version: 0,
      cversion: 0,
      czxid: zxid,
      mzxid: zxid,
      ctimeMs: t,
      mtimeMs: t,
      ephemeralOwner: owner,
      numChildren: 0,
      dataLength: data.length,
      pzxid: zxid,
    };
    events.push({ type: EventType.CREATED, path, zxid, stat });
    this.childrenChanged(zxid, parentPath, p, 1, events);
    return stat;
  }

  private writeData(zxid: number, t: number, path: string, row: StatRow, data: Uint8Array, events: WatchEvent[]): Stat {
    const version = row.version + 1;
    this.tables.setData(path, data, version, zxid, t);
    const stat: Stat = { ...toStat(row), version, mzxid: zxid, mtimeMs: t, dataLength: data.length };
    events.push({ type: EventType.CHANGED, path, zxid, stat });
    return stat;
  }

  private removeNode(zxid: number, path: string, events: WatchEvent[]): void {
    const deleted = this.tables.delete(path);
    invariant(deleted === 1, `deleting ${path} deleted ${deleted} rows`);
    this.attrs.removed(path);
    events.push({ type: EventType.DELETED, path, zxid });
    const parentPath = parent(path);
    const p = this.tables.stat(parentPath);
    invariant(p !== undefined, `${path} had no parent node ${parentPath}`);
    this.childrenChanged(zxid, parentPath, p, -1, events);
  }

  // As ZooKeeper: a child's creation or deletion bumps the parent's cversion (which also
  // numbers sequential children) and sets its pzxid; version and mzxid stay.
  private childrenChanged(zxid: number, path: string, p: StatRow, delta: 1 | -1, events: WatchEvent[]): void {
    const cversion = p.cversion + 1;
    const numChildren = p.num_children + delta;
    invariant(numChildren >= 0, `${path} would have ${numChildren} children`);
    this.tables.setChildren(path, cversion, zxid, numChildren);
    const stat: Stat = { ...toStat(p), cversion, pzxid: zxid, numChildren };
    events.push({ type: EventType.CHILDREN_CHANGED, path, zxid, stat });
  }
}

function noChildrenForEphemerals(parentPath: string, path: string): OpFailure {
  return new OpFailure(
    ErrorCode.NO_CHILDREN_FOR_EPHEMERALS,
    `parent ${parentPath} is ephemeral and cannot have children`,
    path,
  );
}

/** ZooKeeper's TTL bound (EphemeralType.TTL: 40 bits). */
export const TTL_MS_MAX = 2 ** 40 - 1;

function nodeKindOf(op: CreateOp): NodeKindValue | OpFailure {
  const container = op.options?.container ?? false;
  const ttlMs = op.options?.ttlMs ?? 0;
  const bad = (why: string) => new OpFailure(ErrorCode.INVALID_ARGUMENT, `${op.path}: ${why}`, op.path);
  if (container && (op.ephemeral || op.sequential || ttlMs > 0)) return bad("a container node is not ephemeral, sequential or TTL");
  if (ttlMs > 0 && op.ephemeral) return bad("a TTL node cannot be ephemeral");
  if (ttlMs > TTL_MS_MAX) return bad(`TTL ${ttlMs} ms is above the limit of ${TTL_MS_MAX}`);
  return container ? NodeKind.container : ttlMs > 0 ? NodeKind.ttl : NodeKind.plain;
}

function permName(perm: number): string {
  const names: [number, string][] = [[Perm.read, "READ"], [Perm.write, "WRITE"], [Perm.create, "CREATE"], [Perm.delete, "DELETE"], [Perm.admin, "ADMIN"]];
  return names.filter(([b]) => (perm & b) !== 0).map(([, n]) => n).join(" or ");
}

function principalsText(ps: readonly Principal[]): string {
  const named = ps.filter((p) => p.scheme === "digest").map((p) => `digest:${p.id.split(":", 1)[0]}`);
  return named.length === 0 ? "an unauthenticated client" : named.join(", ");
}
