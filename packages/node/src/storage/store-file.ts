// The file a node's store lives in within its data dir, and the one rule for whether a data dir
// holds a store: zk-node's startup check (main.ts) and zk-cli's `cluster up` (which leaves a
// member without one stopped, to rejoin) must not disagree, or one refuses what the other
// started. No SQLite here: zk-cli loads this without better-sqlite3.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

export const DB_FILE = "zk.db";

/**
 * `present`: a non-empty zk.db. `damaged`: zk.db missing or empty, but its write-ahead log is
 * there (the store's recent writes without the file they belong to). `missing`: neither, a data
 * dir that was deleted, wiped or never written.
 */
export type StoreFileState = "present" | "damaged" | "missing";

export function storeFileState(dataDir: string): StoreFileState {
  const db = join(dataDir, DB_FILE);
  if (existsSync(db) && statSync(db).size > 0) return "present";
  return existsSync(`${db}-wal`) ? "damaged" : "missing";
}
