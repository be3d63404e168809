// Turns compare.sh's results (JSON lines from scripts/bench/load.mts) into the comparison
// table: medians over the runs of each shape, and zk's ratio to each incumbent. zk-zkport (zk
// through its ZooKeeper port, driven as ZooKeeper is) gets rows of its own, with its ratios to
// ZooKeeper and to zk (the cost of the protocol), after the existing ones.
//
//   tsx scripts/bench/report.mts results.jsonl
import { readFileSync } from "node:fs";

interface Latency {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}
interface Row {
  system: string;
  shape: string;
  label: string;
  clients: number;
  opsPerSec?: number;
  latencyMs?: Latency;
  errorCount?: number;
  rssMb?: number[];
  serverCpuUsPerOp?: number | null;
  loadgenCpuUsPerOp?: number;
  tcpConnections?: number | null;
  gapMs?: number;
  electionMs?: number | null;
  acknowledged?: number;
  failed?: number;
  missing?: number;
  wrong?: number;
  unreadable?: number;
}

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: tsx scripts/bench/report.mts results.jsonl\n");
  process.exit(2);
}
const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const machine = objs.find((o) => o.machine === true) as Record<string, unknown> | undefined;
const machineEnd = objs.find((o) => o.machine === "end") as Record<string, unknown> | undefined;
const rows = objs.filter((o) => !o.machine) as unknown as Row[];

const SYSTEMS = ["etcd", "zookeeper", "zk", "zk-zkport"] as const;
const NAMES: Record<string, string> = { etcd: "etcd", zookeeper: "ZooKeeper", zk: "zk", "zk-zkport": "zk-zkport" };
/** The systems zk's own ratio rows divide by. */
const INCUMBENTS: readonly string[] = ["etcd", "zookeeper"];
/** What zk-zkport's ratio rows divide by. */
const ZKPORT_VERSUS: readonly string[] = ["zookeeper", "zk"];
const SHAPES = [
  { label: "put-1", title: "put, 1 client" },
  { label: "put-64", title: "put, 64 clients" },
  { label: "get-64", title: "linearizable get, 64 clients" },
  { label: "failover-8", title: "leader kill -9: write gap" },
] as const;

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const runsOf = (sys: string, label: string) => rows.filter((r) => r.system === sys && r.label === label);
const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const fmtMs = (n: number) => (!Number.isFinite(n) ? "-" : n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2));
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "-");

interface Summary {
  n: number;
  ops: number;
  opsMin: number;
  opsMax: number;
  p50: number;
  p99: number;
  gap: number;
  gapMin: number;
  gapMax: number;
  election: number;
  lost: number;
  acked: number;
  errors: number;
  rss: number[];
  serverCpu: number;
  loadgenCpu: number;
  tcp: number;
}

function summary(sys: string, label: string): Summary | null {
  const rs = runsOf(sys, label);
  if (rs.length === 0) return null;
  const ops = rs.map((r) => r.opsPerSec ?? Number.NaN).filter(Number.isFinite);
  const gaps = rs.map((r) => r.gapMs ?? Number.NaN).filter(Number.isFinite);
  const rss: number[] = [];
  for (const r of rs) (r.rssMb ?? []).forEach((v, i) => (rss[i] = Math.max(rss[i] ?? 0, v)));
  return {
    n: rs.length,
    ops: median(ops),
    opsMin: Math.min(...ops),
    opsMax: Math.max(...ops),
    p50: median(rs.map((r) => r.latencyMs?.p50 ?? Number.NaN).filter(Number.isFinite)),
    p99: median(rs.map((r) => r.latencyMs?.p99 ?? Number.NaN).filter(Number.isFinite)),
    gap: median(gaps),
    gapMin: Math.min(...gaps),
    gapMax: Math.max(...gaps),
    election: median(rs.map((r) => r.electionMs ?? Number.NaN).filter(Number.isFinite)),
    lost: rs.reduce((n, r) => n + (r.missing ?? 0) + (r.wrong ?? 0) + (r.unreadable ?? 0), 0),
    acked: rs.reduce((n, r) => n + (r.acknowledged ?? 0), 0),
    errors: rs.reduce((n, r) => n + (r.errorCount ?? 0), 0),
    rss,
    serverCpu: median(rs.map((r) => r.serverCpuUsPerOp ?? Number.NaN).filter(Number.isFinite)),
    loadgenCpu: median(rs.map((r) => r.loadgenCpuUsPerOp ?? Number.NaN).filter(Number.isFinite)),
    tcp: median(rs.map((r) => r.tcpConnections ?? Number.NaN).filter(Number.isFinite)),
  };
}

function cell(label: string, s: Summary | null): string {
  if (!s) return "-";
  if (label === "put-1") return `${fmtInt(s.ops)}/s, p50 ${fmtMs(s.p50)} ms`;
  if (label === "put-64") return `${fmtInt(s.ops)}/s, p99 ${fmtMs(s.p99)} ms`;
  if (label === "get-64") return `${fmtInt(s.ops)}/s, p99 ${fmtMs(s.p99)} ms`;
  const range = s.n > 1 ? ` (${fmtInt(s.gapMin)}-${fmtInt(s.gapMax)})` : "";
  return `${fmtInt(s.gap)} ms${range}${s.lost > 0 ? `, ${s.lost} LOST` : ""}`;
}

function ratioCell(label: string, zk: Summary | null, other: Summary | null): string {
  if (!zk || !other) return "-";
  if (label === "put-1") return `${ratio(zk.ops, other.ops)} ops/s, p50 ${ratio(zk.p50, other.p50)}`;
  if (label === "put-64" || label === "get-64") return `${ratio(zk.ops, other.ops)} ops/s, p99 ${ratio(zk.p99, other.p99)}`;
  return `gap ${ratio(zk.gap, other.gap)}`;
}

