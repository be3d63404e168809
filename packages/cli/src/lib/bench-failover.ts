// `zk-cli bench failover`: writers run against the local cluster while its leader is killed
// with SIGKILL. Measures the longest time without a successful write and the election time
// (kill -> a surviving node reports itself leader), then reads back every acknowledged
// write with a linearizable get: an acknowledged write that is missing or wrong is a lost
// write, the one thing a consensus system must never do. The killed node is started again
// at the end. Every write goes to its own key, so each acknowledgement is checked exactly.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { ZkClient } from "@zk/node/client";
import { ERROR_PAUSE_MS } from "./bench-run.js";
import { endpointOrder, openConn, openConns, ROLE_LEADER, zkErrorNamer, type BenchConn, type ConnectMode, type Transport } from "./bench.js";
import { killNode, startNode } from "./cluster.js";
import { CliError } from "./errors.js";
import { readManifest, requireManifest, type Manifest } from "./manifest.js";
import { isAlive } from "./processes.js";

/** How often the surviving nodes are asked whether one of them leads. */
const ELECTION_POLL_MS = 10;
/** Deadline of one status call while polling for the new leader. */
const STATUS_TIMEOUT_MS = 250;
/** Reads in flight while checking the acknowledged writes. */
const VERIFY_WINDOW = 64;
/** Attempts per read-back before a key counts as unverified (e.g. the cluster is still settling). */
const VERIFY_ATTEMPTS = 5;
const VERIFY_RETRY_PAUSE_MS = 100;
/** The whole read-back gives up after this long; keys not read by then count as unverified. */
const VERIFY_WAIT_MS = 60_000;

export interface FailoverOptions {
  readonly dir: string;
  readonly clients: number;
  readonly conns: number;
  readonly valueSize: number;
  /** Writing before the kill. */
  readonly beforeMs: number;
  /** Writing after a new leader is seen. */
  readonly afterMs: number;
  /** How long to wait for a new leader. */
  readonly electionWaitMs: number;
  readonly transport: Transport;
  readonly connect: ConnectMode;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly restart: boolean;
}

export interface FailoverResult {
  readonly clients: number;
  readonly conns: number;
  readonly transport: Transport;
  readonly connect: ConnectMode;
  readonly killed: { readonly id: string; readonly pid: number; readonly address: string };
  /** The node that leads after the kill, or null when none was seen within --election-wait. */
  readonly newLeader: string | null;
  /** Kill -> a surviving node reports itself leader. */
  readonly electionMs: number | null;
  /** The longest time with no write acknowledged (ms), and where it began relative to the kill. */
  readonly gapMs: number;
  readonly gapStartMs: number;
  /** Kill -> the first write acknowledged after it. */
  readonly firstWriteAfterKillMs: number | null;
  readonly acknowledged: number;
  /** Writes that failed (outcome unknown: they may or may not have been applied; not checked). */
  readonly failed: number;
  readonly errors: Record<string, number>;
  readonly verified: number;
  readonly missing: number;
  readonly wrong: number;
  /** Acknowledged writes that could not be read back (the read kept failing). */
  readonly unverified: number;
  /** Up to a few of the missing or wrong paths, for the report. */
  readonly lost: readonly string[];
  /** Why the read-back could not run at all, if it could not. */
  readonly verifyError: string | null;
  readonly restarted: { readonly id: string; readonly pid: number } | null;
  readonly restartError: string | null;
  readonly ok: boolean;
}

export interface FailoverHooks {
  readonly status?: (text: string) => void;
}

function valueFor(runId: string, client: number, seq: number, size: number): Uint8Array {
  const head = `${runId}:${client}:${seq}:`;
  const buf = Buffer.alloc(Math.max(size, head.length), ".");
  buf.write(head, 0, "latin1");
  return new Uint8Array(buf);
}

async function leaderOf(probe: ZkClient, m: Manifest, among: readonly string[]): Promise<string | null> {
  const rows = await Promise.all(among.map((address) => probe.status(address).then((s) => s, () => null)));
  const leader = rows.find((s) => s?.role === ROLE_LEADER);
  if (!leader) return null;
  return m.nodes.find((n) => n.address === leader.address)?.id ?? leader.nodeId;
}

