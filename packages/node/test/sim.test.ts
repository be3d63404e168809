// The simulator is the safety net for the core: a few hundred seeds here on every run,
// 10,000 per cluster size before a change to the core lands (see README). These tests also
// prove the net has no hole big enough for a planted bug to slip through.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { type PlantedBug, type SimOptions, type SimResult } from "./sim/simulator.js";
import { SeedPool } from "./sim/pool.js";

// Seeds are CPU-bound and deterministic: they run on every core (the results are the same).
const pool = new SeedPool();
after(() => pool.close());

/** Seeds first .. first + count - 1 with these options. */
function seeds(first: number, count: number, opts: Omit<SimOptions, "seed">): SimOptions[] {
  return Array.from({ length: count }, (_, i) => ({ ...opts, seed: first + i }));
}

function sweep(nodes: number, first: number, count: number, membership = false, treeInMemory = false): Promise<SimResult[]> {
  // Killed processes (kept commits) as well as power cuts.
  return pool.runAll(seeds(first, count, { nodes, membership, kills: true, treeInMemory }));
}

/** What only a run with membership changes does. */
const MEMBERSHIP_ONLY = new Set<string>(["member-add", "member-promote", "member-remove", "leader-transfer", "member-retired", "membership-change-applied"]);
/** What only a run with the tree in memory does. */
const MEMORY_ONLY = new Set<string>(["disk-full-at-commit"]);
/** Checks too rare for the shorter sweeps with trees in memory to be sure to meet (1 in 150 seeds on 3 nodes). */
const RARE_IN_SHORT_SWEEPS = new Set<string>(["expired-only-through-log"]);

describe("simulated clusters stay safe and live", () => {
  // Each seed runs the real znode tree on every replica (in-memory SQLite): ~10x the cost of
  // a core-only seed, so the suite sweeps fewer; run 10,000 per size before landing a change.
  // The last two: every node's tree in memory (zk-node --tree-in-memory), checkpoints and replays.
  const runs = [[3, 150, false, false], [5, 60, false, false], [3, 200, true, false], [5, 100, true, false], [3, 80, false, true], [5, 40, true, true]] as const;
  for (const [nodes, count, membership, memory] of runs) {
    test(`${count} seeds on ${nodes} nodes${membership ? " with membership changes" : ""}${memory ? ", trees in memory" : ""}: no violation, and the faults really happen`, async () => {
      const results = await sweep(nodes, 1, count, membership, memory);
      const bad = results.filter((r) => r.violation);
      assert.deepEqual(bad.map((r) => r.violation), []);
      const total = (f: (r: SimResult) => number) => results.reduce((a, r) => a + f(r), 0);
      // A sweep that injected nothing or chose nothing would prove nothing.
      for (const kind of (Object.keys(results[0]!.faults) as (keyof SimResult["faults"])[]).filter((k) => (membership || !MEMBERSHIP_ONLY.has(k)) && (memory || !MEMORY_ONLY.has(k)))) {
        assert.ok(total((r) => r.faults[kind]) > 0, `no ${kind} fault was injected`);
      }
      assert.ok(total((r) => r.elections) > count, "elections happened");
      assert.ok(total((r) => r.acknowledged) > count * 50, "proposals were chosen and acknowledged");
      for (const check of (Object.keys(results[0]!.checks) as (keyof SimResult["checks"])[]).filter((c) => c !== "linearizable-key-history-undecided" && c !== "applied-kept-by-kill" && (membership || !MEMBERSHIP_ONLY.has(c)) && !(memory && RARE_IN_SHORT_SWEEPS.has(c)))) {
        assert.ok(total((r) => r.checks[check]) > 0, `the ${check} check never ran`);
      }
      assert.equal(total((r) => r.acknowledged), total((r) => r.proposals), "every proposal was acknowledged in the end");
    });
  }
});

