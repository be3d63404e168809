// The node state machine: everything a zk-node decides, and nothing it does to the world by
// itself. It holds the protocol core, the znode tree and its watch log, the sessions the
// leader watches for expiry, the writes and reads in flight, the admission queue and the
// forwarding decisions. Time comes in through a Clock; work is done when the shell calls
// tick(), process() or a request method; what leaves (peer messages, forwarded requests,
// answers, events) goes out through MachinePorts. It owns no timer and reads no clock of its
// own, so the simulator (test/sim) runs exactly this code, many nodes in one process, every
// fault driven by one seed; zk-node runs it behind a thin shell (node.ts) that owns the
// timers, gRPC and the SQLite file.
//
// Once per process() the core's Ready is handled in the one order that keeps Paxos safe:
//   1. persist the promise, the accepted entries and the chosen index, and apply the newly
//      chosen entries to the znode tree with the applied index: ONE fsynced transaction,
//   2. send the messages,
//   3. answer the clients whose writes and reads are now settled.
// Batching falls out of this: every proposal and message of a turn shares one Ready, so one
// fsync and one Accept per follower (group commit).
import { ErrorCode, Outcome, type Command, type CommandResult } from "./gen/zk/v1/types.js";
import type { ForwardRequest, ForwardResponse } from "./gen/zk/v1/peer.js";
import type { WatchEvent } from "./gen/zk/v1/kv.js";
import { PaxosCore, SeededRng, ballotEquals, commandsEqual, isNoop, type Ballot, type CoreConfig, type Message, type NodeId, type Ready, type RoleChangeEvent, type Role, type Entry, type HardState } from "./paxos/index.js";
import { mustSync, type AcceptorStore } from "./storage/store.js";
import { invariant } from "./paxos/invariant.js";
import type { SqliteDatabase } from "./storage/sqlite-store.js";
import { MemTreeTables, WatchLog, ZnodeTree, decodeCommand, encodeCommand, internalRequestKey, type ApplyOutcome } from "./tree/index.js";
import { NOT_APPLIED, ZkError } from "./net/errors.js";
import { afterResend } from "./client/retry.js";
import { decodeConfig, describeConfig, encodeConfig, initialConfig, isConfigCommand, quorums, type ClusterConfig } from "./paxos/config.js";
import { readMembership, writeMembership, type StoredMembership } from "./membership.js";

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
  /** Applied entries between snapshot points (log compaction); default SNAPSHOT_ENTRIES_DEFAULT. */
  readonly snapshotEntries?: number;
  /** Entries kept below a snapshot point, for followers a little behind; default RETAIN_ENTRIES_DEFAULT. */
  readonly retainEntries?: number;
  /** A Ready's fsync through store.flush(), off the event loop (zk-node --fsync-off-loop). */
  readonly fsyncOffLoop?: boolean;
  /** ports.trace hears of every Nth log slot (zk-node --trace-every); 0 or absent: none. */
  readonly traceEvery?: number;
  /**
   * The znode tree in JavaScript maps (tree/mem-tables.ts; zk-node --tree-in-memory), written
   * to the store's tables only at checkpoints (every CHECKPOINT_ENTRIES applied entries, each
   * snapshot point, a configuration's apply, before a snapshot is saved, a clean stop): the
   * store's applied index is then the last checkpoint's, and a restart replays the log after
   * it. Off: the tree in the store's tables, written by every apply.
   */
  readonly treeInMemory?: boolean;
}

/** What the machine needs from its store: the acceptor state and the state machine's tables, in one file. */
export interface NodeStore extends AcceptorStore {
  /** The database holding the znode tree, sessions, request ids and watch history. */
  readonly db: SqliteDatabase;
  /** Where it lives, for messages. */
  readonly path: string;
  /** The promise as last written. */
  readonly persistedPromise: Ballot;
  /** The chosen index as last written (committed, or in the running transaction). */
  readonly persistedChosen: number;
  /** 0 for a store created with the cluster, larger for a store rebuilt after a lost disk. */
  readonly incarnation: number;
  setApplied(n: number): void;
  /**
   * `fn` in one transaction; `durable: false` commits without an fsync; `later: true` commits
   * without one too, and is durable once a flush() asked for after it reports success.
   */
  transaction<T>(fn: () => T, opts?: { durable?: boolean; later?: boolean }): T;
  /**
   * Make every committed transaction durable, off the event loop; `done(err)` when the disk
   * failed to (what was committed since the last flush may be lost). Without it, durable
   * transactions fsync before they return.
   */
  flush?(done: (err: Error | null) => void): void;
  /** A small real write: throws the write error while the disk does not take writes. */
  probeWrite(): void;
  /**
   * A snapshot point at `snapshotIndex` (applied): entries below snapshotIndex - retainEntries
   * + 1 may be deleted; compactStep() deletes them in bounded steps and reclaims the space.
   */
  markSnapshot(snapshotIndex: number, retainEntries: number): void;
  compactStep(): { readonly done: boolean };
}

/** Time, as the machine sees it. */
export interface Clock {
  /** Monotonic milliseconds: deadlines and session expiry. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: stamped into commands (ctime, mtime) and events. */
  wallNow(): number;
}

export interface MachineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type ElectionEvent = RoleChangeEvent & { unixMs: number };

/** What the machine does to the world, done by the shell (or the simulator). */
export interface MachinePorts {
  readonly clock: Clock;
  readonly log: MachineLogger;
  /** Send protocol messages to peers (best effort: they may be lost, delayed or reordered). */
  send(messages: readonly Message[]): void;
  /**
   * Forward a request to the leader `to`; `done` receives its response or a ZkError (a broken
   * link, a timeout). `done` may be called late or never: the machine keeps its own deadline.
   */
  forward(to: NodeId, req: Omit<ForwardRequest, "id">, timeoutMs: number, done: (r: ForwardResponse | ZkError) => void): void;
  /** Forwards to `leader` are abandoned (it stopped leading): drop the link's pending calls. */
  cancelForwards(leader: NodeId, why: string): void;
  /** There is work for process(): call it soon (e.g. on the next event-loop turn). */
  schedule(): void;
  /**
   * Run `fn` on a later turn, after what send() queued this turn has left (the shell: an
   * immediate, behind HTTP/2's writes).
   */
  defer(fn: () => void): void;
  election(ev: ElectionEvent): void;
  /** Entries applied by a committed transaction, in slot order (watch events and observers). */
  applied(outcomes: readonly Applied[]): void;
  /** Inside the apply transaction, right after `slot` was applied (the simulator's tree hash). */
  appliedEntry?(slot: number): void;
  /**
   * Send follower `to` a snapshot of this node's state machine at a slot of at least
   * `minSlot` (the last discarded entry: the follower goes on from the log after it);
   * `done(ok)` when the follower installed it or the transfer failed.
   */
  sendSnapshot(to: NodeId, minSlot: number, done: (ok: boolean) => void): void;
  /** A snapshot replaced this node's state (snapshotInstalled): watchers of older events must start over. */
  installed?(slot: number): void;
  /** The address book changed (a configuration added or removed members): links follow it. */
  peers?(members: ReadonlyMap<NodeId, string>): void;
  /** A configuration was applied here (chosen at `slot`), or installed with a snapshot. */
  configApplied?(config: ClusterConfig, slot: number): void;
  /** The machine stopped for good (a failed fsync): the process should exit. */
  fatal?(err: Error): void;
  /**
   * A sampled log slot (every opts.traceEvery-th) reached `stage` on this node; `peer` is the
   * member it was sent to or heard from. The write path's timeline (zk-node --trace-file).
   */
  trace?(stage: TraceStage, slot: number, peer: NodeId | null): void;
}

/**
 * Where a log slot is on its way, as ports.trace hears it. Leader: accept-sent (to each
 * follower), written (its own transaction committed), reply-received (a follower's acceptance,
 * by each), chosen, applied. Follower: accept-received, written, acknowledged (its reply left),
 * applied.
 */
export type TraceStage = "accept-sent" | "accept-received" | "written" | "acknowledged" | "reply-received" | "chosen" | "applied";

/** A membership change an operator asks for (zk-cli member ...). */
export type MembershipChange =
  | { readonly kind: "add"; readonly id: NodeId; readonly address: string; readonly learner: boolean }
  | { readonly kind: "promote"; readonly id: NodeId }
  | { readonly kind: "remove"; readonly id: NodeId; readonly force: boolean };

/** What the leader knows of a member's log. */
export interface MemberProgress {
  /** Slots between the leader's last slot and the member's match. */
  readonly lag: number;
  /** Within PROMOTE_LAG_SLOTS and heard from lately: promotion would be allowed. */
  readonly caughtUp: boolean;
  /** Since its last answer (null: never, since this node leads). */
  readonly msSinceHeard: number | null;
  /** It lost its disk and is catching up: it votes in nothing yet. */
  readonly recovering: boolean;
}

export interface WriteOutcome {
  readonly zxid: number;
  readonly result: CommandResult;
}

export interface Applied {
  readonly slot: number;
  readonly command: Uint8Array;
  readonly outcome: ApplyOutcome | null;
}

/** A request's answer: its value, or the ZkError it failed with. */
export type Done<T> = (r: T | ZkError) => void;

/** Deliberate node bugs, for proving the simulator catches them. Never set outside tests. */
export interface MachinePlantedBugs {
  /**
   * A new leader neither gives sessions a full TTL from its election (it keeps what it saw
   * when it last led) nor waits for its election tail before answering keepalives: it
   * expires, or calls expired, live sessions.
   */
  readonly expireOnElection?: boolean;
  /** The tree ignores request ids: a retried write applies twice. */
  readonly ignoreRequestIds?: boolean;
  /**
   * A Ready's messages and answers leave without waiting for its flush: an acceptance or a
   * promise can be claimed, and a write acknowledged, and then lost with the power.
   */
  readonly sendBeforeFlush?: boolean;
  /**
   * Session expiry runs as soon as the core leads, before the machine has handled the event
   * that made it leader (which gives every session a full TTL): a core that wins while a
   * Ready's flush is in flight expires sessions on the keepalive times of its previous term.
   */
  readonly expireBeforeElectionEvent?: boolean;
  /**
   * A failed flush is taken for a slow one: the Ready's promises, acceptances and answers leave
   * before the node stops (they claim what the disk may not hold).
   */
  readonly sendOnFlushError?: boolean;
  /**
   * A core rebuilt from the store (a snapshot installed, a disk alarm) keeps the follower's
   * apply backlog: the new core hands those entries out again, and they are applied twice.
   */
  readonly keepApplyBacklog?: boolean;
  /**
   * A snapshot point (or a compaction) made due while a Ready is out is taken at once: the core
   * has not counted that Ready's entries as handed out, and its invariant stops the node
   * ("cannot discard to 43: only 34 applied"; a follower's read served inside the Ready
   * applied the backlog).
   */
  readonly snapshotPointMidReady?: boolean;
  /** Not a safety bug: the chosen-index notification leaves before the answers again (notifiesAfterAnswers), for the test that shows the order. */
  readonly notifyBeforeAnswers?: boolean;
  /**
   * A follower's batched apply leaves out the chosen index waiting in memory
   * (unsavedHardState): the store records an applied index past its chosen one, which the
   * core refuses when it is loaded from that store again.
   */
  readonly applyPastChosen?: boolean;
  /**
   * A leader that stops leading tells the writes it proposed and has not seen chosen that they
   * were not applied (OUTCOME_NOT_APPLIED), though a later leader may still choose them: a
   * client may then send one again without its key, or report it lost.
   */
  readonly deposedNotApplied?: boolean;
  /** With the tree in memory: a failed transaction leaves what it applied in the maps (no undo). */
  readonly treeNotUndone?: boolean;
}

export interface MachineOptions extends NodeOptions {
  /** Seeds the core's election timer jitter and the session ids this node draws. */
  readonly seed: number;
  /** Added to per-node request counters so nonces never repeat across restarts. */
  readonly nonceBase: number;
  /** Applied entries kept in the core's memory (default LOG_MEMORY_SLOTS). */
  readonly logMemorySlots?: number;
  /** A learner is promoted only within this many slots of the leader's log (PROMOTE_LAG_SLOTS). */
  readonly promoteLagSlots?: number;
  /** Core settings beyond the node options (the simulator's small batches, planted bugs). */
  readonly core?: Partial<Pick<CoreConfig, "batchEntriesMax" | "inflightBatchesMax" | "plantedBugs">>;
  readonly plantedBugs?: MachinePlantedBugs;
}

