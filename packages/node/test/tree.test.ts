// The znode state machine: ZooKeeper's semantics for every op and error, Stat bookkeeping,
// watch events, sessions and their ephemerals, multi atomicity, request deduplication,
// durability across reopen, and determinism (same commands, same state).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvariantError, SeededRng } from "../src/paxos/index.js";
import { SCHEMA_VERSION, SqliteAcceptorStore } from "../src/storage/index.js";
import { rawStoreAtSchema } from "./support/raw-store.js";
import {
  PATH_BYTES_MAX,
  REQUEST_IDS_KEPT_MS,
  REQUEST_IDS_KEPT_SLOTS,
  internalRequestKey,
  ZnodeTree,
  basename,
  decodeCommand,
  encodeCommand,
  joinPath,
  parent,
  sequentialSuffix,
  validatePath,
} from "../src/tree/index.js";
import type { ApplyOutcome, ZnodeTreeOptions } from "../src/tree/index.js";
import { EventType } from "../src/gen/zk/v1/kv.js";
import type { WatchEvent } from "../src/gen/zk/v1/kv.js";
import { ErrorCode } from "../src/gen/zk/v1/types.js";
import type { Command, CommandResult, CreateOp, ErrorDetail, Op, Stat } from "../src/gen/zk/v1/types.js";

const ID = { clusterId: "c", nodeId: "n1" };

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-tree-test-"));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let fileCount = 0;
function newFile(): string {
  return path.join(tmp, `t${fileCount++}.db`);
}

const te = new TextEncoder();
const b = (s: string): Uint8Array => te.encode(s);

/** A store and its tree; apply() runs each command in its own transaction with setApplied. */
class Node {
  readonly store: SqliteAcceptorStore;
  readonly tree: ZnodeTree;
  zxid: number;
  time = 1_000;

  constructor(
    readonly file = newFile(),
    opts?: ZnodeTreeOptions,
  ) {
    this.store = SqliteAcceptorStore.open(file, ID);
    this.tree = new ZnodeTree(this.store.db, opts);
    this.zxid = this.store.applied();
  }

  /** Apply at the next zxid (or `zxid`), stamped with the next time. */
  apply(op: Command["op"], extra: { requestId?: string; zxid?: number } = {}): ApplyOutcome {
    const zxid = extra.zxid ?? this.zxid + 1;
    this.zxid = zxid;
    this.time += 10;
    const cmd: Command = { requestId: extra.requestId ?? "", timeMs: this.time, nonce: 0, op };
    return this.store.transaction(() => {
      const out = this.tree.apply(zxid, cmd);
      this.store.setApplied(zxid);
      return out;
    });
  }

  close(): void {
    this.store.close();
  }
}

function ok(o: ApplyOutcome): CommandResult {
  if ("error" in o) assert.fail(`expected success, got ${ErrorCode[o.error.code]}: ${o.error.message}`);
  return o.result;
}

function fails(o: ApplyOutcome, code: ErrorCode, message?: string | RegExp): ErrorDetail {
  if (!("error" in o)) assert.fail(`expected ${ErrorCode[code]}, got ${JSON.stringify(o.result)}`);
  assert.equal(ErrorCode[o.error.code], ErrorCode[code], o.error.message);
  assert.deepEqual(o.events, [], "a failed command has no events");
  assert.ok(o.error.message.length > 0 && !/[\r\n]/.test(o.error.message), `one line: ${o.error.message}`);
  if (typeof message === "string") assert.equal(o.error.message, message);
  else if (message !== undefined) assert.match(o.error.message, message);
  return o.error;
}

// Op builders.
const put = (p: string, data = "", expectedVersion?: number): Command["op"] => ({
  $case: "put",
  value: { path: p, data: b(data), expectedVersion },
});
const create = (p: string, data = "", o: Partial<CreateOp> = {}): Command["op"] => ({
  $case: "create",
  value: { path: p, data: b(data), ephemeral: false, sequential: false, sessionId: 0, ...o },
});
const set = (p: string, data = "", expectedVersion?: number): Command["op"] => ({
  $case: "set",
  value: { path: p, data: b(data), expectedVersion },
});
const del = (p: string, expectedVersion?: number): Command["op"] => ({
  $case: "delete",
  value: { path: p, expectedVersion },
});
const multi = (...ops: Op[]): Command["op"] => ({ $case: "multi", value: { ops } });
const openSession = (sessionId: number, ttlMs = 5_000): Command["op"] => ({
  $case: "openSession",
  value: { sessionId, ttlMs },
});
const closeSession = (sessionId: number): Command["op"] => ({ $case: "closeSession", value: { sessionId } });
const expireSession = (sessionId: number): Command["op"] => ({ $case: "expireSession", value: { sessionId } });
const noop: Command["op"] = { $case: "noop", value: {} };

/** A Command op as a multi Op (the shared cases). */
function asOp(op: Command["op"]): Op {
  switch (op?.$case) {
    case "put":
    case "create":
    case "set":
    case "delete":
      return { op } as Op;
    default:
      throw new Error(`not a multi op: ${op?.$case}`);
  }
}
const check = (p: string, expectedVersion?: number): Op => ({ op: { $case: "check", value: { path: p, expectedVersion } } });

/** Everything the tree keeps, for equality checks. */
function dump(store: SqliteAcceptorStore): unknown {
  const db = store.db;
  const hex = (r: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v]));
  return {
    znodes: db.prepare("SELECT * FROM znodes ORDER BY path").all().map((r) => hex(r as Record<string, unknown>)),
    sessions: db.prepare("SELECT * FROM sessions ORDER BY id").all(),
    requests: db.prepare("SELECT * FROM requests ORDER BY zxid").all().map((r) => hex(r as Record<string, unknown>)),
  };
}

function stat(s: Partial<Stat>): Stat {
  return {
    version: 0,
    cversion: 0,
    czxid: 0,
    mzxid: 0,
    ctimeMs: 0,
    mtimeMs: 0,
    ephemeralOwner: 0,
    numChildren: 0,
    dataLength: 0,
    pzxid: 0,
    ...s,
  };
}

function names(n: Node, p: string): string[] {
  const l = n.tree.list(p);
  assert.ok(l !== null, `${p} should exist`);
  return l.children.map((c) => c.name);
}

