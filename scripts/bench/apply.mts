// The write path of one member without the network: entries saved and applied in batches
// through the real store and tree, as a leader's Readys do (node machine: one fsynced
// transaction accepts a batch of entries, the next applies it with the chosen index and the
// applied index, without an fsync). Prints the CPU (user + system) and wall time per write
// for each batch size.
//
//   node_modules/.bin/tsx scripts/bench/apply.mts                  # batches 1, 8, 64
//   WRITES=20000 BATCHES=1,64 KEYS=1000 node_modules/.bin/tsx scripts/bench/apply.mts
//   TREES=sqlite,memory node_modules/.bin/tsx scripts/bench/apply.mts   # the tree's table sets in turn
//
// Each write is a put of VALUE_BYTES to one of KEYS existing keys with its own request id
// and the client's (empty) principals, like the `zk-cli bench put` and compare.sh loads.
// TREES names where the tree's rows live (src/tree/tables.ts): "sqlite", the store's tables
// (the daemon today), or "memory", MemTreeTables (the watch history and the acceptor state
// stay in the store either way); each batch size runs once per tree, in turn.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SqliteAcceptorStore } from "../../packages/node/src/storage/index.js";
import { MemTreeTables, WatchLog, ZnodeTree, encodeCommand } from "../../packages/node/src/tree/index.js";
import { applyEntries } from "../../packages/node/src/machine.js";
import type { Command } from "../../packages/node/src/gen/zk/v1/types.js";
import type { Entry } from "../../packages/node/src/paxos/types.js";

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const WRITES = env("WRITES", 10_000);
const KEYS = env("KEYS", 1000);
const VALUE_BYTES = env("VALUE_BYTES", 100);
const BATCHES = (process.env.BATCHES ?? "1,8,64").split(",").map(Number);
const TREES = (process.env.TREES ?? "sqlite").split(",");
for (const t of TREES) if (t !== "sqlite" && t !== "memory") throw new Error(`TREES: unknown tree ${JSON.stringify(t)} (sqlite or memory)`);
const ballot = { round: 1, nodeId: "n1" };
const value = new Uint8Array(VALUE_BYTES).fill(7);

function run(batch: number, where: string): { cpuUs: number; wallUs: number } {
  const dir = mkdtempSync(join(tmpdir(), "zk-bench-apply-"));
  try {
    const store = SqliteAcceptorStore.open(join(dir, "zk.db"), { clusterId: "bench", nodeId: "n1" }, { members: [{ id: "n1", address: "127.0.0.1:1" }] });
    const tree = new ZnodeTree(where === "memory" ? new MemTreeTables() : store.db);
    const watchLog = new WatchLog(store.db);
    let slot = 0;
    let chosen = 0;
    const t0 = Date.now();
    const command = (i: number): Uint8Array => {
      const cmd: Command = {
        requestId: `${(t0 + i).toString(36)}-bench-${i}`,
        timeMs: t0 + i,
        nonce: 0,
        auth: { ids: [] },
        op: { $case: "put", value: { path: `/k${i % KEYS}`, data: value, expectedVersion: undefined } },
      };
      return encodeCommand(cmd);
    };
    const step = (n: number) => {
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push({ slot: ++slot, ballot, command: command(slot) });
      store.transaction(() => store.save({ promised: ballot, chosen }, entries));
      chosen = slot;
      store.transaction(
        () => {
          store.save({ promised: ballot, chosen }, []);
          applyEntries(tree, watchLog, entries);
          store.setApplied(chosen);
        },
        { durable: false },
      );
    };
    // Create the keys first (unmeasured), then measure overwrites.
    for (let i = 0; i < KEYS; i += 64) step(Math.min(64, KEYS - i));
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    for (let done = 0; done < WRITES; done += batch) step(Math.min(batch, WRITES - done));
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(cpu0);
    store.close();
    return { cpuUs: (cpu.user + cpu.system) / WRITES, wallUs: (wall * 1000) / WRITES };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`| tree | batch | writes | CPU µs/write | wall µs/write |`);
console.log(`|---|---|---|---|---|`);
for (const b of BATCHES) {
  for (const where of TREES) {
    const r = run(b, where);
    console.log(`| ${where} | ${b} | ${WRITES} | ${r.cpuUs.toFixed(1)} | ${r.wallUs.toFixed(1)} |`);
  }
}
