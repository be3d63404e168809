// The znode tree on its two table sets (src/tree/tables.ts): the store's SQLite tables and
// JavaScript maps (MemTreeTables). The same random commands go to a tree on each; every
// outcome and, every few commands, every row must be the same. The commands reach every rule
// of the data model: sequential and ephemeral nodes, sessions ending, multis that fail half
// way (the maps' undo journal against SQLite's savepoint), ACLs with and without the
// principals, containers and TTL nodes reaped, request ids retried, and the deduplication
// window forgotten and evicted across large jumps of zxid and time.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SeededRng } from "../src/paxos/index.js";
import { SqliteAcceptorStore } from "../src/storage/index.js";
import {
  MemTreeTables,
  REQUEST_IDS_KEPT_MS,
  REQUEST_IDS_KEPT_SLOTS,
  ZnodeTree,
  digestOf,
  memTreeHash,
  treeHash,
  type ApplyOutcome,
  type TreeTables,
} from "../src/tree/index.js";
import type { Acl, Command, Op, Principal } from "../src/gen/zk/v1/types.js";

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-tree-tables-"));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const te = new TextEncoder();
const ALICE: Principal = { scheme: "digest", id: digestOf("alice:secret") };
const BOB: Principal = { scheme: "digest", id: digestOf("bob:secret") };
const PATHS = ["/a", "/a/b", "/a/b/c", "/a/d", "/b", "/b/x", "/c", "/c/y", "/\u00fc", "/\uf900", "/q", "/t", "/t/u"];
const SEQ_PREFIXES = ["/q/n-", "/a/s", "/q/"];
const SESSIONS = [11, 12, 13];

function randomAcl(rng: SeededRng): Acl[] {
  switch (rng.int(4)) {
    case 0:
      return [];
    case 1:
      return [{ perms: 31, scheme: "digest", id: ALICE.id }];
    case 2:
      return [{ perms: 1 + rng.int(31), scheme: "world", id: "anyone" }];
    default:
      return [{ perms: 31, scheme: "auth", id: "" }];
  }
}

function randomNodeOp(rng: SeededRng): Op["op"] {
  const p = rng.pick(PATHS);
  const data = te.encode(rng.chance(0.1) ? "" : `v${rng.int(1000)}`.repeat(1 + rng.int(3)));
  const version = rng.chance(0.7) ? undefined : rng.int(3) - 1;
  switch (rng.int(5)) {
    case 0:
      return { $case: "put", value: { path: p, data, expectedVersion: version, options: rng.chance(0.2) ? { acl: randomAcl(rng), container: false, ttlMs: 0 } : undefined } };
    case 1: {
      const sequential = rng.chance(0.3);
      const ephemeral = rng.chance(0.3);
      const kind = rng.int(4);
      return {
        $case: "create",
        value: {
          path: sequential ? rng.pick(SEQ_PREFIXES) : p,
          data,
          ephemeral,
          sequential,
          sessionId: ephemeral ? rng.pick([0, ...SESSIONS]) : 0,
          options: { acl: randomAcl(rng), container: kind === 1, ttlMs: kind === 2 ? 1 + rng.int(5000) : 0 },
        },
      };
    }
    case 2:
      return { $case: "set", value: { path: p, data, expectedVersion: version } };
    case 3:
      return { $case: "delete", value: { path: rng.chance(0.3) ? rng.pick(SEQ_PREFIXES) + "0000000000" : p, expectedVersion: version } };
    default:
      return { $case: "check", value: { path: p, expectedVersion: version } };
  }
}

