// The znode tree from the command line: create/get/set/delete/ls/stat, sequential names,
// version conflicts and their exit codes, ephemeral nodes held by a running `create
// --ephemeral` (released on SIGTERM, on stdin EOF, and at TTL expiry after kill -9), watch as
// NDJSON in a pipe and resumed with --from-zxid, COMPACTED, and txn all-or-nothing.
// A 3-node cluster on 127.0.0.1:17400-17402 keeping 100 zxids of watch history.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { cli, clusterCli, destroyCluster, jsonLines, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";
import { killAllStarted, parseLines, startCli } from "./live-cli.js";

const BASE_PORT = 17400;
const WATCH_HISTORY_SLOTS = 100;

interface Event {
  type: string;
  path: string;
  zxid: number;
  version?: number;
}

describe("zk-cli znode commands", { timeout: 90_000 }, () => {
  const dir = tempClusterDir("znode");
  const { env, zk, ok } = clusterCli(dir);
  const fails = async (args: string[], code: number, message: RegExp, input?: string) => {
    const r = await zk(args, input);
    assert.equal(r.code, code, `zk-cli ${args.join(" ")}: expected exit ${code}, got ${r.code}: ${r.stderr}${r.stdout}`);
    assert.match(oneErrorLine(r.stderr), message);
    return r;
  };

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--base-port", String(BASE_PORT), "--dir", dir], { env: { ZK_WATCH_HISTORY_SLOTS: String(WATCH_HISTORY_SLOTS) } });
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    await killAllStarted();
    await destroyCluster(dir);
  });

  it("create, get (--stat), set with versions, stat", async () => {
    assert.match(await ok(["create", "/t"]), /^\/t zxid=\d+\n$/);
    const created = jsonLines(await ok(["create", "/t/cfg", "color=blue", "--json"]))[0]!;
    assert.equal(created.path, "/t/cfg");
    assert.equal(created.version, 0);
    assert.equal(created.dataLength, 10);
    assert.ok((created.zxid as number) > 0);

    assert.equal(await ok(["get", "/t/cfg"]), "color=blue");
    const withStat = await ok(["get", "/t/cfg", "--stat"]);
    const lines = withStat.split("\n");
    assert.equal(lines[0], "color=blue");
    for (const f of ["version", "cversion", "czxid", "mzxid", "pzxid", "ctime", "mtime", "ephemeralOwner", "numChildren", "dataLength"]) {
      assert.ok(lines.some((l) => new RegExp(`^${f}\\s+\\S`).test(l)), `get --stat shows ${f}:\n${withStat}`);
    }
    assert.match(withStat, /^version\s+0$/m);
    assert.match(withStat, new RegExp(`^czxid\\s+${created.zxid}$`, "m"));

    assert.match(await ok(["set", "/t/cfg", "color=green", "--version", "0"]), /^\/t\/cfg zxid=\d+ version=1\n$/);
    await fails(["set", "/t/cfg", "color=red", "--version", "0"], 4, /version mismatch on \/t\/cfg: expected 0, is 1/);
    assert.equal(await ok(["get", "/t/cfg"]), "color=green", "a failed compare-and-set changes nothing");
    assert.match(await ok(["set", "/t/cfg", "color=red"]), /version=2/);

    const st = jsonLines(await ok(["stat", "/t/cfg", "--json"]))[0]!;
    assert.equal(st.path, "/t/cfg");
    assert.equal(st.version, 2);
    assert.equal(st.dataLength, 9);
    assert.equal(st.numChildren, 0);
    assert.equal(st.ephemeralOwner, 0);
    assert.equal(st.czxid, created.zxid);
    assert.ok((st.mzxid as number) > (st.czxid as number));
    const table = await ok(["stat", "/t/cfg"]);
    assert.match(table, /^version\s+2$/m);
    assert.match(table, /^mtime\s+\d{4}-\d\d-\d\dT/m);

    await fails(["create", "/t/cfg", "again"], 4, /already exists/);
    await fails(["create", "/t/missing/child"], 3, /parent \/t\/missing does not exist.*--parents/);
    assert.match(await ok(["create", "/t/deep/er/node", "x", "--parents"]), /^\/t\/deep\/er\/node zxid=/);
    assert.equal(await ok(["get", "/t/deep/er/node"]), "x");
    // Data from stdin, byte for byte.
    await ok(["create", "/t/stdin", "-"], "line1\nline2\n");
    assert.equal(await ok(["get", "/t/stdin"]), "line1\nline2\n");
  });

  it("sequential names count up with the parent's child changes, 10 digits", async () => {
    await ok(["create", "/t/q"]);
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) paths.push((await ok(["create", "/t/q/job-", `j${i}`, "--sequential"])).split(" ")[0]!);
    assert.deepEqual(paths, ["/t/q/job-0000000000", "/t/q/job-0000000001", "/t/q/job-0000000002"]);
    await ok(["create", "/t/q/plain"]);
    await ok(["delete", "/t/q/plain"]);
    // Two child changes (create, delete) later the counter is at 5.
    assert.match(await ok(["create", "/t/q/job-", "--sequential"]), /^\/t\/q\/job-0000000005 zxid=/);
    assert.equal(await ok(["get", "/t/q/job-0000000001"]), "j1");
  });

  it("missing nodes: exit 3 for get, set, delete, stat, ls", async () => {
    for (const args of [["get", "/nope"], ["set", "/nope", "x"], ["delete", "/nope"], ["stat", "/nope"], ["ls", "/nope"], ["ls", "/nope", "-R"], ["delete", "/nope", "-r"]]) {
      await fails(args, 3, /\/nope does not exist/);
    }
  });

  it("ls: sorted children; --recursive: full paths depth-first; --stat and --json", async () => {
    await ok(["create", "/t/ls"]);
    for (const p of ["/t/ls/b", "/t/ls/a", "/t/ls/c", "/t/ls/a/z", "/t/ls/a/y", "/t/ls/b/x"]) await ok(["create", p, p]);
    assert.equal(await ok(["ls", "/t/ls"]), "a\nb\nc\n");
    assert.equal(await ok(["ls", "/t/ls", "--recursive"]), ["/t/ls", "/t/ls/a", "/t/ls/a/y", "/t/ls/a/z", "/t/ls/b", "/t/ls/b/x", "/t/ls/c"].join("\n") + "\n");
    const rows = jsonLines(await ok(["ls", "/t/ls", "--stat", "--json"]));
    assert.deepEqual(
      rows.map((r) => [r.name, r.path, r.numChildren, r.dataLength]),
      [
        ["a", "/t/ls/a", 2, 7],
        ["b", "/t/ls/b", 1, 7],
        ["c", "/t/ls/c", 0, 7],
      ],
    );
    const table = await ok(["ls", "/t/ls", "-R", "--stat"]);
    assert.match(table, /^PATH\s+VERSION\s+CVERSION\s+CHILDREN\s+BYTES\s+MZXID\s+EPHEMERAL_OWNER\s+MTIME$/m);
    assert.match(table, /^\/t\/ls\/a\/y\s+0\s+0\s+0\s+9\s/m);
    assert.equal(await ok(["ls", "/t/ls/c"]), "");
  });

  it("delete: --version conflicts and NOT_EMPTY exit 4; --recursive deletes the subtree", async () => {
    await ok(["create", "/t/del"]);
    await ok(["create", "/t/del/a"]);
    await ok(["create", "/t/del/a/b", "x"]);
    await ok(["set", "/t/del", "v1"]);
    await fails(["delete", "/t/del/a/b", "--version", "3"], 4, /version mismatch on \/t\/del\/a\/b: expected 3, is 0/);
    await fails(["delete", "/t/del"], 4, /has 1 child.*--recursive/);
    await fails(["delete", "/t/del", "--recursive", "--version", "0"], 4, /version mismatch on \/t\/del: expected 0, is 1/);
    assert.equal(await ok(["ls", "/t/del", "-R"]), "/t/del\n/t/del/a\n/t/del/a/b\n", "a version conflict deletes nothing");
    const r = jsonLines(await ok(["delete", "/t/del", "--recursive", "--version", "1", "--json"]))[0]!;
    assert.equal(r.deleted, 3);
    await fails(["stat", "/t/del"], 3, /does not exist/);
    assert.match(await ok(["delete", "/t/q/job-0000000000", "--version", "0"]), /^\/t\/q\/job-0000000000 deleted zxid=\d+\n$/);
  });

  it("create --ephemeral holds the node while it runs; SIGTERM and stdin EOF delete it at once", async () => {
    await ok(["create", "/t/eph"]);
    const holder = startCli(["create", "/t/eph/a", "host-a", "--ephemeral", "--ttl", "1000"], { env });
    const [line] = await holder.lines(1);
    assert.match(line!, /^\/t\/eph\/a zxid=\d+$/);
    const st = jsonLines(await ok(["stat", "/t/eph/a", "--json"]))[0]!;
    assert.notEqual(st.ephemeralOwner, 0);
    // Still there after several TTLs: the running process renews its session.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await ok(["get", "/t/eph/a"]), "host-a");
    assert.deepEqual(await holder.stop("SIGTERM"), { code: 0, signal: null });
    await fails(["get", "/t/eph/a"], 3, /does not exist/);

    const piped = startCli(["create", "/t/eph/b", "--ephemeral", "--sequential", "--json"], { env, stdin: "pipe" });
    const created = parseLines((await piped.lines(1)))[0]!;
    assert.match(created.path as string, /^\/t\/eph\/b\d{10}$/);
    piped.child.stdin!.end();
    assert.deepEqual(await piped.exited, { code: 0, signal: null });
    await fails(["get", created.path as string], 3, /does not exist/);
  });

  it("an ephemeral node outlives a kill -9 of its holder only until the session's TTL", async () => {
    const holder = startCli(["create", "/t/eph/k", "--ephemeral", "--ttl", "1000"], { env });
    await holder.lines(1);
    const killedAt = Date.now();
    await holder.stop("SIGKILL");
    assert.equal((await zk(["stat", "/t/eph/k"])).code, 0, "a killed holder cannot delete its node");
    await waitUntil(async () => (await zk(["stat", "/t/eph/k"])).code === 3, 15_000, "the ephemeral node to expire");
    assert.ok(Date.now() - killedAt >= 900, "not before the TTL");
  });

  it("watch: NDJSON in a pipe with zxids; --from-zxid resumes with exactly the missed events", async () => {
    await ok(["create", "/w"]);
    const w = startCli(["watch", "/w", "--recursive"], { env });
    await w.stderrMatching(/^watching \/w and below from now/);
    await ok(["create", "/w/a", "1"]);
    await ok(["set", "/w/a", "2"]);
    await ok(["delete", "/w/a"]);
    const seen = parseLines<Event>(await w.lines(5));
    assert.deepEqual(
      seen.map((e) => [e.type, e.path]),
      [
        ["created", "/w/a"],
        ["children_changed", "/w"],
        ["changed", "/w/a"],
        ["deleted", "/w/a"],
        ["children_changed", "/w"],
      ],
    );
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.zxid >= seen[i - 1]!.zxid, "zxids never go back");
    assert.equal(seen[0]!.zxid, seen[1]!.zxid, "a create and its parent's children_changed share the zxid");
    assert.equal(seen[2]!.version, 1);
    assert.equal(seen[3]!.version, undefined, "no stat on deleted");
    assert.deepEqual(await w.stop("SIGTERM"), { code: 0, signal: null });
    const last = seen.at(-1)!.zxid;

    // Missed while no one watched.
    await ok(["create", "/w/b", "x"]);
    await ok(["set", "/w/b", "y"]);
    await ok(["create", "/elsewhere", "not under /w"]);
    await ok(["delete", "/w/b"]);

    const resumed = startCli(["watch", "/w", "--recursive", "--from-zxid", String(last + 1)], { env });
    const missed = parseLines<Event>(await resumed.lines(5));
    assert.deepEqual(
      missed.map((e) => [e.type, e.path]),
      [
        ["created", "/w/b"],
        ["children_changed", "/w"],
        ["changed", "/w/b"],
        ["deleted", "/w/b"],
        ["children_changed", "/w"],
      ],
    );
    assert.ok(missed[0]!.zxid > last);
    // Then it follows live, with nothing repeated in between.
    const marker = await ok(["create", "/w/marker", "--json"]);
    const markerZxid = jsonLines(marker)[0]!.zxid;
    const all = parseLines<Event>(await resumed.lines(7));
    assert.deepEqual(all.slice(5).map((e) => [e.type, e.path, e.zxid]), [
      ["created", "/w/marker", markerZxid],
      ["children_changed", "/w", markerZxid],
    ]);
    assert.deepEqual(await resumed.stop("SIGINT"), { code: 0, signal: null });

    // --count ends it after that many events; the path itself, not recursive.
    const counted = await ok(["watch", "/w", "--from-zxid", String(last + 1), "--count", "2", "--json"]);
    assert.deepEqual(jsonLines<Event>(counted).map((e) => [e.type, e.path]), [
      ["children_changed", "/w"],
      ["children_changed", "/w"],
    ]);
  });

  it("watch --from-zxid older than the kept history: exit 1, COMPACTED naming the oldest zxid", async () => {
    const lines = Array.from({ length: WATCH_HISTORY_SLOTS + 50 }, (_, i) => `/t/bulk${i % 10} v${i}`).join("\n") + "\n";
    await ok(["create", "/t/bulk0"]);
    const r = await zk(["propose", "--stdin"], lines);
    assert.equal(r.code, 0, r.stderr);
    await fails(["watch", "/", "--recursive", "--from-zxid", "1"], 1, /zxid 1 is compacted; the oldest zxid available is \d+/);
  });

  it("txn: all ops at one zxid, or none with the failing op named and its exit code", async () => {
    await ok(["create", "/x", "v0"]);
    await ok(["create", "/x/gone"]);
    const ops = [
      { op: "check", path: "/x", version: 0 },
      { op: "create", path: "/x/a", data: "A" },
      { op: "create", path: "/x/seq-", sequential: true },
      { op: "set", path: "/x", data: "v1", version: 0 },
      { op: "put", path: "/x/b", data: { n: 1 } },
      { op: "delete", path: "/x/gone" },
    ];
    const res = jsonLines(await ok(["txn", "--json"], JSON.stringify(ops)));
    assert.deepEqual(
      res.map((r) => [r.index, r.op, r.path]),
      [
        [0, "check", "/x"],
        [1, "create", "/x/a"],
        [2, "create", "/x/seq-0000000002"],
        [3, "set", "/x"],
        [4, "put", "/x/b"],
        [5, "delete", "/x/gone"],
      ],
    );
    assert.equal(new Set(res.map((r) => r.zxid)).size, 1, "one zxid for the whole txn");
    assert.equal(res[3]!.version, 1);
    assert.equal(await ok(["get", "/x/b"]), '{"n":1}');
    const table = await ok(["txn"], '{"op":"check","path":"/x","version":1}\n{"op":"set","path":"/x/a","data":"A2"}\n');
    assert.match(table, /^#\s+OP\s+PATH\s+VERSION\s+ZXID$/m);
    assert.match(table, /^1\s+set\s+\/x\/a\s+1\s+\d+$/m);

    // A failing op: nothing applied, the op named, its exit code.
    const before = await ok(["ls", "/x", "-R"]);
    const bad = [
      { op: "create", path: "/x/new1", data: "n" },
      { op: "set", path: "/x", data: "v9", version: 1 },
      { op: "set", path: "/x/a", data: "zzz", version: 0 },
      { op: "create", path: "/x/new2" },
    ];
    await fails(["txn"], 4, /^zk-cli: txn op 2 \(set \/x\/a\) failed: version mismatch on \/x\/a: expected 0, is 1; nothing was applied$/, JSON.stringify(bad));
    assert.equal(await ok(["ls", "/x", "-R"]), before);
    assert.equal(await ok(["get", "/x"]), "v1");
    await fails(["txn"], 3, /txn op 1 \(delete \/x\/nope\) failed: node \/x\/nope does not exist/, '[{"op":"create","path":"/x/new3"},{"op":"delete","path":"/x/nope"}]');
    await fails(["txn"], 4, /txn op 0 \(create \/x\/a\) failed: node \/x\/a already exists/, '[{"op":"create","path":"/x/a"}]');
    await fails(["txn"], 3, /txn op 0 \(check \/x\/none\)/, '[{"op":"check","path":"/x/none"}]');
    assert.equal(await ok(["ls", "/x", "-R"]), before);

    // Bad input: exit 2 before anything is sent.
    await fails(["txn"], 2, /no ops on stdin/, "");
    await fails(["txn"], 2, /not valid JSON/, "[{");
    await fails(["txn"], 2, /op 0: "op" must be one of/, '[{"op":"frob","path":"/x"}]');
    await fails(["txn"], 2, /op 1 \(line 2\): unknown field "verison"/, '{"op":"check","path":"/x"}\n{"op":"delete","path":"/x/a","verison":1}\n');
    await fails(["txn"], 2, /ephemeral/, '[{"op":"create","path":"/x/e","ephemeral":true}]');
  });

  it("usage errors of the new commands: exit 2 without a cluster", async () => {
    const dead = ["--endpoints", "127.0.0.1:17499"];
    for (const args of [["create", "rel//path"], ["set", "/a"], ["ls", "a//b"], ["lock", "a/b", "--", "true"], ["lock", "x"], ["lock", "x", "make"], ["elect", "e", "me", "--listen"], ["watch", "/a", "--from-zxid", "0"]]) {
      const r = await cli([...args, ...dead]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      oneErrorLine(r.stderr);
    }
  });
});
