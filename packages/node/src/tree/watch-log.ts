// The watch history: every event the tree emits, stored by zxid in the same transaction that
// applies it, so a watcher that reconnects can resume from the zxid after the last one it
// saw and miss nothing. The history keeps a window of recent zxids; older requests get a
// COMPACTED error naming the oldest zxid still available.
import type { Database } from "better-sqlite3";
import { WatchEvent } from "../gen/zk/v1/kv.js";
import { encodeShared } from "./encode.js";

/** Zxids of history kept behind the applied index, by default (zk-node --watch-history-slots). */
export const WATCH_HISTORY_SLOTS_DEFAULT = 100_000;
/** Prune at most once per this many applied zxids (a range delete on the primary key). */
const PRUNE_EVERY_SLOTS_MAX = 1000;
/** Zxids of history read per query when replaying (a watcher replays in pages). */
export const WATCH_REPLAY_PAGE_SLOTS = 1000;

export class WatchLog {
  private readonly insert;
  private readonly prune;
  private readonly page;
  private readonly oldest;
  private readonly setOldest;
  private lastPrunedAt = 0;

  private readonly pruneEvery: number;

  constructor(
    private readonly db: Database,
    private readonly historySlots = WATCH_HISTORY_SLOTS_DEFAULT,
  ) {
    this.pruneEvery = Math.max(1, Math.min(PRUNE_EVERY_SLOTS_MAX, Math.floor(historySlots / 10)));
    this.insert = db.prepare("INSERT OR REPLACE INTO watch_events (zxid, seq, event) VALUES (?, ?, ?)");
    this.prune = db.prepare("DELETE FROM watch_events WHERE zxid < ?");
    this.page = db.prepare("SELECT zxid, event FROM watch_events WHERE zxid >= ? AND zxid <= ? ORDER BY zxid, seq");
    this.oldest = db.prepare("SELECT value FROM meta WHERE key = 'watch_history_from'");
    this.setOldest = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watch_history_from', ?)");
  }

  /** Record one zxid's events; call inside the apply transaction. */
  record(zxid: number, events: readonly WatchEvent[]): void {
    for (let i = 0; i < events.length; i++) this.insert.run(zxid, i, encodeShared(WatchEvent.encode, events[i]!));
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
    const rows = this.page.all(from, to) as { zxid: number; event: Uint8Array }[];
    return rows.map((r) => WatchEvent.decode(r.event));
  }
}
