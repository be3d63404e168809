// Snapshot and compaction benchmark, on real store files in one process (no cluster): the
// same store and tree code the driver runs, with entries saved and applied in batches as a
// Ready does.
//
//   1. Database size over WRITES writes, without compaction and with it (a snapshot point
//      every SNAPSHOT_ENTRIES applied entries, RETAIN_ENTRIES kept, compactStep() run to done
//      after each), and the longest single compactStep().
//      Then the restart time of a node on each store: open it and build the node state
//      machine (src/machine.ts) on it, as zk-node does at start (before it binds its port).
//   2. For a state of about STATE_MB: snapshot create time (and the longest event-loop stall
//      while it streams: a 1 ms timer runs beside it), verify time, install time into a new
//      store (restore) and into a live one (one transaction).
//
// Usage: pnpm --filter @zk/node exec tsx scripts/bench-snapshot.ts   (or scripts/bench/snapshot.sh)
// Env: WRITES (default 200000), VALUE_BYTES (100), KEYS (10000), SNAPSHOT_ENTRIES (10000),
// RETAIN_ENTRIES (5000), STATE_MB (100), DIR (a temp dir, removed after).
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SqliteAcceptorStore, openSnapshotSource, snapshotChunks, verifySnapshotFile, writeChunksToFile } from "../src/storage/index.js";
import { ZnodeTree, encodeCommand } from "../src/tree/index.js";
import type { Command } from "../src/gen/zk/v1/types.js";
import { NodeMachine } from "../src/machine.js";

