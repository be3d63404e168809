// zk-node's ZooKeeper-protocol port (--zk-listen): a TCP listener speaking ZooKeeper's client
// protocol (jute frames) over the same tree, sessions and log as the gRPC port, so zkCli.sh,
// Curator, kazoo and node-zookeeper-client work against zk unchanged. Also the four-letter
// words on the same port. docs/zookeeper-protocol.md says what is served and what is not.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { WatchEvent } from "../gen/zk/v1/kv.js";
import type { Logger } from "../log.js";
import type { ZkNode } from "../node.js";
import { KvOps } from "../net/kv-ops.js";
import { ZkConnection, triggered } from "./connection.js";
import { EventType, FOUR_LETTER_WORDS_ENABLED } from "./records.js";
import { configText, type SystemNodeSource } from "./system-nodes.js";
import { portInUseMessage } from "../net/port-in-use.js";

/** ZooKeeper's default session timeout bounds (2 and 20 ticks of its default 2000 ms tick). */
export const ZK_SESSION_TIMEOUT_MIN_MS = 4000;
export const ZK_SESSION_TIMEOUT_MAX_MS = 40_000;
/** Open ZooKeeper connections per node; past it new ones are closed at once. */
export const ZK_CONNECTIONS_MAX = 10_000;
/** The version string four-letter words report: ZooKeeper's protocol level, then zk's. */
export const ZK_VERSION = "3.8.0-zk-0.1.0";

export interface ZkProtocolOptions {
  readonly listen: string;
  readonly clusterId: string;
  readonly dataDir: string;
  /** Serve every read after a quorum-confirmed barrier instead of from the local tree. */
  readonly linearizableReads: boolean;
  /** Every member's ZooKeeper-port address by id, for /zookeeper/config (this node's at least). */
  readonly zkAddresses: ReadonlyMap<string, string>;
  /** The super user's digest (--zk-super-digest): `addauth digest` with its password passes every ACL check. */
  readonly superDigest?: string;
}

export class ZkProtocolServer implements SystemNodeSource {
  readonly ops: KvOps;
  readonly stats = { received: 0, sent: 0, latencyMinMs: Infinity, latencyMaxMs: 0, latencySumMs: 0, latencyCount: 0 };
  private readonly server: Server;
  private readonly connections = new Set<ZkConnection>();
  private readonly bySession = new Map<number, ZkConnection>();
  private readonly secret: Buffer;
  private readonly onApplied = (_zxid: number, events: readonly WatchEvent[]) => {
    if (events.length === 0) return;
    // This runs in the driver's apply loop: a bug here must cost a connection, never the node.
    for (const c of this.bySession.values()) {
      try {
        c.onApplied(events);
      } catch (e) {
        this.log.error({ session: c.sessionId, err: e instanceof Error ? e.message : String(e) }, "closing a ZooKeeper connection whose watch delivery failed");
        c.close();
      }
    }
  };

  constructor(
    readonly node: ZkNode,
    readonly opts: ZkProtocolOptions,
    readonly log: Logger,
  ) {
    this.ops = new KvOps(node);
    // Every member derives the same secret, so a client resumes its session on any of them.
    // It is derived from the cluster id, which is not secret: the password stops a client
    // from taking over another's session by accident (a wrong id), not an attacker who knows
    // the cluster id. ZooKeeper's own password (a Random seeded with the session id) is no
    // stronger; a configured secret comes with ACLs.
    this.secret = createHmac("sha256", "zk-session-password").update(opts.clusterId).digest();
    this.server = createServer((socket) => {
      if (this.connections.size >= ZK_CONNECTIONS_MAX) {
        socket.destroy();
        return;
      }
      this.connections.add(new ZkConnection(this, socket));
    });
    node.on("applied", this.onApplied);
  }

  get linearizableReads(): boolean {
    return this.opts.linearizableReads;
  }

  get packetBytesMax(): number {
    // ZooKeeper's jute.maxbuffer is 1 MiB of data plus the request around it.
    return this.node.opts.dataBytesMax + 64 * 1024;
  }