describe("planted bugs are caught", () => {
  // `from`: where the search for a violating seed starts, the first one known to violate when
  // the case was written (so the suite stays fast); a change to the simulator that moves it
  // is still caught by the search of the 300 seeds from there.
  const cases: { bug: PlantedBug; nodes: number; from: number; membership?: boolean; treeInMemory?: boolean; kills?: boolean }[] = [
    { bug: "forget-promise", nodes: 3, from: 9 },
    { bug: "skip-recovery", nodes: 3, from: 1 },
    { bug: "skip-recovery", nodes: 5, from: 7 },
    { bug: "local-read", nodes: 3, from: 6 },
    { bug: "wiped-votes", nodes: 3, from: 41 },
    { bug: "wiped-votes", nodes: 5, from: 92 },
    { bug: "stale-read-round", nodes: 3, from: 369 },
    { bug: "double-apply", nodes: 3, from: 1 },
    { bug: "expire-on-election", nodes: 3, from: 2 },
    { bug: "expire-on-election", nodes: 5, from: 9 },
    { bug: "send-before-flush", nodes: 3, from: 5 },
    // An election won while a flush is in flight (its event comes with the next Ready).
    { bug: "expire-before-election-event", nodes: 3, from: 362 },
    // Sends a Ready whose fsync failed, then stops: found once the machine restarts on the disk's truth.
    { bug: "send-on-flush-error", nodes: 3, from: 1244 },
    // A follower's apply backlog kept across a core rebuilt from its store: applied twice.
    { bug: "keep-apply-backlog", nodes: 3, from: 2 },
    { bug: "lock-ignores-suspension", nodes: 3, from: 23 },
    // A follower's batched apply leaves out the chosen index waiting in memory: on restart the
    // core refuses a store whose applied index is past its chosen one.
    { bug: "apply-past-chosen", nodes: 3, from: 2 },
    // A deposed leader says its unchosen writes were not applied; a later leader chooses one.
    { bug: "deposed-not-applied", nodes: 3, from: 1 },
    // With the tree in memory, a transaction whose commit failed leaves its applies in the maps.
    { bug: "tree-not-undone", nodes: 3, from: 16, treeInMemory: true },
    // A follower's read served inside a Ready applies the backlog past a snapshot point, whose
    // discard the core (that Ready not yet advanced) refuses: the node stops on its invariant.
    { bug: "snapshot-point-mid-ready", nodes: 3, from: 4053, treeInMemory: true, kills: true },
  ];
  for (const { bug, nodes, from, membership = false, treeInMemory = false, kills = false } of cases) {
    test(`${bug} on ${nodes} nodes${membership ? " (membership changes on)" : ""}${treeInMemory ? " (trees in memory)" : ""}${kills ? " (kills)" : ""}: a seed violates safety, and replaying it shows the same violation`, async () => {
      // A broken protocol may also livelock; the seed we want shows the safety failure.
      const found = await pool.findFirst(seeds(from, 300, { nodes, bug, membership, treeInMemory, kills }), (r) => r.violation !== null && r.violation.kind !== "liveness");
      assert.ok(found?.violation, `no seed in ${from}..${from + 299} exposed ${bug} as a safety or assertion failure`);
      // Replayed, the seed fails the same way; the same seed without the bug is clean.
      const [again, clean] = await pool.runAll([{ seed: found.seed, nodes, bug, membership, treeInMemory, kills }, { seed: found.seed, nodes, membership, treeInMemory, kills }]);
      assert.deepEqual(again!.violation, found.violation, "the seed reproduces the failure exactly");
      assert.equal(clean!.violation, null);
    });
  }
});

