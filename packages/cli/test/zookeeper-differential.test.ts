// The same node-zookeeper-client script against a real ZooKeeper (Debian's zookeeper package,
// a standalone server on 127.0.0.1:26300) and against a 3-node zk cluster (ZooKeeper ports
// 26120-26122): every reply, error code, stat field and watch event must agree. Values that
// differ by nature are normalized: zxids become z1, z2, ... in order of first appearance (so
// that "czxid = mzxid" or "this pzxid is that create's zxid" still has to agree), times become
// whether ctime = mtime, session ids whether the node is the client's own ephemeral.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import zookeeper from "node-zookeeper-client";
import { cli, destroyCluster, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 26020;
const ZK_PORT = BASE_PORT + 100;
const REAL_ZK_PORT = 26300;
const JARS = "/usr/share/java";

type Client = zookeeper.Client;
type Trace = unknown[];

/** The super user both servers know (ZooKeeper's superDigest): super:admin. */
const SUPER_DIGEST = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";

const haveZooKeeper = existsSync(JARS) && readdirSync(JARS).some((f) => /^zookeeper-3.*\.jar$/.test(f));

function connected(port: number): Promise<Client> {
  const c = zookeeper.createClient(`127.0.0.1:${port}`, { sessionTimeout: 10_000, retries: 0 });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no session from port ${port}`)), 15_000);
    c.once("connected", () => {
      clearTimeout(t);
      resolve(c);
    });
    c.connect();
  });
}

/** Renames zxids in order of first appearance, so two servers' traces compare. */
class Normalizer {
  private readonly zxids = new Map<string, string>();
  constructor(private readonly sessions: Map<string, string>) {}

  zxid(b: Buffer): string {
    const k = b.toString("hex");
    if (!this.zxids.has(k)) this.zxids.set(k, `z${this.zxids.size + 1}`);
    return this.zxids.get(k)!;
  }

  stat(s: zookeeper.Stat | null | undefined): unknown {
    if (!s) return null;
    const owner = s.ephemeralOwner.toString("hex");
    return {
      czxid: this.zxid(s.czxid),
      mzxid: this.zxid(s.mzxid),
      pzxid: this.zxid(s.pzxid),
      sameTimes: s.ctime.equals(s.mtime),
      version: s.version,
      cversion: s.cversion,
      aversion: s.aversion,
      ephemeralOwner: /^0+$/.test(owner) ? 0 : (this.sessions.get(owner) ?? "another session"),
      dataLength: s.dataLength,
      numChildren: s.numChildren,
    };
  }
}

/** Runs the script against one server and returns what every step saw. */
async function script(port: number): Promise<Trace> {
  const a = await connected(port);
  const b = await connected(port);
  const sessions = new Map([
    [a.getSessionId().toString("hex"), "a"],
    [b.getSessionId().toString("hex"), "b"],
  ]);
  const n = new Normalizer(sessions);
  const trace: Trace = [];
  const events: string[] = [];
  const watcher = (who: string) => (e: zookeeper.Event) => events.push(`${who} ${e.getName()} ${e.getPath()}`);
  const step = async (name: string, f: (cb: (e: unknown, ...v: unknown[]) => void) => void, show: (...v: never[]) => unknown = () => "ok") => {
    const out = await new Promise<unknown>((resolve) => {
      const t = setTimeout(() => resolve({ error: "no reply within 10 s" }), 10_000);
      f((e, ...v) => {
        clearTimeout(t);
        resolve(e ? { error: (e as { code?: number }).code ?? String(e) } : (show as (...x: unknown[]) => unknown)(...v));
      });
    });
    trace.push([name, out]);
  };
  const stat = (s: zookeeper.Stat) => n.stat(s);
  const dataStat = (d: Buffer, s: zookeeper.Stat) => ({ data: d?.toString() ?? null, stat: n.stat(s) });
  const kids = (c: string[], s?: zookeeper.Stat) => ({ children: [...c].sort(), stat: s ? n.stat(s) : undefined });
  const E = zookeeper.CreateMode;
  try {
    await step("create /d", (cb) => a.create("/d", Buffer.from("v0"), cb), (p: string) => p);
    await step("get /d", (cb) => a.getData("/d", cb), dataStat);
    await step("exists /d", (cb) => a.exists("/d", cb), stat);
    await step("set /d v0", (cb) => a.setData("/d", Buffer.from("v1!"), 0, cb), stat);
    await step("set /d stale", (cb) => a.setData("/d", Buffer.from("x"), 0, cb), stat);
    await step("create /d again", (cb) => a.create("/d", Buffer.alloc(0), cb));
    await step("create under missing", (cb) => a.create("/none/x", Buffer.alloc(0), cb));
    await step("get missing", (cb) => a.getData("/none", cb), dataStat);
    await step("exists missing", (cb) => a.exists("/none", cb), stat);
    await step("seq 1", (cb) => a.create("/d/s-", Buffer.alloc(0), E.PERSISTENT_SEQUENTIAL, cb), (p: string) => p);
    await step("seq 2", (cb) => a.create("/d/s-", Buffer.alloc(0), E.EPHEMERAL_SEQUENTIAL, cb), (p: string) => p);
    await step("ephemeral", (cb) => a.create("/d/e", Buffer.from("e"), E.EPHEMERAL, cb), (p: string) => p);
    await step("child of ephemeral", (cb) => a.create("/d/e/x", Buffer.alloc(0), cb));
    await step("stat ephemeral from b", (cb) => b.exists("/d/e", cb), stat);
    await step("children /d", (cb) => a.getChildren("/d", cb), kids);
    await step("delete non-empty", (cb) => a.remove("/d", -1, cb));
    await step("delete stale version", (cb) => a.remove("/d/s-0000000000", 3, cb));
    await step("b watches /d data", (cb) => b.getData("/d", watcher("b"), cb), dataStat);
    await step("b watches /d children", (cb) => b.getChildren("/d", watcher("b"), cb), kids);
    await step("b watches /w exists", (cb) => b.exists("/w", watcher("b"), cb), stat);
    await step("set /d", (cb) => a.setData("/d", Buffer.from("v2"), -1, cb), stat);
    await step("set /d again", (cb) => a.setData("/d", Buffer.from("v3"), -1, cb), stat);
    await step("create /w", (cb) => a.create("/w", Buffer.alloc(0), cb), (p: string) => p);
    await step("delete seq", (cb) => a.remove("/d/s-0000000000", 0, cb));
    await step("multi ok", (cb) => a.transaction().create("/m").create("/m/x", Buffer.from("x")).remove("/w").commit(cb), (r: { type: number; path?: string }[]) => r.map((x) => [x.type, x.path ?? null]));
    await step("multi failing", (cb) => a.transaction().create("/m/y").setData("/m/x", Buffer.from("z"), 9).create("/m/z").commit(cb), (r: unknown) => r);
    await step("after failed multi", (cb) => a.getChildren("/m", cb), kids);
    await step("root children", (cb) => a.getChildren("/", cb), (c: string[]) => [...c].sort());
    const acls = (acl: zookeeper.ACL[], s: zookeeper.Stat) => ({ acl: acl.map((x) => `${x.id.scheme}:${x.id.id}:${(x as unknown as { permission: number }).permission}`), stat: n.stat(s) });
    await step("acl /d", (cb) => a.getACL("/d", cb), acls);
    // ACLs: a's digest owns /p; b, anonymous, may only read it, then not even that.
    const { ACL, Id, Permission } = zookeeper;
    const bobDigest = "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=";
    a.addAuthInfo("digest", Buffer.from("bob:secret"));
    await step("create /p for bob", (cb) => a.create("/p", Buffer.from("p"), [new ACL(Permission.ALL, new Id("digest", bobDigest)), new ACL(Permission.READ, new Id("world", "anyone"))], cb), (p: string) => p);
    await step("getACL /p as bob", (cb) => a.getACL("/p", cb), acls);
    await step("getACL /p as b (read only: the digest hidden)", (cb) => b.getACL("/p", cb), acls);
    await step("b reads /p", (cb) => b.getData("/p", cb), dataStat);
    await step("b sets /p", (cb) => b.setData("/p", Buffer.from("x"), -1, cb), stat);
    await step("b creates under /p", (cb) => b.create("/p/b", Buffer.alloc(0), cb));
    await step("bob creates under /p", (cb) => a.create("/p/a", Buffer.alloc(0), [new ACL(Permission.ALL, new Id("auth", ""))], cb), (p: string) => p);
    await step("getACL /p/a (auth expanded)", (cb) => a.getACL("/p/a", cb), acls);
    await step("b deletes /p/a", (cb) => b.remove("/p/a", -1, cb));
    await step("b setACL /p", (cb) => b.setACL("/p", [new ACL(Permission.ALL, new Id("world", "anyone"))], -1, cb), stat);
    await step("setACL /p stale aversion", (cb) => a.setACL("/p", [new ACL(Permission.ALL, new Id("digest", bobDigest))], 7, cb), stat);
    await step("setACL /p bad digest", (cb) => a.setACL("/p", [new ACL(Permission.ALL, new Id("digest", "bob"))], -1, cb), stat);
    await step("setACL /p bad ip", (cb) => a.setACL("/p", [new ACL(Permission.ALL, new Id("ip", "10.0.0.0/40"))], -1, cb), stat);
    await step("setACL missing", (cb) => a.setACL("/none", [new ACL(Permission.ALL, new Id("world", "anyone"))], -1, cb), stat);
    await step("setACL /p bob only", (cb) => a.setACL("/p", [new ACL(Permission.ALL, new Id("digest", bobDigest))], 0, cb), stat);
    await step("b reads /p now", (cb) => b.getData("/p", cb), dataStat);
    await step("b lists /p", (cb) => b.getChildren("/p", cb), kids);
    await step("b exists /p (no permission needed)", (cb) => b.exists("/p", cb), stat);
    await step("b getACL /p", (cb) => b.getACL("/p", cb), acls);
    await step("create with an ip ACL", (cb) => b.create("/ip", Buffer.alloc(0), [new ACL(Permission.READ, new Id("ip", "127.0.0.0/8")), new ACL(Permission.ALL, new Id("ip", "10.1.2.3"))], cb), (p: string) => p);
    await step("read by ip", (cb) => b.getData("/ip", cb), dataStat);
    await step("write by ip", (cb) => b.setData("/ip", Buffer.from("x"), -1, cb), stat);
    await step("b multi under /p", (cb) => b.transaction().check("/d").create("/p/m").commit(cb), (r: unknown) => r);
    b.addAuthInfo("digest", Buffer.from("super:admin"));
    await step("super sets /p", (cb) => b.setData("/p", Buffer.from("s"), -1, cb), stat);
    await step("super getACL /p", (cb) => b.getACL("/p", cb), acls);
    await step("bob deletes /p/a", (cb) => a.remove("/p/a", -1, cb));
    let registered!: () => void;
    const watching = new Promise<void>((resolve) => (registered = resolve));
    const bGone = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`port ${port}: no NODE_DELETED for a's ephemeral after a closed; trace so far: ${JSON.stringify(trace)}`)), 10_000);
      b.exists(
        "/d/e",
        (e) => {
          clearTimeout(t);
          events.push(`b ${e.getName()} ${e.getPath()}`);
          resolve();
        },
        () => registered(),
      );
    });
    // a closes only once b's watch is in place: a's close and b's exists travel on different connections.
    await watching;
    a.close();
    await bGone;
    await step("after a closed", (cb) => b.getChildren("/d", cb), kids);
    await waitUntil(() => events.length >= 4, 5000, `four watch events (have: ${events.join("; ")})`);
    trace.push(["events", events]);
    return trace;
  } finally {
    a.close();
    b.close();
  }
}

