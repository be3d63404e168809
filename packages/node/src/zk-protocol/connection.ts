// One ZooKeeper client connection: the handshake (a zk session opened or resumed), then
// requests answered strictly in order (ZooKeeper's per-session FIFO: the next request starts
// when the previous one has its reply), pings, one-shot watches and their notifications.
// Everything goes through ZkNode's public API and the shared KvOps, the gRPC port's path.
import type { Socket } from "node:net";
import { ErrorCode, type Op as ZkOp, type OpResult, type Principal, type Stat } from "../gen/zk/v1/types.js";
import { EventType as ZkEventType, type WatchEvent } from "../gen/zk/v1/kv.js";
import { ZkError, asZkError } from "../net/errors.js";
import { DEFAULT_DEADLINE_MS } from "../net/kv-ops.js";
import { ROOT, parent } from "../tree/index.js";
import { OPEN_ACL, Perm, allowed, digestPrincipals, redacted, type Acl } from "../tree/acl.js";
import { ipPrincipal } from "../net/auth.js";
import { JuteError, JuteReader, JuteWriter } from "./jute.js";
import {
  CreateFlags,
  Err,
  EventType,
  FOUR_LETTER_WORDS_KNOWN,
  Op,
  WatchMode,
  WatcherType,
  Xid,
  connectResponse,
  readAcl,
  readConnectRequest,
  replyHeader,
  writeAcl,
  writeStat,
  writeWatcherEvent,
  zkErrOf,
  type ZkStat,
} from "./records.js";
import type { ZkProtocolServer } from "./listener.js";
import { TTL_MS_MAX } from "../tree/tree.js";
import { SYSTEM_ROOT, systemNode } from "./system-nodes.js";

/** Requests read from one connection and not yet answered; past it the socket stops being read. */
export const CONNECTION_PENDING_MAX = 1000;
/** How long a client whose last seen zxid is ahead of this node waits for it to catch up before it is refused. */
const CATCH_UP_WAIT_MS = 1000;

/** A request that could not be served on this connection: drop it (the client sees ConnectionLoss). */
class DropConnection extends Error {}

/** A reply: the err of its header, the body after it. */
interface Reply {
  readonly err: number;
  readonly zxid?: number;
  readonly body?: (w: JuteWriter) => void;
}

export class ZkConnection {
  sessionId = 0;
  private timeoutMs = 0;
  private state: "handshake" | "open" | "closed" = "handshake";
  private inbox: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private lastHeardMs = Date.now();
  private liveness: NodeJS.Timeout | null = null;
  /** Highest zxid this connection has told the client of: reads never go below it. */
  private lastZxid = 0;
  /** Server-side watch sets as ZooKeeper's: exists and getData share one (the data watches). */
  readonly dataWatches = new Set<string>();
  readonly childWatches = new Set<string>();
  /** addWatch: watches that stay after they fire; recursive ones cover every descendant too. */
  readonly persistentWatches = new Set<string>();
  readonly recursiveWatches = new Set<string>();
  /** The connection's principals: its address (ZooKeeper's ip scheme), then what addauth added. */
  readonly authInfo: Principal[];
  received = 0;
  sent = 0;

