// Session keepalive and expiry on the leader, in-process (one-member clusters, no sockets):
// a new leader does not call a live session expired before it has applied its election
// tail; after the leader could not run for a while (an event-loop stall), sessions get a
// grace period instead of expiring at once.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ZkNode } from "../src/node.js";
import { silentLogger } from "../src/log.js";
import { SqliteAcceptorStore } from "../src/storage/sqlite-store.js";
import { encodeCommand } from "../src/tree/index.js";
import { ErrorCode, ZkError } from "../src/client/index.js";
import { sleep } from "./support/nodes.js";

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-session-expiry-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let files = 0;
function openStore(): SqliteAcceptorStore {
  return SqliteAcceptorStore.open(path.join(tmp, `n${files++}.db`), { clusterId: "c", nodeId: "n1" });
}

function singleNode(store: SqliteAcceptorStore): ZkNode {
  return new ZkNode(
    { id: "n1", clusterId: "c", members: [{ id: "n1", address: "127.0.0.1:1" }], tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, dataBytesMax: 1 << 20 },
    store,
    silentLogger(),
  );
}

describe("session keepalive and expiry on the leader", () => {
  test("a new leader answers a keepalive for a session in its unapplied election tail: alive, not SESSION_EXPIRED", async () => {
    const store = openStore();
    // A previous leader's open_session was accepted here but not yet known to be chosen:
    // the new leader recovers it in Phase 1 and applies it only after it leads.
    const ballot = { round: 1, nodeId: "n1" };
    const open = encodeCommand({ requestId: "", timeMs: 1, nonce: 1, op: { $case: "openSession", value: { sessionId: 77, ttlMs: 5000 } } });
    store.save({ promised: ballot, chosen: 0 }, [{ slot: 1, ballot, command: open }]);
    const node = singleNode(store);
    try {
      const answer = new Promise<string>((resolve) => {
        node.on("election", (ev) => {
          if (ev.role !== "leader") return;
          // The client's keepalive arrives the moment this node leads.
          const appliedThen = node.appliedIndex;
          node.keepalive([77], Date.now() + 5000).then(
            () => resolve(`alive (applied ${appliedThen} when it arrived)`),
            (e: ZkError) => resolve(`${ErrorCode[e.code]}: ${e.message}`),
          );
        });
      });
      node.start();
      assert.equal(await answer, "alive (applied 0 when it arrived)");
      assert.ok(node.tree.session(77), "the session lives");
      // A session the log never opened is expired, as before.
      await assert.rejects(node.keepalive([78], Date.now() + 5000), (e: ZkError) => e.code === ErrorCode.SESSION_EXPIRED);
    } finally {
      node.stop();
      store.close();
    }
  });

  test("after an event-loop stall longer than the TTL, sessions get a grace period before any expires", async () => {
    const store = openStore();
    const node = singleNode(store);
    try {
      const leading = new Promise<void>((resolve) => node.on("election", (ev) => ev.role === "leader" && resolve()));
      node.start();
      await leading;
      const { sessionId, ttlMs } = await node.openSession(1000, Date.now() + 5000);
      assert.equal(ttlMs, 1000);
      await node.keepalive([sessionId], Date.now() + 5000);
      await sleep(250); // the session check has seen it
      // The process cannot run for longer than the TTL (a GC pause, SIGSTOP, a stuck loop).
      const stallEnd = performance.now() + 1500;
      while (performance.now() < stallEnd) {
        // busy
      }
      // The keepalives the client sent meanwhile would be queued behind the expiry timer; it
      // must not expire the session on its first run after the stall.
      await sleep(400);
      assert.ok(node.tree.session(sessionId), "not expired right after the stall");
      // Without keepalives it does expire, one TTL after the stall.
      const deadline = Date.now() + 5000;
      while (node.tree.session(sessionId) && Date.now() < deadline) await sleep(50);
      assert.equal(node.tree.session(sessionId), null, "expired a TTL after the stall");
    } finally {
      node.stop();
      store.close();
    }
  });
});
