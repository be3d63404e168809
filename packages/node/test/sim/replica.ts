// One simulated node's disk: the acceptor state in the in-memory store (which loses what was
// not fsynced when its node "crashes"), and the state machine's tables (the znode tree, its
// sessions, request ids and watch history) in a real in-memory SQLite database with the
// store's own schema. The node machine (src/machine.ts) runs on it exactly as zk-node runs on
// its SQLite file. A crash that loses un-fsynced applies rolls the tables back to the store's
// applied index: the newest checkpoint (a serialized copy of the database) at or below it,
// then the chosen entries after it replayed through the same apply function.
import Database from "better-sqlite3";
import { MIGRATIONS, type SqliteDatabase } from "../../src/storage/sqlite-store.js";
import { SNAPSHOT_TABLES } from "../../src/storage/snapshot.js";
import { MemAcceptorStore } from "../../src/storage/mem-store.js";
import { WatchLog, ZnodeTree } from "../../src/tree/index.js";
import { treeHash } from "../../src/tree/hash.js";
import { DATA_BYTES_HARD_MAX, applyEntries, type NodeStore } from "../../src/machine.js";
import type { Ballot, Command, DurableState, Entry, HardState } from "../../src/paxos/index.js";

/** Applied slots between checkpoints. */
const CHECKPOINT_EVERY_SLOTS = 32;
/** Checkpoints kept per disk: enough to roll back past un-fsynced applies. */
const CHECKPOINTS_KEPT = 4;


export interface SimSnapshot {
  readonly slot: number;
  readonly image: Buffer;
  /** treeHash at `slot`: the installed copy must hash the same. */
  readonly hash: string;
}

/** Thrown by a transaction to cut the power at that point (the node crashes mid-Ready). */
export class PowerCut extends Error {}

export interface DiskFaults {
  /** The disk takes no writes (full): transactions and probes fail with SQLITE_FULL. */
  full(): boolean;
  /** The power goes out as this transaction begins. */
  cutBeforeWrite(): boolean;
  /**
   * The disk fills up during this transaction: its writes ran, its commit fails with
   * SQLITE_FULL and it rolls back (what a tree in memory applied must be taken back too).
   */
  fullAtCommit?(): boolean;
  /** An fsync on the disk's own time: `done` runs later (or never, if the power goes first), with the error of a failed fsync. */
  sync(done: (err: Error | null) => void): void;
  /** Not a fault: told of every transaction that committed (the simulator counts them). */
  committed?(): void;
}

export class SimDisk implements NodeStore {
  private database: SqliteDatabase;
  /** Serialized databases at applied slots (ascending), for rolling back after a crash. */
  private checkpoints: { slot: number; image: Buffer }[] = [];
  private lastCheckpointSlot = 0;
  /** The applied index the tables are at (after a crash, maybe ahead of the durable one). */
  tablesApplied = 0;
  readonly path: string;

  /** One SQLite transaction around `fn` (made once per database: better-sqlite3 prepares BEGIN/COMMIT). */
  private txn: <T>(fn: () => T) => T;

  constructor(
    readonly mem: MemAcceptorStore,
    readonly incarnation: number,
    id: string,
    private readonly faults: DiskFaults,
    /** What the store holds from its creation (e.g. a joiner's empty configuration): durable from the start. */
    private readonly init: (db: SqliteDatabase) => void = () => undefined,
  ) {
    this.database = emptyDatabase();
    this.init(this.database);
    this.txn = wrapTransactions(this.database);
    this.path = `sim:${id}`;
  }

  get db(): SqliteDatabase {
    return this.database;
  }

  load(opts?: { entriesFrom?: number }): DurableState {
    return this.mem.load(opts);
  }
  entry(slot: number): Entry | undefined {
    return this.mem.entry(slot);
  }
  entries(from: number, to: number): Entry[] {
    return this.mem.entries(from, to);
  }
  save(hardState: HardState | null, entries: readonly Entry[]): void {
    this.mem.save(hardState, entries);
  }
  applied(): number {
    return this.mem.applied();
  }
  setApplied(n: number): void {
    this.mem.setApplied(n);
  }
  get persistedPromise(): Ballot {
    return this.mem.durableHardState().promised;
  }
  get persistedChosen(): number {
    return this.mem.durableHardState().chosen;
  }
  close(): void {
    this.mem.close();
  }

  transaction<T>(fn: () => T, opts: { durable?: boolean; later?: boolean } = {}): T {
    if (this.faults.cutBeforeWrite()) throw new PowerCut("power cut before the write");
    if (this.faults.full()) throw diskFull();
    const r = this.mem.transaction(
      () =>
        this.txn(() => {
          const out = fn();
          if (this.faults.fullAtCommit?.()) throw diskFull();
          return out;
        }),
      opts,
    );
    this.faults.committed?.();
    const applied = this.mem.applied();
    // The tables are where the commit left them, durable or not (a crash before its flush rolls them back).
    this.tablesApplied = applied;
    if (applied - this.lastCheckpointSlot >= CHECKPOINT_EVERY_SLOTS) {
      this.checkpoints.push({ slot: applied, image: this.database.serialize() });
      if (this.checkpoints.length > CHECKPOINTS_KEPT) this.checkpoints.shift();
      this.lastCheckpointSlot = applied;
    }
    return r;
  }

