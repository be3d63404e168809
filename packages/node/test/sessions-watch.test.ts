// Sessions, ephemeral nodes and watches against real zk-node processes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EventType, ErrorCode, ZkError, ZkSession, type WatchEvent } from "../src/client/index.js";
import { WatchCursor } from "../src/client/watch-cursor.js";
import { TestCluster, sleep } from "./support/nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("WatchCursor: where a watch resumes", () => {
  test("a stream that breaks inside a zxid's events resumes at that zxid and drops only what was delivered", () => {
    const c = new WatchCursor(0);
    assert.equal(c.register(), 0, "from now");
    c.registered(4);
    assert.equal(c.register(), 5, "no event yet: after what the registration covered");
    // zxid 6 deletes a node: DELETED /g/m then CHILDREN_CHANGED /g; the stream breaks between them.
    assert.ok(c.accept(5));
    assert.ok(c.accept(6));
    assert.equal(c.register(), 6, "zxid 6 had more events");
    // The new node replays zxid 6 from its history: the first event of it was delivered.
    const delivered = [6, 6, 7].filter((z) => c.accept(z));
    assert.deepEqual(delivered, [6, 7]);
    assert.equal(c.register(), 7);
    assert.deepEqual([7, 8].filter((z) => c.accept(z)), [8]);
  });

  test("a watch from an old zxid starts there, and a resume before any event asks for it again", () => {
    const c = new WatchCursor(3);
    assert.equal(c.register(), 3);
    c.registered(10);
    assert.equal(c.register(), 3, "nothing delivered yet: the replay is asked for again");
    assert.ok(c.accept(3));
    assert.ok(c.accept(3));
    assert.equal(c.register(), 3);
    assert.deepEqual([3, 3, 3, 4].filter((z) => c.accept(z)), [3, 4]);
  });
});

