// The acceptor stores: what save() commits is what load() returns after a restart, and the
// SQLite store refuses every file it cannot trust with a one-line StoreError.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Entry, HardState } from "../src/paxos/types.js";
import { NOOP, ZERO_BALLOT } from "../src/paxos/types.js";
import {
  MIGRATIONS,
  MemAcceptorStore,
  SCHEMA_VERSION,
  SqliteAcceptorStore,
  StoreError,
  ZK_APPLICATION_ID,
  mustSync,
} from "../src/storage/index.js";
import type { AcceptorStore } from "../src/storage/index.js";
import { initialConfig } from "../src/paxos/config.js";

const ID = { clusterId: "cluster-a", nodeId: "n1" };

let root = "";
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "zk-storage-test-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

let dirCount = 0;
function dbPath(): string {
  const dir = path.join(root, `d${dirCount++}`);
  fs.mkdirSync(dir);
  return path.join(dir, "zk.db");
}

function bytes(...xs: number[]): Uint8Array {
  return Uint8Array.from(xs);
}

function entry(slot: number, round: number, nodeId: string, command: Uint8Array): Entry {
  return { slot, ballot: { round, nodeId }, command };
}

function hs(round: number, nodeId: string, chosen: number): HardState {
  return { promised: { round, nodeId }, chosen };
}

