// The local cluster manager behind `zk-cli cluster ...`: plans a cluster, spawns zk-node
// processes, waits for a leader, and stops, kills and restarts members by PID from the
// manifest. Commands stay thin (STYLE.md 12): they parse flags, call these functions and
// print what comes back.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { closeSync, createWriteStream, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, usageError } from "./errors.js";
import { dirFlag, manifestPath, MANIFEST_FILE, readManifest, writeManifest, type Manifest, type ManifestNode } from "./manifest.js";
import { HOST, READY_WAIT_MS } from "./cluster-defaults.js";
import { isAlive, signal, stopPids, waitForExit, STOP_WAIT_MS } from "./processes.js";
import type { MemberRow } from "./status.js";
import { loadStorage } from "./inspect-load.js";
import { DB_FILE, storeFileState } from "@zk/node/store-file";

const READY_POLL_MS = 100;
/** How much of a failed node's log is searched for its one-line error. */
const LOG_TAIL_BYTES = 64 * 1024;
/** How many of a foreground node's last stderr lines are kept for its exit report. */
const STDERR_LINES_KEPT = 20;

/** zk-node's entry point, found through the installed @zk/node package (not the cwd). */
export function zkNodeBin(): string {
  let dir = dirname(createRequire(import.meta.url).resolve("@zk/node/config"));
  for (let i = 0; i < 5; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      const name = (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name;
      if (name === "@zk/node") return join(dir, "bin", "zk-node.js");
    }
    dir = dirname(dir);
  }
  throw new CliError("cannot find the @zk/node package (zk-node); is zk-cli installed with its dependencies?");
}

export interface TuningFlags {
  readonly tickMs?: number | undefined;
  readonly electionTicks?: number | undefined;
  readonly heartbeatTicks?: number | undefined;
  readonly logLevel?: string | undefined;
}

/** A new cluster's manifest: ids n1..nN on consecutive ports of 127.0.0.1. */
export function planCluster(dir: string, count: number, basePort: number, tuning: TuningFlags): Manifest {
  if (basePort < 1 || basePort + ZK_PORT_OFFSET + count - 1 > 65535) throw usageError(`--base-port ${basePort} leaves no room for ${count} nodes and their ZooKeeper ports (+${ZK_PORT_OFFSET}) below port 65536`);
  const clusterId = `zk-${randomBytes(4).toString("hex")}`;
  const members = Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, address: `${HOST}:${basePort + i}` }));
  return manifestFor(dir, clusterId, members, tuning);
}

/** Each node's ZooKeeper-protocol port (zk-node --zk-listen) is its gRPC port plus this. */
export const ZK_PORT_OFFSET = 100;

export function zkAddressOf(address: string): string {
  const i = address.lastIndexOf(":");
  return `${address.slice(0, i)}:${Number(address.slice(i + 1)) + ZK_PORT_OFFSET}`;
}

/** The zk-node flags of the tuning given, as [flag, value] pairs. */
function tuningPairs(tuning: TuningFlags): [string, string][] {
  const pairs: [string, string][] = [];
  if (tuning.tickMs !== undefined) pairs.push(["--tick-ms", String(tuning.tickMs)]);
  if (tuning.electionTicks !== undefined) pairs.push(["--election-ticks", String(tuning.electionTicks)]);
  if (tuning.heartbeatTicks !== undefined) pairs.push(["--heartbeat-ticks", String(tuning.heartbeatTicks)]);
  if (tuning.logLevel !== undefined) pairs.push(["--log-level", tuning.logLevel]);
  return pairs;
}

/**
 * A member's zk-node flags with the tuning given in place of what it had (the rest kept). Timing
 * and logging are each process's own, not the cluster's identity: members may differ in them,
 * and a stopped cluster takes new ones when started again.
 */
export function retuned(args: readonly string[], tuning: TuningFlags): string[] {
  const out = [...args];
  for (const [flag, value] of tuningPairs(tuning)) {
    const i = out.indexOf(flag);
    if (i >= 0 && i + 1 < out.length) out[i + 1] = value;
    else out.push(flag, value);
  }
  return out;
}

function manifestFor(dir: string, clusterId: string, members: readonly { id: string; address: string }[], tuning: TuningFlags): Manifest {
  const basePort = Number(members[0]!.address.slice(members[0]!.address.lastIndexOf(":") + 1));
  const extra = tuningPairs(tuning).flat();
  return {
    version: 1,
    clusterId,
    createdAt: new Date().toISOString(),
    basePort,
    nodes: members.map((m) => manifestNodeFor(dir, clusterId, members, m, extra)),
  };
}