function randomOp(rng: SeededRng, reapCandidates: string[]): Command["op"] {
  const r = rng.int(100);
  if (r < 55) {
    const op = randomNodeOp(rng);
    if (op?.$case === "check") return { $case: "set", value: { path: op.value.path, data: te.encode("c"), expectedVersion: op.value.expectedVersion } };
    return op as Command["op"];
  }
  if (r < 72) {
    const ops: Op[] = [];
    for (let i = 1 + rng.int(4); i > 0; i--) ops.push({ op: randomNodeOp(rng) });
    return { $case: "multi", value: { ops } };
  }
  if (r < 80) return { $case: "openSession", value: { sessionId: rng.pick(SESSIONS), ttlMs: rng.pick([0, 1000, 5000]) } };
  if (r < 84) return { $case: "closeSession", value: { sessionId: rng.pick(SESSIONS) } };
  if (r < 87) return { $case: "expireSession", value: { sessionId: rng.pick(SESSIONS) } };
  if (r < 93) return { $case: "setAcl", value: { path: rng.pick(PATHS), acl: randomAcl(rng), expectedAversion: rng.chance(0.5) ? undefined : rng.int(3) - 1 } };
  if (r < 97) return { $case: "reapNode", value: { path: reapCandidates.length > 0 && rng.chance(0.7) ? rng.pick(reapCandidates) : rng.pick(PATHS) } };
  return { $case: "noop", value: {} };
}

/** Everything the tree holds, through its reads and its tables. */
function dump(tree: ZnodeTree, t: TreeTables, nowMs: number, requestIds: Iterable<string>): unknown {
  const nodes: unknown[] = [];
  const walk = (p: string) => {
    const d = tree.get(p)!;
    nodes.push({ p, data: Buffer.from(d.data).toString("hex"), stat: d.stat, attrs: tree.attrsOf(p), below: tree.descendantCount(p) });
    const kids = tree.list(p, true)!.children;
    assert.deepEqual(tree.list(p)!.children.map((c) => c.name), kids.map((c) => c.name));
    for (const c of kids) walk(p === "/" ? `/${c.name}` : `${p}/${c.name}`);
  };
  walk("/");
  const requests = [...requestIds].map((id) => {
    const r = t.request(id);
    return r === undefined ? [id] : [id, r.zxid, r.time_ms, r.result === null ? null : Buffer.from(r.result).toString("hex"), r.error === null ? null : Buffer.from(r.error).toString("hex")];
  });
  return {
    nodes,
    sessions: tree.sessions(),
    ephemerals: SESSIONS.map((s) => tree.ephemeralsOf(s)),
    counts: tree.counts(),
    reapable: tree.reapable(nowMs),
    requests,
    clock: t.requestClock(),
  };
}

/** Plain JSON of an outcome (Buffers from SQLite and Uint8Arrays from memory compare alike). */
const plain = (o: ApplyOutcome | unknown): unknown => JSON.parse(JSON.stringify(o, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)));