describe("seeds that found bugs stay clean", () => {
  // Each found a bug once (the violation it showed before the fix). A change of the random
  // streams may move the situation off the seed, but the seed must stay clean whatever it runs.
  const seeds: { seed: number; nodes: number; membership?: boolean; kills?: boolean; treeInMemory?: boolean; was: string }[] = [
    // --fsync-off-loop: a follower's flush failed after a snapshot had replaced its core, and
    // the machine ignored the failure ("n1 runs on after its fsync failed").
    { seed: 670, nodes: 3, was: "a failed flush ignored after a snapshot install" },
    // The simulator's own bookkeeping: a process killed while its Ready's flush was in flight
    // kept that Ready's applies, which it had never reported; the checker took the restarted
    // node's next apply for a skipped slot ("n6 applied slot 37 after 31").
    { seed: 16, nodes: 5, membership: true, kills: true, was: "applies kept by a killed process" },
    // Trees in memory: a disk alarm reloaded the core from the store, whose chosen index was
    // behind the slots the maps had applied ("applied index 51 is past the chosen index 49").
    { seed: 6, nodes: 3, kills: true, treeInMemory: true, was: "a core reloaded behind the tree in memory" },
    // Trees in memory, the simulator's bookkeeping: it took a node's tables to follow its
    // applies, and streamed them as a snapshot at the wrong slot ("n2 applied request r101 twice").
    { seed: 1, nodes: 3, treeInMemory: true, was: "a snapshot of tables behind the tree in memory" },
    // The simulator's in-memory store: a snapshot install whose commit hit a full disk rolled
    // back the hard state but kept the entries it deleted gone ("entries loaded from 43, past
    // the chosen index 34"). Found with the heartbeat change's schedules.
    { seed: 160, nodes: 3, kills: true, treeInMemory: true, was: "a failed snapshot install half undone" },
    // A member far behind (its snapshot broke) did not know a voter added since, which alone
    // knew the last chosen slot: it dropped that voter's campaign and no one was elected.
    { seed: 525, nodes: 5, membership: true, kills: true, was: "a new voter's campaign dropped by a member behind" },
    // The simulator's fault model: it wiped one of the two voters of a removal left unchosen in
    // a crashed leader's log (it counted live cores' configurations only), and no leader could
    // be elected again, as none can.
    { seed: 1835, nodes: 3, membership: true, kills: true, treeInMemory: true, was: "a wipe no configuration could spare" },
  ];
  for (const { seed, nodes, membership = false, kills = false, treeInMemory = false, was } of seeds) {
    test(`seed ${seed} on ${nodes} nodes${kills ? " with kills" : ""}${treeInMemory ? ", trees in memory" : ""} (${was})`, async () => {
      assert.equal((await pool.run({ seed, nodes, membership, kills, treeInMemory })).violation, null);
    });
  }
});

