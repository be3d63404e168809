// zk-node's configuration: flags, else environment variables, else a JSON config file, else
// defaults. Everything is validated up front so a bad setting is one clear line and a
// non-zero exit, before any file or port is touched.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Member } from "./node.js";
import { WATCH_HISTORY_SLOTS_DEFAULT } from "./tree/watch-log.js";
import { RETAIN_ENTRIES_DEFAULT, SNAPSHOT_ENTRIES_DEFAULT } from "./machine.js";

export interface NodeConfig {
  readonly id: string;
  readonly listen: string;
  readonly members: readonly Member[];
  readonly dataDir: string;
  readonly clusterId: string;
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly dataBytesMax: number;
  readonly watchHistorySlots: number;
  /** Applied entries between two snapshot points (log compactions): --snapshot-entries. */
  readonly snapshotEntries: number;
  /** Entries kept below a snapshot point, for followers a little behind: --retain-entries. */
  readonly retainEntries: number;
  readonly logLevel: string;
  /** This is the first start of a new cluster: a missing store may be created. */
  readonly initialCluster: boolean;
  /**
   * This node lost its store: create a rebuilt one, which stays non-voting (recovering) until
   * a leader has caught it up in a ballot begun after the rebuild.
   */
  readonly rejoin: boolean;
  /**
   * A new member of a running cluster: create an empty store that votes in nothing until the
   * log makes it a voter (zk-cli member add / cluster add-node add it).
   */
  readonly join: boolean;
  /** Where to serve ZooKeeper's client protocol (src/zk-protocol), or null for no such port. */
  readonly zkListen: string | null;
  /** Every member's ZooKeeper-port address, for /zookeeper/config; this node's is added from zkListen. */
  readonly zkPeers: readonly Member[];
  /** Serve the ZooKeeper port's reads after a quorum-confirmed barrier, not from the local tree. */
  readonly zkLinearizableReads: boolean;
  /**
   * The super user's digest ("user:base64(sha1(user:password))", as ZooKeeper's
   * zookeeper.DigestAuthenticationProvider.superDigest): a client authenticated as it, on
   * either port, passes every ACL check. Null: no super user.
   */
  readonly zkSuperDigest: string | null;
  /** --fsync-off-loop: a Ready's fsync runs on libuv's thread pool while the event loop goes on. */
  readonly fsyncOffLoop: boolean;
  /** --tree-in-memory: the znode tree in JavaScript maps, written to the store at checkpoints. */
  readonly treeInMemory: boolean;
  /** --trace-file: where to append the write path's timeline (trace.ts), or null for none. */
  readonly traceFile: string | null;
  /** --trace-every: trace every Nth log slot. */
  readonly traceEvery: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Each setting: its flag, its environment variable, its config-file key. */
const SETTINGS = {
  id: { env: "ZK_ID", key: "id" },
  listen: { env: "ZK_LISTEN", key: "listen" },
  peers: { env: "ZK_PEERS", key: "peers" },
  "data-dir": { env: "ZK_DATA_DIR", key: "dataDir" },
  "cluster-id": { env: "ZK_CLUSTER_ID", key: "clusterId" },
  "tick-ms": { env: "ZK_TICK_MS", key: "tickMs" },
  "election-ticks": { env: "ZK_ELECTION_TICKS", key: "electionTimeoutTicks" },
  "heartbeat-ticks": { env: "ZK_HEARTBEAT_TICKS", key: "heartbeatTicks" },
  "data-bytes-max": { env: "ZK_DATA_BYTES_MAX", key: "dataBytesMax" },
  "watch-history-slots": { env: "ZK_WATCH_HISTORY_SLOTS", key: "watchHistorySlots" },
  "snapshot-entries": { env: "ZK_SNAPSHOT_ENTRIES", key: "snapshotEntries" },
  "retain-entries": { env: "ZK_RETAIN_ENTRIES", key: "retainEntries" },
  "log-level": { env: "ZK_LOG_LEVEL", key: "logLevel" },
  "initial-cluster": { env: "ZK_INITIAL_CLUSTER", key: "initialCluster" },
  rejoin: { env: "ZK_REJOIN", key: "rejoin" },
  join: { env: "ZK_JOIN", key: "join" },
  "zk-listen": { env: "ZK_ZK_LISTEN", key: "zkListen" },
  "zk-peers": { env: "ZK_ZK_PEERS", key: "zkPeers" },
  "zk-linearizable-reads": { env: "ZK_ZK_LINEARIZABLE_READS", key: "zkLinearizableReads" },
  "zk-super-digest": { env: "ZK_ZK_SUPER_DIGEST", key: "zkSuperDigest" },
  "fsync-off-loop": { env: "ZK_FSYNC_OFF_LOOP", key: "fsyncOffLoop" },
  "tree-in-memory": { env: "ZK_TREE_IN_MEMORY", key: "treeInMemory" },
  "trace-file": { env: "ZK_TRACE_FILE", key: "traceFile" },
  "trace-every": { env: "ZK_TRACE_EVERY", key: "traceEvery" },
} as const;

/** Settings that are switches: a flag without a value; "1"/"true" in the environment or file. */
const SWITCHES: ReadonlySet<Setting> = new Set(["initial-cluster", "rejoin", "join", "zk-linearizable-reads", "fsync-off-loop", "tree-in-memory"]);

type Setting = keyof typeof SETTINGS;

export const USAGE = `usage: zk-node --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR
       [--cluster-id ID] [--tick-ms N] [--election-ticks N] [--heartbeat-ticks N]
       [--data-bytes-max N] [--watch-history-slots N] [--snapshot-entries N] [--retain-entries N]
       [--log-level info|debug|warn] [--fsync-off-loop] [--tree-in-memory] [--trace-file FILE [--trace-every N]]
       [--initial-cluster | --rejoin | --join] [--zk-listen HOST:PORT [--zk-peers ID=HOST:PORT,...]
       [--zk-linearizable-reads]] [--zk-super-digest USER:DIGEST] [--config FILE.json]
--initial-cluster: this is the first start of a new cluster, so create the store if the data dir
has none. Without it a missing store is refused (a node that lost its disk must not come back as
a fresh member). It changes nothing when the store exists.
--snapshot-entries N (default 10000): every N applied entries the node takes a snapshot point
and compacts its log, keeping the last --retain-entries N (default 5000) entries below it for
followers a little behind; a follower further behind is sent a snapshot.
--rejoin: this node lost its store (disk replaced, file corrupt and moved aside): create a rebuilt
one. The node catches up from the others and votes in no quorum until a leader elected after the
rebuild has caught it up (role "recovering" in status). Refused when the data dir has a store.
--join: this node is a new member of a running cluster (--peers lists its members and this node):
create an empty store that votes in nothing until a membership change makes it a voter (role
"learner" until then); add it with zk-cli member add ID ADDRESS. A removed node's disk can also
come back this way, under a new id (ids are never reused).
--zk-listen: also serve ZooKeeper's client protocol (zkCli.sh, Curator, kazoo) and its four-letter
words on HOST:PORT; --zk-peers lists every member's such address for /zookeeper/config;
--zk-linearizable-reads makes its reads linearizable (ZooKeeper's own are served locally).
--fsync-off-loop: commit a Ready without its fsync and run the fsync (an fdatasync of the WAL) on
libuv's thread pool; the Ready's messages and answers still wait for it, while the event loop
keeps receiving. Equally durable; worth it where CPU is spare and the disk is slow (see
docs/benchmarks.md). A failed fsync then stops the node (exit 1).
--tree-in-memory: keep the znode tree, sessions and request ids in memory (as ZooKeeper does) and
write them to the store only at checkpoints: every 1000 applied entries, every snapshot point,
before a snapshot is saved and at a clean stop.
A restart loads the last checkpoint and replays the log after it. zk-cli inspect shows the tree as
of the last checkpoint. Experimental; a store written with it works without it and back.
--trace-file FILE: append the write path's timeline to FILE: when every Nth log slot (--trace-every,
default 64) is sent, received, written, acknowledged, chosen and applied on this node,
on the machine's monotonic clock (scripts/bench/timeline.sh reads the files of a whole cluster).
A FILE that holds anything but a trace (a store named by mistake) is refused, not appended to.
--zk-super-digest USER:DIGEST: a client authenticated as USER with the password whose digest this
is (base64 of sha1("USER:PASSWORD"), as ZooKeeper's superDigest) passes every ACL check, on both ports.
Every flag has an environment variable: ZK_ID, ZK_LISTEN, ZK_PEERS, ZK_DATA_DIR, ZK_CLUSTER_ID,
ZK_TICK_MS, ZK_ELECTION_TICKS, ZK_HEARTBEAT_TICKS, ZK_DATA_BYTES_MAX, ZK_WATCH_HISTORY_SLOTS,
ZK_SNAPSHOT_ENTRIES, ZK_RETAIN_ENTRIES, ZK_LOG_LEVEL, ZK_INITIAL_CLUSTER (=1), ZK_REJOIN (=1), ZK_JOIN (=1),
ZK_ZK_LISTEN, ZK_ZK_PEERS, ZK_ZK_LINEARIZABLE_READS (=1), ZK_ZK_SUPER_DIGEST, ZK_FSYNC_OFF_LOOP (=1), ZK_TREE_IN_MEMORY (=1),
ZK_TRACE_FILE, ZK_TRACE_EVERY, ZK_CONFIG.
A config file is JSON with the keys id, listen, peers, dataDir, clusterId, tickMs,
electionTimeoutTicks, heartbeatTicks, dataBytesMax, watchHistorySlots, snapshotEntries, retainEntries,
logLevel, initialCluster, rejoin, join, zkListen, zkPeers, zkLinearizableReads, zkSuperDigest, fsyncOffLoop,
treeInMemory, traceFile, traceEvery. Flags win over the environment,
which wins over the file.`;

export const DEFAULT_DATA_BYTES_MAX = 1024 * 1024;
// Log compaction's defaults live with the machine that uses them (etcd's --snapshot-count is also 10,000).
export { RETAIN_ENTRIES_DEFAULT, SNAPSHOT_ENTRIES_DEFAULT } from "./machine.js";

export function parseNodeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): NodeConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" }, help: { type: "boolean" } };
    for (const k of Object.keys(SETTINGS)) options[k] = { type: SWITCHES.has(k as Setting) ? "boolean" : "string" };
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new ConfigError(`${(e as Error).message.split("\n")[0]} (see zk-node --help)`);
  }
  if (values.help) return "help";
  const configPath = (values.config as string | undefined) ?? env.ZK_CONFIG;
  let file: Record<string, unknown> = {};
  if (configPath) {
    try {
      file = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read config file ${configPath}: ${(e as Error).message.split("\n")[0]}`);
    }
    if (typeof file !== "object" || file === null || Array.isArray(file)) throw new ConfigError(`config file ${configPath} must hold a JSON object`);
  }
  const get = (name: Setting): string | undefined => {
    const flag = values[name];
    if (typeof flag === "string") return flag;
    if (flag === true) return "true";
    const fromEnv = env[SETTINGS[name].env];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const fromFile = file[SETTINGS[name].key];
    if (fromFile === undefined || fromFile === null) return undefined;
    if ((name === "peers" || name === "zk-peers") && typeof fromFile === "object") {
      return Object.entries(fromFile as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(",");
    }
    return String(fromFile);
  };
  const required = (name: Setting): string => {
    const v = get(name);
    if (v === undefined) throw new ConfigError(`missing --${name} (or ${SETTINGS[name].env}); see zk-node --help`);
    return v;
  };

  const id = required("id");
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ConfigError(`invalid --id "${id}": use 1-64 letters, digits, '.', '_' or '-'`);
  const listen = required("listen");
  checkAddress(listen, "--listen");
  const members = parsePeers(required("peers"));
  const self = members.find((m) => m.id === id);
  if (!self) throw new ConfigError(`--id ${id} is not in --peers (${members.map((m) => m.id).join(", ")}); add ${id}=${listen} to --peers`);
  if (self.address !== listen && !listen.startsWith("0.0.0.0:")) {
    throw new ConfigError(`--listen ${listen} differs from ${id}'s address in --peers (${self.address}); make them the same`);
  }
  const clusterId = get("cluster-id") ?? "zk";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(clusterId)) throw new ConfigError(`invalid --cluster-id "${clusterId}": use 1-64 letters, digits, '.', '_' or '-'`);
  const tickMs = int(get("tick-ms") ?? "10", "--tick-ms", 1, 1000);
  const electionTimeoutTicks = int(get("election-ticks") ?? "15", "--election-ticks", 2, 10_000);
  const heartbeatTicks = int(get("heartbeat-ticks") ?? "3", "--heartbeat-ticks", 1, 10_000);
  const initialCluster = bool(get("initial-cluster"), "--initial-cluster");
  const rejoin = bool(get("rejoin"), "--rejoin");
  const join = bool(get("join"), "--join");
  if (join && (initialCluster || rejoin)) throw new ConfigError("--join excludes --initial-cluster and --rejoin: --join adds a new member to a running cluster");
  if (initialCluster && rejoin) throw new ConfigError("--initial-cluster and --rejoin exclude each other: --initial-cluster starts a new cluster, --rejoin rebuilds a lost member of an existing one");
  const zkListen = get("zk-listen") ?? null;
  if (zkListen !== null) checkAddress(zkListen, "--zk-listen");
  if (zkListen !== null && zkListen === listen) throw new ConfigError(`--zk-listen ${zkListen} is the --listen address; give the ZooKeeper port its own, e.g. the gRPC port + 100`);
  const zkPeersSpec = get("zk-peers");
  const zkPeers = zkPeersSpec === undefined ? [] : parsePeers(zkPeersSpec, "--zk-peers");
  for (const p of zkPeers) {
    if (!members.some((m) => m.id === p.id)) throw new ConfigError(`--zk-peers names ${p.id}, which is not in --peers (${members.map((m) => m.id).join(", ")})`);
  }
  const zkLinearizableReads = bool(get("zk-linearizable-reads"), "--zk-linearizable-reads");
  if (zkListen === null && (zkPeers.length > 0 || zkLinearizableReads)) throw new ConfigError("--zk-peers and --zk-linearizable-reads configure the ZooKeeper port: add --zk-listen HOST:PORT");
  const zkSuperDigest = get("zk-super-digest") ?? null;
  if (zkSuperDigest !== null && !/^[^:]+:[A-Za-z0-9+/]{27}=$/.test(zkSuperDigest)) {
    throw new ConfigError(`invalid --zk-super-digest "${zkSuperDigest}": expected USER:DIGEST, DIGEST being base64(sha1("USER:PASSWORD")) (28 characters)`);
  }
  const traceFile = get("trace-file") ?? null;
  const traceEverySpec = get("trace-every");
  if (traceFile === null && traceEverySpec !== undefined) throw new ConfigError("--trace-every sets how often --trace-file records a slot: add --trace-file FILE");
  const traceEvery = int(traceEverySpec ?? "64", "--trace-every", 1, 1_000_000);
  if (heartbeatTicks >= electionTimeoutTicks) throw new ConfigError(`--heartbeat-ticks (${heartbeatTicks}) must be below --election-ticks (${electionTimeoutTicks})`);
  return {
    id,
    listen,
    members,
    dataDir: required("data-dir"),
    clusterId,
    tickMs,
    electionTimeoutTicks,
    heartbeatTicks,
    dataBytesMax: int(get("data-bytes-max") ?? String(DEFAULT_DATA_BYTES_MAX), "--data-bytes-max", 1, 16 * 1024 * 1024),
    watchHistorySlots: int(get("watch-history-slots") ?? String(WATCH_HISTORY_SLOTS_DEFAULT), "--watch-history-slots", 10, 100_000_000),
    snapshotEntries: int(get("snapshot-entries") ?? String(SNAPSHOT_ENTRIES_DEFAULT), "--snapshot-entries", 100, 100_000_000),
    retainEntries: int(get("retain-entries") ?? String(RETAIN_ENTRIES_DEFAULT), "--retain-entries", 0, 100_000_000),
    logLevel: get("log-level") ?? "info",
    initialCluster,
    rejoin,
    join,
    zkListen,
    zkPeers,
    zkLinearizableReads,
    zkSuperDigest,
    fsyncOffLoop: bool(get("fsync-off-loop"), "--fsync-off-loop"),
    treeInMemory: bool(get("tree-in-memory"), "--tree-in-memory"),
    traceFile,
    traceEvery,
  };
}

