// The lock and election recipes through `zk-cli lock` and `zk-cli elect`: concurrent lock
// holders never overlap (checked from the timestamps their critical sections write), a
// waiter gives up at --lock-timeout naming the holder, a holder killed with -9 releases the
// lock at TTL expiry, the command's exit code comes back; elect prints the new leader when the
// leader resigns or is killed. A 3-node cluster on 127.0.0.1:17410-17412.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, destroyCluster, isRunning, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";
import { killAllStarted, parseLines, startCli } from "./live-cli.js";

const BASE_PORT = 17410;

describe("zk-cli lock and elect", { timeout: 90_000 }, () => {
  const dir = tempClusterDir("recipes");
  const env = { ZK_CLUSTER_DIR: dir };
  const zk = (args: string[]) => cli(args, { env });
  const orphans: number[] = [];

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--base-port", String(BASE_PORT), "--dir", dir]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    await killAllStarted();
    for (const pid of orphans) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    await destroyCluster(dir);
  });

  it("four concurrent lock holders never overlap", async () => {
    const log = join(dir, "critical.log");
    const section = `echo "start $(date +%s%N)" >> ${log}; sleep 0.2; echo "end $(date +%s%N)" >> ${log}`;
    const holders = Array.from({ length: 4 }, () => startCli(["lock", "demo", "--ttl", "2000", "--", "sh", "-c", section], { env }));
    const exits = await Promise.all(holders.map((h) => h.exited));
    for (const e of exits) assert.deepEqual(e, { code: 0, signal: null });
    const text = readFileSync(log, "utf8");
    const entries = text
      .trim()
      .split("\n")
      .map((l) => {
        const [kind, ns] = l.split(" ");
        return { kind: kind!, t: BigInt(ns!) };
      });
    assert.equal(entries.length, 8);
    // In file order: start, end, start, end, ... and every start after the previous end.
    for (let i = 0; i < entries.length; i++) assert.equal(entries[i]!.kind, i % 2 === 0 ? "start" : "end", text);
    for (let i = 2; i < entries.length; i += 2) assert.ok(entries[i]!.t > entries[i - 1]!.t, `section ${i / 2} started before the previous one ended`);
    // Every holder released its node.
    assert.equal((await zk(["ls", "/locks/demo"])).stdout, "");
  });

  it("a waiter gives up at --lock-timeout (exit 5, naming the holder); the command's exit code comes back", async () => {
    const pidFile = join(dir, "holder.pid");
    const holder = startCli(["lock", "busy", "--", "sh", "-c", `echo $$ > ${pidFile}; echo holding; exec sleep 30`], { env });
    await holder.lines(1);
    const t0 = Date.now();
    const r = await zk(["lock", "busy", "--lock-timeout", "300", "--", "echo", "never"]);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(oneErrorLine(r.stderr), /^zk-cli: timed out after 300 ms waiting for lock busy; held by \S+ pid \d+ \(\/locks\/busy\/lock-\d{10}\)$/);
    assert.ok(Date.now() - t0 < 10_000);
    const alias = await zk(["lock", "busy", "--timeout-lock", "100", "--", "true"]);
    assert.equal(alias.code, 5);

    // SIGTERM reaches the command; its exit status (128 + 15) is zk-cli's.
    assert.deepEqual(await holder.stop("SIGTERM"), { code: 143, signal: null });
    assert.equal((await zk(["ls", "/locks/busy"])).stdout, "", "released when the command exited");
    const seven = await zk(["lock", "busy", "--", "sh", "-c", "exit 7"]);
    assert.equal(seven.code, 7);
    const missing = await zk(["lock", "busy", "--", "no-such-command-zk"]);
    assert.equal(missing.code, 127);
    assert.match(oneErrorLine(missing.stderr), /cannot run no-such-command-zk: command not found/);
  });

  it("a holder killed with -9 releases the lock when its session's TTL runs out", async () => {
    const pidFile = join(dir, "child.pid");
    rmSync(pidFile, { force: true });
    const holder = startCli(["lock", "crash", "--ttl", "1000", "--", "sh", "-c", `echo $$ > ${pidFile}; echo holding; exec sleep 30`], { env });
    await holder.lines(1);
    const child = Number(readFileSync(pidFile, "utf8").trim());
    orphans.push(child);
    await holder.stop("SIGKILL");
    process.kill(child, "SIGKILL"); // the command zk-cli ran lives on; only the lock matters here
    const t0 = Date.now();
    const next = await cli(["lock", "crash", "--lock-timeout", "15000", "--", "echo", "got it"], { env });
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.stdout, "got it\n");
    assert.ok(Date.now() - t0 >= 500, "the dead holder's lock lasted until its TTL");
  });

  it("elect: the lowest candidate leads; a resigned or killed leader is replaced and everyone prints it", async () => {
    // Only bob's session is short (it must expire after his kill -9): a session of 1 s is
    // suspended ("leader uncertain") by a 333 ms stall, which a loaded machine can produce.
    const alice = startCli(["elect", "sched", "alice", "--ttl", "5000"], { env });
    assert.deepEqual(await alice.lines(1), ["leader: alice (this process)"]);
    const bob = startCli(["elect", "sched", "bob", "--ttl", "2000"], { env });
    assert.deepEqual(await bob.lines(1), ["leader: alice"]);
    const carol = startCli(["elect", "sched", "carol", "--ttl", "5000"], { env });
    assert.deepEqual(await carol.lines(1), ["leader: alice"]);
    const listener = startCli(["elect", "sched", "--listen", "--json"], { env });
    const first = parseLines(await listener.lines(1))[0]!;
    assert.equal(first.leader, "alice");
    assert.match(first.path as string, /^\/elections\/sched\/candidate-\d{10}$/);
    assert.equal(first.self, false);

    // Resigning (SIGTERM) hands over at once.
    assert.deepEqual(await alice.stop("SIGTERM"), { code: 0, signal: null });
    assert.deepEqual(await bob.lines(2), ["leader: alice", "leader: bob (this process)"]);
    assert.deepEqual(await carol.lines(2), ["leader: alice", "leader: bob"]);
    assert.equal(parseLines(await listener.lines(2))[1]!.leader, "bob");

    // A killed leader leads until its session expires.
    await bob.stop("SIGKILL");
    assert.deepEqual(await carol.lines(3), ["leader: alice", "leader: bob", "leader: carol (this process)"]);
    assert.equal(parseLines(await listener.lines(3))[2]!.leader, "carol");
    assert.deepEqual(await carol.stop("SIGINT"), { code: 0, signal: null });
    const none = parseLines(await listener.lines(4))[3]!;
    assert.equal(none.leader, null);
    assert.equal(none.path, null);
    assert.deepEqual(await listener.stop("SIGTERM"), { code: 0, signal: null });
    const once = await zk(["elect", "sched", "--listen", "--count", "1"]);
    assert.equal(once.stdout, "no leader\n");
  });

  it("lock node data names the holder; a waiter reports it on stderr with --json", async () => {
    const holder = startCli(["lock", "named", "--", "sh", "-c", "echo in; exec sleep 30"], { env });
    await holder.lines(1);
    const waiter = startCli(["lock", "named", "--json", "--", "sh", "-c", "echo second $ZK_LOCK_ZXID"], { env });
    const waiting = JSON.parse(await waiter.stderrMatching(/"event":"waiting"/)) as Record<string, unknown>;
    assert.equal(waiting.lock, "named");
    assert.match(waiting.holder as string, /pid \d+$/);
    await holder.stop("SIGTERM");
    assert.deepEqual(await waiter.exited, { code: 0, signal: null });
    // stdout: the fencing token first, then the command's output (which got it as ZK_LOCK_ZXID).
    assert.equal(waiter.out.length, 2, waiter.out.join("\n"));
    const acquired = JSON.parse(waiter.out[0]!) as { event: string; lock: string; path: string; lockZxid: number };
    assert.equal(acquired.event, "acquired");
    assert.match(acquired.path, /^\/locks\/named\/lock-\d{10}$/);
    assert.ok(acquired.lockZxid > 0);
    assert.equal(waiter.out[1], `second ${acquired.lockZxid}`);
    const events = waiter.err.map((l) => (JSON.parse(l) as { event: string }).event);
    assert.deepEqual(events, ["waiting", "acquired", "released"]);
    // A later holder's token is larger.
    const later = await zk(["lock", "named", "--", "sh", "-c", "echo $ZK_LOCK_ZXID"]);
    assert.equal(later.code, 0, later.stderr);
    assert.ok(Number(later.stdout.trim()) > acquired.lockZxid, later.stdout);
  });
});
