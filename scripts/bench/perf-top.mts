// Summarise `perf script -F tid,ip,sym,dso` output (perf record -g of zk-node processes run
// with --perf-basic-prof) into on-CPU time by area for each process given, and the zk
// functions with the most time under them. Unlike a V8 .cpuprofile, perf samples only while a
// thread is on a CPU: time blocked in a system call (an fsync waiting for the disk) is not
// counted, and the native code (SQLite, nghttp2, the kernel under them) is.
//
//   perf script -i perf.data -F tid,ip,sym,dso > perf.txt
//   node_modules/.bin/tsx scripts/bench/perf-top.mts perf.txt --hz 999 --seconds 4 \
//     --ops-per-sec 3500 --proc n1=1234 --proc n2=1235 --proc load=1240 [--top 25]
//
// Each --proc NAME=PID selects the samples of that process's main thread (its tid is its pid);
// the process's other threads (V8's compiler and GC helpers, libuv's pool) are counted apart.
// With --ops-per-sec the CPU is also given per operation.
import { readFileSync } from "node:fs";

interface Frame {
  readonly sym: string;
  readonly dso: string;
}

function parseArgs(argv: string[]) {
  const procs: { name: string; pid: string }[] = [];
  let file = "";
  let hz = 999;
  let seconds = 0;
  let opsPerSec = 0;
  let top = 25;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`perf-top: ${a} needs a value`);
      return v;
    };
    if (a === "--hz") hz = Number(next());
    else if (a === "--seconds") seconds = Number(next());
    else if (a === "--ops-per-sec") opsPerSec = Number(next());
    else if (a === "--top") top = Number(next());
    else if (a === "--proc") {
      const [name, pid] = next().split("=");
      if (!name || !pid) throw new Error("perf-top: --proc wants NAME=PID");
      procs.push({ name, pid });
    } else if (file === "") file = a;
    else throw new Error(`perf-top: unexpected argument ${a}`);
  }
  if (file === "" || procs.length === 0) throw new Error("usage: perf-top.mts PERF_SCRIPT_TXT --proc NAME=PID [--proc ...] [--hz N --seconds S --ops-per-sec R --top N]");
  return { file, procs, hz, seconds, opsPerSec, top };
}

/** Samples by tid: each a stack, leaf first. */
function parse(text: string): Map<string, Frame[][]> {
  const byTid = new Map<string, Frame[][]>();
  let cur: Frame[] | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      cur = null;
      continue;
    }
    if (!line.startsWith("\t")) {
      const tid = line.trim().split(/\s+/)[0]!;
      cur = [];
      let list = byTid.get(tid);
      if (list === undefined) byTid.set(tid, (list = []));
      list.push(cur);
      continue;
    }
    const m = /^\s*[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$/.exec(line);
    if (m && cur) cur.push({ sym: m[1]!, dso: m[2]! });
  }
  return byTid;
}

const ZK_DIST = /packages\/node\/(?:dist|src)\/([^ :]+)/;

/** The area of a JIT frame (a JavaScript function), or null for native frames. */
function jsArea(f: Frame): string | null {
  if (!f.sym.startsWith("JS:")) return null;
  const s = f.sym;
  if (s.includes("better-sqlite3")) return "sqlite";
  if (s.includes("@grpc/grpc-js")) return "grpc-js";
  if (s.includes("@bufbuild/protobuf") || /\/gen\/zk\//.test(s)) return "protobuf (encode, decode)";
  const zk = ZK_DIST.exec(s);
  if (zk) return `zk: ${zk[1]!.replace(/\.(js|ts)$/, "")}`;
  const internal = /node:(?:internal\/)?([a-z_0-9]+)/.exec(s);
  if (internal) return `node: ${internal[1]}`;
  return "js: other";
}

/** One sample's area: SQLite (with the kernel work it asked for) first, then the nearest JavaScript function's package. */
function area(stack: readonly Frame[]): string {
  if (stack.some((f) => f.dso.includes("better_sqlite3"))) return "sqlite";
  const leaf = stack[0];
  if (leaf !== undefined && leaf.dso.includes("kernel")) {
    const syms = stack.filter((f) => f.dso.includes("kernel")).map((f) => f.sym);
    if (syms.some((s) => /tcp|sock_|inet_|skb|net_rx|__sys_sendmsg|__sys_recvmsg/.test(s))) return "kernel: network";
  }
  const native = stack.slice(0, 8).map((f) => f.sym).join(" ");
  if (/Scavenger|MarkCompact|ConcurrentMarking|Sweeper|Heap::|GCTracer|MemoryAllocator/.test(native)) return "gc";
  for (const f of stack) {
    const a = jsArea(f);
    if (a !== null) return a;
  }
  if (stack.some((f) => /nghttp2|Http2/.test(f.sym))) return "http2 (native)";
  if (leaf !== undefined && leaf.dso.includes("kernel")) return "kernel: other";
  return "native: other";
}

/** The zk functions on a stack (each once), as `module:function`. */
function zkFunctions(stack: readonly Frame[]): Set<string> {
  const out = new Set<string>();
  for (const f of stack) {
    if (!f.sym.startsWith("JS:")) continue;
    const zk = ZK_DIST.exec(f.sym);
    if (!zk) continue;
    const name = /^JS:[*^~]?(\S*)\s/.exec(f.sym)?.[1] || "(anonymous)";
    out.add(`${zk[1]!.replace(/:\d+$/, "")} ${name}`);
  }
  return out;
}

function pct(n: number, of: number): string {
  return `${((100 * n) / of).toFixed(1).padStart(5)}%`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const byTid = parse(readFileSync(args.file, "utf8"));
  for (const p of args.procs) {
    const stacks = byTid.get(p.pid) ?? [];
    const n = stacks.length;
    const cpuMs = (1000 * n) / args.hz;
    let head = `== ${p.name} (pid ${p.pid}): ${n} samples of its main thread, ${cpuMs.toFixed(0)} ms on a CPU`;
    if (args.seconds > 0) head += `, ${((cpuMs / 10 / args.seconds)).toFixed(0)}% of one core`;
    if (args.opsPerSec > 0 && args.seconds > 0) head += `, ${((cpuMs * 1000) / (args.opsPerSec * args.seconds)).toFixed(0)} µs per operation`;
    console.log(head);
    if (n === 0) continue;
    const areas = new Map<string, number>();
    const fns = new Map<string, number>();
    for (const s of stacks) {
      const a = area(s);
      areas.set(a, (areas.get(a) ?? 0) + 1);
      for (const f of zkFunctions(s)) fns.set(f, (fns.get(f) ?? 0) + 1);
    }
    console.log("on-CPU time by area (a sample counts once, in SQLite if SQLite's code is on its stack):");
    let rest = 0;
    for (const [a, c] of [...areas].sort((x, y) => y[1] - x[1])) {
      if (c / n >= 0.005) console.log(`  ${pct(c, n)}  ${a}`);
      else rest += c;
    }
    if (rest > 0) console.log(`  ${pct(rest, n)}  (areas under 0.5% each)`);
    console.log(`zk functions by time on the CPU under them (inclusive), top ${args.top}:`);
    for (const [f, c] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, args.top)) console.log(`  ${pct(c, n)}  ${f}`);
    console.log("");
  }
}

main();
