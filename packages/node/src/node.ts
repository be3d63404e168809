// The driver: the only place where the protocol core meets time, disk and network.
// Ticks come from a timer; messages from peers and requests from clients are stepped into
// the core as they arrive; once per event-loop turn the core's Ready is handled in the one
// order that keeps Paxos safe:
//   1. persist the promise, the accepted entries and the chosen index, and apply the newly
//      chosen entries to the znode tree with the applied index: ONE fsynced transaction,
//   2. send the messages,
//   3. answer the clients whose writes and reads are now settled.
// Batching falls out of this: every proposal and message of a turn shares one Ready, so one
// fsync and one Accept per follower (group commit).
import { EventEmitter } from "node:events";
import { ErrorCode, type Command, type CommandResult } from "./gen/zk/v1/types.js";
import type { WatchEvent } from "./gen/zk/v1/kv.js";
import { PaxosCore, SeededRng, commandsEqual, isNoop, type Ballot, type NodeId, type Ready, type RoleChangeEvent, type Role } from "./paxos/index.js";
import type { SqliteAcceptorStore } from "./storage/sqlite-store.js";
import { mustSync } from "./storage/store.js";
import { WatchLog, ZnodeTree, decodeCommand, encodeCommand, internalRequestKey } from "./tree/index.js";
import { randomInt } from "node:crypto";
import { PeerTransport } from "./net/peer-transport.js";
import { ZkError } from "./net/errors.js";
import type { Logger } from "./log.js";

export interface Member {
  readonly id: NodeId;
  readonly address: string;
}

export interface NodeOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly members: readonly Member[];
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly dataBytesMax: number;
  readonly watchHistorySlots?: number;
}

export interface WriteOutcome {
  readonly zxid: number;
  readonly result: CommandResult;
}

interface PendingWrite {
  readonly command: Uint8Array;
  readonly resolve: (o: WriteOutcome) => void;
  readonly reject: (e: ZkError) => void;
  readonly timer: NodeJS.Timeout;
}

interface Applied {
  readonly slot: number;
  readonly command: Uint8Array;
  readonly outcome: ReturnType<ZnodeTree["apply"]> | null;
}

interface Waiter {
  readonly index: number;
  readonly resolve: () => void;
}

export interface NodeEvents {
  election: [RoleChangeEvent & { unixMs: number }];
  applied: [zxid: number, events: WatchEvent[]];
}

/** The largest znode data any replica accepts; --data-bytes-max may only lower it. */
export const DATA_BYTES_HARD_MAX = 16 * 1024 * 1024;

/** Applied entries kept in the core's memory; older ones are dropped from memory (not disk). */
export const LOG_MEMORY_SLOTS = 10_000;

/** Writes the leader holds, waiting for room in the core, before it refuses more. */
const ADMISSION_QUEUE_MAX = 32_768;
/** Writes proposed but not yet chosen; bounds the work (and stall) of one Ready. */
const UNCOMMITTED_ENTRIES_MAX = 2048;

/** Session TTLs are clamped to this range. */
export const SESSION_TTL_MIN_MS = 1000;
export const SESSION_TTL_MAX_MS = 300_000;
/** How often the leader looks for sessions past their deadline. */
const SESSION_CHECK_MS = 100;
/**
 * A gap between two session checks above this means the process could not run (stall,
 * pause): sessions get a full TTL before any is expired.
 */
const SESSION_STALL_GAP_MS = 10 * SESSION_CHECK_MS;

/** A monotonic clock in ms: session deadlines must not jump with the wall clock. */
function monotonicMs(): number {
  return performance.now();
}

/** How long a request waits for an election before it fails as unavailable. */
const LEADER_WAIT_TICKS_FACTOR = 4;

