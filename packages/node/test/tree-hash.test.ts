// treeHash: replicas that applied the same commands hash equal, whatever their batching or
// restarts; any difference that a later apply could observe changes the hash. Built through
// the real ZnodeTree on in-memory SQLite stores.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { SeededRng } from "../src/paxos/index.js";
import Database from "better-sqlite3";
import { MIGRATIONS } from "../src/storage/index.js";
import { REQUEST_IDS_KEPT_MS, REQUEST_IDS_KEPT_SLOTS, ZnodeTree } from "../src/tree/index.js";
import { TREE_HASH_EXCLUDED_TABLES, TREE_HASH_TABLES, treeHash } from "../src/tree/hash.js";
import type { Command } from "../src/gen/zk/v1/types.js";

const te = new TextEncoder();
const b = (s: string): Uint8Array => te.encode(s);

/** One command to apply at a zxid (zxids may jump, as slots skipped by no-ops do). */
interface Step {
  readonly zxid: number;
  readonly cmd: Command;
}

/**
 * A replica: an in-memory database with the store's schema (the real store insists on WAL,
 * which in-memory databases cannot do) and its tree, recording the applied index in meta in
 * the apply transaction as the store's setApplied does.
 */
class Replica {
  readonly db = new Database(":memory:");
  tree: ZnodeTree;

  constructor() {
    for (const migrate of MIGRATIONS) migrate(this.db);
    this.tree = new ZnodeTree(this.db);
  }

  /** Apply steps in transactions of `batch` commands, each recording the applied index. */
  applyAll(steps: readonly Step[], batch = 1): this {
    const setApplied = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'applied'");
    for (let i = 0; i < steps.length; i += batch) {
      this.db.transaction(() => {
        const part = steps.slice(i, i + batch);
        for (const s of part) this.tree.apply(s.zxid, s.cmd);
        setApplied.run(part[part.length - 1]!.zxid);
      })();
    }
    return this;
  }

  applied(): number {
    return Number(this.db.prepare("SELECT value FROM meta WHERE key = 'applied'").pluck().get());
  }

  /** What a process restart does to the tree: a new ZnodeTree on the same database. */
  restart(): this {
    this.tree = new ZnodeTree(this.db);
    return this;
  }

  hash(): string {
    return treeHash(this.db);
  }
}

const cmd = (op: Command["op"], timeMs = 1000, requestId = ""): Command => ({ requestId, timeMs, nonce: 0, op });
const create = (path: string, data = "", extra: { ephemeral?: boolean; sequential?: boolean; sessionId?: number } = {}): Command["op"] => ({
  $case: "create",
  value: { path, data: b(data), ephemeral: extra.ephemeral ?? false, sequential: extra.sequential ?? false, sessionId: extra.sessionId ?? 0 },
});
const set = (path: string, data: string, expectedVersion?: number): Command["op"] => ({
  $case: "set",
  value: { path, data: b(data), expectedVersion },
});
const del = (path: string): Command["op"] => ({ $case: "delete", value: { path } });
const openSession = (sessionId: number, ttlMs: number): Command["op"] => ({ $case: "openSession", value: { sessionId, ttlMs } });

/** A workload touching every hashed table: nodes, sequential children, a session with an ephemeral, deduplicated requests. */
function workload(): Step[] {
  const ops: Command[] = [
    cmd(create("/app", "root"), 1000, "r1"),
    cmd(create("/app/cfg", "v1"), 1010, "r2"),
    cmd(openSession(7, 5000), 1020),
    cmd(create("/app/lock-", "", { ephemeral: true, sequential: true, sessionId: 7 }), 1030, "r3"),
    cmd(create("/app/q-", "job", { sequential: true }), 1040),
    cmd(set("/app/cfg", "v2", 0), 1050, "r4"),
    cmd(set("/app/cfg", "stale", 0), 1060, "r5"), // BAD_VERSION: recorded for dedup as an error
    cmd(create("/app/tmp", "x"), 1070),
    cmd(del("/app/tmp"), 1080),
  ];
  return ops.map((c, i) => ({ zxid: i + 1, cmd: c }));
}

/** Random commands over a few paths, with a seeded RNG. */
function randomWorkload(rng: SeededRng, count: number): Step[] {
  const paths = ["/a", "/b", "/a/x", "/a/y", "/b/z"];
  const steps: Step[] = [];
  for (let i = 1; i <= count; i++) {
    const p = rng.pick(paths);
    const r = rng.int(10);
    const op: Command["op"] =
      r < 4 ? create(p, `d${i}`) : r < 7 ? set(p, `d${i}`, rng.chance(0.5) ? undefined : rng.int(3)) : r < 9 ? del(p) : openSession(1 + rng.int(3), 1000 + rng.int(5000));
    steps.push({ zxid: i, cmd: cmd(op, 1000 + i * 10, rng.chance(0.3) ? `req-${rng.int(50)}` : "") });
  }
  return steps;
}