function eventSummary(events: readonly WatchEvent[]): string[] {
  return events.map((e) => `${EventType[e.type]} ${e.path}@${e.zxid}`);
}

// ---- Paths ----------------------------------------------------------------------------------

describe("paths", () => {
  test("valid paths", () => {
    for (const p of ["/", "/a", "/a/b/c", "/a.b", "/..a", "/a..", "/...", "/.a/b.", "/é/日本", "/\uf900", "/\uffef", "/a b", "/a-b_c:d"]) {
      assert.equal(validatePath(p), null, p);
    }
  });

  test("invalid paths, each with a one-line reason naming the path", () => {
    const cases: [string, RegExp][] = [
      ["", /is empty/],
      ["a", /must start with "\/"/],
      ["a/b", /must start with/],
      ["/a/", /must not end with "\/"/],
      ["//", /must not end with/],
      ["/a//b", /empty component/],
      ["//a", /empty component/],
      ["/.", /relative component "\."/],
      ["/..", /relative component "\.\."/],
      ["/a/./b", /relative component "\."/],
      ["/a/../b", /relative component "\.\."/],
      ["/a/..", /relative component/],
      ["/a\u0000b", /NUL/],
      ["/a\u0001", /U\+0001/],
      ["/a\u001f", /U\+001F/],
      ["/a\nb", /U\+000A/],
      ["/\u007f", /U\+007F/],
      ["/\u0085", /U\+0085/],
      ["/\u009f", /U\+009F/],
      ["/\ud83d\ude00", /U\+D83D/],
      ["/\ud800", /U\+D800/],
      ["/\ue000", /U\+E000/],
      ["/\uf8ff", /U\+F8FF/],
      ["/\ufff0", /U\+FFF0/],
      ["/\ufffd", /U\+FFFD/],
      ["/\uffff", /U\+FFFF/],
    ];
    for (const [p, why] of cases) {
      const msg = validatePath(p);
      assert.ok(msg !== null, `${JSON.stringify(p)} should be invalid`);
      assert.match(msg, why, p);
      assert.ok(msg.startsWith(`invalid path ${JSON.stringify(p)}: `), msg);
      assert.ok(!/[\r\n]/.test(msg), `one line: ${msg}`);
    }
  });

  test("length is counted in UTF-8 bytes, at most PATH_BYTES_MAX", () => {
    assert.equal(PATH_BYTES_MAX, 4096);
    assert.equal(validatePath("/" + "a".repeat(4095)), null);
    assert.match(validatePath("/" + "a".repeat(4096)) ?? "", /is 4097 bytes long, above the limit of 4096/);
    // "é" is 2 bytes, "日" 3.
    assert.equal(validatePath("/" + "é".repeat(2047) + "a"), null);
    assert.match(validatePath("/" + "é".repeat(2048)) ?? "", /is 4097 bytes/);
    assert.equal(validatePath("/" + "日".repeat(1365)), null);
    assert.match(validatePath("/" + "日".repeat(1366)) ?? "", /is 4099 bytes/);
    assert.match(validatePath("/" + "a/".repeat(3000) + "a") ?? "", /bytes long/);
  });

  test("sequential prefixes may end with a slash; the suffix counts toward the length", () => {
    assert.equal(validatePath("/q/", { sequential: true }), null);
    assert.equal(validatePath("/", { sequential: true }), null);
    assert.equal(validatePath("/q/n-", { sequential: true }), null);
    assert.notEqual(validatePath("/q/"), null);
    assert.match(validatePath("/q//", { sequential: true }) ?? "", /^invalid sequential prefix "\/q\/\/": .*empty/);
    assert.match(validatePath("/q/./", { sequential: true }) ?? "", /^invalid sequential prefix "\/q\/\.\/": .*relative/);
    // As in ZooKeeper, "." only names a relative component on its own: "/q/." makes "/q/.0000000000".
    assert.equal(validatePath("/q/.", { sequential: true }), null);
    assert.equal(validatePath("/" + "a".repeat(4085), { sequential: true }), null);
    assert.match(validatePath("/" + "a".repeat(4086), { sequential: true }) ?? "", /4097 bytes/);
  });

  test("parent, basename, joinPath, sequentialSuffix", () => {
    assert.equal(parent("/"), "");
    assert.equal(parent("/a"), "/");
    assert.equal(parent("/a/b"), "/a");
    assert.equal(parent("/a/b/c"), "/a/b");
    assert.equal(basename("/"), "");
    assert.equal(basename("/a"), "a");
    assert.equal(basename("/a/bc"), "bc");
    assert.equal(joinPath("/", "a"), "/a");
    assert.equal(joinPath("/a", "b"), "/a/b");
    assert.equal(sequentialSuffix(0), "0000000000");
    assert.equal(sequentialSuffix(42), "0000000042");
    assert.equal(sequentialSuffix(12345678901), "12345678901");
  });
});

// ---- The tree -------------------------------------------------------------------------------

