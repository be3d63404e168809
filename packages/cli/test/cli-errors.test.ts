// zk-cli's contract with scripts: one `zk-cli: ...` line on stderr and a stable exit code for
// every failure (2 usage, 3 not found, 5 unavailable), and `propose --stdin` for bulk writes.
// Uses a 1-node cluster on 127.0.0.1:17200; 17290-17299 are ports nothing listens on.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { ZkClient } from "@zk/node/client";
import { readManifest, writeManifest } from "../src/lib/manifest.js";
import { planCluster } from "../src/lib/cluster.js";
import { cli, destroyCluster, jsonLines, oneErrorLine, pidsMentioning, tempClusterDir } from "./helpers.js";

const BASE_PORT = 17200;
const DEAD = ["127.0.0.1:17298", "127.0.0.1:17299"];

describe("zk-cli errors without a cluster", () => {
  it("nothing reachable: exit 5, naming the endpoints tried", async () => {
    for (const args of [["get", "k"], ["propose", "k", "v"], ["delete", "k"], ["status"]]) {
      const r = await cli([...args, "--endpoints", DEAD.join(","), "--timeout", "2000"]);
      assert.equal(r.code, 5, `${args[0]}: ${r.stderr}`);
      const line = oneErrorLine(r.stderr);
      for (const e of DEAD) assert.ok(line.includes(e), `${args[0]}: ${line} names ${e}`);
    }
  });

  it("ZK_ENDPOINTS is used when --endpoints is absent", async () => {
    const r = await cli(["get", "k"], { env: { ZK_ENDPOINTS: DEAD[0]! } });
    assert.equal(r.code, 5);
    assert.ok(oneErrorLine(r.stderr).includes(DEAD[0]!));
  });

  it("no endpoints anywhere: exit 5 with how to give some", async () => {
    const dir = tempClusterDir("none");
    try {
      const r = await cli(["get", "k", "--dir", dir]);
      assert.equal(r.code, 5);
      assert.match(oneErrorLine(r.stderr), /--endpoints/);
    } finally {
      await destroyCluster(dir);
    }
  });

  it("unknown command: exit 2", async () => {
    for (const args of [["frobnicate"], ["cluster", "frobnicate"]]) {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(oneErrorLine(r.stderr), /unknown command/);
      assert.equal(r.stdout, "");
    }
  });

  it("unknown flag, missing argument, bad flag value: exit 2", async () => {
    for (const args of [["get", "k", "--frobnicate"], ["get"], ["get", "k", "--consistency", "eventual"], ["propose", "k"], ["get", "k", "--timeout", "soon"]]) {
      const r = await cli([...args, "--endpoints", DEAD[0]!]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      oneErrorLine(r.stderr);
    }
  });

  it("invalid key or endpoint: exit 2 before any connection", async () => {
    for (const key of ["a//b", "./rel", "/trailing/", "/a/../b", "/bad\u0001char"]) {
      const r = await cli(["propose", key, "v", "--endpoints", DEAD[0]!]);
      assert.equal(r.code, 2, `${JSON.stringify(key)}: ${r.stderr}`);
      assert.match(oneErrorLine(r.stderr), /invalid/);
    }
    const r = await cli(["get", "k", "--endpoints", "nohost"]);
    assert.equal(r.code, 2);
    assert.match(oneErrorLine(r.stderr), /invalid endpoint/);
  });

  it("the compiled tree (no bundle) answers the same", async () => {
    const env = { ZK_CLI_NO_BUNDLE: "1" };
    assert.match((await cli(["--version"], { env })).stdout, /^@zk\/cli\//);
    const unknown = await cli(["frobnicate"], { env });
    assert.equal(unknown.code, 2);
    assert.match(oneErrorLine(unknown.stderr), /unknown command/);
    const dead = await cli(["get", "k", "--endpoints", DEAD[0]!], { env });
    assert.equal(dead.code, 5);
    assert.ok(oneErrorLine(dead.stderr).includes(DEAD[0]!));
  });

  it("cluster commands without a manifest: exit 2", async () => {
    const dir = tempClusterDir("nomanifest");
    try {
      for (const args of [["cluster", "down"], ["cluster", "status"], ["cluster", "kill", "n1"]]) {
        const r = await cli([...args, "--dir", dir]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(oneErrorLine(r.stderr), /no cluster in/);
      }
    } finally {
      await destroyCluster(dir);
    }
  });
});

describe("hints name the cluster they are about", () => {
  it("`cluster up` refusing a stopped cluster's new size: its `cluster down --purge`, run as printed, purges that cluster and not the default one", async () => {
    const dir = tempClusterDir("hint");
    const other = tempClusterDir("default");
    try {
      // Two stopped (never started) clusters; `other` is the default one (ZK_CLUSTER_DIR).
      writeManifest(dir, planCluster(dir, 3, 17280, {}));
      writeManifest(other, planCluster(other, 3, 17270, {}));
      const env = { ZK_CLUSTER_DIR: other };
      const r = await cli(["cluster", "up", "--dir", dir, "--nodes", "5"], { env });
      assert.equal(r.code, 2, r.stderr);
      const line = oneErrorLine(r.stderr);
      assert.ok(line.includes(`\`zk-cli cluster up --dir ${dir}\` without`), line);
      const purge = /`(zk-cli cluster down --purge[^`]*)`/.exec(line)?.[1];
      assert.equal(purge, `zk-cli cluster down --purge --dir ${dir}`, line);
      const down = await cli(purge.split(" ").slice(1), { env });
      assert.equal(down.code, 0, down.stderr);
      assert.equal(readManifest(dir), null, "the cluster the hint was about is purged");
      assert.notEqual(readManifest(other), null, "the default cluster is untouched");
      // The default cluster's hints need no --dir.
      const own = await cli(["cluster", "up", "--nodes", "5"], { env });
      assert.equal(own.code, 2, own.stderr);
      assert.match(oneErrorLine(own.stderr), /`zk-cli cluster down --purge` first/);
    } finally {
      await destroyCluster(dir);
      await destroyCluster(other);
    }
  });
});

describe("cluster up on a stopped cluster with tuning flags", () => {
  const dir = tempClusterDir("retune");
  after(async () => {
    for (const pid of pidsMentioning(dir)) process.kill(pid, "SIGKILL");
    await destroyCluster(dir);
  });

  it("starts it again with its data and the new --election-ticks and --log-level, kept in cluster.json; --nodes is still refused", async () => {
    const up = ["cluster", "up", "--dir", dir, "--detach", "--nodes", "1", "--base-port", "17285"];
    assert.equal((await cli(up)).code, 0);
    const w = await cli(["propose", "/kept", "v1", "--dir", dir]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await cli(["cluster", "down", "--dir", dir])).code, 0);
    const again = await cli(["cluster", "up", "--dir", dir, "--detach", "--election-ticks", "40", "--log-level", "warn"]);
    assert.equal(again.code, 0, again.stderr);
    const m = readManifest(dir)!;
    const args = m.nodes[0]!.args;
    assert.equal(args[args.indexOf("--election-ticks") + 1], "40");
    assert.equal(args.filter((a) => a === "--election-ticks").length, 1);
    assert.equal(args[args.indexOf("--log-level") + 1], "warn");
    // The running process has them, and the data.
    const cmdline = readFileSync(`/proc/${m.nodes[0]!.pid}/cmdline`, "utf8").split("\0");
    assert.equal(cmdline[cmdline.indexOf("--election-ticks") + 1], "40");
    const g = await cli(["get", "/kept", "--dir", dir]);
    assert.equal(g.stdout.trim(), "v1", g.stderr);
    assert.equal((await cli(["cluster", "down", "--dir", dir])).code, 0);
    const resized = await cli(["cluster", "up", "--dir", dir, "--nodes", "3"]);
    assert.equal(resized.code, 2, resized.stderr);
    assert.match(oneErrorLine(resized.stderr), /another size or port needs a new cluster/);
  });
});

describe("cluster up when a port is taken", () => {
  const dir = tempClusterDir("porttaken");
  let blocker: Server;

  before(async () => {
    // zk-nodes of the failing cluster may connect to it as their peer n2: hang up on them.
    blocker = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(BASE_PORT + 51, "127.0.0.1", resolve));
  });

  after(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await destroyCluster(dir);
  });

  it("stops the nodes it started and reports the node's error", async () => {
    const r = await cli(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT + 50), "--dir", dir]);
    assert.equal(r.code, 1, r.stderr);
    const line = oneErrorLine(r.stderr);
    assert.match(line, /n2/);
    assert.match(line, /in use/);
    // zk-node's "another port in --listen and in every node's --peers" is --base-port here.
    assert.match(line, new RegExp(`in \`zk-cli cluster up\`: another --base-port, now ${BASE_PORT + 50}, moves every member's ports`));
    assert.deepEqual(pidsMentioning(dir), [], "no zk-node of the failed cluster is left running");
    assert.equal(readManifest(dir), null, "no manifest of a cluster that never came up");
  });
});

