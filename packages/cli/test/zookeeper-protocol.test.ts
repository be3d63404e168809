// ZooKeeper's client protocol on a real 3-node cluster (gRPC on 127.0.0.1:26000-26002, the
// ZooKeeper ports `cluster up` gives them on 26100-26102), through ZooKeeper's own clients:
// node-zookeeper-client for operations, stats, errors, watches, multi, ephemerals and a
// session that moves to another node when its node is killed; raw jute frames for what a
// library hides (unknown opcodes, a client ahead of the server, four-letter words); and
// zkCli.sh from Debian's zookeeper package for a transcript.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import zookeeper from "node-zookeeper-client";
import { readManifest } from "../src/lib/manifest.js";
import { cli, destroyCluster, jsonLines, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 26000;
const ZK_PORTS = [26100, 26101, 26102];
const SESSION_TIMEOUT_MS = 6000;
const ZK_OPEN = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id("world", "anyone"))];

type Client = zookeeper.Client;
type Stat = zookeeper.Stat;

/** A connected node-zookeeper-client; `servers` is its connection string. */
async function connected(servers: string): Promise<Client> {
  const c = zookeeper.createClient(servers, { sessionTimeout: SESSION_TIMEOUT_MS, spinDelay: 100, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ZooKeeper session from ${servers} within 10 s`)), 10_000);
    c.once("connected", () => {
      clearTimeout(t);
      resolve();
    });
    c.connect();
  });
  return c;
}

/** node-zookeeper-client's callbacks as a promise of the values after the error. */
function call<T extends unknown[]>(f: (cb: (e: Error | zookeeper.Exception | null, ...v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((e, ...v) => (e ? reject(e) : resolve(v))));
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: { code?: number }) => {
    assert.equal(e.code, code, String(e));
    return true;
  });
}

/** Stat longs arrive as 8-byte buffers. */
const long = (b: Buffer): number => Number(b.readBigInt64BE(0));

/** The next watcher event, or a failure after `ms`. */
function nextEvent(ms = 5000): { fire: (e: zookeeper.Event) => void; event: Promise<zookeeper.Event> } {
  let fire!: (e: zookeeper.Event) => void;
  const event = new Promise<zookeeper.Event>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no watch event within ${ms} ms`)), ms);
    fire = (e) => {
      clearTimeout(t);
      resolve(e);
    };
  });
  return { fire, event };
}

// ---- Raw jute frames, for what a client library hides --------------------------------------

function frame(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const len = Buffer.alloc(4);
  len.writeInt32BE(body.length);
  return Buffer.concat([len, body]);
}
const int = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const long64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(v));
  return b;
};
const ustring = (s: string) => Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
const connectRequest = (lastZxidSeen: number) => frame(int(0), long64(lastZxidSeen), int(SESSION_TIMEOUT_MS), long64(0), int(16), Buffer.alloc(16), Buffer.from([0]));

/** A raw socket that collects whole frames; `closed` resolves when the server closes it. */
function rawClient(port: number): { socket: Socket; frames: Buffer[]; next: (n: number) => Promise<Buffer[]>; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  const frames: Buffer[] = [];
  let buf = Buffer.alloc(0);
  socket.on("data", (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      frames.push(buf.subarray(4, 4 + buf.readInt32BE(0)));
      buf = buf.subarray(4 + buf.readInt32BE(0));
    }
  });
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => undefined);
  // A node restarted by an earlier test may still be finding the leader: its first session waits for it.
  const next = (n: number) => waitUntil(() => (frames.length >= n ? frames.slice(0, n) : null), 15_000, `${n} frames from port ${port}`, 20);
  return { socket, frames, next, closed };
}

function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write(word));
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("close", () => resolve(out));
    s.on("error", reject);
  });
}