describe("ZnodeTree", () => {
  test("a new store has the root, with a zero stat and no children", () => {
    const n = new Node();
    try {
      assert.deepEqual(n.tree.exists("/"), stat({}));
      assert.deepEqual(n.tree.get("/"), { data: new Uint8Array(0), stat: stat({}) });
      assert.deepEqual(n.tree.list("/"), { children: [] });
      assert.deepEqual(n.tree.sessions(), []);
      assert.equal(n.tree.get("/a"), null);
      assert.equal(n.tree.exists("/a"), null);
      assert.equal(n.tree.list("/a"), null);
      assert.equal(n.store.info().schemaVersion, SCHEMA_VERSION);
    } finally {
      n.close();
    }
  });

  test("create: stat, parent stat and events", () => {
    const n = new Node();
    try {
      const r = ok(n.apply(create("/a", "hello"), { zxid: 5 }));
      const aStat = stat({ czxid: 5, mzxid: 5, pzxid: 5, ctimeMs: n.time, mtimeMs: n.time, dataLength: 5 });
      assert.deepEqual(r, { result: { $case: "create", value: { path: "/a", stat: aStat } } });
      const rootStat = stat({ cversion: 1, pzxid: 5, numChildren: 1 });
      assert.deepEqual(n.tree.get("/a"), { data: b("hello"), stat: aStat });
      assert.deepEqual(n.tree.exists("/"), rootStat);
      const o = n.apply(create("/a/b"), { zxid: 7 });
      const t7 = n.time;
      assert.deepEqual(o.events, [
        { type: EventType.CREATED, path: "/a/b", zxid: 7, stat: stat({ czxid: 7, mzxid: 7, pzxid: 7, ctimeMs: t7, mtimeMs: t7 }) },
        { type: EventType.CHILDREN_CHANGED, path: "/a", zxid: 7, stat: { ...aStat, cversion: 1, pzxid: 7, numChildren: 1 } },
      ]);
      // The parent's data version and mzxid do not move on a child change.
      assert.equal(n.tree.exists("/a")?.version, 0);
      assert.equal(n.tree.exists("/a")?.mzxid, 5);
      assert.deepEqual(names(n, "/"), ["a"]);
      assert.deepEqual(names(n, "/a"), ["b"]);
    } finally {
      n.close();
    }
  });

  test("create errors: NO_NODE, NODE_EXISTS, NO_CHILDREN_FOR_EPHEMERALS, sessions, INVALID_PATH, data size", () => {
    const n = new Node(undefined, { dataBytesMax: 10 });
    try {
      ok(n.apply(create("/a")));
      ok(n.apply(openSession(7)));
      ok(n.apply(create("/e", "", { ephemeral: true, sessionId: 7 })));
      const before = dump(n.store);

      let e = fails(n.apply(create("/x/y")), ErrorCode.NO_NODE, "parent /x does not exist");
      assert.equal(e.path, "/x/y");
      assert.equal(e.opIndex, undefined);
      e = fails(n.apply(create("/a")), ErrorCode.NODE_EXISTS, "node /a already exists");
      assert.equal(e.path, "/a");
      fails(n.apply(create("/")), ErrorCode.NODE_EXISTS, "node / already exists");
      fails(n.apply(create("/e/c")), ErrorCode.NO_CHILDREN_FOR_EPHEMERALS, "parent /e is ephemeral and cannot have children");
      fails(n.apply(create("/e/c", "", { sequential: true })), ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
      fails(n.apply(create("/a/t", "", { ephemeral: true })), ErrorCode.INVALID_ARGUMENT, /needs a session/);
      fails(n.apply(create("/a/t", "", { ephemeral: true, sessionId: 8 })), ErrorCode.SESSION_EXPIRED, /session 8 does not exist/);
      e = fails(n.apply(create("/a/", "")), ErrorCode.INVALID_PATH, /^invalid path "\/a\/": must not end/);
      assert.equal(e.path, "/a/");
      fails(n.apply(create("a")), ErrorCode.INVALID_PATH);
      fails(n.apply(create("/a/\u0000")), ErrorCode.INVALID_PATH);
      fails(n.apply(create("/a/big", "01234567890")), ErrorCode.INVALID_ARGUMENT, "data for /a/big is 11 bytes, above the limit of 10");
      // ZooKeeper's order: a missing parent is reported before the node's own existence.
      fails(n.apply(create("/x/y", "", { ephemeral: true, sessionId: 7 })), ErrorCode.NO_NODE);
      assert.deepEqual(dump(n.store), before, "failed creates change nothing");

      ok(n.apply(create("/a/max", "0123456789")));
      assert.equal(n.tree.exists("/a/max")?.dataLength, 10);
      // A persistent create ignores a session id.
      ok(n.apply(create("/a/p", "", { sessionId: 7 })));
      assert.equal(n.tree.exists("/a/p")?.ephemeralOwner, 0);
    } finally {
      n.close();
    }
  });

  test("sequential nodes are numbered from the parent's cversion, 10 digits", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/q")));
      const paths: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = ok(n.apply(create("/q/n", `v${i}`, { sequential: true })));
        assert.equal(r.result?.$case, "create");
        if (r.result?.$case === "create") paths.push(r.result.value.path);
      }
      assert.deepEqual(paths, ["/q/n0000000000", "/q/n0000000001", "/q/n0000000002"]);
      assert.deepEqual(n.tree.get("/q/n0000000001")?.data, b("v1"));
      // A deletion also counts as a change to the children, so numbers are never reused.
      ok(n.apply(del("/q/n0000000001")));
      const r = ok(n.apply(create("/q/", "", { sequential: true })));
      assert.equal(r.result?.$case === "create" && r.result.value.path, "/q/0000000004");
      ok(n.apply(create("/q/x")));
      ok(n.apply(openSession(3)));
      const eph = ok(n.apply(create("/q/lock-", "", { sequential: true, ephemeral: true, sessionId: 3 })));
      assert.equal(eph.result?.$case === "create" && eph.result.value.path, "/q/lock-0000000006");
      assert.equal(n.tree.exists("/q/lock-0000000006")?.ephemeralOwner, 3);
      assert.deepEqual(names(n, "/q"), ["0000000004", "lock-0000000006", "n0000000000", "n0000000002", "x"]);
      assert.deepEqual(n.tree.exists("/q"), { ...n.tree.exists("/q"), cversion: 7, numChildren: 5 });
      // Under the root.
      const rootCversion = n.tree.exists("/")?.cversion ?? -1;
      const top = ok(n.apply(create("/", "", { sequential: true })));
      assert.equal(top.result?.$case === "create" && top.result.value.path, "/" + sequentialSuffix(rootCversion));
      // A sequential name that exists already fails like any create.
      ok(n.apply(create("/s")));
      ok(n.apply(create("/s/n0000000001")));
      fails(n.apply(create("/s/n", "", { sequential: true })), ErrorCode.NODE_EXISTS, "node /s/n0000000001 already exists");
    } finally {
      n.close();
    }
  });

  test("set: versions, mzxid/mtime, expected version, errors, events", () => {
    const n = new Node(undefined, { dataBytesMax: 4 });
    try {
      ok(n.apply(create("/a", "x"), { zxid: 10 }));
      const t10 = n.time;
      const r = ok(n.apply(set("/a", "yy"), { zxid: 11 }));
      const t11 = n.time;
      const s11 = stat({ version: 1, czxid: 10, mzxid: 11, pzxid: 10, ctimeMs: t10, mtimeMs: t11, dataLength: 2 });
      assert.deepEqual(r, { result: { $case: "set", value: { stat: s11 } } });
      ok(n.apply(set("/a", "zzz", 1), { zxid: 12 }));
      const o = n.apply(set("/a", "", -1), { zxid: 13 });
      ok(o);
      assert.deepEqual(o.events, [{ type: EventType.CHANGED, path: "/a", zxid: 13, stat: n.tree.exists("/a") }]);
      assert.equal(n.tree.exists("/a")?.version, 3);
      assert.deepEqual(n.tree.get("/a")?.data, new Uint8Array(0));
      // Setting the same data is still a change.
      ok(n.apply(set("/a", "")));
      assert.equal(n.tree.exists("/a")?.version, 4);

      const before = dump(n.store);
      const e = fails(n.apply(set("/a", "q", 3)), ErrorCode.BAD_VERSION, "version mismatch on /a: expected 3, is 4");
      assert.equal(e.path, "/a");
      fails(n.apply(set("/nope", "q")), ErrorCode.NO_NODE, "node /nope does not exist");
      fails(n.apply(set("/a/", "q")), ErrorCode.INVALID_PATH);
      fails(n.apply(set("/a", "12345")), ErrorCode.INVALID_ARGUMENT, /5 bytes, above the limit of 4/);
      assert.deepEqual(dump(n.store), before);

      // The root's data can be set.
      ok(n.apply(set("/", "r")));
      assert.equal(n.tree.exists("/")?.version, 1);
    } finally {
      n.close();
    }
  });

  test("delete: parent stat, events, NOT_EMPTY, BAD_VERSION, NO_NODE, the root", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/a"), { zxid: 1 }));
      ok(n.apply(create("/a/b"), { zxid: 2 }));
      ok(n.apply(set("/a/b", "x"), { zxid: 3 }));
      const before = dump(n.store);
      fails(n.apply(del("/a")), ErrorCode.NOT_EMPTY, "node /a has 1 child");
      fails(n.apply(del("/a/b", 0)), ErrorCode.BAD_VERSION, "version mismatch on /a/b: expected 0, is 1");
      fails(n.apply(del("/a/c")), ErrorCode.NO_NODE, "node /a/c does not exist");
      fails(n.apply(del("/")), ErrorCode.INVALID_ARGUMENT, "the root node / cannot be deleted");
      fails(n.apply(del("/a/b/")), ErrorCode.INVALID_PATH);
      assert.deepEqual(dump(n.store), before);

      const o = n.apply(del("/a/b", 1), { zxid: 20 });
      assert.deepEqual(ok(o), { result: { $case: "delete", value: {} } });
      assert.deepEqual(o.events, [
        { type: EventType.DELETED, path: "/a/b", zxid: 20 },
        { type: EventType.CHILDREN_CHANGED, path: "/a", zxid: 20, stat: n.tree.exists("/a") },
      ]);
      assert.deepEqual(n.tree.exists("/a"), stat({ cversion: 2, czxid: 1, mzxid: 1, pzxid: 20, ctimeMs: 1010, mtimeMs: 1010 }));
      assert.equal(n.tree.get("/a/b"), null);
      assert.deepEqual(n.tree.list("/a"), { children: [] });
      ok(n.apply(del("/a", -1)));
      assert.deepEqual(n.tree.exists("/"), stat({ cversion: 2, pzxid: n.zxid }));
    } finally {
      n.close();
    }
  });

  test("put: creates when absent, sets when present, respects the expected version", () => {
    const n = new Node();
    try {
      const c = n.apply(put("/k", "v0"), { zxid: 4 });
      const t4 = n.time;
      const s4 = stat({ czxid: 4, mzxid: 4, pzxid: 4, ctimeMs: t4, mtimeMs: t4, dataLength: 2 });
      assert.deepEqual(ok(c), { result: { $case: "put", value: { path: "/k", version: 0, created: true, stat: s4 } } });
      assert.deepEqual(eventSummary(c.events), ["CREATED /k@4", "CHILDREN_CHANGED /@4"]);

      const s = n.apply(put("/k", "v1"), { zxid: 5 });
      const s5 = { ...s4, version: 1, mzxid: 5, mtimeMs: n.time };
      assert.deepEqual(ok(s), { result: { $case: "put", value: { path: "/k", version: 1, created: false, stat: s5 } } });
      assert.deepEqual(s.events, [{ type: EventType.CHANGED, path: "/k", zxid: 5, stat: s5 }]);
      ok(n.apply(put("/k", "v2", 1)));
      ok(n.apply(put("/k", "v3", -1)));
      assert.deepEqual(n.tree.get("/k")?.data, b("v3"));
      assert.equal(n.tree.exists("/k")?.version, 3);

      const before = dump(n.store);
      fails(n.apply(put("/k", "x", 1)), ErrorCode.BAD_VERSION, "version mismatch on /k: expected 1, is 3");
      fails(n.apply(put("/m", "x", 0)), ErrorCode.NO_NODE, "node /m does not exist (expected version 0)");
      fails(n.apply(put("/m/n", "x")), ErrorCode.NO_NODE, "parent /m does not exist");
      fails(n.apply(put("/m/", "x")), ErrorCode.INVALID_PATH);
      ok(n.apply(openSession(1)));
      ok(n.apply(create("/e", "", { ephemeral: true, sessionId: 1 })));
      fails(n.apply(put("/e/x", "x")), ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
      ok(n.apply(closeSession(1)));
      const after = dump(n.store) as { znodes: unknown[] };
      assert.deepEqual(after.znodes.length, (before as { znodes: unknown[] }).znodes.length);

      // put -1 on an absent node creates it; put on the root sets it.
      const r = ok(n.apply(put("/m", "x", -1)));
      assert.equal(r.result?.$case === "put" && r.result.value.created, true);
      const root = ok(n.apply(put("/", "r")));
      assert.equal(root.result?.$case === "put" && root.result.value.version, 1);
    } finally {
      n.close();
    }
  });

  test("multi: ops in order, later ops see earlier ones, one result each", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/x", "0")));
      const o = n.apply(
        multi(
          asOp(create("/m", "a")),
          asOp(create("/m/c", "b")),
          asOp(set("/m/c", "bb", 0)),
          check("/m/c", 1),
          check("/x"),
          asOp(put("/m/p", "p")),
          asOp(del("/x", 0)),
        ),
        { zxid: 9 },
      );
      const r = ok(o);
      assert.equal(r.result?.$case, "multi");
      if (r.result?.$case !== "multi") return;
      assert.deepEqual(
        r.result.value.results.map((x) => x.result?.$case),
        ["create", "create", "set", "check", "check", "put", "delete"],
      );
      assert.deepEqual(eventSummary(o.events), [
        "CREATED /m@9",
        "CHILDREN_CHANGED /@9",
        "CREATED /m/c@9",
        "CHILDREN_CHANGED /m@9",
        "CHANGED /m/c@9",
        "CREATED /m/p@9",
        "CHILDREN_CHANGED /m@9",
        "DELETED /x@9",
        "CHILDREN_CHANGED /@9",
      ]);
      assert.deepEqual(n.tree.get("/m/c")?.data, b("bb"));
      assert.equal(n.tree.exists("/m/c")?.version, 1);
      assert.equal(n.tree.exists("/m")?.cversion, 2);
      assert.equal(n.tree.exists("/x"), null);
      // An empty multi succeeds and does nothing.
      assert.deepEqual(ok(n.apply(multi())), { result: { $case: "multi", value: { results: [] } } });
    } finally {
      n.close();
    }
  });

  test("multi is all-or-nothing: a failing op leaves the tree unchanged and is named by opIndex", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/a", "1")));
      ok(n.apply(openSession(5)));
      const before = dump(n.store);
      const statBefore = n.tree.exists("/");

      let e = fails(
        n.apply(multi(asOp(create("/b")), asOp(set("/a", "2")), asOp(create("/b")), asOp(create("/c")))),
        ErrorCode.NODE_EXISTS,
        "multi op 2: node /b already exists",
      );
      assert.equal(e.opIndex, 2);
      assert.equal(e.path, "/b");
      assert.deepEqual(dump(n.store), before);
      assert.deepEqual(n.tree.exists("/"), statBefore);
      assert.equal(n.tree.exists("/b"), null);

      e = fails(n.apply(multi(asOp(set("/a", "2")), check("/a", 0))), ErrorCode.BAD_VERSION, "multi op 1: version mismatch on /a: expected 0, is 1");
      assert.equal(e.opIndex, 1);
      e = fails(n.apply(multi(check("/zz"))), ErrorCode.NO_NODE, "multi op 0: node /zz does not exist");
      assert.equal(e.opIndex, 0);
      e = fails(
        n.apply(multi(asOp(create("/s", "", { ephemeral: true, sessionId: 5 })), asOp(del("/a")), asOp(create("/t/u")))),
        ErrorCode.NO_NODE,
      );
      assert.equal(e.opIndex, 2);
      e = fails(n.apply(multi(asOp(del("/a")), { op: undefined })), ErrorCode.INVALID_ARGUMENT);
      assert.equal(e.opIndex, 1);
      assert.deepEqual(dump(n.store), before);
      assert.deepEqual(n.tree.ephemeralsOf(5), []);

      // The transaction goes on after a failed multi: a later command applies normally.
      ok(n.apply(create("/b")));
      assert.notEqual(n.tree.exists("/b"), null);
    } finally {
      n.close();
    }
  });

  test("sessions: open, renew, ephemerals, close and expire delete them with events", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/svc")));
      assert.deepEqual(ok(n.apply(openSession(11, 3000), { zxid: 3 })), {
        result: { $case: "openSession", value: { sessionId: 11, ttlMs: 3000 } },
      });
      const t3 = n.time;
      ok(n.apply(openSession(12, 4000), { zxid: 4 }));
      const t4 = n.time;
      ok(n.apply(openSession(11, 6000), { zxid: 5 }));
      const t5 = n.time;
      assert.deepEqual(n.tree.sessions(), [
        { id: 11, ttlMs: 6000, createdZxid: 3, createdMs: t3, renewedZxid: 5, renewedMs: t5 },
        { id: 12, ttlMs: 4000, createdZxid: 4, createdMs: t4, renewedZxid: 4, renewedMs: t4 },
      ]);
      assert.deepEqual(n.tree.session(12)?.ttlMs, 4000);

      ok(n.apply(create("/svc/b", "", { ephemeral: true, sessionId: 11 })));
      ok(n.apply(create("/svc/a", "", { ephemeral: true, sessionId: 11 })));
      ok(n.apply(create("/e11", "", { ephemeral: true, sessionId: 11 })));
      ok(n.apply(create("/svc/c", "", { ephemeral: true, sessionId: 12 })));
      ok(n.apply(create("/svc/gone", "", { ephemeral: true, sessionId: 11 })));
      ok(n.apply(del("/svc/gone")));
      assert.deepEqual(n.tree.ephemeralsOf(11), ["/e11", "/svc/a", "/svc/b"]);
      assert.deepEqual(n.tree.ephemeralsOf(12), ["/svc/c"]);
      assert.deepEqual(n.tree.ephemeralsOf(0), []);
      const svcBefore = n.tree.exists("/svc");

      const c = n.apply(closeSession(11), { zxid: 30 });
      assert.deepEqual(ok(c), { result: { $case: "none", value: {} } });
      assert.deepEqual(eventSummary(c.events), [
        "DELETED /e11@30",
        "CHILDREN_CHANGED /@30",
        "DELETED /svc/a@30",
        "CHILDREN_CHANGED /svc@30",
        "DELETED /svc/b@30",
        "CHILDREN_CHANGED /svc@30",
      ]);
      assert.equal(c.events[0]?.stat, undefined, "DELETED carries no stat");
      assert.deepEqual(c.events[5]?.stat, n.tree.exists("/svc"));
      assert.deepEqual(n.tree.exists("/svc"), {
        ...svcBefore,
        cversion: (svcBefore?.cversion ?? 0) + 2,
        numChildren: 1,
        pzxid: 30,
      });
      assert.deepEqual(names(n, "/svc"), ["c"]);
      assert.equal(n.tree.session(11), null);
      assert.deepEqual(n.tree.ephemeralsOf(11), []);
      fails(n.apply(create("/x", "", { ephemeral: true, sessionId: 11 })), ErrorCode.SESSION_EXPIRED);
      fails(n.apply(closeSession(11)), ErrorCode.SESSION_EXPIRED, "session 11 does not exist (closed or expired)");

      const x = n.apply(expireSession(12), { zxid: 40 });
      ok(x);
      assert.deepEqual(eventSummary(x.events), ["DELETED /svc/c@40", "CHILDREN_CHANGED /svc@40"]);
      assert.deepEqual(n.tree.sessions(), []);
      assert.deepEqual(names(n, "/svc"), []);
      fails(n.apply(expireSession(12)), ErrorCode.SESSION_EXPIRED);
      fails(n.apply(expireSession(99)), ErrorCode.SESSION_EXPIRED);

      // A session without ephemerals closes without events.
      ok(n.apply(openSession(13)));
      assert.deepEqual(n.apply(closeSession(13)).events, []);

      fails(n.apply(openSession(0)), ErrorCode.INVALID_ARGUMENT, "session id 0 is not a session");
      fails(n.apply(openSession(14, 0)), ErrorCode.INVALID_ARGUMENT, "session 14: ttl_ms must be above 0");
      assert.deepEqual(n.tree.sessions(), []);
    } finally {
      n.close();
    }
  });

  test("Stat bookkeeping over a history of changes", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/a", "abc"), { zxid: 1 }));
      ok(n.apply(create("/a/b"), { zxid: 2 }));
      ok(n.apply(create("/a/c"), { zxid: 3 }));
      ok(n.apply(set("/a", "abcdef"), { zxid: 4 }));
      ok(n.apply(del("/a/b"), { zxid: 5 }));
      ok(n.apply(set("/a", "z"), { zxid: 6 }));
      ok(n.apply(openSession(77), { zxid: 7 }));
      ok(n.apply(create("/a/e", "", { ephemeral: true, sessionId: 77 }), { zxid: 8 }));
      const s = n.tree.exists("/a");
      assert.deepEqual(s, stat({
        version: 2,
        cversion: 4,
        czxid: 1,
        mzxid: 6,
        pzxid: 8,
        ctimeMs: 1010,
        mtimeMs: 1060,
        numChildren: 2,
        dataLength: 1,
      }));
      assert.deepEqual(n.tree.exists("/a/e"), stat({ czxid: 8, mzxid: 8, pzxid: 8, ctimeMs: 1080, mtimeMs: 1080, ephemeralOwner: 77 }));
      assert.deepEqual(n.tree.exists("/"), stat({ cversion: 1, pzxid: 1, numChildren: 1 }));
    } finally {
      n.close();
    }
  });

  test("list: children sorted by name, with stats on request", () => {
    const n = new Node();
    try {
      const kids = ["b", "a", "B", "é", "z", "\uf900", "aa", "a-1", "日本", "0"];
      ok(n.apply(create("/p")));
      for (const k of kids) ok(n.apply(create(`/p/${k}`, k)));
      ok(n.apply(create("/p/a/deep")));
      ok(n.apply(create("/pq")));
      assert.deepEqual(names(n, "/p"), [...kids].sort());
      const withStats = n.tree.list("/p", true);
      assert.ok(withStats !== null);
      for (const c of withStats.children) {
        assert.deepEqual(c.stat, n.tree.exists(`/p/${c.name}`));
      }
      assert.equal(n.tree.list("/p")?.children[0]?.stat, undefined);
      assert.deepEqual(names(n, "/"), ["p", "pq"]);
      assert.deepEqual(names(n, "/p/a"), ["deep"]);
      assert.equal(n.tree.list("/p/"), null);
    } finally {
      n.close();
    }
  });

  test("noop, a command without an op, and apply outside a transaction", () => {
    const n = new Node();
    try {
      assert.deepEqual(n.apply(noop), { result: { result: { $case: "none", value: {} } }, events: [] });
      fails(n.apply(undefined), ErrorCode.INVALID_ARGUMENT, /no op/);
      assert.throws(() => n.tree.apply(n.zxid + 1, { requestId: "", timeMs: 1, nonce: 0, op: put("/a") }), InvariantError);
      assert.equal(n.tree.exists("/a"), null);
      assert.throws(() => n.store.transaction(() => n.tree.apply(0, { requestId: "", timeMs: 1, nonce: 0, op: noop })), InvariantError);
    } finally {
      n.close();
    }
  });

  test("a rolled-back transaction leaves the tree as it was", () => {
    const n = new Node();
    try {
      ok(n.apply(create("/a", "x")));
      const before = dump(n.store);
      const applied = n.store.applied();
      assert.throws(
        () =>
          n.store.transaction(() => {
            n.tree.apply(applied + 1, { requestId: "r", timeMs: 5, nonce: 0, op: multi(asOp(set("/a", "y")), asOp(create("/b"))) });
            n.tree.apply(applied + 2, { requestId: "", timeMs: 5, nonce: 0, op: del("/a") });
            n.store.setApplied(applied + 2);
            throw new Error("crash before commit");
          }),
        /crash before commit/,
      );
      assert.deepEqual(dump(n.store), before);
      assert.equal(n.store.applied(), applied);
    } finally {
      n.close();
    }
  });

  test("request ids: a retried command returns its first outcome without applying again", () => {
    const n = new Node();
    try {
      const first = n.apply(create("/r", "1"), { requestId: "req-1" });
      const firstZxid = n.zxid;
      const firstResult = ok(first);
      assert.equal(first.events.length, 2);
      const again = n.apply(create("/r", "1"), { requestId: "req-1" });
      assert.deepEqual(again, { result: firstResult, events: [], firstZxid }, "the retry names the zxid of the first application");

      const s1 = n.apply(set("/r", "2"), { requestId: "req-2" });
      const s1Zxid = n.zxid;
      const s2 = n.apply(set("/r", "2"), { requestId: "req-2" });
      assert.deepEqual(s2, { result: ok(s1), events: [], firstZxid: s1Zxid });
      assert.equal(n.tree.exists("/r")?.version, 1, "the retried set was not applied again");

      const f1 = n.apply(create("/nope/x"), { requestId: "req-3" });
      fails(f1, ErrorCode.NO_NODE);
      ok(n.apply(create("/nope")));
      // Even though it would succeed now, the retry gets the first answer.
      const f2 = n.apply(create("/nope/x"), { requestId: "req-3" });
      assert.deepEqual({ error: "error" in f2 ? f2.error : null, events: f2.events }, f1);
      assert.equal(n.tree.exists("/nope/x"), null);

      fails(n.apply(noop, { requestId: "x".repeat(257) }), ErrorCode.INVALID_ARGUMENT, /request id is 257 characters/);
      ok(n.apply(noop, { requestId: "x".repeat(256) }));
    } finally {
      n.close();
    }
  });

  test("a client's request id cannot shadow a session's expiry: internal keys have their own namespace", () => {
    const n = new Node();
    try {
      ok(n.apply(openSession(5)));
      // A client writes with the key the leader uses for this session's expiry.
      ok(n.apply(put("/x", "1"), { requestId: "expire-5" }));
      // The expiry, as this zk-node proposes it and as an older one logged it, is applied.
      ok(n.apply(expireSession(5), { requestId: internalRequestKey("expire-5") }));
      assert.equal(n.tree.session(5), null, "expired");
      ok(n.apply(openSession(6)));
      ok(n.apply(put("/y", "1"), { requestId: "expire-6" }));
      ok(n.apply(expireSession(6), { requestId: "expire-6" }));
      assert.equal(n.tree.session(6), null, "an old-format expiry key is internal too");
      // An expiry sent twice is deduplicated like any request.
      ok(n.apply(openSession(7)));
      ok(n.apply(expireSession(7), { requestId: internalRequestKey("expire-7") }));
      assert.ok("result" in n.apply(expireSession(7), { requestId: internalRequestKey("expire-7") }));
      // A client cannot put its key in the internal namespace.
      fails(n.apply(put("/z", "1"), { requestId: internalRequestKey("expire-8") }), ErrorCode.INVALID_ARGUMENT, /reserved/);
      assert.equal(n.tree.exists("/z"), null);
    } finally {
      n.close();
    }
  });

  test("request ids are remembered for REQUEST_IDS_KEPT_MS of leader time and REQUEST_IDS_KEPT_SLOTS slots", () => {
    const n = new Node();
    try {
      n.time = 1_000_000;
      ok(n.apply(put("/c", "x"), { requestId: "a", zxid: 10 }));
      const first = n.time;
      // Far more slots later, but within the time: a client still retrying is deduplicated.
      n.time = first + REQUEST_IDS_KEPT_MS - 1000;
      ok(n.apply(noop, { requestId: "b", zxid: 10 + 3 * REQUEST_IDS_KEPT_SLOTS }));
      ok(n.apply(put("/c", "x"), { requestId: "a" }));
      assert.equal(n.tree.exists("/c")?.version, 0, "still remembered: inside the time window");
      // A new leader whose clock is behind does not bring forgotten keys back, nor shorten the window.
      n.time = first;
      ok(n.apply(put("/c", "x"), { requestId: "a" }));
      assert.equal(n.tree.exists("/c")?.version, 0, "the dedup clock never goes back");
      // Past both bounds: forgotten, so applied again.
      n.time = first + REQUEST_IDS_KEPT_MS + 1000;
      ok(n.apply(noop, { requestId: "c" }));
      ok(n.apply(put("/c", "x"), { requestId: "a" }));
      assert.equal(n.tree.exists("/c")?.version, 1, "forgotten, so applied again");
      // Within the slots but long after in time: still remembered (the slot bound holds too).
      ok(n.apply(put("/d", "x"), { requestId: "d" }));
      n.time += 10 * REQUEST_IDS_KEPT_MS;
      ok(n.apply(put("/d", "x"), { requestId: "d" }));
      assert.equal(n.tree.exists("/d")?.version, 0, "still remembered: inside the slot window");
      // Old keys are deleted in batches; none inside the window is, none outside both survives a batch.
      const at = n.zxid + 2 * REQUEST_IDS_KEPT_SLOTS;
      n.time += 10 * REQUEST_IDS_KEPT_MS;
      ok(n.apply(noop, { requestId: "e", zxid: at }));
      const ids = n.store.db.prepare<[], string>("SELECT request_id FROM requests ORDER BY zxid").pluck().all();
      assert.deepEqual(ids, ["e"], "every key outside both bounds was evicted");
    } finally {
      n.close();
    }
  });

  test("eviction deletes exactly the keys outside both bounds, wherever each bound cuts", () => {
    // 60 keys at zxids 1-60, times 1,000,000 + 1,000 per key (pairs share a time). Then one
    // key far later; the rows it evicts are those older than both its slot and time bounds.
    for (const [slotCut, timeCut] of [[60, 20], [30, 41], [10, 10], [0, 50], [60, 0]] as const) {
      const n = new Node();
      try {
        const timeOf = (z: number) => 1_000_000 + 1000 * Math.ceil(z / 2);
        for (let z = 1; z <= 60; z++) {
          n.time = timeOf(z) - 10; // apply() adds 10
          ok(n.apply(noop, { requestId: `k${z}`, zxid: z }));
        }
        // Now: keys at or below timeCut are older than REQUEST_IDS_KEPT_MS, those at or below slotCut + 1 older than the slots.
        n.time = timeOf(timeCut) + REQUEST_IDS_KEPT_MS + 1 - 10;
        if (timeCut % 2 === 1) n.time = timeOf(timeCut + 1) + REQUEST_IDS_KEPT_MS - 1 - 10; // the pair's partner is in the window
        ok(n.apply(noop, { requestId: "last", zxid: slotCut + REQUEST_IDS_KEPT_SLOTS + 1 }));
        const nowMs = n.time;
        const expected = Array.from({ length: 60 }, (_, i) => i + 1)
          // Forgotten by the next apply (zxid last + 1): first zxid below last + 1 - SLOTS, and time below now - MS.
          .filter((z) => !(z <= slotCut + 1 && timeOf(z) < nowMs - REQUEST_IDS_KEPT_MS))
          .map((z) => `k${z}`);
        const ids = n.store.db.prepare<[], string>("SELECT request_id FROM requests ORDER BY zxid").pluck().all();
        assert.deepEqual(ids, [...expected, "last"], `slot bound at ${slotCut}, time bound at ${timeCut}`);
      } finally {
        n.close();
      }
    }
  });

  test("reopening the store restores the tree and its sessions", () => {
    const n = new Node();
    const file = n.file;
    ok(n.apply(create("/a", "x")));
    ok(n.apply(openSession(9)));
    ok(n.apply(create("/a/e", "eph", { ephemeral: true, sessionId: 9 })));
    ok(n.apply(create("/a/s", "", { sequential: true })));
    ok(n.apply(set("/a", "yz"), { requestId: "q" }));
    const before = dump(n.store);
    const get = n.tree.get("/a");
    const applied = n.store.applied();
    n.close();

    const m = new Node(file);
    try {
      assert.equal(m.store.applied(), applied);
      assert.deepEqual(dump(m.store), before);
      assert.deepEqual(m.tree.get("/a"), get);
      assert.deepEqual(names(m, "/a"), ["e", "s0000000001"]);
      assert.deepEqual(m.tree.ephemeralsOf(9), ["/a/e"]);
      // It goes on where it stopped: sequence numbers, sessions, remembered request ids.
      const r = ok(m.apply(create("/a/s", "", { sequential: true })));
      assert.equal(r.result?.$case === "create" && r.result.value.path, "/a/s0000000002");
      assert.deepEqual(m.apply(set("/a", "yz"), { requestId: "q" }).events, []);
      ok(m.apply(closeSession(9)));
      assert.equal(m.tree.exists("/a/e"), null);
    } finally {
      m.close();
    }
  });

  test("a schema v1 file is migrated: tree tables and the root appear", () => {
    const file = newFile();
    rawStoreAtSchema(file, 1, ID).close();

    const n = new Node(file);
    try {
      assert.equal(n.store.info().schemaVersion, SCHEMA_VERSION);
      assert.deepEqual(n.tree.exists("/"), stat({}));
      ok(n.apply(create("/m")));
      assert.deepEqual(names(n, "/"), ["m"]);
    } finally {
      n.close();
    }
  });

  test("determinism: the same commands on two stores give the same state and outcomes", () => {
    const commands = randomCommands(new SeededRng(20240611), 1500);
    const run = (): { dump: unknown; outcomes: unknown[] } => {
      const n = new Node();
      try {
        const outcomes: unknown[] = [];
        // Mixed batch sizes: several commands per transaction, as the driver does.
        for (let i = 0; i < commands.length; ) {
          const batch = commands.slice(i, i + 1 + (i % 7));
          n.store.transaction(() => {
            for (const c of batch) outcomes.push(n.tree.apply(++n.zxid, decodeCommand(encodeCommand(c))));
            n.store.setApplied(n.zxid);
          });
          i += batch.length;
        }
        return { dump: dump(n.store), outcomes };
      } finally {
        n.close();
      }
    };
    const a = run();
    const b2 = run();
    assert.deepEqual(b2.dump, a.dump);
    assert.deepEqual(b2.outcomes, a.outcomes);
    // The workload exercised both successes and failures, and left a real tree.
    const oks = a.outcomes.filter((o) => "result" in (o as object)).length;
    assert.ok(oks > 300 && oks < commands.length - 200, `successes: ${oks} of ${commands.length}`);
    assert.ok((a.dump as { znodes: unknown[] }).znodes.length > 10);
  });

  test("encodeCommand / decodeCommand round-trip; empty bytes decode to a noop", () => {
    const c: Command = { requestId: "r1", timeMs: 1_700_000_000_000, nonce: 9, op: put("/a/b", "data", 3) };
    const d = decodeCommand(encodeCommand(c));
    assert.equal(d.requestId, "r1");
    assert.equal(d.timeMs, 1_700_000_000_000);
    assert.equal(d.op?.$case, "put");
    if (d.op?.$case === "put") {
      assert.equal(d.op.value.path, "/a/b");
      assert.deepEqual(Uint8Array.from(d.op.value.data), b("data"));
      assert.equal(d.op.value.expectedVersion, 3);
    }
    assert.deepEqual(decodeCommand(new Uint8Array(0)), { requestId: "", timeMs: 0, nonce: 0, op: { $case: "noop", value: {} } });
    assert.equal(d.nonce, 9);
    const m = decodeCommand(encodeCommand({ requestId: "", timeMs: 0, nonce: 0, op: multi(check("/x", -1)) }));
    assert.deepEqual(m.op, multi(check("/x", -1)));
  });
});

