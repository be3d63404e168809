// Where a write's time goes on its way through a cluster: reads the trace files of its nodes
// (zk-node --trace-file; scripts/bench/timeline.sh makes them) and prints the median and p90 of
// each step, in microseconds, over the sampled slots (packages/node/src/trace.ts).
//
//   node_modules/.bin/tsx scripts/bench/timeline.mts n1.trace n2.trace n3.trace [--json]
import { readFileSync } from "node:fs";
import { parseTrace, summarizeTimeline } from "../../packages/node/src/trace.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const files = args.filter((a) => a !== "--json");
if (files.length === 0) {
  process.stderr.write("usage: tsx scripts/bench/timeline.mts TRACE_FILE... [--json]\n");
  process.exitCode = 2;
} else {
  const steps = summarizeTimeline(files.flatMap((f) => parseTrace(readFileSync(f, "utf8"))));
  if (json) {
    process.stdout.write(`${JSON.stringify(steps)}\n`);
  } else if (steps.length === 0) {
    process.stdout.write("no slot was traced on its leader: were the files written with --trace-file, and did writes run?\n");
  } else {
    const w = Math.max(...steps.map((s) => s.step.length));
    process.stdout.write(`${"step".padEnd(w)}  slots  p50 µs  p90 µs\n`);
    for (const s of steps) process.stdout.write(`${s.step.padEnd(w)}  ${String(s.slots).padStart(5)}  ${String(s.p50Us).padStart(6)}  ${String(s.p90Us).padStart(6)}\n`);
  }
}