function runSeed(seed: number, commands: number) {
  const rng = new SeededRng(seed);
  const store = SqliteAcceptorStore.open(path.join(tmp, `s${seed}.db`), { clusterId: "c", nodeId: "n1" });
  const sql = new ZnodeTree(store.db);
  // The maps' checkpoints go to a store of their own, as zk-node --tree memory writes them.
  const ckpt = SqliteAcceptorStore.open(path.join(tmp, `c${seed}.db`), { clusterId: "c", nodeId: "n1" });
  let memTables = new MemTreeTables();
  let mem = new ZnodeTree(memTables);
  const stats = { failedMultis: 0, retries: 0, reaped: 0, forgotten: 0, checkpoints: 0, failedCheckpoints: 0, reloads: 0 };
  try {
    let zxid = 0;
    let time = 1_000_000;
    const used: string[] = [];
    for (let i = 0; i < commands; i++) {
      // Mostly one slot and a few ms on; sometimes far beyond both bounds of the window.
      const jump = rng.chance(0.01);
      zxid += jump ? REQUEST_IDS_KEPT_SLOTS / 2 + rng.int(1000) : 1 + (rng.chance(0.05) ? rng.int(3000) : 0);
      time += jump ? REQUEST_IDS_KEPT_MS / 2 + rng.int(1000) : rng.int(rng.chance(0.1) ? 3000 : 30);
      let requestId = "";
      if (rng.chance(0.6)) {
        requestId = used.length > 0 && rng.chance(0.25) ? rng.pick(used) : `r${i}`;
        if (requestId === `r${i}`) used.push(requestId);
      }
      const auth = rng.chance(0.5) ? undefined : { ids: rng.pick([[], [ALICE], [BOB], [ALICE, BOB]]) };
      const cmd: Command = { requestId, timeMs: time, nonce: 0, auth, op: randomOp(rng, sql.reapable(time)) };
      const a = store.transaction(() => {
        const out = sql.apply(zxid, cmd);
        store.setApplied(zxid);
        return out;
      });
      const b = mem.apply(zxid, cmd);
      assert.deepEqual(plain(b), plain(a), `seed ${seed}, command ${i} at zxid ${zxid}: ${JSON.stringify(plain(cmd))}`);
      if (requestId !== "" && requestId !== `r${i}`) {
        // A retry: answered from the window, or applied again once the window forgot it.
        if (a.firstZxid !== undefined) stats.retries++;
        else stats.forgotten++;
      }
      if (cmd.op?.$case === "multi" && "error" in a) stats.failedMultis++;
      if (cmd.op?.$case === "reapNode" && "result" in a) stats.reaped++;
      if (i % 25 === 24 || i === commands - 1) {
        assert.deepEqual(plain(dump(mem, memTables, time, used)), plain(dump(sql, sql.tables, time, used)), `seed ${seed}: the trees differ after command ${i}`);
        assert.equal(memTreeHash(memTables, zxid), treeHash(store.db, { appliedIndex: zxid }), `seed ${seed}: the hashes differ after command ${i}`);
      }
      if (rng.chance(0.04)) {
        // A checkpoint; sometimes its transaction fails after the rows were written, and the
        // next one must still write them.
        const fail = rng.chance(0.3);
        try {
          ckpt.transaction(() => {
            memTables.writeCheckpoint(ckpt.db);
            ckpt.setApplied(zxid);
            if (fail) throw new Error("the commit failed");
          });
          memTables.checkpointed();
          stats.checkpoints++;
        } catch (e) {
          if (!fail) throw e;
          stats.failedCheckpoints++;
          continue;
        }
        assert.equal(treeHash(ckpt.db), treeHash(store.db, { appliedIndex: zxid }), `seed ${seed}: the checkpoint after command ${i} is not the tree`);
        if (rng.chance(0.5)) {
          // A restart: the maps loaded from the checkpoint go on from it.
          memTables = MemTreeTables.load(ckpt.db);
          mem = new ZnodeTree(memTables);
          stats.reloads++;
          assert.equal(memTreeHash(memTables, zxid), treeHash(store.db, { appliedIndex: zxid }), `seed ${seed}: the tree loaded after command ${i} differs`);
        }
      }
    }
  } finally {
    store.close();
    ckpt.close();
  }
  return stats;
}

