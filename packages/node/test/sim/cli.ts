// pnpm sim --seeds N [--first-seed S] [--nodes 3|5] [--membership] [--kills] [--tree-in-memory] [--json] [--bug NAME] [--jobs J] (NAME: see PLANTED_BUGS)
// pnpm sim --seed S --trace [--nodes 3|5] [--membership] [--kills] [--bug ...]
// --membership: members are added, promoted and removed, and leadership transferred, while the faults run.
// --kills: processes are killed too (kill -9: every commit survives, unlike a power cut's).
// --tree-in-memory: every node keeps its tree in memory (zk-node --tree-in-memory).
// --jobs: seeds run on this many threads at once (default: one per core); the results are the same.
// Exit code 1 when any seed violates a safety or liveness property; the summary's replay line
// is the command that replays the first failing seed (with the flags it ran with).
import { parseArgs } from "node:util";
import { PLANTED_BUGS, runSeed, type PlantedBug, type SimOptions, type SimResult, type Violation } from "./simulator.js";
import { SEED_THREADS_MAX, SeedPool } from "./pool.js";

// A closed pipe (`| head`) ends the run quietly.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const USAGE = "usage: pnpm sim --seeds N [--first-seed S] [--nodes 3|5] [--membership] [--kills] [--tree-in-memory] [--bug NAME] [--jobs J] [--json] | --seed S --trace [--membership] [--kills] [--tree-in-memory] [--bug NAME]";

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seeds: { type: "string" },
        "first-seed": { type: "string", default: "1" },
        seed: { type: "string" },
        nodes: { type: "string", default: "3" },
        trace: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        bug: { type: "string" },
        "fault-ticks": { type: "string" },
        membership: { type: "boolean", default: false },
        kills: { type: "boolean", default: false },
        "tree-in-memory": { type: "boolean", default: false },
        jobs: { type: "string" },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`sim: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const nodes = int(values.nodes, "--nodes");
  if (nodes === null || nodes < 1 || nodes > 9) return usage("--nodes must be between 1 and 9");
  const bug = values.bug as PlantedBug | undefined;
  if (bug !== undefined && !PLANTED_BUGS.includes(bug)) return usage(`--bug must be one of ${PLANTED_BUGS.join(", ")}`);
  const faultTicks = values["fault-ticks"] === undefined ? undefined : int(values["fault-ticks"], "--fault-ticks") ?? undefined;
  const run: RunFlags = { nodes, bug, faultTicks, membership: values.membership, kills: values.kills, treeInMemory: values["tree-in-memory"] };

  if (values.seed !== undefined) {
    const seed = int(values.seed, "--seed");
    if (seed === null) return usage("--seed must be an integer");
    const r = runSeed({ ...run, seed, trace: values.trace ? (l) => process.stdout.write(l + "\n") : undefined });
    if (values.json) process.stdout.write(JSON.stringify(summarize([r], run, 0)) + "\n");
    else printSummary(summarize([r], run, 0));
    return r.violation ? 1 : 0;
  }

  const count = int(values.seeds ?? "100", "--seeds");
  const first = int(values["first-seed"], "--first-seed");
  if (count === null || count < 1 || first === null) return usage("--seeds and --first-seed must be integers, --seeds at least 1");
  const jobs = values.jobs === undefined ? undefined : int(values.jobs, "--jobs");
  if (jobs === null || (jobs !== undefined && (jobs < 1 || jobs > SEED_THREADS_MAX))) return usage(`--jobs must be between 1 and ${SEED_THREADS_MAX}`);
  const started = performance.now();
  const progress = !values.json && process.stderr.isTTY;
  const pool = new SeedPool(jobs);
  let done = 0;
  let results: SimResult[];
  try {
    results = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const r = await pool.run({ ...run, seed: first + i });
        if (progress && ++done % 100 === 0) process.stderr.write(`\r${done}/${count} seeds`);
        return r;
      }),
    );
  } finally {
    await pool.close();
  }
  if (progress) process.stderr.write("\r");
  const summary = summarize(results, run, performance.now() - started);
  if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else printSummary(summary);
  return summary.violations > 0 ? 1 : 0;
}

/** The flags a run's seeds share. */
type RunFlags = Omit<SimOptions, "seed" | "trace"> & { readonly nodes: number };

interface Summary {
  nodes: number;
  membership: boolean;
  kills: boolean;
  treeInMemory: boolean;
  bug: PlantedBug | null;
  seeds: number;
  firstSeed: number;
  violations: number;
  failingSeeds: number[];
  firstViolation: Violation | null;
  ticks: number;
  steps: number;
  elections: number;
  chosen: number;
  proposals: number;
  acknowledged: number;
  crashes: number;
  messagesDelivered: number;
  readsServed: number;
  sessionsOpened: number;
  sessionsExpired: number;
  locksHeld: number;
  faultTicks: number | null;
  faults: Record<string, number>;
  checks: Record<string, number>;
  seconds: number;
  seedsPerSecond: number;
}

function summarize(results: SimResult[], run: RunFlags, ms: number): Summary {
  const failing = results.filter((r) => r.violation);
  const faults: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  const checks: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.checks)) checks[k] = (checks[k] ?? 0) + v;
  const sum = (f: (r: SimResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    nodes: run.nodes,
    membership: run.membership ?? false,
    kills: run.kills ?? false,
    treeInMemory: run.treeInMemory ?? false,
    bug: run.bug ?? null,
    faultTicks: run.faultTicks ?? null,
    seeds: results.length,
    firstSeed: results[0]?.seed ?? 0,
    violations: failing.length,
    failingSeeds: failing.map((r) => r.seed).slice(0, 20),
    firstViolation: failing[0]?.violation ?? null,
    ticks: sum((r) => r.ticks),
    steps: sum((r) => r.steps),
    elections: sum((r) => r.elections),
    chosen: sum((r) => r.chosen),
    proposals: sum((r) => r.proposals),
    acknowledged: sum((r) => r.acknowledged),
    crashes: sum((r) => r.crashes),
    messagesDelivered: sum((r) => r.messagesDelivered),
    readsServed: sum((r) => r.readsServed),
    sessionsOpened: sum((r) => r.sessionsOpened),
    sessionsExpired: sum((r) => r.sessionsExpired),
    locksHeld: sum((r) => r.locksHeld),
    faults,
    checks,
    seconds: Math.round(ms) / 1000,
    seedsPerSecond: ms > 0 ? Math.round((results.length / ms) * 1000 * 10) / 10 : 0,
  };
}

function printSummary(s: Summary): void {
  const lines = [
    `seeds        ${s.seeds} (${s.firstSeed}..${s.firstSeed + s.seeds - 1}) on ${s.nodes} nodes`,
    `steps        ${s.steps}  ticks ${s.ticks}  messages ${s.messagesDelivered}`,
    `elections    ${s.elections}`,
    `chosen       ${s.chosen} entries; ${s.acknowledged}/${s.proposals} proposals acknowledged; ${s.readsServed} linearizable reads checked`,
    `sessions     ${s.sessionsOpened} opened, ${s.sessionsExpired} expired; the lock held ${s.locksHeld} times`,
    `faults       ${Object.entries(s.faults).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `checks       ${Object.entries(s.checks).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `violations   ${s.violations}${s.failingSeeds.length ? `  seeds: ${s.failingSeeds.join(" ")}` : ""}`,
  ];
  if (s.firstViolation) {
    const v = s.firstViolation;
    lines.push(`first        seed ${v.seed} tick ${v.tick} ${v.kind}: ${v.message}`);
    lines.push(`replay       ${replayCommand(v.seed, s)}`);
  }
  if (s.seconds > 0) lines.push(`speed        ${s.seedsPerSecond} seeds/s (${s.seconds} s)`);
  process.stdout.write(lines.join("\n") + "\n");
}

/** The command that runs `seed` again as it ran here, traced: every flag that shapes a seed's run. */
function replayCommand(seed: number, s: Pick<Summary, "nodes" | "membership" | "kills" | "treeInMemory" | "bug" | "faultTicks">): string {
  const flags = [`--seed ${seed}`, `--nodes ${s.nodes}`];
  if (s.membership) flags.push("--membership");
  if (s.kills) flags.push("--kills");
  if (s.treeInMemory) flags.push("--tree-in-memory");
  if (s.bug !== null) flags.push(`--bug ${s.bug}`);
  if (s.faultTicks !== null) flags.push(`--fault-ticks ${s.faultTicks}`);
  return `pnpm sim ${flags.join(" ")} --trace`;
}

function int(v: string | undefined, _name: string): number | null {
  if (v === undefined || !/^-?\d+$/.test(v)) return null;
  return Number(v);
}

function usage(msg: string): number {
  process.stderr.write(`sim: ${msg}\n${USAGE}\n`);
  return 2;
}

process.exitCode = await main();
