// The pieces of `zk-cli bench` that need no cluster: the closed-loop runner with fake
// operations, the endpoint order of connections, and the failover gap arithmetic.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { newHistogram, runClosedLoop, summarize } from "../src/lib/bench-run.js";
import { endpointOrder } from "../src/lib/bench.js";
import { longestGap } from "../src/lib/bench-failover.js";

describe("runClosedLoop", () => {
  it("keeps one request in flight per client and counts only the measurement window", async () => {
    let inFlight = 0;
    let most = 0;
    const r = await runClosedLoop({
      clients: 4,
      durationMs: 200,
      warmupMs: 50,
      op: async () => {
        most = Math.max(most, ++inFlight);
        await sleep(2);
        inFlight--;
      },
    });
    assert.equal(most, 4, "never more requests in flight than clients");
    assert.ok(r.ops > 0);
    assert.equal(r.writes, r.ops);
    assert.equal(r.latencyMs.count, r.ops);
    assert.ok(r.latencyMs.p50 >= 1, `p50 ${r.latencyMs.p50} ms for 2 ms operations`);
    assert.ok(r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
    assert.ok(Math.abs(r.measuredMs - 200) < 1, `measured ${r.measuredMs} ms`);
    assert.equal(r.aborted, false);
  });

  it("counts failures by name, apart from successes, and splits reads from writes", async () => {
    let n = 0;
    const r = await runClosedLoop({
      clients: 2,
      durationMs: 150,
      warmupMs: 0,
      pick: () => (n % 2 === 0 ? "read" : "write"),
      op: async (_client, kind) => {
        n++;
        await sleep(1);
        if (kind === "write" && n % 3 === 0) throw Object.assign(new Error("no"), { code: "UNAVAILABLE" });
      },
      errorName: (e) => (e as { code: string }).code.toLowerCase(),
    });
    assert.ok(r.errorCount > 0);
    assert.deepEqual(Object.keys(r.errors), ["unavailable"]);
    assert.equal(r.errors.unavailable, r.errorCount);
    assert.equal(r.reads + r.writes, r.ops);
    assert.ok(r.reads > 0 && r.writes > 0);
    assert.ok(r.readLatencyMs && r.writeLatencyMs);
  });

  it("ends early on abort and reports what it measured", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const r = await runClosedLoop({ clients: 1, durationMs: 10_000, warmupMs: 0, op: () => sleep(1), signal: ac.signal });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(r.aborted, true);
    assert.ok(r.measuredMs < 1000 && r.ops > 0);
  });

  it("caps percentiles at the maximum recorded", () => {
    const h = newHistogram();
    for (const us of [1000, 2000, 17_606]) h.recordValue(us);
    const s = summarize(h);
    assert.equal(s.max, 17.606);
    assert.ok(s.p999 <= s.max && s.p99 <= s.max);
  });
});

describe("endpointOrder", () => {
  const eps = ["a:1", "b:2", "c:3"];
  it("puts the leader first in leader mode, for every connection", () => {
    assert.deepEqual(endpointOrder(eps, "leader", "b:2", 0), ["b:2", "a:1", "c:3"]);
    assert.deepEqual(endpointOrder(eps, "leader", "b:2", 5), ["b:2", "a:1", "c:3"]);
    assert.deepEqual(endpointOrder(eps, "leader", null, 1), eps);
  });
  it("rotates the start in spread mode", () => {
    assert.deepEqual(endpointOrder(eps, "spread", "b:2", 0), ["a:1", "b:2", "c:3"]);
    assert.deepEqual(endpointOrder(eps, "spread", "b:2", 1), ["b:2", "c:3", "a:1"]);
    assert.deepEqual(endpointOrder(eps, "spread", "b:2", 5), ["c:3", "a:1", "b:2"]);
  });
});

describe("longestGap", () => {
  it("finds the longest stretch without an acknowledged write, relative to the kill", () => {
    const g = longestGap([0, 10, 20, 200, 210], 15);
    assert.equal(g.gapMs, 180);
    assert.equal(g.gapStartMs, 5);
    assert.equal(g.firstAfter, 5);
  });
  it("counts a gap that started before the kill", () => {
    const g = longestGap([0, 10, 400, 410], 100);
    assert.equal(g.gapMs, 390);
    assert.equal(g.gapStartMs, -90);
    assert.equal(g.firstAfter, 300);
  });
});
