// `zk-cli bench` against a real 3-node cluster on 127.0.0.1:17600-17602 (its own temp dir,
// every process stopped by PID in after()). Short runs: these check that the benchmarks run
// and report sane, self-consistent numbers, never how fast anything is.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readManifest } from "../src/lib/manifest.js";
import { cli, destroyCluster, isRunning, jsonLines, oneErrorLine, tempClusterDir } from "./helpers.js";

const BASE_PORT = 17600;
const BENCH_TIMEOUT_MS = 30_000;

interface Latency {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

interface BenchJson {
  workload: string;
  transport: string;
  clients: number;
  conns: number;
  ops: number;
  opsPerSec: number;
  reads: number;
  writes: number;
  latencyMs: Latency;
  readLatencyMs?: Latency | null;
  writeLatencyMs?: Latency | null;
  errors: Record<string, number>;
  errorCount: number;
  measuredMs: number;
}

function assertOrdered(l: Latency, what: string): void {
  const seq = [l.p50, l.p90, l.p99, l.p999, l.max];
  for (let i = 1; i < seq.length; i++) assert.ok(seq[i - 1]! <= seq[i]!, `${what}: percentiles out of order ${JSON.stringify(l)}`);
  assert.ok(l.p50 > 0, `${what}: p50 ${l.p50}`);
}

describe("zk-cli bench against a local 3-node cluster", { timeout: 120_000 }, () => {
  const dir = tempClusterDir("bench");
  const zk = (args: string[], timeoutMs = BENCH_TIMEOUT_MS) => cli([...args, "--dir", dir], { timeoutMs });

  before(async () => {
    const up = await zk(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--json"]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
  });

  after(async () => {
    await destroyCluster(dir);
  });

  it("bench put --json reports throughput, ordered percentiles and no errors", async () => {
    const r = await zk(["bench", "put", "--json", "--duration", "1000", "--warmup", "200", "--clients", "8", "--conns", "4"]);
    assert.equal(r.code, 0, r.stderr);
    const [res] = jsonLines<BenchJson>(r.stdout);
    assert.ok(res);
    assert.equal(res.workload, "put");
    assert.equal(res.transport, "session");
    assert.equal(res.clients, 8);
    assert.equal(res.conns, 4);
    assert.ok(res.ops > 0, `ops ${res.ops}`);
    assert.ok(res.opsPerSec > 0);
    assert.equal(res.writes, res.ops);
    assert.equal(res.reads, 0);
    assert.equal(res.latencyMs.count, res.ops);
    assertOrdered(res.latencyMs, "put");
    assert.deepEqual(res.errors, {});
    assert.equal(res.errorCount, 0);
    assert.equal(r.stderr, "", "no progress line when stderr is not a terminal");
  });

  it("bench get reads every key it wrote, linearizably, without errors", async () => {
    const r = await zk(["bench", "get", "--json", "--duration", "1000", "--warmup", "200", "--clients", "8", "--keys", "50"]);
    assert.equal(r.code, 0, r.stderr);
    const [res] = jsonLines<BenchJson>(r.stdout);
    assert.ok(res);
    assert.equal(res.workload, "get");
    assert.ok(res.ops > 0);
    assert.equal(res.reads, res.ops);
    assertOrdered(res.latencyMs, "get");
    assert.equal(res.errorCount, 0, JSON.stringify(res.errors));
  });

  it("bench mixed reports reads and writes apart, and prints a table without --json", async () => {
    const j = await zk(["bench", "mixed", "--json", "--duration", "1000", "--warmup", "200", "--clients", "8", "--read-ratio", "0.5", "--consistency", "local", "--connect", "spread"]);
    assert.equal(j.code, 0, j.stderr);
    const [res] = jsonLines<BenchJson>(j.stdout);
    assert.ok(res);
    assert.ok(res.reads > 0 && res.writes > 0, `reads ${res.reads}, writes ${res.writes}`);
    assert.equal(res.reads + res.writes, res.ops);
    assertOrdered(res.readLatencyMs!, "mixed reads");
    assertOrdered(res.writeLatencyMs!, "mixed writes");
    assert.equal(res.errorCount, 0, JSON.stringify(res.errors));

    const t = await zk(["bench", "mixed", "--duration", "500", "--warmup", "0", "--clients", "2", "--transport", "unary"]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^bench mixed: 2 clients on 2 unary clients/m);
    assert.match(t.stdout, /^OP\s+COUNT\s+OPS\/S\s+MEAN\s+P50\s+P90\s+P99\s+P99\.9\s+MAX$/m);
    assert.match(t.stdout, /^all\s+\d+/m);
    assert.match(t.stdout, /^get\s+\d+/m);
    assert.match(t.stdout, /^put\s+\d+/m);
    assert.match(t.stdout, /errors: none$/m);
  });

  it("rejects more connections than clients, with exit 2", async () => {
    const r = await zk(["bench", "put", "--clients", "2", "--conns", "3"]);
    assert.equal(r.code, 2);
    assert.match(oneErrorLine(r.stderr), /--conns 3 is more than --clients 2/);
  });

  it("bench failover kills the leader, reports the gap and the election, loses no acknowledged write, and restarts the node", async () => {
    const r = await zk(["bench", "failover", "--json", "--clients", "4", "--before", "1000", "--after", "1000"], 60_000);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const [res] = jsonLines<{
      killed: { id: string; pid: number };
      newLeader: string | null;
      electionMs: number | null;
      gapMs: number;
      acknowledged: number;
      verified: number;
      missing: number;
      wrong: number;
      unverified: number;
      restarted: { id: string; pid: number } | null;
      ok: boolean;
    }>(r.stdout);
    assert.ok(res);
    assert.equal(res.ok, true);
    assert.ok(res.newLeader && res.newLeader !== res.killed.id, `new leader ${res.newLeader}, killed ${res.killed.id}`);
    assert.ok(res.electionMs !== null && res.electionMs > 0, `election ${res.electionMs}`);
    assert.ok(res.gapMs > 0, `gap ${res.gapMs}`);
    assert.ok(res.acknowledged > 0);
    assert.equal(res.verified, res.acknowledged);
    assert.equal(res.missing, 0);
    assert.equal(res.wrong, 0);
    assert.equal(res.unverified, 0);
    assert.equal(res.restarted?.id, res.killed.id);
    assert.ok(!isRunning(res.killed.pid), "the killed process is gone");
    const m = readManifest(dir);
    assert.ok(m);
    for (const n of m.nodes) assert.ok(isRunning(n.pid), `${n.id} (pid ${n.pid}) runs again after the failover run`);
  });
});