/** One member's manifest entry: its data dir and log in `dir`, its zk-node flags for `members`. */
export function manifestNodeFor(dir: string, clusterId: string, members: readonly { id: string; address: string }[], m: { id: string; address: string }, extra: readonly string[]): ManifestNode {
  const dataDir = join(dir, m.id);
  return {
    id: m.id,
    address: m.address,
    zkAddress: zkAddressOf(m.address),
    pid: 0,
    state: "stopped" as const,
    dataDir,
    logFile: join(dir, `${m.id}.log`),
    args: ["--id", m.id, "--listen", m.address, ...peerArgs(members), "--data-dir", dataDir, "--cluster-id", clusterId, "--zk-listen", zkAddressOf(m.address), ...extra],
  };
}

/** --peers and --zk-peers for `members` (a manifest's nodes' flags, in this order). */
export function peerArgs(members: readonly { id: string; address: string }[]): string[] {
  const peers = members.map((m) => `${m.id}=${m.address}`).join(",");
  const zkPeers = members.map((m) => `${m.id}=${zkAddressOf(m.address)}`).join(",");
  return ["--peers", peers, "--zk-peers", zkPeers];
}

export function runningNodes(m: Manifest): ManifestNode[] {
  return m.nodes.filter((n) => isAlive(n.pid));
}

export function findNode(m: Manifest, id: string): ManifestNode {
  const n = m.nodes.find((x) => x.id === id);
  if (!n) throw new CliError(`no node "${id}" in this cluster (members: ${m.nodes.map((x) => x.id).join(", ")})`, EXIT_NOT_FOUND);
  return n;
}

