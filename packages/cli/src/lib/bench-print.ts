// Printers for `zk-cli bench`: a table (or one JSON object with --json) on stdout, and a
// live progress line on stderr when stderr is a terminal.
import type { BenchResult } from "./bench.js";
import type { FailoverResult } from "./bench-failover.js";
import type { LatencySummary, Progress } from "./bench-run.js";
import { formatTable, type Column } from "./output.js";

interface LatencyRow {
  readonly op: string;
  readonly count: number;
  readonly opsPerSec: number;
  readonly l: LatencySummary;
}

const ms = (v: number) => v.toFixed(2);

const LATENCY_COLUMNS: readonly Column<LatencyRow>[] = [
  { header: "OP", get: (r) => r.op },
  { header: "COUNT", get: (r) => r.count, right: true },
  { header: "OPS/S", get: (r) => r.opsPerSec.toFixed(0), right: true },
  { header: "MEAN", get: (r) => ms(r.l.mean), right: true },
  { header: "P50", get: (r) => ms(r.l.p50), right: true },
  { header: "P90", get: (r) => ms(r.l.p90), right: true },
  { header: "P99", get: (r) => ms(r.l.p99), right: true },
  { header: "P99.9", get: (r) => ms(r.l.p999), right: true },
  { header: "MAX", get: (r) => ms(r.l.max), right: true },
];

export function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "none" : entries.map(([k, v]) => `${k} ${v}`).join(", ");
}

export function benchDescription(r: BenchResult): string {
  const conn = r.transport === "session" ? (r.conns === 1 ? "session" : "sessions") : r.conns === 1 ? "unary client" : "unary clients";
  const tcp = r.tcpConnections !== null && r.tcpConnections !== r.conns ? ` over ${r.tcpConnections} TCP connection${r.tcpConnections === 1 ? "" : "s"}` : "";
  const reads = r.workload === "mixed" ? `, ${Math.round(r.readRatio * 100)}% reads` : "";
  const consistency = r.consistency ? `, ${r.consistency} reads` : "";
  const target = r.connect === "leader" ? `leader ${r.leader ?? "unknown"} first` : "spread over the endpoints";
  return (
    `bench ${r.workload}: ${r.clients} client${r.clients === 1 ? "" : "s"} on ${r.conns} ${conn}${tcp} (${target})${reads}${consistency}, ` +
    `${r.valueSize}-byte values, ${r.keys} key${r.keys === 1 ? "" : "s"}, ${(r.measuredMs / 1000).toFixed(1)} s after ${(r.warmupMs / 1000).toFixed(1)} s warmup` +
    (r.aborted ? " (interrupted)" : "")
  );
}

export function formatBenchTable(r: BenchResult): string {
  const perSec = (n: number) => (r.measuredMs > 0 ? (n * 1000) / r.measuredMs : 0);
  const rows: LatencyRow[] = [{ op: r.workload === "mixed" ? "all" : r.workload, count: r.ops, opsPerSec: r.opsPerSec, l: r.latencyMs }];
  if (r.workload === "mixed") {
    if (r.readLatencyMs) rows.push({ op: "get", count: r.reads, opsPerSec: perSec(r.reads), l: r.readLatencyMs });
    if (r.writeLatencyMs) rows.push({ op: "put", count: r.writes, opsPerSec: perSec(r.writes), l: r.writeLatencyMs });
  }
  return `${benchDescription(r)}\n${formatTable(rows, LATENCY_COLUMNS)}latency in ms; errors: ${errorsText(r.errors)}\n`;
}

export function benchJson(r: BenchResult): Record<string, unknown> {
  return {
    workload: r.workload,
    transport: r.transport,
    connect: r.connect,
    consistency: r.consistency,
    clients: r.clients,
    conns: r.conns,
    tcpConnections: r.tcpConnections,
    valueSize: r.valueSize,
    keys: r.keys,
    readRatio: r.readRatio,
    warmupMs: r.warmupMs,
    durationMs: r.durationMs,
    measuredMs: Math.round(r.measuredMs),
    ops: r.ops,
    opsPerSec: Math.round(r.opsPerSec * 10) / 10,
    reads: r.reads,
    writes: r.writes,
    latencyMs: r.latencyMs,
    ...(r.workload === "mixed" ? { readLatencyMs: r.readLatencyMs, writeLatencyMs: r.writeLatencyMs } : {}),
    errors: r.errors,
    errorCount: r.errorCount,
    aborted: r.aborted,
    leader: r.leader,
    endpoints: r.endpoints,
  };
}

/** A one-line status that rewrites itself on a terminal's stderr; silent elsewhere. */
export class ProgressLine {
  private readonly enabled: boolean;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = out.isTTY === true;
  }

  show(text: string): void {
    if (!this.enabled) return;
    this.out.write(`\r\x1b[K${this.label} ${text}`);
    this.shown = true;
  }

  load(p: Progress): void {
    if (p.phase === "warmup") {
      this.show(`warming up ${(p.elapsedMs / 1000).toFixed(1)}/${(p.totalMs / 1000).toFixed(1)} s`);
      return;
    }
    this.show(
      `${(p.elapsedMs / 1000).toFixed(1)}/${(p.totalMs / 1000).toFixed(1)} s  ${Math.round(p.recentOpsPerSec).toLocaleString("en-US")} ops/s  ` +
        `p99 ${p.p99Ms.toFixed(2)} ms  ${p.errors} error${p.errors === 1 ? "" : "s"}`,
    );
  }

  clear(): void {
    if (!this.enabled || !this.shown) return;
    this.out.write("\r\x1b[K");
    this.shown = false;
  }
}

// ---- failover ----------------------------------------------------------------------------------

export function failoverJson(r: FailoverResult): Record<string, unknown> {
  return { ...r, errorCount: r.failed };
}

export function formatFailover(r: FailoverResult): string {
  const rows: [string, string][] = [
    ["killed", `${r.killed.id} (pid ${r.killed.pid}, the leader) with SIGKILL`],
    ["election", r.electionMs === null ? "no new leader seen" : `${Math.round(r.electionMs)} ms (${r.newLeader} leads)`],
    ["longest write gap", `${r.gapMs} ms (began ${Math.abs(r.gapStartMs)} ms ${r.gapStartMs < 0 ? "before" : "after"} the kill)`],
    ["first write after kill", r.firstWriteAfterKillMs === null ? "none" : `${r.firstWriteAfterKillMs} ms`],
    ["acknowledged writes", String(r.acknowledged)],
    ["failed writes", r.failed === 0 ? "0" : `${r.failed} (${errorsText(r.errors)}); outcome unknown, not checked`],
    ["read back", `${r.verified} ok, ${r.missing} missing, ${r.wrong} wrong${r.unverified ? `, ${r.unverified} unreadable` : ""}`],
    ["restarted", r.restarted ? `${r.restarted.id} (pid ${r.restarted.pid})` : r.restartError ? `no: ${r.restartError}` : "no"],
  ];
  const conn = r.transport === "session" ? "session" : "unary client";
  const head = `bench failover: ${r.clients} writer${r.clients === 1 ? "" : "s"} on ${r.conns} ${conn}${r.conns === 1 ? "" : "s"} (${r.connect})`;
  return `${head}\n${formatTable(rows, [{ header: "METRIC", get: (x) => x[0] }, { header: "VALUE", get: (x) => x[1] }])}`;
}
