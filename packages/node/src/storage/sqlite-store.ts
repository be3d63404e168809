// The real acceptor store: one SQLite file per node (better-sqlite3, WAL, synchronous=FULL).
// A promise or an acceptance is only a promise once it is in this file and fsynced, so
// save() commits one Ready in one transaction before the driver lets any message out (with
// zk-node --fsync-off-loop the Ready loop commits with `later: true` and waits for flush(), an
// fdatasync of the WAL on libuv's thread pool).
// Opening refuses, with a one-line StoreError, any file it cannot trust: another cluster's
// or another node's, a newer schema, a corrupt file, or a file that is not zk's at all.
import Database from "better-sqlite3";
import type { Ballot, DurableState, Entry, HardState } from "../paxos/types.js";
import { ZERO_BALLOT, compareBallots, formatBallot } from "../paxos/types.js";
import { closeSync, existsSync, fdatasync, fstatSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { AcceptorStore } from "./store.js";
import { InvariantError } from "../paxos/invariant.js";
import { StoreError } from "./store.js";
import { readMembership, writeMembership, type StoredMembership } from "../membership.js";
import { UNKNOWN_CONFIG, initialConfig } from "../paxos/config.js";
import { WatchEvent } from "../gen/zk/v1/kv.js";
import { encodeWatchBatch } from "../tree/watch-log.js";
import { SnapshotError, fsyncDir, loadSnapshotInto, readSnapshotFile, type SnapshotInfo } from "./snapshot.js";

/** The schema this build writes. A file with a higher version is refused, a lower one migrated. */
export const SCHEMA_VERSION = 6;

/** PRAGMA application_id of every zk database ("zk" 0x7a6b, format 1): tells zk's files apart. */
export const ZK_APPLICATION_ID = 0x7a6b0001;

export type SqliteDatabase = Database.Database;

export interface StoreIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
}

/** A member as the store records it: the cluster's member list is part of its identity. */
export interface StoredMember {
  readonly id: string;
  readonly address: string;
}

export interface SqliteStoreOptions {
  /**
   * Open an existing file without writing to it (for `zk-cli inspect` while the node runs).
   * Identity may then be null; when given it is still checked.
   */
  readonly readonly?: boolean;
  /**
   * Only when the file is new: this store replaces one whose disk was lost. It starts
   * recovering (non-voting) under this incarnation, which must exceed every earlier one of
   * this node (the rebuild's wall-clock ms). See "Recovery" in paxos/core.ts.
   */
  readonly rebuild?: { readonly incarnation: number };
  /**
   * Whether a missing or empty file may be initialised as a new store (default true). zk-node
   * passes false unless it was started with --initial-cluster: a node that lost its disk must
   * not come back as a fresh member. Refused with StoreError code "MISSING".
   */
  readonly create?: boolean;
  /**
   * The cluster's members, recorded in a new store (and in an older one that lacks them), so
   * `zk-cli cluster up --adopt` can rebuild a lost manifest from the stores themselves.
   */
  readonly members?: readonly StoredMember[];
  /**
   * Only when the file is new: a store for a member being added to a running cluster
   * (zk-node --join). Its configuration starts empty: it votes only once the log makes it a
   * voter, and its member list is not the cluster's first (no genesis check on its streams).
   */
  readonly join?: boolean;
}

export interface StoreInfo {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly schemaVersion: number;
  readonly promised: Ballot;
  readonly chosen: number;
  readonly applied: number;
  readonly entryCount: number;
  /** Lowest stored slot, 0 when there are no entries (slots start at 1). */
  readonly firstSlot: number;
  /** Highest stored slot, 0 when there are no entries. */
  readonly lastSlot: number;
  /** The member list recorded at creation; null for a store made before it was recorded. */
  readonly members: readonly StoredMember[] | null;
  /**
   * The configuration this store last applied, and its slot (membership.ts): the members as
   * of that slot, after every change before it. Null for a store that records none (made
   * before membership changes existed, or that has applied nothing since).
   */
  readonly membership: StoredMembership | null;
  /** The slot of the last snapshot point (markSnapshot or an installed snapshot); 0: none. */
  readonly snapshotIndex: number;
  /** The log begins here: no entry below it is stored, or will be (1 until compacted). */
  readonly firstEntrySlot: number;
  /**
   * The node running on this file holds its znode tree in memory (zk-node --tree-in-memory):
   * its tables and applied index are then those of its last checkpoint, and the log after it
   * is applied in the node's memory only (recordTreeInMemory).
   */
  readonly treeInMemory: boolean;
  /** The database file's pages (page_count x page_size), free pages included. */
  readonly dbBytes: number;
  /** Free pages waiting for reuse or for an incremental vacuum. */
  readonly freeBytes: number;
  /** PRAGMA auto_vacuum: "incremental" for stores created since compaction exists, else "none". */
  readonly autoVacuum: "none" | "full" | "incremental";
}

/** Where a store's log begins (logStart()). */
export interface LogStart {
  /** The slot of the last snapshot point (markSnapshot or an installed snapshot); 0: none. */
  readonly snapshotIndex: number;
  /** No entry below this slot is stored, or will be asked for; every slot from it to chosen is. */
  readonly firstEntrySlot: number;
}

/** Meta keys of log compaction (optional: absent until the first snapshot point). */
const META_SNAPSHOT_INDEX = "snapshot_index";
const META_FIRST_ENTRY_SLOT = "first_entry_slot";
/** 1 while the node runs with its tree in memory (recordTreeInMemory); absent otherwise. */
const META_TREE_IN_MEMORY = "tree_in_memory";

/** Entries deleted per compactStep(), by default: one step is a short transaction. */
export const COMPACT_STEP_ROWS_DEFAULT = 2000;
/** Pages freed per compactStep()'s incremental vacuum, by default (1 MiB of 4 KiB pages). */
export const VACUUM_STEP_PAGES_DEFAULT = 256;

export interface CompactStep {
  /** Entries deleted by this step. */
  readonly deleted: number;
  /** Pages returned to the filesystem by this step's incremental vacuum. */
  readonly vacuumedPages: number;
  readonly firstEntrySlot: number;
  /** True when nothing is left to delete below the target and no free page is left to vacuum. */
  readonly done: boolean;
}

/**
 * Migrations, in order: MIGRATIONS[v] takes a database from schema version v to v + 1. The
 * runner wraps each one in a transaction and records the new schema_version in `meta`, so a
 * migration only changes tables. Append to this array; never edit a released step.
 */
