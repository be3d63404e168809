// One NodeMachine with its tree in memory (zk-node --tree-in-memory) on a simulated disk,
// driven by hand: a disk alarm, the checkpoint after it, and a restart on that store. The
// maps apply a chosen slot without a transaction (its chosen index waits for the next one),
// so a core reloaded in the alarm knows more chosen slots than the store says; the next
// checkpoint must write that chosen index too, or the store records an applied index past its
// chosen one and the node cannot start on it again. And a node halted by a failed fsync
// writes nothing more, a checkpoint included.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DISK_PROBE_MS, NodeMachine, type MachineOptions, type WriteOutcome } from "../src/machine.js";
import { MemAcceptorStore } from "../src/storage/mem-store.js";
import { initialConfig } from "../src/paxos/config.js";
import { writeMembership } from "../src/membership.js";
import type { Command } from "../src/gen/zk/v1/types.js";
import { ZkError } from "../src/net/errors.js";
import { SimDisk } from "./sim/replica.js";
import { handPorts } from "./machine-ports.js";

const members = [{ id: "n1", address: "n1:1" }];
const TICK_MS = 10;

/** One machine alone on a simulated disk: `full` and `syncFails` are the disk's faults. */
function single(extra: Partial<MachineOptions> = {}) {
  const faults = { full: false, syncFails: false };
  let nowMs = 0;
  const deferred: (() => void)[] = [];
  const disk = new SimDisk(
    new MemAcceptorStore(),
    0,
    "n1",
    { full: () => faults.full, cutBeforeWrite: () => false, sync: (done) => done(faults.syncFails ? Object.assign(new Error("fsync failed"), { code: "EIO" }) : null) },
    (db) => writeMembership(db, 0, initialConfig(members)),
  );
  const opts: MachineOptions = { id: "n1", clusterId: "t", members, tickMs: TICK_MS, electionTimeoutTicks: 10, heartbeatTicks: 3, dataBytesMax: 1 << 20, seed: 1, nonceBase: 2 ** 30, treeInMemory: true, ...extra };
  const start = () =>
    new NodeMachine(opts, disk, handPorts({ now: () => nowMs, wallNow: () => 1_700_000_000_000 + nowMs }, { defer: (fn) => void deferred.push(fn), fatal: () => undefined }));
  const node = { m: start(), disk, faults, restart: () => (node.m = start()), run, put };
  function run(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      nowMs += TICK_MS;
      node.m.tick();
      for (let k = 0; k < 10 && deferred.length > 0; k++) for (const fn of deferred.splice(0)) fn();
      node.m.process();
    }
  }
  function put(key: string): WriteOutcome | ZkError | undefined {
    let out: WriteOutcome | ZkError | undefined;
    const command: Command = { requestId: `r-${key}`, timeMs: 1_700_000_000_000 + nowMs, nonce: 0, op: { $case: "put", value: { path: key, data: new TextEncoder().encode("v"), expectedVersion: undefined } } };
    node.m.write(command, nowMs + 5000, false, (r) => (out = r));
    run(5);
    return out;
  }
  run(40);
  assert.equal(node.m.role, "leader", "a node alone elects itself");
  return node;
}

describe("a tree in memory", () => {
  test("the checkpoint after a disk alarm writes the chosen index the reloaded core knows: the node starts again on its store", () => {
    const n = single();
    const first = n.put("/a");
    assert.ok(first !== undefined && !(first instanceof ZkError), `the first write is applied: ${String(first)}`);
    assert.ok(n.disk.mem.durableHardState().chosen < n.m.appliedIndex, "the slot applied last has its chosen index not written yet (the case this test is about)");

    n.faults.full = true;
    const refused = n.put("/b");
    assert.ok(refused instanceof ZkError && n.m.cannotPersist, "a full disk refuses the next write and puts the node in its disk alarm");
    n.faults.full = false;
    n.run(DISK_PROBE_MS / TICK_MS + 2);
    assert.ok(!n.m.cannotPersist, "the disk takes writes again");
    assert.ok(n.m.checkpoint(), "the checkpoint is written");
    assert.ok(n.disk.applied() <= n.disk.mem.durableHardState().chosen, `the store's applied index ${n.disk.applied()} is not past its chosen index ${n.disk.mem.durableHardState().chosen}`);

    n.m.stop();
    n.restart();
    assert.equal(n.m.tree.get("/a")?.stat.version, 0, "restarted on its store, the node has the write");
  });

  test("a node halted by a failed fsync writes no checkpoint (its store is to be rebuilt, not added to)", () => {
    const n = single({ fsyncOffLoop: true });
    assert.ok(!(n.put("/a") instanceof ZkError), "the first write is applied");
    const before = n.disk.applied();
    n.faults.syncFails = true;
    n.put("/b");
    assert.ok(n.m.halted, "the failed fsync stopped the machine");
    assert.equal(n.m.checkpoint(), false, "no checkpoint");
    assert.equal(n.disk.applied(), before, "the store's applied index did not move");
  });
});