describe("what a write costs the disks", () => {
  // Per chosen slot in a calm run: the leader commits its acceptance and its apply, each
  // follower its acceptance (about four in all), plus the followers' batched applies and the
  // leader's own commands. A follower that committed the leader's notification of the chosen
  // index on its own (nothing else in that Ready) added one more per follower: 6.9-7.2 on
  // these seeds, against 5.4-5.6 with the notification written by its next transaction.
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}, calm: under 6.2 store commits per chosen slot on 3 nodes`, async () => {
      const r = await pool.run({ seed, nodes: 3, faults: "demo" });
      assert.equal(r.violation, null);
      assert.ok(r.chosen >= 50, `only ${r.chosen} slots chosen`);
      const perSlot = r.commits / r.chosen;
      assert.ok(perSlot < 6.2, `${r.commits} commits for ${r.chosen} chosen slots (${perSlot.toFixed(2)} a slot)`);
    });
    // With the tree in memory an apply commits nothing (the tree reaches the store at
    // checkpoints): each member's acceptance alone, 2.6-3.0 a slot on these seeds.
    test(`seed ${seed}, calm, trees in memory: under 3.5 store commits per chosen slot on 3 nodes`, async () => {
      const r = await pool.run({ seed, nodes: 3, faults: "demo", treeInMemory: true });
      assert.equal(r.violation, null);
      assert.ok(r.chosen >= 50, `only ${r.chosen} slots chosen`);
      const perSlot = r.commits / r.chosen;
      assert.ok(perSlot < 3.5, `${r.commits} commits for ${r.chosen} chosen slots (${perSlot.toFixed(2)} a slot)`);
    });
  }
});

describe("pnpm sim", () => {
  const cli = fileURLToPath(new URL("./sim/cli.ts", import.meta.url));
  const sim = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8", timeout: 60_000 });

  test("--json prints one summary object; exit 0 without violations", () => {
    const r = sim("--seeds", "5", "--first-seed", "40", "--nodes", "5", "--json");
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const s = JSON.parse(lines[0]!);
    assert.equal(s.seeds, 5);
    assert.equal(s.firstSeed, 40);
    assert.equal(s.nodes, 5);
    assert.equal(s.violations, 0);
    // Counts per fault kind and per checked property, the new faults among them.
    for (const kind of ["wipe", "stall", "disk-full", "long-delay", "clock-drift", "crash-restart"]) assert.equal(typeof s.faults[kind], "number", kind);
    for (const check of ["one-value-per-slot", "linearizable-read", "rebuilt-node-recovered"]) assert.equal(typeof s.checks[check], "number", check);
  });

  test("--kills: processes are killed as well as powered off", () => {
    const r = sim("--seeds", "3", "--first-seed", "16", "--nodes", "5", "--membership", "--kills", "--json");
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim());
    assert.equal(s.violations, 0);
    assert.ok(s.faults["process-kill"] > 0, "no process was killed");
  });

  test("kills: a killed node keeps applies it never reported (its Ready waited for a flush), and they count", async () => {
    // Rare (a kill while a flush is in flight, on an even seed): search for the first seed.
    const kept = await pool.findFirst(seeds(1, 300, { nodes: 5, membership: true, kills: true }), (r) => {
      assert.equal(r.violation, null, `seed ${r.seed}`);
      return r.checks["applied-kept-by-kill"] > 0;
    });
    assert.ok(kept, "no seed in 1..300 had a killed process keep an apply it had not reported");
  });

  test("exit 1 with the failing seed and a replay command when a planted bug is on; the replay, run as printed, fails the same way", () => {
    const r = sim("--seeds", "6", "--first-seed", "1", "--bug", "skip-recovery", "--kills");
    assert.equal(r.status, 1);
    assert.match(r.stdout, /violations +[1-9]/);
    const first = /^first +(seed \d+ tick \d+ .*)$/m.exec(r.stdout)?.[1];
    // The replay names every flag the seed ran with: without --bug it would replay a clean run.
    const replay = /^replay +pnpm sim (--seed \d+ --nodes 3 --kills --bug skip-recovery --trace)$/m.exec(r.stdout)?.[1];
    assert.ok(first !== undefined && replay !== undefined, r.stdout);
    const again = sim(...replay.split(" "));
    assert.equal(again.status, 1, again.stderr);
    assert.equal(/^first +(.*)$/m.exec(again.stdout)?.[1], first);
  });

  test("--jobs: the same results on one thread as on several", () => {
    const one = JSON.parse(sim("--seeds", "4", "--first-seed", "20", "--kills", "--jobs", "1", "--json").stdout);
    const two = JSON.parse(sim("--seeds", "4", "--first-seed", "20", "--kills", "--jobs", "2", "--json").stdout);
    for (const s of [one, two]) delete s.seconds, delete s.seedsPerSecond;
    assert.deepEqual(two, one);
    assert.ok(one.chosen > 0, "the seeds chose entries");
  });

  test("--seed S --trace replays one seed as a readable trace", () => {
    const r = sim("--seed", "3", "--trace");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /n\d leader ballot \d+\.n\d leader n\d \(promise-quorum\)/);
    assert.match(r.stdout, /slot 1 chosen: /);
  });

  test("bad flags exit 2 with a one-line reason", () => {
    const r = sim("--nodes", "x");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^sim: --nodes must be between 1 and 9/);
    const jobs = sim("--seeds", "3", "--jobs", "0");
    assert.equal(jobs.status, 2);
    assert.match(jobs.stderr, /^sim: --jobs must be between 1 and 8/);
  });
});