export const MIGRATIONS: readonly ((db: SqliteDatabase) => void)[] = [
  // 0 -> 1: identity, acceptor hard state, applied index; accepted entries by slot.
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value
      );
      CREATE TABLE entries (
        slot         INTEGER PRIMARY KEY,
        ballot_round INTEGER NOT NULL,
        ballot_node  TEXT NOT NULL,
        command      BLOB NOT NULL
      );
      INSERT INTO meta (key, value) VALUES
        ('schema_version', 0),
        ('promised_round', 0),
        ('promised_node', ''),
        ('chosen', 0),
        ('applied', 0);
    `);
  },
  // 1 -> 2: the znode tree as of the applied index (src/tree), its sessions, and the request
  // ids remembered for deduplication. The root exists from the start, created at zxid 0.
  (db) => {
    db.exec(`
      CREATE TABLE znodes (
        path            TEXT PRIMARY KEY NOT NULL,
        parent          TEXT NOT NULL,
        data            BLOB NOT NULL,
        version         INTEGER NOT NULL,
        cversion        INTEGER NOT NULL,
        czxid           INTEGER NOT NULL,
        mzxid           INTEGER NOT NULL,
        pzxid           INTEGER NOT NULL,
        ctime_ms        INTEGER NOT NULL,
        mtime_ms        INTEGER NOT NULL,
        ephemeral_owner INTEGER NOT NULL,
        num_children    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX znodes_by_parent ON znodes (parent, path);
      CREATE INDEX znodes_by_owner ON znodes (ephemeral_owner, path) WHERE ephemeral_owner != 0;
      CREATE TABLE sessions (
        id           INTEGER PRIMARY KEY,
        ttl_ms       INTEGER NOT NULL,
        created_zxid INTEGER NOT NULL,
        created_ms   INTEGER NOT NULL,
        renewed_zxid INTEGER NOT NULL,
        renewed_ms   INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE requests (
        zxid       INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        result     BLOB,
        error      BLOB,
        CHECK ((result IS NULL) != (error IS NULL))
      ) STRICT;
      INSERT INTO znodes VALUES ('/', '', x'', 0, 0, 0, 0, 0, 0, 0, 0, 0);
    `);
  },
  // 2 -> 3: the watch history: every event the tree emitted, by zxid, so a watch can resume
  // from a zxid after a reconnect. Pruned to a window of recent zxids.
  (db) => {
    db.exec(`
      CREATE TABLE watch_events (
        zxid  INTEGER NOT NULL,
        seq   INTEGER NOT NULL,
        event BLOB NOT NULL,
        PRIMARY KEY (zxid, seq)
      ) STRICT, WITHOUT ROWID;
    `);
  },
  // 3 -> 4: the leader time of each remembered request, so that the deduplication window is
  // a time (at least the longest client retry) and not only a number of slots (src/tree/tree.ts).
  // Rows from before have time 0: they are kept by the slot rule alone, as before.
  (db) => {
    db.exec(`
      ALTER TABLE requests ADD COLUMN time_ms INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX requests_by_time ON requests (time_ms, zxid);
    `);
  },
  // 4 -> 5: znode attributes beyond the Stat (src/tree/attrs.ts): the ACL (canonical JSON of
  // src/tree/acl.ts), its version, and the container/TTL kind; a row only for a node with any
  // of them not at its default.
  (db) => {
    db.exec(`
      CREATE TABLE znode_attrs (
        path     TEXT PRIMARY KEY NOT NULL,
        acl      TEXT NOT NULL,
        aversion INTEGER NOT NULL,
        kind     INTEGER NOT NULL,
        ttl_ms   INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX znode_attrs_by_kind ON znode_attrs (kind, path) WHERE kind != 0;
    `);
  },
  // 5 -> 6: the watch history as one row per apply transaction (src/tree/watch-log.ts): the
  // batch's last and first zxid and its events, length-delimited. The old rows (one per
  // event) become one batch per zxid. And requests_by_time goes (below).
  (db) => {
    db.exec(`
      CREATE TABLE watch_batches (
        last_zxid  INTEGER PRIMARY KEY,
        first_zxid INTEGER NOT NULL,
        events     BLOB NOT NULL
      ) STRICT;
    `);
    const insert = db.prepare<[number, number, Uint8Array]>("INSERT INTO watch_batches (last_zxid, first_zxid, events) VALUES (?, ?, ?)");
    const page = db.prepare<[number, number], { zxid: number; event: Uint8Array }>("SELECT zxid, event FROM watch_events WHERE zxid >= ? AND zxid < ? ORDER BY zxid, seq");
    const range = db.prepare<[], { lo: number | null; hi: number | null }>("SELECT min(zxid) AS lo, max(zxid) AS hi FROM watch_events").get()!;
    // In pages of zxids (the connection cannot insert while a query is open, and the window
    // is as large as --watch-history-slots made it).
    for (let from = range.lo ?? 1; range.hi !== null && from <= range.hi; from += MIGRATE_PAGE_ZXIDS) {
      const byZxid = new Map<number, WatchEvent[]>();
      for (const row of page.all(from, from + MIGRATE_PAGE_ZXIDS)) {
        const evs = byZxid.get(row.zxid) ?? [];
        evs.push(WatchEvent.decode(row.event));
        byZxid.set(row.zxid, evs);
      }
      for (const [zxid, evs] of byZxid) insert.run(zxid, zxid, encodeWatchBatch(evs));
    }
    db.exec("DROP TABLE watch_events");
    // And the deduplication rows lose their time index: a key's time never goes down as its
    // zxid goes up, so eviction finds the rows out of the window by a binary search on zxid
    // (src/tree/tree.ts), and one B-tree less is written per write.
    db.exec("DROP INDEX requests_by_time");
  },
];

/** Zxids of old watch history converted per query by migration 5 -> 6. */
const MIGRATE_PAGE_ZXIDS = 4096;

if (MIGRATIONS.length !== SCHEMA_VERSION) {
  throw new Error(`zk: bug: ${MIGRATIONS.length} migrations for schema version ${SCHEMA_VERSION}`);
}

interface MetaRow {
  readonly key: string;
  readonly value: unknown;
}

interface EntryRow {
  readonly slot: number;
  readonly ballot_round: number;
  readonly ballot_node: string;
  readonly command: Uint8Array;
}

interface Meta {
  readonly schemaVersion: number;
  readonly clusterId: string;
  readonly nodeId: string;
  readonly promised: Ballot;
  readonly chosen: number;
  readonly applied: number;
  /** Optional keys (absent in stores that were never rebuilt): see HardState. */
  readonly recovering: boolean;
  readonly incarnation: number;
  readonly incarnations: Readonly<Record<string, number>>;
  readonly members: readonly StoredMember[] | null;
  readonly snapshotIndex: number;
  readonly firstEntrySlot: number;
  readonly treeInMemory: boolean;
}

/** Entries per multi-row INSERT in save() (4 bound values each; SQLite allows 32,766). */
const ENTRY_INSERT_ROWS_MAX = 64;

/** The size of probeWrite's row: a few pages, like a small Ready. */
const PROBE_BYTES = 64 * 1024;

const OPEN_ADVICE = "point --data-dir at this node's own directory or move the file aside";

export class SqliteAcceptorStore implements AcceptorStore {
  /**
   * Open (creating if absent) the store at `path` for this node. Throws StoreError when the
   * file belongs to another cluster or node, has a newer schema, is corrupt, or is not zk's.
   */
  static open(path: string, identity: StoreIdentity, opts?: SqliteStoreOptions): SqliteAcceptorStore;
  /** Open an existing store read-only; `identity`, when not null, must match the file. */
  static open(
    path: string,
    identity: StoreIdentity | null,
    opts: SqliteStoreOptions & { readonly readonly: true },
  ): SqliteAcceptorStore;
  static open(path: string, identity: StoreIdentity | null, opts: SqliteStoreOptions = {}): SqliteAcceptorStore {
    const readonly = opts.readonly === true;
    if (identity === null && !readonly) {
      throw new TypeError("zk: SqliteAcceptorStore.open needs the node's identity unless readonly");
    }
    if (identity !== null) {
      if (identity.clusterId === "" || identity.nodeId === "") {
        throw new TypeError("zk: SqliteAcceptorStore.open needs a non-empty clusterId and nodeId");
      }
    }

    let db: SqliteDatabase;
    const mustExist = readonly || (opts.create === false && opts.rebuild === undefined);
    try {
      db = mustExist ? new Database(path, { readonly, fileMustExist: true }) : new Database(path);
    } catch (err) {
      if (mustExist && !readonly && (err as { code?: string }).code === "SQLITE_CANTOPEN") {
        throw new StoreError(`zk: ${path} does not exist`, "MISSING");
      }
      throw new Error(
        `zk: cannot open ${path}${readonly ? " read-only" : ""}: ${oneLine(errorMessage(err))}; ` +
          (readonly ? "check that the file exists and is readable" : "check that its directory exists and is writable"),
        { cause: err },
      );
    }

    try {
      // Connection settings only; nothing is written to the file before we know it is ours.
      db.pragma("foreign_keys = ON");
      if (!readonly) db.pragma("synchronous = FULL");

      const meta = readonly ? openExisting(db, path, identity) : openWritable(db, path, identity as StoreIdentity, opts);
      return new SqliteAcceptorStore(db, path, readonly, meta);
    } catch (err) {
      db.close();
      throw toStoreError(err, path);
    }
  }

  private readonly statements: Statements;
  private readonly saveTxn: (hardState: HardState | null, entries: readonly Entry[]) => void;
  private readonly runTxn: (fn: () => unknown) => unknown;
  /** Multi-row entry INSERTs by row count (entryInsert). */
  private readonly entryInserts: (Database.Statement<unknown[]> | undefined)[] = [];
  /** The bound values of one entry INSERT, reused. */
  private readonly entryArgs: unknown[] = [];
  /** What the file holds, as of the last committed write of this connection (writer only). */
  private hardState: HardState;
  /** The connection's current synchronous mode (FULL unless a transaction asked otherwise). */
  private syncFull = true;
  private appliedIndex: number;
  /** Compaction's target (markSnapshot): entries below it may go. In memory: a restart waits for the next snapshot point. */
  private compactBelow = 1;
  private closed = false;
  /** The write-ahead log, opened by the first flush() (fdatasync through it). */
  private walFd: number | null = null;

  private constructor(
    private readonly database: SqliteDatabase,
    /** The file this store was opened from, for messages. */
    readonly path: string,
    readonly readonly: boolean,
    private readonly openedMeta: Meta,
  ) {
    this.hardState = metaHardState(openedMeta);
    this.appliedIndex = openedMeta.applied;
    this.statements = prepareStatements(database);
    this.saveTxn = database.transaction((hardState: HardState | null, entries: readonly Entry[]) => this.writeSave(hardState, entries));
    // One wrapper for every transaction() call: database.transaction(fn) builds four new
    // functions per call, once per Ready on the write path.
    this.runTxn = database.transaction((fn: () => unknown) => fn());
  }

  /** save()'s writes, in the transaction the caller holds. */
  private writeSave(hardState: HardState | null, entries: readonly Entry[]): void {
    // One multi-row INSERT per ENTRY_INSERT_ROWS_MAX entries instead of one per entry: each
    // statement run is a crossing into SQLite and a B-tree descent of its own.
    for (let i = 0; i < entries.length; i += ENTRY_INSERT_ROWS_MAX) {
      const n = Math.min(ENTRY_INSERT_ROWS_MAX, entries.length - i);
      const args = this.entryArgs;
      args.length = 4 * n;
      for (let j = 0; j < n; j++) {
        const e = entries[i + j]!;
        args[4 * j] = e.slot;
        args[4 * j + 1] = e.ballot.round;
        args[4 * j + 2] = e.ballot.nodeId;
        args[4 * j + 3] = e.command;
      }
      this.entryInsert(n).run(args);
    }
    this.entryArgs.length = 0;
    if (hardState !== null) {
      // Written unconditionally, not skipped when the cache says unchanged: a cache that
      // drifted from the file (a rolled-back outer transaction) must not cost a promise.
      // One statement for the three rows (they exist in every store: migration 0 -> 1).
      const r = this.statements.hardStateSet.run(hardState.promised.round, hardState.promised.nodeId, hardState.chosen);
      if (r.changes !== 3) throw new Error(`zk: bug: the hard state's meta keys are missing from ${this.path}`);
      if (hardState.recovering !== undefined) this.statements.metaUpsert.run("recovering", hardState.recovering ? 1 : 0);
      if (hardState.incarnations !== undefined) this.statements.metaUpsert.run("incarnations", JSON.stringify(hardState.incarnations));
    }
  }

  /** The INSERT of `rows` entries, prepared once per row count (at most ENTRY_INSERT_ROWS_MAX statements). */
  private entryInsert(rows: number): Database.Statement<unknown[]> {
    let st = this.entryInserts[rows];
    if (st === undefined) {
      const values = Array.from({ length: rows }, () => "(?, ?, ?, ?)").join(", ");
      st = this.database.prepare<unknown[]>(`INSERT OR REPLACE INTO entries (slot, ballot_round, ballot_node, command) VALUES ${values}`);
      this.entryInserts[rows] = st;
    }
    return st;
  }

  /** The underlying connection, for layers that keep their own tables in the same file. */
  get db(): SqliteDatabase {
    return this.database;
  }

  /**
   * The hard state and the accepted entries from `entriesFrom` on (older ones: entry()/entries()).
   * A compacted log starts later: `entriesFrom` is then raised to `firstEntrySlot`, so the core
   * treats everything below as compacted (every such slot is chosen and applied here).
   */
  load(opts: { entriesFrom?: number } = {}): DurableState & { readonly entriesFrom: number } {
    this.assertOpen();
    return this.guard(() =>
      this.readTxn(() => {
        const meta = parseMeta(this.statements.metaAll.all(), this.path);
        const entriesFrom = Math.max(opts.entriesFrom ?? 1, meta.firstEntrySlot);
        const entries = this.statements.entriesFrom.all(entriesFrom).map(rowToEntry);
        // Entries below firstEntrySlot were deleted by compaction (what the core calls discarded).
        return { hardState: metaHardState(meta), entries, entriesFrom, discardedTo: meta.firstEntrySlot - 1 };
      }),
    );
  }

  /** Where the log begins: the last snapshot point and the first stored entry's slot. */
  logStart(): LogStart {
    this.assertOpen();
    const meta = this.guard(() => parseMeta(this.statements.metaAll.all(), this.path));
    return { snapshotIndex: meta.snapshotIndex, firstEntrySlot: meta.firstEntrySlot };
  }

  /** LogReader: one stored entry. */
  entry(slot: number): Entry | undefined {
    const row = this.guard(() => this.statements.entryOne.get(slot));
    return row === undefined ? undefined : rowToEntry(row);
  }

  /** LogReader: stored entries from..to, ascending. */
  entries(from: number, to: number): Entry[] {
    if (to < from) return [];
    return this.guard(() => this.statements.entriesRange.all(from, to, to - from + 1).map(rowToEntry));
  }

  /** The promise as last written (committed or in the current transaction). */
  get persistedPromise(): Ballot {
    return this.hardState.promised;
  }

  /** The chosen index as last written (committed or in the current transaction). */
  get persistedChosen(): number {
    return this.hardState.chosen;
  }

  save(hardState: HardState | null, entries: readonly Entry[]): void {
    this.assertWritable();
    if (!this.syncFull && !this.database.inTransaction) {
      this.database.exec("PRAGMA synchronous = FULL");
      this.syncFull = true;
    }
    if (hardState === null && entries.length === 0) return;
    for (const e of entries) assertEntry(e);
    if (hardState !== null) this.assertHardStateAdvances(hardState);
    // Inside the caller's transaction (a Ready's), the writes go straight into it: no
    // SAVEPOINT of their own. A failure here throws out of that transaction, which rolls back
    // all of it (and transaction() restores the cached state), so nothing of a Ready is left half
    // written either way; a savepoint would only matter to a caller that caught the error and
    // committed the rest, which none does.
    this.guard(() => (this.database.inTransaction ? this.writeSave(hardState, entries) : this.saveTxn(hardState, entries)));
    // Only after the commit: a rolled-back save must leave the cache as the file is.
    if (hardState !== null) {
      this.hardState = {
        promised: { round: hardState.promised.round, nodeId: hardState.promised.nodeId },
        chosen: hardState.chosen,
        ...(hardState.recovering ?? this.hardState.recovering ? { recovering: true } : {}),
        ...((hardState.incarnations ?? this.hardState.incarnations) !== undefined ? { incarnations: hardState.incarnations ?? this.hardState.incarnations } : {}),
      };
    }
  }

  applied(): number {
    this.assertOpen();
    if (!this.readonly) return this.appliedIndex;
    return this.guard(() => parseMeta(this.statements.metaAll.all(), this.path).applied);
  }

  /**
   * Record that the state machine has applied every slot up to `n`. Call it inside
   * transaction() together with the state machine's own writes, so a restart resumes
   * exactly where the node stopped.
   */
  setApplied(n: number): void {
    this.assertWritable();
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`zk: bug: applied index ${n} is not a slot`);
    if (n < this.appliedIndex) {
      throw new InvariantError(`zk: bug: applied index would go back from ${this.appliedIndex} to ${n}`);
    }
    if (n === this.appliedIndex) return;
    this.guard(() => this.setMeta("applied", n));
    // Inside transaction() this write may still roll back; transaction() then restores the
    // cached index. (Wrapping setApplied in a raw db.transaction instead would not.)
    this.appliedIndex = n;
  }

  /**
   * Run `fn` in one SQLite transaction (a savepoint when nested): its writes, setApplied()
   * and save() included, commit together or not at all.
   * - `durable` (the default): fsynced before this returns (synchronous=FULL).
   * - `durable: false`: no fsync (synchronous=NORMAL: WAL order still holds, so a power cut
   *   loses a suffix of such commits, never part of one, and never a durable commit made
   *   before them).
   * - `later: true`: committed like `durable: false`, and durable once a flush() asked for
   *   after it reports success. The fsync then runs on libuv's thread pool while the event
   *   loop goes on (group commit that overlaps the fsync with the next batch).
   */
  transaction<T>(fn: () => T, opts: { durable?: boolean; later?: boolean } = {}): T {
    this.assertOpen();
    const durable = (opts.durable ?? true) && opts.later !== true;
    if (durable !== this.syncFull && !this.database.inTransaction) {
      // Not a statement prepared once: SQLite applies PRAGMA synchronous when the statement
      // is prepared, and running a prepared one again changes nothing. exec() prepares and
      // steps it in native code without building a statement object (db.pragma() does).
      this.database.exec(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
      this.syncFull = durable;
    }
    const before = { hardState: this.hardState, applied: this.appliedIndex };
    try {
      return this.guard(() => this.runTxn(fn) as T);
    } catch (err) {
      this.hardState = before.hardState;
      this.appliedIndex = before.applied;
      throw err;
    }
  }

  /**
   * A small real write, committed durably and then removed: whether the disk takes writes
   * again (a node in a disk alarm calls it every second, after a WAL checkpoint that returns
   * the log's space). Throws what a real write would.
   */
  probeWrite(bytes = PROBE_BYTES): void {
    this.assertWritable();
    // First give back what the write-ahead log holds: on a small disk the WAL (which only
    // shrinks at a checkpoint) may be what filled it. Copying it into the file needs little
    // room, as most WAL frames are older versions of the same pages.
    try {
      this.database.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // no room even for that: the probe below fails and says so
    }
    this.transaction(() => this.database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('disk_probe', zeroblob(?))").run(bytes));
    this.transaction(() => this.database.prepare("DELETE FROM meta WHERE key = 'disk_probe'").run());
  }

  /**
   * Record whether the node running on this file holds its tree in memory (info().treeInMemory),
   * for readers (zk-cli inspect). Called at start; written only when it changes.
   */
  recordTreeInMemory(on: boolean): void {
    this.assertWritable();
    if (this.guard(() => parseMeta(this.statements.metaAll.all(), this.path)).treeInMemory === on) return;
    this.transaction(() => {
      if (on) this.statements.metaUpsert.run(META_TREE_IN_MEMORY, 1);
      else this.database.prepare("DELETE FROM meta WHERE key = ?").run(META_TREE_IN_MEMORY);
    });
  }

  /** A summary of the file, read fresh (it sees the writer's commits in readonly mode). */
  info(): StoreInfo {
    this.assertOpen();
    return this.guard(() =>
      this.readTxn(() => {
        const meta = parseMeta(this.statements.metaAll.all(), this.path);
        const stats = this.statements.entryStats.get();
        if (stats === undefined) throw new Error("zk: bug: count(*) returned no row");
        return {
          clusterId: meta.clusterId,
          nodeId: meta.nodeId,
          schemaVersion: meta.schemaVersion,
          promised: meta.promised,
          chosen: meta.chosen,
          applied: meta.applied,
          entryCount: stats.n,
          firstSlot: stats.lo ?? 0,
          lastSlot: stats.hi ?? 0,
          members: meta.members,
          membership: readMembership(this.database),
          snapshotIndex: meta.snapshotIndex,
          firstEntrySlot: meta.firstEntrySlot,
          treeInMemory: meta.treeInMemory,
          ...this.pageStats(),
        };
      }),
    );
  }

  /** Stored entries with `from <= slot <= to`, ascending, at most `limit` of them. */
  readEntries(from: number, to: number, limit: number): Entry[] {
    this.assertOpen();
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`zk: limit ${limit} must be an integer >= 0`);
    if (limit === 0 || to < from) return [];
    return this.guard(() => this.statements.entriesRange.all(from, to, limit).map(rowToEntry));
  }

  // ---- Snapshots and compaction ------------------------------------------------------------

  /**
   * Replace this store's state machine with the snapshot in `file` (storage/snapshot.ts), in
   * ONE durable transaction: the tree, sessions and dedup rows become the snapshot's, the
   * applied index its slot, the chosen index at least its slot, entries up to its slot go and
   * the log begins after it. A crash or a damaged file leaves the old state whole. `clusterId`,
   * when given, must be the snapshot's (an install from a peer; a restore makes a new cluster).
   * A snapshot behind the applied index is refused (it would take the state back).
   */
  installSnapshot(file: string, opts: { readonly clusterId?: string } = {}): SnapshotInfo {
    this.assertWritable();
    if (this.database.inTransaction) throw new Error("zk: bug: installSnapshot runs its own transaction");
    // Truncation and damage are found before the transaction starts writing (the footer) or
    // roll it back (the checksum, read at the end).
    return this.transaction(() => {
      const info = loadSnapshotInto(this.database, file, opts);
      const slot = info.header.slot;
      if (slot < this.appliedIndex) {
        throw new SnapshotError(`${file} is at slot ${slot}, behind this store's applied index ${this.appliedIndex}; installing it would take the state back`);
      }
      this.database.prepare("DELETE FROM entries WHERE slot <= ?").run(slot);
      if (slot > this.hardState.chosen) this.save({ ...this.hardState, chosen: slot }, []);
      this.setApplied(slot);
      this.statements.metaUpsert.run(META_SNAPSHOT_INDEX, slot);
      this.statements.metaUpsert.run(META_FIRST_ENTRY_SLOT, slot + 1);
      return info;
    });
  }

  /**
   * A new store at `dbPath` holding the snapshot in `file`, for a member of a new cluster
   * (`zk-cli snapshot restore`): built in a temp file beside it and renamed into place, so a
   * crash leaves no store or a whole one. Refused if `dbPath` exists. The store's promise is
   * empty, its chosen and applied index the snapshot's slot, its log empty from slot + 1.
   */
  static createFromSnapshot(file: string, dbPath: string, identity: StoreIdentity, members: readonly StoredMember[]): SnapshotInfo {
    if (existsSync(dbPath)) throw new StoreError(`zk: ${dbPath} already exists; restore into an empty data dir`, "EXISTS");
    const tmp = `${dbPath}.restoring`;
    const removeTmp = () => {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    };
    removeTmp();
    let ok = false;
    try {
      const store = SqliteAcceptorStore.open(tmp, identity, { members });
      let info: SnapshotInfo;
      try {
        info = store.installSnapshot(file);
        // A new cluster: its first configuration is the restore's members, at the snapshot's slot.
        writeMembership(store.db, info.header.slot, initialConfig(members));
        // Everything into the main file, so the rename moves all of it (the -wal is not renamed).
        store.db.pragma("wal_checkpoint(TRUNCATE)");
      } finally {
        store.close();
      }
      if (existsSync(`${tmp}-wal`) && !isEmptyFile(`${tmp}-wal`)) throw new Error(`zk: ${tmp}-wal was left behind after closing; not renaming a store whose log is not in it`);
      renameSync(tmp, dbPath);
      fsyncDir(dirname(dbPath));
      removeTmp();
      ok = true;
      return info;
    } finally {
      if (!ok) removeTmp();
    }
  }

  /**
   * Record a snapshot point: the state at `snapshotIndex` (at most the applied index; the store
   * holds it, so no file is written) is the log's new base, and compactStep() may delete the
   * entries below `snapshotIndex - retainEntries + 1`. Cheap: one meta row.
   */
  markSnapshot(snapshotIndex: number, retainEntries: number): void {
    this.assertWritable();
    if (!Number.isSafeInteger(snapshotIndex) || snapshotIndex < 0) throw new RangeError(`zk: bug: snapshot index ${snapshotIndex} is not a slot`);
    if (!Number.isSafeInteger(retainEntries) || retainEntries < 0) throw new RangeError(`zk: retainEntries ${retainEntries} must be an integer >= 0`);
    // Only applied slots are known chosen here: entries above may still be replaced.
    if (snapshotIndex > this.appliedIndex) throw new Error(`zk: bug: snapshot at ${snapshotIndex} is past the applied index ${this.appliedIndex}`);
    const meta = parseMeta(this.statements.metaAll.all(), this.path);
    if (snapshotIndex < meta.snapshotIndex) return;
    this.transaction(() => this.statements.metaUpsert.run(META_SNAPSHOT_INDEX, snapshotIndex), { durable: false });
    // The latest call rules: a caller that must now keep more (a follower fell behind) lowers it.
    this.compactBelow = Math.max(snapshotIndex - retainEntries + 1, meta.firstEntrySlot);
  }

  /**
   * One bounded step of compaction: delete at most `rowsMax` entries below the target of the
   * last markSnapshot() and move firstEntrySlot up (one short transaction), then return at most
   * `vacuumPagesMax` free pages to the filesystem (PRAGMA incremental_vacuum; only in stores
   * with auto_vacuum=INCREMENTAL). Call it again until `done`, between other work: no step
   * holds the database for long. Not inside another transaction.
   */
  compactStep(opts: { readonly rowsMax?: number; readonly vacuumPagesMax?: number } = {}): CompactStep {
    this.assertWritable();
    if (this.database.inTransaction) throw new Error("zk: bug: compactStep runs its own transactions");
    const rowsMax = opts.rowsMax ?? COMPACT_STEP_ROWS_DEFAULT;
    const pagesMax = opts.vacuumPagesMax ?? VACUUM_STEP_PAGES_DEFAULT;
    const { deleted, firstEntrySlot } = this.transaction(
      () => {
        const first = parseMeta(this.statements.metaAll.all(), this.path).firstEntrySlot;
        const target = this.compactBelow;
        if (target <= first) return { deleted: 0, firstEntrySlot: first };
        // The slots left in [first, target) are at most rowsMax rows: a bounded delete.
        // min(slot) is one index probe; count(*) would scan every entry (80 ms at 200,000 of 1 KiB).
        const lowest = this.statements.lowestSlot.get()?.lo ?? target;
        const to = Math.min(target, Math.max(first, lowest) + rowsMax);
        const r = this.database.prepare("DELETE FROM entries WHERE slot < ?").run(to);
        this.statements.metaUpsert.run(META_FIRST_ENTRY_SLOT, to);
        return { deleted: r.changes, firstEntrySlot: to };
      },
      // Losing this to a power cut brings back entries and the old firstEntrySlot together.
      { durable: false },
    );
    let vacuumedPages = 0;
    let freeLeft = 0;
    if (this.pageStats().autoVacuum === "incremental") {
      const before = this.freePages();
      this.guard(() => this.database.pragma(`incremental_vacuum(${pagesMax})`));
      freeLeft = this.freePages();
      vacuumedPages = Math.max(0, before - freeLeft);
    }
    return { deleted, vacuumedPages, firstEntrySlot, done: firstEntrySlot >= this.compactBelow && freeLeft === 0 };
  }

  private pageStats(): { dbBytes: number; freeBytes: number; autoVacuum: "none" | "full" | "incremental" } {
    const pageSize = this.database.pragma("page_size", { simple: true }) as number;
    const pages = this.database.pragma("page_count", { simple: true }) as number;
    const mode = this.database.pragma("auto_vacuum", { simple: true }) as number;
    return { dbBytes: pages * pageSize, freeBytes: this.freePages() * pageSize, autoVacuum: mode === 2 ? "incremental" : mode === 1 ? "full" : "none" };
  }

  private freePages(): number {
    return this.database.pragma("freelist_count", { simple: true }) as number;
  }

  /**
   * Make every transaction committed so far durable: fdatasync the write-ahead log on libuv's
   * thread pool, then `done(null)`; `done(err)` when the disk did not take it (what was
   * committed since the last successful flush may then be lost). A checkpoint needs no care
   * here: with synchronous=NORMAL SQLite syncs the log before it copies pages into the file,
   * and the file before the log is reused.
   */
  flush(done: (err: Error | null) => void): void {
    this.assertOpen();
    const wal = `${this.path}-wal`;
    // SQLite keeps its log while a connection holds it; should it ever delete it and make a new
    // one, the descriptor would sync a file nobody writes: reopen it (a deleted file has no links).
    if (this.walFd !== null) {
      let gone: boolean;
      try {
        gone = fstatSync(this.walFd).nlink === 0;
      } catch (err) {
        return done(flushError(wal, err));
      }
      if (gone) {
        closeSync(this.walFd);
        this.walFd = null;
      }
    }
    if (this.walFd === null) {
      try {
        this.walFd = openSync(wal, "r");
        // A log file just created must be found after a power cut too (SQLite syncs the
        // directory on the first sync of a new log; with NORMAL that would be at a checkpoint).
        fsyncDir(dirname(this.path));
      } catch (err) {
        return done(flushError(wal, err));
      }
    }
    fdatasync(this.walFd, (err) => done(err === null ? null : flushError(wal, err)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.database.close();
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
  }

  /**
   * The member list the cluster was created with, if this store was created with it (not by
   * --join or a rebuild, which do not know it): peers compare theirs on every stream
   * (net/peer-transport.ts), so two clusters made with one id cannot count each other's votes.
   */
  get genesisMembers(): readonly StoredMember[] | null {
    if (this.openedMeta.incarnation !== 0) return null;
    const joined = this.db.prepare("SELECT 1 FROM meta WHERE key = 'joined'").get() !== undefined;
    return joined ? null : this.openedMeta.members;
  }

  /** This store's incarnation: 0 unless it was created by a rebuild (see `rebuild`). */
  get incarnation(): number {
    return this.openedMeta.incarnation;
  }

  /** The identity and schema the file had when it was opened. */
  get identity(): StoreIdentity & { readonly schemaVersion: number } {
    const m = this.openedMeta;
    return { clusterId: m.clusterId, nodeId: m.nodeId, schemaVersion: m.schemaVersion };
  }

  private setMeta(key: string, value: number | string): void {
    const r = this.statements.metaSet.run(value, key);
    if (r.changes !== 1) throw new Error(`zk: bug: meta key ${key} missing from ${this.path}`);
  }

  /** A consistent snapshot for multi-statement reads (a reader may run beside the writer). */
  private readTxn<T>(fn: () => T): T {
    if (this.database.inTransaction) return fn();
    return this.database.transaction(fn).deferred();
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`zk: bug: ${this.path} used after close()`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readonly) throw new Error(`zk: ${this.path} was opened read-only; it cannot be written`);
  }

  // A promise never goes back and a chosen slot never becomes unchosen; a Ready that says
  // otherwise is a core bug, and persisting it would break the promises already made.
  private assertHardStateAdvances(next: HardState): void {
    const prev = this.hardState;
    if (!Number.isSafeInteger(next.promised.round) || next.promised.round < 0) {
      throw new RangeError(`zk: bug: promised round ${next.promised.round} is not a round`);
    }
    if (!Number.isSafeInteger(next.chosen) || next.chosen < 0) {
      throw new RangeError(`zk: bug: chosen index ${next.chosen} is not a slot`);
    }
    if (compareBallots(next.promised, prev.promised) < 0) {
      throw new InvariantError(
        `zk: bug: promised ballot would go back from ${formatBallot(prev.promised)} to ${formatBallot(next.promised)}`,
      );
    }
    if (next.chosen < prev.chosen) {
      throw new InvariantError(`zk: bug: chosen index would go back from ${prev.chosen} to ${next.chosen}`);
    }
  }
}

// ---- Opening ------------------------------------------------------------------------------

/** Classify the file by reading only; initialise it when new; migrate it when old. */
function openWritable(db: SqliteDatabase, path: string, identity: StoreIdentity, opts: SqliteStoreOptions): Meta {
  const appId = readApplicationId(db);
  const objects = db.prepare<[], number>("SELECT count(*) FROM sqlite_master").pluck().get() ?? 0;
  if (appId === 0 && objects === 0) {
    if (opts.create === false && opts.rebuild === undefined) throw new StoreError(`zk: ${path} is empty (no zk store in it)`, "MISSING");
    // New (or empty) file. WAL cannot be switched inside a transaction; a crash between the
    // two leaves an empty WAL-mode file, which the next open initialises again.
    // auto_vacuum can only be chosen before the first table: INCREMENTAL lets compaction
    // return the log's pages to the filesystem in bounded steps (compactStep). Older files
    // keep NONE (switching needs a full VACUUM): their freed pages are reused instead.
    db.pragma("auto_vacuum = INCREMENTAL");
    setWal(db, path);
    initialise(db, identity, opts.rebuild, opts.members ?? null, opts.join === true);
    return readMeta(db, path);
  }
  checkIsZk(db, path, appId);
  checkIntegrity(db, path);
  let meta = readMeta(db, path);
  checkSchemaNotNewer(meta, path);
  checkIdentity(meta, identity, path);
  // A store that records its configuration (membership.ts) takes its quorums from it, not from
  // --peers, which then only gives addresses: a restart with other flags cannot change them.
  const hasMembership = db.prepare("SELECT 1 FROM meta WHERE key = 'membership'").get() !== undefined;
  if (opts.members !== undefined && meta.members !== null && !hasMembership) checkMembers(meta.members, opts.members, path);
  setWal(db, path);
  if (meta.schemaVersion < SCHEMA_VERSION) {
    migrate(db, meta.schemaVersion);
    meta = readMeta(db, path);
  }
  if (meta.members === null && opts.members !== undefined) {
    // A store made before members were recorded: record them now (the first start since).
    db.prepare("INSERT INTO meta (key, value) VALUES ('members', ?)").run(JSON.stringify(opts.members));
    meta = readMeta(db, path);
  }
  return meta;
}

function openExisting(db: SqliteDatabase, path: string, identity: StoreIdentity | null): Meta {
  const appId = readApplicationId(db);
  checkIsZk(db, path, appId);
  checkIntegrity(db, path);
  const meta = readMeta(db, path);
  checkSchemaNotNewer(meta, path);
  if (identity !== null) checkIdentity(meta, identity, path);
  return meta;
}

function readApplicationId(db: SqliteDatabase): number {
  // Also the first read of the file: a file that is not SQLite fails here with SQLITE_NOTADB.
  return db.prepare<[], number>("PRAGMA application_id").pluck().get() ?? 0;
}

function setWal(db: SqliteDatabase, path: string): void {
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") {
    throw new Error(`zk: ${path} cannot use WAL journaling (got "${String(mode)}"); put --data-dir on a local filesystem`);
  }
}