/** A started zk-node and how to learn that it died. */
export interface Spawned {
  readonly node: ManifestNode;
  readonly child: ChildProcess;
  /** Resolves when the process exits, with its one-line error if it left one. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error: string | null }>;
}

export type LogSink = (nodeId: string, line: string) => void;


/**
 * What in `dir` looks like node data: every `<sub>/zk.db` (and each planned data dir that
 * exists at all). A dir holding any of it and no manifest is not a place for a new cluster:
 * the nodes would refuse the data, and nothing may delete it.
 */
export function nodeDataIn(dir: string, planned: readonly string[]): string[] {
  const found = new Set<string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  for (const e of entries.sort()) {
    if (existsSync(join(dir, e, DB_FILE))) found.add(`${e}/${DB_FILE}`);
  }
  for (const p of planned) {
    const rel = p.slice(dir.length + 1);
    if (existsSync(p) && ![...found].some((f) => f.startsWith(`${rel}/`))) found.add(`${rel}/`);
  }
  return [...found];
}

/**
 * `cluster up --adopt`: rebuild the manifest of a cluster whose cluster.json was lost, from its
 * stores' own records (cluster id, node id, the newest configuration any of them applied, or
 * for stores that record none, their creation member list), read-only. Every store must be of
 * one cluster; a member whose store is gone is not started (see storeless()).
 */
async function adoptCluster(dir: string, tuning: TuningFlags): Promise<Manifest> {
  const { SqliteAcceptorStore } = await loadStorage();
  if (!existsSync(dir)) throw new CliError(`--adopt: ${dir} does not exist; pass the --dir that holds the cluster's node data`, EXIT_NOT_FOUND);
  // zk-node's rule for what holds a store (storeFileState): an empty zk.db, as a wiped disk
  // leaves, is no store; that member is not started and rejoins, as one whose dir is gone.
  const stores = readdirSync(dir)
    .sort()
    .filter((e) => storeFileState(join(dir, e)) !== "missing");
  if (stores.length === 0) throw new CliError(`--adopt: no node data in ${dir} (no <node>/${DB_FILE}); run \`zk-cli cluster up${dirFlag(dir)}\` without --adopt to create a cluster`, EXIT_NOT_FOUND);
  let clusterId: string | null = null;
  /** The newest configuration any store applied (the members after every change it saw). */
  let newest: { version: number; members: readonly { id: string; address: string }[] } | null = null;
  /** Stores that record no configuration (older zk-node): their creation member lists. */
  const created: { sub: string; members: readonly { id: string; address: string }[] | null }[] = [];
  for (const sub of stores) {
    const file = join(dir, sub, DB_FILE);
    let info;
    try {
      const st = SqliteAcceptorStore.open(file, null, { readonly: true });
      try {
        info = st.info();
      } finally {
        st.close();
      }
    } catch (e) {
      throw new CliError(`--adopt: cannot read ${file}: ${(e as Error).message.replace(/^zk: /, "")}`);
    }
    if (info.nodeId !== sub) throw new CliError(`--adopt: ${file} is the store of node ${info.nodeId}, not ${sub}; a node's data dir must be named after its id`);
    if (clusterId !== null && info.clusterId !== clusterId) {
      throw new CliError(`--adopt: the stores are of different clusters (${stores[0]} of ${clusterId}, ${sub} of ${info.clusterId}); move the data dir that is not this cluster's out of ${dir}`);
    }
    clusterId = info.clusterId;
    const config = info.membership?.config;
    if (config !== undefined && config.members.length > 0 && (newest === null || config.version > newest.version)) {
      newest = { version: config.version, members: config.members.map((m) => ({ id: m.id, address: m.address })) };
    }
    if (info.membership === null) created.push({ sub, members: info.members });
  }
  let members: readonly { id: string; address: string }[];
  if (newest !== null) {
    // Membership comes from the log: after `cluster add-node` or `remove-node` the stores'
    // creation lists differ (a member added later was created with the longer one), and a
    // removed member's leftover store is not a member (it is left alone and not started).
    members = newest.members;
  } else {
    const key = (l: readonly { id: string; address: string }[]) => JSON.stringify([...l].sort((a, b) => a.id.localeCompare(b.id)));
    for (const c of created) {
      if (c.members === null) throw new CliError(`--adopt: ${join(dir, c.sub, DB_FILE)} records no member list (written by an older zk-node); start that node once with its original flags, or recreate cluster.json by hand`);
      if (key(c.members) !== key(created[0]!.members!)) {
        throw new CliError(`--adopt: the stores disagree (${created[0]!.sub} was created with members ${created[0]!.members!.map((m) => m.id).join(",")}, ${c.sub} with ${c.members.map((m) => m.id).join(",")}) and record no configuration to settle it; recreate cluster.json by hand`);
      }
    }
    members = created[0]!.members!;
  }
  // A member without a store is kept in the manifest and not started (clusterUp): it rejoins
  // from the others with `cluster start <id> --rejoin`.
  return manifestFor(dir, clusterId!, members, tuning);
}

/**
 * Start one node. Detached: its own session, stdout and stderr appended to its log file, and
 * unref'd so zk-cli can exit. Attached (foreground `cluster up`): its output comes through
 * pipes, is appended to the log file too, and each line goes to `sink`.
 */
export function spawnNode(node: ManifestNode, opts: { detached: boolean; sink?: LogSink; extraArgs?: readonly string[] }): Spawned {
  mkdirSync(dirname(node.logFile), { recursive: true });
  const bin = zkNodeBin();
  const args = [bin, ...node.args, ...(opts.extraArgs ?? [])];
  const stderrLines: string[] = [];
  let child: ChildProcess;
  let logStream: WriteStream | null = null;
  // Only what this process writes can be its error: the log may hold earlier runs.
  let logStart = 0;
  if (opts.detached) {
    const fd = openSync(node.logFile, "a");
    logStart = fstatSync(fd).size;
    try {
      child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
  } else {
    child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    logStream = createWriteStream(node.logFile, { flags: "a" });
    const ls = logStream;
    for (const [stream, isErr] of [[child.stdout!, false], [child.stderr!, true]] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
        ls.write(line + "\n");
        if (isErr && stderrLines.push(line) > STDERR_LINES_KEPT) stderrLines.shift();
        opts.sink?.(node.id, line);
      });
    }
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error: string | null }>((resolve) => {
    child.once("error", (e) => resolve({ code: null, signal: null, error: `cannot start ${node.id}: ${e.message}` }));
    child.once("exit", (code, sig) => {
      // Let the pipes drain before reading what the node said last.
      setTimeout(() => {
        logStream?.end();
        const said = opts.detached ? lastErrorLine(tailOf(node.logFile, logStart)) : lastErrorLine(stderrLines);
        resolve({ code, signal: sig, error: said });
      }, 50);
    });
  });
  if (opts.detached) child.unref();
  return { node, child, exited };
}

/** The last lines of `file`, from offset `from` on (at most LOG_TAIL_BYTES of them). */
function tailOf(file: string, from: number): string[] {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, "r");
    try {
      const len = Math.max(0, Math.min(size - from, LOG_TAIL_BYTES));
      const buf = Buffer.alloc(len);
      readSyncAll(fd, buf, size - len);
      return buf.toString("utf8").split("\n");
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
}

function readSyncAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) break;
    off += n;
  }
}

/** zk-node reports a startup failure as one line "zk-node: ..." on stderr. */
function lastErrorLine(lines: readonly string[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (l.startsWith("zk-node: ")) return l.slice("zk-node: ".length);
  }
  return null;
}

/**
 * A member's refusal that says to restart it with --rejoin (its store is gone or damaged),
 * with how to do that in a local cluster: zk-node's flags are the manifest's, so the operator
 * runs zk-cli, not zk-node.
 */
export function withRejoinHint(failure: string, id: string, dir: string, rejoined: boolean): string {
  if (rejoined || !/--rejoin\b/.test(failure)) return failure;
  return `${failure} (in this local cluster: \`zk-cli cluster start ${id} --rejoin${dirFlag(dir)}\` once the other members run)`;
}

export function describeExit(id: string, r: { code: number | null; signal: NodeJS.Signals | null; error: string | null }): string {
  if (r.error) return `${id} failed to start: ${r.error}`;
  return `${id} exited during startup (${r.signal ? `signal ${r.signal}` : `exit code ${r.code}`}); see its log`;
}

export type StatusFetcher = () => Promise<MemberRow[]>;

/**
 * Wait (bounded) until every started node is reachable and they all follow the same leader,
 * failing as soon as one of `spawned` exits.
 */
export async function waitForLeader(spawned: readonly Spawned[], fetch: StatusFetcher, timeoutMs = READY_WAIT_MS, dir?: string): Promise<MemberRow[]> {
  const deadline = Date.now() + timeoutMs;
  let failure: string | null = null;
  for (const s of spawned) void s.exited.then((r) => (failure ??= dir === undefined ? describeExit(s.node.id, r) : withRejoinHint(describeExit(s.node.id, r), s.node.id, dir, false)));
  let rows: MemberRow[] = [];
  while (Date.now() < deadline) {
    if (failure) throw new CliError(failure);
    rows = await fetch();
    if (failure) throw new CliError(failure);
    if (leaderAgreed(rows)) return rows;
    await sleep(READY_POLL_MS);
  }
  const seen = rows.map((r) => `${r.id} ${r.reachable ? `${r.role}, leader ${r.leader || "none"}` : "unreachable"}`).join("; ");
  throw new CliError(`no leader elected within ${Math.round(timeoutMs / 1000)} s (${seen}); see the node logs`, EXIT_UNAVAILABLE);
}

function leaderAgreed(rows: readonly MemberRow[]): boolean {
  const leader = rows.find((r) => r.reachable && r.role === "leader");
  return leader !== undefined && rows.every((r) => r.reachable && r.leader === leader.id);
}

export interface UpResult {
  readonly manifest: Manifest;
  readonly spawned: Spawned[];
  readonly rows: MemberRow[];
  /** True when an existing (stopped) cluster in the dir was started again. */
  readonly resumed: boolean;
  /** Members of a resumed cluster not started because their store is gone (storeless()). */
  readonly notStarted: readonly ManifestNode[];
}

/**
 * The members of a cluster being started again whose data dir holds no store (zk-node's rule,
 * storeFileState: deleted, wiped, or a new disk). zk-node refuses to start them fresh (they
 * would vote with promises they forgot), and one refusal would stop the whole `cluster up`; so
 * they stay stopped while the others start, if the others are a majority, and each rejoins from
 * the others with `cluster start <id> --rejoin`. Fewer than a majority cannot elect a leader to
 * rebuild them from: refused before anything starts. (A damaged store is started: zk-node's
 * refusal says what to move aside.)
 */
function storeless(dir: string, m: Manifest): ManifestNode[] {
  const gone = m.nodes.filter((n) => storeFileState(n.dataDir) === "missing");
  const kept = m.nodes.filter((n) => !gone.includes(n));
  if (gone.length > 0 && kept.length <= m.nodes.length / 2) {
    const ids = (l: readonly ManifestNode[]) => (l.length === 0 ? "none" : l.map((n) => n.id).join(", "));
    // Not "put a copy back": a store older than its member's last write votes with promises it
    // forgot, which can lose acknowledged writes (README "Troubleshooting").
    throw new CliError(
      `${ids(gone)} ${gone.length === 1 ? "has" : "have"} no store in ${dir}: the members that keep their data (${ids(kept)}) are not a majority of ${m.nodes.length}, so they cannot elect a leader to rebuild the others from; ` +
        `nothing was started: if those data dirs were moved, move them back (never an older copy of one), or start a new cluster from a snapshot file with \`zk-cli snapshot restore\``,
      EXIT_CONFLICT,
    );
  }
  return gone;
}

