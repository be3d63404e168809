// Snapshots (storage/snapshot.ts) and log compaction (SqliteAcceptorStore.markSnapshot /
// compactStep), on real store files: a round trip keeps the tree hash; a truncated or
// corrupted file is refused with one line and writes nothing; an install is one transaction;
// compaction deletes only what it may, moves the log's start, and load() reports it.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteAcceptorStore, SnapshotError, readSnapshotFile, snapshotChunks, openSnapshotSource, verifySnapshotFile, writeSnapshotFile } from "../src/storage/index.js";
import { ZnodeTree, WatchLog, encodeCommand } from "../src/tree/index.js";
import { treeHash } from "../src/tree/hash.js";
import type { Command } from "../src/gen/zk/v1/types.js";

const te = new TextEncoder();
const cmd = (op: Command["op"], timeMs: number, requestId = ""): Command => ({ requestId, timeMs, nonce: 0, op });
const put = (path: string, data: string | Uint8Array): Command["op"] => ({ $case: "put", value: { path, data: typeof data === "string" ? te.encode(data) : data } });
const members = [{ id: "n1", address: "127.0.0.1:1" }];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "zk-snap-"));
}

/** A store with `n` applied writes (entries stored and applied as the driver does), a session and a deduplicated key. */
function storeWithWrites(dir: string, n: number, opts: { dataBytes?: number; keys?: number } = {}): SqliteAcceptorStore {
  const store = SqliteAcceptorStore.open(join(dir, "zk.db"), { clusterId: "c1", nodeId: "n1" }, { members });
  const tree = new ZnodeTree(store.db);
  const watch = new WatchLog(store.db);
  const applyBatch = (from: number, commands: Command[]) => {
    store.transaction(() => {
      const entries = commands.map((c, i) => ({ slot: from + i, ballot: { round: 1, nodeId: "n1" }, command: encodeCommand(c) }));
      store.save({ promised: { round: 1, nodeId: "n1" }, chosen: from + commands.length - 1 }, entries);
      watch.record(commands.flatMap((c, i) => tree.apply(from + i, c).events));
      store.setApplied(from + commands.length - 1);
    });
  };
  let slot = 1;
  applyBatch(slot++, [cmd({ $case: "openSession", value: { sessionId: 77, ttlMs: 5000 } }, 1000)]);
  const big = opts.dataBytes ?? 0;
  for (let i = 0; i < n; i += 100) {
    const batch: Command[] = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(cmd(put(`/k${j % (opts.keys ?? n)}`, big > 0 ? new Uint8Array(big).fill(j % 251) : `value-${j}`), 2000 + j, `req-${j}`));
    applyBatch(slot, batch);
    slot += batch.length;
  }
  return store;
}