/** A seeded workload over a small namespace, so that ops collide and many fail. */
function randomCommands(rng: SeededRng, count: number): Command[] {
  const segs = ["a", "b", "c"];
  const randPath = (): string => {
    const depth = 1 + rng.int(3);
    let p = "";
    for (let i = 0; i < depth; i++) p += "/" + rng.pick(segs);
    return p;
  };
  const version = (): number | undefined => (rng.chance(0.6) ? undefined : rng.int(3) - 1);
  const session = (): number => 1 + rng.int(3);
  const data = (): string => "x".repeat(rng.int(20));
  const single = (): Command["op"] => {
    switch (rng.int(6)) {
      case 0:
        return put(randPath(), data(), version());
      case 1: {
        const eph = rng.chance(0.3);
        return create(randPath(), data(), { ephemeral: eph, sequential: rng.chance(0.3), sessionId: eph ? session() : 0 });
      }
      case 2:
        return set(randPath(), data(), version());
      case 3:
        return del(randPath(), version());
      case 4:
        return create(randPath(), data());
      default:
        return put(randPath(), data());
    }
  };
  const out: Command[] = [];
  for (let i = 0; i < count; i++) {
    let op: Command["op"];
    const k = rng.int(20);
    if (k === 0) op = openSession(session(), 1000 + rng.int(1000));
    else if (k === 1) op = rng.chance(0.5) ? closeSession(session()) : expireSession(session());
    else if (k === 2) {
      const ops: Op[] = [];
      for (let j = rng.int(4); j >= 0; j--) ops.push(rng.chance(0.2) ? check(randPath(), version()) : asOp(single()));
      op = multi(...ops);
    } else if (k === 3) op = noop;
    else op = single();
    const requestId = rng.chance(0.2) ? `r${rng.int(50)}` : "";
    out.push({ requestId, timeMs: 1_000_000 + i * 3, nonce: i, op });
  }
  return out;
}