describe("treeHash", () => {
  test("replicas that apply the same commands in the same order hash equal, whatever their batching", () => {
    const steps = [...workload(), ...randomWorkload(new SeededRng(9), 400).map((s) => ({ ...s, zxid: s.zxid + 100 }))];
    const a = new Replica().applyAll(steps, 1).hash();
    const c = new Replica().applyAll(steps, 7).hash();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.equal(c, a);
    assert.equal(new Replica().applyAll(steps, 1).hash(), a, "deterministic across runs");
  });

  test("one differing command changes the hash", () => {
    const base = workload();
    const h = new Replica().applyAll(base).hash();
    const differing = base.map((s, i) => (i === 5 ? { ...s, cmd: cmd(set("/app/cfg", "v2-other", 0), 1050, "r4") } : s));
    assert.notEqual(new Replica().applyAll(differing).hash(), h);
  });

  test("each kind of difference a later apply could observe changes the hash", () => {
    const base = workload();
    const variant = (i: number, c: Command): Step[] => base.map((s, j) => (j === i ? { ...s, cmd: c } : s));
    const variants: Record<string, Step[]> = {
      "znode data": variant(1, cmd(create("/app/cfg", "v1!"), 1010, "r2")),
      "znode time (mtime)": variant(5, cmd(set("/app/cfg", "v2", 0), 1051, "r4")),
      "session ttl": variant(2, cmd(openSession(7, 5001), 1020)),
      "ephemeral owner and sequence counter": variant(3, cmd(create("/app/lock-", "", { sequential: true }), 1030, "r3")),
      // The same tree, but a different request id remembered for deduplication.
      "dedup key": variant(5, cmd(set("/app/cfg", "v2", 0), 1050, "r4-other")),
      "dedup outcome only (a failed write's recorded error)": variant(6, cmd(set("/app/cfg", "stale", 3), 1060, "r5")),
      "a zxid (czxid/mzxid)": [...base.slice(0, 8), { zxid: 10, cmd: base[8]!.cmd }],
    };
    const hashes = new Map<string, string>([["base", new Replica().applyAll(base).hash()]]);
    for (const [name, steps] of Object.entries(variants)) {
      const h = new Replica().applyAll(steps).hash();
      for (const [other, oh] of hashes) assert.notEqual(h, oh, `${name} hashes like ${other}`);
      hashes.set(name, h);
    }
  });

  test("the applied index is part of the hash", () => {
    const r = new Replica().applyAll(workload());
    const h = r.hash();
    assert.equal(treeHash(r.db, { appliedIndex: r.applied() }), h);
    assert.notEqual(treeHash(r.db, { appliedIndex: r.applied() + 1 }), h);
  });

  test("a replica that restarted (and so evicts old dedup keys on other slots) still hashes equal", () => {
    // r1 at zxid 1 falls out of the deduplication window once the applied index passes
    // REQUEST_IDS_KEPT_SLOTS + 1 and REQUEST_IDS_KEPT_MS of leader time have passed. Eviction
    // runs every 1000 slots from when the process started: the replica that did not restart
    // still has the row, the restarted one not.
    const early: Step[] = [
      { zxid: 1, cmd: cmd(create("/a", "1"), 1000, "r1") },
      { zxid: REQUEST_IDS_KEPT_SLOTS, cmd: cmd(create("/b", "2"), 2000, "r2") },
    ];
    const late: Step[] = [{ zxid: REQUEST_IDS_KEPT_SLOTS + 500, cmd: cmd(create("/c", "3"), 1000 + REQUEST_IDS_KEPT_MS + 500, "r3") }];
    const steady = new Replica().applyAll(early).applyAll(late);
    const restarted = new Replica().applyAll(early).restart().applyAll(late);
    const rows = (r: Replica): unknown => r.db.prepare("SELECT request_id FROM requests ORDER BY zxid").pluck().all();
    assert.deepEqual(rows(steady), ["r1", "r2", "r3"]);
    assert.deepEqual(rows(restarted), ["r2", "r3"]);
    assert.equal(restarted.hash(), steady.hash());
    // And the lingering row really is forgotten by apply: a retry of r1 applies again on both.
    const retry: Step[] = [{ zxid: REQUEST_IDS_KEPT_SLOTS + 501, cmd: cmd(set("/a", "again"), 4000, "r1") }];
    steady.applyAll(retry);
    restarted.applyAll(retry);
    assert.equal(new TextDecoder().decode(steady.tree.get("/a")!.data), "again");
    assert.equal(restarted.hash(), steady.hash());
  });

  test("the node-local tables (log, watch history) do not change the hash", () => {
    const r = new Replica().applyAll(workload());
    const h = r.hash();
    r.db.prepare("INSERT INTO watch_batches (last_zxid, first_zxid, events) VALUES (1, 1, x'00')").run();
    r.db.prepare("INSERT INTO entries (slot, ballot_round, ballot_node, command) VALUES (99, 1, 'n1', x'')").run();
    assert.equal(r.hash(), h);
  });

  test("covers every table of the store's schema: an unknown table is refused, not skipped", () => {
    const r = new Replica();
    const tables = r.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all();
    assert.deepEqual(tables, [...TREE_HASH_TABLES, ...TREE_HASH_EXCLUDED_TABLES].sort());
    r.db.exec("CREATE TABLE acl (path TEXT PRIMARY KEY)");
    assert.throws(() => r.hash(), /does not know table\(s\) acl; add each to TREE_HASH_TABLES/);
  });

  test("a database without an applied index needs it passed", () => {
    const r = new Replica().applyAll(workload());
    const h = r.hash();
    r.db.prepare("DELETE FROM meta WHERE key = 'applied'").run();
    assert.throws(() => treeHash(r.db), /no applied index in meta; pass opts.appliedIndex/);
    assert.equal(treeHash(r.db, { appliedIndex: workload().length }), h);
  });
});
