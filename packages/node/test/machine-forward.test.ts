// A follower's forwarded write, driven by hand through one NodeMachine with scripted leaders
// (no network, no simulator): what the client finally hears when the write went to a leader
// whose disk filled and then to its successor. The first attempt may still be chosen, so a
// later "not applied" must not be passed on as the whole story.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeMachine, type WriteOutcome } from "../src/machine.js";
import { handPorts } from "./machine-ports.js";
import { SqliteAcceptorStore } from "../src/storage/sqlite-store.js";
import { ZkError } from "../src/net/errors.js";
import { writeMayHaveApplied } from "../src/client/retry.js";
import { ErrorCode, Outcome } from "../src/gen/zk/v1/types.js";
import type { ForwardResponse } from "../src/gen/zk/v1/peer.js";
import type { Message } from "../src/paxos/types.js";

const members = [
  { id: "n1", address: "127.0.0.1:1" },
  { id: "n2", address: "127.0.0.1:2" },
  { id: "n3", address: "127.0.0.1:3" },
];

/** An Accept from `leader` at `round`: enough for a follower to take it as its leader. */
function acceptFrom(leader: string, round: number): Message {
  return { type: "accept", from: leader, to: "n3", ballot: { round, nodeId: leader }, firstSlot: 1, commands: [], chosen: 0, seq: 0, yourIncarnation: 0, electionTail: 0 };
}

describe("a follower's forwarded write", () => {
  const dir = mkdtempSync(join(tmpdir(), "zk-machine-forward-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  let stores = 0;
  /** A follower n3 of n1, with every forward held for the test to answer. */
  function follower() {
    const store = SqliteAcceptorStore.open(join(dir, `zk-${++stores}.db`), { clusterId: "t", nodeId: "n3" }, { members });
    const forwards: { to: string; done: (r: ForwardResponse | ZkError) => void }[] = [];
    const nowMs = 0;
    const m = new NodeMachine(
      { id: "n3", clusterId: "t", members, tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, dataBytesMax: 1 << 20, seed: 1, nonceBase: 1 << 20 },
      store,
      handPorts({ now: () => nowMs, wallNow: () => 1_700_000_000_000 + nowMs }, { forward: (to, _req, _timeoutMs, done) => void forwards.push({ to, done }) }),
    );
    m.receive([acceptFrom("n1", 1)]);
    m.process();
    assert.equal(m.leaderId, "n1");
    return { m, forwards, close: () => (m.stop(), store.close()) };
  }
  const put = (requestId: string) => ({ requestId, timeMs: 0, nonce: 0, op: { $case: "put" as const, value: { path: "/k", data: new Uint8Array([1]), expectedVersion: undefined } } });
  const diskFull = (): ForwardResponse => ({ id: 0, zxid: 0, outcome: { $case: "error", value: new ZkError(ErrorCode.CANNOT_PERSIST, "n1: disk full at /d/zk.db, writes refused; the write was not acknowledged and may or may not take effect").toDetail() } });

  test("sent to a leader whose disk filled, then to its successor that did not apply it: the outcome stays unknown", () => {
    const { m, forwards, close } = follower();
    try {
      let answer: WriteOutcome | ZkError | null = null;
      m.write(put("client-key-1"), 60_000, false, (r) => (answer = r));
      assert.equal(forwards.length, 1);
      assert.equal(forwards[0]!.to, "n1");
      // n1's disk filled while the write was in its log: it may still be chosen.
      forwards[0]!.done(diskFull());
      assert.equal(answer, null, "the write waits for another leader");
      // n2 takes over; the write goes to it with the same key, and n2 refuses it unapplied.
      m.receive([acceptFrom("n2", 2)]);
      m.process();
      assert.equal(forwards.length, 2);
      assert.equal(forwards[1]!.to, "n2");
      forwards[1]!.done({ id: 0, zxid: 0, outcome: { $case: "error", value: new ZkError(ErrorCode.UNAVAILABLE, "leadership changed before the write was chosen; it was not applied", { outcome: Outcome.NOT_APPLIED }).toDetail() } });
      const z = answer as WriteOutcome | ZkError | null;
      assert.ok(z instanceof ZkError, `expected an error, got ${JSON.stringify(z)}`);
      assert.equal(z.extra.outcome, Outcome.UNKNOWN, `outcome ${z.extra.outcome}: ${z.message}`);
      assert.equal(writeMayHaveApplied(z), true);
      assert.match(z.message, /disk full .*; sent again: leadership changed/);
    } finally {
      close();
    }
  });

  test("without a deduplication key it is not sent again: the disk-full answer, outcome unknown, at once", () => {
    const { m, forwards, close } = follower();
    try {
      let answer: WriteOutcome | ZkError | null = null;
      m.write(put(""), 60_000, false, (r) => (answer = r));
      forwards[0]!.done(diskFull());
      m.receive([acceptFrom("n2", 2)]);
      m.process();
      assert.equal(forwards.length, 1, "a write without a key went to a second leader: it could be applied twice");
      const z = answer as WriteOutcome | ZkError | null;
      assert.ok(z instanceof ZkError && z.code === ErrorCode.CANNOT_PERSIST, `expected CANNOT_PERSIST, got ${JSON.stringify(z)}`);
      assert.equal(writeMayHaveApplied(z), true);
    } finally {
      close();
    }
  });
});
