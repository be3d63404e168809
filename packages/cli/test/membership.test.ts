// Online membership change with real zk-node processes, through zk-cli as a user runs it: a
// local cluster grows from 3 to 5 members and shrinks back to 3 while writes go on (each new
// member started with --join, added as a learner, caught up, promoted; the leader among the
// removed), and every acknowledged write is then read on every final member; a member whose
// disk was wiped is replaced (its old id removed, a new member added as a learner, promoted);
// leadership is handed over under writes (the write gap is reported, not asserted); and the
// bad inputs are refused with one line and their exit codes. One cluster for the whole file,
// each test starting where the one before left it.
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, ZkClient } from "@zk/node/client";
import { nextMember } from "../src/lib/cluster-members.js";
import { readManifest } from "../src/lib/manifest.js";
import { clusterCli, destroyCluster, isRunning, jsonLines, oneErrorLine, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 29001; // below the kernel's ephemeral ports (32768+), which any outgoing connection may hold
const CHANGE_TIMEOUT_MS = 60_000;

interface MemberJson {
  id: string;
  address: string;
  role: "voter" | "learner";
  leader: boolean;
  caughtUp: boolean | null;
  lag: number | null;
  lastHeardMsAgo: number | null;
  configVersion: number;
}

const addressOf = (i: number) => `127.0.0.1:${BASE_PORT + i - 1}`;

/** Writers putting /load/k<i> through every endpoint they are given, recording what was acknowledged and when. */
class WriteLoad {
  readonly acked = new Map<string, string>();
  readonly ackTimes: number[] = [];
  failures = 0;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly client: ZkClient;
  private next = 0;

  constructor(endpoints: string[]) {
    this.client = new ZkClient({ endpoints, timeoutMs: 10_000 });
  }

  start(writers: number): void {
    for (let w = 0; w < writers; w++) {
      this.loops.push(
        (async () => {
          while (!this.stopped) {
            const path = `/load/k${this.next++}`;
            const value = `v-${path}-${Date.now()}`;
            try {
              await this.client.put(path, Buffer.from(value));
              this.acked.set(path, value);
              this.ackTimes.push(Date.now());
            } catch {
              this.failures++; // unknown outcome: not counted as acknowledged
              await sleep(20);
            }
          }
        })(),
      );
    }
  }

  /** The longest time between two acknowledgements within [from, to]. */
  gapMs(from: number, to: number): number {
    const t = this.ackTimes.filter((x) => x >= from && x <= to).sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i]! - t[i - 1]!);
    return gap;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.client.close();
  }
}

/** Every acknowledged write, read on one member from its own applied state after a sync through it. */
async function assertHasAll(address: string, acked: ReadonlyMap<string, string>): Promise<void> {
  const c = new ZkClient({ endpoints: [address], timeoutMs: 10_000 });
  try {
    await c.sync("/load");
    const list = await c.list("/load", { consistency: "local" });
    const names = new Set(list.children.map((ch) => ch.name));
    const missing = [...acked.keys()].filter((p) => !names.has(p.slice("/load/".length)));
    assert.deepEqual(missing.slice(0, 10), [], `${address} lacks ${missing.length} of ${acked.size} acknowledged writes`);
    const entries = [...acked];
    for (let i = 0; i < entries.length; i += 200) {
      await Promise.all(
        entries.slice(i, i + 200).map(async ([path, value]) => {
          const r = await c.get(path, { consistency: "local" });
          assert.equal(Buffer.from(r.data).toString(), value, `${path} on ${address}`);
        }),
      );
    }
  } finally {
    c.close();
  }
}