  get configMembers() {
    return [...this.node.members].map(([id, address]) => ({ id, address, zkAddress: this.opts.zkAddresses.get(id) ?? null }));
  }

  listen(): Promise<void> {
    const i = this.opts.listen.lastIndexOf(":");
    const host = this.opts.listen.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(this.opts.listen.slice(i + 1));
    return new Promise((resolve, reject) => {
      this.server.once("error", (e: NodeJS.ErrnoException) =>
        reject(new Error(e.code === "EADDRINUSE" ? portInUseMessage(this.opts.listen, "--zk-listen", true) : `cannot listen on ${this.opts.listen} (--zk-listen): ${e.message}`)),
      );
      this.server.listen({ host, port, exclusive: true }, () => resolve());
    });
  }

  close(): Promise<void> {
    this.node.off("applied", this.onApplied);
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** A connection's handshake opened or resumed its session; an older connection of that session is closed (as ZooKeeper). */
  adopt(c: ZkConnection): void {
    const old = this.bySession.get(c.sessionId);
    if (old && old !== c) old.close();
    this.bySession.set(c.sessionId, c);
  }

  forget(c: ZkConnection): void {
    this.connections.delete(c);
    if (this.bySession.get(c.sessionId) === c) this.bySession.delete(c.sessionId);
  }

  negotiateTimeout(askedMs: number): number {
    return Math.min(ZK_SESSION_TIMEOUT_MAX_MS, Math.max(ZK_SESSION_TIMEOUT_MIN_MS, askedMs));
  }

  /** A session's password: HMAC-SHA256 of its id under the cluster's secret, 16 bytes as ZooKeeper's. */
  password(sessionId: number): Buffer {
    const id = Buffer.alloc(8);
    id.writeBigInt64BE(BigInt(sessionId));
    return createHmac("sha256", this.secret).update(id).digest().subarray(0, 16);
  }

  passwordMatches(sessionId: number, given: Buffer): boolean {
    const want = this.password(sessionId);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  noteLatency(ms: number): void {
    const s = this.stats;
    s.latencyCount++;
    s.latencySumMs += ms;
    s.latencyMinMs = Math.min(s.latencyMinMs, ms);
    s.latencyMaxMs = Math.max(s.latencyMaxMs, ms);
  }

  /**
   * setWatches after a reconnect: the watches a client held, with the zxid it had seen. zk's
   * watch history tells exactly what happened since, so each watch fires on the first event
   * after relativeZxid that triggers it; the rest are registered. Past the history window,
   * ZooKeeper's own rule (DataTree.setWatches: compare the node's current state) is used.
   */
  restoreWatches(c: ZkConnection, relativeZxid: number, data: readonly string[], exist: readonly string[], child: readonly string[]): void {
    const applied = this.node.appliedIndex;
    const d = new Set([...data, ...exist]);
    const ch = new Set(child);
    if (relativeZxid < applied && relativeZxid + 1 >= this.node.watchLog.oldestAvailable()) {
      // Synchronous: no apply can slip between the history read and the registration.
      for (const ev of this.node.watchLog.read(relativeZxid + 1, applied)) {
        const t = triggered(ev, d, ch);
        if (t !== null) c.notify(t, ev.path);
        if (d.size === 0 && ch.size === 0) break;
      }
    } else if (relativeZxid < applied) {
      const tree = this.node.tree;
      d.clear();
      for (const p of data) {
        const s = tree.exists(p);
        if (s === null) c.notify(EventType.nodeDeleted, p);
        else if (s.mzxid > relativeZxid) c.notify(EventType.nodeDataChanged, p);
        else d.add(p);
      }
      for (const p of exist) {
        if (tree.exists(p) !== null) c.notify(EventType.nodeCreated, p);
        else d.add(p);
      }
      ch.clear();
      for (const p of child) {
        const s = tree.exists(p);
        if (s === null) c.notify(EventType.nodeDeleted, p);
        else if (s.pzxid > relativeZxid) c.notify(EventType.nodeChildrenChanged, p);
        else ch.add(p);
      }
    }
    for (const p of d) c.dataWatches.add(p);
    for (const p of ch) c.childWatches.add(p);
  }

  // ---- Four-letter words -------------------------------------------------------------------

  fourLetterWord(word: string): string {
    if (!FOUR_LETTER_WORDS_ENABLED.has(word)) return `${word} is not executed because it is not in the whitelist.\n`;
    const n = this.node;
    const mode = n.members.size === 1 ? "standalone" : n.role === "leader" ? "leader" : "follower";
    const s = this.stats;
    const avg = s.latencyCount === 0 ? 0 : s.latencySumMs / s.latencyCount;
    const min = s.latencyCount === 0 ? 0 : s.latencyMinMs;
    const counts = () => n.tree.counts();
    switch (word) {
      case "ruok":
        return "imok";
      case "isro":
        return n.role === "recovering" ? "ro" : "rw";
      case "srvr":
      case "stat": {
        const clients =
          word === "stat"
            ? `Clients:\n${[...this.connections].map((c) => ` /${c.remote}[1](queued=${c.outstanding},recved=${c.received},sent=${c.sent})`).join("\n")}\n\n`
            : "";
        return (
          `Zookeeper version: ${ZK_VERSION}, built on zk\n${clients}` +
          `Latency min/avg/max: ${min}/${avg.toFixed(4)}/${s.latencyMaxMs}\n` +
          `Received: ${s.received}\nSent: ${s.sent}\nConnections: ${this.connections.size}\n` +
          `Outstanding: ${this.outstanding()}\nZxid: 0x${n.appliedIndex.toString(16)}\nMode: ${mode}\nNode count: ${counts().znodes + 3}\n`
        );
      }
      case "conf": {
        const port = this.opts.listen.slice(this.opts.listen.lastIndexOf(":") + 1);
        const host = this.opts.listen.slice(0, this.opts.listen.lastIndexOf(":"));
        const ids = [...n.members.keys()];
        return (
          [
            `clientPort=${port}`,
            `clientPortAddress=${host}`,
            `dataDir=${this.opts.dataDir}`,
            `tickTime=${n.opts.tickMs}`,
            `maxClientCnxns=${ZK_CONNECTIONS_MAX}`,
            `minSessionTimeout=${ZK_SESSION_TIMEOUT_MIN_MS}`,
            `maxSessionTimeout=${ZK_SESSION_TIMEOUT_MAX_MS}`,
            `serverId=${ids.indexOf(n.id) + 1}`,
            `peerType=participant`,
            `membership: `,
          ].join("\n") +
          "\n" +
          configText(this) +
          "\n"
        );
      }
      case "mntr": {
        const c = counts();
        const rows: [string, string | number][] = [
          ["zk_version", ZK_VERSION],
          ["zk_server_state", mode],
          ["zk_avg_latency", avg.toFixed(4)],
          ["zk_max_latency", s.latencyMaxMs],
          ["zk_min_latency", min],
          ["zk_packets_received", s.received],
          ["zk_packets_sent", s.sent],
          ["zk_num_alive_connections", this.connections.size],
          ["zk_outstanding_requests", this.outstanding()],
          ["zk_znode_count", c.znodes + 3],
          ["zk_watch_count", this.watchCount()],
          ["zk_ephemerals_count", c.ephemerals],
          ["zk_global_sessions", n.tree.sessions().length],
          ["zk_last_zxid", n.appliedIndex],
        ];
        if (n.role === "leader") rows.push(["zk_followers", n.members.size - 1]);
        return rows.map(([k, v]) => `${k}\t${v}`).join("\n") + "\n";
      }
    }
    return "";
  }

  private outstanding(): number {
    let n = 0;
    for (const c of this.connections) n += c.outstanding;
    return n;
  }

  private watchCount(): number {
    let n = 0;
    for (const c of this.connections) n += c.watchCount;
    return n;
  }
}
