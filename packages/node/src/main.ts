// zk-node: one member of a zk cluster. Validates its configuration, takes the data dir's lock,
// opens its SQLite acceptor store (creating it only on the first start of a new cluster,
// --initial-cluster), serves gRPC on --listen, and runs until SIGTERM or SIGINT.
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ConfigError, USAGE, parseNodeConfig, type NodeConfig } from "./config.js";
import { createLogger } from "./log.js";
import { ZkNode } from "./node.js";
import { NodeServer } from "./net/server.js";
import { ZkProtocolServer } from "./zk-protocol/listener.js";
import { portInUseMessage } from "./net/port-in-use.js";
import { SqliteAcceptorStore } from "./storage/sqlite-store.js";
import { StoreError } from "./storage/store.js";
import { DirLock, DirLockedError } from "./storage/dir-lock.js";
import { DB_FILE, storeFileState } from "./storage/store-file.js";
import { TraceWriter } from "./trace.js";
import { tuneGc } from "./gc-tuning.js";

export { DB_FILE };
/** How long a SIGTERM waits for gRPC to close its connections before the process exits anyway. */
const SHUTDOWN_WAIT_MS = 3000;

function fail(message: string, code = 1): never {
  process.stderr.write(`zk-node: ${message}\n`);
  process.exit(code);
}

/** Refuse early, before any file is created, if the port is taken. */
function checkPortFree(listen: string, flag: "--listen" | "--zk-listen", member: boolean): Promise<void> {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "EADDRINUSE" ? portInUseMessage(listen, flag, member) : `cannot listen on ${listen}: ${e.message}`)),
    );
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

/**
 * Refuse, before anything is written, a data dir without a store unless this is the first start
 * of a new cluster: a node whose disk was lost or wiped must not come back as a fresh member
 * that has forgotten its promises (DESIGN.md "The whole node is deterministic").
 */
function checkStorePresent(cfg: NodeConfig): void {
  const db = join(cfg.dataDir, DB_FILE);
  const state = storeFileState(cfg.dataDir);
  if (state === "present") {
    if (cfg.rejoin) fail(`--rejoin rebuilds a node whose store is gone, but ${db} is there: start without --rejoin (or, if that store is damaged, move ${DB_FILE}* aside first)`);
    return;
  }
  if (state === "damaged") {
    fail(`${db} is ${existsSync(db) ? "empty" : "missing"} but its write-ahead log ${db}-wal is there: the store is damaged; move ${DB_FILE}* aside and restart this node with --rejoin to rejoin as a non-voting recovering member (see README "Troubleshooting")`);
  }
  if (cfg.rejoin && cfg.members.length === 1) {
    fail(`--rejoin catches a node up from the other members, but ${cfg.id} is the only member: its data is gone; start a new cluster in an empty data dir with --initial-cluster`);
  }
  if (cfg.initialCluster || cfg.rejoin || cfg.join) return;
  fail(
    `no store in ${cfg.dataDir}: if this is the first start of a new cluster, pass --initial-cluster; ` +
      `if this node lost its disk, restart it with --rejoin to rejoin as a non-voting recovering member (see README "Troubleshooting")`,
  );
}