describe("zk-cli errors and bulk writes against a cluster", { timeout: 90_000 }, () => {
  const dir = tempClusterDir("errors");
  const zk = (args: string[], input?: string | Buffer) => cli([...args, "--dir", dir], { input });

  before(async () => {
    const up = await zk(["cluster", "up", "--detach", "--nodes", "1", "--base-port", String(BASE_PORT)]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    await destroyCluster(dir);
  });

  it("get and delete of a missing key: exit 3", async () => {
    for (const args of [["get", "no-such-key"], ["delete", "no-such-key"], ["get", "/no/such/key", "--json"]]) {
      const r = await zk(args);
      assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
      assert.match(oneErrorLine(r.stderr), /does not exist/);
      assert.equal(r.stdout, "");
    }
  });

  it("a value over the size limit: exit 2 with the server's message", async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
    const r = await zk(["propose", "big", "-"], big);
    assert.equal(r.code, 2, r.stderr);
    assert.match(oneErrorLine(r.stderr), /limit/);
  });

  it("a value from stdin is stored byte for byte; --json shows binary as base64", async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10]);
    const p = await zk(["propose", "/bin", "-"], bytes);
    assert.equal(p.code, 0, p.stderr);
    const g = await zk(["get", "bin", "--json"]);
    const obj = jsonLines(g.stdout)[0]!;
    assert.equal(obj.encoding, "base64");
    assert.deepEqual(Buffer.from(obj.value as string, "base64"), bytes);
    const raw = await cli(["get", "bin", "--dir", dir]);
    assert.equal(raw.stdout, bytes.toString("utf8"));
  });

  it("delete removes a key", async () => {
    assert.equal((await zk(["propose", "gone", "x"])).code, 0);
    const d = await zk(["delete", "gone", "--json"]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(jsonLines(d.stdout)[0]!.path, "/gone");
    assert.equal((await zk(["get", "gone"])).code, 3);
  });

  it("propose --stdin writes a few hundred lines, in order, and they all read back", async () => {
    const n = 300;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      // Both input forms, values with spaces, and an update of an earlier key.
      lines.push(i % 3 === 0 ? JSON.stringify({ key: `bulk-${i}`, value: `json value ${i}` }) : `bulk-${i} plain value ${i}`);
    }
    lines.push("bulk-1 updated");
    const r = await zk(["propose", "--stdin", "--json", "--window", "64"], lines.join("\n") + "\n");
    assert.equal(r.code, 0, r.stderr);
    const out = jsonLines(r.stdout);
    assert.equal(out.length, n + 1);
    out.slice(0, n).forEach((o, i) => assert.equal(o.path, `/bulk-${i}`));
    assert.deepEqual(out[n], { ...out[n], path: "/bulk-1", version: 1, created: false });
    assert.match(r.stderr, /^proposed 301 of 301 in [\d.]+ s \(\d+ ops\/s\)\n$/);

    const m = readManifest(dir)!;
    const client = new ZkClient({ endpoints: m.nodes.map((x) => x.address) });
    try {
      for (let i = 0; i < n; i++) {
        const g = await client.get(`/bulk-${i}`);
        const want = i === 1 ? "updated" : i % 3 === 0 ? `json value ${i}` : `plain value ${i}`;
        assert.equal(Buffer.from(g.data).toString("utf8"), want);
      }
    } finally {
      client.close();
    }
    const plain = await zk(["get", "bulk-2"]);
    assert.equal(plain.stdout, "plain value 2");
  });

  it("propose --stdin reports bad lines and goes on; the exit code is the first failure's", async () => {
    const input = ["ok-1 one", "no-value-here", "ok-2 two", "a//b bad path", '{"key": 5}', "ok-3 three"].join("\n");
    const r = await zk(["propose", "--stdin"], input);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split("\n").map((l) => l.split(" ")[0]),
      ["/ok-1", "/ok-2", "/ok-3"],
    );
    const errs = r.stderr.trim().split("\n");
    assert.equal(errs.filter((l) => l.startsWith("zk-cli: line ")).length, 3);
    assert.match(errs.at(-1)!, /^proposed 3 of 6 .*3 failed$/);
    assert.equal((await zk(["get", "ok-3"])).stdout, "three");
  });
});
