// The write path's timeline (zk-node --trace-file, src/trace.ts): the summary's arithmetic on
// known events, and a real 3-node cluster whose sampled slots pass every stage in order on the
// shared monotonic clock, so that scripts/bench/timeline.sh's hops are real. Ports 23200-23202.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TraceWriter, parseTrace, summarizeTimeline, type TraceEvent } from "../src/trace.js";
import type { TraceStage } from "../src/machine.js";
import { TestCluster, runZkNode } from "./support/nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);
const us = (n: number) => BigInt(Math.round(n * 1000));

describe("summarizeTimeline", () => {
  test("gives each step's median over slots, hops subtracting one node's time from another's", () => {
    const ev = (t: number, node: string, stage: TraceStage, slot: number, peer: string | null = null): TraceEvent => ({ ns: us(t), node, stage, slot, peer });
    const events: TraceEvent[] = [];
    // Three slots; the follower n2 answers in 100 + 500 + 30 + 200 µs, n3 a little slower; the
    // leader n1 writes its own copy by 400 µs, counts a quorum at 900 and applies by 1,000.
    for (const [i, slot] of [16, 32, 48].entries()) {
      const t0 = 10_000 * (i + 1);
      events.push(ev(t0, "n1", "accept-sent", slot, "n2"), ev(t0, "n1", "accept-sent", slot, "n3"));
      events.push(ev(t0 + 100, "n2", "accept-received", slot, "n1"), ev(t0 + 600, "n2", "written", slot), ev(t0 + 630, "n2", "acknowledged", slot, "n1"));
      events.push(ev(t0 + 150, "n3", "accept-received", slot, "n1"), ev(t0 + 750, "n3", "written", slot), ev(t0 + 780, "n3", "acknowledged", slot, "n1"));
      events.push(ev(t0 + 830, "n1", "reply-received", slot, "n2"), ev(t0 + 980, "n1", "reply-received", slot, "n3"));
      events.push(ev(t0 + 400, "n1", "written", slot), ev(t0 + 900, "n1", "chosen", slot), ev(t0 + 1000, "n1", "applied", slot));
      // A resend of the Accept later does not move the step: the first time counts.
      events.push(ev(t0 + 5000, "n1", "accept-sent", slot, "n2"));
    }
    const steps = new Map(summarizeTimeline(events).map((s) => [s.step.split(" (")[0], s]));
    assert.equal(steps.get("leader: written")?.p50Us, 400);
    assert.equal(steps.get("leader: chosen")?.p50Us, 900);
    assert.equal(steps.get("leader: applied")?.p50Us, 100);
    // Two followers a slot: six samples, median of [100,100,100,150,150,150] is the upper middle.
    assert.equal(steps.get("hop leader -> follower")?.slots, 6);
    assert.equal(steps.get("hop leader -> follower")?.p50Us, 150);
    assert.equal(steps.get("follower: written")?.p50Us, 600);
    assert.equal(steps.get("follower: acknowledged")?.p50Us, 30);
    assert.equal(steps.get("hop follower -> leader")?.p50Us, 200);
  });

  test("parseTrace skips lines that are not events (a torn last line)", () => {
    const parsed = parseTrace("123 n1 accept-sent 64 n2\n456 n2 accept-received 64 n1\n789 n1 chos");
    assert.deepEqual(
      parsed.map((e) => [e.ns, e.node, e.stage, e.slot, e.peer]),
      [
        [123n, "n1", "accept-sent", 64, "n2"],
        [456n, "n2", "accept-received", 64, "n1"],
      ],
    );
  });
});

