// The load generator of scripts/bench/compare.sh: the same closed-loop clients, the same HDR
// histogram (packages/cli/src/lib/bench-run.ts, shared with `zk-cli bench`) and the same
// workload shapes against zk, etcd and ZooKeeper. One connection per client (a ZkSession, an
// etcd3 client pinned to one member, a ZooKeeper session), clients spread over the members
// round-robin, one request in flight per client, 100-byte values. `zk-zkport` is zk driven
// through its ZooKeeper port (zk-node --zk-listen) by the same node-zookeeper-client driver
// as `zookeeper`; `getdata` is the ZooKeeper drivers' plain getData (no sync: ZooKeeper's
// default read, served from the member the session is on).
//
//   tsx scripts/bench/load.mts --system zk|etcd|zookeeper|zk-zkport --endpoints h:p,h:p,h:p \
//       --shape put|get|getdata|failover|ready [--clients N] [--duration MS] [--warmup MS] \
//       [--connect spread|leader|follower] [--pids PID,PID,PID] [--timeout MS] [--label NAME] [--run N]
//
// Prints one JSON object on stdout per run. --pids (the members' PIDs, in endpoint order) adds
// each member's peak RSS and the members' CPU time per operation; `failover` kills the
// leader's PID with SIGKILL (the caller restarts it) and needs them.
import { createRequire } from "node:module";
import { connect as netConnect } from "node:net";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { runClosedLoop, type LoadResult } from "../../packages/cli/src/lib/bench-run.ts";
import { tcpSocketsTo } from "../../packages/cli/src/lib/bench.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const requireRoot = createRequire(join(ROOT, "package.json"));
const requireCli = createRequire(join(ROOT, "packages", "cli", "package.json"));

const RSS_SAMPLE_MS = 200;
const ELECTION_POLL_MS = 10;
const ELECTION_WAIT_MS = 20_000;
const READY_WAIT_MS = 60_000;
const PREFILL_WINDOW = 64;
const VERIFY_WINDOW = 64;
const ERROR_PAUSE_MS = 10;

// ---- flags --------------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    system: { type: "string" },
    endpoints: { type: "string" },
    shape: { type: "string" },
    clients: { type: "string", default: "1" },
    duration: { type: "string", default: "3000" },
    warmup: { type: "string", default: "1000" },
    "value-size": { type: "string", default: "100" },
    keys: { type: "string", default: "1000" },
    timeout: { type: "string", default: "5000" },
    before: { type: "string", default: "2000" },
    after: { type: "string", default: "2000" },
    pids: { type: "string" },
    label: { type: "string" },
    run: { type: "string", default: "1" },
    connect: { type: "string", default: "spread" },
  },
  strict: true,
});

function die(message: string): never {
  process.stderr.write(`load.mts: ${message}\n`);
  process.exit(2);
}

const system = flags.system ?? die("--system zk|etcd|zookeeper|zk-zkport is required");
const endpoints = (flags.endpoints ?? die("--endpoints is required")).split(",").filter(Boolean);
const shape = flags.shape ?? die("--shape put|get|getdata|failover|ready is required");
const clients = Number(flags.clients);
const durationMs = Number(flags.duration);
const warmupMs = Number(flags.warmup);
const valueSize = Number(flags["value-size"]);
const keyCount = Number(flags.keys);
const timeoutMs = Number(flags.timeout);
const pids = (flags.pids ?? "").split(",").filter(Boolean).map(Number);
/**
 * spread: client i connects to member i mod n; leader: every client connects to the leader;
 * follower: every client connects to the first member that does not lead (so that one
 * client's write goes through a follower on every system, whichever member leads).
 */
const connect = flags.connect === "leader" || flags.connect === "follower" ? flags.connect : flags.connect === "spread" ? "spread" : die("--connect must be spread, leader or follower");
/** Set before a leader- or follower-mode load run: the member every client connects to. */
let pinned: number | null = null;
const memberFor = (i: number) => pinned ?? i % endpoints.length;

// ---- the systems --------------------------------------------------------------------------------

interface Conn {
  /** Write `value` at `key` (create or replace). */
  put(key: string, value: Buffer): Promise<void>;
  /** Create `key` (failover: every write is a new key). */
  create(key: string, value: Buffer): Promise<void>;
  /** Linearizable read; null when the key does not exist. */
  get(key: string): Promise<Buffer | null>;
  /** The ZooKeeper drivers only: plain getData, no sync before it. */
  getData?(key: string): Promise<Buffer | null>;
  close(): Promise<void>;
}