describe("the same client script against a real ZooKeeper and against zk", { timeout: 120_000, skip: haveZooKeeper || process.env.CI ? false : "Debian's zookeeper package is not installed (apt-get install zookeeper; .ci/run installs it)" }, () => {
  const dir = tempClusterDir("zkdiff");
  const zkData = mkdtempSync(join(tmpdir(), "zk-real-"));
  let real: ChildProcess | null = null;

  before(async () => {
    // No admin server (its port 8080 may be taken); TTL nodes need extendedTypesEnabled (zk always
    // has them); containers are checked every second, as zk's leader does.
    const props = ["-Dzookeeper.admin.enableServer=false", "-Dzookeeper.extendedTypesEnabled=true", "-Dznode.container.checkIntervalMs=1000", `-Dzookeeper.DigestAuthenticationProvider.superDigest=${SUPER_DIGEST}`];
    real = spawn("java", [...props, "-cp", `${JARS}/*`, "org.apache.zookeeper.server.ZooKeeperServerMain", String(REAL_ZK_PORT), zkData, "2000"], { stdio: "ignore" });
    const up = await cli(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--dir", dir], { env: { ZK_ZK_SUPER_DIGEST: SUPER_DIGEST } });
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    await waitUntil(
      () =>
        new Promise<boolean>((resolve) => {
          const s = connect(REAL_ZK_PORT, "127.0.0.1", () => s.write("srvr"));
          let out = "";
          s.on("data", (d) => (out += d.toString()));
          s.on("close", () => resolve(out.includes("Mode:")));
          s.on("error", () => resolve(false));
        }),
      30_000,
      "the real ZooKeeper to serve",
      200,
    );
  });

  after(async () => {
    if (real?.pid) process.kill(real.pid, "SIGKILL");
    await destroyCluster(dir);
    rmSync(zkData, { recursive: true, force: true });
  });

  it("zkCli.sh prints the same transcript for both (zxids, times and session ids aside)", () => {
    const script = [
      "create /t hello",
      "create -s /t/s- a",
      "create -e /t/e b",
      "get -s /t",
      "set -v 0 /t world",
      "set -v 0 /t again",
      "stat /t",
      "ls -R /t",
      "ls -s /t",
      "getAcl /t",
      "getAllChildrenNumber /t",
      "getEphemerals /t",
      "sync /t",
      "addWatch -m PERSISTENT_RECURSIVE /t",
      "create /t/r x",
      "set /t/r y",
      "delete /t/r",
      "addWatch /t",
      "set /t z",
      "removewatches /t -a",
      "set /t zz",
      "get -w /t",
      "set /t zzz",
      "ls -w /t",
      "delete /t/s-0000000000",
      "delete /t",
      "deleteall /t",
      "create /t/x/y z",
      "ls /t",
      "quit",
    ].join("\n");
    const run = (port: number) => zkCli(port, script);
    // zkCli.sh prints watch events from its event thread and replies from its main thread, so
    // "Created /t/r" and the NodeCreated it triggers come in either order with either server,
    // and a reply can even fall between an event's "WATCHER::" line and the event: the lines
    // are compared as a sorted list, without the "WATCHER::" lines.
    // On quit, zkCli.sh prints the Closed event only if the closeSession reply beats the JVM's
    // exit (a race in the client, either server): not compared.
    const lines = (t: string) =>
      t
        .split("\n")
        .filter((l) => l !== "WATCHER::" && l !== "WatchedEvent state:Closed type:None path:null")
        .sort();
    assert.deepEqual(lines(run(ZK_PORT)), lines(run(REAL_ZK_PORT)));
  });

  it("zkCli.sh: getAcl, setAcl, addauth, containers and TTL nodes the same for both", async () => {
    const owner = [
      "create /acl x",
      "addauth digest bob:secret",
      "setAcl /acl auth::cdrwa",
      "getAcl /acl",
      "setAcl -v 5 /acl world:anyone:r",
      "setAcl -v 1 /acl digest:bob:fyVmFCwVbTJYrznoSu1koqYEYF0=:cdrwa,world:anyone:r",
      "getAcl /acl",
      "stat /acl",
      "create /acl/c y",
      "setAcl /acl/c ip:127.0.0.1:cdrwa",
      "getAcl /acl/c",
      "get /acl/c",
      "setAcl /acl/c ip:10.0.0.1:cdrwa",
      "get /acl/c",
      "getAcl /acl/c",
      "delete /acl/c",
      "setAcl /bad world:anyone:r",
      "setAcl /acl foo:bar:r",
      "setAcl /acl digest:bob:r",
      "create /acl2 z digest:alice:x:r",
      "create -c /ct",
      "create /ct/k",
      "stat /ct",
      "delete /ct/k",
      "create -c /ct-never",
      "create -t 1500 /ttl v",
      "create -t 1500 /ttl-kept v",
      "create /ttl-kept/k",
      "stat /ttl",
      "create -t 0 /ttl0 v",
      "create -t 1500 -e /ttl-e v",
      "whoami",
      "quit",
    ].join("\n");
    const other = [
      "getAcl /acl",
      "get /acl",
      "set /acl nope",
      "getAcl /acl2",
      "get /acl2",
      "ls /",
      "addauth digest super:admin",
      "set /acl2 yes",
      "getAcl /acl2",
      "whoami",
      "addauth foo bar",
      "ls /",
      "quit",
    ].join("\n");
    assert.equal(zkCli(ZK_PORT, owner), zkCli(REAL_ZK_PORT, owner));
    // Both reap the emptied container and the idle TTL node within a few seconds of checks.
    for (const port of [ZK_PORT, REAL_ZK_PORT]) {
      const c = await connected(port);
      try {
        const gone = (p: string) => new Promise<boolean>((resolve) => c.exists(p, (_e, s) => resolve(!s)));
        await waitUntil(async () => (await gone("/ct")) && (await gone("/ttl")), 20_000, `port ${port} to reap /ct and /ttl`, 200);
      } finally {
        c.close();
      }
    }
    // After a failed addauth the server closes the session; the next command finds either the
    // closed connection or the failure, depending on which zkCli.sh noticed first (either server),
    // and zkCli.sh may print that before or after the AuthFailed event, and before or after the
    // WATCHER:: line that heads the event (seen from ZooKeeper too).
    const afterAuthFailed = (t: string) =>
      t
        .replace(/(Not connected|KeeperErrorCode = AuthFailed for \/)\n((?:WATCHER::\n)?WatchedEvent state:AuthFailed type:None path:null)/, "$2\n$1")
        .replace(/(WatchedEvent state:AuthFailed type:None path:null\n)(Not connected|KeeperErrorCode = AuthFailed for \/)/, "$1<refused: the session failed authentication>");
    assert.equal(afterAuthFailed(zkCli(ZK_PORT, other)), afterAuthFailed(zkCli(REAL_ZK_PORT, other)));
  });

  it("gives the same replies, stats, error codes and events", async () => {
    const expected = await script(REAL_ZK_PORT);
    const actual = await script(ZK_PORT);
    if (process.env.ZK_DIFF_PRINT) console.log(JSON.stringify(expected, null, 0).replace(/\],\[/g, "],\n["));
    assert.deepEqual(actual, expected);
  });
});

/** A zkCli.sh session's output, zxids and times masked; errors (stderr) and output in one stream, in order. */
function zkCli(port: number, script: string): string {
  const r = spawnSync("sh", ["-c", `exec java -cp '${JARS}/*' org.apache.zookeeper.ZooKeeperMain -server 127.0.0.1:${port} 2>&1`], { input: script + "\n", encoding: "utf8", timeout: 60_000 });
  assert.equal(r.error, undefined);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "" && !/SLF4J|log4j|^Connecting to/.test(l))
    .map((l) => l.replace(/0x[0-9a-f]+/g, "0x?").replace(/^(c|m)time = .*/, "$1time = ?"))
    .join("\n");
}
