// One zk-node per data dir. Two processes on one dir would be two acceptors answering as one
// (each promising on its own), so the second must refuse to start. The lock is an OS lock held
// for the life of the process: SQLite's own POSIX (fcntl) lock on a small database, <dir>/LOCK,
// kept in an open exclusive transaction. The kernel drops fcntl locks when the process dies,
// however it dies (kill -9 included), so a stale lock is impossible; the PID file beside it is
// only there to name the holder in the error message. The store itself stays unlocked for
// readers, so `zk-cli inspect` works beside a live node.
import Database from "better-sqlite3";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "LOCK";
export const LOCK_PID_FILE = "LOCK.pid";

export class DirLockedError extends Error {
  override readonly name = "DirLockedError";
  constructor(
    message: string,
    readonly holderPid: number | null,
  ) {
    super(message);
  }
}

export class DirLock {
  private constructor(
    private readonly db: Database.Database,
    readonly dir: string,
    /** The lock's files that this acquire() created (a refused start removes them again). */
    private readonly created: readonly string[],
  ) {}

  /**
   * Take the lock on `dir` (which must exist) or throw DirLockedError naming the process that
   * holds it. Never waits: a second node on a dir is a mistake to report at once.
   */
  static acquire(dir: string): DirLock {
    const path = join(dir, LOCK_FILE);
    const pidPath = join(dir, LOCK_PID_FILE);
    const created = [path, pidPath].filter((p) => !existsSync(p));
    const db = new Database(path, { timeout: 0 });
    try {
      // EXCLUSIVE locking mode keeps the lock after the statement; BEGIN EXCLUSIVE takes it now
      // (the transaction is never committed, so nothing is ever written to the file).
      db.pragma("locking_mode = EXCLUSIVE");
      db.exec("BEGIN EXCLUSIVE");
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code !== "SQLITE_BUSY" && (e as { code?: string }).code !== "SQLITE_LOCKED") throw e;
      const pid = readPid(dir);
      const who = pid !== null ? `process ${pid}` : "another process";
      throw new DirLockedError(`${dir} is in use by ${who} (another zk-node on the same --data-dir); stop it first or point --data-dir at this node's own directory`, pid);
    }
    // Informational only; a full disk must not stop a node that holds the real lock.
    try {
      writeFileSync(pidPath, `${process.pid}\n`);
    } catch {
      // the error message will say "another process"
    }
    return new DirLock(db, dir, created);
  }

  /**
   * Release the lock (the kernel also does when the process exits). `undo`: this process is
   * refusing to start, so the lock's files it created go too, leaving the dir as it found it.
   */
  release(opts: { undo?: boolean } = {}): void {
    if (!this.db.open) return;
    // Removed while still held: no other process can be between locking and using them.
    if (opts.undo) for (const p of this.created) rmSync(p, { force: true });
    try {
      this.db.exec("ROLLBACK");
    } catch {
      // closing releases it anyway
    }
    this.db.close();
  }
}

function readPid(dir: string): number | null {
  try {
    const n = Number(readFileSync(join(dir, LOCK_PID_FILE), "utf8").trim());
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
