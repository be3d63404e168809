// zk-node never serves from, nor writes to, a data dir it cannot trust, and never lets two
// processes act as one node: startup refusals (no store, 0-byte, truncated, another node's,
// a newer schema), the data dir lock, a --peers that disagrees with the logged configuration
// (membership comes from the log), and peers that disagree on the cluster's first member list. Real processes on 127.0.0.1:22200-22299.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Role } from "../src/client/index.js";
import { TestCluster, runZkNode, sleep } from "./support/nodes.js";

/** sha256 of every file under `dir`, by relative path: "nothing written" means this is unchanged. */
function checksums(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p.slice(dir.length + 1), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got: ${stderr}`);
  assert.ok(lines[0]!.startsWith("zk-node: "), lines[0]);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  return lines[0]!;
}

const NO_STORE = /^zk-node: no store in (.+): if this is the first start of a new cluster, pass --initial-cluster; if this node lost its disk, restart it with --rejoin to rejoin as a non-voting recovering member \(see README "Troubleshooting"\)$/;

describe("zk-node refuses a data dir it cannot trust, with one line and nothing written", () => {
  const scratch = mkdtempSync(join(tmpdir(), "zk-refuse-"));
  // A real store of a stopped single-node cluster, copied for each case.
  const c = new TestCluster(1, 22200, "refuse");
  const args = (dataDir: string, port = 22200, extra: string[] = []) => ["--id", "n1", "--listen", `127.0.0.1:${port}`, "--peers", `n1=127.0.0.1:${port}`, "--data-dir", dataDir, "--cluster-id", "refuse", ...extra];
  const copyOfStore = (name: string) => {
    const d = join(scratch, name);
    cpSync(c.node("n1").dataDir, d, { recursive: true });
    rmSync(join(d, "LOCK"), { force: true });
    rmSync(join(d, "LOCK.pid"), { force: true });
    return d;
  };
  before(async () => {
    c.start("n1");
    await c.waitForLeader();
    const client = c.client();
    await client.put("/x", new TextEncoder().encode("y".repeat(20_000)));
    client.close();
    await c.stop("n1", "SIGTERM");
  });
  after(async () => {
    await c.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("no store: a missing data dir is not created, an empty one stays empty, unless --initial-cluster", () => {
    const missing = join(scratch, "missing");
    const r = runZkNode(args(missing));
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), NO_STORE);
    assert.ok(!existsSync(missing), "the data dir was not created");
    const empty = join(scratch, "empty");
    mkdirSync(empty);
    assert.match(oneLine(runZkNode(args(empty)).stderr), NO_STORE);
    assert.deepEqual(readdirSync(empty), [], "nothing was written");
    const env = runZkNode(args(empty), { ZK_INITIAL_CLUSTER: "0" });
    assert.match(oneLine(env.stderr), NO_STORE, "ZK_INITIAL_CLUSTER=0 is not a first start");
  });

  test("a 0-byte zk.db is refused as no store, and stays as it was", () => {
    const d = join(scratch, "zero");
    mkdirSync(d);
    writeFileSync(join(d, "zk.db"), "");
    const r = runZkNode(args(d));
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), NO_STORE);
    assert.deepEqual(readdirSync(d), ["zk.db"]);
    assert.equal(statSync(join(d, "zk.db")).size, 0);
  });

  test("a truncated zk.db is refused as corrupt, with advice that works (--rejoin), and is not touched", () => {
    const d = copyOfStore("truncated");
    truncateSync(join(d, "zk.db"), Math.floor(statSync(join(d, "zk.db")).size / 2));
    const sums = checksums(d);
    const r = runZkNode(args(d));
    assert.equal(r.status, 1);
    const line = oneLine(r.stderr);
    assert.match(line, /zk\.db is corrupt \(database disk image is malformed\); do not serve from it: move it \(and its -wal and -shm files\) aside, then restart this node with --rejoin/);
    assert.doesNotMatch(line, /rebuild this node's state from the other members/);
    assert.deepEqual(checksums(d), sums);
  });

  test("--rejoin: refused beside a store, with --initial-cluster, or with no other member to rejoin from", () => {
    const d = copyOfStore("rejoin");
    const sums = checksums(d);
    const refused = runZkNode(args(d, 22200, ["--rejoin"]));
    assert.equal(refused.status, 1);
    assert.match(oneLine(refused.stderr), /--rejoin rebuilds a node whose store is gone, but .*zk\.db is there: start without --rejoin/);
    assert.deepEqual(checksums(d), sums, "nothing written");
    const both = runZkNode(args(join(scratch, "none"), 22200, ["--rejoin", "--initial-cluster"]));
    assert.equal(both.status, 2);
    assert.match(oneLine(both.stderr), /--initial-cluster and --rejoin exclude each other/);
    // Followed literally in a one-member cluster, the advice has nothing to rejoin from: said so.
    for (const f of readdirSync(d)) if (f.startsWith("zk.db")) rmSync(join(d, f));
    const alone = runZkNode(args(d, 22200, ["--rejoin"]));
    assert.equal(alone.status, 1);
    assert.match(oneLine(alone.stderr), /n1 is the only member: its data is gone; start a new cluster in an empty data dir with --initial-cluster/);
    assert.deepEqual(readdirSync(d).filter((f) => f.startsWith("zk.db")), [], "nothing written");
  });

  test("a zk.db of another node is refused, naming both ids", () => {
    const d = copyOfStore("other-node");
    const sums = checksums(d);
    const r = runZkNode(["--id", "n2", "--listen", "127.0.0.1:22202", "--peers", "n2=127.0.0.1:22202", "--data-dir", d, "--cluster-id", "refuse"]);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /belongs to node "n1", not "n2"; point --data-dir at node "n2"'s directory or start with --id "n1"/);
    assert.deepEqual(checksums(d), sums);
  });

  test("a zk.db of a newer schema is refused: upgrade zk-node", () => {
    const d = copyOfStore("newer");
    const raw = new Database(join(d, "zk.db"));
    raw.prepare("UPDATE meta SET value = 999 WHERE key = 'schema_version'").run();
    raw.close();
    const sums = checksums(d);
    const r = runZkNode(args(d));
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /has schema version 999, newer than this zk-node supports \(\d+\); upgrade zk-node/);
    assert.deepEqual(checksums(d), sums);
  });
});

describe("one process per data dir", () => {
  const c = new TestCluster(1, 22210, "lock");
  after(() => c.cleanup());

  test("a second zk-node on a live data dir exits at once naming the holder's PID; after kill -9 the dir is free", async () => {
    c.start("n1");
    await c.waitForLeader();
    const first = c.node("n1");
    const second = ["--id", "n1", "--listen", "127.0.0.1:22211", "--peers", "n1=127.0.0.1:22211", "--data-dir", first.dataDir, "--cluster-id", "lock"];
    const r = runZkNode(second);
    assert.equal(r.status, 1);
    assert.equal(oneLine(r.stderr), `zk-node: ${first.dataDir} is in use by process ${first.proc!.pid} (another zk-node on the same --data-dir); stop it first or point --data-dir at this node's own directory`);
    const client = c.client();
    assert.ok((await client.status(first.address)).role === Role.LEADER, "the first node still serves");
    client.close();

    await c.stop("n1", "SIGKILL");
    c.start("n1");
    await c.waitForLeader();
    assert.doesNotMatch(first.output, /in use by/, "no stale lock after kill -9");
  });
});