/** zk-node's start, up to binding its port: open the store, build the machine (core, tree). */
function restartMs(path: string): number {
  const t = performance.now();
  const store = SqliteAcceptorStore.open(path, { clusterId: "bench", nodeId: "n1" }, { members });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const m = new NodeMachine(
    { id: "n1", clusterId: "bench", members, tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, dataBytesMax: 1 << 20, seed: 1, nonceBase: 1 },
    store,
    { clock: { now: () => performance.now(), wallNow: () => Date.now() }, log: quiet, send: () => undefined, forward: () => undefined, cancelForwards: () => undefined, schedule: () => undefined, defer: (fn) => fn(), election: () => undefined, applied: () => undefined, sendSnapshot: () => undefined },
  );
  const ms = performance.now() - t;
  if (m.appliedIndex === 0) throw new Error("the restarted machine applied nothing");
  store.close();
  return ms;
}

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const WRITES = env("WRITES", 200_000);
const VALUE_BYTES = env("VALUE_BYTES", 100);
const KEYS = env("KEYS", 10_000);
const SNAPSHOT_ENTRIES = env("SNAPSHOT_ENTRIES", 10_000);
const RETAIN_ENTRIES = env("RETAIN_ENTRIES", 5_000);
const STATE_MB = env("STATE_MB", 100);
const BATCH = 100;
const members = [{ id: "n1", address: "127.0.0.1:1" }];
const dir = process.env.DIR ?? mkdtempSync(join(tmpdir(), "zk-bench-snap-"));

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const fileBytes = (p: string) => {
  let n = 0;
  for (const f of [p, `${p}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {
      // none
    }
  }
  return n;
};

class Writer {
  readonly store: SqliteAcceptorStore;
  private readonly tree: ZnodeTree;
  slot = 0;

  constructor(path: string) {
    this.store = SqliteAcceptorStore.open(path, { clusterId: "bench", nodeId: "n1" }, { members });
    this.tree = new ZnodeTree(this.store.db);
  }

  /** `n` writes of `valueBytes` to paths /k<i % keys>, in Ready-sized batches. */
  write(n: number, valueBytes: number, keys: number): void {
    const value = new Uint8Array(valueBytes).fill(120);
    for (let done = 0; done < n; done += BATCH) {
      const from = this.slot + 1;
      const cmds: Command[] = [];
      for (let j = 0; j < Math.min(BATCH, n - done); j++) {
        const i = from + j;
        cmds.push({ requestId: `r${i}`, timeMs: i, nonce: i, op: { $case: "put", value: { path: `/k${i % keys}`, data: value } } });
      }
      this.store.transaction(() => {
        this.store.save({ promised: { round: 1, nodeId: "n1" }, chosen: from + cmds.length - 1 }, cmds.map((c, j) => ({ slot: from + j, ballot: { round: 1, nodeId: "n1" }, command: encodeCommand(c) })));
        cmds.forEach((c, j) => this.tree.apply(from + j, c));
        this.store.setApplied(from + cmds.length - 1);
      });
      this.slot = from + cmds.length - 1;
    }
  }
}

function sizeOverWrites(compact: boolean): { sizes: string[]; longestStepMs: number; p99StepMs: number; steps: number } {
  const path = join(dir, compact ? "compacted.db" : "full.db");
  const w = new Writer(path);
  const sizes: string[] = [];
  let longestStepMs = 0;
  const stepMs: number[] = [];
  let nextSnapshot = SNAPSHOT_ENTRIES;
  const report = Math.max(SNAPSHOT_ENTRIES, Math.floor(WRITES / 5));
  while (w.slot < WRITES) {
    w.write(Math.min(SNAPSHOT_ENTRIES, WRITES - w.slot), VALUE_BYTES, KEYS);
    if (compact && w.slot >= nextSnapshot) {
      nextSnapshot = w.slot + SNAPSHOT_ENTRIES;
      w.store.markSnapshot(w.slot, RETAIN_ENTRIES);
      for (;;) {
        const t = performance.now();
        const s = w.store.compactStep();
        const took = performance.now() - t;
        stepMs.push(took);
        longestStepMs = Math.max(longestStepMs, took);
        if (s.done) break;
      }
    }
    if (w.slot % report === 0 || w.slot === WRITES) sizes.push(`${w.slot}: ${mib(w.store.info().dbBytes)}`);
  }
  const info = w.store.info();
  sizes.push(`entries ${info.entryCount}, first slot ${info.firstEntrySlot}`);
  w.store.close();
  sizes.push(`restart (open + node machine) ${restartMs(path).toFixed(0)} ms`);
  stepMs.sort((a, b) => a - b);
  return { sizes, longestStepMs, p99StepMs: stepMs[Math.floor(stepMs.length * 0.99)] ?? 0, steps: stepMs.length };
}

/** The longest gap between runs of a 1 ms timer, from now until stop(): how long the event loop was held. */
function stallMeter(): { stop(): number } {
  let worst = 0;
  let prev = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - prev);
    prev = now;
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return worst;
    },
  };
}

async function snapshotTimes(): Promise<void> {
  const path = join(dir, "state.db");
  const w = new Writer(path);
  const valueBytes = 1024;
  const keys = Math.ceil((STATE_MB * 1024 * 1024) / valueBytes);
  const t0 = performance.now();
  w.write(keys, valueBytes, keys);
  // The log is not part of a snapshot; drop it so the file measures the state. These are the
  // node's own compaction steps (default sizes) on a database of this size: each must stay far
  // under the election timeout.
  w.store.markSnapshot(w.slot, 0);
  const stepMs: number[] = [];
  for (let done = false; !done; ) {
    const ts = performance.now();
    done = w.store.compactStep().done;
    stepMs.push(performance.now() - ts);
  }
  stepMs.sort((a, b) => a - b);
  console.log(`compaction of ${w.slot} entries in a ${mib(fileBytes(path))} store: ${stepMs.length} compactSteps, p99 ${(stepMs[Math.floor(stepMs.length * 0.99)] ?? 0).toFixed(1)} ms, longest ${(stepMs.at(-1) ?? 0).toFixed(1)} ms`);
  w.store.db.pragma("wal_checkpoint(TRUNCATE)");
  console.log(`state: ${keys} znodes of ${valueBytes} B, store ${mib(fileBytes(path))} (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const file = join(dir, "state.zks");
  // As the server streams it (no file, no fsync), then into a file as `snapshot save` does.
  let stall = stallMeter();
  const db = openSnapshotSource(path);
  const t1 = performance.now();
  let chunks = 0;
  for await (const _ of snapshotChunks(db)) {
    chunks++;
    await new Promise((r) => setImmediate(r));
  }
  const streamStallMs = stall.stop();
  db.close();
  console.log(`snapshot stream (no file): ${((performance.now() - t1) / 1000).toFixed(2)} s, ${chunks} chunks; longest event-loop stall ${streamStallMs.toFixed(0)} ms`);
  stall = stallMeter();
  const src = openSnapshotSource(path);
  let t = performance.now();
  const info = await writeChunksToFile(snapshotChunks(src), file);
  const createMs = performance.now() - t;
  const stallMs = stall.stop();
  src.close();
  console.log(`snapshot create: ${(createMs / 1000).toFixed(2)} s for ${mib(info.bytes)} (${mib(info.bytes / (createMs / 1000))}/s); longest event-loop stall meanwhile ${stallMs.toFixed(0)} ms (the fsync of the file included)`);

  t = performance.now();
  verifySnapshotFile(file);
  console.log(`snapshot verify: ${((performance.now() - t) / 1000).toFixed(2)} s`);

  t = performance.now();
  SqliteAcceptorStore.createFromSnapshot(file, join(dir, "restored.db"), { clusterId: "bench2", nodeId: "n1" }, members);
  console.log(`install into a new store (restore): ${((performance.now() - t) / 1000).toFixed(2)} s`);

  const lagging = new Writer(join(dir, "lagging.db"));
  lagging.write(1000, 100, 100);
  t = performance.now();
  lagging.store.installSnapshot(file);
  console.log(`install into a live store (one transaction): ${((performance.now() - t) / 1000).toFixed(2)} s`);
  lagging.store.close();
  w.store.close();
}

async function main(): Promise<void> {
  console.log(`dir ${dir}; ${WRITES} writes of ${VALUE_BYTES} B over ${KEYS} keys; snapshot every ${SNAPSHOT_ENTRIES}, retain ${RETAIN_ENTRIES}`);
  try {
    for (const compact of [false, true]) {
      const t = performance.now();
      const r = sizeOverWrites(compact);
      console.log(`${compact ? "with compaction" : "without compaction"} (${((performance.now() - t) / 1000).toFixed(1)} s): ${r.sizes.join("; ")}${compact ? `; ${r.steps} compactSteps, p99 ${r.p99StepMs.toFixed(1)} ms, longest ${r.longestStepMs.toFixed(1)} ms` : ""}`);
    }
    if (STATE_MB > 0) await snapshotTimes();
  } finally {
    if (!process.env.DIR) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
