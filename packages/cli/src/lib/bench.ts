// `zk-cli bench put|get|mixed`: closed-loop clients (lib/bench-run.ts) over a set of
// connections to a zk cluster, each connection a ZkSession (the pipelined stream, the hot
// path) or a unary ZkClient (for comparison). Clients are spread round-robin over the
// connections; every client has one request in flight.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { ZkClient, ZkSession } from "@zk/node/client";
import { runClosedLoop, type LoadResult, type OpKind, type Progress } from "./bench-run.js";

export type Workload = "put" | "get" | "mixed";
export type Transport = "session" | "unary";
/** leader: every connection tries the leader first; spread: connection i starts at endpoint i mod n. */
export type ConnectMode = "leader" | "spread";
export type Consistency = "linearizable" | "local";

export const SESSION_TTL_MS = 10_000;
/** Role.LEADER of cluster.proto (a number here, so this module loads no generated code). */
export const ROLE_LEADER = 4;
/** Writes in flight while the key space is filled before a get or mixed run. */
const PREFILL_WINDOW = 64;

export interface BenchOptions {
  readonly workload: Workload;
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly conns: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly valueSize: number;
  /** Fraction of reads in a mixed run (0..1); 0 for put, 1 for get. */
  readonly readRatio: number;
  readonly consistency: Consistency;
  readonly keys: number;
  /** Parent znode of the benchmark's keys. */
  readonly prefix: string;
  readonly transport: Transport;
  readonly connect: ConnectMode;
  readonly timeoutMs: number;
}

export interface BenchResult extends LoadResult {
  readonly workload: Workload;
  readonly transport: Transport;
  readonly connect: ConnectMode;
  readonly consistency: Consistency | null;
  readonly clients: number;
  readonly conns: number;
  /** TCP connections the sessions used during the run (Linux, session transport; null otherwise). */
  readonly tcpConnections: number | null;
  readonly valueSize: number;
  readonly keys: number;
  readonly readRatio: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly endpoints: readonly string[];
  readonly leader: string | null;
}

/** One connection: what the clients on it call. */
export interface BenchConn {
  readonly endpoint: string;
  put(path: string, data: Uint8Array): Promise<unknown>;
  get(path: string, consistency: Consistency): Promise<unknown>;
  close(): Promise<void>;
}

/** The leader's address as the nodes report it, or null when none is known. */
export async function findLeader(probe: ZkClient): Promise<string | null> {
  const statuses = await probe.statusAll();
  const leader = statuses.find((s) => s.status?.role === ROLE_LEADER);
  return leader?.endpoint ?? statuses.find((s) => s.status?.leaderAddress)?.status?.leaderAddress ?? null;
}

/** The endpoint order connection `i` tries. */
export function endpointOrder(endpoints: readonly string[], mode: ConnectMode, leader: string | null, i: number): string[] {
  if (mode === "leader") {
    if (leader === null || !endpoints.includes(leader)) return [...endpoints];
    return [leader, ...endpoints.filter((e) => e !== leader)];
  }
  const n = endpoints.length;
  return Array.from({ length: n }, (_, k) => endpoints[(i + k) % n]!);
}

export async function openConn(transport: Transport, endpoints: readonly string[], timeoutMs: number): Promise<BenchConn> {
  const lib = await import("@zk/node/client");
  if (transport === "unary") {
    const c = new lib.ZkClient({ endpoints, timeoutMs });
    return {
      endpoint: endpoints[0]!,
      put: (path, data) => c.put(path, data),
      get: (path, consistency) => c.get(path, { consistency }),
      close: async () => c.close(),
    };
  }
  const s: ZkSession = await lib.ZkSession.open({ endpoints, timeoutMs, ttlMs: SESSION_TTL_MS });
  return {
    get endpoint() {
      return s.endpoint;
    },
    put: (path, data) => s.put(path, data),
    get: (path, consistency) => s.get(path, { consistency }),
    close: async () => {
      try {
        await s.close();
      } catch {
        s.abandon();
      }
    },
  };
}

export async function openConns(opts: Pick<BenchOptions, "endpoints" | "conns" | "connect" | "transport" | "timeoutMs">, leader: string | null): Promise<BenchConn[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: opts.conns }, (_, i) => openConn(opts.transport, endpointOrder(opts.endpoints, opts.connect, leader, i), opts.timeoutMs)),
  );
  const conns = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(conns.map((c) => c.close()));
    throw failed.reason;
  }
  return conns;
}

export function keyPaths(prefix: string, keys: number): string[] {
  return Array.from({ length: keys }, (_, i) => `${prefix}/k${i}`);
}