describe("the member list is part of the cluster's identity", () => {
  const c = new TestCluster(3, 22220, "members");
  const five = `${c.peers},n4=127.0.0.1:22223,n5=127.0.0.1:22224`;
  let n4: TestCluster | null = null;
  after(async () => {
    await n4?.cleanup();
    await c.cleanup();
  });

  test("a member restarted with a longer --peers keeps the configuration in its log, and says so", async () => {
    c.startAll();
    await c.waitForLeader();
    await c.stop("n3", "SIGTERM");
    // The later --peers wins: n3 now believes in five addresses, but its store records the
    // configuration in force (three voters), and quorums come from that, never from flags.
    c.start("n3", ["--peers", five]);
    const client = c.client(["n3"], 2000);
    try {
      let members: string[] = [];
      for (let i = 0; i < 100 && members.length === 0; i++) {
        await sleep(100);
        members = await client.memberList().then((r) => r.members.map((m) => `${m.id}:${m.learner ? "learner" : "voter"}`).sort(), () => []);
      }
      assert.deepEqual(members, ["n1:voter", "n2:voter", "n3:voter"]);
      assert.match(c.node("n3").output, /--peers lists other members than the configuration in force; membership comes from the log/);
      // Two of three elect and write (two of five would not be a majority): n1 down, n2 and n3 go on.
      await c.stop("n1", "SIGTERM");
      const two = c.client(["n2", "n3"], 5000);
      let zxid = 0;
      for (let i = 0; i < 50 && zxid === 0; i++) {
        zxid = await two.put("/two-of-three", new Uint8Array([1])).then((r) => r.zxid, () => 0);
        if (zxid === 0) await sleep(200);
      }
      two.close();
      assert.ok(zxid > 0, "n2 and n3 form a quorum of the logged three-voter configuration");
      c.start("n1");
      await c.waitForLeader();
    } finally {
      client.close();
    }
  });

  test("a node with another member list is refused by its peers: in both logs and both statuses", async () => {
    // A new n4 that believes in five members (a fresh store, so no start-up check can catch it).
    n4 = new TestCluster(1, 22223, "members");
    const node4 = n4.node("n1");
    const p = await import("node:child_process");
    const { ZK_NODE } = await import("./support/nodes.js");
    const proc = p.spawn(process.execPath, [ZK_NODE, "--id", "n4", "--listen", "127.0.0.1:22223", "--peers", five, "--data-dir", node4.dataDir, "--cluster-id", "members", "--initial-cluster", "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
    node4.proc = proc;
    proc.stdout!.on("data", (d: Buffer) => (node4.output += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (node4.output += d.toString()));
    const client = c.client(["n1"], 1000);
    try {
      let ours: string[] = [];
      let theirs: string[] = [];
      for (let i = 0; i < 100 && !(ours.length > 0 && theirs.length > 0); i++) {
        await sleep(100);
        ours = (await client.status(c.node("n1").address)).alarms;
        theirs = await client.status("127.0.0.1:22223").then((s) => s.alarms, () => []);
      }
      assert.ok(ours.includes("n4 has members [n1..n5], we have [n1..n3]"), `n1's alarms: ${JSON.stringify(ours)}`);
      assert.ok(theirs.includes("n1 has members [n1..n3], we have [n1..n5]"), `n4's alarms: ${JSON.stringify(theirs)}`);
      assert.match(c.node("n1").output, /refusing peer n4: n4 has members \[n1\.\.n5\], we have \[n1\.\.n3\]/);
      assert.match(node4.output, /peer n1 refuses this node: n1 has members \[n1\.\.n3\], we have \[n1\.\.n5\]/);
      // The cluster of three is unaffected.
      const three = c.client();
      assert.ok((await three.put("/still", new Uint8Array([1]))).zxid > 0);
      three.close();
    } finally {
      client.close();
    }
  });
});
