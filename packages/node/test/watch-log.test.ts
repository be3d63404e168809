// The watch history (src/tree/watch-log.ts): one row per apply transaction, read back by zxid
// range in order; events gathered and not flushed are never read or committed by accident;
// a store of schema 5 (one row per event) keeps its history through the migration.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { InvariantError } from "../src/paxos/index.js";
import { SCHEMA_VERSION, SqliteAcceptorStore } from "../src/storage/index.js";
import { WatchLog } from "../src/tree/index.js";
import { EventType, WatchEvent } from "../src/gen/zk/v1/kv.js";
import { rawStoreAtSchema } from "./support/raw-store.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-watch-log-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ID = { clusterId: "c1", nodeId: "n1" };
let files = 0;
const newFile = () => path.join(tmp, `w${files++}.db`);

const changed = (zxid: number, p = `/k${zxid}`): WatchEvent => ({ type: EventType.CHANGED, path: p, zxid, stat: undefined });
const created = (zxid: number): WatchEvent[] => [
  { type: EventType.CREATED, path: `/n${zxid}`, zxid, stat: undefined },
  { type: EventType.CHILDREN_CHANGED, path: "/", zxid, stat: undefined },
];
const key = (e: WatchEvent) => `${e.zxid} ${EventType[e.type]} ${e.path}`;

