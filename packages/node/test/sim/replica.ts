// One simulated node's state machine: the real znode tree (packages/node/src/tree) on an
// in-memory SQLite database with the store's own schema, applying the chosen log exactly as
// zk-node does, inside a transaction per batch. A crash loses what the node had not made
// durable; the simulator then rolls the tree back to the store's applied index by restoring a
// checkpoint (a serialized copy of the database) and replaying the chosen entries after it.
import Database from "better-sqlite3";
import { MIGRATIONS, type SqliteDatabase } from "../../src/storage/sqlite-store.js";
import { ZnodeTree, decodeCommand, type ApplyOutcome } from "../../src/tree/index.js";
import { treeHash } from "../../src/tree/hash.js";
import type { Command } from "../../src/paxos/index.js";
import type { Command as ZkCommand } from "../../src/gen/zk/v1/types.js";

/** Applied slots between checkpoints. */
const CHECKPOINT_EVERY_SLOTS = 32;
/** Applied slots between comparisons of the replicas' tree hashes. */
export const HASH_EVERY_SLOTS = 64;
/** Checkpoints kept per replica: enough to roll back past un-fsynced applies. */
const CHECKPOINTS_KEPT = 4;

export interface ReplicaOptions {
  /** Planted bug: the tree ignores request ids, so a retried write applies twice. */
  readonly ignoreRequestIds?: boolean;
}

export class SimReplica {
  private db: SqliteDatabase;
  private tree: ZnodeTree;
  private appliedIndex = 0;
  /** Serialized databases at checkpoint slots (ascending), for rolling back after a crash. */
  private checkpoints: { slot: number; image: Buffer }[] = [];
  /** Request id -> the slot where it was executed (not deduplicated), for the exactly-once check. */
  private executed = new Map<string, number>();

  private applyTxn: (slot: number, cmd: ZkCommand) => ApplyOutcome;

  constructor(private readonly opts: ReplicaOptions = {}) {
    this.db = emptyDatabase();
    this.tree = this.newTree();
    this.applyTxn = this.db.transaction((slot: number, cmd: ZkCommand) => this.tree.apply(slot, cmd));
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get znodes(): ZnodeTree {
    return this.tree;
  }

  /**
   * Apply one chosen slot (a no-op when the command is empty). Returns the tree's outcome, and
   * throws (via `onTwice`) when a request id is executed a second time.
   */
  apply(slot: number, command: Command, onTwice: (rid: string, first: number) => void): ApplyOutcome | null {
    if (slot !== this.appliedIndex + 1) throw new Error(`zk: sim bug: replica applies slot ${slot} after ${this.appliedIndex}`);
    this.appliedIndex = slot;
    let outcome: ApplyOutcome | null = null;
    if (command.length > 0) {
      const cmd = decodeCommand(command);
      const rid = cmd.requestId;
      // The planted bug strips the request id, as a tree that ignored deduplication would.
      if (this.opts.ignoreRequestIds) cmd.requestId = "";
      outcome = this.applyTxn(slot, cmd);
      if (rid !== "" && outcome.firstZxid === undefined) {
        const first = this.executed.get(rid);
        if (first !== undefined) onTwice(rid, first);
        this.executed.set(rid, slot);
      }
    }
    if (slot % CHECKPOINT_EVERY_SLOTS === 0) {
      this.checkpoints.push({ slot, image: this.db.serialize() });
      if (this.checkpoints.length > CHECKPOINTS_KEPT) this.checkpoints.shift();
    }
    return outcome;
  }

  /** The tree's hash at the current applied index. */
  hash(): string {
    return treeHash(this.db, { appliedIndex: this.appliedIndex });
  }

  /**
   * Roll back to `slot` (a crash lost the applies after it): restore the newest checkpoint at
   * or below it and replay `log[i]` (the command chosen at slot i + 1) up to `slot`.
   */
  rollBackTo(slot: number, log: readonly Command[]): void {
    if (slot === this.appliedIndex) return;
    if (slot > this.appliedIndex) throw new Error(`zk: sim bug: roll back forward from ${this.appliedIndex} to ${slot}`);
    while (this.checkpoints.length > 0 && this.checkpoints[this.checkpoints.length - 1]!.slot > slot) this.checkpoints.pop();
    const cp = this.checkpoints[this.checkpoints.length - 1];
    this.db.close();
    this.db = cp === undefined ? emptyDatabase() : new Database(cp.image);
    this.tree = this.newTree();
    this.applyTxn = this.db.transaction((s: number, cmd: ZkCommand) => this.tree.apply(s, cmd));
    this.appliedIndex = cp?.slot ?? 0;
    // Executions after the checkpoint are forgotten with it; the replay below records them again.
    this.executed = new Map([...this.executed].filter(([, s]) => s <= this.appliedIndex));
    for (let s = this.appliedIndex + 1; s <= slot; s++) this.apply(s, log[s - 1]!, () => undefined);
  }

  close(): void {
    this.db.close();
  }

  private newTree(): ZnodeTree {
    return new ZnodeTree(this.db, { dataBytesMax: 1024 });
  }
}

/** The store's schema, built once and copied: running the migrations per replica is slow. */
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