export class ZkNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  readonly members: ReadonlyMap<NodeId, string>;
  /** The protocol core; replaced (rebuilt from the store) when a Ready could not be persisted. */
  private coreNow: PaxosCore;
  readonly tree: ZnodeTree;
  readonly watchLog: WatchLog;
  /**
   * Leader only: when each session was last seen alive (monotonic ms), and the expiries
   * proposed and not yet settled.
   */
  private readonly sessionSeen = new Map<number, number>();
  private readonly sessionsExpiring = new Map<number, Promise<void>>();
  /** When expireSessions last ran (monotonic ms), to notice a stall. */
  private lastSessionCheckMs: number | null = null;
  private sessionTimer: NodeJS.Timeout | null = null;
  private readonly transport: PeerTransport;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly admission: { command: Command; deadline: number; resolve: (o: WriteOutcome) => void; reject: (e: ZkError) => void }[] = [];
  private readonly pendingReads = new Map<number, { resolve: (index: number) => void; reject: (e: ZkError) => void }>();
  private appliedWaiters: Waiter[] = [];
  private leaderWaiters: (() => void)[] = [];
  private nextReadCtx = 1;
  private nextRequestId = 1;
  /** Random per process start, so nonces of a restarted node do not repeat its earlier ones. */
  private readonly nonceBase = randomInt(1, 2 ** 40) * 2 ** 12;
  private scheduled = false;
  private ticker: NodeJS.Timeout | null = null;
  private applied: number;
  private pendingCompaction = false;
  private stopped = false;
  private lastEvent: (RoleChangeEvent & { unixMs: number }) | null = null;
  /** Set while the store cannot be written (disk full, I/O error): see enterDiskAlarm. */
  private diskAlarm: { readonly message: string; readonly code: string } | null = null;
  private diskProbeTimer: NodeJS.Timeout | null = null;
  /** Other alarms (e.g. a peer with another member list), by key, with when they were last seen. */
  private readonly alarmsSeen = new Map<string, { message: string; atMs: number }>();

  constructor(
    readonly opts: NodeOptions,
    private readonly store: SqliteAcceptorStore,
    private readonly log: Logger,
  ) {
    super();
    this.id = opts.id;
    this.members = new Map(opts.members.map((m) => [m.id, m.address]));
    // The tree's own limit must be the same on every replica (apply is deterministic), so it
    // is the hard maximum; the configurable, per-node limit is enforced at the API edge.
    this.tree = new ZnodeTree(store.db, { dataBytesMax: DATA_BYTES_HARD_MAX });
    this.watchLog = new WatchLog(store.db, opts.watchHistorySlots);
    this.applied = store.applied();
    const loaded = this.loadCore();
    this.coreNow = loaded.core;
    this.transport = new PeerTransport(opts.id, opts.clusterId, this.members, log, (key, message) => this.noteAlarm(key, message));
    log.info({ promised: loaded.durable.hardState.promised, chosen: loaded.durable.hardState.chosen, applied: this.applied, entries: loaded.durable.entries.length }, "acceptor state loaded");
  }

  /** A protocol core with exactly what the store holds, as at a restart. */
  private loadCore(): { core: PaxosCore; durable: ReturnType<SqliteAcceptorStore["load"]> } {
    // Only the recent log is kept in memory; older chosen entries are read from SQLite.
    const durable = this.store.load({ entriesFrom: Math.max(1, this.applied - LOG_MEMORY_SLOTS + 1) });
    const core = new PaxosCore(
      {
        id: this.opts.id,
        members: this.opts.members.map((m) => m.id),
        rng: new SeededRng((Date.now() ^ (process.pid << 8)) >>> 0),
        electionTimeoutTicks: this.opts.electionTimeoutTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        uncommittedEntriesMax: UNCOMMITTED_ENTRIES_MAX,
        applied: this.applied,
        logReader: this.store,
        incarnation: this.store.incarnation,
      },
      durable,
    );
    return { core, durable };
  }

  get core(): PaxosCore {
    return this.coreNow;
  }

  start(): void {
    this.ticker = setInterval(() => {
      // In a disk alarm the core is frozen: no election timeout fires, so it never campaigns.
      if (this.diskAlarm) return;
      this.core.tick();
      this.processReady();
    }, this.opts.tickMs);
    this.sessionTimer = setInterval(() => this.expireSessions(), SESSION_CHECK_MS);
    this.processReady();
  }

  /** Stop ticking and talking; pending requests fail as unavailable. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.sessionTimer) clearInterval(this.sessionTimer);
    if (this.diskProbeTimer) clearInterval(this.diskProbeTimer);
    this.transport.close();
    const gone = new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down; retry on another node`);
    for (const p of this.pendingWrites.values()) {
      clearTimeout(p.timer);
      p.reject(gone);
    }
    this.pendingWrites.clear();
    for (const w of this.admission.splice(0)) w.reject(gone);
    for (const r of this.pendingReads.values()) r.reject(gone);
    this.pendingReads.clear();
  }

  // ---- Observers ---------------------------------------------------------------------------

  get role(): Role {
    return this.core.role;
  }
  get leaderId(): NodeId | null {
    return this.core.leaderId;
  }
  get appliedIndex(): number {
    return this.applied;
  }
  get promised(): Ballot {
    return this.core.promisedBallot;
  }
  get lastElectionEvent(): (RoleChangeEvent & { unixMs: number }) | null {
    return this.lastEvent;
  }
  get msSinceLeaderHeard(): number {
    return this.core.ticksSinceLeaderHeard * this.opts.tickMs;
  }

  // ---- Inputs from the network -------------------------------------------------------------

  /** A peer's protocol messages (already checked to be for us, from a member of our cluster). */
  receive(messages: Iterable<Parameters<PaxosCore["step"]>[0]>): void {
    // In a disk alarm peers' messages are dropped: the node can neither promise nor accept.
    if (this.stopped || this.diskAlarm) return;
    for (const m of messages) this.core.step(m);
    this.schedule();
  }

  /**
   * Propose a command through consensus and wait until it is applied. A follower forwards
   * it to the leader; `forwarded` requests (from another follower) are not forwarded again.
   */
  async write(command: Command, deadline: number, forwarded = false): Promise<WriteOutcome> {
    // Unique bytes per proposal: a slot is recognised as ours by comparing them.
    if (command.nonce === 0) command.nonce = this.nonceBase + this.nextRequestId++;
    for (;;) {
      if (this.stopped) throw new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`);
      this.refuseIfCannotPersist();
      if (this.core.role === "leader") return this.proposeLocal(command, deadline);
      const leader = this.core.leaderId;
      if (forwarded) {
        throw new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined, leaderHint: leader ? this.members.get(leader) : undefined });
      }
      if (leader === null) {
        await this.waitForLeader(deadline);
        continue;
      }
      const r = await this.transport.forward(leader, { kind: { $case: "command", value: command } }, Math.max(1, deadline - Date.now()));
      if (r.outcome?.$case === "result") return { zxid: r.zxid, result: r.outcome.value };
      const err = r.outcome?.$case === "error" ? ZkError.fromDetail(r.outcome.value) : new ZkError(ErrorCode.INTERNAL, "leader sent an empty answer");
      // NOT_LEADER means the command was never proposed there: safe to try the new leader.
      // A leader whose disk filled stops leading; what it had proposed may still be chosen,
      // so only a command with a deduplication key is safe to send to its successor.
      const retry = err.code === ErrorCode.NOT_LEADER || (err.code === ErrorCode.CANNOT_PERSIST && command.requestId !== "");
      if (retry && Date.now() < deadline) {
        await this.waitForLeaderOtherThan(leader, deadline);
        continue;
      }
      throw err;
    }
  }

  private proposeLocal(command: Command, deadline: number): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      if (this.admission.length > 0 || !this.tryPropose(command, deadline, resolve, reject)) {
        // The core holds as many unchosen writes as it may: wait for room (backpressure)
        // rather than fail, up to a bound.
        if (this.admission.length >= ADMISSION_QUEUE_MAX) {
          reject(new ZkError(ErrorCode.OVERLOADED, `the leader has ${ADMISSION_QUEUE_MAX} writes waiting; back off and retry`));
          return;
        }
        this.admission.push({ command, deadline, resolve, reject });
      }
    });
  }

  /** Hand a write to the core; false if the core is full (busy). */
  private tryPropose(command: Command, deadline: number, resolve: (o: WriteOutcome) => void, reject: (e: ZkError) => void): boolean {
    command.timeMs = Date.now();
    const bytes = encodeCommand(command);
    const r = this.core.propose([bytes]);
    if (!r.ok) {
      if (r.reason === "busy") return false;
      reject(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: r.leaderHint ?? undefined }));
      return true;
    }
    const slot = r.firstSlot;
    this.schedule();
    const timer = setTimeout(() => {
      if (this.pendingWrites.delete(slot)) {
        reject(new ZkError(ErrorCode.TIMEOUT, `write not chosen within the deadline (slot ${slot}); it may still take effect`));
      }
    }, Math.max(1, deadline - Date.now()));
    this.pendingWrites.set(slot, { command: bytes, resolve, reject, timer });
    return true;
  }

  /** Move waiting writes into the core as chosen slots make room (or fail them if we stopped leading). */
  private admit(): void {
    while (this.admission.length > 0) {
      const w = this.admission[0]!;
      if (Date.now() >= w.deadline) {
        this.admission.shift();
        w.reject(new ZkError(ErrorCode.TIMEOUT, "write waited for room at the leader past its deadline; it was not proposed"));
        continue;
      }
      if (this.core.role !== "leader") {
        this.admission.shift();
        w.reject(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} stopped leading before the write was proposed; retry`));
        continue;
      }
      if (!this.tryPropose(w.command, w.deadline, w.resolve, w.reject)) return;
      this.admission.shift();
    }
  }

  /**
   * A linearizable read point: resolves with an index once this node has applied at least
   * everything chosen before the call (read-index, confirmed by a quorum through the leader).
   */
  async readBarrier(deadline: number, forwarded = false): Promise<number> {
    for (;;) {
      if (this.stopped) throw new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`);
      // Frozen, it cannot learn what was chosen since; its local state is still served.
      this.refuseIfCannotPersist();
      let index: number;
      if (this.core.role === "leader") {
        const ctx = this.nextReadCtx++;
        const p = new Promise<number>((resolve, reject) => this.pendingReads.set(ctx, { resolve, reject }));
        this.core.readIndex(ctx);
        this.schedule();
        index = await withDeadline(p, deadline, "read not confirmed by a quorum within the deadline");
      } else if (forwarded) {
        const leader = this.core.leaderId;
        throw new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined });
      } else {
        const leader = this.core.leaderId;
        if (leader === null) {
          await this.waitForLeader(deadline);
          continue;
        }
        const r = await this.transport.forward(leader, { kind: { $case: "readIndex", value: {} } }, Math.max(1, deadline - Date.now()));
        if (r.outcome?.$case === "error") {
          const err = ZkError.fromDetail(r.outcome.value);
          if (err.code === ErrorCode.NOT_LEADER && Date.now() < deadline) {
            await this.waitForLeaderOtherThan(leader, deadline);
            continue;
          }
          throw err;
        }
        index = r.zxid;
      }
      await this.appliedAtLeast(index, deadline);
      return index;
    }
  }

  // ---- Sessions ------------------------------------------------------------------------------

  /** Open a session through the log; the id is drawn at random (48 bits). */
  async openSession(ttlMs: number, deadline: number): Promise<{ sessionId: number; ttlMs: number; zxid: number }> {
    const ttl = Math.min(SESSION_TTL_MAX_MS, Math.max(SESSION_TTL_MIN_MS, ttlMs || 10_000));
    const sessionId = randomInt(1, 2 ** 48);
    const o = await this.write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "openSession", value: { sessionId, ttlMs: ttl } } }, deadline);
    return { sessionId, ttlMs: ttl, zxid: o.zxid };
  }

  async closeSession(sessionId: number, deadline: number): Promise<number> {
    const o = await this.write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "closeSession", value: { sessionId } } }, deadline);
    return o.zxid;
  }

  /**
   * The sessions' clients are alive. The leader decides expiry, so a follower passes this on.
   * The leader acknowledges only after a read barrier: a quorum has confirmed, after the
   * keepalive arrived, that this node still leads (a deposed leader must not extend a
   * session the new leader is about to expire), and the tree has applied everything chosen
   * before, the election tail included (a new leader that has not yet applied the
   * open_session of a live session must not call it expired). Rejects with SESSION_EXPIRED
   * only for a session the applied tree does not hold: expired or closed through the log,
   * or never opened.
   */
  async keepalive(sessionIds: readonly number[], deadline: number, forwarded = false): Promise<void> {
    if (this.core.role === "leader") {
      await this.readBarrier(deadline, true);
      for (const id of sessionIds) {
        // An expiry proposed but not applied yet may still fail (leadership moves): wait for it.
        const expiring = this.sessionsExpiring.get(id);
        if (expiring !== undefined) await withDeadline(expiring, deadline, `session ${id} is being expired; retry`, ErrorCode.UNAVAILABLE);
        if (!this.tree.session(id)) {
          throw new ZkError(ErrorCode.SESSION_EXPIRED, `session ${id} has expired or was never opened; open a new one`);
        }
      }
      if (this.core.role !== "leader") throw new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} stopped leading; retry`, { leaderId: this.core.leaderId ?? undefined });
      const now = monotonicMs();
      for (const id of sessionIds) this.sessionSeen.set(id, Math.max(now, this.sessionSeen.get(id) ?? 0));
      return;
    }
    const leader = this.core.leaderId;
    if (forwarded || leader === null) {
      throw new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined });
    }
    const r = await this.transport.forward(leader, { kind: { $case: "keepalive", value: { sessionIds: [...sessionIds] } } }, Math.max(1, deadline - Date.now()));
    if (r.outcome?.$case === "error") throw ZkError.fromDetail(r.outcome.value);
  }

  /**
   * Leader: propose the expiry of every session not seen within its TTL. Deadlines run on
   * the monotonic clock (a wall-clock step must not expire every session at once). If this
   * check ran much later than scheduled, the process could not run for a while (an
   * event-loop stall, SIGSTOP, a VM pause): the keepalives that arrived meanwhile are still
   * queued behind this timer, so every session gets a full TTL from now before any expires.
   */
  private expireSessions(): void {
    if (this.core.role !== "leader" || this.stopped) return;
    const now = monotonicMs();
    const gap = this.lastSessionCheckMs === null ? 0 : now - this.lastSessionCheckMs;
    this.lastSessionCheckMs = now;
    if (gap > SESSION_STALL_GAP_MS) {
      this.log.warn({ gapMs: Math.round(gap), checkMs: SESSION_CHECK_MS }, "session checks stalled; every session gets a full TTL from now");
      for (const id of this.sessionSeen.keys()) this.sessionSeen.set(id, now);
      return;
    }
    const live = new Set<number>();
    for (const s of this.tree.sessions()) {
      live.add(s.id);
      const seen = this.sessionSeen.get(s.id);
      // A session we have not tracked yet (we just became leader, or it was just opened)
      // gets a full TTL from now.
      if (seen === undefined) {
        this.sessionSeen.set(s.id, now);
        continue;
      }
      if (now - seen <= s.ttlMs || this.sessionsExpiring.has(s.id)) continue;
      this.log.info({ session: s.id, ttlMs: s.ttlMs, silentMs: Math.round(now - seen) }, "expiring session");
      const done = this.write({ requestId: internalRequestKey(`expire-${s.id}`), timeMs: 0, nonce: 0, op: { $case: "expireSession", value: { sessionId: s.id } } }, Date.now() + 10_000).then(
        () => undefined,
        () => undefined,
      );
      this.sessionsExpiring.set(s.id, done);
      void done.then(() => {
        if (this.sessionsExpiring.get(s.id) === done) this.sessionsExpiring.delete(s.id);
      });
    }
    for (const id of this.sessionSeen.keys()) if (!live.has(id)) this.sessionSeen.delete(id);
  }

  /** Resolve once the tree has applied `index`. */
  appliedAtLeast(index: number, deadline: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    const p = new Promise<void>((resolve) => {
      this.appliedWaiters.push({ index, resolve });
    });
    return withDeadline(p, deadline, `this node has not caught up to index ${index} within the deadline`);
  }

  private waitForLeader(deadline: number): Promise<void> {
    const limit = Math.min(deadline, Date.now() + LEADER_WAIT_TICKS_FACTOR * this.opts.electionTimeoutTicks * this.opts.tickMs);
    const p = new Promise<void>((resolve) => this.leaderWaiters.push(resolve));
    return withDeadline(p, limit, "no leader: is a majority of the cluster up and connected?", ErrorCode.UNAVAILABLE);
  }

  private async waitForLeaderOtherThan(old: NodeId, deadline: number): Promise<void> {
    while (this.core.leaderId === old && this.core.role !== "leader") {
      await this.waitForLeader(deadline);
      if (this.core.leaderId === old) await sleep(this.opts.tickMs);
      if (Date.now() >= deadline) throw new ZkError(ErrorCode.UNAVAILABLE, "leadership is changing; retry");
    }
  }

  // ---- The Ready loop ---------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.processReady();
    });
  }

  private processReady(): void {
    if (this.stopped || this.diskAlarm) return;
    while (this.core.hasReady()) {
      const rd = this.core.ready();
      // 0. A leader's proposals (Accept) may leave before its own write: they claim nothing
      //    about this node's durable state, and the leader counts its own acceptance only
      //    once durable. Sending first overlaps the followers' fsync with ours.
      const proposals = rd.messages.filter((m) => m.type === "accept");
      if (proposals.length > 0) this.transport.send(proposals);
      // 1. Persist the acceptor state and apply what became chosen in ONE transaction: one
      //    fsync per Ready, durable before anything leaves this node.
      //    A Ready that only advances the chosen index and applies needs no fsync (mustSync).
      const durable = mustSync(rd.hardState, rd.entries, this.store.persistedPromise);
      let outcomes: Applied[] | null;
      try {
        outcomes = this.store.transaction(() => {
          if (rd.hardState !== null || rd.entries.length > 0) this.store.save(rd.hardState, rd.entries);
          return rd.committed.length > 0 ? this.applyCommitted(rd) : null;
        }, { durable });
      } catch (e) {
        if (!isWriteError(e)) throw e;
        // Nothing of this Ready may leave or be answered: it is not durable (it rolled back).
        this.enterDiskAlarm(e);
        return;
      }
      // 2. Send the rest: promises and acceptances only now that they are durable.
      this.transport.send(proposals.length > 0 ? rd.messages.filter((m) => m.type !== "accept") : rd.messages);
      // 3. Answer the writes and reads that are now settled; chosen slots make room for more.
      if (outcomes !== null) this.settle(outcomes);
      if (this.admission.length > 0) this.admit();
      // 4. Reads confirmed by a quorum; elections.
      for (const rs of rd.readStates) {
        const r = this.pendingReads.get(rs.ctx);
        if (!r) continue;
        this.pendingReads.delete(rs.ctx);
        r.resolve(rs.index);
      }
      for (const ev of rd.events) this.onRoleChange(ev);
      this.core.advance();
      if (this.pendingCompaction) {
        this.pendingCompaction = false;
        this.core.compact(this.applied - LOG_MEMORY_SLOTS);
      }
    }
  }

  // ---- Disk alarm ---------------------------------------------------------------------------

  /** The node's alarms, one line each: the disk's first, then recent peer refusals. */
  get alarms(): string[] {
    const now = Date.now();
    const out = this.diskAlarm ? [this.diskAlarm.message] : [];
    for (const [key, a] of this.alarmsSeen) {
      if (now - a.atMs > ALARM_SHOWN_MS) this.alarmsSeen.delete(key);
      else out.push(a.message);
    }
    return out;
  }

  /** Whether the node refuses writes because it cannot persist them. */
  get cannotPersist(): boolean {
    return this.diskAlarm !== null;
  }

  /** Record an alarm seen now (shown for ALARM_SHOWN_MS after it was last seen); true when new. */
  noteAlarm(key: string, message: string): boolean {
    const fresh = !this.alarmsSeen.has(key);
    this.alarmsSeen.set(key, { message, atMs: Date.now() });
    return fresh;
  }

  /**
   * The one check of the local-read path (`--consistency local`): refuse when this node's
   * applied state is not one a client may rely on even as stale. A recovering node (rebuilt
   * after losing its disk) has a partial tree: its "no such node" would be a lie. A node in a
   * disk alarm still serves: its state is a prefix of the chosen log, as any local read.
   */
  assertLocalReadable(): void {
    if (this.core.role === "recovering") {
      throw new ZkError(ErrorCode.UNAVAILABLE, `${this.id} is recovering its state after losing its disk and cannot serve local reads yet; read from another node, or without --consistency local`);
    }
  }

  private refuseIfCannotPersist(): void {
    if (this.diskAlarm) throw new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm.message}; use another node meanwhile`);
  }

  /**
   * A Ready's transaction failed with a write error and rolled back. The core's memory may be
   * ahead of the disk (a promise or acceptance it never persisted), so it is replaced by one
   * loaded from the store, as at a restart, and frozen: no ticks, no peer messages, no writes,
   * so it neither votes nor campaigns nor acks. Status and local reads still work. A small
   * real write every DISK_PROBE_MS tells when the disk takes writes again; then it resumes.
   */
  private enterDiskAlarm(e: unknown): void {
    const code = writeErrorCode(e);
    const what = code === "SQLITE_FULL" || code === "ENOSPC" ? "disk full" : `write error (${code})`;
    this.diskAlarm = { message: `${this.id}: ${what} at ${this.store.path}, writes refused`, code };
    this.log.error({ code, err: oneLine(e) }, `${this.diskAlarm.message} until the disk takes writes again (probing every ${DISK_PROBE_MS} ms)`);
    const refused = new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm.message}; the write was not acknowledged and may or may not take effect`);
    for (const p of this.pendingWrites.values()) {
      clearTimeout(p.timer);
      p.reject(refused);
    }
    this.pendingWrites.clear();
    for (const w of this.admission.splice(0)) w.reject(refused);
    for (const r of this.pendingReads.values()) r.reject(new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm.message}; read not confirmed`));
    this.pendingReads.clear();
    this.pendingCompaction = false;
    this.applied = this.store.applied();
    this.coreNow = this.loadCore().core;
    this.diskProbeTimer = setInterval(() => this.probeDisk(), DISK_PROBE_MS);
  }

  private probeDisk(): void {
    if (this.stopped || !this.diskAlarm) return;
    try {
      this.store.probeWrite();
    } catch (e) {
      if (!isWriteError(e)) throw e;
      return;
    }
    this.log.warn({ code: this.diskAlarm.code }, `${this.id}: the disk takes writes again at ${this.store.path}; resuming`);
    this.diskAlarm = null;
    if (this.diskProbeTimer) clearInterval(this.diskProbeTimer);
    this.diskProbeTimer = null;
    this.schedule();
  }

  /** Apply chosen entries to the tree and record the applied index; inside the Ready's transaction. */
  private applyCommitted(rd: Ready): Applied[] {
    const outcomes: Applied[] = [];
    for (const e of rd.committed) {
      const outcome = isNoop(e.command) ? null : this.tree.apply(e.slot, decodeCommand(e.command));
      if (outcome !== null && outcome.events.length > 0) this.watchLog.record(e.slot, outcome.events);
      outcomes.push({ slot: e.slot, command: e.command, outcome });
    }
    this.store.setApplied(rd.committed[rd.committed.length - 1]!.slot);
    return outcomes;
  }

  /** After the transaction: publish watch events, answer writes waiting on these slots, wake reads. */
  private settle(outcomes: Applied[]): void {
    this.applied = outcomes[outcomes.length - 1]!.slot;
    if (this.applied - this.core.compactedIndex >= 2 * LOG_MEMORY_SLOTS) this.pendingCompaction = true;
    for (const { slot, command, outcome } of outcomes) {
      if (outcome !== null && outcome.events.length > 0) this.emit("applied", slot, outcome.events);
      const p = this.pendingWrites.get(slot);
      if (!p) continue;
      this.pendingWrites.delete(slot);
      clearTimeout(p.timer);
      if (!commandsEqual(p.command, command)) {
        // Another leader's value took this slot: ours was never chosen anywhere, so a retry is safe.
        p.reject(new ZkError(ErrorCode.UNAVAILABLE, "leadership changed before the write was chosen; it was not applied, retry"));
      } else if (outcome === null) {
        p.reject(new ZkError(ErrorCode.INTERNAL, `slot ${slot} applied as a no-op`));
      } else if ("error" in outcome) {
        p.reject(ZkError.fromDetail(outcome.error));
      } else {
        // A deduplicated retry reports where the write really happened.
        p.resolve({ zxid: outcome.firstZxid ?? slot, result: outcome.result });
      }
    }
    if (this.appliedWaiters.length > 0) {
      const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
      for (const w of ready) w.resolve();
    }
  }

  private onRoleChange(ev: RoleChangeEvent): void {
    const stamped = { ...ev, unixMs: Date.now() };
    const previousLeader = this.lastEvent?.leader ?? null;
    this.lastEvent = stamped;
    this.log.info({ role: ev.role, ballot: `${ev.ballot.round}.${ev.ballot.nodeId || "-"}`, leader: ev.leader, reason: ev.reason }, `became ${ev.role}`);
    this.emit("election", stamped);
    if (ev.role === "leader") {
      // A new leader gives every session a full TTL from now: clients had no one to renew with.
      this.sessionSeen.clear();
      this.sessionsExpiring.clear();
      this.lastSessionCheckMs = null;
    } else {
      // Reads waiting on our leadership cannot be confirmed any more.
      for (const r of this.pendingReads.values()) r.reject(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} stopped leading`, { leaderId: ev.leader ?? undefined }));
      this.pendingReads.clear();
    }
    if (previousLeader !== null && previousLeader !== ev.leader && previousLeader !== this.id) {
      // Requests forwarded to a leader we no longer follow fail now instead of at their deadline.
      this.transport.abandonForwards(previousLeader, `leader ${previousLeader} was replaced; the write may or may not have been applied`);
    }
    if (ev.leader !== null) {
      const waiters = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** How often a node in a disk alarm tries a small real write. */
const DISK_PROBE_MS = 1000;
/** How long an alarm stays in status after it was last seen. */
const ALARM_SHOWN_MS = 5000;

/** SQLite's and the OS's codes for a write the disk did not take (full, failing, read-only). */
function writeErrorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}

function isWriteError(e: unknown): boolean {
  const code = writeErrorCode(e);
  return code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_READONLY") || code === "ENOSPC" || code === "EIO" || code === "EROFS" || code === "EDQUOT";
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withDeadline<T>(p: Promise<T>, deadline: number, message: string, code = ErrorCode.TIMEOUT): Promise<T> {
  const ms = deadline - Date.now();
  if (ms <= 0) return Promise.reject(new ZkError(code, message));
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new ZkError(code, message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