  constructor(
    private readonly server: ZkProtocolServer,
    readonly socket: Socket,
  ) {
    this.authInfo = [ipPrincipal(socket.remoteAddress ?? "")];
    socket.setNoDelay(true);
    socket.on("data", (b: Buffer) => this.onData(b));
    socket.on("close", () => this.closed());
    socket.on("error", () => undefined);
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? "?"}:${this.socket.remotePort ?? 0}`;
  }

  get outstanding(): number {
    return this.pending;
  }

  close(): void {
    if (this.state === "closed") return;
    this.closed();
    this.socket.end();
    // A client that does not read must not hold the socket open forever.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private closed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.liveness) clearInterval(this.liveness);
    this.server.forget(this);
  }

  private send(frame: Buffer): void {
    if (this.state === "closed" || this.socket.destroyed) return;
    this.sent++;
    this.server.stats.sent++;
    this.socket.write(frame);
  }

  // ---- Framing -----------------------------------------------------------------------------

  private onData(b: Buffer): void {
    if (this.state === "closed") return;
    this.lastHeardMs = Date.now();
    this.inbox = this.inbox.length === 0 ? b : Buffer.concat([this.inbox, b]);
    if (this.state === "handshake" && this.received === 0 && this.inbox.length >= 4) {
      const word = this.inbox.subarray(0, 4).toString("latin1");
      if (FOUR_LETTER_WORDS_KNOWN.has(word)) {
        this.state = "closed";
        this.server.forget(this);
        this.socket.end(this.server.fourLetterWord(word));
        return;
      }
    }
    for (;;) {
      if (this.inbox.length < 4) return;
      const len = this.inbox.readInt32BE(0);
      if (len < 0 || len > this.server.packetBytesMax) {
        this.server.log.warn({ remote: this.remote, len }, `closing a ZooKeeper connection that sent a ${len}-byte packet (the limit is ${this.server.packetBytesMax})`);
        this.close();
        return;
      }
      if (this.inbox.length < 4 + len) return;
      const frame = this.inbox.subarray(4, 4 + len);
      this.inbox = this.inbox.subarray(4 + len);
      this.received++;
      this.server.stats.received++;
      this.enqueue(frame);
    }
  }

  private enqueue(frame: Buffer): void {
    this.pending++;
    if (this.pending >= CONNECTION_PENDING_MAX) this.socket.pause();
    const started = Date.now();
    this.chain = this.chain
      .then(() => (this.state === "handshake" ? this.handshake(frame) : this.request(frame, started)))
      .catch((e: unknown) => {
        if (!(e instanceof DropConnection)) this.server.log.warn({ remote: this.remote, session: this.sessionId, err: asZkError(e).message }, "closing a ZooKeeper connection");
        this.close();
      })
      .finally(() => {
        this.pending--;
        if (this.pending < CONNECTION_PENDING_MAX && this.socket.isPaused()) this.socket.resume();
      });
  }

  // ---- Handshake ---------------------------------------------------------------------------

  private async handshake(frame: Buffer): Promise<void> {
    const node = this.server.node;
    const req = readConnectRequest(new JuteReader(frame));
    const deadline = Date.now() + DEFAULT_DEADLINE_MS;
    if (req.lastZxidSeen > node.appliedIndex) {
      await node.appliedAtLeast(req.lastZxidSeen, Date.now() + CATCH_UP_WAIT_MS).catch(() => undefined);
      if (req.lastZxidSeen > node.appliedIndex) {
        // As ZooKeeper: this server is behind what the client has seen, so the client must try another.
        this.server.log.info({ remote: this.remote, clientZxid: req.lastZxidSeen, applied: node.appliedIndex }, `refusing a ZooKeeper client that has seen zxid 0x${req.lastZxidSeen.toString(16)}; this node has applied 0x${node.appliedIndex.toString(16)}; it must try another server`);
        throw new DropConnection();
      }
    }
    const timeoutMs = this.server.negotiateTimeout(req.timeOut);
    if (req.sessionId === 0) {
      const s = await node.openSession(timeoutMs, deadline).catch(drop);
      this.opened(s.sessionId, s.ttlMs);
      this.send(connectResponse(s.ttlMs, s.sessionId, this.server.password(s.sessionId)));
      return;
    }
    if (!this.server.passwordMatches(req.sessionId, req.passwd)) {
      this.refuseSession(req.sessionId, "its password does not match");
      return;
    }
    await node.readBarrier(deadline).catch(drop);
    const known = node.tree.session(req.sessionId);
    if (!known) {
      this.refuseSession(req.sessionId, "it has expired");
      return;
    }
    try {
      await node.keepalive([req.sessionId], deadline);
    } catch (e) {
      if (asZkError(e).code === ErrorCode.SESSION_EXPIRED) return this.refuseSession(req.sessionId, "it has expired");
      throw new DropConnection();
    }
    this.opened(req.sessionId, known.ttlMs);
    this.send(connectResponse(known.ttlMs, req.sessionId, this.server.password(req.sessionId)));
  }

  /** As ZooKeeper: a ConnectResponse with timeout 0 tells the client its session is gone. */
  private refuseSession(sessionId: number, why: string): void {
    this.server.log.info({ remote: this.remote, session: sessionId }, `ZooKeeper client asked to resume session 0x${sessionId.toString(16)}, but ${why}`);
    this.send(connectResponse(0, 0, Buffer.alloc(16)));
    this.close();
  }

  private opened(sessionId: number, ttlMs: number): void {
    this.sessionId = sessionId;
    this.timeoutMs = ttlMs;
    this.lastZxid = Math.max(this.lastZxid, this.server.node.appliedIndex);
    this.state = "open";
    this.server.adopt(this);
    // ZooKeeper expires a session whose client sent nothing for its timeout; zk's leader does
    // that from keepalives, which this connection sends while its client is heard from.
    const every = Math.max(200, Math.floor(ttlMs / 3));
    this.liveness = setInterval(() => {
      if (Date.now() - this.lastHeardMs > this.timeoutMs) {
        this.server.log.info({ remote: this.remote, session: sessionId }, "closing a silent ZooKeeper connection");
        this.close();
        return;
      }
      this.server.node.keepalive([sessionId], Date.now() + every).catch((e: unknown) => {
        if (asZkError(e).code === ErrorCode.SESSION_EXPIRED) this.close();
      });
    }, every);
  }

  // ---- Requests ----------------------------------------------------------------------------

  private async request(frame: Buffer, started: number): Promise<void> {
    const r = new JuteReader(frame);
    const xid = r.int();
    const type = r.int();
    let reply: Reply;
    try {
      reply = await this.serve(xid, type, r);
    } catch (e) {
      if (e instanceof DropConnection) throw e;
      if (e instanceof ZkErrorWith) return this.answer(xid, type, { err: e.err }, started);
      if (e instanceof JuteError) {
        this.server.log.warn({ remote: this.remote, type, err: e.message }, "closing a ZooKeeper connection that sent a malformed request");
        throw new DropConnection();
      }
      const z = asZkError(e);
      const err = zkErrOf(z.code);
      if (err === null) throw new DropConnection();
      reply = { err };
    }
    this.answer(xid, type, reply, started);
  }

  private answer(xid: number, type: number, reply: Reply, started: number): void {
    const zxid = reply.zxid ?? this.server.node.appliedIndex;
    this.lastZxid = Math.max(this.lastZxid, zxid);
    const w = replyHeader(new JuteWriter(), xid, zxid, reply.err);
    if (reply.err === Err.ok) reply.body?.(w);
    this.send(w.frame());
    if (type !== Op.ping) this.server.noteLatency(Date.now() - started);
    if (type === Op.closeSession) this.close();
  }

  private async serve(xid: number, type: number, r: JuteReader): Promise<Reply> {
    const node = this.server.node;
    const ops = this.server.ops;
    const deadline = Date.now() + DEFAULT_DEADLINE_MS;
    switch (type) {
      case Op.ping:
        return { err: Err.ok };
      case Op.closeSession: {
        const zxid = await node.closeSession(this.sessionId, deadline).catch(drop);
        return { err: Err.ok, zxid };
      }
      case Op.auth: {
        r.int();
        const scheme = r.ustring() ?? "";
        const auth = (r.buffer() ?? Buffer.alloc(0)).toString("utf8");
        if (scheme !== "digest") {
          // ZooKeeper answers AuthFailed and the client's session is unusable from then on.
          setImmediate(() => this.close());
          return { err: Err.authFailed };
        }
        for (const p of digestPrincipals(auth, this.server.opts.superDigest)) {
          if (!this.authInfo.some((q) => q.scheme === p.scheme && q.id === p.id)) this.authInfo.push(p);
        }
        return { err: Err.ok };
      }
      case Op.setWatches:
      case Op.setWatches2: {
        const relativeZxid = r.long();
        const str = (x: JuteReader) => x.path();
        const data = r.vector(str) ?? [];
        const exist = r.vector(str) ?? [];
        const child = r.vector(str) ?? [];
        // As ZooKeeper, persistent watches are re-added without a replay of what they missed.
        for (const p of type === Op.setWatches2 ? (r.vector(str) ?? []) : []) this.persistentWatches.add(p);
        for (const p of type === Op.setWatches2 ? (r.vector(str) ?? []) : []) this.recursiveWatches.add(p);
        this.server.restoreWatches(this, relativeZxid, data, exist, child);
        return { err: Err.ok };
      }
      case Op.addWatch: {
        const path = r.path();
        const mode = r.int();
        if (mode !== WatchMode.persistent && mode !== WatchMode.persistentRecursive) return { err: Err.badArguments };
        (mode === WatchMode.persistent ? this.persistentWatches : this.recursiveWatches).add(path);
        // ZooKeeper answers addWatch with an ErrorResponse record after the header.
        return { err: Err.ok, body: (w) => w.int(0) };
      }
      case Op.checkWatches:
      case Op.removeWatches: {
        const path = r.path();
        const kind = r.int();
        const sets = this.watchSetsOf(kind);
        if (sets === null) return { err: Err.badArguments };
        const held = sets.filter((s) => s.has(path));
        if (held.length === 0) return { err: Err.noWatcher };
        if (type === Op.removeWatches) for (const s of held) s.delete(path);
        return { err: Err.ok };
      }
      case Op.create:
      case Op.create2:
      case Op.createContainer:
      case Op.createTTL: {
        const path = r.path();
        const data = r.buffer() ?? Buffer.alloc(0);
        const acl = r.vector(readAcl);
        const flags = r.int();
        const ttl = type === Op.createTTL ? r.long() : -1;
        const res = await this.create(path, data, acl, flags, ttl, deadline);
        if (type === Op.create) return { err: Err.ok, zxid: res.zxid, body: (w) => w.ustring(res.path) };
        return { err: Err.ok, zxid: res.zxid, body: (w) => writeStat(w.ustring(res.path), res.stat) };
      }
      case Op.setACL: {
        const path = r.path();
        const acl = r.vector(readAcl) ?? [];
        const version = r.int();
        this.refuseSystem(path);
        if (acl.length === 0) return { err: Err.invalidAcl };
        const o = await ops.setAcl({ path, acl, expectedAversion: version }, deadline, "", this.authInfo);
        await this.caughtUp(o.zxid, deadline);
        return { err: Err.ok, zxid: o.zxid, body: (w) => writeStat(w, this.zkStat(path, o.stat!)) };
      }
      case Op.delete: {
        const path = r.path();
        const version = r.int();
        this.refuseSystem(path);
        const o = await ops.delete({ path, expectedVersion: version }, deadline, "", this.authInfo);
        await this.caughtUp(o.zxid, deadline);
        return { err: Err.ok, zxid: o.zxid };
      }
      case Op.setData: {
        const path = r.path();
        const data = r.buffer() ?? Buffer.alloc(0);
        const version = r.int();
        this.refuseSystem(path);
        const o = await ops.set({ path, data, expectedVersion: version }, deadline, "", this.authInfo);
        await this.caughtUp(o.zxid, deadline);
        return { err: Err.ok, zxid: o.zxid, body: (w) => writeStat(w, this.zkStat(path, o.stat!)) };
      }
      case Op.check: {
        const path = r.path();
        const version = r.int();
        const zxid = await this.multiWrite([{ op: { $case: "check", value: { path, expectedVersion: version } } }], deadline).then(
          (m) => m.zxid,
          (e: unknown) => {
            throw stripOpIndex(e);
          },
        );
        return { err: Err.ok, zxid };
      }
      case Op.multi:
        return this.multi(r, deadline);
      case Op.sync: {
        const path = r.path();
        const zxid = await node.readBarrier(deadline).catch(drop);
        return { err: Err.ok, zxid, body: (w) => w.ustring(path) };
      }
      case Op.exists:
      case Op.getData:
      case Op.getChildren:
      case Op.getChildren2:
      case Op.getACL:
      case Op.getAllChildrenNumber:
      case Op.getEphemerals:
      case Op.multiRead:
      case Op.whoAmI:
        await this.readPoint(deadline);
        return this.read(type, r);
      default:
        return { err: Err.unimplemented };
    }
  }

  /** Reads are served from this node's applied tree (ZooKeeper's guarantee), or after a quorum-confirmed barrier with --zk-linearizable-reads. */
  private async readPoint(deadline: number): Promise<void> {
    const node = this.server.node;
    try {
      node.assertLocalReadable();
      if (this.server.linearizableReads) await node.readBarrier(deadline);
      else await node.appliedAtLeast(this.lastZxid, deadline);
    } catch {
      throw new DropConnection();
    }
  }

  /** Synchronous from here on: a watch is registered at exactly the state the reply shows. */
  private read(type: number, r: JuteReader): Reply {
    const tree = this.server.node.tree;
    switch (type) {
      case Op.exists: {
        const path = r.path();
        const watch = r.bool();
        const stat = this.stat(path);
        if (watch) this.dataWatches.add(path);
        if (!stat) return { err: Err.noNode };
        return { err: Err.ok, body: (w) => writeStat(w, stat) };
      }
      case Op.getData: {
        const path = r.path();
        const watch = r.bool();
        const sys = systemNode(path, this.server);
        const n = sys ?? tree.get(path);
        if (!n) return { err: Err.noNode };
        if (!sys && !this.may(path, Perm.read)) return { err: Err.noAuth };
        if (watch) this.dataWatches.add(path);
        const stat = sys ? n.stat : this.zkStat(path, this.adjustRoot(path, n.stat));
        return { err: Err.ok, body: (w) => writeStat(w.buffer(n.data), stat) };
      }
      case Op.getChildren:
      case Op.getChildren2: {
        const path = r.path();
        const watch = r.bool();
        const children = this.children(path);
        if (!children) return { err: Err.noNode };
        if (!this.may(path, Perm.read)) return { err: Err.noAuth };
        if (watch) this.childWatches.add(path);
        const stat = this.stat(path)!;
        return { err: Err.ok, body: (w) => { w.vector(children, (x, c) => x.ustring(c)); if (type === Op.getChildren2) writeStat(w, stat); } };
      }
      case Op.getACL: {
        const path = r.path();
        const stat = this.stat(path);
        if (!stat) return { err: Err.noNode };
        const a = systemNode(path, this.server) ? null : tree.attrsOf(path);
        const acl: readonly Acl[] = a?.acl ?? OPEN_ACL;
        // As ZooKeeper 3.6+: READ or ADMIN may read it; without ADMIN, digest ids lose their hash.
        if (!allowed(acl, this.authInfo, Perm.read | Perm.admin)) return { err: Err.noAuth };
        const shown = allowed(acl, this.authInfo, Perm.admin) ? acl : redacted(acl);
        return { err: Err.ok, body: (w) => writeStat(w.vector(shown, writeAcl), stat) };
      }
      case Op.getAllChildrenNumber: {
        const path = r.path();
        if (!this.stat(path)) return { err: Err.noNode };
        if (!this.may(path, Perm.read)) return { err: Err.noAuth };
        const sys = path === ROOT ? 3 : path === SYSTEM_ROOT ? 2 : 0;
        const n = path.startsWith(SYSTEM_ROOT + "/") ? 0 : tree.descendantCount(path) + sys;
        return { err: Err.ok, body: (w) => w.int(n) };
      }
      case Op.getEphemerals: {
        const prefix = r.path();
        const all = tree.ephemeralsOf(this.sessionId);
        const mine = prefix === "" || prefix === ROOT ? all : all.filter((p) => p.startsWith(prefix));
        return { err: Err.ok, body: (w) => w.vector(mine, (x, p) => x.ustring(p)) };
      }
      case Op.whoAmI: {
        // ZooKeeper's ClientInfo: a digest principal shows its user name only.
        const who = javaSetOrder(this.authInfo).map((a) => ({ scheme: a.scheme, id: a.scheme === "digest" ? a.id.split(":", 1)[0]! : a.id }));
        return { err: Err.ok, body: (w) => w.vector(who, (x, a) => x.ustring(a.scheme).ustring(a.id)) };
      }
      case Op.multiRead: {
        const results: ((w: JuteWriter) => void)[] = [];
        for (;;) {
          const t = r.int();
          const done = r.bool();
          r.int();
          if (done) break;
          if (t !== Op.getData && t !== Op.getChildren) return { err: Err.unimplemented };
          const path = r.path();
          const sub = this.read(t, withWatch(path, r.bool()));
          results.push((w) => {
            if (sub.err === Err.ok) {
              w.int(t).bool(false).int(0);
              sub.body?.(w);
            } else w.int(Op.error).bool(false).int(sub.err).int(sub.err);
          });
        }
        return { err: Err.ok, body: (w) => { for (const f of results) f(w); w.int(-1).bool(true).int(-1); } };
      }
    }
    return { err: Err.unimplemented };
  }

  private stat(path: string): ZkStat | null {
    const sys = systemNode(path, this.server);
    if (sys) return sys.stat;
    const s = this.server.node.tree.exists(path);
    return s ? this.zkStat(path, this.adjustRoot(path, s)) : null;
  }

  /** The tree's stat with the node's ACL version. */
  private zkStat(path: string, s: Stat): ZkStat {
    const a = this.server.node.tree.attrsOf(path);
    return a === null || a.aversion === 0 ? s : { ...s, aversion: a.aversion };
  }

  /** Whether this connection's principals may do `perm` on the (existing, stored) node. */
  private may(path: string, perm: number): boolean {
    if (systemNode(path, this.server)) return true;
    return this.server.node.tree.permits(path, this.authInfo, perm);
  }

  /** The root also holds ZooKeeper's /zookeeper, which zk serves on this port only. */
  private adjustRoot<T extends { numChildren: number }>(path: string, s: T): T {
    return path === ROOT ? { ...s, numChildren: s.numChildren + 1 } : s;
  }

  private children(path: string): string[] | null {
    if (path === SYSTEM_ROOT || path.startsWith(SYSTEM_ROOT + "/")) {
      const sys = systemNode(path, this.server);
      return sys ? sys.children : null;
    }
    const l = this.server.node.tree.list(path);
    if (!l) return null;
    const names = l.children.map((c) => c.name);
    return path === ROOT ? [SYSTEM_ROOT.slice(1), ...names.filter((n) => n !== SYSTEM_ROOT.slice(1))] : names;
  }

  // ---- Writes ------------------------------------------------------------------------------

  /**
   * A create of any mode (CreateMode.fromFlag: 0-3 persistent/ephemeral, sequential or not,
   * 4 container, 5-6 TTL, sequential or not); `ttl` is -1 unless the request was createTTL.
   * As ZooKeeper (EphemeralType.validateTTL): a TTL mode needs 0 < ttl <= 2^40 - 1, and any
   * other mode no ttl.
   */
  private createOp(path: string, data: Uint8Array, acl: Acl[] | null, flags: number, ttl: number): ZkOp {
    if (flags < 0 || flags > CreateFlags.ttlSequential) throw new ZkErrorWith(Err.badArguments);
    const isTtl = flags === CreateFlags.ttl || flags === CreateFlags.ttlSequential;
    if (isTtl ? ttl <= 0 || ttl > TTL_MS_MAX : ttl >= 0) throw new ZkErrorWith(Err.badArguments);
    if (acl === null || acl.length === 0) throw new ZkErrorWith(Err.invalidAcl);
    this.refuseSystem(path, true);
    const ephemeral = flags === CreateFlags.ephemeral || flags === (CreateFlags.ephemeral | CreateFlags.sequential);
    const sequential = flags === CreateFlags.sequential || flags === (CreateFlags.ephemeral | CreateFlags.sequential) || flags === CreateFlags.ttlSequential;
    const options = { acl, container: flags === CreateFlags.container, ttlMs: isTtl ? ttl : 0 };
    return { op: { $case: "create", value: { path, data, ephemeral, sequential, sessionId: ephemeral ? this.sessionId : 0, options } } };
  }

  private async create(path: string, data: Uint8Array, acl: Acl[] | null, flags: number, ttl: number, deadline: number) {
    const op = this.createOp(path, data, acl, flags, ttl);
    if (op.op?.$case !== "create") throw new Error("unreachable");
    const o = await this.server.ops.create(op.op.value, deadline, "", this.authInfo);
    await this.caughtUp(o.zxid, deadline);
    return { zxid: o.zxid, path: o.path, stat: this.zkStat(o.path, o.stat!) };
  }

  private async multi(r: JuteReader, deadline: number): Promise<Reply> {
    const ops: ZkOp[] = [];
    const types: number[] = [];
    try {
      for (;;) {
        const t = r.int();
        const done = r.bool();
        r.int();
        if (done) break;
        types.push(t);
        switch (t) {
          case Op.create:
          case Op.create2:
          case Op.createContainer:
          case Op.createTTL: {
            const path = r.path();
            const data = r.buffer() ?? Buffer.alloc(0);
            const acl = r.vector(readAcl);
            const flags = r.int();
            ops.push(this.createOp(path, data, acl, flags, t === Op.createTTL ? r.long() : -1));
            break;
          }
          case Op.delete: {
            const path = r.path();
            this.refuseSystem(path);
            ops.push({ op: { $case: "delete", value: { path, expectedVersion: r.int() } } });
            break;
          }
          case Op.setData: {
            const path = r.path();
            const data = r.buffer() ?? Buffer.alloc(0);
            this.refuseSystem(path);
            ops.push({ op: { $case: "set", value: { path, data, expectedVersion: r.int() } } });
            break;
          }
          case Op.check: {
            const path = r.path();
            ops.push({ op: { $case: "check", value: { path, expectedVersion: r.int() } } });
            break;
          }
          default:
            return { err: Err.unimplemented };
        }
      }
    } catch (e) {
      if (!(e instanceof ZkErrorWith)) throw e;
      // ZooKeeper checks every op before any applies: the failing one gets its code.
      return multiFailure(types.length, types.length - 1, e.err);
    }
    if (ops.length === 0) return { err: Err.ok, body: (w) => w.int(-1).bool(true).int(-1) };
    let res: { zxid: number; results: OpResult[] };
    try {
      res = await this.multiWrite(ops, deadline);
    } catch (e) {
      const z = asZkError(e);
      const err = zkErrOf(z.code);
      if (err === null || z.extra.opIndex === undefined) throw e;
      return multiFailure(ops.length, z.extra.opIndex, err);
    }
    return {
      err: Err.ok,
      zxid: res.zxid,
      body: (w) => {
        res.results.forEach((result, i) => {
          const t = types[i]!;
          w.int(t).bool(false).int(0);
          const v = result.result;
          if (v?.$case === "create") {
            w.ustring(v.value.path);
            if (t !== Op.create) writeStat(w, this.zkStat(v.value.path, v.value.stat!));
          } else if (v?.$case === "set") writeStat(w, this.zkStat((ops[i]!.op!.value as { path: string }).path, v.value.stat!));
        });
        w.int(-1).bool(true).int(-1);
      },
    };
  }

  private async multiWrite(ops: ZkOp[], deadline: number): Promise<{ zxid: number; results: OpResult[] }> {
    const o = await this.server.ops.multi({ ops }, deadline, "", this.authInfo);
    await this.caughtUp(o.zxid, deadline);
    return o;
  }

  /**
   * A write forwarded to the leader is answered once the leader applied it; this node may
   * not have yet. Waiting keeps ZooKeeper's order: the client's own later reads see the
   * write, and a watch it triggers here fires before the write's reply.
   */
  private async caughtUp(zxid: number, deadline: number): Promise<void> {
    await this.server.node.appliedAtLeast(zxid, deadline).catch(drop);
  }

  private refuseSystem(path: string, creating = false): void {
    if (path !== SYSTEM_ROOT && !path.startsWith(SYSTEM_ROOT + "/")) return;
    if (creating && systemNode(path, this.server)) throw new ZkErrorWith(Err.nodeExists);
    throw new ZkErrorWith(Err.badArguments);
  }

  // ---- Watches -----------------------------------------------------------------------------

  /** The watch sets a removeWatches/checkWatches type names (Watcher.WatcherType). */
  private watchSetsOf(kind: number): Set<string>[] | null {
    switch (kind) {
      case WatcherType.children:
        return [this.childWatches];
      case WatcherType.data:
        return [this.dataWatches];
      case WatcherType.any:
        return [this.childWatches, this.dataWatches, this.persistentWatches, this.recursiveWatches];
      case WatcherType.persistent:
        return [this.persistentWatches];
      case WatcherType.persistentRecursive:
        return [this.recursiveWatches];
      default:
        return null;
    }
  }

  get watchCount(): number {
    return this.dataWatches.size + this.childWatches.size + this.persistentWatches.size + this.recursiveWatches.size;
  }

  /** An applied zxid's events: fire (and forget) the one-shot watches they trigger. */
  onApplied(events: readonly WatchEvent[]): void {
    if (this.state !== "open") return;
    for (const ev of events) {
      // One notification per event and connection, whichever watches it fires (ZooKeeper's WatchManager).
      const t = triggered(ev, this.dataWatches, this.childWatches) ?? this.persistentlyTriggered(ev);
      if (t !== null) this.notify(t, ev.path);
    }
  }

  /** A persistent watch on the path fires for every event; a recursive one, on the path or below, for all but child changes. */
  private persistentlyTriggered(ev: WatchEvent): number | null {
    if (this.persistentWatches.size === 0 && this.recursiveWatches.size === 0) return null;
    const type = eventTypeOf(ev);
    if (this.persistentWatches.has(ev.path)) return type;
    if (this.recursiveWatches.size === 0 || type === EventType.nodeChildrenChanged) return null;
    for (let p = ev.path; ; p = parent(p)) {
      if (this.recursiveWatches.has(p)) return type;
      if (p === ROOT) return null;
    }
  }

  notify(type: number, path: string): void {
    this.send(writeWatcherEvent(replyHeader(new JuteWriter(), Xid.notification, -1, 0), type, path).frame());
  }
}

/**
 * Which ZooKeeper event `ev` fires on a connection's watch sets, removing the watches it
 * fires (ZooKeeper's WatchManager: one event per path and connection, data watches first).
 */
export function triggered(ev: WatchEvent, data: Set<string>, child: Set<string>): number | null {
  switch (ev.type) {
    case ZkEventType.CREATED:
      return data.delete(ev.path) ? EventType.nodeCreated : null;
    case ZkEventType.CHANGED:
      return data.delete(ev.path) ? EventType.nodeDataChanged : null;
    case ZkEventType.DELETED: {
      const d = data.delete(ev.path);
      const c = child.delete(ev.path);
      return d || c ? EventType.nodeDeleted : null;
    }
    case ZkEventType.CHILDREN_CHANGED:
      return child.delete(ev.path) ? EventType.nodeChildrenChanged : null;
    default:
      return null;
  }
}

function eventTypeOf(ev: WatchEvent): number {
  switch (ev.type) {
    case ZkEventType.CREATED:
      return EventType.nodeCreated;
    case ZkEventType.DELETED:
      return EventType.nodeDeleted;
    case ZkEventType.CHANGED:
      return EventType.nodeDataChanged;
    default:
      return EventType.nodeChildrenChanged;
  }
}

/** A request refused before it reached the tree, with ZooKeeper's code. */
class ZkErrorWith extends Error {
  constructor(readonly err: number) {
    super(`ZooKeeper error ${err}`);
  }
}

/** As ZooKeeper's failed multi: ops before the failing one Ok, the failing one its code, the rest RuntimeInconsistency. */
function multiFailure(count: number, failed: number, err: number): Reply {
  return {
    err: Err.ok,
    body: (w) => {
      for (let i = 0; i < count; i++) {
        const e = i < failed ? Err.ok : i === failed ? err : Err.runtimeInconsistency;
        w.int(Op.error).bool(false).int(e).int(e);
      }
      w.int(-1).bool(true).int(-1);
    },
  };
}

/** A standalone check's error, as the reply of that request rather than of op 0 of a multi. */
function stripOpIndex(e: unknown): unknown {
  const z = asZkError(e);
  return new ZkError(z.code, z.message, { path: z.extra.path });
}

/** A sub-read of multiRead: the path is read already, the watch flag follows. */
function withWatch(path: string, watch: boolean): JuteReader {
  const w = new JuteWriter().ustring(path).bool(watch);
  return new JuteReader(w.bytes());
}

/** No quorum, no leader, a write of unknown outcome: ZooKeeper would drop the connection. */
function drop(e: unknown): never {
  const z = asZkError(e);
  if (zkErrOf(z.code) !== null && z.code !== ErrorCode.INTERNAL) throw z;
  throw new DropConnection(z.message);
}

/**
 * The order ZooKeeper lists a connection's auth ids in (whoAmI): they live in a hash set of
 * jute Id records, so they come in bucket order of a 16-bucket table (Id.hashCode, spread as
 * java.util.HashMap does), insertion order within a bucket. Fewer than 12 ids never resize it.
 */
export function javaSetOrder<T extends { scheme: string; id: string }>(ids: readonly T[]): T[] {
  if (ids.length >= 12) return [...ids];
  const bucket = (x: T) => {
    const h = (Math.imul(Math.imul(17, 37) + javaStringHash(x.scheme), 37) + javaStringHash(x.id)) | 0;
    return (h ^ (h >>> 16)) & 15;
  };
  return ids.map((x, i) => ({ x, i, b: bucket(x) })).sort((p, q) => p.b - q.b || p.i - q.i).map((e) => e.x);
}

function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