describe("online membership change (real processes)", { timeout: 150_000 }, () => {
  const dir = tempClusterDir("membership");
  const { zk, ok } = clusterCli(dir);
  const members = async (): Promise<MemberJson[]> => jsonLines<MemberJson>(await ok(["member", "list", "--json"]));
  const leaderOf = async () => (await members()).find((m) => m.leader)?.id;
  /** Every member of the cluster.json, with a PID that runs. */
  const manifestIds = () => readManifest(dir)!.nodes.map((n) => n.id);
  let acked = new Map<string, string>();

  before(async () => {
    await ok(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--log-level", "warn"]);
    await ok(["propose", "/load", "base"]);
  });
  after(() => destroyCluster(dir));

  test("grow 3 -> 5 and shrink 5 -> 3 (the leader among the removed) under writes: every acknowledged write is on every final member", async () => {
    const load = new WriteLoad([1, 2, 3, 4, 5].map(addressOf));
    load.start(4);
    try {
      for (const id of ["n4", "n5"]) {
        const r = await zk(["cluster", "add-node", "--wait-ms", String(CHANGE_TIMEOUT_MS)]);
        assert.equal(r.code, 0, r.stderr);
        // Each step, in order, as it happens.
        assert.match(r.stdout, new RegExp(`^started ${id} \\(pid \\d+\\) at ${addressOf(Number(id.slice(1))).replaceAll(".", "\\.")}`, "m"));
        const lines = r.stdout.split("\n");
        const steps = [`^started ${id} `, `^added ${id} as a learner`, `^${id} caught up`, `^promoted ${id} to voter`].map((re) => lines.findIndex((l) => new RegExp(re).test(l)));
        assert.ok(steps.every((i, k) => i >= 0 && (k === 0 || i > steps[k - 1]!)), `steps in order: ${r.stdout}`);
      }
      let now = await members();
      assert.deepEqual(now.map((m) => [m.id, m.role]), [["n1", "voter"], ["n2", "voter"], ["n3", "voter"], ["n4", "voter"], ["n5", "voter"]]);
      assert.deepEqual(manifestIds(), ["n1", "n2", "n3", "n4", "n5"]);

      // Shrink: the leader first (it hands leadership over before it goes), then another.
      const leader = (await leaderOf())!;
      const second = ["n1", "n2", "n3"].find((id) => id !== leader)!;
      for (const id of [leader, second]) {
        const pid = readManifest(dir)!.nodes.find((n) => n.id === id)!.pid;
        const r = await zk(["cluster", "remove-node", id]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^removed ${id}: config v\\d+ at slot \\d+; leader (?!${id}\\b)\\S+`, "m"));
        assert.match(r.stdout, new RegExp(`^stopped ${id} \\(pid ${pid}\\)`, "m"));
        assert.ok(!isRunning(pid), `${id}'s process (pid ${pid}) has exited`);
      }
      now = await members();
      assert.equal(now.length, 3);
      assert.ok(now.every((m) => m.role === "voter") && !now.some((m) => m.id === leader || m.id === second), JSON.stringify(now));
      assert.deepEqual(manifestIds(), now.map((m) => m.id));
      assert.deepEqual(readManifest(dir)!.removed?.map((r) => r.id), [leader, second]);
      await sleep(500); // writes after the last change, too
    } finally {
      await load.stop();
    }
    assert.ok(load.acked.size > 100, `only ${load.acked.size} writes acknowledged (${load.failures} failed)`);
    acked = load.acked;
    for (const m of await members()) await assertHasAll(m.address, acked);
  });

  test("replace a member whose disk was wiped: remove its id, add a new member as a learner, promote it", async () => {
    // From a healthy cluster: the leader (new since the shrink) has heard from every voter.
    await waitUntil(async () => (await members()).every((m) => m.caughtUp === true), 20_000, "every member caught up");
    const [victim, ...rest] = (await members()).map((m) => m.id);
    const node = readManifest(dir)!.nodes.find((n) => n.id === victim!)!;
    await ok(["cluster", "kill", victim!]);
    rmSync(node.dataDir, { recursive: true, force: true });
    // If it led, a new leader counts a voter live only once it has heard from it.
    await waitUntil(
      async () => {
        const v = await members();
        return v.some((m) => m.leader && m.id !== victim) && v.filter((m) => m.id !== victim).every((m) => m.caughtUp === true);
      },
      20_000,
      "a leader among the others that has heard from them",
    );
    // The wiped machine does not come back under its old id: that id is removed...
    const removed = await zk(["cluster", "remove-node", victim!]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual((await members()).map((m) => m.id), rest);
    // ...and it joins as a new member: a learner until caught up, then a voter.
    const added = await zk(["cluster", "add-node", "--learner", "--json", "--wait-ms", String(CHANGE_TIMEOUT_MS)]);
    assert.equal(added.code, 0, added.stderr);
    const steps = jsonLines<{ step: string; id: string }>(added.stdout);
    const id = steps[0]!.id;
    assert.ok(!["n1", "n2", "n3", "n4", "n5"].includes(id), `a new id, not a former member's: ${id}`);
    assert.deepEqual(steps.map((s) => s.step).filter((s) => s !== "catching-up"), ["started", "added", "caught-up"]);
    const learner = (await members()).find((m) => m.id === id)!;
    assert.equal(learner.role, "learner");
    assert.equal(learner.caughtUp, true);
    const promoted = await zk(["member", "promote", id]);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, new RegExp(`^promoted ${id} to voter: config v\\d+`));
    const now = await members();
    assert.deepEqual(now.map((m) => [m.id, m.role]), [...rest.map((r) => [r, "voter"]), [id, "voter"]]);
    await assertHasAll(now.find((m) => m.id === id)!.address, acked);
  });

  test("leader transfer under writes: the target leads, no acknowledged write is lost; the write gap is reported", async (t) => {
    const now = await members();
    const from = now.find((m) => m.leader)!.id;
    const to = now.find((m) => !m.leader)!.id;
    const load = new WriteLoad(now.map((m) => m.address));
    load.start(4);
    let transfer: { leader: string; elapsedMs: number; transferred: boolean };
    let t0 = 0;
    let t1 = 0;
    try {
      await sleep(500);
      t0 = Date.now();
      transfer = JSON.parse(await ok(["leader", "transfer", to, "--json"])) as typeof transfer;
      t1 = Date.now();
      await sleep(500);
    } finally {
      await load.stop();
    }
    assert.equal(transfer.leader, to);
    assert.equal(transfer.transferred, true);
    assert.equal(await leaderOf(), to);
    // Measured, not asserted (the machine is shared): how long writes waited.
    t.diagnostic(`leader transfer ${from} -> ${to}: ${transfer.elapsedMs} ms by the node; longest write gap ${load.gapMs(t0 - 100, t1 + 500)} ms; ${load.acked.size} writes acknowledged, ${load.failures} failed`);
    for (const m of now) await assertHasAll(m.address, load.acked);
    // Already the leader: nothing to do.
    assert.match(await ok(["leader", "transfer", to]), new RegExp(`^${to} already leads$`, "m"));
  });

  test("bad input: one line each; unknown ids and malformed input exit 2, conflicts 4; an unreachable learner is never promoted", async () => {
    const now = await members();
    const [a, b, c] = now;
    const refuse = async (args: string[], code: number, pattern?: RegExp) => {
      const r = await zk(args);
      assert.equal(r.code, code, `zk-cli ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
      const line = oneErrorLine(r.stderr);
      if (pattern) assert.match(line, pattern);
      assert.equal(r.stdout, "");
    };
    // Unknown ids, malformed ids and addresses: 2.
    await refuse(["member", "promote", "n99"], 2, /n99/);
    await refuse(["member", "remove", "n99"], 2, /n99/);
    await refuse(["leader", "transfer", "n99"], 2, /n99/);
    await refuse(["cluster", "remove-node", "n99"], 2, /n99/);
    await refuse(["member", "add", "bad id!", "127.0.0.1:29999"], 2);
    await refuse(["member", "add", "n9", "not-an-address"], 2);
    // Duplicate ids (a member's, a former member's) and addresses: 4.
    await refuse(["member", "add", a!.id, "127.0.0.1:29998"], 4, new RegExp(a!.id));
    await refuse(["member", "add", "n1", "127.0.0.1:29998"], 4, /n1/);
    await refuse(["member", "add", "n9", b!.address], 4, new RegExp(b!.address.replaceAll(".", "\\.")));
    // An unreachable address is added as a learner that never catches up, so never a voter.
    assert.match(await ok(["member", "add", "n9", "127.0.0.1:29999", "--learner"]), /^added n9 at 127\.0\.0\.1:29999 as a learner/);
    await sleep(1000);
    const n9 = (await members()).find((m) => m.id === "n9")!;
    assert.equal(n9.role, "learner");
    assert.equal(n9.caughtUp, false);
    await refuse(["member", "promote", "n9"], 4, /n9/);
    assert.equal((await members()).find((m) => m.id === "n9")!.role, "learner");
    await ok(["member", "remove", "n9"]);
    // With one of three voters down, removing a live one would leave too few live voters.
    await ok(["cluster", "kill", c!.id]);
    // The leader counts a voter live while it heard from it within the last 2 s: wait that out.
    await waitUntil(async () => ((await members()).find((m) => m.id === c!.id)?.lastHeardMsAgo ?? 0) > 2000 || null, 20_000, `the leader no longer counts ${c!.id} live`);
    await refuse(["member", "remove", b!.id], 4, new RegExp(b!.id));
    assert.deepEqual((await members()).map((m) => m.id), now.map((m) => m.id));
    await ok(["cluster", "start", c!.id]);
    await waitUntil(async () => (await members()).every((m) => m.caughtUp !== false), 20_000, `${c!.id} caught up again`);
  });

  test("a second change while one is in flight is refused, naming the one in flight (MEMBERSHIP_CONFLICT: zk-cli exits 4)", async () => {
    const now = await members();
    const leader = now.find((m) => m.leader)!;
    const followers = readManifest(dir)!.nodes.filter((n) => n.id !== leader.id && now.some((m) => m.id === n.id) && isRunning(n.pid));
    const client = new ZkClient({ endpoints: [leader.address], timeoutMs: 3000 });
    let lastList = "";
    // (New ids: the tests before used n9, and a removed id is never reused.) With every follower paused, nothing the leader proposes is chosen: the first change stays in flight.
    for (const f of followers) process.kill(f.pid, "SIGSTOP");
    try {
      const first = client.memberAdd("n20", "127.0.0.1:29990", { learner: true }).then(
        () => null,
        (e: unknown) => e,
      );
      await sleep(100);
      const second = await client.memberAdd("n21", "127.0.0.1:29991", { learner: true }).then(
        () => null,
        (e: unknown) => e as { code?: number; message?: string },
      );
      assert.equal(second?.code, ErrorCode.MEMBERSHIP_CONFLICT, `the second change: ${second?.message}`);
      assert.match(second!.message!, /^membership change v\d+ \(add n20 \(learner\)\) at slot \d+ is in flight; retry once it is applied$/);
      await first;
    } finally {
      for (const f of followers) process.kill(f.pid, "SIGCONT");
      client.close();
    }
    // The first change is chosen once the followers run again (or lost with the leader's term); either way the cluster goes on.
    await waitUntil(
      async () => {
        const r = await zk(["member", "list", "--json"]);
        lastList = `${r.code} ${r.stdout} ${r.stderr}`;
        return r.code === 0 && jsonLines<{ changeInFlight: string | null }>(r.stdout).every((x) => !x.changeInFlight);
      },
      30_000,
      "a leader again, with no change in flight",
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last member list: ${lastList}`);
    });
    if ((await members()).some((m) => m.id === "n20")) await ok(["member", "remove", "n20"]);
    assert.deepEqual((await members()).map((m) => m.id), now.map((m) => m.id));
  });

  test("cluster add-node never reuses an id that member remove retired (ids the manifest never held)", async () => {
    const before = await members();
    const m = readManifest(dir)!;
    const next = nextMember(m, before);
    await ok(["member", "add", next.id, "127.0.0.1:29992", "--learner"]);
    await ok(["member", "remove", next.id]);
    const added = await zk(["cluster", "add-node", "--learner", "--json", "--wait-ms", String(CHANGE_TIMEOUT_MS)]);
    assert.equal(added.code, 0, added.stderr);
    const id = jsonLines<{ step: string; id: string }>(added.stdout)[0]!.id;
    assert.ok(Number(id.slice(1)) > Number(next.id.slice(1)), `${id} comes after the retired ${next.id}`);
    await ok(["cluster", "remove-node", id]);
    assert.deepEqual((await members()).map((x) => x.id), before.map((x) => x.id));
  });

  test("cluster remove-node says so when the staying voters had not applied the removal by the time it stopped the node", async () => {
    const now = await members();
    const leader = now.find((m) => m.leader)!;
    const [paused, removed] = now.filter((m) => !m.leader && m.role === "voter");
    const pausedPid = readManifest(dir)!.nodes.find((n) => n.id === paused!.id)!.pid;
    // With one staying voter paused, --force (the liveness check would refuse) removes through
    // the leader's and the removed node's votes, and the paused voter cannot apply it.
    process.kill(pausedPid, "SIGSTOP");
    try {
      const r = await zk(["cluster", "remove-node", removed!.id, "--force", "--wait-ms", "1500"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^warning: ${removed!.id} is stopped, but only 1 of the 2 staying voters had applied its removal \\(config v\\d+\\) within 2 s; if \`zk-cli status\` then shows no leader, start it again until they have \\(\`.+zk-node.+\`; its data is left in .+\\)\\n`, "m"));
    } finally {
      process.kill(pausedPid, "SIGCONT");
    }
    await waitUntil(async () => (await members()).every((m) => m.caughtUp !== false), 20_000, `${paused!.id} caught up`);
    // `member list` answers from the member it reaches, which may not have applied the removal yet
    // (caught up is the leader's view of its log, not of its applied configuration).
    const expected = [leader.id, paused!.id].sort().join(",");
    await waitUntil(async () => (await members()).map((m) => m.id).sort().join(",") === expected, 20_000, `the members are ${expected}`);
  });

  test("cluster.json lost after membership changes: `cluster up --adopt` starts the members the log has now, with their data; removed members' stores stay untouched", async () => {
    const now = (await members()).map((m) => m.id).sort();
    const leftovers = readdirSync(dir).filter((e) => existsSync(join(dir, e, "zk.db")) && !now.includes(e));
    assert.ok(leftovers.length > 0, "removed members left their stores in the dir");
    await ok(["propose", "/adopted", "before the manifest was lost"]);
    await ok(["cluster", "down"]);
    rmSync(join(dir, "cluster.json"));
    // The stores' creation member lists differ (members added later were created with longer
    // ones); the configuration they applied says who the members are.
    const r = await zk(["cluster", "up", "--adopt", "--detach"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readManifest(dir)!.nodes.map((n) => n.id).sort(), now);
    await waitUntil(async () => ((await members()).every((m) => m.caughtUp !== false) ? true : null), 20_000, "the adopted members caught up");
    assert.deepEqual((await members()).map((m) => m.id).sort(), now);
    for (const m of await members()) {
      assert.equal((await ok(["get", "/adopted", "--endpoints", m.address])).trim(), "before the manifest was lost", `on ${m.id}`);
    }
    for (const e of leftovers) assert.ok(existsSync(join(dir, e, "zk.db")), `${e}'s store is still there`);
  });
});
