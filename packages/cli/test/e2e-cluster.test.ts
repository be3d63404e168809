// End to end: a real 3-node cluster of zk-node processes on 127.0.0.1:17100-17102, driven only
// through zk-cli. Writes through a follower and the leader, reads back from every node, kills
// the leader with SIGKILL, checks that a new leader takes writes, restarts the killed node and
// waits for it to catch up, and checks that `cluster down` leaves no process behind.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readManifest } from "../src/lib/manifest.js";
import { cli, destroyCluster, isRunning, jsonLines, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 17100;
const ELECTION_WAIT_MS = 20_000;

interface Row {
  id: string;
  address: string;
  role: string | null;
  leader: string | null;
  reachable: boolean;
  pid?: number | null;
  alive?: boolean;
}

describe("zk-cli against a local 3-node cluster", { timeout: 120_000 }, () => {
  const dir = tempClusterDir("e2e");
  const zk = (...args: string[]) => cli([...args, "--dir", dir]);
  let rows: Row[] = [];
  const addressOf = (id: string) => rows.find((r) => r.id === id)!.address;
  let leader = "";
  let killed = "";

  before(async () => {
    const up = await zk("cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--json");
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    rows = jsonLines<Row>(up.stdout);
  });

  after(async () => {
    await destroyCluster(dir);
  });

  it("cluster up elects one leader and records every node in the manifest", () => {
    assert.equal(rows.length, 3);
    const leaders = rows.filter((r) => r.role === "leader");
    assert.equal(leaders.length, 1, JSON.stringify(rows));
    leader = leaders[0]!.id;
    for (const r of rows) assert.equal(r.leader, leader);
    const m = readManifest(dir);
    assert.ok(m);
    assert.deepEqual(
      m.nodes.map((n) => [n.id, n.address, n.state]),
      [1, 2, 3].map((i) => [`n${i}`, `127.0.0.1:${BASE_PORT + i - 1}`, "running"]),
    );
    for (const n of m.nodes) assert.ok(isRunning(n.pid), `${n.id} pid ${n.pid} is not running`);
  });

  it("refuses a second cluster up in the same dir while it runs", async () => {
    const again = await zk("cluster", "up", "--detach", "--base-port", String(BASE_PORT));
    assert.notEqual(again.code, 0);
    assert.match(oneErrorLine(again.stderr), /already running/);
  });

  it("status shows every node reachable and following the leader", async () => {
    const st = await zk("status", "--json");
    assert.equal(st.code, 0, st.stderr);
    const s = jsonLines<Row>(st.stdout);
    assert.equal(s.length, 3);
    for (const r of s) {
      assert.equal(r.reachable, true);
      assert.equal(r.leader, leader);
    }
    const table = await zk("status");
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+ADDRESS\s+ROLE\s+BALLOT\s+LEADER\s+CHOSEN\s+APPLIED\s+REACHABLE$/m);
  });

  it("proposes through a follower and through the leader", async () => {
    const follower = rows.find((r) => r.id !== leader)!;
    const viaFollower = await zk("propose", "e2e-a", "from-follower", "--json", "--endpoints", follower.address);
    assert.equal(viaFollower.code, 0, viaFollower.stderr);
    const a = jsonLines(viaFollower.stdout)[0]!;
    assert.equal(a.path, "/e2e-a");
    assert.equal(a.created, true);
    assert.equal(a.version, 0);
    assert.ok(typeof a.zxid === "number" && a.zxid > 0);

    const viaLeader = await zk("propose", "/e2e-b", "from-leader", "--json", "--endpoints", addressOf(leader));
    assert.equal(viaLeader.code, 0, viaLeader.stderr);
    const b = jsonLines(viaLeader.stdout)[0]!;
    assert.equal(b.path, "/e2e-b");
    assert.ok((b.zxid as number) > (a.zxid as number));

    const again = await zk("propose", "e2e-a", "from-follower-2", "--endpoints", follower.address);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^\/e2e-a zxid=\d+ version=1\n$/);
  });

  it("reads back from every node: linearizable, then local", async () => {
    for (const r of rows) {
      const lin = await zk("get", "e2e-a", "--endpoints", r.address);
      assert.equal(lin.code, 0, lin.stderr);
      assert.equal(lin.stdout, "from-follower-2"); // not a TTY: raw bytes, no newline
    }
    for (const r of rows) {
      for (const [key, value] of [["e2e-a", "from-follower-2"], ["e2e-b", "from-leader"]] as const) {
        // A local read is served from the node's applied state; a follower applies what the
        // leader commits a heartbeat later, so allow it a moment.
        const got = await waitUntil(
          async () => {
            const g = await zk("get", key, "--consistency", "local", "--json", "--endpoints", r.address);
            return g.code === 0 && jsonLines(g.stdout)[0]!.value === value ? g : null;
          },
          5_000,
          `${r.id} to serve ${key}=${value} locally`,
        );
        const obj = jsonLines(got.stdout)[0]!;
        assert.equal(obj.path, `/${key}`);
      }
    }
  });

  it("after kill -9 of the leader, a new leader is elected and writes continue", async () => {
    const m = readManifest(dir)!;
    const leaderPid = m.nodes.find((n) => n.id === leader)!.pid;
    const k = await zk("cluster", "kill", leader, "--json");
    assert.equal(k.code, 0, k.stderr);
    assert.equal(jsonLines(k.stdout)[0]!.pid, leaderPid);
    assert.equal(isRunning(leaderPid), false);
    killed = leader;

    const newLeader = await waitUntil(
      async () => {
        const st = await zk("status", "--json");
        const s = jsonLines<Row>(st.stdout);
        const l = s.find((r) => r.reachable && r.role === "leader" && r.id !== killed);
        return l && s.filter((r) => r.reachable).every((r) => r.leader === l.id) ? l.id : null;
      },
      ELECTION_WAIT_MS,
      "a new leader",
    );
    assert.notEqual(newLeader, killed);
    leader = newLeader;

    const st = await zk("status", "--json");
    assert.equal(st.code, 0, "status works with a node down");
    const down = jsonLines<Row>(st.stdout).find((r) => r.address === addressOf(killed))!;
    assert.equal(down.reachable, false);

    // Without --endpoints the manifest's members are tried in turn, the dead one included.
    const w = await zk("propose", "e2e-a", "after-failover", "--json");
    assert.equal(w.code, 0, w.stderr);
    assert.equal(jsonLines(w.stdout)[0]!.version, 2);
    const r = await zk("get", "e2e-a");
    assert.equal(r.stdout, "after-failover");
  });

  it("cluster start brings the killed node back and it catches up", async () => {
    const s = await zk("cluster", "start", killed, "--json");
    assert.equal(s.code, 0, s.stderr);
    const pid = jsonLines(s.stdout)[0]!.pid as number;
    assert.ok(isRunning(pid));
    assert.equal(readManifest(dir)!.nodes.find((n) => n.id === killed)!.pid, pid);
    await waitUntil(
      async () => {
        const g = await zk("get", "e2e-a", "--consistency", "local", "--endpoints", addressOf(killed));
        return g.code === 0 && g.stdout === "after-failover";
      },
      ELECTION_WAIT_MS,
      `${killed} to catch up`,
    );
    const cs = await zk("cluster", "status", "--json");
    assert.equal(cs.code, 0, cs.stderr);
    for (const r of jsonLines<Row>(cs.stdout)) {
      assert.equal(r.alive, true, `${r.id} alive`);
      assert.equal(r.reachable, true, `${r.id} reachable`);
    }
  });

  it("cluster kill of an unknown node exits 3", async () => {
    const k = await zk("cluster", "kill", "n9");
    assert.equal(k.code, 3);
    assert.match(oneErrorLine(k.stderr), /no node "n9"/);
  });

  it("cluster down stops every process in the manifest", async () => {
    const pids = readManifest(dir)!.nodes.map((n) => n.pid);
    const d = await zk("cluster", "down");
    assert.equal(d.code, 0, d.stderr);
    for (const pid of pids) assert.equal(isRunning(pid), false, `pid ${pid} still running`);
    const m = readManifest(dir)!;
    for (const n of m.nodes) assert.equal(n.state, "stopped");
    const st = await zk("status");
    assert.equal(st.code, 5);
  });
});
