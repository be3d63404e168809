// What one checkpoint of a tree in memory (zk-node --tree-in-memory) costs in one process:
// KEYS znodes are created and checkpointed, then ROUNDS times PER puts to random keys (each
// with its own request id, as zk-cli bench and compare.sh write) are applied in batches of 64
// and the checkpoint that follows is timed (MemTreeTables.writeCheckpoint and the commit,
// without an fsync, as the running loop's checkpoints are). Prints the median, min and max.
//
//   node_modules/.bin/tsx scripts/bench/checkpoint.mts
//   ROUNDS=50 PER=5000 KEYS=1000 node_modules/.bin/tsx scripts/bench/checkpoint.mts
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
const KEYS = env("KEYS", 1000);
const ROUNDS = env("ROUNDS", 30);
const PER = env("PER", 1000);
const ballot = { round: 1, nodeId: "n1" };
const value = new Uint8Array(100).fill(7);
const dir = mkdtempSync(join(tmpdir(), "zk-ckpt-"));
const store = SqliteAcceptorStore.open(join(dir, "zk.db"), { clusterId: "bench", nodeId: "n1" }, { members: [{ id: "n1", address: "127.0.0.1:1" }] });
const mem = new MemTreeTables();
const tree = new ZnodeTree(mem);
const watchLog = new WatchLog(store.db);
let slot = 0;
const t0 = Date.now();
let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % KEYS);
const command = (i: number, key: number): Uint8Array => encodeCommand({ requestId: `${(t0 + i).toString(36).padStart(9, "0")}.benchprefix.${i.toString(36)}`, timeMs: t0 + i, nonce: 0, auth: { ids: [] }, op: { $case: "put", value: { path: `/k${key}`, data: value, expectedVersion: undefined } } } as Command);
const step = (n: number, create: boolean) => {
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) { ++slot; entries.push({ slot, ballot, command: command(slot, create ? slot - 1 : rnd()) }); }
  store.transaction(() => { store.save({ promised: ballot, chosen: slot }, entries); applyEntries(tree, watchLog, entries); }, { durable: false });
};
const checkpoint = (): number => {
  const a = performance.now();
  store.transaction(() => { mem.writeCheckpoint(store.db); store.setApplied(slot); }, { durable: false });
  mem.checkpointed();
  return performance.now() - a;
};
for (let i = 0; i < KEYS; i += 64) step(Math.min(64, KEYS - i), true);
checkpoint();
const times: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (let d = 0; d < PER; d += 64) step(Math.min(64, PER - d), false);
  times.push(checkpoint());
}
times.sort((a, b) => a - b);
console.log(`checkpoint after ${PER} puts to ${KEYS} keys, ${ROUNDS} rounds: p50 ${times[ROUNDS >> 1]!.toFixed(2)} ms, min ${times[0]!.toFixed(2)}, max ${times[ROUNDS - 1]!.toFixed(2)}`);
store.close();
rmSync(dir, { recursive: true, force: true });