/** Everything a new file gets, in one transaction: a crash leaves either nothing or all of it. */
function initialise(db: SqliteDatabase, identity: StoreIdentity, rebuild: { readonly incarnation: number } | undefined, members: readonly StoredMember[] | null, join: boolean): void {
  if (rebuild !== undefined && (!Number.isSafeInteger(rebuild.incarnation) || rebuild.incarnation < 1)) {
    throw new RangeError(`zk: bug: rebuild incarnation ${rebuild.incarnation} must be a positive integer`);
  }
  db.transaction(() => {
    db.pragma(`application_id = ${ZK_APPLICATION_ID}`);
    migrate(db, 0);
    const put = db.prepare<[string, string | number]>("INSERT INTO meta (key, value) VALUES (?, ?)");
    put.run("cluster_id", identity.clusterId);
    put.run("node_id", identity.nodeId);
    if (rebuild !== undefined) {
      put.run("incarnation", rebuild.incarnation);
      put.run("recovering", 1);
    }
    if (members !== null) put.run("members", JSON.stringify(members));
    // The configuration in force (membership.ts): the cluster's first for a new cluster (or a
    // rebuilt member, until the log it catches up from says otherwise); none for a joiner.
    if (join) {
      put.run("joined", 1);
      writeMembership(db, 0, UNKNOWN_CONFIG);
    } else if (members !== null) {
      writeMembership(db, 0, initialConfig(members));
    }
  }).immediate();
}

