// The amnesia scenario with real zk-node processes and the real zk-cli: a write is chosen by
// two of three nodes while the third is down; one of the two goes down for good and the
// other loses its disk. The node that lost its disk must not help the paused one choose
// anything over the write: it rejoins with --rejoin as a recovering, non-voting member, and
// once the member that remembers is back, it catches up and the acknowledged write is read
// back everywhere (docs/design.md "Recovery").
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { cli, jsonLines, waitUntil } from "./helpers.js";
import { NodeProcs, agreedLeader } from "./node-procs.js";

const BASE_PORT = 24010;

describe("a node that lost its disk", () => {
  const c = new NodeProcs("amnesia", BASE_PORT);
  after(() => c.cleanup());
  const at = (...ids: string[]) => ["--endpoints", ids.map((id) => c.node(id).address).join(",")];

  test("rejoins as recovering and never lets an acknowledged write be lost", { timeout: 120_000 }, async () => {
    for (const n of c.nodes) c.start(n.id, ["--initial-cluster"]);
    const a = await agreedLeader(at("n1", "n2", "n3"));
    const [b, d] = c.nodes.map((n) => n.id).filter((id) => id !== a) as [string, string];
    // b misses the write: it is down while a and d choose it.
    await c.stop(b);
    const w = await cli(["propose", "/amnesia", "X", ...at(a, d)]);
    assert.equal(w.code, 0, w.stderr);

    // a goes down; d loses its disk and comes back rebuilt.
    await c.stop(a);
    await c.stop(d);
    rmSync(c.node(d).dataDir, { recursive: true, force: true });
    c.start(b);
    const plain = c.start(d);
    await waitUntil(() => plain.proc!.exitCode !== null, 10_000, "a start without --rejoin on an empty data dir to be refused");
    assert.notEqual(plain.proc!.exitCode, 0);
    assert.match(plain.output, /no store in .*--rejoin/);
    c.start(d, ["--rejoin"]);

    // d is recovering; b (which never saw X) cannot form a quorum with it, so nothing can be
    // chosen over X. (Started as a fresh member instead, d would let b read X as missing.)
    await waitUntil(async () => {
      const s = await cli(["status", "--json", ...at(b, d)]);
      return jsonLines<{ id?: string; nodeId?: string; role?: string }>(s.stdout).some((r) => (r.id ?? r.nodeId) === d && r.role === "recovering");
    }, 20_000, `${d} to report role recovering`);
    await sleep(2000); // many election timeouts: b keeps trying, and must keep failing
    const noLeader = await cli(["status", "--json", ...at(b, d)]);
    assert.notEqual(noLeader.code, 0, "status exits non-zero when the contacted nodes have no leader");
    for (const row of jsonLines<{ role?: string }>(noLeader.stdout)) assert.notEqual(row.role, "leader", noLeader.stdout);
    const g = await cli(["get", "/amnesia", "--timeout", "2000", ...at(b, d)]);
    assert.notEqual(g.code, 0, "no linearizable read without a quorum");
    assert.notEqual(g.code, 3, `the write must not read as missing: ${g.stderr}`);

    // The member that remembers comes back: d recovers and X is everywhere.
    c.start(a);
    await agreedLeader(at(a, b, d));
    await waitUntil(async () => {
      const s = await cli(["status", "--json", ...at(d)]);
      return jsonLines<{ role?: string }>(s.stdout).some((r) => r.role === "follower" || r.role === "leader");
    }, 30_000, `${d} to recover and vote again`);
    for (const id of [a, b, d]) {
      await waitUntil(async () => {
        const r = await cli(["get", "/amnesia", "--consistency", "local", ...at(id)]);
        return r.code === 0 && r.stdout.trim() === "X" ? true : null;
      }, 20_000, `${id} to serve X locally`);
    }
    const lin = await cli(["get", "/amnesia", ...at(a, b, d)]);
    assert.equal(lin.code, 0, lin.stderr);
    assert.equal(lin.stdout.trim(), "X");
  });
});
