// zk-node as a process: startup refuses bad configuration loudly and leaves nothing behind;
// a running cluster never loses an acknowledged write, whatever is killed.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import * as http2 from "node:http2";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { DB_FILE } from "../src/storage/store-file.js";
import { ErrorCode, ZkClient, ZkError } from "../src/client/index.js";
import { KvClient } from "../src/gen/zk/v1/kv.js";
import { TestCluster, runZkNode, sleep } from "./support/nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe("zk-node refuses bad configuration with one line and a non-zero exit", () => {
  const base = ["--listen", "127.0.0.1:17011", "--data-dir", "/tmp/zk-never-created-17011"];
  const cases: [string, string[], RegExp][] = [
    ["an invalid --peers entry", ["--id", "n1", "--peers", "n1=127.0.0.1:17011,oops", ...base], /invalid --peers entry "oops": expected ID=HOST:PORT/],
    ["a bad port", ["--id", "n1", "--peers", "n1=127.0.0.1:17011,n2=127.0.0.1:99999", ...base], /invalid address "127.0.0.1:99999"/],
    ["duplicate ids", ["--id", "n1", "--peers", "n1=127.0.0.1:17011,n1=127.0.0.1:17012", ...base], /duplicate node id "n1" in --peers/],
    ["an id not in the peer list", ["--id", "n9", "--peers", "n1=127.0.0.1:17011,n2=127.0.0.1:17012", ...base], /--id n9 is not in --peers/],
    ["a missing flag", ["--id", "n1", "--peers", "n1=127.0.0.1:17011"], /missing --listen/],
    ["an unknown flag", ["--id", "n1", "--bogus", "1"], /Unknown option '--bogus'/],
  ];
  for (const [what, args, message] of cases) {
    test(what, () => {
      const r = runZkNode(args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line, got: ${r.stderr}`);
      assert.ok(!existsSync("/tmp/zk-never-created-17011"), "no data dir was created");
    });
  }

  test("every flag has an environment variable", () => {
    const r = runZkNode([], { ZK_ID: "n9", ZK_LISTEN: "127.0.0.1:17011", ZK_PEERS: "n1=127.0.0.1:17011", ZK_DATA_DIR: "/tmp/x" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--id n9 is not in --peers/);
  });

  /** Hold 127.0.0.1:`port` open while `fn` runs. */
  const withPortHeld = async (port: number, fn: () => void) => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    try {
      fn();
    } finally {
      blocker.close();
    }
  };

  test("a port already in use", async () => {
    await withPortHeld(17013, () => {
      const dir = "/tmp/zk-never-created-17013";
      const r = runZkNode(["--id", "n1", "--listen", "127.0.0.1:17013", "--peers", "n1=127.0.0.1:17013", "--data-dir", dir]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^zk-node: cannot listen on 127\.0\.0\.1:17013: the port is in use; stop whatever holds it .* or give this node another port in --listen and in every node's --peers$/m);
      assert.ok(!existsSync(dir), "nothing was written");
    });
  });

  // A member's --listen is its address in its cluster's configuration: "pick another --listen"
  // would be refused (it must equal the --peers entry) and no restart can move a member.
  test("a member's port in use is to be freed, not changed", async () => {
    const c = new TestCluster(1, 17060, "alpha");
    after(() => c.cleanup());
    c.start("n1");
    await c.waitForLeader();
    await c.stop("n1", "SIGTERM");
    await withPortHeld(17060, () => {
      const r = runZkNode(["--id", "n1", "--listen", "127.0.0.1:17060", "--peers", "n1=127.0.0.1:17060", "--data-dir", c.node("n1").dataDir, "--cluster-id", "alpha"]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:17060: the port is in use; stop whatever holds it \(`ss -ltnp 'sport = :17060'` names the process\): it is this member's address/);
      assert.doesNotMatch(r.stderr, /another/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    });
  });

  test("a data dir that belongs to another cluster", async () => {
    const c = new TestCluster(1, 17014, "alpha");
    after(() => c.cleanup());
    c.start("n1");
    await c.waitForLeader();
    await c.stop("n1", "SIGTERM");
    const r = runZkNode(["--id", "n1", "--listen", "127.0.0.1:17014", "--peers", "n1=127.0.0.1:17014", "--data-dir", c.node("n1").dataDir, "--cluster-id", "beta"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /belongs to cluster "alpha", not "beta"/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });

  test("a config file works, and flags override it", () => {
    const dir = join("/tmp", `zk-cfg-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "n1.json");
    writeFileSync(file, JSON.stringify({ id: "n7", listen: "127.0.0.1:17015", peers: { n1: "127.0.0.1:17015" }, dataDir: dir }));
    try {
      const r = runZkNode(["--config", file]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /--id n7 is not in --peers \(n1\)/, "the file's settings are read");
      const overridden = runZkNode(["--config", file, "--id", "n8"], { ZK_PEERS: "n1=127.0.0.1:17015,n2=127.0.0.1:17016" });
      assert.match(overridden.stderr, /--id n8 is not in --peers \(n1, n2\)/, "a flag beats the environment, which beats the file");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a 3-node cluster", () => {
  const c = new TestCluster(3, 17020);
  after(() => c.cleanup());

  test("elects a leader, takes writes on every node, and serves linearizable and local reads", async () => {
    c.startAll();
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    const viaFollower = c.client([follower]);
    const viaLeader = c.client([leader]);
    try {
      const a = await viaFollower.put("/a", enc("from-follower"));
      const b = await viaLeader.put("/b", enc("from-leader"));
      assert.equal(a.created, true);
      assert.ok(b.zxid > a.zxid);
      for (const n of c.nodes) {
        const one = c.client([n.id]);
        assert.equal(dec((await one.get("/a")).data), "from-follower");
        assert.equal(dec((await one.get("/b")).data), "from-leader");
        assert.equal(dec((await one.get("/b", { consistency: "local" })).data), "from-leader", "a linearizable read on a node leaves it caught up");
        one.close();
      }
      const again = await viaFollower.put("/a", enc("v2"));
      assert.equal(again.version, 1);
      assert.equal(again.created, false);
    } finally {
      viaFollower.close();
      viaLeader.close();
    }
  });

  test("rejects missing and oversized fields with INVALID_ARGUMENT, never a crash", async () => {
    const raw = new KvClient(c.nodes[0]!.address, grpc.credentials.createInsecure());
    const call = (req: { path: string; data: Uint8Array }) =>
      new Promise<grpc.ServiceError | null>((r) => raw.put(req, (err) => r(err)));
    try {
      const missing = await call({ path: "", data: enc("x") });
      assert.equal(missing?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(missing!.details, /path is missing/);
      const big = await call({ path: "/big", data: new Uint8Array(1024 * 1024 + 1) });
      assert.equal(big?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(big!.details, /data is 1048577 bytes; the limit is 1048576 bytes/);
      const bad = await call({ path: "/a//b", data: enc("x") });
      assert.equal(bad?.code, grpc.status.INVALID_ARGUMENT);
      const ok = c.client();
      assert.ok((await ok.exists("/")).exists, "the node still serves");
      ok.close();
    } finally {
      raw.close();
    }
  });

  test("no acknowledged write is lost when every node is killed -9 mid-stream and restarted", () => killAllMidStream(c));

  test("a killed leader is replaced, writes continue, and the old leader catches up when it returns", async () => {
    const leader = await c.waitForLeader();
    await c.stop(leader, "SIGKILL");
    const rest = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const next = await c.waitForLeader(rest);
    assert.notEqual(next, leader);
    const client = c.client(rest);
    try {
      const r = await client.put("/after-failover", enc("yes"));
      assert.ok(r.zxid > 0);
      c.start(leader);
      await c.waitForLeader();
      const old = c.client([leader]);
      const got = await old.get("/after-failover");
      assert.equal(dec(got.data), "yes");
      const until = Date.now() + 5000;
      while ((await old.status(c.node(leader).address)).appliedIndex < r.zxid && Date.now() < until) await sleep(20);
      assert.ok((await old.get("/after-failover", { consistency: "local" })).data.length > 0);
      old.close();
    } finally {
      client.close();
    }
  });

  test("with no majority, writes fail as unavailable instead of hanging", async () => {
    const leader = await c.waitForLeader();
    const others = c.nodes.filter((n) => n.id !== leader);
    await c.stop(others[0]!.id);
    await c.stop(others[1]!.id);
    const client = c.client([leader], 1500);
    try {
      await assert.rejects(client.put("/no-quorum", enc("x")), (e: ZkError) => e.code === ErrorCode.TIMEOUT || e.code === ErrorCode.UNAVAILABLE);
    } finally {
      client.close();
    }
  });
});

/** Eight writers; every node killed -9 after 700 ms and restarted (with `extra`): every acknowledged write is there. */
async function killAllMidStream(c: TestCluster, extra: string[] = []): Promise<void> {
  const client = c.client(undefined, 3000);
  const acked = new Map<string, string>();
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop && i < 10_000; i++) {
      const key = `/w${w}-${i}`;
      try {
        await client.put(key, enc(`v${i}`));
        acked.set(key, `v${i}`);
      } catch (e) {
        assert.ok(e instanceof ZkError);
      }
    }
  });
  await sleep(700);
  await c.stopAll("SIGKILL");
  stop = true;
  await Promise.all(writers);
  client.close();
  assert.ok(acked.size > 20, `only ${acked.size} writes were acknowledged before the kill`);
  c.startAll(extra);
  await c.waitForLeader();
  const reader = c.client();
  try {
    for (const [key, value] of acked) assert.equal(dec((await reader.get(key)).data), value, `${key} lost`);
  } finally {
    reader.close();
  }
}

describe("with --fsync-off-loop", () => {
  test("one node alone counts its own flushed writes: it takes writes", async () => {
    const c = new TestCluster(1, 17030, "offloop-one");
    try {
      c.startAll(["--fsync-off-loop"]);
      await c.waitForLeader();
      const client = c.client();
      try {
        for (let i = 0; i < 20; i++) assert.equal((await client.put(`/one-${i}`, enc(`v${i}`))).created, true);
        assert.equal(dec((await client.get("/one-19")).data), "v19");
      } finally {
        client.close();
      }
    } finally {
      await c.cleanup();
    }
  });

  test("no acknowledged write is lost when every node of three is killed -9 mid-stream and restarted", async () => {
    const c = new TestCluster(3, 17033, "offloop-three");
    try {
      c.startAll(["--fsync-off-loop"]);
      await c.waitForLeader();
      await killAllMidStream(c, ["--fsync-off-loop"]);
    } finally {
      await c.cleanup();
    }
  });
});

describe("with --tree-in-memory", () => {
  // Checkpoints every ~100 applied entries, so that kills land between them and a restart replays.
  const MEM = ["--tree-in-memory", "--snapshot-entries", "100", "--retain-entries", "20"];

  test("no acknowledged write is lost when every node of three is killed -9 mid-stream and restarted", async () => {
    const c = new TestCluster(3, 17070, "memtree-three");
    try {
      c.startAll(MEM);
      await c.waitForLeader();
      await killAllMidStream(c, MEM);
    } finally {
      await c.cleanup();
    }
  });

  test("a clean stop writes the whole tree to the store, which runs on without the flag and back", async () => {
    const c = new TestCluster(1, 17075, "memtree-stop");
    try {
      c.start("n1", ["--tree-in-memory"]);
      await c.waitForLeader();
      const client = c.client();
      let last = 0;
      try {
        // Fewer writes than a snapshot point (10,000): only the stop's checkpoint writes them.
        for (let i = 0; i < 30; i++) last = (await client.put(`/m${i}`, enc(`v${i}`))).zxid;
        await client.delete("/m0");
        // Running, the node has not written them to its store's tables yet (no checkpoint so far).
        const live = new Database(join(c.node("n1").dataDir, DB_FILE), { readonly: true });
        try {
          assert.equal(live.prepare("SELECT count(*) FROM znodes WHERE path LIKE '/m%'").pluck().get(), 0, "the tree is in memory, not in the store's tables");
          assert.equal(live.prepare("SELECT value FROM meta WHERE key = 'tree_in_memory'").pluck().get(), 1, "the store says so, for zk-cli inspect");
        } finally {
          live.close();
        }
      } finally {
        client.close();
      }
      await c.stop("n1", "SIGTERM");
      const db = new Database(join(c.node("n1").dataDir, DB_FILE), { readonly: true });
      try {
        const applied = Number(db.prepare("SELECT value FROM meta WHERE key = 'applied'").pluck().get());
        assert.ok(applied > last, `the store's applied index ${applied} covers the last write (${last}) and the delete`);
        const rows = db.prepare("SELECT path, data FROM znodes WHERE path LIKE '/m%' ORDER BY path").all() as { path: string; data: Buffer }[];
        assert.equal(rows.length, 29, "the 30 nodes less the deleted one are in the store's table");
        assert.equal(rows.find((r) => r.path === "/m29")?.data.toString(), "v29");
      } finally {
        db.close();
      }
      // The same store with the tree in its tables, then in memory again: nothing lost either way.
      for (const extra of [[], ["--tree-in-memory"]]) {
        c.start("n1", extra);
        await c.waitForLeader();
        const mode = new Database(join(c.node("n1").dataDir, DB_FILE), { readonly: true });
        try {
          assert.equal(mode.prepare("SELECT value FROM meta WHERE key = 'tree_in_memory'").pluck().get(), extra.length > 0 ? 1 : undefined, `the store records the mode of ${extra.join(" ") || "a start without the flag"}`);
        } finally {
          mode.close();
        }
        const again = c.client();
        try {
          assert.equal(dec((await again.get("/m29")).data), "v29");
          await assert.rejects(again.get("/m0"), (e: ZkError) => e.code === ErrorCode.NO_NODE);
          assert.ok((await again.put(`/after-${extra.length}`, enc("x"))).created);
        } finally {
          again.close();
        }
        await c.stop("n1", "SIGKILL");
      }
      c.start("n1");
      await c.waitForLeader();
      const last2 = c.client();
      try {
        for (const k of ["/after-0", "/after-1"]) assert.equal(dec((await last2.get(k)).data), "x", `${k} survived a kill -9 and a restart`);
      } finally {
        last2.close();
      }
    } finally {
      await c.cleanup();
    }
  });
});

describe("ZkClient and a connection reset under a call", () => {
  // An HTTP/2 server that resets every stream with INTERNAL_ERROR (code 2), as grpc-js sees a
  // connection torn down under a call: ZkClient must treat it as a broken connection (try the
  // next member; the write's deduplication key keeps a retry exactly-once), not as an answer.
  const c = new TestCluster(1, 17050, "reset");
  let resetter: http2.Http2Server | null = null;
  after(async () => {
    await c.cleanup();
    await new Promise<void>((r) => (resetter ? resetter.close(() => r()) : r()));
  });

  test("a write and a read through a member that resets the stream go to the next member", async () => {
    c.start("n1");
    await c.waitForLeader();
    let resets = 0;
    resetter = http2.createServer();
    resetter.on("stream", (stream) => {
      resets++;
      stream.on("error", () => undefined); // the reset itself, reported on this side too
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    await new Promise<void>((r) => resetter!.listen(17051, "127.0.0.1", () => r()));
    const client = new ZkClient({ endpoints: ["127.0.0.1:17051", c.node("n1").address], timeoutMs: 5000 });
    try {
      const put = await client.put("/reset", enc("v1"));
      assert.ok(put.zxid > 0);
      assert.equal(dec((await client.get("/reset")).data), "v1");
      assert.ok(resets >= 1, "the resetting member was tried first");
    } finally {
      client.close();
    }
  });
});
