// A snapshot install killed with SIGKILL part way leaves the old state or the new, never a mix:
// a child process installs a snapshot of a few thousand 4 KiB znodes into a live store (one
// transaction) or builds a new store from it (temp file + rename), and is killed once it has
// started; the store that is left opens cleanly and hashes as before or as the snapshot.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteAcceptorStore, writeSnapshotFile } from "../src/storage/index.js";
import { ZnodeTree, encodeCommand } from "../src/tree/index.js";
import { treeHash } from "../src/tree/hash.js";
import type { Command } from "../src/gen/zk/v1/types.js";

const members = [{ id: "n1", address: "127.0.0.1:1" }];
const SRC = fileURLToPath(new URL("../src/storage/index.ts", import.meta.url));

function fill(path: string, writes: number, valueBytes: number, prefix: string): SqliteAcceptorStore {
  const store = SqliteAcceptorStore.open(path, { clusterId: "c1", nodeId: "n1" }, { members });
  const tree = new ZnodeTree(store.db);
  const value = new Uint8Array(valueBytes).fill(7);
  for (let from = 1; from <= writes; from += 200) {
    const cmds: Command[] = [];
    for (let i = from; i < Math.min(writes + 1, from + 200); i++) cmds.push({ requestId: `${prefix}${i}`, timeMs: i, nonce: i, op: { $case: "put", value: { path: `/${prefix}${i}`, data: value } } });
    store.transaction(() => {
      store.save({ promised: { round: 1, nodeId: "n1" }, chosen: from + cmds.length - 1 }, cmds.map((c, j) => ({ slot: from + j, ballot: { round: 1, nodeId: "n1" }, command: encodeCommand(c) })));
      cmds.forEach((c, j) => tree.apply(from + j, c));
      store.setApplied(from + cmds.length - 1);
    });
  }
  return store;
}

/** Run `code` (an ES module body) in a child; SIGKILL it after it prints "go" and `afterMs` more. */
function runAndKill(dir: string, code: string, afterMs: number): Promise<{ killed: boolean }> {
  const script = join(dir, `child-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(script, code);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"], cwd: fileURLToPath(new URL("..", import.meta.url)) });
    let killed = false;
    child.stdout.on("data", (b: Buffer) => {
      if (b.toString().includes("go") && !killed) {
        setTimeout(() => {
          killed = child.exitCode === null;
          child.kill("SIGKILL");
        }, afterMs);
      }
    });
    child.on("error", reject);
    child.on("close", () => resolve({ killed }));
  });
}

describe("snapshot install under kill -9", { timeout: 240_000 }, () => {
  test("installSnapshot into a live store: old state or new after SIGKILL at any point", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zk-snap-crash-"));
    try {
      const source = fill(join(dir, "source.db"), 3000, 4096, "s");
      const file = join(dir, "snap.zks");
      await writeSnapshotFile(source.path, file);
      const newHash = treeHash(source.db);
      source.close();
      const outcomes = new Set<string>();
      // Kill points from "just started" to "probably done": each leaves one whole state.
      for (const afterMs of [0, 20, 60, 150, 400, 2000]) {
        const target = join(dir, `live-${afterMs}.db`);
        const t = fill(target, 100, 100, "t");
        const oldHash = treeHash(t.db);
        t.close();
        const r = await runAndKill(
          dir,
          `import { SqliteAcceptorStore } from ${JSON.stringify(SRC)};
           const s = SqliteAcceptorStore.open(${JSON.stringify(target)}, { clusterId: "c1", nodeId: "n1" });
           console.log("go");
           s.installSnapshot(${JSON.stringify(file)});
           s.close();
           console.log("done");`,
          afterMs,
        );
        const after = SqliteAcceptorStore.open(target, { clusterId: "c1", nodeId: "n1" });
        const h = treeHash(after.db);
        const applied = after.applied();
        after.close();
        assert.ok(h === oldHash || h === newHash, `after a kill at ${afterMs} ms the state is the old or the new one`);
        assert.equal(applied, h === newHash ? 3000 : 100, "the applied index goes with the state");
        outcomes.add(`${r.killed ? "killed" : "finished"}:${h === newHash ? "new" : "old"}`);
      }
      // The test can fail only if it saw a kill; make sure it did, at least once, mid-install.
      assert.ok([...outcomes].some((o) => o.startsWith("killed")), `some install was killed: ${[...outcomes].join(", ")}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("createFromSnapshot (restore): no store or a whole one after SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zk-snap-crash-"));
    try {
      const source = fill(join(dir, "source.db"), 3000, 4096, "s");
      const file = join(dir, "snap.zks");
      await writeSnapshotFile(source.path, file);
      const newHash = treeHash(source.db);
      source.close();
      for (const afterMs of [0, 30, 100, 300, 2000]) {
        const target = join(dir, `restored-${afterMs}.db`);
        await runAndKill(
          dir,
          `import { SqliteAcceptorStore } from ${JSON.stringify(SRC)};
           console.log("go");
           SqliteAcceptorStore.createFromSnapshot(${JSON.stringify(file)}, ${JSON.stringify(target)}, { clusterId: "c2", nodeId: "n1" }, ${JSON.stringify(members)});
           console.log("done");`,
          afterMs,
        );
        if (!existsSync(target)) continue; // killed before the rename: nothing there (a temp file at most)
        const s = SqliteAcceptorStore.open(target, { clusterId: "c2", nodeId: "n1" });
        assert.equal(treeHash(s.db), newHash, `a store that exists after a kill at ${afterMs} ms is whole`);
        s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