  /** The fsync of what is committed now completes when the simulator says so (DiskFaults.sync). */
  flush(done: (err: Error | null) => void): void {
    const upTo = this.mem.lastCommit;
    this.faults.sync((err) => {
      // A failed fsync made nothing durable (the node stops; its store is rebuilt).
      if (err === null) this.mem.flushed(upTo);
      done(err);
    });
  }

  probeWrite(): void {
    if (this.faults.full()) throw diskFull();
  }

  /** Compaction is immediate here: the entries below the retained tail go at once. */
  markSnapshot(snapshotIndex: number, retainEntries: number): void {
    if (this.faults.full()) throw diskFull();
    this.mem.discardBelow(snapshotIndex - retainEntries + 1);
  }

  compactStep(): { readonly done: boolean } {
    return { done: true };
  }

  /** A snapshot of the state machine as it is now (its tables at `tablesApplied`). */
  snapshot(): SimSnapshot {
    return { slot: this.tablesApplied, image: this.database.serialize(), hash: this.hash(this.tablesApplied) };
  }

  /**
   * Install a snapshot in one transaction: the tables, then the acceptor state (entries up to
   * its slot go; chosen and applied move to it). False when it is behind what is applied.
   */
  installSnapshot(snap: SimSnapshot, powerCutMidway = false): boolean {
    if (snap.slot <= this.mem.applied()) return false;
    const src = new Database(snap.image, { readonly: true });
    try {
      this.transaction(() => {
        // The state machine's tables a snapshot carries, as the real snapshot file does (the watch history starts over after it).
        for (const { name: table } of SNAPSHOT_TABLES) {
          this.database.prepare(`DELETE FROM ${table}`).run();
          const rows = src.prepare(`SELECT * FROM ${table}`).raw(true).all() as unknown[][];
          if (rows.length === 0) continue;
          const insert = this.database.prepare(`INSERT INTO ${table} VALUES (${rows[0]!.map(() => "?").join(", ")})`);
          for (const r of rows) insert.run(...r);
        }
        this.database.prepare("DELETE FROM watch_batches").run();
        this.database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watch_history_from', ?)").run(String(snap.slot + 1));
        const membership = src.prepare("SELECT value FROM meta WHERE key = 'membership'").pluck().get();
        if (typeof membership === "string") this.database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('membership', ?)").run(membership);
        // The power goes with the tables half replaced: the transaction never commits.
        if (powerCutMidway) throw new PowerCut("power cut in the middle of installing a snapshot");
        this.mem.installSnapshot(snap.slot);
      });
    } finally {
      src.close();
    }
    this.tablesApplied = snap.slot;
    // Nothing below the snapshot can be replayed here any more: it is the new base.
    this.checkpoints = [{ slot: snap.slot, image: this.database.serialize() }];
    this.lastCheckpointSlot = snap.slot;
    return true;
  }

  /** The tree's hash at `appliedIndex` (call it when the tables are at that index). */
  hash(appliedIndex: number): string {
    return treeHash(this.database, { appliedIndex });
  }

  /**
   * After a crash: roll the tables back to the store's (durable) applied index, replaying
   * `log[i]` (the command chosen at slot i + 1) after the newest checkpoint at or below it.
   * `tablesAt` is the applied index the tables were at when the power went.
   */
  rollBackTo(slot: number, tablesAt: number, log: readonly Command[]): void {
    if (slot === tablesAt) return;
    if (slot > tablesAt) throw new Error(`zk: sim bug: roll back forward from ${tablesAt} to ${slot}`);
    while (this.checkpoints.length > 0 && this.checkpoints[this.checkpoints.length - 1]!.slot > slot) this.checkpoints.pop();
    const cp = this.checkpoints[this.checkpoints.length - 1];
    this.database.close();
    this.database = cp === undefined ? emptyDatabase() : new Database(cp.image);
    if (cp === undefined) this.init(this.database);
    this.txn = wrapTransactions(this.database);
    this.lastCheckpointSlot = cp?.slot ?? 0;
    const tree = new ZnodeTree(this.database, { dataBytesMax: DATA_BYTES_HARD_MAX });
    const watchLog = new WatchLog(this.database);
    const replay = this.database.transaction(() => {
      const entries = [];
      for (let s = (cp?.slot ?? 0) + 1; s <= slot; s++) entries.push({ slot: s, command: log[s - 1]! });
      applyEntries(tree, watchLog, entries);
    });
    replay();
    this.tablesApplied = slot;
  }

  /** The disk is gone for good (wiped). */
  discard(): void {
    this.database.close();
  }
}

function wrapTransactions(db: SqliteDatabase): <T>(fn: () => T) => T {
  const t = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T) => t(fn) as T;
}

function diskFull(): Error {
  return Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
}

/** The store's schema, built once and copied: running the migrations per disk is slow. */
let template: Buffer | null = null;
function emptyDatabase(): SqliteDatabase {
  if (template === null) {
    const db = new Database(":memory:");
    for (const m of MIGRATIONS) m(db);
    template = db.serialize();
    db.close();
  }
  return new Database(template);
}