export async function runFailover(opts: FailoverOptions, probeFor: (endpoints: readonly string[], timeoutMs: number) => Promise<ZkClient>, hooks: FailoverHooks = {}): Promise<FailoverResult> {
  const status = hooks.status ?? (() => undefined);
  const m = requireManifest(opts.dir);
  const down = m.nodes.filter((n) => !isAlive(n.pid));
  if (down.length > 0) throw new CliError(`every member must be running for a failover run; not running: ${down.map((n) => n.id).join(", ")} (zk-cli cluster start <node>)`);
  const endpoints = m.nodes.map((n) => n.address);
  const probe = await probeFor(endpoints, STATUS_TIMEOUT_MS);
  const leaderId = await leaderOf(probe, m, endpoints);
  if (!leaderId) throw new CliError("no leader right now; wait for one (zk-cli cluster status) and run again");
  const leaderNode = m.nodes.find((n) => n.id === leaderId)!;
  const survivors = endpoints.filter((e) => e !== leaderNode.address);

  const runId = Date.now().toString(36);
  const parent = `${opts.prefix}/failover-${runId}`;
  status(`opening ${opts.conns} ${opts.transport === "session" ? "sessions" : "clients"}`);
  const conns = await openConns({ endpoints, conns: opts.conns, connect: opts.connect, transport: opts.transport, timeoutMs: opts.timeoutMs }, leaderNode.address);
  const errorName = await zkErrorNamer();
  const acked: number[][] = Array.from({ length: opts.clients }, () => []);
  const okTimes: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  let stopped = false;
  let tKill = Number.NaN;

  try {
    await conns[0]!.put(opts.prefix, new Uint8Array());
    await conns[0]!.put(parent, new Uint8Array());
    const writer = async (i: number) => {
      const conn = conns[i % conns.length]!;
      for (let seq = 0; !stopped; seq++) {
        try {
          await conn.put(`${parent}/c${i}-${seq}`, valueFor(runId, i, seq, opts.valueSize));
          okTimes.push(performance.now());
          acked[i]!.push(seq);
        } catch (e) {
          const name = errorName(e);
          errors[name] = (errors[name] ?? 0) + 1;
          failed++;
          if (!stopped) await sleep(ERROR_PAUSE_MS);
        }
      }
    };
    const writers = Promise.all(Array.from({ length: opts.clients }, (_, i) => writer(i)));

    status(`writing for ${(opts.beforeMs / 1000).toFixed(1)} s before the kill`);
    await sleep(opts.beforeMs);
    status(`killing the leader ${leaderId} (pid ${leaderNode.pid}) with SIGKILL`);
    tKill = performance.now();
    const kill = killNode(opts.dir, m, leaderId);
    let newLeader: string | null = null;
    let electionMs: number | null = null;
    const electionDeadline = tKill + opts.electionWaitMs;
    while (performance.now() < electionDeadline) {
      newLeader = await leaderOf(probe, m, survivors);
      if (newLeader !== null && newLeader !== leaderId) {
        electionMs = performance.now() - tKill;
        break;
      }
      newLeader = null;
      await sleep(ELECTION_POLL_MS);
    }
    await kill;
    status(newLeader ? `${newLeader} leads after ${Math.round(electionMs!)} ms; writing for ${(opts.afterMs / 1000).toFixed(1)} s` : "no new leader seen");
    if (newLeader) await sleep(opts.afterMs);
    stopped = true;
    await Promise.race([writers, sleep(opts.timeoutMs + 1000)]);

    const { gapMs, gapStartMs, firstAfter } = longestGap(okTimes, tKill);
    const acknowledged = acked.reduce((n, a) => n + a.length, 0);
    let checked = { verified: 0, missing: 0, wrong: 0, unverified: acknowledged, lost: [] as string[] };
    let verifyError: string | null = null;
    try {
      checked = await verify(acked, parent, runId, opts, survivors, status);
    } catch (e) {
      // E.g. no leader to open a session with: every acknowledged write stays unverified.
      verifyError = (e as Error).message;
    }
    const { verified, missing, wrong, unverified, lost } = checked;

    let restarted: FailoverResult["restarted"] = null;
    let restartError: string | null = null;
    if (opts.restart) {
      status(`starting ${leaderId} again`);
      try {
        const now = readManifest(opts.dir) ?? m;
        const r = await startNode(opts.dir, now, leaderId, (address) => probe.status(address).then(() => true, () => false));
        restarted = { id: leaderId, pid: r.pid };
      } catch (e) {
        restartError = (e as Error).message;
      }
    }
    return {
      clients: opts.clients,
      conns: opts.conns,
      transport: opts.transport,
      connect: opts.connect,
      killed: { id: leaderId, pid: leaderNode.pid, address: leaderNode.address },
      newLeader,
      electionMs,
      gapMs,
      gapStartMs,
      firstWriteAfterKillMs: firstAfter,
      acknowledged,
      failed,
      errors,
      verified,
      missing,
      wrong,
      unverified,
      lost,
      verifyError,
      restarted,
      restartError,
      ok: newLeader !== null && missing === 0 && wrong === 0 && unverified === 0 && restartError === null,
    };
  } finally {
    stopped = true;
    await Promise.all(conns.map((c) => c.close()));
  }
}