describe("ZooKeeper's client protocol against a 3-node zk cluster", { timeout: 180_000 }, () => {
  const dir = tempClusterDir("zkp");
  const zk = (...args: string[]) => cli([...args, "--dir", dir]);
  const zkEnv = (env: Record<string, string>, ...args: string[]) => cli([...args, "--dir", dir], { env });
  const all = ZK_PORTS.map((p) => `127.0.0.1:${p}`).join(",");
  const clients: Client[] = [];
  /** The ZooKeeper address of the node the session-move test killed and restarted. */
  let restarted = "";
  /** A node's ZooKeeper port that no test restarted. */
  const steadyPort = (i: number) => ZK_PORTS.filter((p) => `127.0.0.1:${p}` !== restarted)[i]!;
  const client = async (servers: string) => {
    const c = await connected(servers);
    clients.push(c);
    return c;
  };

  before(async () => {
    // The nodes' super user is super:admin (ZooKeeper's superDigest, on both ports).
    const up = await zkEnv({ ZK_ZK_SUPER_DIGEST: "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=" }, "cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--json");
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    for (const c of clients) c.close();
    await destroyCluster(dir);
  });

  it("cluster up and cluster status give each node a ZooKeeper address at its port + 100", async () => {
    const st = await zk("cluster", "status", "--json");
    assert.equal(st.code, 0, st.stderr);
    const rows = jsonLines<{ id: string; zkAddress: string }>(st.stdout);
    assert.deepEqual(
      rows.map((r) => [r.id, r.zkAddress]),
      ZK_PORTS.map((p, i) => [`n${i + 1}`, `127.0.0.1:${p}`]),
    );
    const table = await zk("cluster", "status");
    assert.match(table.stdout, /^ID\s+ADDRESS\s+ZK-ADDRESS\s+ROLE/m);
  });

  it("creates, reads, sets and deletes with ZooKeeper's stats and error codes", async () => {
    const c = await client(`127.0.0.1:${ZK_PORTS[0]}`);
    const E = zookeeper.Exception;
    const [path] = await call<[string]>((cb) => c.create("/ops", Buffer.from("one"), cb));
    assert.equal(path, "/ops");
    const [data, stat] = await call<[Buffer, Stat]>((cb) => c.getData("/ops", cb));
    assert.equal(data.toString(), "one");
    assert.equal(stat.version, 0);
    assert.equal(stat.dataLength, 3);
    assert.equal(stat.numChildren, 0);
    assert.equal(long(stat.czxid), long(stat.mzxid));
    assert.equal(long(stat.ephemeralOwner), 0);
    assert.ok(Math.abs(long(stat.ctime) - Date.now()) < 60_000, "ctime is the write's time in ms");
    const [set] = await call<[Stat]>((cb) => c.setData("/ops", Buffer.from("two!"), 0, cb));
    assert.equal(set.version, 1);
    assert.equal(set.dataLength, 4);
    assert.ok(long(set.mzxid) > long(set.czxid));
    await rejectsWith(call((cb) => c.setData("/ops", Buffer.from("x"), 0, cb)), E.BAD_VERSION);
    await rejectsWith(call((cb) => c.create("/ops", Buffer.alloc(0), cb)), E.NODE_EXISTS);
    await rejectsWith(call((cb) => c.getData("/nope", cb)), E.NO_NODE);
    await rejectsWith(call((cb) => c.create("/nope/child", Buffer.alloc(0), cb)), E.NO_NODE);

    const [s1] = await call<[string]>((cb) => c.create("/ops/q-", Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT_SEQUENTIAL, cb));
    const [s2] = await call<[string]>((cb) => c.create("/ops/q-", Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT_SEQUENTIAL, cb));
    assert.equal(s1, "/ops/q-0000000000");
    assert.equal(s2, "/ops/q-0000000001");
    await rejectsWith(call((cb) => c.remove("/ops", -1, cb)), E.NOT_EMPTY);
    const [children, parentStat] = await call<[string[], Stat]>((cb) => c.getChildren("/ops", cb));
    assert.deepEqual(children.sort(), ["q-0000000000", "q-0000000001"]);
    assert.equal(parentStat.numChildren, 2);
    assert.equal(parentStat.cversion, 2);
    const [exists] = await call<[Stat | null]>((cb) => c.exists("/nope", cb));
    assert.equal(exists, null);

    const [root] = await call<[string[]]>((cb) => c.getChildren("/", cb));
    assert.ok(root.includes("zookeeper") && root.includes("ops"), root.join(","));
    const [config] = await call<[Buffer]>((cb) => c.getData("/zookeeper/config", cb));
    const servers = config.toString().split("\n").filter((l) => l.startsWith("server."));
    assert.deepEqual(
      servers,
      ZK_PORTS.map((p, i) => `server.${i + 1}=127.0.0.1:${BASE_PORT + i}:${BASE_PORT + i}:participant;127.0.0.1:${p}`),
    );

    // Another session on another node reads its node's applied state (ZooKeeper's guarantee): it catches up.
    const other = await client(`127.0.0.1:${ZK_PORTS[2]}`);
    await waitUntil(async () => (await call<[Buffer, Stat]>((cb) => other.getData("/ops", cb)))[0].toString() === "two!", 5000, "the write on another node");
    await call((cb) => c.remove(s1, -1, cb));
    await call((cb) => c.remove(s2, -1, cb));
    await call((cb) => c.remove("/ops", 1, cb));
    const [gone] = await call<[Stat | null]>((cb) => c.exists("/ops", cb));
    assert.equal(gone, null);
  });

  it("fires one-shot data, exists and child watches, also for writes through another node", async () => {
    const watcher = await client(`127.0.0.1:${ZK_PORTS[1]}`);
    const writer = await client(`127.0.0.1:${ZK_PORTS[0]}`);
    await call((cb) => writer.create("/w", Buffer.from("0"), cb));
    await waitUntil(async () => (await call<[Stat | null]>((cb) => watcher.exists("/w", cb)))[0], 5000, "/w on the watcher's node");

    const data = nextEvent();
    await call((cb) => watcher.getData("/w", data.fire, cb));
    await call((cb) => writer.setData("/w", Buffer.from("1"), -1, cb));
    const ev = await data.event;
    assert.equal(ev.getName(), "NODE_DATA_CHANGED");
    assert.equal(ev.getPath(), "/w");

    const created = nextEvent();
    await call((cb) => watcher.exists("/w/c", created.fire, cb));
    const child = nextEvent();
    await call((cb) => watcher.getChildren("/w", child.fire, cb));
    await call((cb) => writer.create("/w/c", Buffer.alloc(0), cb));
    assert.equal((await created.event).getName(), "NODE_CREATED");
    assert.equal((await child.event).getName(), "NODE_CHILDREN_CHANGED");

    // One-shot: a second change without a new watch fires nothing; a delete fires the new one.
    const deleted = nextEvent();
    await call((cb) => watcher.getData("/w/c", deleted.fire, cb));
    await call((cb) => writer.setData("/w", Buffer.from("2"), -1, cb));
    await call((cb) => writer.remove("/w/c", -1, cb));
    assert.equal((await deleted.event).getName(), "NODE_DELETED");
    const out = await fourLetterWord(ZK_PORTS[1]!, "mntr");
    assert.match(out, /^zk_watch_count\t0$/m, "every watch fired once and is gone");
    await call((cb) => writer.remove("/w", -1, cb));
  });

  it("applies a multi atomically and reports a failed one op by op", async () => {
    const c = await client(`127.0.0.1:${ZK_PORTS[2]}`);
    const [results] = await call<[{ type: number; path?: string }[]]>((cb) =>
      c.transaction().create("/m").create("/m/a", Buffer.from("a")).setData("/m/a", Buffer.from("b"), 0).check("/m", 0).commit(cb),
    );
    assert.deepEqual(
      results.map((r) => r.type),
      [1, 1, 5, 13],
    );
    assert.equal(results[1]!.path, "/m/a");
    await assert.rejects(
      call((cb) => c.transaction().create("/m/b").setData("/m/a", Buffer.from("c"), 5).commit(cb)),
      (e: { code?: number }) => e.code === zookeeper.Exception.BAD_VERSION,
    );
    const [none] = await call<[Stat | null]>((cb) => c.exists("/m/b", cb));
    assert.equal(none, null, "the failed multi's create did not apply");
    const [data] = await call<[Buffer]>((cb) => c.getData("/m/a", cb));
    assert.equal(data.toString(), "b");
  });

  it("stores ACLs through the log and enforces them on every node; setACL checks the aversion", async () => {
    const E = zookeeper.Exception;
    const { ACL, Id, Permission } = zookeeper;
    const a = await client(`127.0.0.1:${steadyPort(0)}`);
    const b = await client(`127.0.0.1:${steadyPort(1)}`);
    a.addAuthInfo("digest", Buffer.from("bob:secret"));
    // ZooKeeper's digest: base64(sha1("bob:secret")).
    const bob = new Id("digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
    await call((cb) => a.create("/secure", Buffer.from("s"), [new ACL(Permission.ALL, bob), new ACL(Permission.READ, new Id("world", "anyone"))], cb));
    // b, on another node and anonymous, may read but not write, create or administer. (Its node
    // serves reads locally, ZooKeeper's guarantee: another session's write shows once it is applied there.)
    await waitUntil(async () => (await call<[Stat | null]>((cb) => b.exists("/secure", cb)))[0], 5000, "/secure on b's node");
    const [d] = await call<[Buffer]>((cb) => b.getData("/secure", cb));
    assert.equal(d.toString(), "s");
    await rejectsWith(call((cb) => b.setData("/secure", Buffer.from("x"), -1, cb)), E.NO_AUTH);
    await rejectsWith(call((cb) => b.create("/secure/b", Buffer.alloc(0), cb)), E.NO_AUTH);
    await rejectsWith(call((cb) => b.setACL("/secure", ZK_OPEN, -1, cb)), E.NO_AUTH);
    const [shown] = await call<[zookeeper.ACL[]]>((cb) => b.getACL("/secure", cb));
    assert.deepEqual(shown.map((x) => `${x.id.scheme}:${x.id.id}`), ["digest:bob:x", "world:anyone"], "without ADMIN the digest is hidden");
    // setACL through a's node: the aversion counts, a stale one is BadVersion, an empty list InvalidACL.
    const [st] = await call<[Stat]>((cb) => a.setACL("/secure", [new ACL(Permission.ALL, bob)], 0, cb));
    assert.equal(st.aversion, 1);
    await rejectsWith(call((cb) => a.setACL("/secure", [new ACL(Permission.ALL, bob)], 0, cb)), E.BAD_VERSION);
    await rejectsWith(call((cb) => a.create("/bad-acl", Buffer.alloc(0), [new ACL(Permission.ALL, new Id("digest", "no-hash"))], cb)), E.INVALID_ACL);
    // auth means "the users I authenticated as": an anonymous client has none.
    await rejectsWith(call((cb) => b.create("/bad-auth", Buffer.alloc(0), [new ACL(Permission.ALL, new Id("auth", ""))], cb)), E.INVALID_ACL);
    // Now b cannot even read, on its own node, once that node has applied the change.
    await waitUntil(async () => (await call<[Stat]>((cb) => b.exists("/secure", cb)))[0].aversion === 1, 5000, "b's node to apply the setACL");
    await rejectsWith(call((cb) => b.getData("/secure", cb)), E.NO_AUTH);
    await rejectsWith(call((cb) => b.getChildren("/secure", cb)), E.NO_AUTH);
    b.addAuthInfo("digest", Buffer.from("bob:secret"));
    const [again] = await call<[Buffer]>((cb) => b.getData("/secure", cb));
    assert.equal(again.toString(), "s");
  });

  it("zk-cli and the gRPC API enforce the same ACLs: acl get/set, --auth and ZK_AUTH, exit 8 when denied", async () => {
    // /secure: bob's alone since the test before (set through the ZooKeeper port).
    const denied = await zk("get", "/secure");
    assert.equal(denied.code, 8, denied.stderr);
    assert.match(denied.stderr, /^zk-cli: not authorized to read \/secure[^\n]*\n$/);
    const got = await zk("get", "/secure", "--auth", "bob:secret");
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, "s");
    const acl = await zk("acl", "get", "/secure", "--auth", "bob:secret", "--json");
    assert.equal(acl.code, 0, acl.stderr);
    const j = JSON.parse(acl.stdout) as { acl: { scheme: string; id: string; perms: string }[]; aversion: number };
    assert.deepEqual(j.acl, [{ scheme: "digest", id: "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=", perms: "cdrwa" }]);
    assert.equal(j.aversion, 1);
    const stale = await zk("acl", "set", "/secure", "world:anyone:r", "--version", "0", "--auth", "bob:secret");
    assert.equal(stale.code, 4, stale.stderr);
    const bad = await zk("acl", "set", "/secure", "world:anyone:rx", "--auth", "bob:secret");
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stderr.split("\n").length, 2, "one line");
    const noUser = await zk("acl", "set", "/secure", "auth::cdrwa", "--auth", "bob:secret", "--auth", "nopassword");
    assert.equal(noUser.code, 2, noUser.stderr);
    const set = await zk("acl", "set", "/secure", "world:anyone:r,auth::cdrwa", "--version", "1", "--auth", "bob:secret");
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^\/secure zxid=\d+ aversion=2\n$/);
    // Anonymous: may read now, sees the digest without its hash, may not write.
    assert.equal((await zk("get", "/secure")).stdout, "s");
    assert.deepEqual((await zk("acl", "get", "/secure")).stdout.split("\n"), ["world:anyone:r", "digest:bob:x:cdrwa", ""]);
    assert.equal((await zk("set", "/secure", "x")).code, 8);
    assert.equal((await zk("create", "/secure/kid", "")).code, 8);
    const asBob = await zkEnv({ ZK_AUTH: "bob:secret" }, "set", "/secure", "by-bob");
    assert.equal(asBob.code, 0, asBob.stderr);
    // The ZooKeeper port sees the same ACL and data: a write through gRPC, a read through jute.
    const c = await client(`127.0.0.1:${steadyPort(1)}`);
    await waitUntil(async () => (await call<[Buffer]>((cb) => c.getData("/secure", cb)))[0].toString() === "by-bob", 5000, "the ZooKeeper port to show bob's write");
    await rejectsWith(call((cb) => c.setData("/secure", Buffer.from("anon"), -1, cb)), zookeeper.Exception.NO_AUTH);
    // The node's super user passes every check on the gRPC port too.
    const sup = await zk("set", "/secure", "by-super", "--auth", "super:admin");
    assert.equal(sup.code, 0, sup.stderr);
    const reset = await zk("acl", "set", "/secure", "world:anyone:cdrwa", "--auth", "super:admin");
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal((await zk("get", "/secure")).stdout, "by-super");
  });

  it("keeps ephemerals with their session, removes them when it closes, refuses their children", async () => {
    const owner = await client(`127.0.0.1:${ZK_PORTS[0]}`);
    const other = await client(`127.0.0.1:${ZK_PORTS[1]}`);
    await call((cb) => owner.create("/eph", Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL, cb));
    const stat = await waitUntil(async () => (await call<[Stat | null]>((cb) => other.exists("/eph", cb)))[0], 5000, "the ephemeral on another node");
    assert.equal(long(stat.ephemeralOwner), Number(owner.getSessionId().readBigInt64BE(0)));
    await rejectsWith(call((cb) => owner.create("/eph/x", Buffer.alloc(0), cb)), zookeeper.Exception.NO_CHILDREN_FOR_EPHEMERALS);
    const gone = nextEvent();
    await call((cb) => other.exists("/eph", gone.fire, cb));
    owner.close();
    assert.equal((await gone.event).getName(), "NODE_DELETED");
  });

  it("moves a session to another node when its node is killed: same session, ephemerals and watches kept", async () => {
    const c = await client(all);
    const session = c.getSessionId().toString("hex");
    await call((cb) => c.create("/moving", Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL, cb));
    const watch = nextEvent(15_000);
    await call((cb) => c.getData("/moving", watch.fire, cb));
    const port = (c as unknown as { connectionManager: { socket: Socket } }).connectionManager.socket.remotePort!;
    const m = readManifest(dir)!;
    const victim = m.nodes.find((n) => n.zkAddress === `127.0.0.1:${port}`)!;
    const reconnected = new Promise<void>((resolve) => c.once("connected", () => resolve()));
    process.kill(victim.pid, "SIGKILL");
    await reconnected;
    assert.equal(c.getSessionId().toString("hex"), session, "the client kept its session");
    const newPort = (c as unknown as { connectionManager: { socket: Socket } }).connectionManager.socket.remotePort;
    assert.notEqual(newPort, port);
    const [stat] = await call<[Stat | null]>((cb) => c.exists("/moving", cb));
    assert.ok(stat, "the ephemeral survived the move");
    // The watch set before the kill was handed over with setWatches and still fires.
    const other = await client(ZK_PORTS.filter((p) => p !== port).map((p) => `127.0.0.1:${p}`)[0]!);
    await call((cb) => other.setData("/moving", Buffer.from("x"), -1, cb));
    assert.equal((await watch.event).getName(), "NODE_DATA_CHANGED");
    const restart = await zk("cluster", "start", victim.id);
    assert.equal(restart.code, 0, restart.stderr);
    restarted = victim.zkAddress!;
  });

  it("answers an unknown opcode with Unimplemented (-6) and keeps the connection", async () => {
    const r = rawClient(steadyPort(0));
    r.socket.write(connectRequest(0));
    await r.next(1);
    r.socket.write(frame(int(7), int(999)));
    r.socket.write(frame(int(-2), int(11)));
    const [, unknown, ping] = await r.next(3);
    assert.equal(unknown!.readInt32BE(0), 7);
    assert.equal(unknown!.readInt32BE(12), -6);
    assert.equal(ping!.readInt32BE(0), -2);
    assert.equal(ping!.readInt32BE(12), 0);
    r.socket.write(frame(int(8), int(-11)));
    const [, , , closed] = await r.next(4);
    assert.equal(closed!.readInt32BE(12), 0);
    await r.closed;
  });

  it("refuses a client that has seen a zxid the node has not applied, as ZooKeeper does", async () => {
    const r = rawClient(steadyPort(1));
    r.socket.write(connectRequest(2 ** 40));
    await r.closed;
    assert.equal(r.frames.length, 0, "no ConnectResponse");
    const ok = rawClient(steadyPort(1));
    ok.socket.write(connectRequest(1));
    const [resp] = await ok.next(1);
    assert.ok(resp!.readInt32BE(4) >= 4000, "a session with a negotiated timeout");
    ok.socket.write(frame(int(1), int(-11)));
    await ok.closed;
  });

  it("answers the whitelisted four-letter words and refuses the others", async () => {
    assert.equal(await fourLetterWord(ZK_PORTS[0]!, "ruok"), "imok");
    assert.equal(await fourLetterWord(ZK_PORTS[0]!, "isro"), "rw");
    const mntr = await fourLetterWord(ZK_PORTS[0]!, "mntr");
    for (const k of ["zk_server_state", "zk_znode_count", "zk_watch_count", "zk_outstanding_requests", "zk_avg_latency", "zk_num_alive_connections"]) {
      assert.match(mntr, new RegExp(`^${k}\\t\\S+$`, "m"), k);
    }
    assert.match(await fourLetterWord(ZK_PORTS[0]!, "srvr"), /^Mode: (leader|follower)$/m);
    assert.match(await fourLetterWord(ZK_PORTS[0]!, "conf"), /^clientPort=26100$/m);
    assert.equal(await fourLetterWord(ZK_PORTS[0]!, "dump"), "dump is not executed because it is not in the whitelist.\n");
  });

  const zkCliJars = existsSync("/usr/share/java") && readdirSync("/usr/share/java").some((f) => /^zookeeper-3.*\.jar$/.test(f));
  it(
    "zkCli.sh runs a session against zk: create -s -e, get -s, set -v, ls -R, stat, getAcl, addauth, setAcl, sync, deleteall",
    { skip: zkCliJars || process.env.CI ? false : "Debian's zookeeper package is not installed (apt-get install zookeeper; .ci/run installs it)" },
    () => {
      const script = [
        "create /cli hello",
        "create -s -e /cli/e- x",
        "get -s /cli",
        "set -v 0 /cli world",
        "get /cli",
        "set -v 0 /cli again",
        "ls -R /cli",
        "stat /cli",
        "getAcl /cli",
        "create /cli/locked l",
        "addauth digest carol:pw",
        "setAcl -v 0 /cli/locked auth::cdrwa,world:anyone:r",
        "setAcl -v 0 /cli/locked world:anyone:cdrwa",
        "getAcl /cli/locked",
        "stat /cli/locked",
        "sync /cli",
        "deleteall /cli",
        "ls /",
        "quit",
      ].join("\n");
      const r = spawnSync("java", ["-cp", "/usr/share/java/*", "org.apache.zookeeper.ZooKeeperMain", "-server", all], { input: script + "\n", encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout + r.stderr;
      assert.match(out, /Created \/cli\n/);
      assert.match(out, /Created \/cli\/e-0000000000/);
      assert.match(out, /^hello\ncZxid = 0x[0-9a-f]+\n/m);
      assert.match(out, /^dataVersion = 0$/m);
      assert.match(out, /^world$/m);
      assert.match(out, /version No is not valid : \/cli|BadVersion/);
      assert.match(out, /^\/cli\n\/cli\/e-0000000000$/m);
      assert.match(out, /^dataVersion = 1$/m);
      assert.match(out, /^'world,'anyone\n: cdrwa$/m);
      // base64(sha1("carol:pw")), as ZooKeeper's DigestAuthenticationProvider.
      assert.match(out, /^'digest,'carol:RffyCdXXV1Js0ywLAoP5\/l25yKs=\n: cdrwa\n'world,'anyone\n: r$/m);
      assert.match(out, /^aclVersion = 1$/m);
      assert.match(out, /Sync is OK/);
      assert.match(out, /^\[(.*, )?zookeeper(, .*)?\]$/m);
      assert.doesNotMatch(out, /^\[.*cli.*\]$/m, "deleteall removed /cli");
    },
  );
});