/** The parent znode exists, and for reads every key exists (so a get finds a value). */
export async function prepareKeys(conns: readonly BenchConn[], prefix: string, paths: readonly string[], value: Uint8Array, fill: boolean): Promise<void> {
  await conns[0]!.put(prefix, new Uint8Array());
  if (!fill) return;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PREFILL_WINDOW, paths.length) }, async (_, w) => {
      const conn = conns[w % conns.length]!;
      while (next < paths.length) await conn.put(paths[next++]!, value);
    }),
  );
}

/** A stable lower-case name for an error: the ZkError code's name, else the error's name. */
export async function zkErrorNamer(): Promise<(e: unknown) => string> {
  const { errorCodeName } = await import("@zk/node/client");
  return (e) => {
    const err = e as { name?: string; code?: unknown };
    if (err?.name === "ZkError" && typeof err.code === "number") return errorCodeName(err.code);
    return typeof err?.name === "string" ? err.name.toLowerCase() : "error";
  };
}

export async function runBench(opts: BenchOptions, probe: ZkClient, hooks: { onProgress?: (p: Progress) => void; signal?: AbortSignal; onPhase?: (what: string) => void } = {}): Promise<BenchResult> {
  const leader = await findLeader(probe).catch(() => null);
  hooks.onPhase?.(`opening ${opts.conns} ${opts.transport === "session" ? "sessions" : "clients"}`);
  // Unary clients share grpc-js's connections with the probe (equal channel settings), so
  // only sessions' connections can be told apart from what was open before.
  const socketsBefore = opts.transport === "session" ? tcpSocketsTo(opts.endpoints) : null;
  const conns = await openConns(opts, leader);
  try {
    const paths = keyPaths(opts.prefix, opts.keys);
    const value = new Uint8Array(randomBytes(opts.valueSize));
    hooks.onPhase?.(opts.workload === "put" ? "preparing" : `writing ${opts.keys} keys`);
    await prepareKeys(conns, opts.prefix, paths, value, opts.workload !== "put");
    const readRatio = opts.workload === "put" ? 0 : opts.workload === "get" ? 1 : opts.readRatio;
    const connOf = (client: number) => conns[client % conns.length]!;
    const randomPath = () => paths[Math.floor(Math.random() * paths.length)]!;
    let tcpConnections: number | null = null;
    const load = await runClosedLoop({
      clients: opts.clients,
      durationMs: opts.durationMs,
      warmupMs: opts.warmupMs,
      pick: (): OpKind => (readRatio >= 1 ? "read" : readRatio <= 0 ? "write" : Math.random() < readRatio ? "read" : "write"),
      op: (client, kind) => (kind === "read" ? connOf(client).get(randomPath(), opts.consistency) : connOf(client).put(randomPath(), value)),
      errorName: await zkErrorNamer(),
      onProgress: (p) => {
        // Sampled while the load runs, when every connection is in use.
        if (p.phase === "measure" && tcpConnections === null) tcpConnections = newSockets(socketsBefore, tcpSocketsTo(opts.endpoints));
        hooks.onProgress?.(p);
      },
      signal: hooks.signal,
    });
    tcpConnections ??= newSockets(socketsBefore, tcpSocketsTo(opts.endpoints));
    return {
      workload: opts.workload,
      transport: opts.transport,
      connect: opts.connect,
      consistency: readRatio > 0 ? opts.consistency : null,
      clients: opts.clients,
      conns: opts.conns,
      tcpConnections,
      valueSize: opts.valueSize,
      keys: opts.keys,
      readRatio,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      endpoints: opts.endpoints,
      leader,
      ...load,
    };
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

/**
 * Inodes of the established TCP sockets from this process to any of `endpoints` (Linux /proc;
 * null elsewhere). grpc-js shares one connection among channels with equal settings, so the
 * number of ZkSessions is not necessarily the number of connections: this tells which it was.
 */
export function tcpSocketsTo(endpoints: readonly string[]): Set<string> | null {
  if (process.platform !== "linux") return null;
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync("/proc/self/fd")) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
    const ports = new Set(endpoints.map((e) => Number(e.slice(e.lastIndexOf(":") + 1))));
    const found = new Set<string>();
    for (const file of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
      let text = "";
      try {
        text = readFileSync(file, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== "01" || !inodes.has(f[9]!)) continue;
        const port = parseInt(f[2]!.slice(f[2]!.lastIndexOf(":") + 1), 16);
        if (ports.has(port)) found.add(f[9]!);
      }
    }
    return found;
  } catch {
    return null;
  }
}

/** How many of the sockets in `now` are not in `before`. */
export function newSockets(before: Set<string> | null, now: Set<string> | null): number | null {
  if (before === null || now === null) return null;
  let n = 0;
  for (const s of now) if (!before.has(s)) n++;
  return n;
}