function migrate(db: SqliteDatabase, from: number): void {
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v];
    if (step === undefined) throw new Error(`zk: bug: no migration from schema version ${v}`);
    db.transaction(() => {
      step(db);
      const r = db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(v + 1);
      if (r.changes !== 1) throw new Error(`zk: bug: migration ${v} -> ${v + 1} left no schema_version`);
    }).immediate();
  }
}

function checkIsZk(db: SqliteDatabase, path: string, appId: number): void {
  if (appId !== ZK_APPLICATION_ID) {
    const what = appId === 0 ? "has no zk application id" : `has application_id 0x${(appId >>> 0).toString(16)}`;
    throw new StoreError(
      `zk: ${path} is a SQLite database of another application (${what}); ${OPEN_ADVICE}`,
      "NOT_ZK",
    );
  }
  const hasMeta = db
    .prepare<[], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    .pluck()
    .get();
  if (hasMeta !== 1) {
    throw new StoreError(`zk: ${path} carries zk's application id but has no meta table; ${OPEN_ADVICE}`, "NOT_ZK");
  }
}

function checkIntegrity(db: SqliteDatabase, path: string): void {
  // quick_check: O(file) like integrity_check but skips index-vs-table cross checks, which
  // keeps start-up fast; it still finds broken pages, which is what a bad disk produces.
  const problems = db.prepare<[], string>("PRAGMA quick_check").pluck().all();
  if (problems.length === 1 && problems[0] === "ok") return;
  const first = oneLine(String(problems[0] ?? "no result")).replace(/^\*\*\* in database \w+ \*\*\* /, "");
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  throw new StoreError(`zk: ${path} failed SQLite's integrity check: ${first}${more}; ${CORRUPT_ADVICE}`, "CORRUPT");
}

