// The watch history: every event the tree emits, stored by zxid in the same transaction that
// applies it, so a watcher that reconnects can resume from the zxid after the last one it
// saw and miss nothing. The history keeps a window of recent zxids; older requests get a
// COMPACTED error naming the oldest zxid still available.
//
// One row per apply transaction (`watch_batches`: the batch's first and last zxid, and its
// events as length-delimited WatchEvents in order), not one per event: a row per event was
// about a sixth of a member's apply CPU (scripts/bench/apply.mts). The apply (applyEntries,
// machine.ts) records a transaction's events with one record() call.
import type { Database } from "better-sqlite3";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { WatchEvent } from "../gen/zk/v1/kv.js";
import { invariant } from "../paxos/invariant.js";

/** Zxids of history kept behind the applied index, by default (zk-node --watch-history-slots). */
export const WATCH_HISTORY_SLOTS_DEFAULT = 100_000;
/** Prune at most once per this many applied zxids (a range delete on the primary key). */
const PRUNE_EVERY_SLOTS_MAX = 1000;
/** Zxids of history read per query when replaying (a watcher replays in pages). */
export const WATCH_REPLAY_PAGE_SLOTS = 1000;

/** A batch's events as stored: each WatchEvent length-delimited, in order. */
export function encodeWatchBatch(events: readonly WatchEvent[]): Uint8Array {
  const w = new BinaryWriter();
  for (const ev of events) {
    w.fork();
    WatchEvent.encode(ev, w);
    w.join();
  }
  return w.finish();
}

export function decodeWatchBatch(bytes: Uint8Array): WatchEvent[] {
  const r = new BinaryReader(bytes);
  const out: WatchEvent[] = [];
  while (r.pos < r.len) out.push(WatchEvent.decode(r, r.uint32()));
  return out;
}

/** A batch of events held in memory until the next checkpoint (WatchLog.hold). */
interface HeldBatch {
  readonly first: number;
  readonly last: number;
  readonly events: readonly WatchEvent[];
}

export class WatchLog {
  /**
   * With a tree in memory (zk-node --tree-in-memory) the history of the slots after the last
   * checkpoint is held here, not written per apply: a restart replays those slots and records
   * their events again. writeHeld() puts them in the table inside the checkpoint's transaction.
   * Null: every record() inserts its row.
   */
  private held: HeldBatch[] | null = null;
  private readonly insert;
  private readonly prune;
  private readonly page;
  private readonly oldest;
  private readonly setOldest;
  private lastPrunedAt = 0;
  /**
   * The newest zxid recorded when the node started (or installed a snapshot). A node whose
   * tree is in memory replays the log after its last checkpoint at a restart, and the events
   * of that replay are already here (apply is deterministic): they are not recorded twice.
   */
  private recordedThrough = 0;
  private readonly newest;

  private readonly pruneEvery: number;

  constructor(
    /** The store's connection (the history is its watch_batches table). */
    readonly db: Database,
    private readonly historySlots = WATCH_HISTORY_SLOTS_DEFAULT,
  ) {
    this.pruneEvery = Math.max(1, Math.min(PRUNE_EVERY_SLOTS_MAX, Math.floor(historySlots / 10)));
    this.insert = db.prepare<[number, number, Uint8Array]>("INSERT INTO watch_batches (last_zxid, first_zxid, events) VALUES (?, ?, ?)");
    this.prune = db.prepare<[number]>("DELETE FROM watch_batches WHERE last_zxid < ?");
    // Batches are disjoint and in order: from the first that ends at or after `from`, until one starts after `to`.
    this.page = db.prepare<[number], { first_zxid: number; events: Uint8Array }>("SELECT first_zxid, events FROM watch_batches WHERE last_zxid >= ? ORDER BY last_zxid");
    this.oldest = db.prepare("SELECT value FROM meta WHERE key = 'watch_history_from'");
    this.setOldest = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watch_history_from', ?)");
    this.newest = db.prepare<[], number | null>("SELECT max(last_zxid) FROM watch_batches").pluck();
    this.noteRecorded();
  }

  /** Read again how far the history goes (after a snapshot replaced it); held events go. */
  noteRecorded(): void {
    this.recordedThrough = this.newest.get() ?? 0;
    if (this.held !== null) this.held = [];
  }

  /** From now on hold recorded events in memory until writeHeld() (see `held`). */
  hold(): void {
    this.held ??= [];
  }

  /** How many batches are held (a mark for dropHeldAfter). */
  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  /** Forget the batches held after the first `count` (their applies were taken back). */
  dropHeldAfter(count: number): void {
    if (this.held !== null) this.held.length = Math.min(this.held.length, count);
  }

  /** Inside the checkpoint's transaction: write the held batches as rows. Then heldWritten() once it committed. */
  writeHeld(): number {
    invariant(this.db.inTransaction, "WatchLog.writeHeld must run inside the checkpoint's transaction");
    const held = this.held ?? [];
    for (const b of held) this.insertBatch(b.first, b.last, b.events);
    return held.length;
  }

  /** The batches writeHeld() wrote are committed. */
  heldWritten(count: number): void {
    if (this.held !== null) this.held.splice(0, count);
  }

  /** Record the events of one apply transaction (zxids ascending), as one row; inside that transaction. */
  record(all: readonly WatchEvent[]): void {
    const events = all.length > 0 && all[0]!.zxid <= this.recordedThrough ? all.filter((e) => e.zxid > this.recordedThrough) : all;
    if (events.length === 0) return;
    const first = events[0]!.zxid;
    const zxid = events[events.length - 1]!.zxid;
    invariant(first <= zxid, `watch events out of order: zxid ${first} before ${zxid}`);
    if (this.held !== null) {
      this.held.push({ first, last: zxid, events });
      return;
    }
    invariant(this.db.inTransaction, "WatchLog.record must run inside the apply transaction");
    this.insertBatch(first, zxid, events);
  }

  private insertBatch(first: number, zxid: number, events: readonly WatchEvent[]): void {
    this.insert.run(zxid, first, encodeWatchBatch(events));
    if (zxid - this.lastPrunedAt >= this.pruneEvery && zxid > this.historySlots) {
      this.lastPrunedAt = zxid;
      const from = zxid - this.historySlots;
      this.prune.run(from);
      this.setOldest.run(String(from));
    }
  }

  /** The oldest zxid whose events are all still here. */
  oldestAvailable(): number {
    const row = this.oldest.get() as { value: string } | undefined;
    return row ? Number(row.value) : 1;
  }

  /** Every event with from <= zxid <= to, in order (callers page by zxid ranges). */
  read(from: number, to: number): WatchEvent[] {
    const out: WatchEvent[] = [];
    const heldFrom = this.held?.[0]?.first ?? Infinity;
    if (from < heldFrom) {
      for (const row of this.page.iterate(from)) {
        if (row.first_zxid > to) break;
        for (const ev of decodeWatchBatch(row.events)) if (ev.zxid >= from && ev.zxid <= to) out.push(ev);
      }
    }
    // Held batches are newer than every row.
    for (const b of this.held ?? []) {
      if (b.first > to) break;
      if (b.last < from) continue;
      for (const ev of b.events) if (ev.zxid >= from && ev.zxid <= to) out.push(ev);
    }
    return out;
  }
}
