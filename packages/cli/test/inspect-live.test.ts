// `zk-cli inspect` on real databases: a live node's (read-only beside the running zk-node), a
// copy of its files, a file that is not zk's; and `inspect --diff` on a 3-node cluster on
// 127.0.0.1:17510-17512 whose n3 was killed and missed writes.
// Set ZK_CLI_CAPTURE_DIR to keep the --diff output for the docs.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ZkClient } from "@zk/node/client";
import { readManifest, type Manifest } from "../src/lib/manifest.js";
import { cli, destroyCluster, jsonLines, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 17510;
const WRITES = 25;
const captureDir = process.env.ZK_CLI_CAPTURE_DIR;

interface NodeLine {
  type: "node";
  file: string;
  dbBytes: number;
  walBytes: number | null;
  node: string;
  cluster: string;
  schemaVersion: number;
  promised: { round: number; nodeId: string };
  chosen: number;
  applied: number;
  entryCount: number;
  firstSlot: number;
  lastSlot: number;
  compactedThrough: number | null;
  watchHistoryFrom: number;
  treeInMemory: boolean;
}

interface EntryLine {
  type: "entry";
  slot: number;
  ballot: { round: number; nodeId: string };
  chosen: boolean;
  command: string;
  op: string;
  path: string | null;
}

describe("inspect against a local 3-node cluster", { timeout: 120_000 }, () => {
  const dir = tempClusterDir("inspect");
  const scratch = mkdtempSync(join(tmpdir(), "zk-cli-inspect-files-"));
  const zk = (...args: string[]) => cli([...args, "--dir", dir]);
  let manifest: Manifest;
  let client: ZkClient;

  before(async () => {
    const up = await zk("cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT));
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    manifest = readManifest(dir)!;
    client = new ZkClient({ endpoints: manifest.nodes.map((n) => n.address), timeoutMs: 5000 });
    await Promise.all(Array.from({ length: WRITES }, (_, i) => client.put(`/inspect-${i + 1}`, Buffer.from(`v${i + 1}`))));
    // Every node has applied them (followers learn the chosen index on the next Accept).
    await waitUntil(async () => (await client.statusAll()).every((s) => (s.status?.appliedIndex ?? 0) >= WRITES), 10_000, "every node to apply the writes");
  });

  after(async () => {
    client?.close();
    await destroyCluster(dir);
    rmSync(scratch, { recursive: true, force: true });
  });

  it("a live node's database: identity, acceptor state, sizes, and the last 20 entries decoded", async () => {
    const r = await zk("inspect", "--node", "n1", "--json");
    assert.equal(r.code, 0, r.stderr);
    const [info, ...entries] = jsonLines<NodeLine | EntryLine>(r.stdout) as [NodeLine, ...EntryLine[]];
    assert.equal(info.type, "node");
    assert.equal(info.node, "n1");
    assert.equal(info.cluster, manifest.clusterId);
    assert.equal(info.schemaVersion, 6);
    assert.equal(info.file, join(manifest.nodes[0]!.dataDir, "zk.db"));
    assert.ok(info.dbBytes > 0);
    assert.ok(info.walBytes !== null && info.walBytes > 0, "a running node has a write-ahead log");
    assert.ok(info.chosen >= WRITES && info.applied >= WRITES, JSON.stringify(info));
    assert.ok(info.promised.round >= 1);
    assert.equal(info.compactedThrough, null);
    assert.equal(info.watchHistoryFrom, 1);
    assert.equal(info.treeInMemory, false, "cluster up's nodes keep the tree in the store's tables");
    assert.equal(entries.length, 20);
    assert.deepEqual(entries.map((e) => e.slot), Array.from({ length: 20 }, (_, i) => info.lastSlot - 19 + i));
    const puts = entries.filter((e) => e.op === "put");
    assert.ok(puts.length >= 15, "the writes are there");
    for (const e of puts) {
      const n = /^\/inspect-(\d+)$/.exec(e.path ?? "")?.[1];
      assert.ok(n, e.path ?? "");
      assert.equal(e.command, `put /inspect-${n} "v${n}" v=any`);
    }
    for (const e of entries) assert.ok(e.ballot.round >= 1 && e.ballot.nodeId !== "");

    const text = await zk("inspect", "--node", "n1");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^compaction point\s+none \(full log on disk\)$/m);
    assert.match(text.stdout, new RegExp(`^cluster\\s+${manifest.clusterId}$`, "m"));
    assert.match(text.stdout, /^size\s+.*\(zk\.db .*, -wal .*\)$/m);
    assert.match(text.stdout, /^SLOT\s+BALLOT\s+STATE\s+COMMAND$/m);
    assert.match(text.stdout, /^\s+\d+\s+\d+\.n\d\s+chosen\s+put \/inspect-\d+ "v\d+" v=any$/m);
  });

  it("--from, --to and --limit pick the slots", async () => {
    const slots = async (...args: string[]) => {
      const r = await zk("inspect", "--node", "n2", "--json", ...args);
      assert.equal(r.code, 0, r.stderr);
      return jsonLines<NodeLine | EntryLine>(r.stdout).filter((l): l is EntryLine => l.type === "entry").map((e) => e.slot);
    };
    assert.deepEqual(await slots("--from", "2", "--limit", "3"), [2, 3, 4]);
    assert.deepEqual(await slots("--from", "5", "--to", "6"), [5, 6]);
    assert.deepEqual(await slots("--to", "10", "--limit", "2"), [9, 10]);
  });

  it("a copy of the files (db, -wal, -shm) reads the same", async () => {
    const src = manifest.nodes[0]!.dataDir;
    const copy = join(scratch, "copy");
    rmSync(copy, { recursive: true, force: true });
    const { mkdirSync } = await import("node:fs");
    mkdirSync(copy);
    // The db first, then its log: a checkpoint in between would at worst leave the copy's log
    // holding pages the db already has, which SQLite ignores.
    for (const f of ["zk.db", "zk.db-wal", "zk.db-shm"]) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(copy, f));
    assert.ok(readdirSync(copy).includes("zk.db"));
    const live = jsonLines<NodeLine | EntryLine>((await zk("inspect", "--node", "n1", "--json", "--from", "1", "--to", String(WRITES))).stdout);
    const r = await zk("inspect", "--db", copy, "--json", "--from", "1", "--to", String(WRITES));
    assert.equal(r.code, 0, r.stderr);
    const copied = jsonLines<NodeLine | EntryLine>(r.stdout);
    const [info] = copied as [NodeLine];
    assert.equal(info.file, join(copy, "zk.db"), "a directory means its zk.db");
    assert.equal(info.node, "n1");
    assert.equal(info.cluster, manifest.clusterId);
    assert.deepEqual(copied.slice(1), live.slice(1));
  });

  it("a file that is not a zk database, or no file: exit 1 and one line naming it", async () => {
    const junk = join(scratch, "notes.db");
    writeFileSync(junk, "these are not the bytes you are looking for\n".repeat(200));
    const r = await zk("inspect", "--db", junk);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    const line = oneErrorLine(r.stderr);
    assert.ok(line.includes(junk), line);
    assert.match(line, /not a SQLite database/);

    const missing = join(scratch, "nope", "zk.db");
    const m = await zk("inspect", "--db", missing);
    assert.equal(m.code, 1);
    assert.ok(oneErrorLine(m.stderr).includes(missing));

    const unknown = await zk("inspect", "--node", "n9");
    assert.equal(unknown.code, 3);
    assert.match(oneErrorLine(unknown.stderr), /no node "n9".*members: n1, n2, n3/);

    const none = await zk("inspect");
    assert.equal(none.code, 2);
    assert.match(oneErrorLine(none.stderr), /--node <id> \(members: n1, n2, n3\), --db/);
  });

  it("--diff after n3 was killed and missed writes: the slots it lacks are marked, the rest agree", async () => {
    const killed = await zk("cluster", "kill", "n3");
    assert.equal(killed.code, 0, killed.stderr);
    const n3 = await zk("inspect", "--node", "n3", "--json", "--limit", "1");
    assert.equal(n3.code, 0, `inspect of the killed n3: ${n3.stderr}`);
    const n3Last = jsonLines<NodeLine>(n3.stdout)[0]!.lastSlot;
    for (let i = 1; i <= 4; i++) await client.put(`/missed-${i}`, Buffer.from(`m${i}`));

    const r = await zk("inspect", "--diff", "--json", "--from", String(Math.max(1, n3Last - 2)));
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines<{ type: string; node?: string; running?: boolean; lastSlot?: number; slot?: number; entries?: Record<string, unknown>; notes?: string[]; differs?: boolean; command?: string }>(r.stdout);
    const nodes = lines.filter((l) => l.type === "node");
    assert.deepEqual(nodes.map((n) => [n.node, n.running]), [["n1", true], ["n2", true], ["n3", false]]);
    const slots = lines.filter((l) => l.type === "slot");
    const missed = slots.filter((s) => s.slot! > n3Last);
    assert.ok(missed.length >= 4, JSON.stringify(slots));
    for (const s of missed) {
      assert.equal(s.entries!.n3, null);
      assert.ok(s.notes!.some((n) => n.startsWith("missing on n3") && n.includes(`log ends at ${n3Last}`)), JSON.stringify(s));
    }
    assert.deepEqual(missed.filter((s) => s.command?.startsWith("put /missed-")).map((s) => s.command), [1, 2, 3, 4].map((i) => `put /missed-${i} "m${i}" v=any`));
    for (const s of slots.filter((x) => x.slot! <= n3Last)) assert.ok(s.notes!.every((n) => !n.includes("n3") || n.startsWith("not chosen yet")), JSON.stringify(s));

    const text = await zk("inspect", "--diff", "--limit", "8");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^NODE\s+STATE\s+PROMISED\s+CHOSEN\s+APPLIED\s+LOG\s+FILE$/m);
    assert.match(text.stdout, /^n3\s+stopped\s/m);
    assert.match(text.stdout, /^SLOT\s+n1\s+n2\s+n3\s+COMMAND\s+DIFFERENCES$/m);
    assert.match(text.stdout, /^\s+\d+\s+\d+\.n\d\*?\s+\d+\.n\d\*?\s+-\s+put \/missed-4 "m4" v=any\s+missing on n3/m);
    if (captureDir) writeFileSync(join(captureDir, "inspect-diff.txt"), text.stdout);
  });
});