/** "n1=127.0.0.1:7001,n2=127.0.0.1:7002" -> members; duplicates and bad addresses are errors. */
export function parsePeers(spec: string, flag = "--peers"): Member[] {
  const members: Member[] = [];
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(`invalid ${flag} entry "${part}": expected ID=HOST:PORT, e.g. n1=127.0.0.1:7001`);
    const id = part.slice(0, eq);
    const address = part.slice(eq + 1);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ConfigError(`invalid node id "${id}" in ${flag}: use 1-64 letters, digits, '.', '_' or '-'`);
    checkAddress(address, `${flag} entry ${id}`);
    if (members.some((m) => m.id === id)) throw new ConfigError(`duplicate node id "${id}" in ${flag}; give each node its own id`);
    if (members.some((m) => m.address === address)) throw new ConfigError(`duplicate address ${address} in ${flag}; give each node its own port`);
    members.push({ id, address });
  }
  if (members.length === 0) throw new ConfigError(`${flag} is empty; list every member as ID=HOST:PORT, comma-separated`);
  return members;
}

function checkAddress(address: string, what: string): void {
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new ConfigError(`invalid address "${address}" for ${what}: expected HOST:PORT, e.g. 127.0.0.1:7001`);
}

function bool(v: string | undefined, name: string): boolean {
  if (v === undefined) return false;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new ConfigError(`invalid ${name} "${v}": expected 1 or 0 (true or false)`);
}

function int(v: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(`invalid ${name} "${v}": expected an integer from ${min} to ${max}`);
  return Number(v);
}