/**
 * Start the cluster in `dir`: a new one, or the stopped one its manifest describes. On any
 * failure every node started so far is stopped by PID, so no half-started cluster is left.
 */
export async function clusterUp(opts: {
  dir: string;
  count: number;
  basePort: number;
  explicit: { count: boolean; basePort: boolean; tuning: boolean };
  tuning: TuningFlags;
  /** Rebuild a lost manifest from the stores in `dir` (cluster up --adopt). */
  adopt?: boolean;
  detached: boolean;
  sink?: LogSink;
  fetchStatus: (m: Manifest) => StatusFetcher;
  waitMs?: number;
}): Promise<UpResult> {
  const existing = readManifest(opts.dir);
  let manifest: Manifest;
  let resumed = false;
  if (existing) {
    const alive = runningNodes(existing);
    if (alive.length > 0) {
      throw new CliError(
        `a cluster is already running in ${opts.dir} (${alive.map((n) => `${n.id} pid ${n.pid}`).join(", ")}); ` +
          `stop it with \`zk-cli cluster down${dirFlag(opts.dir)}\`, start single members with \`zk-cli cluster start <node>${dirFlag(opts.dir)}\`, or pick another --dir`,
      );
    }
    const basePort = existing.basePort;
    if ((opts.explicit.count && opts.count !== existing.nodes.length) || (opts.explicit.basePort && opts.basePort !== basePort)) {
      throw usageError(
        `${opts.dir} holds a stopped cluster of ${existing.nodes.length} nodes from port ${basePort}; ` +
          `run \`zk-cli cluster up${dirFlag(opts.dir)}\` without --nodes/--base-port to start it again with its data; ` +
          `another size or port needs a new cluster: another --dir, or \`zk-cli cluster down --purge${dirFlag(opts.dir)}\` first, which deletes this one's data ` +
          `(to resize a running cluster keeping its data: \`zk-cli cluster add-node\`, \`cluster remove-node\`)`,
      );
    }
    // Tuning flags (--tick-ms, --election-ticks, --heartbeat-ticks, --log-level) apply to the
    // stopped cluster: each member starts again with them, and keeps them in the manifest.
    if (opts.explicit.tuning) existing.nodes.forEach((n, i) => (existing.nodes[i] = { ...n, args: retuned(n.args, opts.tuning) }));
    if (opts.adopt) throw usageError(`${opts.dir} already has a manifest (${MANIFEST_FILE}); run \`zk-cli cluster up${dirFlag(opts.dir)}\` without --adopt`);
    manifest = existing;
    resumed = true;
  } else if (opts.adopt) {
    if (opts.explicit.count || opts.explicit.basePort) throw usageError("--adopt takes the members from the stores; drop --nodes and --base-port");
    manifest = await adoptCluster(opts.dir, opts.tuning);
    resumed = true;
  } else {
    manifest = planCluster(opts.dir, opts.count, opts.basePort, opts.tuning);
    const found = nodeDataIn(opts.dir, manifest.nodes.map((n) => n.dataDir));
    if (found.length > 0) {
      throw new CliError(
        `${opts.dir} holds node data but no ${MANIFEST_FILE} (${found.join(", ")}); run \`zk-cli cluster up --adopt${dirFlag(opts.dir)}\` to start that cluster again from its stores, or pick another --dir`,
        EXIT_CONFLICT,
      );
    }
  }
  mkdirSync(opts.dir, { recursive: true });

  // Only a data dir made here, now, belongs to a new member: its node may create its store
  // (--initial-cluster). Every other node must find its store, or refuse to start.
  const created = new Set<string>();
  if (!resumed) {
    for (const node of manifest.nodes) {
      mkdirSync(node.dataDir, { recursive: true });
      created.add(node.dataDir);
    }
  }
  const notStarted = resumed ? storeless(opts.dir, manifest) : [];
  const spawned: Spawned[] = [];
  try {
    for (const node of manifest.nodes) {
      if (notStarted.includes(node)) continue;
      const s = spawnNode(node, { detached: opts.detached, sink: opts.sink, extraArgs: created.has(node.dataDir) ? ["--initial-cluster"] : [] });
      spawned.push(s);
      node.pid = s.child.pid ?? 0;
      node.state = "running";
    }
    // Recorded before waiting, so an interrupted `up` still leaves the PIDs to stop.
    writeManifest(opts.dir, manifest);
    const rows = await waitForLeader(spawned, opts.fetchStatus({ ...manifest, nodes: manifest.nodes.filter((n) => !notStarted.includes(n)) }), opts.waitMs, opts.dir);
    return { manifest, spawned, rows, resumed, notStarted };
  } catch (e) {
    await stopPids(spawned.map((s) => s.child.pid ?? 0));
    for (const n of manifest.nodes) n.state = "stopped";
    if (resumed) {
      writeManifest(opts.dir, manifest);
    } else {
      // A cluster that never came up has nothing worth keeping but its logs. Only what this
      // invocation created goes: the data dirs it made (checked above to hold nothing before)
      // and its manifest; never anything that was there before.
      for (const d of created) rmSync(d, { recursive: true, force: true });
      rmSync(manifestPath(opts.dir), { force: true });
      // zk-node tells a hand-started node to change its --listen and every --peers: here one
      // flag does that for every member.
      if (e instanceof CliError && /the port is in use/.test(e.message)) {
        throw new CliError(`${e.message} (in \`zk-cli cluster up\`: another --base-port, now ${opts.basePort}, moves every member's ports)`, e.exitCode);
      }
    }
    throw e;
  }
}

