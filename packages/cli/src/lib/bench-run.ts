// The closed-loop load runner behind `zk-cli bench` and scripts/bench (which drives etcd and
// ZooKeeper with it too, so every system is measured by the same loop and the same histogram).
// Each client has exactly one request in flight: it sends, waits for the answer, records the
// latency, and sends the next. Throughput is what the system gives back, not what we offer.
// Knows nothing of zk: an operation is a function, an error's name comes from `errorName`.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import * as hdr from "hdr-histogram-js";

/** After a failed request a client waits this long before the next, so an outage is not a busy loop. */
export const ERROR_PAUSE_MS = 10;
/** How long the run waits, after its end, for the clients' last requests to be answered. */
export const DRAIN_WAIT_MS = 1000;
/** How often the progress callback is called. */
export const PROGRESS_INTERVAL_MS = 500;
/** Latencies are recorded in microseconds; the histogram keeps 3 significant digits. */
const LATENCY_DIGITS = 3;

export type OpKind = "read" | "write";

export interface LoadSpec {
  readonly clients: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Run one operation of `kind` for client `client` (0-based); resolve when it is answered. */
  readonly op: (client: number, kind: OpKind) => Promise<unknown>;
  /** The kind of the next operation (e.g. by a read ratio); default: always a write. */
  readonly pick?: () => OpKind;
  /** A stable short name for a failure (e.g. "unavailable"); default: the error's code or name. */
  readonly errorName?: (e: unknown) => string;
  /** Called every PROGRESS_INTERVAL_MS with the numbers so far (measurement phase only). */
  readonly onProgress?: (p: Progress) => void;
  /** Ends the run early (e.g. on SIGINT); what was measured so far is reported. */
  readonly signal?: AbortSignal;
}

export interface Progress {
  readonly phase: "warmup" | "measure";
  readonly elapsedMs: number;
  readonly totalMs: number;
  readonly ops: number;
  /** Operations per second over the last interval. */
  readonly recentOpsPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface LoadResult {
  /** How long the measurement phase lasted (shorter than asked when aborted). */
  readonly measuredMs: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly reads: number;
  readonly writes: number;
  /** Milliseconds, from the HDR histograms of the measurement phase. */
  readonly latencyMs: LatencySummary;
  readonly readLatencyMs: LatencySummary | null;
  readonly writeLatencyMs: LatencySummary | null;
  /** Failed operations during the measurement phase, by error name. */
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly aborted: boolean;
}

export function newHistogram(): hdr.Histogram {
  return hdr.build({ numberOfSignificantValueDigits: LATENCY_DIGITS, lowestDiscernibleValue: 1, autoResize: true });
}

/**
 * A histogram of microseconds summarised in milliseconds. A percentile is the top of its
 * bucket (3 significant digits), which can lie a little above the largest value recorded:
 * percentiles are capped at the maximum so that p50 <= ... <= max always holds.
 */
export function summarize(h: hdr.Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const max = h.maxValue;
  const at = (p: number) => Math.round(Math.min(h.getValueAtPercentile(p), max)) / 1000;
  return {
    count: h.totalCount,
    mean: Math.round(h.mean) / 1000,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: Math.round(max) / 1000,
  };
}

function defaultErrorName(e: unknown): string {
  const err = e as { code?: unknown; name?: unknown };
  if (typeof err?.code === "string" || typeof err?.code === "number") return String(err.code).toLowerCase();
  return typeof err?.name === "string" ? err.name : "error";
}

/**
 * Run `spec.clients` closed-loop clients for warmup + duration. Operations that complete
 * during the warmup are not counted; an operation counts when it completes inside the
 * measurement window (whenever it started).
 */
export async function runClosedLoop(spec: LoadSpec): Promise<LoadResult> {
  const pick = spec.pick ?? (() => "write" as const);
  const errorName = spec.errorName ?? defaultErrorName;
  const all = newHistogram();
  const reads = newHistogram();
  const writes = newHistogram();
  const errors: Record<string, number> = {};
  let errorCount = 0;
  let ops = 0;
  let readOps = 0;
  let writeOps = 0;

  const start = performance.now();
  let measureStart = start + spec.warmupMs;
  let end = measureStart + spec.durationMs;
  let stopped = false;
  let aborted = false;
  let onStopped: () => void = () => undefined;
  const stoppedP = new Promise<void>((resolve) => (onStopped = resolve));
  const stop = (early: boolean) => {
    if (stopped) return;
    stopped = true;
    onStopped();
    const now = performance.now();
    // A timer may fire a little before performance.now() reaches `end`: only a signal ends early.
    if (early && now < end) {
      aborted = true;
      end = now;
      if (now < measureStart) measureStart = now;
    }
  };
  spec.signal?.addEventListener("abort", () => stop(true), { once: true });
  if (spec.signal?.aborted) stop(true);

  const timer = setTimeout(() => stop(false), spec.warmupMs + spec.durationMs);

  let lastOps = 0;
  let lastAt = measureStart;
  const progress = spec.onProgress
    ? setInterval(() => {
        const now = performance.now();
        const measuring = now >= measureStart;
        const recent = measuring ? ((ops - lastOps) * 1000) / Math.max(1, now - lastAt) : 0;
        if (measuring) {
          lastOps = ops;
          lastAt = now;
        }
        spec.onProgress!({
          phase: measuring ? "measure" : "warmup",
          elapsedMs: measuring ? now - measureStart : now - start,
          totalMs: measuring ? spec.durationMs : spec.warmupMs,
          ops,
          recentOpsPerSec: recent,
          p99Ms: all.totalCount > 0 ? all.getValueAtPercentile(99) / 1000 : 0,
          errors: errorCount,
        });
      }, PROGRESS_INTERVAL_MS)
    : null;

  const client = async (i: number) => {
    while (!stopped) {
      const kind = pick();
      const t0 = performance.now();
      let failure: unknown = null;
      try {
        await spec.op(i, kind);
      } catch (e) {
        failure = e;
      }
      const t1 = performance.now();
      const counted = t1 >= measureStart && t1 <= end;
      if (failure !== null) {
        if (counted) {
          const name = errorName(failure);
          errors[name] = (errors[name] ?? 0) + 1;
          errorCount++;
        }
        if (!stopped) await sleep(ERROR_PAUSE_MS);
        continue;
      }
      if (!counted) continue;
      const us = Math.max(1, Math.round((t1 - t0) * 1000));
      all.recordValue(us);
      ops++;
      if (kind === "read") {
        reads.recordValue(us);
        readOps++;
      } else {
        writes.recordValue(us);
        writeOps++;
      }
    }
  };

  try {
    // A request still unanswered DRAIN_WAIT_MS after the end does not hold the result up: it
    // is not counted either way, and closing the connections fails it.
    const done = Promise.all(Array.from({ length: spec.clients }, (_, i) => client(i)));
    await Promise.race([done, stoppedP.then(() => sleep(DRAIN_WAIT_MS))]);
  } finally {
    clearTimeout(timer);
    if (progress) clearInterval(progress);
  }
  const measuredMs = Math.max(0, end - measureStart);
  return {
    measuredMs,
    ops,
    opsPerSec: measuredMs > 0 ? (ops * 1000) / measuredMs : 0,
    reads: readOps,
    writes: writeOps,
    latencyMs: summarize(all),
    readLatencyMs: readOps > 0 ? summarize(reads) : null,
    writeLatencyMs: writeOps > 0 ? summarize(writes) : null,
    errors,
    errorCount,
    aborted,
  };
}
