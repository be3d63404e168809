// Summarises a V8 CPU profile (node --cpu-prof) by self time: the functions the process
// spent its samples in, grouped by function and by package / area, heaviest first.
//
//   tsx scripts/bench/profile-top.mts PROFILE.cpuprofile [--top 30] [--json]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "30" }, json: { type: "boolean", default: false } }, allowPositionals: true });
const file = positionals[0];
if (!file) {
  process.stderr.write("usage: tsx scripts/bench/profile-top.mts PROFILE.cpuprofile [--top N] [--json]\n");
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));

// Self time per node: each sample's time delta belongs to the node it landed in.
const selfUs = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
const totalUs = p.endTime - p.startTime;

/** Where a frame lives: node internals, a dependency, or the zk code by directory. */
function area(url: string, name: string): string {
  if (url === "") {
    if (name === "(garbage collector)") return "gc";
    if (name === "(idle)" || name === "(program)") return name;
    return "native";
  }
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1]!;
  const zk = /packages\/node\/(?:dist|src)\/(.+?)(?:\.[jt]s)?$/.exec(url);
  if (zk) return `zk:${zk[1]!.split("/").slice(0, -1).join("/") || zk[1]!.split("/")[0]}`;
  return url.split("/").slice(-2).join("/");
}

const fn = new Map<string, { us: number; area: string }>();
const areas = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const f = n.callFrame;
  const where = area(f.url, f.functionName);
  const short = f.url ? `${f.url.replace(/^.*\/(node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?)?/, "")}:${f.lineNumber + 1}` : "";
  const key = `${f.functionName || "(anonymous)"}${short ? ` ${short}` : ""}`;
  const e = fn.get(key) ?? { us: 0, area: where };
  e.us += us;
  fn.set(key, e);
  areas.set(where, (areas.get(where) ?? 0) + us);
}

const top = Number(values.top);
const pct = (us: number) => (100 * us) / totalUs;
const fns = [...fn.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top);
const ars = [...areas.entries()].sort((a, b) => b[1] - a[1]);
const idle = (areas.get("(idle)") ?? 0) / totalUs;

if (values.json) {
  process.stdout.write(
    JSON.stringify({
      file,
      seconds: totalUs / 1e6,
      busyPct: 100 * (1 - idle),
      areas: ars.map(([a, us]) => ({ area: a, pct: pct(us) })),
      functions: fns.map(([f, e]) => ({ function: f, area: e.area, pct: pct(e.us) })),
    }) + "\n",
  );
} else {
  const out: string[] = [];
  out.push(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled, busy ${(100 * (1 - idle)).toFixed(0)}% of one core`);
  out.push("");
  out.push("self time by area:");
  for (const [a, us] of ars.slice(0, 20)) out.push(`  ${pct(us).toFixed(1).padStart(5)}%  ${a}`);
  out.push("");
  out.push(`top ${top} functions by self time:`);
  for (const [f, e] of fns) out.push(`  ${pct(e.us).toFixed(1).padStart(5)}%  ${f}  [${e.area}]`);
  process.stdout.write(out.join("\n") + "\n");
}
