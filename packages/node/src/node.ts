// The shell around the node state machine (machine.ts): the only place where a zk-node meets
// real time, the network and the SQLite file. It owns the tick timer, the peer transport
// (gRPC) and the store, turns the machine's callbacks into promises for the gRPC server, and
// runs the machine's Ready loop once per event-loop turn when there is work. Everything the
// node decides lives in the machine, which the simulator runs unchanged.
import { Reaper } from "./reaper.js";
import { EventEmitter } from "node:events";
import { randomInt } from "node:crypto";
import { dirname, join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { ErrorCode, type Command } from "./gen/zk/v1/types.js";
import type { WatchEvent } from "./gen/zk/v1/kv.js";
import type { ForwardRequest, ForwardResponse, InstallSnapshotChunk, InstallSnapshotProgress } from "./gen/zk/v1/peer.js";
import type { Ballot, NodeId, PaxosCore, Role } from "./paxos/index.js";
import type { SqliteAcceptorStore } from "./storage/sqlite-store.js";
import type { WatchLog, ZnodeTree } from "./tree/index.js";
import { PeerTransport } from "./net/peer-transport.js";
import { flushTurnBatches } from "./net/turn-batch.js";
import { OutgoingSnapshots, receiveSnapshot, streamSnapshot, transferDeadlineMs } from "./net/snapshot-transfer.js";
import { ZkError } from "./net/errors.js";
import type { Logger } from "./log.js";
import { NodeMachine, isWriteError, type Clock, type Done, type ElectionEvent, type MemberProgress, type MembershipChange, type NodeOptions, type WriteOutcome } from "./machine.js";
import { describeConfig, type ClusterConfig } from "./paxos/config.js";
import type { TraceWriter } from "./trace.js";

export { DATA_BYTES_HARD_MAX, LOG_MEMORY_SLOTS, SESSION_TTL_MAX_MS, SESSION_TTL_MIN_MS, type Member, type NodeOptions, type WriteOutcome } from "./machine.js";

export interface SnapshotTransferStatus {
  readonly peer: NodeId;
  readonly direction: "sending" | "receiving";
  readonly slot: number;
  bytesDone: number;
  readonly totalBytes: number;
}

export interface NodeEvents {
  election: [ElectionEvent];
  applied: [zxid: number, events: WatchEvent[]];
  /** A snapshot replaced the state up to this slot: watch history before it is gone. */
  installed: [slot: number];
  /** The node stopped for good: an fsync failed (zk-node exits). */
  fatal: [err: Error];
}

/**
 * The process's clocks. Deadlines given to ZkNode's methods are wall-clock ms (Date.now());
 * the machine runs on the monotonic clock, so a wall-clock step moves no deadline or expiry.
 */
const processClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

export class ZkNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  private readonly machine: NodeMachine;
  private readonly transport: PeerTransport;
  private scheduled = false;
  /** The Ready loop waited one turn for forwards handed on just before it (schedule()). */
  private processDeferred = false;
  private ticker: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly outgoing: OutgoingSnapshots;
  /** Snapshot transfers in progress, by peer (status). */
  private readonly transfersNow = new Map<NodeId, SnapshotTransferStatus>();
  /** Where snapshot files are made and received: beside the store. */
  private readonly snapshotDir: string;
  /** Proposes the deletion of empty containers and expired TTL nodes while this node leads. */
  private readonly reaper: Reaper;

  constructor(
    readonly opts: NodeOptions,
    private readonly store: SqliteAcceptorStore,
    private readonly log: Logger,
    /** Where the write path's timeline goes (zk-node --trace-file), if anywhere; closed by stop(). */
    private readonly trace: TraceWriter | null = null,
  ) {
    super();
    this.snapshotDir = join(dirname(store.path), "snapshots");
    this.reaper = new Reaper(this, log);
    this.outgoing = new OutgoingSnapshots(this.snapshotDir, store.path);
    this.id = opts.id;
    try {
      store.recordTreeInMemory(opts.treeInMemory === true);
    } catch (e) {
      // Only readers go by it; a full disk is the machine's to report (its disk alarm).
      if (!isWriteError(e)) throw e;
      log.warn({ err: (e as Error).message.split("\n")[0] }, "cannot record in the store whether the tree is in memory; zk-cli inspect may say otherwise");
    }
    const genesis = store.genesisMembers;
    this.genesis = genesis === null ? null : new Map(genesis.map((m) => [m.id, m.address]));
    this.transport = new PeerTransport(opts.id, opts.clusterId, new Map(opts.members.map((m) => [m.id, m.address])), log, (key, message) => this.noteAlarm(key, message), this.genesis);
    this.machine = new NodeMachine(
      // Random per process start: election jitter, session ids, and nonces that do not repeat
      // an earlier run's.
      { ...opts, seed: randomInt(1, 2 ** 31), nonceBase: randomInt(1, 2 ** 40) * 2 ** 12 },
      store,
      {
        clock: processClock,
        log,
        send: (messages) => this.transport.send(messages),
        forward: (to, req, timeoutMs, done) => this.forward(to, req, timeoutMs, done),
        cancelForwards: (leader, why) => this.transport.abandonForwards(leader, why),
        schedule: () => this.schedule(),
        // An immediate runs after HTTP/2's native immediate has written what send() queued.
        defer: (fn) =>
          setImmediate(() => {
            if (this.stopped) return;
            fn();
            flushTurnBatches();
          }),
        sendSnapshot: (to, minSlot, done) => {
          this.sendSnapshot(to, minSlot).then(done, (e: unknown) => {
            log.warn({ to, err: (e as Error).message.split("\n")[0] }, "cannot send a snapshot");
            done(false);
          });
        },
        installed: (slot) => this.emit("installed", slot),
        peers: (members) => this.transport.setPeers(members),
        // On the elections stream too (zk-cli elections watch): a configuration change, with what changed.
        configApplied: (cfg) =>
          this.emit("election", { type: "role", role: this.machine.role, ballot: this.machine.promised, leader: this.machine.leaderId, reason: `configuration v${cfg.version}: ${cfg.change || "first"} -> ${describeConfig(cfg)}`, tick: 0, unixMs: Date.now() }),
        election: (ev) => this.emit("election", ev),
        trace: trace === null ? undefined : (stage, slot, peer) => trace.write(stage, slot, peer),
        // A failed fsync (machine.flushFailed): zk-node exits (main.ts).
        fatal: (err) => this.emit("fatal", err),
        applied: (outcomes) => {
          // Watchers hear of events before the writes are answered: one that throws must not
          // take the Ready loop (and the answers) down with it.
          for (const { slot, outcome } of outcomes) {
            if (outcome === null || outcome.events.length === 0) continue;
            try {
              this.emit("applied", slot, outcome.events);
            } catch (e) {
              log.error({ slot, err: (e as Error).message.split("\n")[0] }, "a watch listener failed; it is skipped for this event");
            }
          }
        },
      },
    );
  }

  /** Every member of a configuration this node knows, with its address. */
  get members(): ReadonlyMap<NodeId, string> {
    return this.machine.members;
  }

  /** The member list the cluster was created with, when this store knows it (peer streams compare it). */
  readonly genesis: ReadonlyMap<NodeId, string> | null;

  private forward(to: NodeId, req: Omit<ForwardRequest, "id">, timeoutMs: number, done: (r: ForwardResponse | ZkError) => void): void {
    this.transport.forward(to, req, timeoutMs).then(done, (e: unknown) => done(e instanceof ZkError ? e : new ZkError(ErrorCode.UNAVAILABLE, `forward to ${to} failed: ${String(e)}`)));
  }

  /** Make (or reuse) a snapshot file and stream it to `to`; true once it installed it. */
  private async sendSnapshot(to: NodeId, minSlot: number): Promise<boolean> {
    // A snapshot of a large state costs; make none for a follower that is down.
    if (this.stopped || !this.transport.connected(to)) return false;
    const snap = await this.outgoing.get(minSlot);
    const call = this.transport.snapshotStream(to, Date.now() + transferDeadlineMs(snap.info.bytes));
    if (call === null) return false;
    this.log.info({ to, slot: snap.info.header.slot, bytes: snap.info.bytes }, "streaming a snapshot");
    const t: SnapshotTransferStatus = { peer: to, direction: "sending", slot: snap.info.header.slot, bytesDone: 0, totalBytes: snap.info.bytes };
    this.transfersNow.set(to, t);
    try {
      return await streamSnapshot(call, snap, (done) => (t.bytesDone = done));
    } finally {
      if (this.transfersNow.get(to) === t) this.transfersNow.delete(to);
    }
  }

  /** Snapshot transfers in progress (sending, as a leader; receiving, as a follower). */
  get snapshotTransfers(): SnapshotTransferStatus[] {
    return [...this.transfersNow.values()];
  }

  /** The first slot this node's log holds (entries below were discarded after a snapshot point). */
  get logStart(): number {
    return this.machine.core.logStart;
  }

  /** A leader streams us a snapshot (Peer.InstallSnapshot). */
  receiveSnapshot(call: grpc.ServerDuplexStream<InstallSnapshotChunk, InstallSnapshotProgress>, from: NodeId): void {
    receiveSnapshot(
      call,
      this.snapshotDir,
      (file, info) => {
        if (this.stopped) throw new Error(`node ${this.id} is shutting down`);
        // A leader is never behind another member's log start; a deposed one that thinks so
        // must not unseat it (installing rebuilds the core, which ends its term).
        if (this.machine.role === "leader") throw new Error(`node ${this.id} leads; it takes no snapshot from ${from}`);
        this.store.installSnapshot(file, { clusterId: this.opts.clusterId });
        this.log.info({ slot: info.header.slot, bytes: info.bytes }, "snapshot installed");
        this.machine.snapshotInstalled();
      },
      this.log,
      (p) => {
        if (p === null) this.transfersNow.delete(from);
        else this.transfersNow.set(from, { peer: from, direction: "receiving", ...p });
      },
    );
  }

  get core(): PaxosCore {
    return this.machine.core;
  }
  get tree(): ZnodeTree {
    return this.machine.tree;
  }
  get watchLog(): WatchLog {
    return this.machine.watchLog;
  }

  start(): void {
    this.ticker = setInterval(() => this.machine.tick(), this.opts.tickMs);
    this.reaper.start();
    this.machine.process();
  }

  /** Stop ticking and talking; pending requests fail as unavailable. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.reaper.stop();
    this.transport.close();
    // A tree in memory goes to the store first: a restart then replays nothing, and
    // zk-cli inspect of the stopped node shows all of it.
    this.machine.checkpoint();
    this.machine.stop();
    try {
      this.trace?.close();
    } catch (e) {
      this.log.warn({ err: (e as Error).message.split("\n")[0] }, "cannot write the rest of the trace file");
    }
    this.outgoing.close();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Forwards gathered this turn must leave before the Ready's fsync. A gRPC write made in
      // an immediate reaches the socket only from HTTP/2's native immediate at the start of the
      // next turn's immediates: so when a batch was handed on this turn, the Ready waits for
      // that turn (once: a steady stream of forwards must not hold it back for ever).
      // With the fsync off the loop (--fsync-off-loop) nothing waits behind it: no turn to wait for.
      if (flushTurnBatches() && !this.machine.fsyncOffLoop && !this.processDeferred) {
        this.processDeferred = true;
        this.schedule();
        return;
      }
      this.processDeferred = false;
      this.machine.process();
      // The answers the Ready settled (batched forwards) leave now, as they did one by one.
      flushTurnBatches();
    });
  }

  // ---- Observers ---------------------------------------------------------------------------

  get role(): Role {
    return this.machine.role;
  }
  get leaderId(): NodeId | null {
    return this.machine.leaderId;
  }
  get appliedIndex(): number {
    return this.machine.appliedIndex;
  }
  /** Apply what a follower holds chosen and has not applied yet (see NodeMachine.applyChosen). */
  applyChosen(): void {
    this.machine.applyChosen();
  }
  get promised(): Ballot {
    return this.machine.promised;
  }
  get lastElectionEvent(): ElectionEvent | null {
    return this.machine.lastElectionEvent;
  }
  get msSinceLeaderHeard(): number {
    return this.machine.msSinceLeaderHeard;
  }
  get alarms(): string[] {
    return this.machine.alarms;
  }
  get cannotPersist(): boolean {
    return this.machine.cannotPersist;
  }
  noteAlarm(key: string, message: string): boolean {
    return this.machine.noteAlarm(key, message);
  }
  assertLocalReadable(): void {
    this.machine.assertLocalReadable();
  }

  // ---- Requests: the machine's, as promises; deadlines are wall-clock ms ----------------------

  /** A peer's protocol messages (already checked to be for us, from a member of our cluster). */
  receive(messages: Iterable<Parameters<PaxosCore["step"]>[0]>): void {
    if (!this.stopped) this.machine.receive(messages);
  }

  handleForward(req: ForwardRequest, deadline: number): Promise<ForwardResponse> {
    return new Promise((resolve) => this.machine.handleForward(req, monotonicDeadline(deadline), resolve));
  }

  /** handleForward with a callback: `done` runs where the answer settles (inside the Ready loop for a write), not in a later microtask. */
  handleForwardThen(req: ForwardRequest, deadline: number, done: (r: ForwardResponse) => void): void {
    this.machine.handleForward(req, monotonicDeadline(deadline), done);
  }

  write(command: Command, deadline: number, forwarded = false): Promise<WriteOutcome> {
    return promised<WriteOutcome>((done) => this.machine.write(command, monotonicDeadline(deadline), forwarded, done));
  }

  /** With the tree in memory, write it to the store now (machine.checkpoint); false if the disk refused. */
  checkpointTree(): boolean {
    return this.machine.checkpoint();
  }

  readBarrier(deadline: number, forwarded = false): Promise<number> {
    return promised<number>((done) => this.machine.readBarrier(monotonicDeadline(deadline), forwarded, done));
  }

  appliedAtLeast(index: number, deadline: number): Promise<void> {
    return promised<void>((done) => this.machine.appliedAtLeast(index, monotonicDeadline(deadline), done));
  }

  openSession(ttlMs: number, deadline: number): Promise<{ sessionId: number; ttlMs: number; zxid: number }> {
    return promised((done) => this.machine.openSession(ttlMs, monotonicDeadline(deadline), done));
  }

  closeSession(sessionId: number, deadline: number): Promise<number> {
    return promised<number>((done) => this.machine.closeSession(sessionId, monotonicDeadline(deadline), done));
  }

  keepalive(sessionIds: readonly number[], deadline: number, forwarded = false): Promise<void> {
    return promised<void>((done) => this.machine.keepalive(sessionIds, monotonicDeadline(deadline), forwarded, done));
  }

  // ---- Membership (docs/design.md "Membership") ----------------------------------------------

  /** The configuration at the applied index, and a change proposed and not yet chosen. */
  membership(): ReturnType<NodeMachine["membership"]> {
    return this.machine.membership();
  }

  /** Leader only: each other member's lag (empty on other nodes). */
  memberProgress(): ReadonlyMap<NodeId, MemberProgress> {
    return this.machine.memberProgress();
  }

  changeMembership(change: MembershipChange, deadline: number): Promise<{ config: ClusterConfig; slot: number; leaderId: NodeId | null }> {
    return promised((done) => this.machine.changeMembership(change, monotonicDeadline(deadline), done));
  }

  transferLeadership(to: NodeId, deadline: number): Promise<{ leaderId: NodeId; ballot: Ballot; elapsedMs: number }> {
    return promised((done) => this.machine.transferLeadership(to, monotonicDeadline(deadline), done));
  }
}

/** A wall-clock deadline (Date.now() ms) on the monotonic clock the machine runs on. */
function monotonicDeadline(deadline: number): number {
  return processClock.now() + (deadline - processClock.wallNow());
}

function promised<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((r) => (r instanceof ZkError ? reject(r) : resolve(r as T))));
}