describe("the znode tree on SQLite tables and in memory", () => {
  test("random commands give the same outcomes, rows and hashes on both, through checkpoints and reloads", () => {
    const total = { failedMultis: 0, retries: 0, reaped: 0, forgotten: 0, checkpoints: 0, failedCheckpoints: 0, reloads: 0 };
    for (let seed = 1; seed <= 12; seed++) {
      const s = runSeed(seed, 400);
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += s[k];
    }
    // The commands reached the paths that differ most between the two: rollbacks, retries,
    // reaping, and retries after the window.
    assert.ok(total.failedMultis >= 50, `only ${total.failedMultis} multis failed`);
    assert.ok(total.retries >= 50, `only ${total.retries} retries were answered from the window`);
    assert.ok(total.reaped >= 5, `only ${total.reaped} nodes were reaped`);
    assert.ok(total.forgotten >= 1, `no retry came after the window`);
    assert.ok(total.checkpoints >= 50 && total.failedCheckpoints >= 10 && total.reloads >= 20, `checkpoints: ${JSON.stringify(total)}`);
  });

  test("a checkpoint of more new request ids than one INSERT takes writes every one, with its outcome", () => {
    const store = SqliteAcceptorStore.open(path.join(tmp, "many-sql.db"), { clusterId: "c", nodeId: "n1" });
    const ckpt = SqliteAcceptorStore.open(path.join(tmp, "many-ckpt.db"), { clusterId: "c", nodeId: "n1" });
    try {
      const sql = new ZnodeTree(store.db);
      const memTables = new MemTreeTables();
      const mem = new ZnodeTree(memTables);
      // 2 full statements of 64 rows and a remainder; some requests fail (a version conflict).
      const n = 150;
      for (let zxid = 1; zxid <= n; zxid++) {
        const cmd: Command = { requestId: `id-${zxid}`, timeMs: 1000 + zxid, nonce: 0, op: { $case: "put", value: { path: `/k${zxid % 7}`, data: te.encode(`v${zxid}`), expectedVersion: zxid % 5 === 0 ? 99 : undefined } } };
        store.transaction(() => {
          sql.apply(zxid, cmd);
          store.setApplied(zxid);
        });
        mem.apply(zxid, cmd);
      }
      ckpt.transaction(() => {
        memTables.writeCheckpoint(ckpt.db);
        ckpt.setApplied(n);
      });
      memTables.checkpointed();
      assert.equal(ckpt.db.prepare("SELECT count(*) FROM requests").pluck().get(), n);
      assert.equal(treeHash(ckpt.db), treeHash(store.db, { appliedIndex: n }), "the checkpoint holds every request row as the SQLite tables do");
      const loaded = MemTreeTables.load(ckpt.db);
      for (const zxid of [1, 64, 65, 128, 129, 150]) assert.deepEqual(plain(loaded.request(`id-${zxid}`)), plain(memTables.request(`id-${zxid}`)), `request id-${zxid} after a reload`);
    } finally {
      store.close();
      ckpt.close();
    }
  });

  test("a failed multi leaves the maps as they were, sessions' ephemerals included", () => {
    const t = new MemTreeTables();
    const tree = new ZnodeTree(t);
    const put = (p: string): Op => ({ op: { $case: "put", value: { path: p, data: te.encode(p), expectedVersion: undefined } } });
    assert.ok("result" in tree.apply(1, { requestId: "", timeMs: 1, nonce: 0, op: { $case: "openSession", value: { sessionId: 5, ttlMs: 1000 } } }), "the session opens");
    assert.ok("result" in tree.apply(2, { requestId: "", timeMs: 2, nonce: 0, op: { $case: "multi", value: { ops: [put("/x"), put("/x/y")] } } }), "the first multi applies");
    const state = () => ({ ...(plain(dump(tree, t, 3, [])) as object), clock: undefined });
    const before = state();
    const eph: Op = { op: { $case: "create", value: { path: "/x/e", data: new Uint8Array(), ephemeral: true, sequential: false, sessionId: 5, options: undefined } } };
    const del: Op = { op: { $case: "delete", value: { path: "/x/y", expectedVersion: undefined } } };
    const bad: Op = { op: { $case: "set", value: { path: "/x", data: new Uint8Array(), expectedVersion: 7 } } };
    const out = tree.apply(3, { requestId: "m", timeMs: 3, nonce: 0, op: { $case: "multi", value: { ops: [eph, del, put("/x/z"), bad] } } });
    assert.ok("error" in out && out.error.opIndex === 3, `the multi fails at its fourth op: ${JSON.stringify(plain(out))}`);
    const after = state();
    assert.deepEqual(after, before, "the failed multi's creates, delete and parent updates are all undone");
    assert.deepEqual(tree.ephemeralsOf(5), [], "the undone ephemeral is not the session's");
    assert.ok(t.request("m") !== undefined, "the failure itself is remembered for retries");
  });
});