interface System {
  /** A connection for client `i`; `all`: it may fail over to every member (failover runs). */
  open(i: number, all: boolean): Promise<Conn>;
  /** Index (in `endpoints`) of the member that leads now, or -1. */
  leader(among: readonly number[]): Promise<number>;
  /** Create whatever parent the keys need. */
  prepare(c: Conn): Promise<void>;
  close(): Promise<void>;
}

/** Endpoint order for client i: starts at its member (i mod n, or the leader). */
function rotated(i: number): string[] {
  const first = memberFor(i);
  return endpoints.map((_, k) => endpoints[(first + k) % endpoints.length]!);
}

async function zkSystem(): Promise<System> {
  const lib = (await import(pathToFileURL(requireCli.resolve("@zk/node/client")).href)) as typeof import("@zk/node/client");
  const path = (k: string) => (k === "" ? "/bench" : `/bench/${k}`);
  return {
    async open(i) {
      const s = await lib.ZkSession.open({ endpoints: rotated(i), timeoutMs, ttlMs: 10_000 });
      return {
        put: async (k, v) => void (await s.put(path(k), v)),
        create: async (k, v) => void (await s.put(path(k), v)),
        get: async (k) => {
          try {
            return Buffer.from((await s.get(path(k), { consistency: "linearizable" })).data);
          } catch (e) {
            if ((e as { code?: number }).code === lib.ErrorCode.NO_NODE) return null;
            throw e;
          }
        },
        close: async () => {
          try {
            await s.close();
          } catch {
            s.abandon();
          }
        },
      };
    },
    async leader(among) {
      // A client of its own each time, closed after: its connections (one per member) would
      // otherwise stay open through the run and be counted as the load's (client TCP conns).
      const probe = new lib.ZkClient({ endpoints, timeoutMs: 250 });
      try {
        const st = await Promise.all(among.map((i) => probe.status(endpoints[i]!).then((s) => s, () => null)));
        const k = st.findIndex((s) => s?.role === lib.Role.LEADER);
        return k < 0 ? -1 : among[k]!;
      } finally {
        probe.close();
      }
    },
    prepare: async (c) => c.put("", Buffer.alloc(0)),
    close: async () => undefined,
  };
}

async function etcdSystem(): Promise<System> {
  const { Etcd3 } = requireRoot("etcd3") as typeof import("etcd3");
  // etcd3 shares grpc-js's connections among clients with equal settings; a local subchannel
  // pool gives each client its own connection, as the workload says.
  const grpcOptions = { "grpc.use_local_subchannel_pool": 1 };
  const callOptions = (ctx: { isStream: boolean }) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs });
  const members = endpoints.map((e) => new Etcd3({ hosts: `http://${e}`, grpcOptions, defaultCallOptions: callOptions }));
  return {
    async open(i, all) {
      // Load runs: pinned to one member (one connection). Failover runs: every member, in
      // etcd3's own fail-over order.
      const c = new Etcd3({ hosts: all ? rotated(i).map((e) => `http://${e}`) : `http://${endpoints[memberFor(i)]}`, grpcOptions, defaultCallOptions: callOptions });
      return {
        put: async (k, v) => void (await c.put(k).value(v)),
        create: async (k, v) => void (await c.put(k).value(v)),
        get: async (k) => c.get(k).buffer(),
        close: async () => c.close(),
      };
    },
    async leader(among) {
      const st = await Promise.all(among.map((i) => members[i]!.maintenance.status().then((s) => s, () => null)));
      const k = st.findIndex((s) => s !== null && s.leader !== "0" && s.leader === s.header.member_id);
      return k < 0 ? -1 : among[k]!;
    },
    prepare: async () => undefined,
    close: async () => members.forEach((m) => m.close()),
  };
}