/** The longest stretch without an acknowledged write, counting from the first one to the last. */
export function longestGap(okTimes: readonly number[], tKill: number): { gapMs: number; gapStartMs: number; firstAfter: number | null } {
  const t = [...okTimes].sort((a, b) => a - b);
  let gapMs = 0;
  let gapStart = t[0] ?? tKill;
  for (let i = 1; i < t.length; i++) {
    if (t[i]! - t[i - 1]! > gapMs) {
      gapMs = t[i]! - t[i - 1]!;
      gapStart = t[i - 1]!;
    }
  }
  // No write at all after the kill: the gap runs to the last moment we looked.
  const after = t.find((x) => x > tKill);
  if (after === undefined && t.length > 0) {
    const open = performance.now() - t[t.length - 1]!;
    if (open > gapMs) {
      gapMs = open;
      gapStart = t[t.length - 1]!;
    }
  }
  return { gapMs: Math.round(gapMs), gapStartMs: Math.round(gapStart - tKill), firstAfter: after === undefined ? null : Math.round(after - tKill) };
}

async function verify(
  acked: readonly number[][],
  parent: string,
  runId: string,
  opts: FailoverOptions,
  survivors: readonly string[],
  status: (text: string) => void,
): Promise<{ verified: number; missing: number; wrong: number; unverified: number; lost: string[] }> {
  const { ErrorCode } = await import("@zk/node/client");
  const todo: { client: number; seq: number }[] = [];
  acked.forEach((seqs, client) => seqs.forEach((seq) => todo.push({ client, seq })));
  const conns: BenchConn[] = [];
  for (let i = 0; i < Math.min(survivors.length, 2); i++) conns.push(await openConn(opts.transport, endpointOrder(survivors, "spread", null, i), opts.timeoutMs));
  let verified = 0;
  let missing = 0;
  let wrong = 0;
  let unverified = 0;
  const lost: string[] = [];
  let next = 0;
  const deadline = Date.now() + VERIFY_WAIT_MS;
  try {
    await Promise.all(
      Array.from({ length: Math.min(VERIFY_WINDOW, todo.length) }, async (_, w) => {
        const conn = conns[w % conns.length]!;
        while (next < todo.length) {
          if (Date.now() > deadline) {
            unverified += todo.length - next;
            next = todo.length;
            break;
          }
          const { client, seq } = todo[next++]!;
          if (next % 1000 === 0) status(`reading back ${next}/${todo.length} acknowledged writes`);
          const path = `${parent}/c${client}-${seq}`;
          const want = Buffer.from(valueFor(runId, client, seq, opts.valueSize));
          for (let attempt = 1; ; attempt++) {
            try {
              const res = (await conn.get(path, "linearizable")) as { data: Uint8Array };
              if (Buffer.from(res.data).equals(want)) verified++;
              else {
                wrong++;
                if (lost.length < 5) lost.push(`${path} (wrong value)`);
              }
              break;
            } catch (e) {
              if ((e as { code?: number }).code === ErrorCode.NO_NODE) {
                missing++;
                if (lost.length < 5) lost.push(`${path} (missing)`);
                break;
              }
              if (attempt >= VERIFY_ATTEMPTS) {
                unverified++;
                break;
              }
              await sleep(VERIFY_RETRY_PAUSE_MS);
            }
          }
        }
      }),
    );
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
  return { verified, missing, wrong, unverified, lost };
}
