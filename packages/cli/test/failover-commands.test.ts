// The tree commands when nodes die: a watch connected to a node that is killed carries on
// through another node without a gap or a repeat; txns sent while the leader is killed, and
// through the survivors after it, apply all-or-nothing. A 3-node cluster on
// 127.0.0.1:17420-17422, nodes killed with `zk-cli cluster kill` (SIGKILL).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { cli, clusterCli, destroyCluster, jsonLines, tempClusterDir, waitUntil } from "./helpers.js";
import { killAllStarted, parseLines, startCli } from "./live-cli.js";

const BASE_PORT = 17420;

interface Row {
  id: string;
  address: string;
  role: string | null;
  reachable: boolean;
}

interface Event {
  type: string;
  path: string;
  zxid: number;
}

describe("zk-cli tree commands across node failures", { timeout: 90_000 }, () => {
  const dir = tempClusterDir("failover");
  const { env, zk, ok } = clusterCli(dir);
  const members = async () => jsonLines<Row>((await zk(["status", "--json"])).stdout);
  const leader = () => waitUntil(async () => (await members()).find((r) => r.reachable && r.role === "leader") ?? null, 20_000, "a leader");

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--base-port", String(BASE_PORT), "--dir", dir]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    await killAllStarted();
    await destroyCluster(dir);
  });

  it("a watch on a node that is killed resumes on another one: every event once, in order", async () => {
    await ok(["create", "/fo"]);
    const rows = await members();
    const lead = rows.find((r) => r.role === "leader")!;
    const victim = rows.find((r) => r.role !== "leader")!;
    const others = rows.filter((r) => r !== victim).map((r) => r.address);
    const w = startCli(["watch", "/fo", "--recursive", "--endpoints", [victim.address, ...others].join(",")], { env });
    await w.stderrMatching(/^watching \/fo and below/);
    for (let i = 0; i < 3; i++) await ok(["create", `/fo/n${i}`, "--endpoints", lead.address]);
    await w.lines(6);
    assert.equal((await zk(["cluster", "kill", victim.id])).code, 0);
    // Written while the watcher has no connection, and after it moved.
    for (let i = 3; i < 6; i++) await ok(["create", `/fo/n${i}`, "--endpoints", lead.address]);
    await w.stderrMatching(/^reconnected to /);
    for (let i = 6; i < 8; i++) await ok(["create", `/fo/n${i}`, "--endpoints", lead.address]);
    const events = parseLines<Event>(await w.lines(16));
    assert.deepEqual(
      events.map((e) => [e.type, e.path]),
      Array.from({ length: 8 }, (_, i) => [
        ["created", `/fo/n${i}`],
        ["children_changed", "/fo"],
      ]).flat(),
    );
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.zxid >= events[i - 1]!.zxid);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(w.out.length, 16, `nothing repeated: ${w.out.slice(16).join("\n")}`);
    assert.deepEqual(await w.stop("SIGTERM"), { code: 0, signal: null });
    assert.equal((await zk(["cluster", "start", victim.id])).code, 0);
  });

  it("txns while the leader is killed and through the survivors after it: all or nothing", async () => {
    await ok(["create", "/tx"]);
    const lead = await leader();
    let sent = 0;
    let acked = 0;
    let ackedAfterKill = 0;
    let killed = false;
    const loop = (async () => {
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline && ackedAfterKill < 3) {
        const i = sent++;
        const ops = [
          { op: "create", path: `/tx/a${i}`, data: String(i) },
          { op: "create", path: `/tx/b${i}`, data: String(i) },
          { op: "put", path: "/tx/last", data: String(i) },
        ];
        const r = await zk(["txn", "--json", "--timeout", "3000"], JSON.stringify(ops));
        if (r.code === 0) {
          acked++;
          if (killed) ackedAfterKill++;
        } else {
          // Unavailable or timed out while there is no leader: allowed, but only that.
          assert.equal(r.code, 5, r.stderr);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    })();
    await waitUntil(() => acked >= 3, 20_000, "txns before the kill");
    assert.equal((await zk(["cluster", "kill", lead.id])).code, 0);
    killed = true;
    await loop;
    assert.ok(ackedAfterKill >= 3, `txns went on after the leader died (sent ${sent}, acked ${acked})`);
    const newLeader = await leader();
    assert.notEqual(newLeader.id, lead.id);

    // Every txn: both of its nodes or neither.
    const names = new Set((await ok(["ls", "/tx"])).split("\n").filter(Boolean));
    for (let i = 0; i < sent; i++) assert.equal(names.has(`a${i}`), names.has(`b${i}`), `txn ${i} half applied: ${[...names].join(" ")}`);
    assert.ok(names.size >= 2 * acked + 1);

    // Through the survivors, a failing txn still applies nothing.
    const before = await ok(["ls", "/tx", "-R"]);
    const bad = [
      { op: "create", path: "/tx/z1" },
      { op: "set", path: "/tx/last", data: "x", version: 99 },
    ];
    const r = await zk(["txn"], JSON.stringify(bad));
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /txn op 1 \(set \/tx\/last\) failed: version mismatch.*nothing was applied/);
    assert.equal(await ok(["ls", "/tx", "-R"]), before);
  });
});
