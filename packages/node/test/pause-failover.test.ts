// The client against hung members: real zk-node processes, one of them SIGSTOPped (it keeps
// its sockets open, so nothing is refused: it just never answers). Reads and writes with the
// paused member first in the endpoint list succeed through another member; a write whose
// first attempt's outcome is unknown (applied, but the answer lost on the way back: a proxy
// on 23010 swallows it) is resent and applied once. Every paused process is SIGCONTed in
// cleanup. A leader that loses its quorum answers what it proposed at once (a session sends it
// again until a node says twice that it knows no leader), and one deposed before a successor is
// known has its session's writes sent again and applied once under the next leader. A paused
// member logs that its event loop stalled. Ports 23000-23002, 23010.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { join } from "node:path";
import { connect, createServer, type Socket } from "node:net";
import { Role, ZkClient, ZkSession, type SessionState, type ZkError } from "../src/client/index.js";
import { SqliteAcceptorStore } from "../src/storage/sqlite-store.js";
import { decodeCommand } from "../src/tree/index.js";
import { TestCluster, type TestNode } from "./support/nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("client failover past a paused member", { timeout: 120_000 }, () => {
  const c = new TestCluster(3, 23000);
  const paused = new Set<TestNode>();
  const pause = (n: TestNode) => {
    n.proc!.kill("SIGSTOP");
    paused.add(n);
  };
  const resume = (n: TestNode) => {
    if (!paused.delete(n)) return;
    n.proc!.kill("SIGCONT");
  };
  const clients: ZkClient[] = [];
  const client = (first: TestNode, timeoutMs = 5000) => {
    const others = c.nodes.filter((n) => n !== first);
    const z = new ZkClient({ endpoints: [first.address, ...others.map((n) => n.address)], timeoutMs });
    clients.push(z);
    return z;
  };

  before(async () => {
    c.startAll();
    await c.waitForLeader();
  });
  afterEach(() => {
    for (const n of [...paused]) resume(n);
    for (const z of clients.splice(0)) z.close();
  });
  after(async () => {
    for (const n of [...paused]) resume(n);
    await c.cleanup();
  });

  const timed = async <T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const t0 = performance.now();
    const value = await f();
    return { value, ms: Math.round(performance.now() - t0) };
  };

  test("a member that could not run for longer than half an election timeout says so in its log", async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const before = follower.output.length;
    pause(follower);
    await new Promise((r) => setTimeout(r, 600));
    resume(follower);
    // A stall within 10 s of the member's last warning is told in the next one, once it is due.
    const until = Date.now() + 12_000;
    while (!follower.output.slice(before).includes("event loop stalled") && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const line = follower.output.slice(before).split("\n").find((l) => l.includes("event loop stalled"));
    assert.ok(line, `no stall warning in ${follower.id}'s log within 12 s of a 600 ms pause:\n${follower.output.slice(before, before + 2000)}`);
    const entry = JSON.parse(line) as { stalledMs: number; electionTimeoutMs: number; msg: string };
    assert.ok(entry.stalledMs >= 500, line);
    assert.match(entry.msg, /is the machine short of CPU, or the disk slow to fsync\? If such stalls are expected here, raise --election-ticks$/);
  });

  test("get and put with a paused follower first: answered by another member", async (t) => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    await c.client().put("/pf", enc("before"));
    pause(follower);
    const z = client(follower);
    const get = await timed(() => z.get("/pf"));
    assert.equal(new TextDecoder().decode(get.value.data), "before");
    assert.notEqual(z.lastEndpoint, follower.address, "answered by a running member");
    const z2 = client(follower);
    const put = await timed(() => z2.put("/pf", enc("during")));
    assert.ok(put.value.zxid > 0);
    assert.notEqual(z2.lastEndpoint, follower.address);
    t.diagnostic(`paused follower first: get ${get.ms} ms, put ${put.ms} ms (per-attempt deadline ${z.attemptMs} ms)`);
    resume(follower);
    assert.equal(new TextDecoder().decode((await c.client().get("/pf")).data), "during");
  });

  test("get and put with the paused leader first: answered through the new leader", async (t) => {
    const leader = c.node(await c.waitForLeader());
    pause(leader);
    const z = client(leader);
    const put = await timed(() => z.put("/pl", enc("x")));
    assert.ok(put.value.zxid > 0);
    assert.notEqual(z.lastEndpoint, leader.address);
    const z2 = client(leader);
    const get = await timed(() => z2.get("/pl"));
    assert.equal(new TextDecoder().decode(get.value.data), "x");
    assert.notEqual(z2.lastEndpoint, leader.address);
    t.diagnostic(`paused leader first: put ${put.ms} ms (includes the election), get ${get.ms} ms`);
    resume(leader);
    await c.waitForLeader();
  });

  test("a write whose first attempt's outcome is unknown is resent with the same key and applied once", async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    await c.client().put("/once", enc(""));
    // The client reaches the follower through a proxy that, once told to, swallows every
    // answer: the follower runs, forwards the create, the leader applies it, and the reply is
    // lost. The client's attempt times out (outcome unknown) and it resends to the next member.
    let dropReplies = false;
    const sockets = new Set<Socket>();
    const proxy = createServer((down) => {
      const up = connect({ host: "127.0.0.1", port: Number(follower.address.split(":")[1]) });
      sockets.add(down).add(up);
      down.on("data", (b) => up.write(b));
      up.on("data", (b) => {
        if (!dropReplies) down.write(b);
      });
      const end = () => {
        up.destroy();
        down.destroy();
      };
      down.on("error", end).on("close", end);
      up.on("error", end).on("close", end);
    });
    await new Promise<void>((r) => proxy.listen(23010, "127.0.0.1", () => r()));
    try {
      const z = new ZkClient({ endpoints: ["127.0.0.1:23010", ...c.nodes.filter((n) => n !== follower).map((n) => n.address)], timeoutMs: 5000 });
      clients.push(z);
      await z.get("/once"); // the connection through the proxy is up
      assert.equal(z.lastEndpoint, "127.0.0.1:23010");
      dropReplies = true;
      const created = await z.create("/once/item-", enc("x"), { sequential: true });
      assert.notEqual(z.lastEndpoint, "127.0.0.1:23010", "answered by the next member");
      const check = c.client();
      await check.sync();
      const children = (await check.list("/once")).children.map((ch) => ch.name);
      assert.deepEqual(children, [created.path.slice("/once/".length)], "applied once");
      // Both attempts reached the log with the same key; the second was answered with the first's outcome.
      const store = SqliteAcceptorStore.open(join(c.node(leader).dataDir, "zk.db"), null, { readonly: true });
      try {
        const keys: string[] = [];
        for (const e of store.readEntries(1, Number.MAX_SAFE_INTEGER, 100_000)) {
          if (e.command.length === 0) continue;
          const cmd = decodeCommand(e.command);
          if (cmd.op?.$case === "create" && cmd.op.value.path === "/once/item-") keys.push(cmd.requestId);
        }
        assert.equal(keys.length, 2, `proposed twice (the lost attempt and the resend): ${JSON.stringify(keys)}`);
        assert.equal(keys[0], keys[1], "with the same deduplication key");
      } finally {
        store.close();
      }
      assert.equal(created.zxid, (await check.get(created.path)).stat?.czxid, "the resend reports the first application's zxid");
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test("session states: a paused follower suspends the session, which moves on and is reconnected; alone, it is lost", async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const others = c.nodes.filter((n) => n !== follower).map((n) => n.address);
    const s = await ZkSession.open({ endpoints: [follower.address, ...others], ttlMs: 2000 });
    const alone = await ZkSession.open({ endpoints: [follower.address], ttlMs: 2000 });
    try {
      assert.equal(s.endpoint, follower.address);
      const { path } = await s.create("/held", enc("x"), { ephemeral: true });
      const states: SessionState[] = [];
      s.on("state", (st) => states.push(st));
      const aloneStates: SessionState[] = [];
      alone.on("state", (st) => aloneStates.push(st));
      const suspended = new Promise<{ sinceAckMs: number; remainingMs: number }>((r) => s.once("suspended", r));
      const reconnected = new Promise<string>((r) => s.once("reconnected", r));
      const lost = new Promise<ZkError>((r) => alone.once("lost", r));
      pause(follower);
      const info = await suspended;
      assert.ok(info.sinceAckMs > 2000 / 3 && info.remainingMs < 2000 * (2 / 3), JSON.stringify(info));
      assert.notEqual(await reconnected, follower.address);
      assert.equal(s.state, "connected");
      assert.deepEqual(states, ["suspended", "connected"]);
      // The session survived: same id, its ephemeral node is still there.
      assert.equal((await c.client(c.nodes.filter((n) => n !== follower).map((n) => n.id)).get(path)).stat?.ephemeralOwner, s.sessionId);
      const e = await lost;
      assert.match(e.message, /lost: no keepalive acknowledged for \d+ ms, its TTL is 2000 ms/);
      assert.equal(alone.state, "lost");
      assert.deepEqual(aloneStates, ["suspended", "lost"]);
    } finally {
      resume(follower);
      alone.abandon();
      await s.close();
    }
  });

  test("no quorum: the error names who answers and who is unreachable, before the timeout", async () => {
    const leader = await c.waitForLeader();
    const others = c.nodes.filter((n) => n.id !== leader);
    for (const n of others) pause(n);
    const z = new ZkClient({ endpoints: c.nodes.map((n) => n.address), timeoutMs: 20_000 });
    clients.push(z);
    // The leader steps down (check-quorum); then nobody leads.
    const err = await z.get("/pf").then(
      () => null,
      (e: ZkError) => e,
    );
    assert.ok(err, "no quorum, no linearizable read");
    const l = c.node(leader).address;
    assert.match(err.message, new RegExp(`^no leader among .*\\(${l.replace(/\./g, "\\.")} answers; .*unreachable\\)`), err.message);
    for (const n of others) assert.ok(err.message.includes(n.address));
    // A write sent to the paused members may still take effect (they forward it when they run again).
    const werr = await z.put("/nq", enc("x")).then(
      () => null,
      (e: ZkError) => e,
    );
    assert.ok(werr);
    assert.match(werr.message, /^no leader among .*; the write may still take effect$/, werr.message);
  });

  test("a leader that loses its quorum answers the writes it proposed at once (outcome unknown), not at their deadline", async () => {
    const leader = await c.waitForLeader();
    const others = c.nodes.filter((n) => n.id !== leader);
    // Only the leader: the session cannot move, so the answer is the leader's own.
    const s = await ZkSession.open({ endpoints: [c.node(leader).address], ttlMs: 30_000, timeoutMs: 25_000 });
    try {
      for (const n of others) pause(n);
      // Proposed, never chosen (no follower runs); the leader steps down on check-quorum. It must
      // not hold the write until the 25 s deadline: no later leader of an idle cluster may ever
      // fill the slot.
      const err = await s.put("/deposed", enc("x")).then(
        () => null,
        (e: ZkError) => e,
      );
      assert.ok(err, "a write no majority accepted is not acknowledged");
      assert.match(err.message, new RegExp(`node ${leader} stopped leading before slot \\d+ was chosen; the write may or may not have been applied`), err.message);
      // The session sent it again and heard "no leader" (the node waited for one in vain); the
      // answer still says the first attempt may have been applied.
      assert.match(err.message, /; sent again: no leader: /, err.message);
    } finally {
      for (const n of others) resume(n);
      await s.close().catch(() => undefined);
    }
    // Once the followers run again the cluster goes on.
    await c.waitForLeader();
    await c.client().put("/deposed-after", enc("y"));
  });

  test("a leader deposed before anyone is named to succeed it: a session sends its writes again, each applied once under the next leader", async () => {
    const leader = await c.waitForLeader();
    const others = c.nodes.filter((n) => n.id !== leader);
    await c.client().put("/ride", enc(""));
    // Only the leader: what the session is told is the deposed leader's own answer.
    const s = await ZkSession.open({ endpoints: [c.node(leader).address], ttlMs: 30_000, timeoutMs: 20_000 });
    const watch = c.client([leader], 1000);
    try {
      for (const n of others) pause(n);
      // Proposed, not chosen; check-quorum deposes the leader with no successor known, and it
      // answers "stopped leading before slot N was chosen" (no leaderId). Before the fix the
      // session handed that back; now it sends each write again with its deduplication key.
      const burst = Array.from({ length: 40 }, (_, i) => s.create("/ride/item-", enc(String(i)), { sequential: true }));
      const until = Date.now() + 10_000;
      while ((await watch.statusAll())[0]?.status?.role === Role.LEADER) {
        assert.ok(Date.now() < until, `${leader} still leads 10 s after losing its quorum`);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const n of others) resume(n);
      const settled = await Promise.allSettled(burst);
      const failed = settled.find((r) => r.status === "rejected");
      assert.equal(failed, undefined, String(failed?.reason));
      const paths = settled.map((r) => (r as PromiseFulfilledResult<{ path: string }>).value.path);
      assert.equal(new Set(paths).size, 40, "each write answered with its own node");
      assert.equal((await c.client().list("/ride")).children.length, 40, "every write applied exactly once");
    } finally {
      for (const n of others) resume(n);
      watch.close();
      await s.close().catch(() => undefined);
    }
  });

  test("nothing listening: the write was not applied, and the error says so", async () => {
    const z = new ZkClient({ endpoints: ["127.0.0.1:23998", "127.0.0.1:23999"], timeoutMs: 2000 });
    clients.push(z);
    const err = await z.put("/never", enc("x")).then(
      () => null,
      (e: ZkError) => e,
    );
    assert.ok(err);
    assert.match(err.message, /^no zk node reachable at 127\.0\.0\.1:23998, 127\.0\.0\.1:23999; is the cluster up\?/);
    assert.doesNotMatch(err.message, /may still take effect/);
  });
});