async function zookeeperSystem(): Promise<System> {
  const zookeeper = requireRoot("node-zookeeper-client");
  const jute = requireRoot("node-zookeeper-client/lib/jute");
  const Exception = zookeeper.Exception;
  const path = (k: string) => (k === "" ? "/bench" : `/bench/${k}`);
  const cb = <T>(f: (done: (err: Error | null, r?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => f((err, r) => (err ? reject(err) : resolve(r as T))));

  /**
   * ZooKeeper's sync, which node-zookeeper-client does not offer: a SYNC request (its body is
   * one path, like a CreateResponse record); once it is on the wire the header's type reads
   * CREATE, so the client parses the answer (one path) as a CreateResponse.
   */
  const sync = (client: { connectionManager: { queue: (req: unknown, cb: (e: Error | null) => void) => void } }, p: string) => {
    const header = new jute.protocol.RequestHeader();
    header.type = jute.OP_CODES.SYNC;
    const payload = new jute.protocol.CreateResponse();
    payload.path = p;
    const request = new jute.Request(header, payload);
    const toBuffer = request.toBuffer.bind(request);
    request.toBuffer = () => {
      const b = toBuffer();
      header.type = jute.OP_CODES.CREATE;
      return b;
    };
    return cb<void>((done) => client.connectionManager.queue(request, (e) => done(e)));
  };

  const connectTo = (hosts: string) =>
    new Promise<any>((resolve, reject) => {
      // spinDelay: the pause before trying the next server after a disconnect (default 1 s).
      const c = zookeeper.createClient(hosts, { sessionTimeout: 10_000, spinDelay: 100, retries: 0 });
      const timer = setTimeout(() => {
        c.close();
        reject(new Error(`no ZooKeeper session with ${hosts} within ${timeoutMs} ms`));
      }, timeoutMs);
      c.once("connected", () => {
        clearTimeout(timer);
        resolve(c);
      });
      c.connect();
    });

  const srvr = (ep: string) =>
    new Promise<string>((resolve) => {
      const [host, port] = [ep.slice(0, ep.lastIndexOf(":")), Number(ep.slice(ep.lastIndexOf(":") + 1))];
      let out = "";
      const s = netConnect({ host, port }, () => s.write("srvr"));
      s.setTimeout(250, () => s.destroy());
      s.on("data", (d) => (out += d.toString()));
      s.on("close", () => resolve(out));
      s.on("error", () => resolve(""));
    });

  const withTimeout = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e) => (clearTimeout(t), reject(e)),
      );
    });

  return {
    async open(i, all) {
      const c = await connectTo(all ? rotated(i).join(",") : endpoints[memberFor(i)]!);
      return {
        put: (k, v) => withTimeout(cb<void>((done) => c.setData(path(k), v, -1, (e: Error | null) => done(e)))),
        create: (k, v) => withTimeout(cb<void>((done) => c.create(path(k), v, (e: Error | null) => done(e)))),
        getData: (k) =>
          withTimeout(cb<Buffer>((done) => c.getData(path(k), (e: Error | null, data: Buffer) => done(e, data)))).catch((e: unknown) => {
            if ((e as { getCode?: () => number }).getCode?.() === Exception.NO_NODE) return null;
            throw e;
          }),
        get: async (k) => {
          // sync + getData, pipelined on the session: the read is ordered after the sync.
          const s = sync(c, path(k));
          const g = cb<Buffer>((done) => c.getData(path(k), (e: Error | null, data: Buffer) => done(e, data)));
          try {
            await withTimeout(Promise.all([s, g]));
            return await g;
          } catch (e) {
            if ((e as { getCode?: () => number }).getCode?.() === Exception.NO_NODE) return null;
            throw e;
          }
        },
        close: async () => c.close(),
      };
    },
    async leader(among) {
      const out = await Promise.all(among.map((i) => srvr(endpoints[i]!)));
      const k = out.findIndex((o) => /Mode: leader/.test(o));
      return k < 0 ? -1 : among[k]!;
    },
    async prepare(c) {
      await c.create("", Buffer.alloc(0)).catch(() => undefined);
    },
    close: async () => undefined,
  };
}

// ---- measurements of the members ---------------------------------------------------------------

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** utime + stime of `pid` in milliseconds. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Peak RSS per member and CPU used by the members and by this process while `f` runs. */
async function measured<T>(f: () => Promise<T>): Promise<{ result: T; rssMb: number[]; serverCpuMs: number; loadgenCpuMs: number }> {
  const peak = pids.map(rssMb);
  const timer = setInterval(() => pids.forEach((p, i) => (peak[i] = Math.max(peak[i]!, rssMb(p)))), RSS_SAMPLE_MS);
  const cpu0 = pids.reduce((n, p) => n + cpuMs(p), 0);
  const own0 = process.cpuUsage();
  try {
    const result = await f();
    const own = process.cpuUsage(own0);
    pids.forEach((p, i) => (peak[i] = Math.max(peak[i]!, rssMb(p))));
    return { result, rssMb: peak, serverCpuMs: pids.reduce((n, p) => n + cpuMs(p), 0) - cpu0, loadgenCpuMs: (own.user + own.system) / 1000 };
  } finally {
    clearInterval(timer);
  }
}