const out: string[] = [];
const present = SYSTEMS.filter((s) => rows.some((r) => r.system === s));
out.push(`| system | ${SHAPES.map((s) => s.title).join(" | ")} |`);
out.push(`|---|${SHAPES.map(() => "---").join("|")}|`);
for (const sys of present) out.push(`| ${NAMES[sys]} | ${SHAPES.map((s) => cell(s.label, summary(sys, s.label))).join(" | ")} |`);
if (present.includes("zk")) {
  for (const other of present.filter((s) => INCUMBENTS.includes(s))) {
    out.push(`| zk ÷ ${NAMES[other]} | ${SHAPES.map((s) => ratioCell(s.label, summary("zk", s.label), summary(other, s.label))).join(" | ")} |`);
  }
}
const zkport = present.includes("zk-zkport");
if (zkport) {
  for (const other of present.filter((s) => ZKPORT_VERSUS.includes(s))) {
    out.push(`| zk-zkport ÷ ${NAMES[other]} | ${SHAPES.map((s) => ratioCell(s.label, summary("zk-zkport", s.label), summary(other, s.label))).join(" | ")} |`);
  }
}
out.push("");
out.push("Medians over the runs; ratios are zk's figure divided by the other's (ops/s: higher is better for zk; latency and gap: lower is better).");
if (zkport) {
  out.push(
    "zk-zkport is zk's cluster through its ZooKeeper port (--zk-listen), driven by the same node-zookeeper-client driver as ZooKeeper " +
      "(linearizable get: sync + getData); its ratio rows divide zk-zkport's figure by ZooKeeper's and by zk's (gRPC).",
  );
}
out.push("");
out.push("| system | shape | runs | ops/s median (min-max) | p50 ms | p99 ms | errors | server CPU µs/op | load generator CPU µs/op | client TCP conns | peak RSS per member (MB) |");
out.push("|---|---|---|---|---|---|---|---|---|---|---|");
const DETAIL = [
  ...SHAPES.slice(0, 3),
  { label: "put-64-leader", title: "put, 64 clients, all on the leader" },
  { label: "put-1-follower", title: "put, 1 client, on a follower" },
  // ZooKeeper and zk-zkport only.
  { label: "getdata-64", title: "getData (no sync), 64 clients" },
];
for (const sys of present) {
  for (const shape of DETAIL) {
    const s = summary(sys, shape.label);
    if (!s) continue;
    out.push(
      `| ${NAMES[sys]} | ${shape.title} | ${s.n} | ${fmtInt(s.ops)} (${fmtInt(s.opsMin)}-${fmtInt(s.opsMax)}) | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${s.errors} | ` +
        `${fmtInt(s.serverCpu)} | ${fmtInt(s.loadgenCpu)} | ${fmtInt(s.tcp)} | ${s.rss.join(", ")} |`,
    );
  }
}
// zk's ratios for the extra shapes (the main table has the issue's four).
const extraRatios: string[] = [];
for (const other of present.includes("zk") ? present.filter((s) => INCUMBENTS.includes(s)) : []) {
  for (const shape of DETAIL.slice(3)) {
    const a = summary("zk", shape.label);
    const b = summary(other, shape.label);
    if (!a || !b) continue;
    extraRatios.push(`| zk ÷ ${NAMES[other]} | ${shape.title} | ${ratio(a.ops, b.ops)} | ${ratio(a.p50, b.p50)} | ${ratio(a.p99, b.p99)} | ${ratio(a.serverCpu, b.serverCpu)} |`);
  }
}
if (extraRatios.length > 0) {
  out.push("");
  out.push("| ratio | shape | ops/s | p50 | p99 | server CPU µs/op |");
  out.push("|---|---|---|---|---|---|");
  out.push(...extraRatios);
}
// zk-zkport's ratios per detail shape, server CPU per op included.
const zkportRatios: string[] = [];
for (const other of zkport ? present.filter((s) => ZKPORT_VERSUS.includes(s)) : []) {
  for (const shape of DETAIL) {
    const a = summary("zk-zkport", shape.label);
    const b = summary(other, shape.label);
    if (!a || !b) continue;
    zkportRatios.push(
      `| zk-zkport ÷ ${NAMES[other]} | ${shape.title} | ${ratio(a.ops, b.ops)} | ${ratio(a.p50, b.p50)} | ${ratio(a.p99, b.p99)} | ${ratio(a.serverCpu, b.serverCpu)} |`,
    );
  }
}
if (zkportRatios.length > 0) {
  out.push("");
  out.push("| ratio | shape | ops/s | p50 | p99 | server CPU µs/op |");
  out.push("|---|---|---|---|---|---|");
  out.push(...zkportRatios);
}
out.push("");
out.push("| system | failover runs | write gap ms median (min-max) | election ms median | acknowledged writes checked | lost |");
out.push("|---|---|---|---|---|---|");
for (const sys of present) {
  const s = summary(sys, "failover-8");
  if (!s) continue;
  out.push(`| ${NAMES[sys]} | ${s.n} | ${fmtInt(s.gap)} (${fmtInt(s.gapMin)}-${fmtInt(s.gapMax)}) | ${fmtInt(s.election)} | ${s.acked} | ${s.lost} |`);
}
if (machine) {
  out.push("");
  out.push(
    `Machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}; ` +
      `${machine.etcd ?? "etcd ?"}; ZooKeeper ${machine.zookeeper ?? "?"} (${machine.java ?? "java ?"}); ${machine.date}; ` +
      `load average ${machine.loadavg ?? "?"} at the start${machineEnd ? `, ${machineEnd.loadavg} at the end` : ""} (1, 5, 15 min).`,
  );
}
process.stdout.write(out.join("\n") + "\n");
