// Backup and restore with the real zk-cli and zk-node: `snapshot save` from a running 3-node
// cluster (127.0.0.1:25101-25103; through a follower too), `snapshot status`, `snapshot
// restore` into a new dir (25111-25113) and `cluster up` there: the restored stores hash like
// the snapshot, every key reads back with its data, and the new cluster takes writes. A
// truncated or corrupted file is refused with exit 2 and nothing is created; a dir that holds
// a cluster is refused with exit 4 and left as it was.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ZkClient } from "@zk/node/client";
import { SqliteAcceptorStore } from "@zk/node/storage";
import { treeHash } from "@zk/node/tree";
import { readManifest, type Manifest } from "../src/lib/manifest.js";
import { cli, destroyCluster, jsonLines, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";

const SOURCE_PORT = 25101;
const RESTORED_PORT = 25111;
const KEYS = 40;

interface SnapshotLine {
  file: string;
  slot: number;
  bytes: number;
  sha256: string;
  clusterId: string;
  treeHash: string;
  znodes: number;
  valid?: boolean;
}

describe("snapshot save, status, restore, cluster up", { timeout: 180_000 }, () => {
  const source = tempClusterDir("snap-src");
  const restored = tempClusterDir("snap-dst");
  const files = mkdtempSync(join(tmpdir(), "zk-cli-snap-files-"));
  const file = join(files, "backup.zks");
  let manifest: Manifest;
  let client: ZkClient;
  const values = new Map<string, string>();

  before(async () => {
    rmSync(restored, { recursive: true, force: true }); // restore creates it
    const up = await cli(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(SOURCE_PORT), "--dir", source]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    manifest = readManifest(source)!;
    client = new ZkClient({ endpoints: manifest.nodes.map((n) => n.address), timeoutMs: 5000 });
    await client.create("/app", Buffer.from("root"));
    for (let i = 0; i < KEYS; i++) {
      const v = `value-${i}-${"x".repeat(i * 50)}`;
      await client.put(`/app/k${i}`, Buffer.from(v));
      values.set(`/app/k${i}`, v);
    }
    await client.set("/app/k0", Buffer.from("changed"));
    values.set("/app/k0", "changed");
    values.set("/app", "root");
  });

  after(async () => {
    client?.close();
    await destroyCluster(source);
    await destroyCluster(restored);
    rmSync(files, { recursive: true, force: true });
  });

  let saved: SnapshotLine;

  it("save: a consistent snapshot through a linearizable barrier, with slot, size and checksum", async () => {
    const r = await cli(["snapshot", "save", file, "--json", "--dir", source]);
    assert.equal(r.code, 0, r.stderr);
    saved = jsonLines<SnapshotLine>(r.stdout)[0]!;
    assert.equal(saved.clusterId, manifest.clusterId);
    assert.equal(saved.znodes, KEYS + 2, "root, /app and the keys");
    assert.equal(saved.bytes, readFileSync(file).length);
    // Everything acknowledged before the save is in it: the last write's zxid at least.
    const last = await client.get("/app/k0");
    assert.ok(saved.slot >= last.stat!.mzxid, `snapshot slot ${saved.slot} covers the last write (${last.stat!.mzxid})`);
    assert.match(saved.sha256, /^[0-9a-f]{64}$/);
    const text = await cli(["snapshot", "save", join(files, "via-follower.zks"), "--endpoints", manifest.nodes[2]!.address]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^FILE\s+SLOT\s+BYTES\s+CLUSTER\s+ZNODES\s+SHA256$/m);
  });

  it("a reader that stops part way ends the node's snapshot read; the next save works", async () => {
    const member = manifest.nodes[0]!.address;
    let got = 0;
    for await (const c of client.saveSnapshot(member, { chunkBytes: 1024 })) {
      assert.ok(c.data.length <= 1024);
      if (++got === 3) break; // cancels the stream
    }
    assert.equal(got, 3);
    const r = await cli(["snapshot", "save", join(files, "after-cancel.zks"), "--endpoints", member, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonLines<SnapshotLine>(r.stdout)[0]!.treeHash, saved.treeHash, "the same state (no writes since)");
  });

  it("status: describes a valid file offline", async () => {
    const r = await cli(["snapshot", "status", file, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = jsonLines<SnapshotLine>(r.stdout)[0]!;
    assert.equal(s.valid, true);
    assert.equal(s.sha256, saved.sha256);
    assert.equal(s.slot, saved.slot);
    assert.equal(s.treeHash, saved.treeHash);
  });

  it("a truncated or corrupted file is refused with exit 2 and one line; restore creates nothing", async () => {
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[Math.floor(good.length / 2)]! ^= 0x01;
    const cases: [string, Buffer, RegExp][] = [
      ["truncated", good.subarray(0, good.length - 1000), /truncated/],
      ["corrupted", flipped, /corrupted/],
    ];
    for (const [name, bytes, why] of cases) {
      const bad = join(files, `${name}.zks`);
      writeFileSync(bad, bytes);
      const st = await cli(["snapshot", "status", bad]);
      assert.equal(st.code, 2, `${name} status: ${st.stderr}`);
      assert.match(oneErrorLine(st.stderr), why);
      const target = join(files, `restore-${name}`);
      const rs = await cli(["snapshot", "restore", bad, "--dir", target, "--base-port", String(RESTORED_PORT)]);
      assert.equal(rs.code, 2, `${name} restore: ${rs.stderr}`);
      assert.match(oneErrorLine(rs.stderr), why);
      assert.ok(!existsSync(target), `${name}: nothing written`);
    }
    const missing = await cli(["snapshot", "status", join(files, "nope.zks")]);
    assert.equal(missing.code, 3);
  });

  it("restore: a new cluster whose stores hold the snapshot; a second restore into it is refused with 4", async () => {
    const r = await cli(["snapshot", "restore", file, "--dir", restored, "--base-port", String(RESTORED_PORT), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = jsonLines<{ clusterId: string; id: string; slot: number }>(r.stdout);
    assert.deepEqual(rows.map((x) => x.id), ["n1", "n2", "n3"]);
    const m = readManifest(restored)!;
    assert.notEqual(m.clusterId, manifest.clusterId, "a new cluster id");
    for (const n of m.nodes) {
      const store = SqliteAcceptorStore.open(join(n.dataDir, "zk.db"), { clusterId: m.clusterId, nodeId: n.id }, { readonly: true });
      try {
        assert.equal(treeHash(store.db), saved.treeHash, `${n.id}'s store hashes like the snapshot`);
      } finally {
        store.close();
      }
    }
    const before = readFileSync(join(restored, "cluster.json"), "utf8");
    const again = await cli(["snapshot", "restore", file, "--dir", restored, "--base-port", String(RESTORED_PORT)]);
    assert.equal(again.code, 4, again.stderr);
    assert.match(oneErrorLine(again.stderr), /already holds cluster .*nothing was changed/);
    assert.equal(readFileSync(join(restored, "cluster.json"), "utf8"), before);
  });

  it("cluster up starts the restored cluster with the snapshot's data, and it takes writes", async () => {
    const up = await cli(["cluster", "up", "--detach", "--dir", restored]);
    assert.equal(up.code, 0, up.stderr);
    const m = readManifest(restored)!;
    const c2 = new ZkClient({ endpoints: m.nodes.map((n) => n.address), timeoutMs: 5000 });
    try {
      for (const [path, v] of values) {
        const got = await c2.get(path);
        assert.equal(Buffer.from(got.data).toString(), v, path);
        const orig = await client.get(path);
        assert.deepEqual(got.stat, orig.stat, `${path}: the same stat (versions, zxids, times)`);
      }
      const w = await c2.put("/app/after-restore", Buffer.from("new"));
      assert.ok(w.zxid > saved.slot, "new writes go after the snapshot's slot");
      await waitUntil(async () => (await c2.statusAll()).every((s) => (s.status?.appliedIndex ?? 0) >= w.zxid), 10_000, "every restored node to apply the write");
      const inspect = await cli(["inspect", "--node", "n2", "--json", "--dir", restored]);
      assert.equal(inspect.code, 0, inspect.stderr);
      const node = jsonLines<{ type: string; snapshotIndex: number; firstEntrySlot: number; dbBytes: number }>(inspect.stdout)[0]!;
      assert.equal(node.snapshotIndex, saved.slot);
      assert.equal(node.firstEntrySlot, saved.slot + 1);
      assert.ok(node.dbBytes > 0);
      const diff = await cli(["inspect", "--diff", "--dir", restored]);
      assert.equal(diff.code, 0, diff.stderr);
      assert.doesNotMatch(diff.stdout, /missing on/);
    } finally {
      c2.close();
    }
  });
});