// ---- shapes -------------------------------------------------------------------------------------

async function openAll(sys: System, n: number, all: boolean): Promise<Conn[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => sys.open(i, all)));
}

async function load(sys: System, kind: "put" | "get" | "getdata"): Promise<Record<string, unknown>> {
  if (connect !== "spread") {
    const l = await sys.leader(endpoints.map((_, i) => i));
    if (l < 0) die(`no leader${connect === "follower" ? " (to tell the followers by)" : " to connect to"}`);
    pinned = connect === "leader" ? l : endpoints.findIndex((_, i) => i !== l);
    if (pinned < 0) die("no follower to connect to (one member)");
  }
  const conns = await openAll(sys, clients, false);
  if (kind === "getdata" && !conns[0]!.getData) die(`--shape getdata needs a ZooKeeper driver (--system zookeeper or zk-zkport), not ${system}`);
  try {
    const value = Buffer.alloc(valueSize, "v");
    await sys.prepare(conns[0]!);
    const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
    let next = 0;
    // Every key exists before measuring (ZooKeeper's setData needs it; reads need a value).
    await Promise.all(
      Array.from({ length: Math.min(PREFILL_WINDOW, keys.length) }, async (_, w) => {
        const c = conns[w % conns.length]!;
        while (next < keys.length) {
          const k = keys[next++]!;
          await c.create(k, value).catch(() => c.put(k, value));
        }
      }),
    );
    let tcp: number | null = null;
    const m = await measured(() =>
      runClosedLoop({
        clients,
        durationMs,
        warmupMs,
        pick: () => (kind === "put" ? "write" : "read"),
        op: (i, k) => {
          const key = keys[Math.floor(Math.random() * keys.length)]!;
          if (k === "write") return conns[i]!.put(key, value);
          return kind === "getdata" ? conns[i]!.getData!(key) : conns[i]!.get(key);
        },
        errorName,
        // Sampled once while every connection is in use.
        onProgress: (p) => void (p.phase === "measure" && tcp === null && (tcp = tcpSocketsTo(endpoints)?.size ?? null)),
      }),
    );
    const r: LoadResult = m.result;
    // CPU over warmup + measurement, per measured op (the warmup's ops were not counted).
    const opsAll = r.ops * ((warmupMs + r.measuredMs) / Math.max(1, r.measuredMs));
    return {
      opsPerSec: Math.round(r.opsPerSec),
      ops: r.ops,
      latencyMs: r.latencyMs,
      errors: r.errors,
      errorCount: r.errorCount,
      rssMb: m.rssMb,
      serverCpuUsPerOp: pids.length ? Math.round((m.serverCpuMs * 1000) / Math.max(1, opsAll)) : null,
      loadgenCpuUsPerOp: Math.round((m.loadgenCpuMs * 1000) / Math.max(1, opsAll)),
      tcpConnections: tcp,
    };
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }
}

function errorName(e: unknown): string {
  const err = e as { name?: string; code?: unknown; getCode?: () => number; message?: string };
  if (typeof err?.getCode === "function") return `zk_${err.getCode()}`;
  if (err?.name === "ZkError" && typeof err.code === "number") return `code_${err.code}`;
  if (typeof err?.name === "string" && err.name !== "Error") return err.name;
  return (err?.message ?? "error").slice(0, 40);
}