// Rebuilding from the other members must not count this node toward a quorum until it has
// re-learned what it promised (DESIGN.md): that is what --rejoin does; a fresh store would not.
const CORRUPT_ADVICE =
  "do not serve from it: move it (and its -wal and -shm files) aside, then restart this node with --rejoin to rejoin as a non-voting recovering member (README \"Troubleshooting\")";

function checkSchemaNotNewer(meta: Meta, path: string): void {
  if (meta.schemaVersion > SCHEMA_VERSION) {
    throw new StoreError(
      `zk: ${path} has schema version ${meta.schemaVersion}, newer than this zk-node supports (${SCHEMA_VERSION}); upgrade zk-node`,
      "SCHEMA_TOO_NEW",
    );
  }
}

function checkIdentity(meta: Meta, identity: StoreIdentity, path: string): void {
  if (meta.clusterId !== identity.clusterId) {
    throw new StoreError(
      `zk: ${path} belongs to cluster ${JSON.stringify(meta.clusterId)}, not ${JSON.stringify(identity.clusterId)}; if this node is a member of ${JSON.stringify(meta.clusterId)}, start it with that --cluster-id; otherwise point --data-dir at its own directory for this cluster (this store is another cluster's member: move it, with its -wal and -shm files, rather than delete it)`,
      "CLUSTER_MISMATCH",
    );
  }
  if (meta.nodeId !== identity.nodeId) {
    throw new StoreError(
      `zk: ${path} belongs to node ${JSON.stringify(meta.nodeId)}, not ${JSON.stringify(identity.nodeId)}; point --data-dir at node ${JSON.stringify(identity.nodeId)}'s directory or start with --id ${JSON.stringify(meta.nodeId)}`,
      "NODE_MISMATCH",
    );
  }
}

