// Membership changes through real nodes in one process (ZkNode + gRPC peers on 127.0.0.1):
// a member joins with an empty store, is added as a learner, catches up and is promoted;
// leadership moves to it; the old leader is removed; bad requests are refused with their
// codes. The CLI and multi-process paths are in packages/cli/test/membership.test.ts.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { ZkNode } from "../src/node.js";
import { NodeServer } from "../src/net/server.js";
import { silentLogger } from "../src/log.js";
import { SqliteAcceptorStore } from "../src/storage/sqlite-store.js";
import { ErrorCode, ZkError } from "../src/client/index.js";
import { sleep } from "./support/nodes.js";

const BASE = 29500; // below the kernel's ephemeral ports (32768+)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-membership-node-"));
const running: { node: ZkNode; server: NodeServer; store: SqliteAcceptorStore }[] = [];
after(async () => {
  for (const r of running) {
    r.node.stop();
    r.server.server.forceShutdown();
    r.store.close();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const address = (i: number) => `127.0.0.1:${BASE + i}`;
const first = [1, 2, 3].map((i) => ({ id: `n${i}`, address: address(i) }));

async function startNode(i: number, opts: { join?: boolean; members: { id: string; address: string }[] }): Promise<ZkNode> {
  const id = `n${i}`;
  const store = SqliteAcceptorStore.open(path.join(tmp, `${id}.db`), { clusterId: "m", nodeId: id }, { create: true, members: opts.members, ...(opts.join ? { join: true } : {}) });
  const node = new ZkNode({ id, clusterId: "m", members: opts.members, tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, dataBytesMax: 1 << 20 }, store, silentLogger());
  const server = new NodeServer(node, "m", address(i), silentLogger());
  await server.bind();
  node.start();
  running.push({ node, server, store });
  return node;
}

function nodeOf(id: string): ZkNode {
  return running.find((r) => r.node.id === id)!.node;
}

async function until<T>(what: string, f: () => T | null | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const leader = () => until("a leader", () => running.map((r) => r.node).find((n) => n.role === "leader" && running.every((o) => o.node.leaderId === null || o.node.leaderId === n.id || o.node.membership().config.members.every((m) => m.id !== o.node.id))));
const put = (n: ZkNode, p: string) => n.write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "create", value: { path: p, data: new Uint8Array([1]), ephemeral: false, sequential: false, sessionId: 0 } } }, Date.now() + 5000);
const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: ZkError) => ErrorCode[e.code]);

describe("membership through real nodes", () => {
  test("join, add as learner, catch up, promote, transfer leadership to it, remove the old leader", async () => {
    for (const i of [1, 2, 3]) await startNode(i, { members: first });
    let l = await leader();
    for (let k = 0; k < 20; k++) await put(l, `/before-${k}`);
    // n4 joins with an empty store: a learner of nothing until the log says otherwise.
    const n4 = await startNode(4, { join: true, members: [...first, { id: "n4", address: address(4) }] });
    assert.equal(n4.role, "learner");
    const added = await l.changeMembership({ kind: "add", id: "n4", address: address(4), learner: false }, Date.now() + 10_000);
    assert.deepEqual(added.config.members.map((m) => `${m.id}:${m.voter ? "voter" : "learner"}`), ["n1:voter", "n2:voter", "n3:voter", "n4:voter"], "added as a learner, then promoted once caught up");
    await until("n4 applies the promotion", () => n4.membership().config.version === added.config.version);
    assert.equal(n4.role, "follower");
    assert.ok(n4.tree.get("/before-19"), "the writes before it joined reached it");
    // Conflicts and bad input.
    assert.equal(await code(l.changeMembership({ kind: "add", id: "n4", address: address(9), learner: true }, Date.now() + 5000)), "MEMBERSHIP_CONFLICT");
    assert.equal(await code(l.changeMembership({ kind: "add", id: "n9", address: address(2), learner: true }, Date.now() + 5000)), "MEMBERSHIP_CONFLICT");
    assert.equal(await code(l.changeMembership({ kind: "add", id: "n9", address: "nowhere", learner: true }, Date.now() + 5000)), "INVALID_ARGUMENT");
    assert.equal(await code(l.changeMembership({ kind: "promote", id: "n9" }, Date.now() + 5000)), "INVALID_ARGUMENT");
    const follower = running.map((r) => r.node).find((n) => n.role === "follower")!;
    assert.equal(await code(follower.changeMembership({ kind: "promote", id: "n4" }, Date.now() + 5000)), "NOT_LEADER");
    // Leadership to n4; writes go on there.
    const moved = await l.transferLeadership("n4", Date.now() + 10_000);
    assert.equal(moved.leaderId, "n4");
    l = await until("n4 leads", () => (n4.role === "leader" ? n4 : null));
    await put(n4, "/after-transfer");
    // Remove the old leader; the rest go on without it.
    const old = running.map((r) => r.node).find((n) => n.id !== "n4" && n.id === added.leaderId) ?? nodeOf("n1");
    const removed = await n4.changeMembership({ kind: "remove", id: old.id, force: false }, Date.now() + 10_000);
    assert.ok(!removed.config.members.some((m) => m.id === old.id));
    assert.ok(removed.config.removed.includes(old.id));
    await put(n4, "/after-remove");
    for (const r of running) {
      if (r.node.id === old.id) continue;
      await until(`${r.node.id} applies /after-remove`, () => r.node.tree.get("/after-remove"));
    }
    // The leader asked to remove itself hands leadership over first and names its successor.
    const refer = await n4.changeMembership({ kind: "remove", id: "n4", force: false }, Date.now() + 10_000).then(
      () => null,
      (e: ZkError) => e,
    );
    assert.equal(refer && ErrorCode[refer.code], "NOT_LEADER", refer?.message);
    assert.ok(refer!.extra.leaderId, `NOT_LEADER names the new leader: ${JSON.stringify(refer)}`);
    const next = nodeOf(refer!.extra.leaderId!);
    await until(`${next.id} leads and has heard from the others`, () => next.role === "leader" && [...next.memberProgress().values()].some((p) => p.msSinceHeard !== null));
    const gone = await next.changeMembership({ kind: "remove", id: "n4", force: false }, Date.now() + 10_000);
    assert.ok(!gone.config.members.some((m) => m.id === "n4"));
    await until("n4 learns it was removed", () => n4.role === "learner", 5000).catch((e) => {
      throw new Error(`${e.message}: n4 ${n4.role} chosen ${n4.core.chosen} cfg v${n4.membership().config.version}; ${next.id} chosen ${next.core.chosen} cfg v${next.membership().config.version} progress ${JSON.stringify([...next.core.followerProgress()])}`);
    });
    // An id is never reused.
    assert.equal(await code(next.changeMembership({ kind: "add", id: old.id, address: address(8), learner: true }, Date.now() + 5000)), "MEMBERSHIP_CONFLICT");
  });
});