interface PendingWrite {
  readonly command: Uint8Array;
  readonly done: Done<WriteOutcome>;
  readonly timer: Timer;
}

interface Admission {
  readonly command: Command;
  readonly deadline: number;
  readonly done: Done<WriteOutcome>;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  fire: (() => void) | null;
}

/** The largest znode data any replica accepts; --data-bytes-max may only lower it. */
export const DATA_BYTES_HARD_MAX = 16 * 1024 * 1024;

/**
 * Log compaction: every SNAPSHOT_ENTRIES_DEFAULT applied entries (plus a per-node random
 * stagger of up to a tenth, so that members do not compact at the same moment) a node marks a
 * snapshot point and deletes the entries more than RETAIN_ENTRIES_DEFAULT below it, a bounded
 * step per tick. Its SQLite store *is* the state machine at the applied index, so the point
 * needs no copy; a follower that needs a deleted entry gets a snapshot instead.
 */
export const SNAPSHOT_ENTRIES_DEFAULT = 10_000;
export const RETAIN_ENTRIES_DEFAULT = 5_000;

/**
 * With the tree in memory, applied entries between checkpoints (besides the one at every
 * snapshot point): a checkpoint runs on the event loop and writes every row changed since the
 * last, so frequent small ones stall it less than one per snapshot point (a 5 s ×64 benchmark
 * saw p99 rise from 68 to 184 ms with one per 10,000), and a restart replays at most this many.
 */
export const CHECKPOINT_ENTRIES = 1000;

/** What one checkpoint wrote (machine.writeCheckpoint). */
interface CheckpointWritten {
  readonly slot: number;
  readonly rows: number;
  readonly watchBatches: number;
}

/**
 * A follower applies what became chosen in batches of up to this many entries, and at the
 * latest at its next tick: nobody waits for a follower's apply (the leader answers writes),
 * and a bigger batch costs less per write (the same pages written once per batch; see
 * docs/benchmarks.md). It applies at once whenever anyone waits: a linearizable read on it
 * (appliedAtLeast), a configuration, a change of role.
 */
export const FOLLOWER_APPLY_BATCH = 256;

/** A leader's Ready that chose at most this many entries sends the followers' notification after its answers (notifiesAfterAnswers). */
export const NOTIFY_AFTER_ANSWERS_MAX = 2;

/** After a failed snapshot transfer, the next one to that follower waits this long. */
const SNAPSHOT_RETRY_MS = 1000;

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
export const SESSION_CHECK_MS = 100;
/**
 * A gap between two session checks above this means the process could not run (stall,
 * pause): sessions get a full TTL before any is expired.
 */
export const SESSION_STALL_GAP_MS = 10 * SESSION_CHECK_MS;
/** At most one "event loop stalled" warning per this long (the next one counts the stalls between). */
export const STALL_WARN_EVERY_MS = 10_000;
/** How long an internal expiry write may take before it is given up (and retried by the next check). */
const EXPIRY_WRITE_MS = 10_000;

/** How long a request waits for an election before it fails as unavailable. */
const LEADER_WAIT_TICKS_FACTOR = 4;
/** How often a node in a disk alarm tries a small real write. */
export const DISK_PROBE_MS = 1000;
/** How long an alarm stays in status after it was last seen. */
const ALARM_SHOWN_MS = 5000;
/**
 * A learner is promoted only within this many slots of the leader's last slot, and only if it
 * answered within PROMOTE_HEARD_MS: a voter that cannot keep up would slow or stall quorums.
 */