/**
 * The member list is part of a cluster's identity: a node restarted with a longer or other
 * --peers would count quorums of another cluster than its peers (split brain). Changing
 * membership is a command through the log, never a restart with other flags.
 */
function checkMembers(stored: readonly StoredMember[], given: readonly StoredMember[], path: string): void {
  const spec = (l: readonly StoredMember[]) => [...l].map((m) => `${m.id}=${m.address}`).sort();
  const a = spec(stored);
  const b = spec(given);
  if (a.join(",") === b.join(",")) return;
  throw new StoreError(
    `zk: ${path} is a member of a cluster with members [${a.join(",")}], but --peers lists [${b.join(",")}]; start this node with the --peers its cluster was created with (membership is not changed by restarting with other flags)`,
    "MEMBERS_MISMATCH",
  );
}

function readMeta(db: SqliteDatabase, path: string): Meta {
  return parseMeta(db.prepare<[], MetaRow>("SELECT key, value FROM meta").all(), path);
}

function parseMeta(rows: readonly MetaRow[], path: string): Meta {
  const m = new Map<string, unknown>();
  for (const r of rows) m.set(r.key, r.value);
  const int = (key: string): number => {
    const v = m.get(key);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new StoreError(`zk: ${path} has a bad meta ${key} (${describe(v)}); ${CORRUPT_ADVICE}`, "CORRUPT");
    }
    return v;
  };
  const str = (key: string): string => {
    const v = m.get(key);
    if (typeof v !== "string") {
      throw new StoreError(`zk: ${path} has a bad meta ${key} (${describe(v)}); ${CORRUPT_ADVICE}`, "CORRUPT");
    }
    return v;
  };
  // schema_version first: a newer schema may lay out the rest differently.
  const schemaVersion = int("schema_version");
  if (schemaVersion > SCHEMA_VERSION) {
    return { schemaVersion, clusterId: "", nodeId: "", promised: ZERO_BALLOT, chosen: 0, applied: 0, recovering: false, incarnation: 0, incarnations: {}, members: null, snapshotIndex: 0, firstEntrySlot: 1, treeInMemory: false };
  }
  const round = int("promised_round");
  const node = str("promised_node");
  const incarnationsText = m.has("incarnations") ? str("incarnations") : "{}";
  let incarnations: Record<string, number>;
  try {
    incarnations = JSON.parse(incarnationsText) as Record<string, number>;
    if (typeof incarnations !== "object" || incarnations === null || Object.values(incarnations).some((v) => !Number.isSafeInteger(v) || v < 0)) throw new Error("not a map of incarnations");
  } catch {
    throw new StoreError(`zk: ${path} has a bad meta incarnations (${describe(incarnationsText)}); ${CORRUPT_ADVICE}`, "CORRUPT");
  }
  return {
    recovering: m.has("recovering") ? int("recovering") === 1 : false,
    incarnation: m.has("incarnation") ? int("incarnation") : 0,
    incarnations,
    schemaVersion,
    clusterId: str("cluster_id"),
    nodeId: str("node_id"),
    promised: round === 0 && node === "" ? ZERO_BALLOT : { round, nodeId: node },
    chosen: int("chosen"),
    applied: int("applied"),
    members: parseMembers(m.get("members")),
    snapshotIndex: m.has(META_SNAPSHOT_INDEX) ? int(META_SNAPSHOT_INDEX) : 0,
    firstEntrySlot: m.has(META_FIRST_ENTRY_SLOT) ? Math.max(1, int(META_FIRST_ENTRY_SLOT)) : 1,
    treeInMemory: m.has(META_TREE_IN_MEMORY) ? int(META_TREE_IN_MEMORY) === 1 : false,
  };
}