describe("snapshot file", () => {
  test("round trip: create, verify, install into a new store; tree hash and data equal", async () => {
    const dir = tmp();
    try {
      const store = storeWithWrites(dir, 1000);
      const before = treeHash(store.db);
      const file = join(dir, "snap.zks");
      const info = await writeSnapshotFile(store.path, file, { chunkBytes: 4096 });
      assert.equal(info.header.slot, store.applied());
      assert.equal(info.header.clusterId, "c1");
      assert.equal(info.summary.treeHash, before, "the summary carries the tree hash at the slot");
      assert.equal(info.summary.rows.znodes, 1001);
      assert.equal(info.bytes, statSync(file).size);
      const checked = verifySnapshotFile(file);
      assert.equal(checked.sha256, info.sha256);

      const target = join(dir, "restored.db");
      SqliteAcceptorStore.createFromSnapshot(file, target, { clusterId: "c2", nodeId: "n1" }, members);
      const restored = SqliteAcceptorStore.open(target, { clusterId: "c2", nodeId: "n1" });
      try {
        assert.equal(treeHash(restored.db), before);
        const i = restored.info();
        assert.equal(i.applied, info.header.slot);
        assert.equal(i.chosen, info.header.slot);
        assert.equal(i.snapshotIndex, info.header.slot);
        assert.equal(i.firstEntrySlot, info.header.slot + 1);
        assert.equal(i.entryCount, 0);
        assert.equal(i.autoVacuum, "incremental");
        const loaded = restored.load({ entriesFrom: 1 });
        assert.equal(loaded.entriesFrom, info.header.slot + 1, "load() starts the log after the snapshot");
        assert.equal(Buffer.from(new ZnodeTree(restored.db).get("/k7")?.data ?? new Uint8Array()).toString(), "value-7");
        assert.equal(new ZnodeTree(restored.db).session(77)?.ttlMs, 5000);
        assert.equal(new WatchLog(restored.db).oldestAvailable(), info.header.slot + 1);
      } finally {
        restored.close();
        store.close();
      }
      assert.ok(!existsSync(`${target}.restoring`), "no temp file left");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("chunks are bounded and concatenate to the file; the writer keeps writing meanwhile", async () => {
    const dir = tmp();
    try {
      const store = storeWithWrites(dir, 300, { dataBytes: 3000 });
      const src = openSnapshotSource(store.path);
      const gen = snapshotChunks(src, { chunkBytes: 10_000 });
      const parts: Buffer[] = [];
      let r = await gen.next();
      // A write on the node's own connection while the snapshot's read is open: not in the snapshot.
      const slot = store.applied();
      store.transaction(() => {
        new ZnodeTree(store.db).apply(slot + 1, cmd(put("/later", "x"), 9_999_999));
        store.setApplied(slot + 1);
      });
      while (!r.done) {
        assert.ok(r.value.length <= 10_000);
        parts.push(r.value);
        r = await gen.next();
      }
      src.close();
      assert.equal(r.value.header.slot, slot, "the snapshot is at the slot its read began at");
      const file = join(dir, "s.zks");
      writeFileSync(file, Buffer.concat(parts));
      const seen: string[] = [];
      readSnapshotFile(file, { row: (t, v) => (t === "znodes" ? seen.push(String(v[0])) : undefined) });
      assert.ok(!seen.includes("/later"));
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a truncated, corrupted or foreign file is refused with one line, and nothing is written", async () => {
    const dir = tmp();
    try {
      const store = storeWithWrites(dir, 200);
      const file = join(dir, "snap.zks");
      await writeSnapshotFile(store.path, file);
      const good = readFileSync(file);
      const cases: [string, Buffer, RegExp][] = [
        ["truncated", good.subarray(0, good.length - 100), /truncated/],
        ["cut in half", good.subarray(0, Math.floor(good.length / 2)), /truncated/],
        ["one byte flipped", Buffer.from(good).fill(good[500]! ^ 0xff, 500, 501), /corrupted/],
        ["empty", Buffer.alloc(0), /empty/],
        ["not a snapshot", Buffer.from("hello world, this is not a snapshot at all".repeat(4)), /not a zk snapshot/],
      ];
      for (const [name, bytes, why] of cases) {
        const bad = join(dir, `bad-${name.replace(/ /g, "-")}.zks`);
        writeFileSync(bad, bytes);
        assert.throws(() => verifySnapshotFile(bad), (e: Error) => e instanceof SnapshotError && why.test(e.message) && !e.message.includes("\n"), name);
        const target = join(dir, `restored-${name.replace(/ /g, "-")}.db`);
        assert.throws(() => SqliteAcceptorStore.createFromSnapshot(bad, target, { clusterId: "c2", nodeId: "n1" }, members), SnapshotError, name);
        assert.ok(!existsSync(target) && !existsSync(`${target}.restoring`), `${name}: nothing written`);
      }
      // Into a live store: the whole install rolls back, the old state stays.
      const hash = treeHash(store.db);
      const applied = store.applied();
      const flipped = join(dir, "bad-one-byte-flipped.zks");
      assert.throws(() => store.installSnapshot(flipped), /corrupted/);
      assert.equal(treeHash(store.db), hash);
      assert.equal(store.applied(), applied);
      assert.equal(store.info().snapshotIndex, 0);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("installSnapshot into a lagging store of the same cluster: state, applied, chosen, log start", async () => {
    const dir = tmp();
    const dir2 = tmp();
    try {
      const ahead = storeWithWrites(dir, 500);
      const behind = storeWithWrites(dir2, 100);
      const file = join(dir, "snap.zks");
      const info = await writeSnapshotFile(ahead.path, file);
      assert.throws(() => behind.installSnapshot(file, { clusterId: "other" }), /snapshot of cluster "c1"/);
      behind.installSnapshot(file, { clusterId: "c1" });
      assert.equal(treeHash(behind.db), treeHash(ahead.db));
      assert.equal(behind.applied(), info.header.slot);
      assert.equal(behind.load().hardState.chosen, info.header.slot);
      assert.equal(behind.info().entryCount, 0, "entries up to the snapshot's slot are gone");
      // Going back is refused.
      const older = join(dir2, "older.zks");
      const small = storeWithWrites(tmp(), 10);
      await writeSnapshotFile(small.path, older);
      assert.throws(() => behind.installSnapshot(older), /behind this store's applied index/);
      small.close();
      ahead.close();
      behind.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});

describe("log compaction", () => {
  test("markSnapshot + compactStep delete below the retained tail in bounded steps; load() and info() report the start", () => {
    const dir = tmp();
    try {
      const store = storeWithWrites(dir, 3000, { dataBytes: 500 });
      const applied = store.applied();
      assert.equal(store.info().firstEntrySlot, 1);
      assert.throws(() => store.markSnapshot(applied + 1, 0), /past the applied index/);
      store.markSnapshot(applied, 1000);
      const target = applied - 1000 + 1;
      let steps = 0;
      let deletedTotal = 0;
      for (;;) {
        const s = store.compactStep({ rowsMax: 400, vacuumPagesMax: 50 });
        assert.ok(s.deleted <= 400);
        deletedTotal += s.deleted;
        steps++;
        if (s.done) break;
        assert.ok(steps < 1000, "compaction finishes");
      }
      assert.ok(steps > 5, "it took several bounded steps");
      const info = store.info();
      assert.equal(info.firstEntrySlot, target);
      assert.equal(info.firstSlot, target);
      assert.equal(info.snapshotIndex, applied);
      assert.equal(deletedTotal, target - 1);
      assert.equal(info.freeBytes, 0, "incremental vacuum returned the free pages");
      const loaded = store.load({ entriesFrom: 1 });
      assert.equal(loaded.entriesFrom, target);
      assert.deepEqual(store.logStart(), { snapshotIndex: applied, firstEntrySlot: target });
      assert.equal(loaded.entries[0]?.slot, target);
      assert.equal(store.entry(target - 1), undefined);
      store.close();
      // The start survives a restart.
      const again = SqliteAcceptorStore.open(join(dir, "zk.db"), { clusterId: "c1", nodeId: "n1" });
      assert.equal(again.load().entriesFrom, target);
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the database file shrinks after compaction (auto_vacuum=INCREMENTAL)", () => {
    const dir = tmp();
    try {
      const store = storeWithWrites(dir, 2000, { dataBytes: 2000, keys: 10 });
      const before = store.info().dbBytes;
      store.markSnapshot(store.applied(), 0);
      while (!store.compactStep().done);
      store.db.pragma("wal_checkpoint(TRUNCATE)");
      const after = store.info().dbBytes;
      assert.ok(after < before / 2, `db ${before} -> ${after} bytes`);
      assert.equal(store.info().entryCount, 0);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