describe("WatchLog", () => {
  test("held (--tree-in-memory): batches stay in memory, read with the rows, until a checkpoint writes them; a replay records nothing twice", () => {
    const file = newFile();
    const store = SqliteAcceptorStore.open(file, ID);
    try {
      const log = new WatchLog(store.db);
      store.transaction(() => log.record([changed(1), changed(2)]));
      log.hold();
      log.record([changed(3)]);
      log.record(created(4));
      const mark = log.heldCount;
      log.record([changed(5)]);
      log.dropHeldAfter(mark); // zxid 5's apply was taken back
      assert.equal(store.db.prepare("SELECT count(*) FROM watch_batches").pluck().get(), 1, "held batches are not written");
      assert.deepEqual(log.read(1, 10).map(key), ["1 CHANGED /k1", "2 CHANGED /k2", "3 CHANGED /k3", "4 CREATED /n4", "4 CHILDREN_CHANGED /"]);
      assert.deepEqual(log.read(3, 3).map(key), ["3 CHANGED /k3"]);
      // A checkpoint whose transaction fails keeps them held; the next one writes them.
      assert.throws(() => store.transaction(() => {
        assert.equal(log.writeHeld(), 2);
        throw new Error("the commit failed");
      }), /the commit failed/);
      assert.deepEqual(log.read(3, 4).map(key), ["3 CHANGED /k3", "4 CREATED /n4", "4 CHILDREN_CHANGED /"]);
      const n = store.transaction(() => log.writeHeld());
      log.heldWritten(n);
      assert.equal(log.heldCount, 0);
      assert.equal(store.db.prepare("SELECT count(*) FROM watch_batches").pluck().get(), 3);
      assert.deepEqual(log.read(1, 10).map(key), ["1 CHANGED /k1", "2 CHANGED /k2", "3 CHANGED /k3", "4 CREATED /n4", "4 CHILDREN_CHANGED /"]);
      // A restart replays zxids 3-5 (the checkpoint was at 2, say): only 5 is new to the history.
      const again = new WatchLog(store.db);
      again.hold();
      again.record([changed(3), ...created(4), changed(5)]);
      assert.deepEqual(again.read(1, 10).map(key), ["1 CHANGED /k1", "2 CHANGED /k2", "3 CHANGED /k3", "4 CREATED /n4", "4 CHILDREN_CHANGED /", "5 CHANGED /k5"]);
    } finally {
      store.close();
    }
  });

  test("events of several transactions, each one row, read back in order over any range", () => {
    const store = SqliteAcceptorStore.open(newFile(), ID);
    try {
      const log = new WatchLog(store.db);
      const all: WatchEvent[] = [];
      let zxid = 0;
      // Batches of 1, 5 and 3 zxids; zxid 4 has no events; creates have two events each.
      for (const size of [1, 5, 3]) {
        store.transaction(() => {
          const batch: WatchEvent[] = [];
          for (let i = 0; i < size; i++) {
            zxid++;
            batch.push(...(zxid === 4 ? [] : zxid % 2 === 0 ? created(zxid) : [changed(zxid)]));
          }
          log.record(batch);
          all.push(...batch);
        });
      }
      assert.equal(store.db.prepare("SELECT count(*) FROM watch_batches").pluck().get(), 3);
      for (let from = 1; from <= 9; from++) {
        for (let to = from; to <= 10; to++) {
          assert.deepEqual(log.read(from, to).map(key), all.filter((e) => e.zxid >= from && e.zxid <= to).map(key), `read(${from}, ${to})`);
        }
      }
      assert.deepEqual(log.read(10, 20), []);
    } finally {
      store.close();
    }
  });

  test("outside a transaction record() refuses; a rolled-back apply leaves no events", () => {
    const store = SqliteAcceptorStore.open(newFile(), ID);
    try {
      const log = new WatchLog(store.db);
      assert.throws(() => log.record([changed(1)]), InvariantError, "outside a transaction");
      assert.throws(() =>
        store.transaction(() => {
          log.record([changed(1)]);
          throw new Error("disk full");
        }),
      );
      assert.deepEqual(log.read(1, 1), []);
      store.transaction(() => log.record([changed(1, "/again")]));
      assert.deepEqual(log.read(1, 1).map(key), ["1 CHANGED /again"]);
    } finally {
      store.close();
    }
  });

  test("keeps a window of --watch-history-slots zxids and says where it starts", () => {
    const store = SqliteAcceptorStore.open(newFile(), ID);
    try {
      const log = new WatchLog(store.db, 100);
      for (let z = 1; z <= 500; z += 10) {
        store.transaction(() => log.record(Array.from({ length: 10 }, (_, i) => changed(z + i))));
      }
      const oldest = log.oldestAvailable();
      assert.ok(oldest > 1 && oldest >= 500 - 100 - 20 && oldest <= 500 - 100, `oldest ${oldest}`);
      assert.deepEqual(log.read(oldest, 500).map((e) => e.zxid), Array.from({ length: 501 - oldest }, (_, i) => oldest + i));
      const rows = store.db.prepare("SELECT count(*) FROM watch_batches").pluck().get() as number;
      assert.ok(rows <= 13, `${rows} batches kept for a window of 100 zxids`);
    } finally {
      store.close();
    }
  });

  test("a schema 5 store's history (a row per event) is there after the migration", () => {
    const file = newFile();
    const raw = rawStoreAtSchema(file, 5, ID);
    // Zxids far apart too: the migration converts in pages of zxids.
    const events = [changed(1), ...created(2), changed(3, "/x"), ...created(5000), changed(9000)];
    const seq = new Map<number, number>();
    for (const ev of events) {
      const s = seq.get(ev.zxid) ?? 0;
      seq.set(ev.zxid, s + 1);
      raw.prepare("INSERT INTO watch_events (zxid, seq, event) VALUES (?, ?, ?)").run(ev.zxid, s, WatchEvent.encode(ev).finish());
    }
    raw.close();

    const store = SqliteAcceptorStore.open(file, ID);
    try {
      assert.equal(store.info().schemaVersion, SCHEMA_VERSION);
      const log = new WatchLog(store.db);
      assert.deepEqual(log.read(1, 9000).map(key), events.map(key));
      assert.deepEqual(log.read(2, 2).map(key), created(2).map(key));
      const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'watch%'").pluck().all();
      assert.deepEqual(tables, ["watch_batches"]);
    } finally {
      store.close();
    }
  });
});
