// Where a node keeps the configuration in force (src/paxos/config.ts): the `membership` key of
// the store's `meta` table, written in the transaction that applies the configuration
// command, so it is always the configuration at the applied index. A snapshot carries it in
// its header; a store created for a new cluster holds its first configuration (slot 0), one
// created with --join the empty configuration (it votes only once the log makes it a voter).
import type { SqliteDatabase } from "./storage/sqlite-store.js";
import { normalizeConfig, type ClusterConfig } from "./paxos/config.js";

export interface StoredMembership {
  /** The slot the configuration was chosen at (0 for the cluster's first, or one set at creation). */
  readonly slot: number;
  readonly config: ClusterConfig;
}

export const MEMBERSHIP_META_KEY = "membership";

export function readMembership(db: SqliteDatabase): StoredMembership | null {
  const raw = db.prepare<[string], unknown>("SELECT value FROM meta WHERE key = ?").pluck().get(MEMBERSHIP_META_KEY);
  return typeof raw === "string" ? parseMembership(raw) : null;
}

export function parseMembership(raw: string): StoredMembership {
  const v = JSON.parse(raw) as { slot: number; config: ClusterConfig };
  return { slot: Number(v.slot), config: normalizeConfig(v.config) };
}

export function writeMembership(db: SqliteDatabase, slot: number, config: ClusterConfig): void {
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(MEMBERSHIP_META_KEY, JSON.stringify({ slot, config }));
}
