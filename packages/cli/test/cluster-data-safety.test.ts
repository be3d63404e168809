// `zk-cli cluster ...` never loses data an operator left in a dir: a dir with node data and no
// manifest is refused with every file byte-for-byte unchanged, `cluster up --adopt` starts
// that cluster again from its stores, and `cluster down` returns only once every process it
// stopped has exited. Real zk-node processes on 127.0.0.1:22100-22112.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readManifest } from "../src/lib/manifest.js";
import { clusterCli, destroyCluster, isRunning, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";

/** sha256 of every file under `dir`, by relative path. */
function checksums(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p.slice(dir.length + 1), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

describe("a dir with node data but no cluster.json", () => {
  const dir = tempClusterDir("adopt");
  after(() => destroyCluster(dir));
  const { zk, ok } = clusterCli(dir);

  test("is refused by `cluster up` with every file unchanged, and `cluster up --adopt` starts that cluster with its data", async () => {
    await ok(["cluster", "up", "--detach", "--base-port", "22100"]);
    const clusterId = readManifest(dir)!.clusterId;
    await ok(["propose", "/kept", "precious"]);
    await ok(["cluster", "down"]);
    // The manifest is lost (deleted, or the dir copied without it).
    renameSync(join(dir, "cluster.json"), join(dir, "..", `${dir.split("/").pop()}-cluster.json.bak`));
    const before = checksums(dir);
    assert.ok([...before.keys()].includes("n1/zk.db"), `the stores are there: ${[...before.keys()].join(", ")}`);

    for (const args of [["cluster", "up", "--detach", "--base-port", "22100"], ["cluster", "up", "--detach", "--nodes", "5", "--base-port", "22105"]]) {
      const r = await zk(args);
      assert.equal(r.code, 4, r.stderr);
      const line = oneErrorLine(r.stderr);
      assert.match(line, /holds node data but no cluster\.json \(n1\/zk\.db, n2\/zk\.db, n3\/zk\.db\); run `zk-cli cluster up --adopt/);
      assert.deepEqual(checksums(dir), before, "no file was deleted, moved or rewritten");
    }

    const adopted = await ok(["cluster", "up", "--adopt", "--detach", "--json"]);
    const rows = adopted.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; clusterId: string; address: string });
    assert.deepEqual(rows.map((r) => [r.id, r.address]), [["n1", "127.0.0.1:22100"], ["n2", "127.0.0.1:22101"], ["n3", "127.0.0.1:22102"]]);
    assert.equal(rows[0]!.clusterId, clusterId, "the cluster id comes from the stores");
    assert.equal((await ok(["get", "/kept"])).trim(), "precious");
  });

  test("`cluster down` returns only when every process it stopped has exited", async () => {
    const pids = readManifest(dir)!.nodes.map((n) => n.pid);
    assert.ok(pids.every(isRunning), "the adopted cluster runs");
    const out = await ok(["cluster", "down"]);
    const alive = pids.filter(isRunning);
    assert.deepEqual(alive, [], `still running when \`cluster down\` returned: ${alive.join(", ")}`);
    assert.match(out, /^stopped n1, n2, n3; data kept in /);
  });
});

describe("`cluster stop` of one member", () => {
  const dir = tempClusterDir("stop-wait");
  after(() => destroyCluster(dir));
  const { ok } = clusterCli(dir);

  test("returns only when the member has exited", async () => {
    await ok(["cluster", "up", "--detach", "--base-port", "22110"]);
    const pid = readManifest(dir)!.nodes.find((n) => n.id === "n2")!.pid;
    assert.match(await ok(["cluster", "stop", "n2"]), /^stopped n2 \(pid \d+\)$/m);
    assert.equal(isRunning(pid), false, "n2 is gone when `cluster stop` returns");
  });

  test("`status` exits 5 when the contacted nodes have no leader, and says who answered", async () => {
    await ok(["cluster", "stop", "n3"]);
    const { zk } = clusterCli(dir);
    const r = await waitUntil(async () => {
      const x = await zk(["status"]);
      return x.code === 5 ? x : null;
    }, 15_000, "n1 alone to lose its leader");
    assert.match(oneErrorLine(r.stderr), /^zk-cli: no leader among n1, n2, n3 \(n1 (follower|precandidate|candidate); n2, n3 unreachable\)/);
    assert.match(r.stdout, /^ID\s+ADDRESS/, "the table is still printed");
  });

  test("`cluster down` SIGKILLs a member that does not exit in time, says so, and returns when it is gone", async () => {
    const { ok: ok2 } = clusterCli(dir);
    await ok2(["cluster", "start", "n2"]);
    await ok2(["cluster", "start", "n3"]);
    const m = readManifest(dir)!;
    const pids = m.nodes.map((n) => n.pid);
    const n1 = m.nodes.find((n) => n.id === "n1")!.pid;
    process.kill(n1, "SIGSTOP"); // a stuck process: SIGTERM is not acted on
    const out = await ok2(["cluster", "down", "--wait-ms", "5000"]);
    assert.match(out, /^stopped n1, n2, n3 \(SIGKILL: n1\); data kept in /);
    assert.deepEqual(pids.filter(isRunning), [], "every member is gone when `cluster down` returns");
  });
});

describe("a member whose disk is gone", () => {
  const dir = tempClusterDir("rejoin");
  after(() => destroyCluster(dir));
  const { zk, ok } = clusterCli(dir);

  test("`cluster start` refuses it and names `cluster start <id> --rejoin`, which rebuilds it from the others; --rejoin over a store is refused", { timeout: 90_000 }, async () => {
    await ok(["cluster", "up", "--detach", "--base-port", "22120"]);
    await ok(["propose", "/before-the-loss", "kept"]);
    const n3 = readManifest(dir)!.nodes.find((n) => n.id === "n3")!;
    await ok(["cluster", "kill", "n3"]);
    rmSync(n3.dataDir, { recursive: true, force: true });
    // A plain start of an empty data dir is refused (it would vote with promises it forgot).
    const plain = await zk(["cluster", "start", "n3"]);
    assert.notEqual(plain.code, 0);
    const line = oneErrorLine(plain.stderr);
    assert.match(line, /no store in .*--rejoin/);
    const hint = /`(zk-cli cluster start n3 --rejoin)`/.exec(line)?.[1];
    assert.ok(hint !== undefined, line);
    // The hint, run as printed.
    const rejoined = await zk(hint.split(" ").slice(1));
    assert.equal(rejoined.code, 0, rejoined.stderr);
    assert.match(rejoined.stdout, /^rejoined n3 \(pid \d+\)/);
    // It catches up (recovering, then a voter again) and has the write.
    await waitUntil(async () => {
      const r = await zk(["status", "--json", "--endpoints", n3.address]);
      return r.code === 0 && /"role":"(follower|leader)"/.test(r.stdout);
    }, 30_000, "n3 to vote again");
    assert.equal((await ok(["get", "/before-the-loss", "--endpoints", n3.address, "--consistency", "local"])).trim(), "kept");
    // Its store is back: --rejoin now would rebuild over it, and zk-node refuses.
    await ok(["cluster", "stop", "n3"]);
    const again = await zk(["cluster", "start", "n3", "--rejoin"]);
    assert.notEqual(again.code, 0);
    assert.match(oneErrorLine(again.stderr), /--rejoin rebuilds a node whose store is gone, but .*zk\.db is there/);
    await ok(["cluster", "start", "n3"]);
  });

  const voting = (address: string) =>
    waitUntil(async () => {
      const r = await zk(["status", "--json", "--endpoints", address]);
      return r.code === 0 && /"role":"(follower|leader)"/.test(r.stdout);
    }, 30_000, `${address} to vote`);
  /** Run the one `zk-cli cluster start <id> --rejoin ...` hint in `stderr`, as printed. */
  const runHint = async (stderr: string, id: string) => {
    const hint = new RegExp(`\`(zk-cli cluster start ${id} --rejoin[^\`]*)\``).exec(stderr)?.[1];
    assert.ok(hint !== undefined, stderr);
    const r = await zk(hint.split(" ").slice(1));
    assert.equal(r.code, 0, r.stderr);
  };

  // Before, one member's refusal stopped every member `cluster up` had started, so the printed
  // `cluster start <id> --rejoin` ("once the other members run") could not be followed.
  test("`cluster up` (and `--adopt`) of a stopped cluster starts the others and leaves it stopped with the command that rebuilds it; fewer than a majority with data is refused", { timeout: 120_000 }, async () => {
    const nodes = () => readManifest(dir)!.nodes;
    const byId = (id: string) => nodes().find((n) => n.id === id)!;
    await voting(byId("n3").address);
    await ok(["cluster", "down"]);
    // A wiped disk with an empty zk.db left on it: zk-node's rule (no store) is zk-cli's too.
    rmSync(byId("n3").dataDir, { recursive: true, force: true });
    mkdirSync(byId("n3").dataDir);
    writeFileSync(join(byId("n3").dataDir, "zk.db"), "");
    const up = await zk(["cluster", "up", "--detach"]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /n3 was not started: its data dir .* holds no store/);
    assert.deepEqual(nodes().map((n) => n.state), ["running", "running", "stopped"]);
    await runHint(up.stderr, "n3");
    await voting(byId("n3").address);
    assert.equal((await ok(["get", "/before-the-loss", "--endpoints", byId("n3").address, "--consistency", "local"])).trim(), "kept");

    // The same through --adopt (cluster.json lost too), the wiped disk's empty zk.db left in
    // n2's dir (before, --adopt tried to read it and refused to start anything).
    await ok(["cluster", "down"]);
    rmSync(join(dir, "cluster.json"));
    rmSync(join(dir, "n2"), { recursive: true, force: true });
    mkdirSync(join(dir, "n2"));
    writeFileSync(join(dir, "n2", "zk.db"), "");
    const adopted = await zk(["cluster", "up", "--adopt", "--detach"]);
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(adopted.stderr, /n2 was not started/);
    assert.deepEqual(nodes().map((n) => [n.id, n.state]), [["n1", "running"], ["n2", "stopped"], ["n3", "running"]]);
    await runHint(adopted.stderr, "n2");
    await voting(byId("n2").address);

    // Two of three stores gone: no leader could rebuild them; nothing starts.
    await ok(["cluster", "down"]);
    for (const id of ["n1", "n2"]) rmSync(join(dir, id), { recursive: true, force: true });
    const refused = await zk(["cluster", "up", "--detach"]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(oneErrorLine(refused.stderr), /n1, n2 have no store in .*: the members that keep their data \(n3\) are not a majority of 3.*nothing was started/);
    assert.deepEqual(nodes().map((n) => n.state), ["stopped", "stopped", "stopped"]);
  });
});
