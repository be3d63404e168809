// Log compaction and snapshot install with real zk-node processes: 25,000 znodes written with
// --snapshot-entries 1000 while one node is down for the whole run. Every node's log stays
// bounded; the node that was down is past every live member's log start, so it catches up
// from a snapshot; kill -9 in the middle of that transfer/install is survived; and every
// acknowledged write is there on it afterwards, the same tree as the others'.
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { cli, jsonLines, waitUntil } from "./helpers.js";
import { NodeProcs, agreedLeader } from "./node-procs.js";

const BASE_PORT = 24020;
const ZNODES = 25_000;
const SNAPSHOT_ENTRIES = 1000;
const RETAIN_ENTRIES = 500;
/**
 * The bound on a node's entries table: a snapshot point every 1,000-1,100 entries keeps 500
 * below it, so at most ~1,600 entries plus what is in flight (the leader's 2,048 unchosen).
 * Without compaction it would hold all 50,000.
 */
const ENTRIES_MAX = 4000;
const FLAGS = ["--snapshot-entries", String(SNAPSHOT_ENTRIES), "--retain-entries", String(RETAIN_ENTRIES)];

interface Inspected {
  applied: number;
  entryCount: number;
  firstEntrySlot: number;
  snapshotIndex: number;
  dbBytes: number;
}

async function inspect(dataDir: string): Promise<Inspected> {
  const r = await cli(["inspect", "--db", join(dataDir, "zk.db"), "--json", "--from", "1", "--to", "1"]);
  assert.equal(r.code, 0, r.stderr);
  return jsonLines<Inspected>(r.stdout)[0]!;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // installed and removed meanwhile
  }
}

describe("log compaction and snapshot install", () => {
  const c = new NodeProcs("snapshots", BASE_PORT);
  after(() => c.cleanup());
  const at = (...ids: string[]) => ["--endpoints", ids.map((id) => c.node(id).address).join(",")];

  test(`${ZNODES} znodes with --snapshot-entries ${SNAPSHOT_ENTRIES}: bounded logs, a stopped node catches up by snapshot through a kill -9`, { timeout: 240_000 }, async () => {
    for (const n of c.nodes) c.start(n.id, ["--initial-cluster", ...FLAGS]);
    await agreedLeader(at("n1", "n2", "n3"));
    await c.stop("n3");
    const live = at("n1", "n2");

    const value = "v".repeat(200);
    const lines = Array.from({ length: ZNODES }, (_, i) => `snap/k${i} ${value}-${i}`).join("\n") + "\n";
    const w = await cli(["propose", "--stdin", "--json", ...live], { input: lines, timeoutMs: 180_000 });
    assert.equal(w.code, 0, w.stderr);
    const acked = jsonLines<{ key?: string; path?: string; zxid?: number }>(w.stdout).filter((r) => r.zxid !== undefined);
    assert.equal(acked.length, ZNODES, "every write acknowledged");

    for (const id of ["n1", "n2"]) {
      const s = await inspect(c.node(id).dataDir);
      assert.ok(s.snapshotIndex > 0 && s.firstEntrySlot > 1, `${id} compacted its log: ${JSON.stringify(s)}`);
      assert.ok(s.entryCount <= ENTRIES_MAX, `${id} holds ${s.entryCount} entries, above the bound of ${ENTRIES_MAX}`);
    }

    // n3 was down for all of it: what it needs next is gone from every live log.
    const incoming = join(c.node("n3").dataDir, "snapshots");
    c.start("n3", FLAGS);
    let killedMidTransfer = false;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      // Killed once part of the snapshot is on its disk: the restart must resume or start over.
      const part = existsSync(incoming) ? readdirSync(incoming).find((f) => f.endsWith(".part")) : undefined;
      const size = part === undefined ? 0 : sizeOf(join(incoming, part));
      if (size > 0) {
        await c.stop("n3"); // SIGKILL
        killedMidTransfer = true;
        process.stdout.write(`# n3 killed with ${size} bytes of the snapshot received\n`);
        break;
      }
      await nextTurn();
    }
    assert.ok(killedMidTransfer, "n3 was killed while a snapshot was coming in");
    const beforeRestart = await inspect(c.node("n3").dataDir);
    assert.ok(beforeRestart.applied === 0 || beforeRestart.snapshotIndex > 0, `n3 holds its old state or the whole snapshot, never a mix: ${JSON.stringify(beforeRestart)}`);

    c.start("n3", FLAGS);
    const target = Math.max(...acked.map((r) => r.zxid!));
    await waitUntil(async () => {
      const s = await cli(["status", "--json", ...at("n3")]);
      const row = jsonLines<{ applied?: number }>(s.stdout)[0];
      return row?.applied !== undefined && row.applied >= target ? true : null;
    }, 90_000, "n3 to catch up past the last acknowledged write");
    const n3 = await inspect(c.node("n3").dataDir);
    assert.ok(n3.snapshotIndex > 0 && n3.firstEntrySlot > 1, `n3 caught up from a snapshot: ${JSON.stringify(n3)}`);

    // Every acknowledged write, read from n3's own state.
    const ls = await cli(["ls", "/snap", "--json", "--consistency", "local", ...at("n3")], { timeoutMs: 60_000 });
    assert.equal(ls.code, 0, ls.stderr);
    const names = new Set(jsonLines<{ name?: string; path?: string }>(ls.stdout).map((r) => r.name ?? r.path!.split("/").pop()!));
    const missing = acked.filter((_, i) => !names.has(`k${i}`));
    assert.equal(missing.length, 0, `${missing.length} acknowledged znodes missing on n3`);
    for (const i of [0, 1, 12_345, 23_456, ZNODES - 1]) {
      const g = await cli(["get", `snap/k${i}`, "--consistency", "local", ...at("n3")]);
      assert.equal(g.code, 0, g.stderr);
      assert.equal(g.stdout.trim(), `${value}-${i}`);
    }
  });
});