/** SIGTERM every running member, SIGKILL stragglers, and mark them stopped. */
export async function clusterDown(dir: string, m: Manifest, opts: { purge: boolean; waitMs?: number }): Promise<{ stopped: string[]; killed: string[] }> {
  const running = runningNodes(m);
  const killedPids = await stopPids(running.map((n) => n.pid), opts.waitMs ?? STOP_WAIT_MS);
  for (const n of m.nodes) n.state = "stopped";
  if (opts.purge) {
    rmSync(dir, { recursive: true, force: true });
  } else {
    writeManifest(dir, m);
  }
  return { stopped: running.map((n) => n.id), killed: running.filter((n) => killedPids.includes(n.pid)).map((n) => n.id) };
}

/** SIGKILL one member (a crash, as kill -9). */
export async function killNode(dir: string, m: Manifest, id: string): Promise<{ pid: number; wasRunning: boolean }> {
  const n = findNode(m, id);
  const wasRunning = signal(n.pid, "SIGKILL");
  if (wasRunning) await waitForExit([n.pid], 2_000);
  n.state = "stopped";
  writeManifest(dir, m);
  return { pid: n.pid, wasRunning };
}

/** SIGTERM one member and wait (bounded) for it to exit; SIGKILL if it does not. */
export async function stopNode(dir: string, m: Manifest, id: string, waitMs = STOP_WAIT_MS): Promise<{ pid: number; wasRunning: boolean; killed: boolean }> {
  const n = findNode(m, id);
  const wasRunning = isAlive(n.pid);
  const killed = wasRunning ? (await stopPids([n.pid], waitMs)).length > 0 : false;
  n.state = "stopped";
  writeManifest(dir, m);
  return { pid: n.pid, wasRunning, killed };
}

/**
 * Start one member again with the flags and data dir it had, detached. Waits until the node
 * serves (answers a status call), or fails with its one-line error if it exits first.
 */
export async function startNode(dir: string, m: Manifest, id: string, probe: (address: string) => Promise<boolean>, waitMs = READY_WAIT_MS, opts: { rejoin?: boolean } = {}): Promise<{ pid: number }> {
  const n = findNode(m, id);
  if (isAlive(n.pid)) throw new CliError(`${id} is already running (pid ${n.pid}); use \`zk-cli cluster restart ${id}${dirFlag(dir)}\` to restart it`);
  // --rejoin is for this start only: once rebuilt, the member has its store again.
  const s = spawnNode(n, { detached: true, extraArgs: opts.rejoin ? ["--rejoin"] : [] });
  n.pid = s.child.pid ?? 0;
  n.state = "running";
  writeManifest(dir, m);
  let failure: string | null = null;
  void s.exited.then((r) => (failure ??= withRejoinHint(describeExit(id, r), id, dir, opts.rejoin === true)));
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (failure) break;
    if (await probe(n.address)) return { pid: n.pid };
    await sleep(READY_POLL_MS);
  }
  await stopPids([n.pid]);
  n.state = "stopped";
  writeManifest(dir, m);
  throw new CliError(failure ?? `${id} did not start serving within ${Math.round(waitMs / 1000)} s; see ${n.logFile}`);
}