export const PROMOTE_LAG_SLOTS = 1000;
const PROMOTE_HEARD_MS = 2000;
/** Member ids: what --id accepts. */
const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class NodeMachine {
  readonly id: NodeId;
  /** The address book: every member of a configuration we know, and --peers' addresses. */
  private readonly addressBook = new Map<NodeId, string>();
  /** The configuration at the applied index (meta.membership). */
  private membershipNow: StoredMembership;
  /** The change proposed here and not yet applied, and who waits for it. */
  private pendingChange: { readonly slot: number; readonly command: Uint8Array; readonly done: Done<{ config: ClusterConfig; slot: number }> } | null = null;
  /** A leader transfer asked here: who waits for the new leader. */
  private pendingTransfer: { readonly to: NodeId; readonly startedMs: number; readonly done: Done<{ leaderId: NodeId; ballot: Ballot; elapsedMs: number }> } | null = null;
  private readonly promoteLagSlots: number;
  /** When each member last answered us (monotonic ms), for member lag and the quorum check of a removal. */
  private readonly lastHeard = new Map<NodeId, number>();
  /** The protocol core; replaced (rebuilt from the store) when a Ready could not be persisted. */
  private coreNow: PaxosCore;
  readonly tree: ZnodeTree;
  /** The tree's rows when they live in memory (opts.treeInMemory), else null: the store's tables. */
  readonly memTables: MemTreeTables | null;
  /** With memTables: the slot the maps have applied (the store's applied index is the last checkpoint's). */
  private memApplied = 0;
  /** With memTables: the checkpoint the running transaction wrote (it applied a configuration). */
  private checkpointInTransaction: CheckpointWritten | null = null;
  readonly watchLog: WatchLog;
  private readonly clock: Clock;
  private readonly log: MachineLogger;
  private readonly rng: SeededRng;
  private readonly logMemorySlots: number;
  /**
   * Leader only: when each session was last seen alive (monotonic ms), and the expiries
   * proposed and not yet settled (with who waits for them).
   */
  private readonly sessionSeen = new Map<number, number>();
  private readonly sessionsExpiring = new Map<number, (() => void)[]>();
  /** When expireSessions last ran (monotonic ms), to notice a stall. */
  private lastSessionCheckMs: number | null = null;
  /** When tick() last ran, and the stalls (gaps between ticks) not reported yet (noteStall). */
  private lastTickMs: number | null = null;
  private stallsUnreported = 0;
  private longestStallMs = 0;
  private lastStallWarningMs = -Infinity;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly admission: Admission[] = [];
  private readonly pendingReads = new Map<number, { done: Done<number>; timer: Timer }>();
  /** Forwards in flight, by local id: to whom, and how to fail them. */
  private readonly forwards = new Map<number, { to: NodeId; fail: (e: ZkError) => void }>();
  private nextForwardId = 1;
  private appliedWaiters: { index: number; wake: () => void }[] = [];
  /** Follower: chosen entries handed out by the core and not applied yet, in slot order (FOLLOWER_APPLY_BATCH). */
  private applyBacklog: Entry[] = [];
  /** A hard state whose only change is the chosen index, not written yet (persist()). */
  private unsavedHardState: HardState | null = null;
  /** Requests waiting for a leader (other than `not`) to be known. */
  private leaderWaiters: { not: NodeId | null; wake: () => void }[] = [];
  private nextReadCtx = 1;
  private nextRequestId = 1;
  private timers: Timer[] = [];
  private nextTimerSeq = 0;
  private applied: number;
  private pendingCompaction = false;
  private stopped = false;
  /** ports.trace's sampling (opts.traceEvery; 0: no trace) and each follower's acceptance traced so far. */
  private readonly traceEvery: number;
  private readonly tracedMatch = new Map<NodeId, number>();
  /**
   * The core whose Ready is committed and waiting for its flush (store.flush), or whose
   * Ready's transaction waits for the next turn (ports.defer): it cuts no next Ready until that
   * one is durable. A core replaced meanwhile (snapshot installed, disk alarm) does not wait
   * for it: the old Ready's messages and answers are dropped.
   */
  private flushingCore: PaxosCore | null = null;
  /** A leader's pipelined flush is in flight; the one wanted after it (see flushLeaderEntries). */
  private leaderFlushing = false;
  private leaderFlushWanted: { ballot: Ballot; slot: number } | null = null;
  private lastEvent: ElectionEvent | null = null;
  /** Set while the store cannot be written (disk full, I/O error): see enterDiskAlarm. */
  private diskAlarm: { readonly message: string; readonly code: string } | null = null;
  private lastDiskProbeMs = 0;
  /** Other alarms (e.g. a peer with another member list), by key, with when they were last seen. */
  private readonly alarmsSeen = new Map<string, { message: string; atMs: number }>();
  private readonly snapshotEntries: number;
  private readonly retainEntries: number;
  /** The applied index at which the next snapshot point is marked. */
  private nextSnapshotAt: number;
  /** Compaction steps are left to run (one per tick). */
  private compacting = false;
  /** Snapshot transfers in flight, by follower: the last discarded slot when each began. */
  private readonly transfers = new Map<NodeId, number>();

  /**
   * --peers only gives addresses once a store records its configuration: quorums come from the
   * log. A --peers with other members than the configuration in force is not an error (it goes
   * stale after every `member add`), but an operator who meant it as a change should hear that
   * it is not one.
   */
  private warnIfPeersDiffer(): void {
    const ids = (l: readonly { id: string }[]) => l.map((m) => m.id).sort().join(",");
    const cfg = this.membershipNow.config;
    if (cfg.members.length === 0 || ids(cfg.members) === ids(this.opts.members)) return;
    this.log.warn(
      { peers: ids(this.opts.members), configuration: describeConfig(cfg), version: cfg.version },
      "--peers lists other members than the configuration in force; membership comes from the log, not from --peers (change it with zk-cli member add/remove)",
    );
  }

  constructor(
    readonly opts: MachineOptions,
    private readonly store: NodeStore,
    private readonly ports: MachinePorts,
  ) {
    this.id = opts.id;
    this.clock = ports.clock;
    this.log = ports.log;
    this.rng = new SeededRng(opts.seed);
    this.logMemorySlots = opts.logMemorySlots ?? LOG_MEMORY_SLOTS;
    this.traceEvery = ports.trace !== undefined && opts.traceEvery !== undefined && opts.traceEvery > 0 ? opts.traceEvery : 0;
    this.membershipNow = readMembership(store.db) ?? { slot: 0, config: initialConfig(opts.members) };
    for (const m of opts.members) this.addressBook.set(m.id, m.address);
    for (const m of this.membershipNow.config.members) this.addressBook.set(m.id, m.address);
    // The tree's own limit must be the same on every replica (apply is deterministic), so it
    // is the hard maximum; the configurable, per-node limit is enforced at the API edge.
    this.memTables = opts.treeInMemory ? MemTreeTables.load(store.db) : null;
    this.tree = new ZnodeTree(this.memTables ?? store.db, { dataBytesMax: DATA_BYTES_HARD_MAX });
    this.watchLog = new WatchLog(store.db, opts.watchHistorySlots);
    // With the tree in memory the recent history is too: both reach the store at checkpoints.
    if (this.memTables !== null) this.watchLog.hold();
    this.applied = store.applied();
    this.memApplied = this.applied;
    this.snapshotEntries = opts.snapshotEntries ?? SNAPSHOT_ENTRIES_DEFAULT;
    this.promoteLagSlots = opts.promoteLagSlots ?? PROMOTE_LAG_SLOTS;
    this.retainEntries = opts.retainEntries ?? RETAIN_ENTRIES_DEFAULT;
    const loaded = this.loadCore();
    this.coreNow = loaded.core;
    this.warnIfPeersDiffer();
    this.nextSnapshotAt = this.snapshotPointAfter(this.applied);
    this.log.info({ promised: loaded.durable.hardState.promised, chosen: loaded.durable.hardState.chosen, applied: this.applied, entries: loaded.durable.entries.length }, "acceptor state loaded");
  }

  /** A protocol core with exactly what the store holds, as at a restart. */
  private loadCore(): { core: PaxosCore; durable: ReturnType<NodeStore["load"]> } {
    // Only the recent log is kept in memory; older chosen entries are read from the store.
    let durable = this.store.load({ entriesFrom: Math.max(1, this.applied - this.logMemorySlots + 1) });
    // A tree in memory may have applied slots whose chosen index was not written yet (it waits
    // for the next transaction, and a disk alarm reloads the core before that one): they are
    // chosen all the same (knowledge, not a promise), and their entries are in the log. The
    // raised index waits for the next transaction in turn, which must write it before any
    // checkpoint records those slots as applied.
    if (this.memTables !== null && durable.hardState.chosen < this.applied) {
      durable = { ...durable, hardState: { ...durable.hardState, chosen: this.applied } };
      this.unsavedHardState = durable.hardState;
    }
    const core = new PaxosCore(
      {
        id: this.opts.id,
        membership: this.membershipNow.config,
        rng: new SeededRng(this.rng.int(2 ** 31)),
        electionTimeoutTicks: this.opts.electionTimeoutTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        uncommittedEntriesMax: UNCOMMITTED_ENTRIES_MAX,
        applied: this.applied,
        logReader: this.store,
        incarnation: this.store.incarnation,
        ...this.opts.core,
      },
      durable,
    );
    return { core, durable };
  }

  get core(): PaxosCore {
    return this.coreNow;
  }

  /** Every member of a configuration we know, with its address (and --peers' addresses). */
  get members(): ReadonlyMap<NodeId, string> {
    return this.addressBook;
  }

  // ---- Time ----------------------------------------------------------------------------------

  /**
   * One tick of the node's clock (every tickMs): the core's election and heartbeat timers,
   * request deadlines, session expiry, the disk probe; then the Ready loop.
   */
  tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.noteStall(now);
    // In a disk alarm the core is frozen: no election timeout fires, so it never campaigns.
    if (this.diskAlarm) {
      if (now - this.lastDiskProbeMs >= DISK_PROBE_MS) this.probeDisk(now);
    } else if (this.flushingCore !== this.core) {
      this.core.tick();
    }
    // While its own fsync is in flight (or its transaction waits for the next turn) the core's
    // clocks stand still, as they did when that fsync blocked the event loop: a node whose disk
    // is slow neither campaigns (its leader's heartbeats may be held up by its own slow fsync
    // just as long) nor, leading, steps down for want of the acknowledgements it is not yet
    // sending.
    this.fireTimers(now);
    this.applyChosen();
    if (this.pendingTransfer !== null && this.core.role === "leader" && this.core.transferTarget === null) {
      const t = this.pendingTransfer;
      this.pendingTransfer = null;
      t.done(new ZkError(ErrorCode.UNAVAILABLE, `${t.to} did not take over leadership within two election timeouts; ${this.id} still leads`, { leaderId: this.id }));
    }
    if (this.compacting && !this.diskAlarm) this.compactStep();
    const leading = this.opts.plantedBugs?.expireBeforeElectionEvent ? this.core.role === "leader" : this.leaderSettled();
    if (leading && !this.diskAlarm && (this.lastSessionCheckMs === null || now - this.lastSessionCheckMs >= SESSION_CHECK_MS)) this.expireSessions(now);
    this.process();
  }

  /**
   * Ticks more than half an election timeout apart mean the process could not run (a long
   * fsync or batch on the event loop, CPU starvation, a pause): a leader that goes silent that
   * long may be replaced, and everyone's requests waited. Said in the log, at most every
   * STALL_WARN_EVERY_MS, so that an operator who sees elections under load sees why.
   */
  private noteStall(now: number): void {
    const last = this.lastTickMs;
    this.lastTickMs = now;
    const electionMs = this.opts.electionTimeoutTicks * this.opts.tickMs;
    if (last !== null && now - last > electionMs / 2) {
      this.stallsUnreported++;
      this.longestStallMs = Math.max(this.longestStallMs, now - last);
    }
    // Stalls within STALL_WARN_EVERY_MS of a warning are told in the next one, once it is due.
    if (this.stallsUnreported === 0 || now - this.lastStallWarningMs < STALL_WARN_EVERY_MS) return;
    const longest = Math.round(this.longestStallMs);
    this.log.warn(
      { stalledMs: longest, stalls: this.stallsUnreported, electionTimeoutMs: electionMs, role: this.core.role },
      `the event loop stalled for ${longest} ms (${this.stallsUnreported} stall${this.stallsUnreported === 1 ? "" : "s"} over half the ${electionMs} ms election timeout since the last warning): a leader silent that long may be replaced; is the machine short of CPU, or the disk slow to fsync? If such stalls are expected here, raise --election-ticks`,
    );
    this.lastStallWarningMs = now;
    this.stallsUnreported = 0;
    this.longestStallMs = 0;
  }

  /** Run `fire` once the clock reaches `at` (checked every tick); returns the handle to cancel. */
  private after(at: number, fire: () => void): Timer {
    const t: Timer = { at, seq: this.nextTimerSeq++, fire };
    // A binary heap by (at, seq): deadlines fire in order, ties in the order they were set.
    const h = this.timers;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!timerBefore(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    return t;
  }

  /**
   * A wait that ends exactly once: by the returned `wake` (which answers false if the wait
   * already ended) or by `onTimeout` when the clock reaches `deadline`.
   */
  private untilDeadline(deadline: number, onTimeout: () => void): () => boolean {
    let settled = false;
    const timer = this.after(deadline, () => {
      if (settled) return;
      settled = true;
      onTimeout();
    });
    return () => {
      if (settled) return false;
      settled = true;
      timer.fire = null;
      return true;
    };
  }

  private fireTimers(now: number): void {
    const h = this.timers;
    while (h.length > 0 && h[0]!.at <= now) {
      const t = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && timerBefore(h[l]!, h[m]!)) m = l;
          if (r < h.length && timerBefore(h[r]!, h[m]!)) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m]!, h[i]!];
          i = m;
        }
      }
      const fire = t.fire;
      t.fire = null;
      fire?.();
    }
  }

  /** Stop ticking and talking; pending requests fail as unavailable. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.failEverything(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down; retry on another node`));
    for (const f of [...this.forwards.values()]) f.fail(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down; the request may or may not have been applied`));
  }

  private failEverything(e: ZkError, readError: ZkError = e): void {
    for (const p of this.pendingWrites.values()) {
      p.timer.fire = null;
      p.done(e);
    }
    this.pendingWrites.clear();
    for (const w of this.admission.splice(0)) w.done(e);
    for (const r of this.pendingReads.values()) {
      r.timer.fire = null;
      r.done(readError);
    }
    this.pendingReads.clear();
  }

  // ---- Observers ---------------------------------------------------------------------------

  /** Stopped for good: by stop(), or by a failed fsync (ports.fatal). */
  get halted(): boolean {
    return this.stopped;
  }

  /** Whether a Ready's fsync runs on the thread pool (--fsync-off-loop) rather than in its commit. */
  get fsyncOffLoop(): boolean {
    return this.opts.fsyncOffLoop === true && this.store.flush !== undefined;
  }

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
  get lastElectionEvent(): ElectionEvent | null {
    return this.lastEvent;
  }
  get msSinceLeaderHeard(): number {
    return this.core.ticksSinceLeaderHeard * this.opts.tickMs;
  }

  // ---- Inputs from the network -------------------------------------------------------------

  /** A peer's protocol messages (already checked to be for us, from a member of our cluster). */
  receive(messages: Iterable<Message>): void {
    // In a disk alarm peers' messages are dropped: the node can neither promise nor accept.
    if (this.stopped || this.diskAlarm) return;
    const now = this.clock.now();
    for (const m of messages) {
      if (m.type === "acceptReply") this.lastHeard.set(m.from, now);
      if (this.traceEvery > 0) this.traceReceived(m);
      this.core.step(m);
    }
    this.ports.schedule();
  }

  /** A request another member forwarded to us as its leader: answered only here, never forwarded on. */
  handleForward(req: ForwardRequest, deadline: number, done: (r: ForwardResponse) => void): void {
    const fail = (e: ZkError) => done({ id: req.id, zxid: 0, outcome: { $case: "error", value: e.toDetail() } });
    const kind = req.kind;
    if (kind?.$case === "command") {
      this.write(kind.value, deadline, true, (r) => (r instanceof ZkError ? fail(r) : done({ id: req.id, zxid: r.zxid, outcome: { $case: "result", value: r.result } })));
    } else if (kind?.$case === "keepalive") {
      this.keepalive(kind.value.sessionIds, deadline, true, (r) => (r instanceof ZkError ? fail(r) : done({ id: req.id, zxid: 0 })));
    } else if (kind?.$case === "readIndex") {
      // Only the confirmation is needed: the follower waits for its own apply.
      this.readIndex(deadline, (r) => (r instanceof ZkError ? fail(r) : done({ id: req.id, zxid: r })));
    } else {
      fail(new ZkError(ErrorCode.INVALID_ARGUMENT, "empty forward request"));
    }
  }

  // ---- Writes --------------------------------------------------------------------------------

  /**
   * Propose a command through consensus; `done` once it is applied. A follower forwards it to
   * the leader; `forwarded` requests (from another follower) are not forwarded again.
   */
  write(command: Command, deadline: number, forwarded: boolean, done: Done<WriteOutcome>): void {
    // Unique bytes per proposal: a slot is recognised as ours by comparing them.
    if (command.nonce === 0) command.nonce = this.opts.nonceBase + this.nextRequestId++;
    if (this.stopped) return done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`));
    if (this.diskAlarm) return done(this.cannotPersistError());
    if (this.core.role === "leader") return this.proposeLocal(command, deadline, done);
    const leader = this.core.leaderId;
    if (forwarded) {
      return done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined, leaderHint: leader ? this.members.get(leader) : undefined }));
    }
    if (leader === null) return this.waitForLeader(null, deadline, done, () => this.write(command, deadline, false, done));
    this.forwardTo(leader, { kind: { $case: "command", value: command } }, deadline, (r) => {
      if (!(r instanceof ZkError)) {
        if (r.outcome?.$case === "result") return done({ zxid: r.zxid, result: r.outcome.value });
        r = r.outcome?.$case === "error" ? ZkError.fromDetail(r.outcome.value) : new ZkError(ErrorCode.INTERNAL, "leader sent an empty answer");
      }
      // NOT_LEADER means the command was never proposed there: safe to try the new leader.
      // A leader whose disk filled stops leading; what it had proposed may still be chosen,
      // so only a command with a deduplication key is safe to send to its successor.
      const retry = r.code === ErrorCode.NOT_LEADER || (r.code === ErrorCode.CANNOT_PERSIST && command.requestId !== "");
      // After CANNOT_PERSIST the first attempt may be chosen yet: a later "not applied" holds
      // for the later attempt only.
      const first = r;
      const then = r.code === ErrorCode.NOT_LEADER ? done : (o: WriteOutcome | ZkError) => done(o instanceof ZkError ? afterResend(first, o) : o);
      if (retry && this.clock.now() < deadline) return this.waitForLeader(leader, deadline, then, () => this.write(command, deadline, false, then));
      done(r);
    });
  }

  private proposeLocal(command: Command, deadline: number, done: Done<WriteOutcome>): void {
    if (this.admission.length > 0 || !this.tryPropose(command, deadline, done)) {
      // The core holds as many unchosen writes as it may: wait for room (backpressure)
      // rather than fail, up to a bound.
      if (this.admission.length >= ADMISSION_QUEUE_MAX) {
        return done(new ZkError(ErrorCode.OVERLOADED, `the leader has ${ADMISSION_QUEUE_MAX} writes waiting; back off and retry`));
      }
      this.admission.push({ command, deadline, done });
    }
  }

  /** Hand a write to the core; false if the core is full (busy). */
  private tryPropose(command: Command, deadline: number, done: Done<WriteOutcome>): boolean {
    command.timeMs = this.clock.wallNow();
    const bytes = encodeCommand(command);
    const r = this.core.propose([bytes]);
    if (!r.ok) {
      if (r.reason === "busy") return false;
      done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: r.leaderHint ?? undefined }));
      return true;
    }
    const slot = r.firstSlot;
    this.ports.schedule();
    const timer = this.after(deadline, () => {
      if (this.pendingWrites.delete(slot)) done(new ZkError(ErrorCode.TIMEOUT, `write not chosen within the deadline (slot ${slot}); it may still take effect`));
    });
    this.pendingWrites.set(slot, { command: bytes, done, timer });
    return true;
  }

  /** Move waiting writes into the core as chosen slots make room (or fail them if we stopped leading). */
  private admit(): void {
    while (this.admission.length > 0) {
      const w = this.admission[0]!;
      if (this.clock.now() >= w.deadline) {
        this.admission.shift();
        w.done(new ZkError(ErrorCode.TIMEOUT, "write waited for room at the leader past its deadline; it was not proposed", NOT_APPLIED));
        continue;
      }
      if (this.core.role !== "leader") {
        this.admission.shift();
        w.done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} stopped leading while the write waited for room; it was not proposed, retry`, NOT_APPLIED));
        continue;
      }
      if (!this.tryPropose(w.command, w.deadline, w.done)) return;
      this.admission.shift();
    }
  }

  // ---- Reads ---------------------------------------------------------------------------------

  /**
   * A linearizable read point: `done` with an index once this node has applied at least
   * everything chosen before the call (read-index, confirmed by a quorum through the leader).
   */
  readBarrier(deadline: number, forwarded: boolean, done: Done<number>): void {
    if (this.stopped) return done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`));
    // Frozen, it cannot learn what was chosen since; its local state is still served.
    if (this.diskAlarm) return done(this.cannotPersistError());
    const served: Done<number> = (r) => (r instanceof ZkError ? done(r) : this.appliedAtLeast(r, deadline, (a) => done(a instanceof ZkError ? a : r)));
    if (this.core.role === "leader") return this.readIndex(deadline, served);
    const leader = this.core.leaderId;
    if (forwarded) return done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined }));
    if (leader === null) return this.waitForLeader(null, deadline, done, () => this.readBarrier(deadline, false, done));
    this.forwardTo(leader, { kind: { $case: "readIndex", value: {} } }, deadline, (r) => {
      if (!(r instanceof ZkError)) {
        if (r.outcome?.$case !== "error") return served(r.zxid);
        r = ZkError.fromDetail(r.outcome.value);
      }
      if (r.code === ErrorCode.NOT_LEADER && this.clock.now() < deadline) return this.waitForLeader(leader, deadline, done, () => this.readBarrier(deadline, false, done));
      done(r);
    });
  }

  /** Leader: the commit index a quorum confirms this node still leads at (not yet applied). */
  private readIndex(deadline: number, done: Done<number>): void {
    if (this.stopped) return done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`));
    if (this.diskAlarm) return done(this.cannotPersistError());
    if (this.core.role !== "leader") {
      const leader = this.core.leaderId;
      return done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined }));
    }
    const ctx = this.nextReadCtx++;
    const timer = this.after(deadline, () => {
      if (this.pendingReads.delete(ctx)) done(new ZkError(ErrorCode.TIMEOUT, "read not confirmed by a quorum within the deadline"));
    });
    this.pendingReads.set(ctx, { done, timer });
    this.core.readIndex(ctx);
    this.ports.schedule();
  }

  /** `done` once the tree has applied `index` (TIMEOUT at the deadline). */
  appliedAtLeast(index: number, deadline: number, done: Done<void>): void {
    if (this.applied < index && this.applyBacklog.length > 0) this.applyChosen();
    if (this.applied >= index) return done(undefined);
    if (this.clock.now() >= deadline) return done(new ZkError(ErrorCode.TIMEOUT, `this node has not caught up to index ${index} within the deadline`));
    const wake = this.untilDeadline(deadline, () => done(new ZkError(ErrorCode.TIMEOUT, `this node has not caught up to index ${index} within the deadline`)));
    this.appliedWaiters.push({ index, wake: () => wake() && done(undefined) });
  }

  // ---- Sessions ------------------------------------------------------------------------------

  /** Open a session through the log; the id is drawn at random (48 bits). */
  openSession(ttlMs: number, deadline: number, done: Done<{ sessionId: number; ttlMs: number; zxid: number }>): void {
    const ttl = Math.min(SESSION_TTL_MAX_MS, Math.max(SESSION_TTL_MIN_MS, ttlMs || 10_000));
    const sessionId = 1 + this.rng.int(2 ** 24) * 2 ** 24 + this.rng.int(2 ** 24);
    this.write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "openSession", value: { sessionId, ttlMs: ttl } } }, deadline, false, (r) => done(r instanceof ZkError ? r : { sessionId, ttlMs: ttl, zxid: r.zxid }));
  }

  closeSession(sessionId: number, deadline: number, done: Done<number>): void {
    this.write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "closeSession", value: { sessionId } } }, deadline, false, (r) => done(r instanceof ZkError ? r : r.zxid));
  }

  /**
   * The sessions' clients are alive. The leader decides expiry, so a follower passes this on.
   * The leader acknowledges only after a read barrier: a quorum has confirmed, after the
   * keepalive arrived, that this node still leads (a deposed leader must not extend a
   * session the new leader is about to expire), and the tree has applied everything chosen
   * before, the election tail included (a new leader that has not yet applied the
   * open_session of a live session must not call it expired). Fails with SESSION_EXPIRED
   * only for a session the applied tree does not hold: expired or closed through the log,
   * or never opened.
   */
  keepalive(sessionIds: readonly number[], deadline: number, forwarded: boolean, done: Done<void>): void {
    if (this.core.role === "leader") {
      if (this.opts.plantedBugs?.expireOnElection) return this.keepaliveSettled(sessionIds, deadline, done);
      return this.readBarrier(deadline, true, (r) => (r instanceof ZkError ? done(r) : this.keepaliveSettled(sessionIds, deadline, done)));
    }
    const leader = this.core.leaderId;
    if (forwarded || leader === null) return done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leaderId: leader ?? undefined }));
    this.forwardTo(leader, { kind: { $case: "keepalive", value: { sessionIds: [...sessionIds] } } }, deadline, (r) => {
      if (r instanceof ZkError) return done(r);
      done(r.outcome?.$case === "error" ? ZkError.fromDetail(r.outcome.value) : undefined);
    });
  }

  /** After the barrier: wait out expiries in flight, then answer from the applied tree. */
  private keepaliveSettled(sessionIds: readonly number[], deadline: number, done: Done<void>): void {
    // An expiry proposed but not applied yet may still fail (leadership moves): wait for it.
    const expiring = sessionIds.find((id) => this.sessionsExpiring.has(id));
    if (expiring !== undefined) {
      const wake = this.untilDeadline(deadline, () => done(new ZkError(ErrorCode.UNAVAILABLE, `session ${expiring} is being expired; retry`)));
      this.sessionsExpiring.get(expiring)!.push(() => wake() && this.keepaliveSettled(sessionIds, deadline, done));
      return;
    }
    for (const id of sessionIds) {
      if (!this.tree.session(id)) return done(new ZkError(ErrorCode.SESSION_EXPIRED, `session ${id} has expired or was never opened; open a new one`));
    }
    if (this.core.role !== "leader") return done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} stopped leading; retry`, { leaderId: this.core.leaderId ?? undefined }));
    const now = this.clock.now();
    for (const id of sessionIds) this.sessionSeen.set(id, Math.max(now, this.sessionSeen.get(id) ?? 0));
    done(undefined);
  }

  /**
   * This node leads, and the machine has handled the event that made it leader in this ballot
   * (onRoleChange: every session a full TTL from the election). The core can lead before
   * that: it may win while a Ready's flush is in flight, and its event waits for the next Ready.
   */
  private leaderSettled(): boolean {
    const ev = this.lastEvent;
    return this.core.role === "leader" && ev?.role === "leader" && ballotEquals(ev.ballot, this.core.promisedBallot);
  }

  /**
   * Leader: propose the expiry of every session not seen within its TTL. Deadlines run on
   * the monotonic clock (a wall-clock step must not expire every session at once). If this
   * check ran much later than scheduled, the process could not run for a while (an
   * event-loop stall, SIGSTOP, a VM pause): the keepalives that arrived meanwhile are still
   * queued behind it, so every session gets a full TTL from now before any expires.
   */
  private expireSessions(now: number): void {
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
      const waiters: (() => void)[] = [];
      this.sessionsExpiring.set(s.id, waiters);
      this.write({ requestId: internalRequestKey(`expire-${s.id}`), timeMs: 0, nonce: 0, op: { $case: "expireSession", value: { sessionId: s.id } } }, now + EXPIRY_WRITE_MS, false, () => {
        if (this.sessionsExpiring.get(s.id) === waiters) this.sessionsExpiring.delete(s.id);
        for (const w of waiters) w();
      });
    }
    for (const id of this.sessionSeen.keys()) if (!live.has(id)) this.sessionSeen.delete(id);
  }

  // ---- Forwarding and waiting for a leader ----------------------------------------------------

  /** Forward to `leader`; `done` exactly once: its response, a link error, or TIMEOUT at the deadline. */
  private forwardTo(leader: NodeId, req: Omit<ForwardRequest, "id">, deadline: number, done: (r: ForwardResponse | ZkError) => void): void {
    const id = this.nextForwardId++;
    const end = (r: ForwardResponse | ZkError) => {
      this.forwards.delete(id);
      done(r);
    };
    const wake = this.untilDeadline(deadline, () => end(new ZkError(ErrorCode.TIMEOUT, `leader ${leader} did not answer within the deadline; the request may or may not have been applied`)));
    const settle = (r: ForwardResponse | ZkError) => {
      if (wake()) end(r);
    };
    this.forwards.set(id, { to: leader, fail: settle });
    this.ports.forward(leader, req, Math.max(1, deadline - this.clock.now()), settle);
  }

  /**
   * Call `retry` once a leader other than `not` is known (or this node leads); fail at the
   * deadline, or after a few election timeouts with no leader at all.
   */
  private waitForLeader(not: NodeId | null, deadline: number, done: Done<never>, retry: () => void): void {
    // The leader may have changed already (while the refused request was on the wire).
    const leader = this.core.leaderId;
    if (not !== null && leader !== null && (leader !== not || this.core.role === "leader")) return retry();
    const limit = not === null ? Math.min(deadline, this.clock.now() + LEADER_WAIT_TICKS_FACTOR * this.opts.electionTimeoutTicks * this.opts.tickMs) : deadline;
    const wake = this.untilDeadline(limit, () =>
      // With no leader to wait out (not === null), the request was never sent anywhere.
      done(not === null ? new ZkError(ErrorCode.UNAVAILABLE, "no leader: is a majority of the cluster up and connected?", { noLeader: true, outcome: Outcome.NOT_APPLIED }) : new ZkError(ErrorCode.UNAVAILABLE, "leadership is changing; retry")),
    );
    this.leaderWaiters.push({ not, wake: () => wake() && retry() });
  }

  private wakeLeaderWaiters(): void {
    const leader = this.core.leaderId;
    if (leader === null) return;
    const waiters = this.leaderWaiters;
    this.leaderWaiters = [];
    for (const w of waiters) {
      if (w.not === leader && this.core.role !== "leader") this.leaderWaiters.push(w);
      else w.wake();
    }
  }

  // ---- The write path's timeline (ports.trace) ---------------------------------------------

  /** ports.trace for each sampled slot from `first` to `last`. */
  private traceSlots(stage: TraceStage, first: number, last: number, peer: NodeId | null): void {
    const every = this.traceEvery;
    for (let s = Math.ceil(first / every) * every; s <= last; s += every) this.ports.trace!(stage, s, peer);
  }

  /** A peer's Accept (the slots it carries) or acceptance (the slots its match newly covers). */
  private traceReceived(m: Message): void {
    if (m.type === "accept" && m.commands.length > 0) this.traceSlots("accept-received", m.firstSlot, m.firstSlot + m.commands.length - 1, m.from);
    if (m.type !== "acceptReply" || !m.ok || this.core.role !== "leader") return;
    const before = this.tracedMatch.get(m.from);
    if (before !== undefined && m.match > before) this.traceSlots("reply-received", before + 1, m.match, m.from);
    // The first reply heard from a follower only sets where its slots begin (it may cover a
    // whole catch-up); a match that went back (a new ballot) starts over from it.
    if (before === undefined || m.match > before || m.match < before - this.traceEvery) this.tracedMatch.set(m.from, m.match);
  }

  // ---- The Ready loop ---------------------------------------------------------------------

  process(): void {
    if (this.stopped || this.diskAlarm || this.flushingCore === this.core) return;
    while (this.core.hasReady()) {
      const rd = this.core.ready();
      // 0. A leader's proposals (Accept) may leave before its own write: they claim nothing
      //    about this node's durable state, and the leader counts its own acceptance only
      //    once durable. Sending first overlaps the followers' fsync with ours.
      const proposals = rd.messages.filter((m) => m.type === "accept");
      if (this.notifiesAfterAnswers(rd, proposals)) {
        // They leave at the next turn, after this Ready's answers (see notifiesAfterAnswers);
        // not at all if the machine stopped or its core was replaced (they were that core's).
        const core = this.core;
        this.ports.defer(() => {
          if (!this.stopped && this.core === core) this.ports.send(proposals);
        });
      } else if (proposals.length > 0) {
        this.ports.send(proposals);
      }
      if (this.traceEvery > 0) {
        for (const m of proposals) if (m.type === "accept") this.traceSlots("accept-sent", m.firstSlot, m.firstSlot + m.commands.length - 1, m.to);
        if (this.core.role === "leader" && rd.committed.length > 0) this.traceSlots("chosen", rd.committed[0]!.slot, rd.committed[rd.committed.length - 1]!.slot, null);
      }
      // 1. Persist the acceptor state and apply what became chosen in ONE transaction: one
      //    fsync per Ready, durable before anything leaves this node.
      //    A Ready that only advances the chosen index and applies needs no fsync (mustSync).
      // Applying a configuration is fsynced too: a node that restarted knowing only an older
      // configuration could wait for ever for votes of members that were removed and stopped.
      const durable = mustSync(rd.hardState, rd.entries, this.store.persistedPromise) || rd.committed.some((e) => isConfigCommand(e.command));
      // With the fsync off the event loop (--fsync-off-loop), the transaction commits without
      // it, and steps 2-4 wait for the flush: meanwhile the event loop keeps receiving, and
      // what arrives goes into the next Ready (whose batch grows while this one syncs).
      const later = durable && this.fsyncOffLoop;
      // With the fsync inline, a leader's durable transaction waits one turn (ports.defer): the
      // Accepts sent above reach the socket only when the event loop turns, and a transaction
      // fsynced now would hold them back. Deferred, the followers' fsyncs overlap ours. (A Ready
      // that only applies has no fsync to overlap: its Accepts just carry the chosen index.)
      if (durable && !later && proposals.length > 0) {
        this.afterTurn(() => this.persistDeferred(rd));
        return;
      }
      const persisted = this.persist(rd, durable, later);
      if (persisted === null) return;
      const { outcomes } = persisted;
      if (later && this.pipelined(rd)) {
        // A leader's Ready whose only claim on its own disk is its acceptance of its entries:
        // the rest goes on at once and the next Ready may be cut; those entries count toward
        // quorums once their flush completes (core.persisted).
        const last = rd.entries[rd.entries.length - 1]!;
        this.finishReady(rd, proposals.length > 0, outcomes, false);
        this.flushLeaderEntries(last.ballot, last.slot);
        continue;
      }
      if (later && !this.opts.plantedBugs?.sendBeforeFlush) {
        const core = this.core;
        this.flushingCore = core;
        this.store.flush!((err) => {
          if (this.flushingCore === core) this.flushingCore = null;
          if (this.stopped) return;
          // A failed fsync stops the node even when a snapshot replaced the core meanwhile: the
          // disk may have dropped any of the writes before it, not only this Ready's.
          if (err !== null) {
            if (this.opts.plantedBugs?.sendOnFlushError && this.core === core) this.finishReady(rd, proposals.length > 0, outcomes);
            return this.flushFailed(err);
          }
          // The core was replaced meanwhile: this Ready is not the current one's.
          if (this.core !== core) return;
          this.finishReady(rd, proposals.length > 0, outcomes);
          // The next Ready (and the answers finishReady queued in batches) on the next turn.
          this.ports.schedule();
        });
        return;
      }
      this.finishReady(rd, proposals.length > 0, outcomes);
    }
  }

  /**
   * Whether a leader's Ready that only tells the followers of what became chosen (its Accepts
   * carry no entries: they are that notification) sends them one turn late, after the answers
   * this Ready settles. It writes nothing of its own and chose at most
   * NOTIFY_AFTER_ANSWERS_MAX entries (no configuration): one client's write, as with one
   * client. Sent first, the notifications wake both followers, whose applies took the cores
   * while the leader's answer waited to be written (docs/benchmarks.md, "Tenth session": put
   * ×1 +9-14%, p50 -8 to -11%). Under load a Ready chooses more, and goes as before: deferring
   * every such Ready cost put ×64 1-4%. A notification is knowledge, not a promise: late, it
   * only makes a follower apply later (it batches its applies anyway).
   */
  private notifiesAfterAnswers(rd: Ready, proposals: readonly Message[]): boolean {
    return (
      this.core.role === "leader" &&
      !this.opts.plantedBugs?.notifyBeforeAnswers &&
      proposals.length > 0 &&
      proposals.every((m) => m.type === "accept" && m.commands.length === 0) &&
      rd.entries.length === 0 &&
      rd.committed.length > 0 &&
      rd.committed.length <= NOTIFY_AFTER_ANSWERS_MAX &&
      !rd.committed.some((e) => isConfigCommand(e.command))
    );
  }

  /**
   * Run `fn` at the next turn (ports.defer), the Ready loop held meanwhile (flushingCore): not
   * at all if the machine stopped or its core was replaced by then (a snapshot installed, a
   * disk alarm): the Ready it would finish is not the current one's.
   */
  private afterTurn(fn: () => void): void {
    const core = this.core;
    this.flushingCore = core;
    this.ports.defer(() => {
      if (this.flushingCore === core) this.flushingCore = null;
      if (this.stopped || this.core !== core) return;
      fn();
    });
  }

  /**
   * A leader's Ready whose Accepts left at the last turn, persisted now. What became chosen is
   * applied and answered first, in a transaction without an fsync (those entries are durable
   * on a quorum already), and the new entries' fsynced transaction waits one turn more: the
   * answers, like the Accepts, reach their sockets only when the event loop turns, and would
   * otherwise wait for an fsync they do not need. In one fsynced transaction as before when the
   * Ready's hard state must be synced, or it chose a configuration (applying one is fsynced).
   */
  private persistDeferred(rd: Ready): void {
    const split = rd.committed.length > 0 && !mustSync(rd.hardState, [], this.store.persistedPromise) && !rd.committed.some((e) => isConfigCommand(e.command));
    if (!split) {
      const persisted = this.persist(rd, true, false);
      if (persisted === null) return;
      this.finishReady(rd, true, persisted.outcomes);
      this.ports.schedule();
      return;
    }
    // Its chosen index goes to disk before the new entries do: every slot it covers must be
    // in earlier transactions (an entry counts toward a quorum only after the Ready that
    // wrote it), or a crash between the two would leave a chosen slot with no entry.
    const lastChosen = rd.committed[rd.committed.length - 1]!.slot;
    invariant(rd.entries.length === 0 || lastChosen < rd.entries[0]!.slot, `${this.id} chose slot ${lastChosen} in the Ready that first writes slot ${rd.entries[0]?.slot}`);
    const applied = this.persist({ ...rd, entries: [] }, false, false);
    if (applied === null) return;
    if (applied.outcomes !== null) this.settle(applied.outcomes);
    if (this.admission.length > 0) this.admit();
    const rest: Ready = { ...rd, hardState: null, committed: [] };
    this.afterTurn(() => {
      const persisted = this.persist(rest, true, false);
      if (persisted === null) return;
      this.finishReady(rest, true, null);
      this.ports.schedule();
    });
  }

  /**
   * Step 1 of a Ready: its acceptor state and what became chosen, in one transaction (fsynced
   * when `durable`, unless `later`: then flush() makes it durable). Null when the disk refused
   * it: nothing of the Ready may leave or be answered (it rolled back), and the node is in a
   * disk alarm.
   */
  private persist(rd: Ready, durable: boolean, later: boolean): { outcomes: Applied[] | null } | null {
    const apply = this.entriesToApply(rd.committed);
    // Nothing to write (a Ready of messages only: a read's confirmation round, heartbeats): no transaction.
    if (rd.hardState === null && rd.entries.length === 0 && apply.length === 0) return { outcomes: null };
    // Only the chosen index moved (a follower told of it by the leader's notification, its
    // apply waiting for a batch): it waits for the next transaction, which writes it first.
    // The chosen index is knowledge, not a promise: a crash that loses it loses nothing the
    // node vouched for (it learns it again), and the applied index never passes the chosen
    // one on disk, since every transaction that applies writes it too. One commit per write
    // less on a follower.
    if (rd.entries.length === 0 && apply.length === 0 && !durable) {
      this.unsavedHardState = rd.hardState;
      return { outcomes: null };
    }
    // With the tree in memory, applying alone writes nothing to the store (the tree and its
    // watch history reach it at checkpoints; a restart replays the log after the last one):
    // no transaction, and the chosen index waits for the next one, as above.
    if (this.memTables !== null && rd.entries.length === 0 && !durable) {
      if (rd.hardState !== null) this.unsavedHardState = rd.hardState;
      return { outcomes: this.applyCommitted(apply) };
    }
    let outcomes: Applied[] | null;
    try {
      outcomes = this.applyTransaction(() => {
        this.saveAcceptorState(rd.hardState, rd.entries);
        return apply.length > 0 ? this.applyCommitted(apply) : null;
      }, { durable, later });
    } catch (e) {
      if (!isWriteError(e)) throw e;
      // Rolled back: the core is reloaded from the store (enterDiskAlarm), the backlog with it.
      this.enterDiskAlarm(e);
      return null;
    }
    // Members of a configuration we now hold must be reachable (a candidate asks its voters).
    for (const e of rd.entries) if (isConfigCommand(e.command)) this.learnAddresses(decodeConfig(e.command));
    if (this.traceEvery > 0 && rd.entries.length > 0) this.traceSlots("written", rd.entries[0]!.slot, rd.entries[rd.entries.length - 1]!.slot, null);
    return { outcomes };
  }

  /**
   * Whether a Ready committed `later` may go on before its flush: the node leads, and nothing
   * in it rests on this node's disk but its acceptance of its own entries, which the core
   * counts only after persisted(). Not a promise, a vote or a follower's acceptance; not a
   * role change (its event rests on a promise); not a configuration (applying one is fsynced).
   * (With the planted bug send-before-flush every Ready takes that bug's path instead.)
   */
  private pipelined(rd: Ready): boolean {
    return (
      this.core.role === "leader" &&
      !this.opts.plantedBugs?.sendBeforeFlush &&
      rd.entries.length > 0 &&
      rd.events.length === 0 &&
      rd.messages.every((m) => m.type === "accept") &&
      !mustSync(rd.hardState, [], this.store.persistedPromise) &&
      !rd.entries.some((e) => isConfigCommand(e.command)) &&
      !rd.committed.some((e) => isConfigCommand(e.command))
    );
  }

  /**
   * Flush what a pipelined Ready committed; then its entries up to `slot` count (under
   * `ballot`). One flush at a time: what is committed meanwhile waits for the next one, which
   * covers all of it (group commit).
   */
  private flushLeaderEntries(ballot: Ballot, slot: number): void {
    if (this.leaderFlushing) {
      this.leaderFlushWanted = { ballot, slot };
      return;
    }
    this.leaderFlushing = true;
    const core = this.core;
    this.store.flush!((err) => {
      this.leaderFlushing = false;
      if (this.stopped) return;
      if (err !== null) return this.flushFailed(err);
      // A core replaced meanwhile (a snapshot installed) holds none of these entries.
      if (this.core === core) core.persisted(ballot, slot);
      const next = this.leaderFlushWanted;
      this.leaderFlushWanted = null;
      if (next !== null) this.flushLeaderEntries(next.ballot, next.slot);
      this.ports.schedule();
    });
  }

  /** Steps 2-4 of a Ready whose writes are durable; then the core may cut the next one. */
  private finishReady(rd: Ready, proposalsSent: boolean, outcomes: Applied[] | null, entriesDurable = true): void {
    // 2. Send the rest: promises and acceptances only now that they are durable.
    this.ports.send(proposalsSent ? rd.messages.filter((m) => m.type !== "accept") : rd.messages);
    if (this.traceEvery > 0 && this.core.role !== "leader" && rd.entries.length > 0) {
      this.traceSlots("acknowledged", rd.entries[0]!.slot, rd.entries[rd.entries.length - 1]!.slot, this.core.leaderId);
    }
    // 3. Answer the writes and reads that are now settled; chosen slots make room for more.
    if (outcomes !== null) this.settle(outcomes);
    if (this.admission.length > 0) this.admit();
    // 4. Reads confirmed by a quorum; elections.
    for (const rs of rd.readStates) {
      const r = this.pendingReads.get(rs.ctx);
      if (!r) continue;
      this.pendingReads.delete(rs.ctx);
      r.timer.fire = null;
      r.done(rs.index);
    }
    for (const ev of rd.events) this.onRoleChange(ev);
    for (const peer of rd.snapshotsNeeded) this.startTransfer(peer);
    this.core.advance(entriesDurable);
    this.afterApplied();
  }

  /** A snapshot point or a compaction of the core's log that applying has made due. */
  private afterApplied(): void {
    // Inside a Ready (a read it confirmed applied the backlog to answer, in finishReady) the
    // core has not counted that Ready's entries as handed out: it refuses to discard or compact
    // up to them. finishReady calls this again after advance().
    if (this.core.readyOutstanding && !this.opts.plantedBugs?.snapshotPointMidReady) return;
    if (this.applied >= this.nextSnapshotAt) this.markSnapshotPoint();
    else if (this.memTables !== null && this.memApplied - this.store.applied() >= CHECKPOINT_ENTRIES) this.checkpoint({ durable: false });
    if (this.pendingCompaction) {
      this.pendingCompaction = false;
      this.core.compact(this.applied - this.logMemorySlots);
    }
  }

  /**
   * The fsync of a Ready failed: what it wrote may not be on the disk, though SQLite (and the
   * page cache) still show it, so neither this process nor a core reloaded from the file may
   * claim it. As etcd and ZooKeeper do, the node stops; none of the Ready's promises,
   * acceptances or answers left it (its leader's Accepts may have). A restart on the same file
   * would read it back from the page cache, so the way back is a rebuilt store (--rejoin).
   */
  private flushFailed(err: Error): void {
    this.log.error({ code: writeErrorCode(err), err: oneLine(err) }, `${this.id}: ${oneLine(err)}; stopping: the disk may have lost what this node acknowledged, so its store cannot be trusted. Fix the disk, move ${this.store.path} and its -wal and -shm files aside, then restart this node with --rejoin`);
    this.stop();
    this.ports.fatal?.(err);
  }

  /**
   * Inside a transaction, first: `hardState` (else the one waiting, unsavedHardState) and
   * `entries`. Whatever applies in the same transaction then never records an applied index
   * past the chosen one on disk (the core asserts applied <= chosen when loaded from a store).
   * A rolled-back transaction reloads the core (enterDiskAlarm), which drops what waited.
   */
  private saveAcceptorState(hardState: HardState | null, entries: readonly Entry[]): void {
    const hs = hardState ?? this.unsavedHardState;
    if (hs !== null || entries.length > 0) this.store.save(hs, entries);
    this.unsavedHardState = null;
  }

  /**
   * A store transaction that may apply entries. With the tree in memory, a transaction that
   * fails (a write error at any point, its commit included) also takes back what it applied
   * to the maps, as SQLite's rollback takes back the tree's tables: the node then holds
   * exactly what its store says it holds, and applies those entries again later.
   */
  private applyTransaction<T>(fn: () => T, opts: { durable: boolean; later: boolean }): T {
    const mem = this.memTables;
    if (mem === null || this.opts.plantedBugs?.treeNotUndone) return this.store.transaction(fn, opts);
    const before = this.memApplied;
    const heldBefore = this.watchLog.heldCount;
    this.checkpointInTransaction = null;
    let out: T;
    try {
      out = mem.undoable(() => this.store.transaction(fn, opts));
    } catch (e) {
      this.memApplied = before;
      this.watchLog.dropHeldAfter(heldBefore);
      this.checkpointInTransaction = null;
      throw e;
    }
    // (Set by applyCommitted inside fn: TypeScript cannot see that.)
    const ckpt = this.checkpointInTransaction as CheckpointWritten | null;
    this.checkpointInTransaction = null;
    if (ckpt !== null) this.checkpointCommitted(mem, ckpt);
    return out;
  }

  /** Apply chosen entries to the tree and record the applied index; inside the Ready's transaction. */
  private applyCommitted(entries: readonly Entry[]): Applied[] {
    // In slot order from the store's applied index on, with no gap (the backlog included).
    const after = this.memTables === null ? this.store.applied() : this.memApplied;
    invariant(entries[0]!.slot === after + 1, `${this.id} would apply slot ${entries[0]!.slot} after ${after}`);
    const outcomes: Applied[] = [];
    applyEntries(this.tree, this.watchLog, entries, this.opts.plantedBugs?.ignoreRequestIds, (e, outcome) => {
      if (isConfigCommand(e.command)) this.membershipNow = { slot: e.slot, config: decodeConfig(e.command) };
      outcomes.push({ slot: e.slot, command: e.command, outcome });
      this.ports.appliedEntry?.(e.slot);
    });
    // The maps' applied slot is set here and taken back with them if the transaction fails
    // (applyTransaction); the store's moves only at checkpoints.
    const last = entries[entries.length - 1]!.slot;
    if (this.memTables === null) {
      this.store.setApplied(last);
    } else {
      this.memApplied = last;
      // A configuration's meta row is written as it applies: the tree goes with it, so that the
      // store never holds a configuration newer than its applied index (a restart, a snapshot).
      if (entries.some((e) => isConfigCommand(e.command))) this.checkpointInTransaction = this.writeCheckpoint(this.memTables);
    }
    return outcomes;
  }

  /**
   * What a Ready applies: the backlog and its own chosen entries, in slot order; or nothing,
   * when a follower may wait for a bigger batch (FOLLOWER_APPLY_BATCH), and they join the backlog.
   */
  private entriesToApply(committed: readonly Entry[]): readonly Entry[] {
    const mayWait =
      this.core.role === "follower" &&
      this.applyBacklog.length + committed.length < FOLLOWER_APPLY_BATCH &&
      this.appliedWaiters.length === 0 &&
      this.pendingChange === null &&
      !committed.some((e) => isConfigCommand(e.command));
    if (!mayWait && this.applyBacklog.length === 0) return committed;
    for (const e of committed) this.applyBacklog.push(e);
    if (mayWait) return [];
    const all = this.applyBacklog;
    this.applyBacklog = [];
    return all;
  }

  /**
   * A follower's backlog, applied now in a transaction of its own (no fsync: the entries are
   * in the log), unless a Ready is in flight: then the next Ready applies it. At ticks, before
   * a read waits on the applied index, and before a watch starts from it (WatchHub): a watch
   * started here must not begin behind writes already acknowledged.
   */
  applyChosen(): void {
    if (this.applyBacklog.length === 0 || this.stopped || this.diskAlarm || this.flushingCore !== null) return;
    const entries = this.applyBacklog;
    this.applyBacklog = [];
    let outcomes: Applied[];
    try {
      // With the tree in memory, no transaction: see persist().
      outcomes = this.memTables !== null ? this.applyCommitted(entries) : this.applyTransaction(() => {
        if (this.opts.plantedBugs?.applyPastChosen) this.unsavedHardState = null;
        else this.saveAcceptorState(null, []);
        return this.applyCommitted(entries);
      }, { durable: false, later: false });
    } catch (e) {
      if (!isWriteError(e)) throw e;
      this.enterDiskAlarm(e);
      return;
    }
    this.settle(outcomes);
    this.afterApplied();
  }

  /** After the transaction: publish watch events, answer writes waiting on these slots, wake reads. */
  private settle(outcomes: Applied[]): void {
    if (this.traceEvery > 0) this.traceSlots("applied", outcomes[0]!.slot, outcomes[outcomes.length - 1]!.slot, null);
    this.applied = outcomes[outcomes.length - 1]!.slot;
    if (this.applied - this.core.compactedIndex >= 2 * this.logMemorySlots) this.pendingCompaction = true;
    this.ports.applied(outcomes);
    const change = this.pendingChange;
    if (change !== null && change.slot <= this.applied) {
      this.pendingChange = null;
      const chosen = outcomes.find((o) => o.slot === change.slot);
      if (chosen === undefined || commandsEqual(chosen.command, change.command)) change.done({ config: this.membershipNow.config, slot: change.slot });
      else change.done(new ZkError(ErrorCode.UNAVAILABLE, "leadership changed before the membership change was chosen; it was not applied, retry", NOT_APPLIED));
    }
    if (outcomes.some((o) => isConfigCommand(o.command))) this.membershipApplied();
    for (const { slot, command, outcome } of outcomes) {
      const p = this.pendingWrites.get(slot);
      if (!p) continue;
      this.pendingWrites.delete(slot);
      p.timer.fire = null;
      if (!commandsEqual(p.command, command)) {
        // Another leader's value took this slot: ours was never chosen anywhere, so a retry is safe.
        p.done(new ZkError(ErrorCode.UNAVAILABLE, "leadership changed before the write was chosen; it was not applied, retry", NOT_APPLIED));
      } else if (outcome === null) {
        p.done(new ZkError(ErrorCode.INTERNAL, `slot ${slot} applied as a no-op`));
      } else if ("error" in outcome) {
        p.done(ZkError.fromDetail(outcome.error));
      } else {
        // A deduplicated retry reports where the write really happened.
        p.done({ zxid: outcome.firstZxid ?? slot, result: outcome.result });
      }
    }
    if (this.appliedWaiters.length > 0) {
      const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
      for (const w of ready) w.wake();
    }
  }

  private onRoleChange(ev: RoleChangeEvent): void {
    const stamped = { ...ev, unixMs: this.clock.wallNow() };
    const previousLeader = this.lastEvent?.leader ?? null;
    this.lastEvent = stamped;
    this.log.info({ role: ev.role, ballot: `${ev.ballot.round}.${ev.ballot.nodeId || "-"}`, leader: ev.leader, reason: ev.reason }, `became ${ev.role}`);
    this.ports.election(stamped);
    if (ev.role === "leader") {
      // A new leader gives every session a full TTL from now: clients had no one to renew with.
      if (!this.opts.plantedBugs?.expireOnElection) this.sessionSeen.clear();
      this.lastSessionCheckMs = null;
    } else {
      // Writes we proposed and did not see chosen: only a later leader's log decides them, and
      // it may fill their slots with other writes, or not for a long time (an idle cluster).
      // Waiting for that would hold each one until its deadline (and a pipelining client's
      // whole window behind it). As ZooKeeper's deposed leader does, answer now: unknown.
      const chosen = this.core.chosen;
      for (const [slot, p] of [...this.pendingWrites]) {
        if (slot <= chosen) continue; // chosen, applied in a Ready to come: its answer is known soon
        this.pendingWrites.delete(slot);
        p.timer.fire = null;
        const outcome = this.opts.plantedBugs?.deposedNotApplied ? Outcome.NOT_APPLIED : Outcome.UNKNOWN;
        p.done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} stopped leading before slot ${slot} was chosen; the write may or may not have been applied`, { leaderId: ev.leader ?? undefined, outcome }));
      }
      // Reads waiting on our leadership cannot be confirmed any more.
      for (const r of this.pendingReads.values()) {
        r.timer.fire = null;
        r.done(new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} stopped leading`, { leaderId: ev.leader ?? undefined }));
      }
      this.pendingReads.clear();
    }
    if (previousLeader !== null && previousLeader !== ev.leader && previousLeader !== this.id) {
      // Requests forwarded to a leader we no longer follow fail now instead of at their deadline.
      const why = `leader ${previousLeader} was replaced; the write may or may not have been applied`;
      for (const f of [...this.forwards.values()]) if (f.to === previousLeader) f.fail(new ZkError(ErrorCode.UNAVAILABLE, why));
      this.ports.cancelForwards(previousLeader, why);
    }
    if (ev.leader !== null) this.wakeLeaderWaiters();
    const t = this.pendingTransfer;
    if (t !== null && ev.role !== "leader" && ev.leader !== null && ev.leader !== this.id) {
      this.pendingTransfer = null;
      t.done({ leaderId: ev.leader, ballot: ev.ballot, elapsedMs: Math.round(this.clock.now() - t.startedMs) });
    }
    if (ev.role !== "leader" && this.pendingChange !== null) {
      // Its slot may still be chosen by the next leader: whoever waits learns the outcome by asking again.
      const c = this.pendingChange;
      this.pendingChange = null;
      c.done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} stopped leading before the membership change was applied; it may or may not take effect: check with zk-cli member list`, { leaderId: ev.leader ?? undefined }));
    }
  }

  // ---- Membership -------------------------------------------------------------------------------

  /** The configuration at the applied index, and a change proposed and not yet chosen. */
  membership(): { config: ClusterConfig; slot: number; inFlight: { slot: number; config: ClusterConfig } | null } {
    return { config: this.membershipNow.config, slot: this.membershipNow.slot, inFlight: this.core.configInFlight };
  }

  /** Leader only: how far behind each other member is (empty on other nodes). */
  memberProgress(): Map<NodeId, MemberProgress> {
    const out = new Map<NodeId, MemberProgress>();
    if (this.core.role !== "leader") return out;
    const now = this.clock.now();
    const members = new Set(this.core.config.members.map((m) => m.id));
    for (const m of this.core.configInFlight?.config.members ?? []) members.add(m.id);
    for (const [id, pr] of this.core.followerProgress()) {
      if (!members.has(id)) continue; // removed, and being told so
      const heard = this.lastHeard.get(id);
      const msSinceHeard = heard === undefined ? null : Math.round(now - heard);
      const lag = Math.max(0, this.core.lastLogSlot - pr.match);
      // match > 0: it answered in this leadership (a new leader knows nothing of anyone's log yet);
      // voter: it is not recovering from a lost disk.
      const caughtUp = pr.match > 0 && pr.voter && lag <= this.promoteLagSlots && msSinceHeard !== null && msSinceHeard <= PROMOTE_HEARD_MS;
      out.set(id, { lag, caughtUp, msSinceHeard, recovering: !pr.voter });
    }
    return out;
  }

  /**
   * Change the membership by one configuration command (the leader only; others answer
   * NOT_LEADER). `add` without `learner` adds a learner, waits until it is caught up, then
   * promotes it: a member that cannot catch up (unreachable, too slow) stays a learner and
   * never becomes a voter. Removing the leader hands leadership to another voter first and
   * answers NOT_LEADER naming it, so the caller asks there.
   */
  changeMembership(change: MembershipChange, deadline: number, done: Done<{ config: ClusterConfig; slot: number; leaderId: NodeId | null }>, unknownUntil?: number): void {
    const finish: Done<{ config: ClusterConfig; slot: number }> = (r) => done(r instanceof ZkError ? r : { ...r, leaderId: this.core.leaderId });
    if (this.stopped) return done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`));
    if (this.diskAlarm) return done(this.cannotPersistError());
    if (this.core.role !== "leader") return done(this.notLeader());
    const cur = this.core.config;
    const member = cur.members.find((m) => m.id === change.id);
    const conflict = (msg: string) => done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, msg));
    const bad = (msg: string) => done(new ZkError(ErrorCode.INVALID_ARGUMENT, msg));
    let next: ClusterConfig;
    if (change.kind === "add") {
      if (!MEMBER_ID.test(change.id)) return bad(`member id ${JSON.stringify(change.id)} is not valid: use letters, digits, '_', '.' or '-' (at most 64), e.g. n4`);
      if (!/^[^\s:]+:\d{1,5}$/.test(change.address) || Number(change.address.slice(change.address.lastIndexOf(":") + 1)) > 65535) return bad(`address ${JSON.stringify(change.address)} is not HOST:PORT`);
      if (member) return conflict(`${change.id} is already a member (${member.voter ? "voter" : "learner"} at ${member.address})`);
      if (cur.removed.includes(change.id)) return conflict(`${change.id} was a member before and ids are never reused; add the new machine under a new id`);
      const owner = cur.members.find((m) => m.address === change.address);
      if (owner) return conflict(`address ${change.address} is ${owner.id}'s; remove ${owner.id} first, or give the new member another port`);
      next = { ...cur, members: [...cur.members, { id: change.id, address: change.address, voter: false }], change: `add ${change.id} (learner)` };
      if (!change.learner) return this.proposeChange(next, deadline, (r) => (r instanceof ZkError ? done(r) : this.promoteWhenCaughtUp(change.id, deadline, finish)));
    } else if (change.kind === "promote") {
      if (!member) return bad(`${change.id} is not a member; zk-cli member list shows the members`);
      if (member.voter) return conflict(`${change.id} is already a voter`);
      const p = this.memberProgress().get(change.id);
      if (!p?.caughtUp) return conflict(`${change.id} is not caught up (${p === undefined || p.msSinceHeard === null ? "not heard from" : `${p.lag} slots behind, at most ${this.promoteLagSlots}; last heard ${p.msSinceHeard} ms ago`}); it stays a learner: check that it runs and is reachable at ${member.address}, then retry`);
      next = { ...cur, members: cur.members.map((m) => (m.id === change.id ? { ...m, voter: true } : m)), change: `promote ${change.id}` };
    } else {
      if (!member) return bad(`${change.id} is not a member; zk-cli member list shows the members`);
      const voters = cur.members.filter((m) => m.voter && m.id !== change.id).map((m) => m.id);
      if (member.voter && voters.length === 0) return conflict(`${change.id} is the only voter; add and promote another member before removing it`);
      if (member.voter && !change.force) {
        const progress = this.memberProgress();
        // Live: answered this leader within PROMOTE_HEARD_MS and votes (a voter that is down, cut off or recovering does not).
        const live = voters.filter((id) => {
          const p = progress.get(id);
          return id === this.id || (p !== undefined && !p.recovering && p.msSinceHeard !== null && p.msSinceHeard <= PROMOTE_HEARD_MS);
        });
        const need = Math.floor(voters.length / 2) + 1;
        // A recovering voter (rebuilt after a lost disk) votes again only once a leader has caught
        // it up: forcing the removal could leave a configuration that can never elect one.
        const rebuilding = voters.filter((id) => progress.get(id)?.recovering === true);
        const advice = rebuilding.length > 0 ? `wait until ${rebuilding.join(",")} (recovering after a lost disk) has caught up; --force now could leave no quorum for good` : "bring the others back first (or wait for this leader to hear from them), or use --force";
        if (live.length < need) {
          // A voter this leader has not heard from since it took over (a removed leader hands
          // over first, so that is the usual case) is not known to be down: ask again each
          // tick for up to PROMOTE_HEARD_MS before refusing.
          const until = unknownUntil ?? this.clock.now() + PROMOTE_HEARD_MS;
          const unknown = voters.some((id) => id !== this.id && progress.get(id)?.msSinceHeard === null);
          const next = this.clock.now() + this.opts.tickMs;
          if (unknown && next < Math.min(deadline, until)) {
            this.after(next, () => this.changeMembership(change, deadline, done, until));
            return;
          }
          return conflict(`removing ${change.id} would leave voters ${voters.join(",")} of which only ${live.join(",") || "none"} ${live.length === 1 ? "is" : "are"} live; a quorum needs ${need}: ${advice}`);
        }
      }
      if (change.id === this.id) return this.transferThenRefer(voters, deadline, done);
      next = { ...cur, members: cur.members.filter((m) => m.id !== change.id), removed: [...cur.removed, change.id], change: `remove ${change.id}` };
    }
    this.proposeChange(next, deadline, finish);
  }

  private proposeChange(next: ClusterConfig, deadline: number, done: Done<{ config: ClusterConfig; slot: number }>): void {
    if (this.pendingChange !== null || this.core.configInFlight !== null) return done(this.inFlight());
    const cfg: ClusterConfig = { ...next, version: this.core.config.version + 1 };
    const command = encodeConfig(cfg, this.opts.nonceBase + this.nextRequestId++);
    const r = this.core.proposeConfig(command);
    if (!r.ok) return done(r.reason === "not-leader" ? this.notLeader() : r.reason === "in-flight" ? this.inFlight() : new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, "a leader transfer is in progress; retry once it is done"));
    this.log.info({ version: cfg.version, slot: r.slot, change: cfg.change, members: describeConfig(cfg) }, "proposing a membership change");
    const wake = this.untilDeadline(deadline, () => {
      if (this.pendingChange?.slot === r.slot) this.pendingChange = null;
      done(new ZkError(ErrorCode.TIMEOUT, `membership change v${cfg.version} (${cfg.change}) not applied within the deadline; it may still take effect: check with zk-cli member list`));
    });
    this.pendingChange = { slot: r.slot, command, done: (res) => wake() && done(res) };
    this.ports.schedule();
  }

  /** Poll (every tick, until the deadline) for a learner to catch up, then promote it. */
  private promoteWhenCaughtUp(id: NodeId, deadline: number, done: Done<{ config: ClusterConfig; slot: number }>): void {
    const attempt = () => {
      if (this.core.role !== "leader") return done(this.notLeader());
      const p = this.memberProgress().get(id);
      if (p?.caughtUp) return this.changeMembership({ kind: "promote", id }, deadline, (r) => done(r));
      if (this.clock.now() + this.opts.tickMs >= deadline) {
        return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `${id} was added as a learner but has not caught up (${p === undefined || p.msSinceHeard === null ? "not heard from" : `${p.lag} slots behind`}); it stays a learner: check that it runs and is reachable, then zk-cli member promote ${id}`));
      }
      this.after(this.clock.now() + this.opts.tickMs, attempt);
    };
    attempt();
  }

  /** The leader is asked to remove itself: hand leadership to the most caught-up live voter first. */
  private transferThenRefer(voters: readonly NodeId[], deadline: number, done: Done<never>): void {
    const progress = this.memberProgress();
    const best = voters.filter((id) => progress.get(id)?.caughtUp).sort((a, b) => progress.get(a)!.lag - progress.get(b)!.lag)[0];
    if (best === undefined) return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `${this.id} leads and no other voter is caught up to take over; bring one back, then retry`));
    this.transferLeadership(best, deadline, (r) => {
      if (r instanceof ZkError) return done(r);
      done(new ZkError(ErrorCode.NOT_LEADER, `${this.id} handed leadership to ${r.leaderId} before being removed; ask ${r.leaderId}`, { leaderId: r.leaderId, leaderHint: this.addressBook.get(r.leaderId) }));
    });
  }

  /** Hand leadership to voter `to`; `done` once this node follows another leader. */
  transferLeadership(to: NodeId, deadline: number, done: Done<{ leaderId: NodeId; ballot: Ballot; elapsedMs: number }>): void {
    if (this.stopped) return done(new ZkError(ErrorCode.UNAVAILABLE, `node ${this.id} is shutting down`));
    if (this.core.role !== "leader") return done(this.notLeader());
    if (to === this.id) return done({ leaderId: this.id, ballot: this.core.promisedBallot, elapsedMs: 0 });
    const m = this.core.config.members.find((x) => x.id === to);
    if (!m) return done(new ZkError(ErrorCode.INVALID_ARGUMENT, `${to} is not a member; zk-cli member list shows the members`));
    if (!m.voter) return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `${to} is a learner; promote it first (zk-cli member promote ${to})`));
    if (this.pendingTransfer !== null) return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `a transfer to ${this.pendingTransfer.to} is in progress`));
    const p = this.memberProgress().get(to);
    if (!p?.caughtUp) return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `${to} is not caught up (${p === undefined || p.msSinceHeard === null ? "not heard from" : `${p.lag} slots behind`}); check that it runs, then retry`));
    const r = this.core.transferLeadership(to);
    if (!r.ok) return done(new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `cannot transfer leadership to ${to}: ${r.reason}`));
    this.log.info({ to }, "transferring leadership");
    const wake = this.untilDeadline(deadline, () => {
      if (this.pendingTransfer?.to === to) this.pendingTransfer = null;
      done(new ZkError(ErrorCode.TIMEOUT, `leadership did not move to ${to} within the deadline`));
    });
    this.pendingTransfer = { to, startedMs: this.clock.now(), done: (res) => wake() && done(res) };
    this.ports.schedule();
  }

  private notLeader(): ZkError {
    const leader = this.core.leaderId;
    return new ZkError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader${leader ? `; ${leader} is` : ""}`, { leaderId: leader ?? undefined, leaderHint: leader ? this.addressBook.get(leader) : undefined });
  }

  private inFlight(): ZkError {
    const f = this.core.configInFlight;
    const what = f ? `v${f.config.version} (${f.config.change}) at slot ${f.slot}` : "proposed here";
    return new ZkError(ErrorCode.MEMBERSHIP_CONFLICT, `membership change ${what} is in flight; retry once it is applied`);
  }

  /** A configuration was applied (or installed with a snapshot): the address book follows it. */
  private membershipApplied(): void {
    const cfg = this.membershipNow.config;
    this.log.info({ version: cfg.version, slot: this.membershipNow.slot, change: cfg.change, members: describeConfig(cfg) }, "configuration applied");
    this.ports.configApplied?.(cfg, this.membershipNow.slot);
    // Removed members stay in the address book: the leader tells them of their removal.
    this.learnAddresses(cfg);
  }

  /** Add a configuration's members to the address book (the links follow when it changed). */
  private learnAddresses(cfg: ClusterConfig): void {
    let changed = false;
    for (const m of cfg.members) {
      if (this.addressBook.get(m.id) === m.address) continue;
      this.addressBook.set(m.id, m.address);
      changed = true;
    }
    if (changed) this.ports.peers?.(this.addressBook);
  }

  // ---- Snapshots and log compaction -----------------------------------------------------------

  private snapshotPointAfter(index: number): number {
    return index + this.snapshotEntries + this.rng.int(Math.max(1, Math.floor(this.snapshotEntries / 10)));
  }

  /**
   * Mark a snapshot point at the applied index: the core stops reading entries below the
   * retained tail, then the store deletes them step by step. A snapshot transfer in flight
   * holds the log where it was when the transfer began: its snapshot is at least there, so
   * the follower can go on from the log once it installed it.
   */
  private markSnapshotPoint(): void {
    const point = this.applied;
    this.nextSnapshotAt = this.snapshotPointAfter(point);
    // The log below a snapshot point may go only once the tree is on disk at that point.
    // (Without it the store refuses the snapshot point: it is past the store's applied index.)
    if (this.memTables !== null && !this.checkpoint({ durable: false })) return;
    let firstKept = point - this.retainEntries + 1;
    for (const slot of this.transfers.values()) firstKept = Math.min(firstKept, slot + 1);
    if (firstKept - 1 <= this.core.logStart - 1) return;
    this.core.discardLog(firstKept - 1);
    try {
      this.store.markSnapshot(point, point - firstKept + 1);
    } catch (e) {
      if (!isWriteError(e)) throw e;
      this.log.warn({ err: oneLine(e) }, "cannot record a snapshot point; compaction waits for the next one");
      return;
    }
    this.log.info({ snapshotIndex: point, firstEntrySlot: firstKept }, "snapshot point: compacting the log");
    this.compacting = true;
  }

  /**
   * With the tree in memory: write the rows changed since the last checkpoint into the store's
   * tables and record the applied index, in one transaction. The store then holds the tree as
   * of that index (what a restart loads, a snapshot streams and inspect reads), and the log
   * after it replays the rest. False when the disk refused it (the rows stay marked for the
   * next one). True, and nothing written, with the tree in the store's tables.
   *
   * `durable: false` (the checkpoints of the running loop) commits without an fsync: the
   * next durable commit, which the log's next write makes, syncs it too (WAL order), and a
   * power cut before that loses a suffix of commits, this one included, never part of one; the
   * store is then at its last checkpoint with the log after it, whose compaction (a snapshot
   * point's) comes later in the same order. The fsync is 2.5-3 of a checkpoint's 4.5 ms
   * commit in a process alone.
   */
  checkpoint(opts: { durable: boolean } = { durable: true }): boolean {
    const mem = this.memTables;
    if (mem === null) return true;
    // Halted (a failed fsync): the store cannot be trusted, and nothing more goes into it.
    if (this.diskAlarm || this.stopped) return false;
    let written: CheckpointWritten;
    try {
      written = this.store.transaction(() => {
        this.saveAcceptorState(null, []);
        return this.writeCheckpoint(mem);
      }, { durable: opts.durable, later: false });
    } catch (e) {
      if (!isWriteError(e)) throw e;
      this.log.warn({ err: oneLine(e), slot: this.memApplied }, "cannot write the tree's checkpoint; the log is kept until the next one");
      return false;
    }
    this.checkpointCommitted(mem, written);
    this.log.info(written, "tree checkpoint written");
    return true;
  }

  /**
   * Inside a store transaction, after the acceptor state: the rows changed since the last
   * checkpoint, the watch batches held since, and the maps' applied slot as the store's.
   */
  private writeCheckpoint(mem: MemTreeTables): CheckpointWritten {
    // The store refuses to load an applied index past its chosen one (the core asserts
    // applied <= chosen): saveAcceptorState, first in the transaction, must have written it.
    invariant(this.memApplied <= this.store.persistedChosen, `${this.id}'s checkpoint would record applied index ${this.memApplied} past the chosen index ${this.store.persistedChosen} on disk`);
    const rows = mem.writeCheckpoint(this.store.db).rows;
    const watchBatches = this.watchLog.writeHeld();
    this.store.setApplied(this.memApplied);
    return { slot: this.memApplied, rows, watchBatches };
  }

  /** The transaction that wrote `w` committed: those changes are on disk. */
  private checkpointCommitted(mem: MemTreeTables, w: CheckpointWritten): void {
    mem.checkpointed();
    this.watchLog.heldWritten(w.watchBatches);
  }

  private compactStep(): void {
    try {
      if (this.store.compactStep().done) this.compacting = false;
    } catch (e) {
      if (!isWriteError(e)) throw e;
      // The entries stay; they are only read no more. The next snapshot point tries again.
      this.compacting = false;
      this.log.warn({ err: oneLine(e) }, "log compaction paused: the disk does not take writes");
    }
  }

  private startTransfer(peer: NodeId): void {
    if (this.transfers.has(peer)) return;
    const minSlot = this.core.logStart - 1;
    this.transfers.set(peer, minSlot);
    this.log.info({ to: peer, minSlot }, "follower is behind the log start: sending it a snapshot");
    let settled = false;
    this.ports.sendSnapshot(peer, minSlot, (ok) => {
      if (settled || this.stopped) return;
      settled = true;
      this.transfers.delete(peer);
      if (ok) {
        this.core.snapshotSent(peer);
      } else {
        this.log.warn({ to: peer }, `snapshot transfer failed; retrying in ${SNAPSHOT_RETRY_MS} ms`);
        this.after(this.clock.now() + SNAPSHOT_RETRY_MS, () => this.core.snapshotSent(peer));
      }
      this.ports.schedule();
    });
  }

  /**
   * The shell (or the simulator) installed a snapshot into the store, in one transaction: the
   * state machine, the applied and chosen index and the log's start moved together. The core
   * is rebuilt from the store, as at a restart, so it never acted on a half-installed state.
   */
  snapshotInstalled(): void {
    if (this.stopped) return;
    if (this.memTables !== null) {
      // The store's tables now hold the snapshot's tree: the maps become it.
      this.memTables.reload(this.store.db);
      this.memApplied = this.store.applied();
    }
    this.watchLog.noteRecorded();
    this.reloadCore();
    this.membershipApplied();
    this.nextSnapshotAt = this.snapshotPointAfter(this.applied);
    this.compacting = false;
    this.log.info({ applied: this.applied }, "installed a snapshot");
    this.ports.installed?.(this.applied);
    const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
    for (const w of ready) w.wake();
    this.ports.schedule();
  }

  // ---- Alarms and the disk ------------------------------------------------------------------

  /** The node's alarms, one line each: the disk's first, then recent peer refusals. */
  get alarms(): string[] {
    const now = this.clock.now();
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
    this.alarmsSeen.set(key, { message, atMs: this.clock.now() });
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

  private cannotPersistError(): ZkError {
    return new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm!.message}; use another node meanwhile`);
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
    this.failEverything(
      new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm.message}; the write was not acknowledged and may or may not take effect`),
      new ZkError(ErrorCode.CANNOT_PERSIST, `${this.diskAlarm.message}; read not confirmed`),
    );
    this.pendingCompaction = false;
    this.lastDiskProbeMs = this.clock.now();
    this.reloadCore();
  }

  /**
   * A new core with what the store holds (after a snapshot install or a rolled-back Ready):
   * it hands out again everything chosen after the store's applied index, so the follower's
   * apply backlog goes (those entries are in the store's state or come again).
   */
  private reloadCore(): void {
    // The maps stay as they are (a failed transaction took back its own applies): the new
    // core hands out what was chosen after them.
    this.applied = this.memTables === null ? this.store.applied() : this.memApplied;
    this.membershipNow = readMembership(this.store.db) ?? this.membershipNow;
    if (!this.opts.plantedBugs?.keepApplyBacklog) this.applyBacklog = [];
    // The new core starts from the store's chosen index; a newer one not written yet is dropped
    // with the old core (the new one learns it again, and its hard state must not go back).
    this.unsavedHardState = null;
    this.coreNow = this.loadCore().core;
  }

  private probeDisk(now: number): void {
    this.lastDiskProbeMs = now;
    try {
      this.store.probeWrite();
    } catch (e) {
      if (!isWriteError(e)) throw e;
      return;
    }
    this.log.warn({ code: this.diskAlarm!.code }, `${this.id}: the disk takes writes again at ${this.store.path}; resuming`);
    this.diskAlarm = null;
    this.ports.schedule();
  }
}

