// `zk-cli lock` when the node a holder talks to is paused (SIGSTOP: its sockets stay open, so
// the holder's stream never breaks). The holder's session is suspended within a third of the
// TTL, its command is stopped before the TTL could have passed (exit 7), and a second holder
// that talks to a running member gets the lock once the cluster has expired the first
// session. The two commands append timestamps to one file; their intervals never overlap.
// A 3-node cluster on 127.0.0.1:23100-23102; every paused process is SIGCONTed in cleanup.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { readManifest } from "../src/lib/manifest.js";
import { cli, clusterCli, destroyCluster, isRunning, jsonLines, tempClusterDir, waitUntil } from "./helpers.js";
import { killAllStarted, startCli } from "./live-cli.js";

const BASE_PORT = 23100;
const TTL_MS = 2000;

interface Row {
  id: string;
  address: string;
  role: string | null;
  reachable: boolean;
}

describe("zk-cli lock with the holder's node paused", { timeout: 120_000 }, () => {
  const dir = tempClusterDir("lock-pause");
  const { env, zk } = clusterCli(dir);
  const paused = new Set<number>();
  const pause = (pid: number) => {
    process.kill(pid, "SIGSTOP");
    paused.add(pid);
  };
  const resumeAll = () => {
    for (const pid of [...paused]) {
      if (isRunning(pid)) process.kill(pid, "SIGCONT");
      paused.delete(pid);
    }
  };
  const pidOf = (id: string) => readManifest(dir)!.nodes.find((n) => n.id === id)!.pid;
  const members = async () => jsonLines<Row>((await zk(["status", "--json"])).stdout);
  const settled = () =>
    waitUntil(
      async () => {
        const rows = await members();
        const l = rows.find((r) => r.reachable && r.role === "leader");
        return l && rows.every((r) => r.reachable) ? { leader: l, followers: rows.filter((r) => r !== l) } : null;
      },
      20_000,
      "a leader with every member reachable",
    );

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--base-port", String(BASE_PORT), "--dir", dir]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });
  afterEach(async () => {
    resumeAll();
    await killAllStarted();
  });
  after(async () => {
    resumeAll();
    await killAllStarted();
    await destroyCluster(dir);
  });

  /** Timestamps (ns) each holder wrote, in file order. */
  const readLog = (file: string) =>
    readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => {
        const [who, ns] = l.split(" ");
        return { who: who!, t: BigInt(ns!) };
      });

  const scenario = async (name: string, holder1Endpoint: Row, holder2Endpoints: Row[], pausedId: string) => {
    const log = join(dir, `${name}.log`);
    // Holder 1 writes a timestamp every 20 ms for as long as it runs.
    const h1 = startCli(["lock", name, "--ttl", String(TTL_MS), "--json", "--endpoints", holder1Endpoint.address, "--", "sh", "-c", `while :; do echo "h1 $(date +%s%N)" >> ${log}; sleep 0.02; done`], { env });
    await waitUntil(() => h1.out.length >= 1 && readFileSync(log, "utf8").length > 0, 15_000, "holder 1 to hold the lock and write");
    pause(pidOf(pausedId));
    const h2 = startCli(["lock", name, "--ttl", String(TTL_MS), "--endpoints", holder2Endpoints.map((r) => r.address).join(","), "--", "sh", "-c", `echo "h2 $(date +%s%N)" >> ${log}; sleep 0.2; echo "h2 $(date +%s%N)" >> ${log}`], { env });
    const e2 = await h2.exited;
    // Holder 1 should be gone long before; bounded, so that a holder that never learns fails
    // the overlap check below instead of hanging the test.
    const e1 = await Promise.race([h1.exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    resumeAll();
    assert.deepEqual(e2, { code: 0, signal: null }, h2.err.join("\n"));
    const events = h1.err.filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { event?: string }).event ?? "");
    assert.ok(events.includes("suspended"), `holder 1 reported the suspension: ${h1.err.join("\n")}`);
    assert.match(h1.err.at(-1)!, /zk-cli: lock \S+ became uncertain while the command ran \(session suspended: no keepalive acknowledged for \d+ ms/);
    const entries = readLog(log);
    const h1Last = entries.filter((e) => e.who === "h1").at(-1)!.t;
    const h2First = entries.find((e) => e.who === "h2")!.t;
    assert.equal(entries.filter((e) => e.who === "h2").length, 2);
    assert.ok(h1Last < h2First, `holder 1 wrote at ${h1Last} after holder 2 started at ${h2First}`);
    assert.equal(e1?.code, 7, `holder 1 exits 7 (lock uncertain): ${h1.err.join("\n")}`);
    // Holder 2 had to wait for the cluster to expire holder 1's session.
    assert.ok(entries.filter((e) => e.who === "h1").length >= 2);
    return { h1: h1.err, h2: h2.err, gapMs: Number(h2First - h1Last) / 1e6 };
  };

  it("(a) holder 1 on a paused follower; holder 2 on the leader gets the lock after the TTL; no overlap", async (t) => {
    const { leader, followers } = await settled();
    const r = await scenario("pause-follower", followers[0]!, [leader], followers[0]!.id);
    t.diagnostic(`holder 1's last write to holder 2's first: ${r.gapMs.toFixed(0)} ms; holder 1: ${r.h1.join(" | ")}`);
  });

  it("(b) holder 1 on the paused leader; holder 2 on the followers gets the lock after the TTL; no overlap", async (t) => {
    const { leader, followers } = await settled();
    const r = await scenario("pause-leader", leader, followers, leader.id);
    t.diagnostic(`holder 1's last write to holder 2's first: ${r.gapMs.toFixed(0)} ms; holder 1: ${r.h1.join(" | ")}`);
  });

  it("--on-suspend stop: the command is stopped while the session is suspended and continued once it is reconnected", async () => {
    const { leader, followers } = await settled();
    const log = join(dir, "stop.log");
    const eps = [followers[0]!, leader, followers[1]!].map((r) => r.address).join(",");
    const h = startCli(["lock", "stopper", "--ttl", String(TTL_MS), "--json", "--on-suspend", "stop", "--endpoints", eps, "--", "sh", "-c", `i=0; while [ $i -lt 40 ]; do echo "s $(date +%s%N)" >> ${log}; sleep 0.05; i=$((i+1)); done`], { env });
    await waitUntil(() => h.out.length >= 1, 15_000, "the lock");
    pause(pidOf(followers[0]!.id));
    const e = await h.exited;
    resumeAll();
    assert.deepEqual(e, { code: 0, signal: null }, h.err.join("\n"));
    const events = h.err.filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { event: string }).event);
    assert.deepEqual(events, ["acquired", "suspended", "reconnected", "released"]);
    assert.equal(readFileSync(log, "utf8").trim().split("\n").length, 40, "the command ran to its end");
  });

  it("elect: a leader whose node is paused prints that its leadership is uncertain, then lost, and exits 7", async () => {
    const { followers } = await settled();
    const e = startCli(["elect", "paused-sched", "alice", "--ttl", String(TTL_MS), "--endpoints", followers[0]!.address], { env });
    assert.deepEqual(await e.lines(1), ["leader: alice (this process)"]);
    pause(pidOf(followers[0]!.id));
    const lines = await e.lines(3, 15_000);
    assert.match(lines[1]!, /^leadership uncertain: no keepalive acknowledged for \d+ ms through 127\.0\.0\.1:\d+; the session may expire within \d+ ms$/);
    assert.match(lines[2]!, /^leadership lost: session \d+ lost: no keepalive acknowledged/);
    const exit = await e.exited;
    resumeAll();
    assert.equal(exit.code, 7, e.err.join("\n"));
    assert.match(e.err.at(-1)!, /^zk-cli: leadership paused-sched lost: /);
  });
});