async function failover(sys: System): Promise<Record<string, unknown>> {
  if (pids.length !== endpoints.length) die("failover needs --pids, one per endpoint");
  const all = endpoints.map((_, i) => i);
  const leader = await sys.leader(all);
  if (leader < 0) die("no leader to kill");
  const survivors = all.filter((i) => i !== leader);
  const conns = await openAll(sys, clients, true);
  await sys.prepare(conns[0]!);
  const run = `fo${Date.now().toString(36)}`;
  const valueOf = (k: string) => Buffer.from(k.padEnd(valueSize, "."));
  const acked: string[] = [];
  const okTimes: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  let stopped = false;
  const writer = async (i: number) => {
    for (let seq = 0; !stopped; seq++) {
      const k = `${run}-${i}-${seq}`;
      try {
        await conns[i]!.create(k, valueOf(k));
        okTimes.push(performance.now());
        acked.push(k);
      } catch (e) {
        failed++;
        const n = errorName(e);
        errors[n] = (errors[n] ?? 0) + 1;
        if (!stopped) await sleep(ERROR_PAUSE_MS);
      }
    }
  };
  const writers = Promise.all(conns.map((_, i) => writer(i)));
  await sleep(Number(flags.before));
  const tKill = performance.now();
  process.kill(pids[leader]!, "SIGKILL");
  let electionMs: number | null = null;
  while (performance.now() - tKill < ELECTION_WAIT_MS) {
    const l = await sys.leader(survivors);
    if (l >= 0) {
      electionMs = Math.round(performance.now() - tKill);
      break;
    }
    await sleep(ELECTION_POLL_MS);
  }
  await sleep(Number(flags.after));
  stopped = true;
  await Promise.race([writers, sleep(timeoutMs + 1000)]);
  const t = [...okTimes].sort((a, b) => a - b);
  let gapMs = 0;
  for (let i = 1; i < t.length; i++) gapMs = Math.max(gapMs, t[i]! - t[i - 1]!);
  if (!t.some((x) => x > tKill)) gapMs = Math.max(gapMs, performance.now() - tKill);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));

  // Read every acknowledged write back (linearizable) through the survivors.
  const readers = await Promise.all(survivors.slice(0, 2).map((s) => sys.open(s, false)));
  let missing = 0;
  let wrong = 0;
  let unreadable = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(VERIFY_WINDOW, acked.length) }, async (_, w) => {
      const r = readers[w % readers.length]!;
      while (next < acked.length) {
        const k = acked[next++]!;
        let got: Buffer | null | undefined;
        for (let attempt = 0; attempt < 5 && got === undefined; attempt++) {
          got = await r.get(k).catch(() => sleep(100).then(() => undefined));
        }
        if (got === undefined) unreadable++;
        else if (got === null) missing++;
        else if (!got.equals(valueOf(k))) wrong++;
      }
    }),
  );
  await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
  return { killedIndex: leader, killedPid: pids[leader], electionMs, gapMs: Math.round(gapMs), acknowledged: acked.length, failed, errors, missing, wrong, unreadable };
}

async function ready(sys: System): Promise<Record<string, unknown>> {
  const deadline = Date.now() + READY_WAIT_MS;
  const all = endpoints.map((_, i) => i);
  while (Date.now() < deadline) {
    const l = await sys.leader(all).catch(() => -1);
    if (l >= 0) {
      pinned = null;
      // Every member answers a write-and-read through it.
      try {
        for (const i of all) {
          const c = await sys.open(i, false);
          try {
            await sys.prepare(c);
            await c.put("ready", Buffer.from("1")).catch(() => c.create("ready", Buffer.from("1")));
            await c.get("ready");
          } finally {
            await c.close().catch(() => undefined);
          }
        }
        return { leaderIndex: l };
      } catch {
        // not yet
      }
    }
    await sleep(200);
  }
  die(`${system} at ${endpoints.join(",")} did not become ready within ${READY_WAIT_MS / 1000} s`);
}

// ---- main ---------------------------------------------------------------------------------------

const sys =
  system === "zk"
    ? await zkSystem()
    : system === "etcd"
      ? await etcdSystem()
      : system === "zookeeper" || system === "zk-zkport"
        ? await zookeeperSystem()
        : die(`unknown --system ${system}`);
const started = Date.now();
let out: Record<string, unknown>;
if (shape === "put" || shape === "get" || shape === "getdata") out = await load(sys, shape);
else if (shape === "failover") out = await failover(sys);
else if (shape === "ready") out = await ready(sys);
else die(`unknown --shape ${shape}`);
await sys.close();
const label = flags.label ?? `${shape}-${clients}${connect === "spread" ? "" : `-${connect}`}`;
process.stdout.write(JSON.stringify({ system, shape, label, connect, run: Number(flags.run), clients, wallMs: Date.now() - started, ...out }) + "\n");
process.exit(0);
