// When to compact the log, for the driver: a snapshot point every `snapshotEntries` applied
// entries (the store holds the state machine at its applied index, so a snapshot point is one
// meta row), offset per node by `staggerEntries` so that members do not compact at the same
// moment, then SqliteAcceptorStore.compactStep() a bounded step at a time. Deterministic: the
// stagger comes from the caller (the node's seeded RNG), nothing here reads a clock.
import type { CompactStep, LogStart } from "./sqlite-store.js";

/** The store calls the compactor makes (SqliteAcceptorStore has them). */
export interface CompactableStore {
  logStart(): LogStart;
  markSnapshot(snapshotIndex: number, retainEntries: number): void;
  compactStep(): CompactStep;
}

export interface CompactorOptions {
  /** Applied entries between two snapshot points (zk-node --snapshot-entries). */
  readonly snapshotEntries: number;
  /** Entries kept below a snapshot point (zk-node --retain-entries). */
  readonly retainEntries: number;
  /** This node's offset of the first snapshot point, in [0, snapshotEntries). */
  readonly staggerEntries: number;
}

export class LogCompactor {
  private nextAt: number;
  private pending = false;

  constructor(
    private readonly store: CompactableStore,
    private readonly opts: CompactorOptions,
  ) {
    if (!Number.isSafeInteger(opts.snapshotEntries) || opts.snapshotEntries < 1) throw new RangeError(`zk: snapshotEntries ${opts.snapshotEntries} must be a positive integer`);
    if (!Number.isSafeInteger(opts.retainEntries) || opts.retainEntries < 0) throw new RangeError(`zk: retainEntries ${opts.retainEntries} must be an integer >= 0`);
    if (!Number.isSafeInteger(opts.staggerEntries) || opts.staggerEntries < 0 || opts.staggerEntries >= opts.snapshotEntries) {
      throw new RangeError(`zk: staggerEntries ${opts.staggerEntries} must be in [0, ${opts.snapshotEntries})`);
    }
    this.nextAt = store.logStart().snapshotIndex + opts.snapshotEntries + opts.staggerEntries;
  }

  /**
   * After a Ready's transaction committed (outside it): take a snapshot point when one is due.
   * `keepFrom` is the lowest slot the log must still hold (a follower's next slot the leader
   * will send from the log, the slot after a snapshot being transferred); entries from it on
   * are never deleted. Returns whether compaction work is pending (then call step()).
   */
  noteApplied(applied: number, keepFrom = Number.POSITIVE_INFINITY): boolean {
    if (applied >= this.nextAt) {
      const floor = Math.min(applied - this.opts.retainEntries + 1, keepFrom);
      this.store.markSnapshot(applied, Math.max(this.opts.retainEntries, applied - floor + 1));
      this.nextAt = applied + this.opts.snapshotEntries;
      this.pending = true;
    }
    return this.pending;
  }

  /** One bounded compaction step; true while more remains (call again on a later event-loop turn). */
  step(): boolean {
    if (!this.pending) return false;
    this.pending = !this.store.compactStep().done;
    return this.pending;
  }

  /** The applied index at which the next snapshot point is taken. */
  get nextSnapshotAt(): number {
    return this.nextAt;
  }
}