describe("zk-node --trace-file", { timeout: 60_000 }, () => {
  const c = new TestCluster(3, 23200, "trace");
  after(() => c.cleanup());

  test("--trace-every without --trace-file is refused in one line", () => {
    const r = runZkNode(["--id", "n1", "--listen", "127.0.0.1:23299", "--peers", "n1=127.0.0.1:23299", "--data-dir", join(c.dir, "refused"), "--trace-every", "8"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--trace-every sets how often --trace-file records a slot: add --trace-file FILE/);
  });

  test("every sampled slot passes each stage in order, on one clock across the nodes", async () => {
    const file = (id: string) => join(c.dir, `${id}.trace`);
    for (const n of c.nodes) c.start(n.id, ["--trace-file", file(n.id), "--trace-every", "4"]);
    const leader = await c.waitForLeader();
    const z = c.client();
    try {
      for (let i = 0; i < 40; i++) await z.put(`/trace-${i}`, enc(`v${i}`));
    } finally {
      z.close();
    }
    // SIGTERM: each node writes what it still buffers as it stops.
    await c.stopAll("SIGTERM");
    const events = c.nodes.flatMap((n) => parseTrace(readFileSync(file(n.id), "utf8")));
    const at = (node: string, stage: TraceStage, slot: number, peer: string | null = null) =>
      events.find((e) => e.node === node && e.stage === stage && e.slot === slot && e.peer === peer)?.ns;
    const sampled = [...new Set(events.filter((e) => e.node === leader && e.stage === "accept-sent").map((e) => e.slot))];
    assert.ok(sampled.length >= 8, `only ${sampled.length} slots traced on the leader ${leader}`);
    assert.ok(sampled.every((s) => s % 4 === 0), `a slot outside --trace-every: ${sampled.join(",")}`);
    const followers = c.nodes.map((n) => n.id).filter((id) => id !== leader);
    for (const slot of sampled) {
      const sent = at(leader, "accept-sent", slot, followers[0]!) ?? at(leader, "accept-sent", slot, followers[1]!);
      const chosen = at(leader, "chosen", slot);
      const applied = at(leader, "applied", slot);
      assert.ok(sent !== undefined && chosen !== undefined && applied !== undefined, `slot ${slot}: the leader lacks a stage`);
      assert.ok(sent <= chosen && chosen <= applied, `slot ${slot}: the leader's stages out of order`);
      let acknowledgedBeforeChosen = 0;
      for (const f of followers) {
        const steps = [at(leader, "accept-sent", slot, f), at(f, "accept-received", slot, leader), at(f, "written", slot), at(f, "acknowledged", slot, leader)];
        if (steps.some((t) => t === undefined)) continue; // this follower caught up in another batch
        for (let i = 1; i < steps.length; i++) assert.ok(steps[i - 1]! <= steps[i]!, `slot ${slot} on ${f}: step ${i} before step ${i - 1}`);
        const reply = at(leader, "reply-received", slot, f);
        if (reply !== undefined) assert.ok(steps[3]! <= reply, `slot ${slot}: ${leader} heard ${f}'s reply before ${f} sent it`);
        if (steps[3]! <= chosen) acknowledgedBeforeChosen++;
      }
      // Chosen needs a follower's acceptance: one of them acknowledged it first.
      assert.ok(acknowledgedBeforeChosen >= 1, `slot ${slot} was chosen before any follower acknowledged it`);
    }
    const summary = summarizeTimeline(events);
    assert.equal(summary.length, 7, summary.map((s) => s.step).join("; "));
    for (const s of summary) assert.ok(s.p50Us >= 0, `${s.step}: ${s.p50Us} µs`);
  });

  test("a --trace-file that holds something else (a slip that names a node's store) is refused and left as it was", () => {
    const store = join(c.node("n1").dataDir, "zk.db");
    const before = readFileSync(store);
    const r = runZkNode(["--id", "n1", "--listen", "127.0.0.1:23298", "--peers", "n1=127.0.0.1:23298", "--data-dir", join(c.dir, "other"), "--initial-cluster", "--trace-file", store]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot open --trace-file .*zk\.db: .* holds something other than a zk trace; name a new file/);
    assert.ok(readFileSync(store).equals(before), "the store was written to");
    // An earlier trace is appended to.
    const trace = join(c.dir, "n1.trace");
    const earlier = readFileSync(trace, "utf8");
    const w = new TraceWriter(trace, "n1");
    w.write("applied", 4096, null);
    w.close();
    const now = readFileSync(trace, "utf8");
    assert.ok(now.startsWith(earlier) && parseTrace(now.slice(earlier.length)).length === 1, "the trace was not appended to");
  });

  test("a trace file that stops taking writes stops the trace, once, and throws nothing into the node", () => {
    const errors: Error[] = [];
    const w = new TraceWriter(join(c.dir, "broken.trace"), "n1", (e) => errors.push(e));
    // The descriptor goes away under it: each write fails (EBADF), as on a disk that failed.
    closeSync((w as unknown as { fd: number }).fd);
    for (let i = 0; i < 200; i++) w.write("applied", i, null);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /EBADF/);
  });
});
