// A leader's answer and its chosen-index notification, on a 3-node cluster of NodeMachines
// driven by hand (real SQLite stores, messages delivered by the test, no timers): with one
// client's write, the answer is settled before the Accepts that tell the followers it was
// chosen leave (machine.ts notifiesAfterAnswers), and the followers still learn of it.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeMachine, type MachinePlantedBugs } from "../src/machine.js";
import { handPorts } from "./machine-ports.js";
import { SqliteAcceptorStore } from "../src/storage/sqlite-store.js";
import type { Message } from "../src/paxos/types.js";

const members = [
  { id: "n1", address: "127.0.0.1:1" },
  { id: "n2", address: "127.0.0.1:2" },
  { id: "n3", address: "127.0.0.1:3" },
];
const TICK_MS = 10;

describe("a leader's chosen-index notification", () => {
  const dir = mkdtempSync(join(tmpdir(), "zk-machine-notify-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let clusters = 0;

  /** Three machines; `events` records answers and the leader's notifications in the order they happen. */
  function cluster(plantedBugs?: MachinePlantedBugs) {
    const c = ++clusters;
    let nowMs = 0;
    const inbox: Message[] = [];
    const deferred: (() => void)[] = [];
    const events: string[] = [];
    const machines = new Map<string, NodeMachine>();
    const stores: SqliteAcceptorStore[] = [];
    for (const [i, { id }] of members.entries()) {
      const store = SqliteAcceptorStore.open(join(dir, `c${c}-${id}.db`), { clusterId: "t", nodeId: id }, { members });
      stores.push(store);
      const m = new NodeMachine(
        { id, clusterId: "t", members, tickMs: TICK_MS, electionTimeoutTicks: 10 + 10 * i, heartbeatTicks: 3, dataBytesMax: 1 << 20, seed: 1 + i, nonceBase: (i + 1) * 2 ** 30, plantedBugs },
        store,
        handPorts(
          { now: () => nowMs, wallNow: () => 1_700_000_000_000 + nowMs },
          {
            send: (msgs) => {
              for (const msg of msgs) {
                if (msg.type === "accept" && msg.commands.length === 0 && msg.chosen > 0) events.push(`notify ${msg.to} chosen ${msg.chosen}`);
                inbox.push(msg);
              }
            },
            defer: (fn) => void deferred.push(fn),
          },
        ),
      );
      machines.set(id, m);
    }
    /** One turn of every machine: deliver, run the Ready loops, then what they deferred. */
    const turn = () => {
      for (const msg of inbox.splice(0)) machines.get(msg.to)!.receive([msg]);
      for (const m of machines.values()) m.process();
      for (const fn of deferred.splice(0)) fn();
    };
    // Until two turns in a row deliver and defer nothing (a turn's Ready loop may produce more).
    const settle = () => {
      for (let i = 0, idle = 0; i < 100 && idle < 2; i++) {
        idle = inbox.length === 0 && deferred.length === 0 ? idle + 1 : 0;
        turn();
      }
    };
    // n1 has the shortest election timeout: tick until it leads.
    for (let i = 0; i < 200 && machines.get("n1")!.role !== "leader"; i++) {
      nowMs += TICK_MS;
      for (const m of machines.values()) m.tick();
      settle();
    }
    assert.equal(machines.get("n1")!.role, "leader");
    settle();
    const close = () => {
      for (const m of machines.values()) m.stop();
      for (const s of stores) s.close();
    };
    return { machines, events, settle, close };
  }

  const put = (requestId: string) => ({ requestId, timeMs: 0, nonce: 0, op: { $case: "put" as const, value: { path: "/k", data: new Uint8Array([1]), expectedVersion: undefined } } });

  /** One write to the leader: the events from its proposal on. */
  function writeOnce(plantedBugs?: MachinePlantedBugs): { events: string[]; followersApplied: number[]; slot: number } {
    const { machines, events, settle, close } = cluster(plantedBugs);
    try {
      events.length = 0;
      let slot = 0;
      machines.get("n1")!.write(put("k-1"), 60_000, false, (r) => {
        assert.ok(!(r instanceof Error), String(r));
        slot = r.zxid;
        events.push(`answer ${r.zxid}`);
      });
      settle();
      assert.ok(slot > 0, "the write was answered");
      // Followers apply at their ticks (or in batches): make them apply what they know is chosen.
      for (const id of ["n2", "n3"]) machines.get(id)!.applyChosen();
      return { events, followersApplied: ["n2", "n3"].map((id) => machines.get(id)!.appliedIndex), slot };
    } finally {
      close();
    }
  }

  test("one client's write: answered before the followers are told it was chosen, and they learn it", () => {
    const { events, followersApplied, slot } = writeOnce();
    const answer = events.indexOf(`answer ${slot}`);
    const notified = events.findIndex((e) => e.startsWith("notify ") && Number(e.split(" ").pop()) >= slot);
    assert.ok(answer >= 0 && notified >= 0, events.join("; "));
    assert.ok(answer < notified, `the notification left before the answer: ${events.join("; ")}`);
    assert.deepEqual(followersApplied, [slot, slot]);
  });

  test("with the notification sent first (the order before), the test sees it", () => {
    const { events, slot } = writeOnce({ notifyBeforeAnswers: true });
    const answer = events.indexOf(`answer ${slot}`);
    const notified = events.findIndex((e) => e.startsWith("notify ") && Number(e.split(" ").pop()) >= slot);
    assert.ok(notified >= 0 && notified < answer, events.join("; "));
  });
});