describe("sessions and watches", () => {
  const c = new TestCluster(3, 17040);
  const endpoints = () => c.nodes.map((n) => n.address);
  before(async () => {
    for (const n of c.nodes) c.start(n.id, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });
  after(() => c.cleanup());

  test("an ephemeral node lives with its session and goes with close(), with watch events for both", async () => {
    const watcher = await ZkSession.open({ endpoints: endpoints() });
    const events: WatchEvent[] = [];
    await watcher.watch("/group", { recursive: true }, (ev) => events.push(ev));
    const client = c.client();
    await client.put("/group", enc(""));
    const s = await ZkSession.open({ endpoints: endpoints(), ttlMs: 2000 });
    const created = await s.create("/group/member-", enc("host-a"), { ephemeral: true, sequential: true });
    assert.match(created.path, /^\/group\/member-\d{10}$/);
    const stat = (await client.get(created.path)).stat!;
    assert.equal(stat.ephemeralOwner, s.sessionId);
    await s.close();
    await assert.rejects(client.get(created.path), (e: ZkError) => e.code === ErrorCode.NO_NODE);
    // The delete and the parent's CHILDREN_CHANGED share a zxid but are two messages: wait for both.
    await until("the delete events", () => events.length >= 5);
    const kinds = events.map((e) => `${EventType[e.type]} ${e.path}`);
    assert.deepEqual(kinds, [
      "CREATED /group",
      `CREATED ${created.path}`,
      "CHILDREN_CHANGED /group",
      `DELETED ${created.path}`,
      "CHILDREN_CHANGED /group",
    ]);
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.zxid >= events[i - 1]!.zxid);
    client.close();
    await watcher.close();
  });

  test("a client that dies loses its ephemeral nodes once its TTL passes", async () => {
    const s = await ZkSession.open({ endpoints: endpoints(), ttlMs: 1500 });
    const { path } = await s.create("/dies", enc("x"), { ephemeral: true });
    s.abandon();
    const client = c.client();
    assert.ok((await client.exists(path)).exists, "still there within the TTL");
    await until("expiry", async () => !(await client.exists(path)).exists, 8000);
    client.close();
  });

  test("sequential numbering stays unique and gap-free under concurrent creates", async () => {
    const client = c.client();
    await client.put("/seq", enc(""));
    const sessions = await Promise.all([0, 1, 2].map((i) => ZkSession.open({ endpoints: [c.nodes[i]!.address] })));
    const paths = (await Promise.all(sessions.flatMap((s) => Array.from({ length: 20 }, () => s.create("/seq/n-", enc(""), { sequential: true }))))).map((r) => r.path);
    const nums = paths.map((p) => Number(p.slice("/seq/n-".length))).sort((a, b) => a - b);
    assert.deepEqual(nums, Array.from({ length: 60 }, (_, i) => i));
    for (const s of sessions) await s.close();
    client.close();
  });

  test("a watch resumes from a zxid with nothing missed or repeated", async () => {
    const client = c.client();
    await client.put("/r", enc("0"));
    const first: WatchEvent[] = [];
    const w = await ZkSession.open({ endpoints: endpoints() });
    const stop = await w.watch("/r", {}, (ev) => first.push(ev));
    for (let i = 1; i <= 3; i++) await client.put("/r", enc(String(i)));
    await until("three events", () => first.length === 3);
    stop();
    const last = first.at(-1)!.zxid;
    // Changes while nobody watches.
    const missed: number[] = [];
    for (let i = 4; i <= 6; i++) missed.push((await client.put("/r", enc(String(i)))).zxid);
    const resumed: WatchEvent[] = [];
    await w.watch("/r", { fromZxid: last + 1 }, (ev) => resumed.push(ev));
    await until("the missed events", () => resumed.length >= 3);
    const later = (await client.put("/r", enc("7"))).zxid;
    await until("the live event", () => resumed.length >= 4);
    assert.deepEqual(resumed.map((e) => e.zxid), [...missed, later]);
    await w.close();
    client.close();
  });

  test("a watch from before the kept history fails with COMPACTED naming the oldest zxid", async () => {
    const client = c.client();
    for (let i = 0; i < 120; i++) await client.put("/churn", enc(String(i)));
    const w = await ZkSession.open({ endpoints: endpoints() });
    await assert.rejects(w.watch("/churn", { fromZxid: 1 }, () => undefined), (e: ZkError) => e.code === ErrorCode.COMPACTED && /oldest zxid available is \d+/.test(e.message));
    await w.close();
    client.close();
  });

  test("when the node behind a session dies, the session moves on: its ephemeral node and its watch survive without gaps", async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const otherIds = c.nodes.filter((n) => n.id !== follower.id).map((n) => n.id);
    const others = otherIds.map((id) => c.node(id).address);
    const s = await ZkSession.open({ endpoints: [follower.address, ...others], ttlMs: 3000 });
    const { path } = await s.create("/survivor", enc("x"), { ephemeral: true });
    const seen: number[] = [];
    await s.watch("/counter", {}, (ev) => seen.push(ev.zxid));
    const writer = c.client(otherIds);
    const written: number[] = [];
    for (let i = 0; i < 3; i++) written.push((await writer.put("/counter", enc(String(i)))).zxid);
    await until("events before the kill", () => seen.length === 3);
    const moved = new Promise<string>((r) => s.once("reconnected", r));
    await c.stop(follower.id, "SIGKILL");
    for (let i = 3; i < 6; i++) written.push((await writer.put("/counter", enc(String(i)))).zxid);
    assert.notEqual(await moved, follower.address);
    await until("events after the move", () => seen.length >= 6);
    assert.deepEqual(seen, written, "every event once, in order");
    await sleep(3500); // longer than the TTL: keepalives now go through another node
    assert.ok((await writer.exists(path)).exists, "the ephemeral node outlived the node it was created through");
    await s.close();
    assert.equal((await writer.exists(path)).exists, false);
    writer.close();
    c.start(follower.id, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });

  test("when a session's node dies under load, every write in flight is sent again after the reconnect and applied exactly once", async () => {
    const leader = await c.waitForLeader();
    const target = c.nodes.find((n) => n.id !== leader)!;
    const rest = c.nodes.filter((n) => n.id !== target.id);
    const client = c.client(rest.map((n) => n.id));
    await client.put("/once", enc(""));
    const s = await ZkSession.open({ endpoints: [target.address, ...rest.map((n) => n.address)], ttlMs: 3000, timeoutMs: 8000 });
    // Sequential creates are not idempotent: a write applied twice would show as an extra child.
    const burst = Array.from({ length: 300 }, (_, i) => s.create("/once/item-", enc(String(i)), { sequential: true }));
    // Writes made once the session has noticed the break are held and sent after the reconnect.
    const later = new Promise<unknown[]>((resolve) => s.once("disconnected", () => resolve(Promise.all(Array.from({ length: 20 }, (_, i) => s.create("/once/item-", enc(`later-${i}`), { sequential: true }))))));
    await c.stop(target.id, "SIGKILL");
    const results = await Promise.all(burst);
    assert.equal((await later).length, 20);
    assert.equal(new Set(results.map((r) => r.path)).size, 300, "each write answered with its own node");
    for (const r of results) assert.equal(r.zxid, r.stat?.czxid, "a resent write is answered with the zxid it was applied at");
    const children = (await client.list("/once")).children;
    assert.equal(children.length, 320, "every write applied exactly once");
    const values = new Set<string>();
    for (const ch of children) values.add(new TextDecoder().decode((await client.get(`/once/${ch.name}`)).data));
    assert.equal(values.size, 320);
    await s.close();
    client.close();
    c.start(target.id, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });

  test("abandon() rejects at once a request held for a reconnect that cannot come", async () => {
    const leader = await c.waitForLeader();
    const target = c.nodes.find((n) => n.id !== leader)!;
    // Its only node dies, and the deadlines are a minute: before the fix the held write was
    // rejected only when its own timer fired, long after the session was abandoned.
    const s = await ZkSession.open({ endpoints: [target.address], ttlMs: 60_000, timeoutMs: 60_000 });
    const broken = new Promise<void>((resolve) => s.once("disconnected", () => resolve()));
    await c.stop(target.id, "SIGKILL");
    await broken;
    const held = s.put("/held", enc("x")).then(
      () => "applied",
      (e: unknown) => e,
    );
    s.abandon();
    const outcome = await Promise.race([held, sleep(5000).then(() => "still held 5 s after abandon()")]);
    assert.ok(outcome instanceof ZkError, String(outcome));
    assert.equal(outcome.code, ErrorCode.UNAVAILABLE);
    assert.match(outcome.message, /closed while the request waited for a reconnect; it may or may not have been applied/);
    c.start(target.id, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });

  test("when the leader dies under a session's burst through a follower, every write is sent again and applied exactly once", async () => {
    const leader = await c.waitForLeader();
    const via = c.nodes.find((n) => n.id !== leader)!;
    const rest = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const client = c.client(rest);
    await client.put("/through", enc(""));
    // Only the follower: its forwards to the dead leader fail ("leader ... was replaced"), and
    // the session must send them again once a new leader is there, not hand the error back.
    const s = await ZkSession.open({ endpoints: [via.address], ttlMs: 5000, timeoutMs: 10_000 });
    const burst = Array.from({ length: 300 }, (_, i) => s.create("/through/item-", enc(String(i)), { sequential: true }));
    await c.stop(leader, "SIGKILL");
    const results = await Promise.all(burst);
    assert.equal(new Set(results.map((r) => r.path)).size, 300, "each write answered with its own node");
    const children = (await client.list("/through")).children;
    assert.equal(children.length, 300, "every write applied exactly once");
    await s.close();
    client.close();
    c.start(leader, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });

  test("a leader change does not expire healthy sessions", async () => {
    const s = await ZkSession.open({ endpoints: endpoints(), ttlMs: 2000 });
    const { path } = await s.create("/healthy", enc("x"), { ephemeral: true });
    const leader = await c.waitForLeader();
    await c.stop(leader, "SIGKILL");
    const rest = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    await c.waitForLeader(rest);
    await sleep(2500);
    const client = c.client(rest);
    assert.ok((await client.exists(path)).exists);
    await s.close();
    client.close();
    c.start(leader, ["--watch-history-slots", "50"]);
    await c.waitForLeader();
  });
});