/** The hard state as stored; the recovery fields only where they differ from their defaults. */
function metaHardState(meta: Meta): HardState {
  return {
    promised: meta.promised,
    chosen: meta.chosen,
    ...(meta.recovering ? { recovering: true } : {}),
    ...(Object.keys(meta.incarnations).length > 0 ? { incarnations: meta.incarnations } : {}),
  };
}

/** The recorded member list, or null when absent or unreadable (it only serves --adopt). */
function parseMembers(v: unknown): StoredMember[] | null {
  if (typeof v !== "string") return null;
  try {
    const list = JSON.parse(v) as unknown;
    if (!Array.isArray(list)) return null;
    const out: StoredMember[] = [];
    for (const x of list) {
      if (typeof x !== "object" || x === null) return null;
      const { id, address } = x as { id?: unknown; address?: unknown };
      if (typeof id !== "string" || typeof address !== "string") return null;
      out.push({ id, address });
    }
    return out;
  } catch {
    return null;
  }
}

// ---- Helpers ------------------------------------------------------------------------------

type Statements = ReturnType<typeof prepareStatements>;

// Prepared once per connection: save() runs once per Ready and must not re-parse SQL.
function prepareStatements(db: SqliteDatabase) {
  return {
    metaAll: db.prepare<[], MetaRow>("SELECT key, value FROM meta"),
    metaSet: db.prepare<[unknown, string]>("UPDATE meta SET value = ? WHERE key = ?"),
    hardStateSet: db.prepare<[number, string, number]>(
      `UPDATE meta SET value = CASE key WHEN 'promised_round' THEN ? WHEN 'promised_node' THEN ? ELSE ? END
       WHERE key IN ('promised_round', 'promised_node', 'chosen')`,
    ),
    // For the optional keys, absent from stores written before they existed.
    metaUpsert: db.prepare<[string, unknown]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    entriesAll: db.prepare<[], EntryRow>("SELECT slot, ballot_round, ballot_node, command FROM entries ORDER BY slot"),
    entriesFrom: db.prepare<[number], EntryRow>("SELECT slot, ballot_round, ballot_node, command FROM entries WHERE slot >= ? ORDER BY slot"),
    entryOne: db.prepare<[number], EntryRow>("SELECT slot, ballot_round, ballot_node, command FROM entries WHERE slot = ?"),
    entriesRange: db.prepare<[number, number, number], EntryRow>(
      "SELECT slot, ballot_round, ballot_node, command FROM entries WHERE slot >= ? AND slot <= ? ORDER BY slot LIMIT ?",
    ),
    entryStats: db.prepare<[], { n: number; lo: number | null; hi: number | null }>(
      "SELECT count(*) AS n, min(slot) AS lo, max(slot) AS hi FROM entries",
    ),
    lowestSlot: db.prepare<[], { lo: number | null }>("SELECT min(slot) AS lo FROM entries"),
  };
}