/** Opening must fail with a StoreError of `code` whose message is one line naming the file. */
function assertRefused(open: () => unknown, file: string, code: StoreError["code"], mentions?: RegExp): StoreError {
  let caught: unknown;
  try {
    open();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${code}, but the store opened`);
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(!/[\r\n]/.test(caught.message), `message is not one line: ${JSON.stringify(caught.message)}`);
  assert.ok(caught.message.includes(file), `message does not name ${file}: ${caught.message}`);
  if (mentions) assert.match(caught.message, mentions);
  return caught;
}

/** A zk db with enough entries that the entries table spans many pages. */
function writeBigStore(file: string): void {
  const s = SqliteAcceptorStore.open(file, ID);
  const entries: Entry[] = [];
  for (let slot = 1; slot <= 600; slot++) entries.push(entry(slot, 1, "n1", new Uint8Array(300).fill(slot % 251)));
  s.save(hs(1, "n1", 600), entries);
  s.close();
}

/** Page numbers (1-based) of table b-tree leaf pages (type 13) in a closed db file. */
function leafPages(file: string): { pageSize: number; pages: number[] } {
  const buf = fs.readFileSync(file);
  const pageSize = buf.readUInt16BE(16);
  const pages: number[] = [];
  for (let pg = 2; pg * pageSize <= buf.length; pg++) {
    if (buf[(pg - 1) * pageSize] === 13) pages.push(pg);
  }
  return { pageSize, pages };
}

function overwrite(file: string, offset: number, data: Uint8Array): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

describe("SqliteAcceptorStore", () => {
  test("a new file is initialised as a zk db of this node, in WAL mode, with its cluster's members", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID, { members: [{ id: "n1", address: "127.0.0.1:7001" }] });
    try {
      const { dbBytes, freeBytes, ...info } = s.info();
      assert.ok(dbBytes > 0 && freeBytes >= 0);
      assert.deepEqual(info, {
        clusterId: "cluster-a",
        nodeId: "n1",
        schemaVersion: SCHEMA_VERSION,
        promised: ZERO_BALLOT,
        chosen: 0,
        applied: 0,
        entryCount: 0,
        firstSlot: 0,
        lastSlot: 0,
        members: [{ id: "n1", address: "127.0.0.1:7001" }],
        membership: { slot: 0, config: initialConfig([{ id: "n1", address: "127.0.0.1:7001" }]) },
        snapshotIndex: 0,
        firstEntrySlot: 1,
        treeInMemory: false,
        autoVacuum: "incremental",
      });
      assert.deepEqual(s.load(), { hardState: { promised: ZERO_BALLOT, chosen: 0 }, entries: [], entriesFrom: 1, discardedTo: 0 });
      assert.equal(s.applied(), 0);
      assert.equal(s.db.pragma("application_id", { simple: true }), ZK_APPLICATION_ID);
      assert.equal(s.db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(s.db.pragma("synchronous", { simple: true }), 2); // FULL
      assert.equal(s.db.pragma("foreign_keys", { simple: true }), 1);
    } finally {
      s.close();
    }
    assert.equal(MIGRATIONS.length, SCHEMA_VERSION);
  });

  test("save then reopen restores promise, chosen, entries (replaced slots, no-ops) and applied", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID);
    s.save(hs(3, "n2", 0), [entry(1, 3, "n2", bytes(1, 2, 3)), entry(2, 3, "n2", bytes(4)), entry(3, 3, "n2", NOOP)]);
    // Slot 2 accepted again at a higher ballot with another value; slot 5 leaves a hole at 4.
    s.save(hs(4, "n3", 2), [entry(2, 4, "n3", bytes(9, 9)), entry(5, 4, "n3", bytes(5, 5, 5))]);
    // Entries without a hard state leave the hard state alone.
    s.save(null, [entry(6, 4, "n3", bytes(6))]);
    s.transaction(() => s.setApplied(2));
    s.close();

    const r = SqliteAcceptorStore.open(file, ID);
    try {
      const loaded = r.load();
      assert.deepEqual(loaded.hardState, hs(4, "n3", 2));
      assert.deepEqual(loaded.entries, [
        entry(1, 3, "n2", bytes(1, 2, 3)),
        entry(2, 4, "n3", bytes(9, 9)),
        entry(3, 3, "n2", new Uint8Array(0)),
        entry(5, 4, "n3", bytes(5, 5, 5)),
        entry(6, 4, "n3", bytes(6)),
      ]);
      // Plain Uint8Arrays, not Buffers: the core compares them with its own helpers and
      // tests deep-equal them.
      for (const e of loaded.entries) assert.equal(Object.getPrototypeOf(e.command), Uint8Array.prototype);
      assert.equal(r.applied(), 2);
      const info = r.info();
      assert.equal(info.entryCount, 5);
      assert.equal(info.firstSlot, 1);
      assert.equal(info.lastSlot, 6);
      assert.deepEqual(info.promised, { round: 4, nodeId: "n3" });
    } finally {
      r.close();
    }
  });

  test("a rebuilt store starts recovering under its incarnation; the end of recovery and the incarnation view persist", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID, { rebuild: { incarnation: 1_764_633_600_000 } });
    assert.equal(s.incarnation, 1_764_633_600_000);
    assert.deepEqual(s.load().hardState, { ...hs(0, "", 0), recovering: true });
    // A Ready that changes neither leaves them as they are; one that does, replaces them.
    s.save(hs(2, "n2", 0), []);
    assert.equal(s.load().hardState.recovering, true);
    s.save({ ...hs(3, "n2", 1), recovering: false, incarnations: { n2: 5 } }, []);
    s.close();
    const r = SqliteAcceptorStore.open(file, ID);
    try {
      assert.equal(r.incarnation, 1_764_633_600_000, "the incarnation is the store's for good");
      assert.deepEqual(r.load().hardState, { ...hs(3, "n2", 1), incarnations: { n2: 5 } });
    } finally {
      r.close();
    }
    // A store created with the cluster has incarnation 0 and is not recovering.
    const fresh = SqliteAcceptorStore.open(dbPath(), ID);
    assert.equal(fresh.incarnation, 0);
    assert.equal(fresh.load().hardState.recovering, undefined);
    fresh.close();
  });

  test("a save is one transaction: a failure part way through leaves nothing of it", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID);
    try {
      s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]);
      // Make the third insert of the next save fail inside SQLite.
      s.db.exec(
        "CREATE TRIGGER fail_slot_4 BEFORE INSERT ON entries WHEN NEW.slot = 4 BEGIN SELECT RAISE(ABORT, 'boom'); END",
      );
      assert.throws(
        () => s.save(hs(2, "n1", 1), [entry(2, 2, "n1", bytes(2)), entry(3, 2, "n1", bytes(3)), entry(4, 2, "n1", bytes(4))]),
        /boom/,
      );
      assert.deepEqual(s.load(), { hardState: hs(1, "n1", 0), entries: [entry(1, 1, "n1", bytes(1))], entriesFrom: 1, discardedTo: 0 });
      s.db.exec("DROP TRIGGER fail_slot_4");
      // The failed save did not advance the store's idea of the promise either.
      s.save(hs(1, "n2", 0), []);
      assert.deepEqual(s.load().hardState, hs(1, "n2", 0));
    } finally {
      s.close();
    }
  });

  test("a promise or chosen index that goes backwards is refused and not written", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID);
    try {
      s.save(hs(5, "n2", 3), []);
      assert.throws(() => s.save(hs(5, "n1", 3), [entry(1, 5, "n1", bytes(1))]), /promised ballot would go back/);
      assert.throws(() => s.save(hs(6, "n1", 2), []), /chosen index would go back/);
      assert.deepEqual(s.load(), { hardState: hs(5, "n2", 3), entries: [], entriesFrom: 1, discardedTo: 0 });
      assert.throws(() => s.save(null, [entry(0, 1, "n1", bytes(1))]), RangeError);
    } finally {
      s.close();
    }
  });

  test("transaction() groups the caller's writes with setApplied and rolls back together", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID);
    try {
      s.db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)");
      const put = s.db.prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
      s.transaction(() => {
        put.run("a", "1");
        s.setApplied(1);
      });
      assert.throws(() =>
        s.transaction(() => {
          put.run("b", "2");
          s.setApplied(2);
          throw new Error("apply failed");
        }),
      /apply failed/);
      assert.equal(s.applied(), 1);
      assert.deepEqual(s.db.prepare("SELECT k FROM kv ORDER BY k").pluck().all(), ["a"]);
      assert.throws(() => s.setApplied(0), /applied index would go back/);
    } finally {
      s.close();
    }
    const r = SqliteAcceptorStore.open(file, ID);
    try {
      assert.equal(r.applied(), 1);
    } finally {
      r.close();
    }
  });

  test("a zero-byte file, or an empty WAL-mode file left by a crash, is initialised", () => {
    const empty = dbPath();
    fs.writeFileSync(empty, "");
    const leftover = dbPath();
    const raw = new Database(leftover);
    raw.pragma("journal_mode = WAL");
    raw.close();
    for (const file of [empty, leftover]) {
      const s = SqliteAcceptorStore.open(file, ID);
      try {
        assert.equal(s.info().clusterId, "cluster-a");
      } finally {
        s.close();
      }
    }
  });

  test("another cluster's file is refused with CLUSTER_MISMATCH", () => {
    const file = dbPath();
    SqliteAcceptorStore.open(file, ID).close();
    const err = assertRefused(
      () => SqliteAcceptorStore.open(file, { clusterId: "cluster-b", nodeId: "n1" }),
      file,
      "CLUSTER_MISMATCH",
      /belongs to cluster "cluster-a", not "cluster-b"; if this node is a member of "cluster-a", start it with that --cluster-id; otherwise point --data-dir at .*rather than delete it\)$/,
    );
    assert.equal(err.name, "StoreError");
    // The refusal wrote nothing and left the file usable by its own node.
    const s = SqliteAcceptorStore.open(file, ID);
    s.close();
  });

  test("another node's file is refused with NODE_MISMATCH", () => {
    const file = dbPath();
    SqliteAcceptorStore.open(file, ID).close();
    assertRefused(
      () => SqliteAcceptorStore.open(file, { clusterId: "cluster-a", nodeId: "n2" }),
      file,
      "NODE_MISMATCH",
      /belongs to node "n1", not "n2"/,
    );
  });

  test("a newer schema is refused with SCHEMA_TOO_NEW", () => {
    const file = dbPath();
    SqliteAcceptorStore.open(file, ID).close();
    const raw = new Database(file);
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(SCHEMA_VERSION + 1);
    raw.close();
    assertRefused(() => SqliteAcceptorStore.open(file, ID), file, "SCHEMA_TOO_NEW", /upgrade zk-node/);
    assertRefused(() => SqliteAcceptorStore.open(file, null, { readonly: true }), file, "SCHEMA_TOO_NEW");
  });

  test("a file that is not SQLite at all is refused with CORRUPT and left untouched", () => {
    const file = dbPath();
    const garbage = Buffer.alloc(8192);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256;
    fs.writeFileSync(file, garbage);
    assertRefused(() => SqliteAcceptorStore.open(file, ID), file, "CORRUPT", /not a SQLite database/);
    assert.deepEqual(fs.readFileSync(file), garbage);
  });

  test("another application's SQLite file is refused with NOT_ZK and left untouched", () => {
    const plain = dbPath();
    let raw = new Database(plain);
    raw.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann')");
    raw.close();
    const otherApp = dbPath();
    raw = new Database(otherApp);
    raw.pragma("application_id = 1234");
    raw.exec("CREATE TABLE t (x)");
    raw.close();
    const before = fs.readFileSync(plain);
    assertRefused(() => SqliteAcceptorStore.open(plain, ID), plain, "NOT_ZK", /another application/);
    assertRefused(() => SqliteAcceptorStore.open(otherApp, ID), otherApp, "NOT_ZK", /0x4d2/);
    // Not switched to WAL, not given zk tables: the other application's file is as it was.
    assert.deepEqual(fs.readFileSync(plain), before);
    raw = new Database(plain, { readonly: true });
    assert.equal(raw.pragma("journal_mode", { simple: true }), "delete");
    raw.close();
  });

  test("a page that only the integrity check finds wrong is refused with CORRUPT", () => {
    const file = dbPath();
    writeBigStore(file);
    const { pageSize, pages } = leafPages(file);
    const pg = pages[Math.floor(pages.length / 2)] ?? assert.fail("no leaf page");
    // Byte 7 of a b-tree page header counts fragmented free bytes; a wrong count breaks no
    // read, so only PRAGMA quick_check can notice it.
    overwrite(file, (pg - 1) * pageSize + 7, bytes(200));
    const raw = new Database(file, { readonly: true });
    assert.equal(raw.prepare("SELECT count(*) FROM entries").pluck().get(), 600);
    raw.close();
    assertRefused(() => SqliteAcceptorStore.open(file, ID), file, "CORRUPT", /failed SQLite's integrity check: Fragmentation/);
  });

  test("a corrupted b-tree page is refused with CORRUPT", () => {
    const file = dbPath();
    writeBigStore(file);
    const { pageSize, pages } = leafPages(file);
    assert.ok(pages.length > 10, `expected many leaf pages, got ${pages.length}`);
    const pg = pages[Math.floor(pages.length / 2)] ?? assert.fail("no leaf page");
    // The first cell pointer of a leaf page in the middle of the entries table points past the page.
    overwrite(file, (pg - 1) * pageSize + 8, bytes(0xff, 0xf0));
    assertRefused(() => SqliteAcceptorStore.open(file, ID), file, "CORRUPT", /integrity check|corrupt|malformed/);
    assertRefused(() => SqliteAcceptorStore.open(file, null, { readonly: true }), file, "CORRUPT");
  });

  test("pages overwritten with junk are refused with CORRUPT", () => {
    const file = dbPath();
    writeBigStore(file);
    const { pageSize, pages } = leafPages(file);
    const pg = pages[Math.floor(pages.length / 2)] ?? assert.fail("no leaf page");
    const junk = new Uint8Array(pageSize * 3);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) % 256;
    overwrite(file, (pg - 1) * pageSize, junk);
    assertRefused(() => SqliteAcceptorStore.open(file, ID), file, "CORRUPT");
  });

  test("readonly open beside a live writer sees committed data and writes nothing", () => {
    const file = dbPath();
    const w = SqliteAcceptorStore.open(file, ID);
    try {
      w.save(hs(2, "n1", 1), [entry(1, 2, "n1", bytes(1)), entry(2, 2, "n1", bytes(2)), entry(3, 2, "n1", NOOP)]);
      w.transaction(() => w.setApplied(1));
      const r = SqliteAcceptorStore.open(file, null, { readonly: true });
      try {
        assert.equal(r.readonly, true);
        const { dbBytes, freeBytes, ...info } = r.info();
        assert.ok(dbBytes > 0 && freeBytes >= 0);
        assert.deepEqual(info, {
          clusterId: "cluster-a",
          nodeId: "n1",
          schemaVersion: SCHEMA_VERSION,
          promised: { round: 2, nodeId: "n1" },
          chosen: 1,
          applied: 1,
          entryCount: 3,
          firstSlot: 1,
          lastSlot: 3,
          members: null,
          membership: null,
          snapshotIndex: 0,
          firstEntrySlot: 1,
          treeInMemory: false,
          autoVacuum: "incremental",
        });
        // The writer goes on; the reader sees each commit.
        w.save(hs(3, "n1", 3), [entry(4, 3, "n1", bytes(4))]);
        w.transaction(() => w.setApplied(3));
        assert.equal(r.info().chosen, 3);
        assert.equal(r.applied(), 3);
        assert.deepEqual(r.readEntries(2, 4, 2), [entry(2, 2, "n1", bytes(2)), entry(3, 2, "n1", new Uint8Array(0))]);
        assert.deepEqual(r.readEntries(4, 100, 10), [entry(4, 3, "n1", bytes(4))]);
        assert.deepEqual(r.readEntries(5, 4, 10), []);
        assert.deepEqual(r.load().entries.map((e) => e.slot), [1, 2, 3, 4]);
        assert.throws(() => r.save(hs(9, "n1", 3), []), /read-only/);
        assert.throws(() => r.setApplied(4), /read-only/);
      } finally {
        r.close();
      }
      // A reader that names an identity still has it checked.
      assertRefused(
        () => SqliteAcceptorStore.open(file, { clusterId: "other", nodeId: "n1" }, { readonly: true }),
        file,
        "CLUSTER_MISMATCH",
      );
      w.save(hs(3, "n1", 4), [entry(5, 3, "n1", bytes(5))]);
      assert.equal(w.info().lastSlot, 5);
    } finally {
      w.close();
    }
  });

  test("whether its node holds the tree in memory is recorded for readers, and written only when it changes", () => {
    const file = dbPath();
    const s = SqliteAcceptorStore.open(file, ID);
    try {
      assert.equal(s.info().treeInMemory, false, "a new store: the tree in its tables");
      s.recordTreeInMemory(true);
      const reader = SqliteAcceptorStore.open(file, null, { readonly: true });
      try {
        assert.equal(reader.info().treeInMemory, true, "a reader beside the node sees it");
      } finally {
        reader.close();
      }
      const changes = () => s.db.prepare("SELECT total_changes()").pluck().get() as number;
      const before = changes();
      s.recordTreeInMemory(true);
      assert.equal(changes(), before, "the same mode again writes nothing");
      s.recordTreeInMemory(false);
      assert.equal(s.info().treeInMemory, false);
    } finally {
      s.close();
    }
  });

  test("readonly open of a missing file fails without creating it", () => {
    const file = dbPath();
    assert.throws(() => SqliteAcceptorStore.open(file, null, { readonly: true }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(err.message.includes(file), err.message);
      return true;
    });
    assert.equal(fs.existsSync(file), false);
  });
});

describe("durability of a transaction", () => {
  test("SQLite fsyncs (synchronous=FULL) a transaction that records entries or a promise, not one that only applies", () => {
    const s = SqliteAcceptorStore.open(dbPath(), ID);
    try {
      const mode = () => s.db.pragma("synchronous", { simple: true });
      s.transaction(() => assert.equal(mode(), 1), { durable: false });
      s.transaction(() => assert.equal(mode(), 2), { durable: true });
      s.transaction(() => assert.equal(mode(), 1), { durable: false });
      s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]);
      assert.equal(mode(), 2, "a save outside a transaction is always fsynced");
      assert.equal(mustSync(hs(1, "n1", 1), [], s.persistedPromise), false, "advancing the chosen index alone needs no fsync");
      assert.equal(mustSync(hs(2, "n2", 1), [], s.persistedPromise), true, "a new promise does");
      assert.equal(mustSync(null, [entry(2, 1, "n1", bytes(2))], s.persistedPromise), true, "accepted entries do");
    } finally {
      s.close();
    }
  });

  test("a transaction committed `later` is not fsynced by itself; flush() makes it durable off the event loop", async () => {
    const path = dbPath();
    const s = SqliteAcceptorStore.open(path, ID);
    try {
      const mode = () => s.db.pragma("synchronous", { simple: true });
      s.transaction(() => {
        assert.equal(mode(), 1, "committed without its own fsync (NORMAL)");
        s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]);
      }, { durable: true, later: true });
      let sync = false;
      const flushed = new Promise<Error | null>((resolve) => s.flush((err) => resolve(err)));
      void flushed.then(() => (sync = true));
      assert.equal(sync, false, "flush() answers asynchronously");
      assert.equal(await flushed, null);
      s.transaction(() => assert.equal(mode(), 2), { durable: true });
    } finally {
      s.close();
    }
    const back = SqliteAcceptorStore.open(path, ID);
    try {
      assert.equal(back.load().entries.length, 1);
    } finally {
      back.close();
    }
  });

  test("flush() syncs the log SQLite writes now, even if the file it first opened was deleted", async () => {
    const path = dbPath();
    const s = SqliteAcceptorStore.open(path, ID);
    const walFd = () => (s as unknown as { walFd: number | null }).walFd;
    try {
      s.transaction(() => s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]), { later: true });
      await new Promise<void>((resolve) => s.flush(() => resolve()));
      const first = walFd();
      assert.notEqual(first, null);
      assert.equal(fs.fstatSync(first!).ino, fs.statSync(`${path}-wal`).ino);
      // What flush() must not miss: the log it holds is gone and a new one is at the path.
      fs.unlinkSync(`${path}-wal`);
      fs.writeFileSync(`${path}-wal`, "");
      assert.equal(await new Promise<Error | null>((resolve) => s.flush(resolve)), null);
      assert.equal(fs.fstatSync(walFd()!).ino, fs.statSync(`${path}-wal`).ino, "the descriptor follows the path to the new log");
    } finally {
      s.close();
    }
  });

  test("a failed fsync of the log reaches flush()'s caller with the OS's code", async () => {
    const s = SqliteAcceptorStore.open(dbPath(), ID);
    try {
      s.transaction(() => s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]), { later: true });
      // The log's descriptor closed under the store: fdatasync fails (EBADF), as a failing disk's would (EIO).
      const fd = (s as unknown as { walFd: number | null }).walFd;
      await new Promise<void>((resolve) => s.flush(() => resolve()));
      fs.closeSync((s as unknown as { walFd: number }).walFd);
      const err = await new Promise<Error | null>((resolve) => s.flush(resolve));
      assert.equal(fd, null, "the log is opened by the first flush");
      assert.match(err?.message ?? "", /fsync of .*zk\.db-wal|fsync of .*-wal failed/);
      assert.equal((err as { code?: string }).code, "EBADF");
      (s as unknown as { walFd: number | null }).walFd = null;
    } finally {
      s.close();
    }
  });

  test("the in-memory store keeps `later` commits through a crash only once a flush covers them", () => {
    const s = new MemAcceptorStore();
    s.load();
    s.transaction(() => s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1))]), { later: true });
    const first = s.lastCommit;
    s.transaction(() => s.save(hs(2, "n2", 0), [entry(2, 2, "n2", bytes(2))]), { later: true });
    s.flushed(first);
    s.crash();
    const back = s.load();
    assert.deepEqual(back.hardState, hs(1, "n1", 0), "the promise of the unflushed commit is gone");
    assert.deepEqual(back.entries.map((e) => e.slot), [1], "and so is its entry");
    s.transaction(() => s.save(hs(2, "n2", 0), [entry(2, 2, "n2", bytes(2))]), { later: true });
    s.flushed(s.lastCommit);
    s.crash();
    assert.deepEqual(s.load().entries.map((e) => e.slot), [1, 2], "a flushed commit survives");
  });

  test("the in-memory store loses what was committed without fsync when it crashes, and nothing else", () => {
    const s = new MemAcceptorStore();
    s.load();
    s.transaction(() => s.save(hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1)), entry(2, 1, "n1", bytes(2))]), { durable: true });
    s.transaction(() => {
      s.save(hs(1, "n1", 2), []);
      s.setApplied(2);
    }, { durable: false });
    assert.equal(s.applied(), 2);
    s.crash();
    const back = s.load();
    assert.deepEqual(back.hardState, hs(1, "n1", 0));
    assert.equal(s.applied(), 0);
    assert.equal(back.entries.length, 2, "entries were durable");
    assert.throws(() => s.transaction(() => s.save(hs(1, "n1", 0), [entry(3, 1, "n1", bytes(3))]), { durable: false }), /without fsync recorded a promise or entries/);
    assert.equal(s.entry(3), undefined, "and the refused transaction left nothing");
  });
});

describe("MemAcceptorStore", () => {
  test("round trip: ascending entries, replaced slots, no-ops, hard state, applied", () => {
    const s = new MemAcceptorStore();
    assert.deepEqual(s.load(), { hardState: { promised: ZERO_BALLOT, chosen: 0 }, entries: [], entriesFrom: 1, discardedTo: 0 });
    s.save(hs(2, "n1", 0), [entry(3, 2, "n1", bytes(3)), entry(1, 2, "n1", bytes(1)), entry(2, 2, "n1", NOOP)]);
    s.save(hs(3, "n2", 2), [entry(3, 3, "n2", bytes(33))]);
    s.save(null, [entry(7, 3, "n2", bytes(7))]);
    s.setApplied(2);
    s.close();
    assert.throws(() => s.save(null, []), /closed/);
    const loaded = s.load();
    assert.deepEqual(loaded, {
      hardState: hs(3, "n2", 2),
      entries: [entry(1, 2, "n1", bytes(1)), entry(2, 2, "n1", NOOP), entry(3, 3, "n2", bytes(33)), entry(7, 3, "n2", bytes(7))],
      entriesFrom: 1,
      discardedTo: 0,
    });
    // The log can be loaded from a later slot, and older entries read on demand.
    assert.deepEqual(s.load({ entriesFrom: 3 }).entries.map((e) => e.slot), [3, 7]);
    assert.deepEqual(s.entry(2), entry(2, 2, "n1", NOOP));
    assert.deepEqual(s.entries(1, 3).map((e) => e.slot), [1, 2, 3]);
    assert.equal(s.applied(), 2);
    // After the restart the node may write again.
    s.save(hs(3, "n2", 3), []);
    assert.equal(s.load().hardState.chosen, 3);
  });

  test("load() returns copies and save() copies its input", () => {
    const s = new MemAcceptorStore();
    const cmd = bytes(1, 2, 3);
    s.save(hs(1, "n1", 0), [entry(1, 1, "n1", cmd)]);
    cmd[0] = 99; // the node reuses its buffer after the save
    const first = s.load();
    const firstEntry = first.entries[0] ?? assert.fail("no entry");
    firstEntry.command[1] = 99;
    (first.entries as Entry[]).push(entry(2, 1, "n1", bytes(2)));
    (firstEntry.ballot as { round: number }).round = 50;
    assert.deepEqual(s.load().entries, [entry(1, 1, "n1", bytes(1, 2, 3))]);
  });

  test("a save that fails validation changes nothing", () => {
    const s = new MemAcceptorStore();
    s.save(hs(2, "n2", 1), [entry(1, 2, "n2", bytes(1))]);
    assert.throws(() => s.save(hs(3, "n1", 1), [entry(2, 3, "n1", bytes(2)), entry(-1, 3, "n1", bytes(9))]), RangeError);
    assert.throws(() => s.save(hs(1, "n9", 1), [entry(2, 3, "n1", bytes(2))]), /promised ballot would go back/);
    assert.deepEqual(s.load(), { hardState: hs(2, "n2", 1), entries: [entry(1, 2, "n2", bytes(1))], entriesFrom: 1, discardedTo: 0 });
  });

  test("transaction() rolls back saves and setApplied when fn throws", () => {
    const s = new MemAcceptorStore();
    s.save(hs(1, "n1", 1), [entry(1, 1, "n1", bytes(1))]);
    assert.throws(() =>
      s.transaction(() => {
        s.save(hs(2, "n1", 2), [entry(1, 2, "n1", bytes(11)), entry(2, 2, "n1", bytes(2))]);
        s.setApplied(2);
        throw new Error("apply failed");
      }),
    /apply failed/);
    assert.deepEqual(s.load(), { hardState: hs(1, "n1", 1), entries: [entry(1, 1, "n1", bytes(1))], entriesFrom: 1, discardedTo: 0 });
    assert.equal(s.applied(), 0);
  });

  test("a snapshot install or a compaction in a transaction that fails leaves the log as it was", () => {
    // As SQLite's rollback does: a snapshot whose commit hit a full disk deleted nothing, so
    // the restarted node loads its log from where it started, not past its chosen index.
    const s = new MemAcceptorStore();
    s.save(hs(1, "n1", 2), [entry(1, 1, "n1", bytes(1)), entry(2, 1, "n1", bytes(2)), entry(3, 1, "n1", bytes(3))]);
    s.setApplied(2);
    const before = s.peek();
    for (const change of [() => s.installSnapshot(5), () => s.discardBelow(3)]) {
      assert.throws(() =>
        s.transaction(() => {
          change();
          throw new Error("database or disk is full");
        }),
      /disk is full/);
      assert.deepEqual(s.peek(), before);
      assert.equal(s.applied(), 2);
    }
    s.close();
    assert.deepEqual(s.load(), before);
  });

  test("planted bug forgetPromiseOnRestart loses the promise, and only when planted", () => {
    const honest = new MemAcceptorStore();
    const buggy = new MemAcceptorStore({ plantedBugs: { forgetPromiseOnRestart: true } });
    for (const s of [honest, buggy]) {
      s.load();
      s.save(hs(7, "n3", 2), [entry(1, 7, "n3", bytes(1)), entry(2, 7, "n3", bytes(2))]);
      assert.deepEqual(s.peek().hardState, hs(7, "n3", 2));
      s.close();
    }
    assert.deepEqual(honest.load().hardState, hs(7, "n3", 2));
    const restarted = buggy.load();
    assert.deepEqual(restarted.hardState, { promised: ZERO_BALLOT, chosen: 2 });
    assert.equal(restarted.entries.length, 2);
    // Having forgotten, the buggy store lets the node promise a lower ballot than before:
    // exactly the unsafety the simulator must catch.
    buggy.save(hs(1, "n1", 2), []);
    assert.deepEqual(buggy.peek().hardState, hs(1, "n1", 2));
    assert.throws(() => honest.save(hs(1, "n1", 2), []), /promised ballot would go back/);
  });
});

describe("the two stores agree", () => {
  test("the same saves give the same load() from SQLite and memory", () => {
    const file = dbPath();
    const sqlite = SqliteAcceptorStore.open(file, ID);
    const mem = new MemAcceptorStore();
    const stores: AcceptorStore[] = [sqlite, mem];
    const steps: [HardState | null, Entry[]][] = [
      [hs(1, "n1", 0), [entry(1, 1, "n1", bytes(1)), entry(2, 1, "n1", NOOP)]],
      [null, [entry(4, 1, "n1", bytes(4, 4))]],
      [hs(2, "n2", 1), [entry(2, 2, "n2", bytes(22)), entry(3, 2, "n2", NOOP)]],
      [hs(2, "n2", 4), []],
    ];
    for (const [h, es] of steps) for (const s of stores) s.save(h, es);
    sqlite.close();
    const reopened = SqliteAcceptorStore.open(file, ID);
    try {
      assert.deepEqual(reopened.load(), mem.load());
    } finally {
      reopened.close();
    }
  });
});