async function main(): Promise<void> {
  let cfg: NodeConfig;
  try {
    const parsed = parseNodeConfig(process.argv.slice(2), process.env);
    if (parsed === "help") {
      process.stdout.write(USAGE + "\n");
      return;
    }
    cfg = parsed;
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
  try {
    // A member's address is in its cluster's configuration (a new store's only at --initial-cluster).
    const member = storeFileState(cfg.dataDir) !== "missing" || cfg.rejoin || cfg.join;
    await checkPortFree(cfg.listen, "--listen", member);
    if (cfg.zkListen !== null) await checkPortFree(cfg.zkListen, "--zk-listen", member);
  } catch (e) {
    fail((e as Error).message);
  }
  checkStorePresent(cfg);
  const log = createLogger(cfg.id, cfg.logLevel);
  let store: SqliteAcceptorStore;
  let lock: DirLock;
  try {
    if (cfg.initialCluster || cfg.rejoin || cfg.join) mkdirSync(cfg.dataDir, { recursive: true });
    lock = DirLock.acquire(cfg.dataDir);
  } catch (e) {
    if (e instanceof DirLockedError) fail(e.message);
    fail(`cannot lock the data dir ${cfg.dataDir}: ${(e as Error).message.split("\n")[0]}`);
  }
  try {
    store = SqliteAcceptorStore.open(
      join(cfg.dataDir, DB_FILE),
      { clusterId: cfg.clusterId, nodeId: cfg.id },
      // A rebuilt store's incarnation must exceed every earlier one of this node: the clock.
      { create: cfg.initialCluster || cfg.join, join: cfg.join, members: cfg.members, ...(cfg.rejoin ? { rebuild: { incarnation: Date.now() } } : {}) },
    );
  } catch (e) {
    lock.release({ undo: true });
    if (e instanceof StoreError) fail(e.message);
    fail(`cannot open the data dir ${cfg.dataDir}: ${(e as Error).message.split("\n")[0]}`);
  }
  const nodeOptions = { id: cfg.id, clusterId: cfg.clusterId, members: cfg.members, tickMs: cfg.tickMs, electionTimeoutTicks: cfg.electionTimeoutTicks, heartbeatTicks: cfg.heartbeatTicks, dataBytesMax: cfg.dataBytesMax, watchHistorySlots: cfg.watchHistorySlots, snapshotEntries: cfg.snapshotEntries, retainEntries: cfg.retainEntries, fsyncOffLoop: cfg.fsyncOffLoop, treeInMemory: cfg.treeInMemory, traceEvery: cfg.traceFile === null ? 0 : cfg.traceEvery };
  let trace: TraceWriter | null = null;
  if (cfg.traceFile !== null) {
    try {
      const file = cfg.traceFile;
      trace = new TraceWriter(file, cfg.id, (e) => log.warn({ err: e.message.split("\n")[0] }, `cannot write --trace-file ${file}; tracing stopped, the node runs on`));
    } catch (e) {
      store.close();
      lock.release();
      fail(`cannot open --trace-file ${cfg.traceFile}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  const node = new ZkNode(nodeOptions, store, log, trace);
  const server = new NodeServer(node, cfg.clusterId, cfg.listen, log, { snapshotSource: store.path, superDigest: cfg.zkSuperDigest ?? undefined });
  try {
    await server.bind();
  } catch (e) {
    node.stop();
    store.close();
    lock.release();
    fail((e as Error).message);
  }
  let zkServer: ZkProtocolServer | null = null;
  if (cfg.zkListen !== null) {
    const zkAddresses = new Map(cfg.zkPeers.map((p) => [p.id, p.address]));
    zkAddresses.set(cfg.id, cfg.zkListen);
    zkServer = new ZkProtocolServer(node, { listen: cfg.zkListen, clusterId: cfg.clusterId, dataDir: cfg.dataDir, linearizableReads: cfg.zkLinearizableReads, zkAddresses, superDigest: cfg.zkSuperDigest ?? undefined }, log);
    try {
      await zkServer.listen();
    } catch (e) {
      node.stop();
      await server.shutdown();
      store.close();
      lock.release();
      fail((e as Error).message);
    }
  }
  node.start();
  log.info({ listen: cfg.listen, zkListen: cfg.zkListen, members: cfg.members, dataDir: cfg.dataDir, clusterId: cfg.clusterId, pid: process.pid }, "zk-node serving");

  let stopping = false;
  const shutdown = (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    node.stop();
    let done = false;
    const finish = (how: string) => {
      if (done) return;
      done = true;
      store.close();
      lock.release();
      log.info(how);
      process.exit(exitCode);
    };
    // gRPC's own shutdown can hang on a connection to a peer that is stuck (SIGSTOP, a dead
    // host): the node has stopped and nothing is left to persist, so it exits anyway.
    setTimeout(() => finish(`stopped (gRPC shutdown unfinished after ${SHUTDOWN_WAIT_MS} ms)`), SHUTDOWN_WAIT_MS).unref();
    void Promise.all([server.shutdown(), zkServer?.close()]).then(() => finish("stopped"));
  };
  // The disk failed an fsync (logged by the machine): stop, and exit non-zero so a supervisor sees it.
  node.once("fatal", () => shutdown("fsync failure", 1));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

tuneGc();
main().catch((e: unknown) => {
  fail(`unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
});