/** Apply one chosen entry (a no-op when empty) to the tree. */
function applyEntry(tree: ZnodeTree, watchLog: WatchLog, slot: number, command: Uint8Array, ignoreRequestIds: boolean): ApplyOutcome | null {
  if (isNoop(command)) return null;
  if (isConfigCommand(command)) {
    // The membership lives in the store's meta rows, beside the watch history.
    writeMembership(watchLog.db, slot, decodeConfig(command));
    return null;
  }
  const cmd = decodeCommand(command);
  if (ignoreRequestIds) cmd.requestId = "";
  return tree.apply(slot, cmd);
}

/**
 * Apply chosen entries in slot order, inside the caller's transaction, and record their watch
 * events as one row of the history (WatchLog.record). `each` sees every entry's outcome.
 */
export function applyEntries(
  tree: ZnodeTree,
  watchLog: WatchLog,
  entries: readonly Pick<Entry, "slot" | "command">[],
  ignoreRequestIds = false,
  each?: (entry: Pick<Entry, "slot" | "command">, outcome: ApplyOutcome | null) => void,
): void {
  const events: WatchEvent[] = [];
  for (const e of entries) {
    const outcome = applyEntry(tree, watchLog, e.slot, e.command, ignoreRequestIds);
    if (outcome !== null) for (const ev of outcome.events) events.push(ev);
    each?.(e, outcome);
  }
  watchLog.record(events);
}

function timerBefore(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** SQLite's and the OS's codes for a write the disk did not take (full, failing, read-only). */
function writeErrorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}

export function isWriteError(e: unknown): boolean {
  const code = writeErrorCode(e);
  return code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_READONLY") || code === "ENOSPC" || code === "EIO" || code === "EROFS" || code === "EDQUOT";
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
}