function rowToEntry(r: EntryRow): Entry {
  // better-sqlite3 hands back Buffers; the core's commands are plain Uint8Arrays (a Buffer
  // would not deep-equal one). A view over the same bytes, no copy.
  const c = r.command;
  return {
    slot: r.slot,
    ballot: { round: r.ballot_round, nodeId: r.ballot_node },
    command: new Uint8Array(c.buffer, c.byteOffset, c.byteLength),
  };
}

function assertEntry(e: Entry): void {
  if (!Number.isSafeInteger(e.slot) || e.slot < 1) throw new RangeError(`zk: bug: entry slot ${e.slot} is not a slot`);
  if (!Number.isSafeInteger(e.ballot.round) || e.ballot.round < 0) {
    throw new RangeError(`zk: bug: entry ${e.slot} has ballot round ${e.ballot.round}`);
  }
  if (!(e.command instanceof Uint8Array)) throw new TypeError(`zk: bug: entry ${e.slot} command is not bytes`);
}

function isSqliteCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"));
}

function toStoreError(err: unknown, path: string): unknown {
  if (err instanceof StoreError) return err;
  if (!isSqliteCorruption(err)) return err;
  const code = (err as { code: string }).code;
  const e =
    code === "SQLITE_NOTADB"
      ? new StoreError(`zk: ${path} is not a SQLite database (${oneLine(errorMessage(err))}); ${OPEN_ADVICE}`, "CORRUPT")
      : new StoreError(`zk: ${path} is corrupt (${oneLine(errorMessage(err))}); ${CORRUPT_ADVICE}`, "CORRUPT");
  e.cause = err;
  return e;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

function describe(v: unknown): string {
  return v === undefined ? "missing" : JSON.stringify(v) ?? String(v);
}

function isEmptyFile(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return true;
  }
}

/** A failed fsync of the write-ahead log, with the OS's code (EIO, ENOSPC, ...) kept for the caller. */
function flushError(wal: string, err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code;
  return Object.assign(new Error(`zk: fsync of ${wal} failed: ${oneLine(errorMessage(err))}`, { cause: err }), { code: typeof code === "string" ? code : "EIO" });
}
