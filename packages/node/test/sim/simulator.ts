// A deterministic whole-cluster simulator. Every node is the real node state machine
// (src/machine.ts: the Paxos core, the znode tree on SQLite, sessions and their expiry,
// pending writes and reads, deduplication, forwarding), run on a simulated disk (replica.ts)
// and a simulated clock, in one process. The network, the disks, the clocks, the clients and
// every fault are driven by one seeded PRNG, so a seed replays a failure exactly. The checker
// watches every step for the safety properties of consensus, of the tree and of sessions and
// locks; after the faults stop the cluster must make progress (liveness).
import { pino } from "pino";
import { InvariantError, SeededRng, commandsEqual, formatBallot, isConfigCommand, type Command, type Message, type NodeId } from "../../src/paxos/index.js";
import { MemAcceptorStore } from "../../src/storage/mem-store.js";
import { ErrorCode, Outcome, type Command as ZkCommand, type CommandResult } from "../../src/gen/zk/v1/types.js";
import type { ForwardRequest, ForwardResponse } from "../../src/gen/zk/v1/peer.js";
import { decodeCommand, memTreeHash } from "../../src/tree/index.js";
import { ZkError } from "../../src/net/errors.js";
import { NodeMachine, type Applied, type ElectionEvent, type MachineOptions } from "../../src/machine.js";
import { HistoryRecorder, checkHistory, type ZnodeOp, type ZnodeResult } from "./linearizability.js";
import { PowerCut, SimDisk, type SimSnapshot } from "./replica.js";
import { UNKNOWN_CONFIG, initialConfig, decodeConfig, describeConfig, quorums, type ClusterConfig } from "../../src/paxos/config.js";
import { writeMembership } from "../../src/membership.js";

export type PlantedBug = "forget-promise" | "skip-recovery" | "local-read" | "wiped-votes" | "stale-read-round" | "double-apply" | "expire-on-election" | "send-before-flush" | "expire-before-election-event" | "send-on-flush-error" | "keep-apply-backlog" | "lock-ignores-suspension" | "apply-past-chosen" | "deposed-not-applied" | "tree-not-undone" | "snapshot-point-mid-ready";

/**
 * Deliberate bugs the simulator must catch. All but the last are in the node (store, core,
 * machine); lock-ignores-suspension is in the client: a lock holder that keeps going while
 * its session is suspended (zk-cli lock --on-suspend ignore with a long critical section).
 */
export const PLANTED_BUGS: readonly PlantedBug[] = ["forget-promise", "skip-recovery", "local-read", "wiped-votes", "stale-read-round", "double-apply", "expire-on-election", "send-before-flush", "expire-before-election-event", "send-on-flush-error", "keep-apply-backlog", "lock-ignores-suspension", "apply-past-chosen", "deposed-not-applied", "tree-not-undone", "snapshot-point-mid-ready"];

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Ticks with faults injected. */
  readonly faultTicks?: number;
  /** Ticks after the faults stop within which a leader must exist and every proposal be chosen. */
  readonly healTicks?: number;
  readonly bug?: PlantedBug;
  /** "random" (default) draws faults from the seed; "demo" is a calm run whose leader crashes once. */
  readonly faults?: "random" | "demo";
  /** Receives a readable trace line per notable event. */
  readonly trace?: (line: string) => void;
  /**
   * Change the membership while the faults run: add members (learners or voters), promote
   * learners, remove members (the leader too), transfer leadership; removed nodes stop a
   * while later. Off by default, so that the seeds of the other tests replay as they did.
   */
  readonly membership?: boolean;
  /**
   * Processes are killed too (kill -9), as often as the power is cut and on a stream of their
   * own: a killed node keeps every commit, those without an fsync too (SQLite's NORMAL commits
   * are in the page cache), so the states between a Ready's two transactions survive. Off by
   * default, so that the seeds of the other tests replay as they did.
   */
  readonly kills?: boolean;
  /**
   * Every node keeps its tree in memory (zk-node --tree-in-memory): the store's tables get
   * it only at checkpoints, and a restart replays the log after the last one.
   */
  readonly treeInMemory?: boolean;
}

export interface Violation {
  readonly seed: number;
  readonly tick: number;
  readonly kind: "safety" | "liveness" | "assertion";
  readonly message: string;
}

export interface SimResult {
  readonly seed: number;
  readonly ticks: number;
  readonly steps: number;
  readonly elections: number;
  readonly chosen: number;
  readonly proposals: number;
  readonly acknowledged: number;
  readonly crashes: number;
  readonly messagesDelivered: number;
  readonly readsServed: number;
  readonly sessionsOpened: number;
  readonly sessionsExpired: number;
  readonly locksHeld: number;
  readonly snapshotsInstalled: number;
  /** Store transactions committed, on every node together. */
  readonly commits: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** How many times each checked property was checked (and held, unless `violation`). */
  readonly checks: Readonly<Record<CheckKind, number>>;
  readonly violation: Violation | null;
}

export type CheckKind =
  | "one-value-per-slot"
  | "one-leader-per-ballot"
  | "linearizable-read"
  | "applied-in-order"
  | "acked-in-every-log"
  | "rebuilt-node-recovered"
  /** Every replica's tree hash agrees at the same applied index (every HASH_EVERY_SLOTS). */
  | "same-tree-at-same-index"
  /** No request id is executed twice on a replica (deduplication). */
  | "applied-exactly-once"
  | "not-applied-is-true"
  /** Keys whose client history was checked linearizable (Wing-Gong search). */
  | "linearizable-key-history"
  /** Keys whose history search ran out of its step budget (neither proven nor refuted). */
  | "linearizable-key-history-undecided"
  /** A session whose keepalives reached the leader within its TTL was not expired. */
  | "live-session-not-expired"
  /** A client told SESSION_EXPIRED: the log really expired or closed that session. */
  | "expired-only-through-log"
  /** A client starting to hold the lock: no other client believed it held it. */
  | "lock-held-by-one"
  /** A recovering node refused a local read (its tree is partial). */
  | "recovering-refuses-local-read"
  /** An installed snapshot: the follower's tree hashes as the sender's did at that slot. */
  | "snapshot-installed-intact"
  /** A membership change was applied, and every member that applied it agrees on it (one value per slot). */
  | "membership-change-applied"
  /** A slot a killed process had applied without reporting it (its Ready waited for a flush), found applied on restart. */
  | "applied-kept-by-kill";

export type FaultKind =
  | "loss"
  | "duplicate"
  | "reorder"
  | "symmetric-partition"
  | "asymmetric-partition"
  | "leader-isolation"
  | "crash-restart"
  | "crash-before-persist"
  /** A node's disk is lost: it restarts on an empty store (rebuilt, recovering). */
  | "wipe"
  /** A node stops running for a while (GC pause, SIGSTOP); messages to it queue up. */
  | "stall"
  /** The disk takes no writes for a while (full): the node goes into its disk alarm. */
  | "disk-full"
  /** With treeInMemory: a transaction's commit fails after its writes (and applies) ran. */
  | "disk-full-at-commit"
  /** A message delayed past the election timeout. */
  | "long-delay"
  /** A node whose clock runs fast or slow (its ticks are not in lock-step). */
  | "clock-drift"
  /** A node whose wall clock is off by up to seconds (command times, ctime/mtime). */
  | "clock-skew"
  /** A snapshot transfer that breaks (its sender or receiver gone, or cut off) before it completes. */
  | "snapshot-transfer-broken"
  /** Membership changes asked of a node (with `membership`): each kind, applied or refused. */
  | "member-add"
  | "member-promote"
  | "member-remove"
  | "leader-transfer"
  /** A removed member's process stops (it may run on for a while first). */
  | "member-retired"
  /** The power goes while a follower installs a snapshot (half the tables replaced). */
  | "crash-mid-install"
  /** The power goes while a Ready's fsync is in flight (committed, not yet durable, nothing of it sent). */
  | "crash-before-flush"
  /** The power goes after a leader's Accepts left and before its own transaction (the inline fsync's deferred turn). */
  | "crash-after-accepts"
  /**
   * A node's process is killed (kill -9) instead of losing its power (with `kills`): at a
   * crash-restart's rate, before a deferred turn (between the two transactions of a leader's
   * split Ready, among others) and while a flush is in flight. Every commit survives, those
   * without an fsync too.
   */
  | "process-kill"
  /**
   * A Ready's fsync fails (EIO): the node stops, having sent none of that Ready's promises,
   * acceptances or answers, and the operator does what its log line says: moves the store aside
   * and restarts the node with --rejoin (a rebuilt, recovering store).
   */
  | "fsync-error";

/** Simulated milliseconds per tick of the global clock. */
const TICK_MS = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
/** More members than any run has (the initial ones and those added): each gets its own nonce range. */
const NONCE_NODES_MAX = 16;
/** How long the operator waits for the staying voters to apply a removal before stopping the removed node anyway (zk-cli cluster remove-node: 10 s). */
const REMOVAL_SETTLE_TICKS = 10_000 / TICK_MS;
/** Applied slots between comparisons of the replicas' tree hashes. */
const HASH_EVERY_SLOTS = 64;
const READY_ROUNDS_MAX = 1000;
/** Machine calls one seed may make; a livelock fails the seed instead of hanging the run. */
const STEPS_PER_SEED_MAX = 200_000;
/** Search steps per key's history: a few seeds' histories (long-retried writes) cost more. */
const LIN_CHECK_STEPS_PER_KEY_MAX = 50_000;
/** Ticks a stall lasts at most: beyond the longest election timeout; some are longer than a session check gap. */
const STALL_TICKS_MAX = 45;
const LONG_STALL_TICKS_MAX = 150;
/** A long delay is at least this (above the longest election timeout) and at most twice it. */
const LONG_DELAY_TICKS_MIN = 25;
/** Applied entries a simulated core keeps in memory (small, so the store-read path is exercised). */
const LOG_MEMORY_SLOTS = 16;
/** Log compaction, small so that snapshots are taken, and installed, in every seed. */
const SNAPSHOT_ENTRIES = 40;
const RETAIN_ENTRIES = 8;
/** A snapshot transfer takes this many ticks at least, and up to twice as many. */
const TRANSFER_TICKS_MIN = 5;
/** A client's deadline per attempt, in ms; then it retries elsewhere (with the same request id). */
const ATTEMPT_MS = 600;
/** Clocks run at 0.7x to 1.3x the global clock. */
const DRIFT_MAX = 1.3;
/** Wall clocks are off by up to this many ms either way. */
const SKEW_MS_MAX = 3000;
/** Session clients: their TTL, keepalive period, and when they call themselves suspended. */
const SESSION_TTL_MS = 1000;
const KEEPALIVE_EVERY_MS = 150;
const SUSPEND_AFTER_MS = SESSION_TTL_MS / 3;
const LOCK_DIR = "/lock";

class Violated extends Error {
  constructor(
    readonly kind: Violation["kind"],
    message: string,
  ) {
    super(message);
  }
}

interface SimNode {
  readonly id: NodeId;
  mem: MemAcceptorStore;
  disk: SimDisk;
  machine: NodeMachine | null;
  /** Process starts, to tell a node's leaderships apart across restarts. */
  incarnation: number;
  /** The store's incarnation (0, or the tick of the rebuild that created it). */
  storeIncarnation: number;
  /** The tick of the last wipe (0: never). */
  wipedAt: number;
  restartAt: number;
  /** The node runs no tick, message or Ready before this tick (a stall). */
  stalledUntil: number;
  /** Writes fail as disk full before this tick. */
  diskFullUntil: number;
  /** Ticks per simulated tick (clock drift), and the fraction owed. */
  readonly rate: number;
  tickDebt: number;
  /** Its monotonic clock (ms) and how far its wall clock is off. */
  clockMs: number;
  readonly skewMs: number;
  /** The chosen log as applied, slot by slot. */
  applied: Command[];
  /** Request id -> the slot where it was executed (not deduplicated), for the exactly-once check. */
  executed: Map<string, number>;
  /** Added by a membership change (its store starts with no configuration). */
  readonly joined: boolean;
  /** Removed from the cluster: its process stops at this tick (0: not removed), and never restarts. */
  retireAt: number;
  /** The slot of the configuration that removed it (0: not removed). */
  retireSlot: number;
  retired: boolean;
  /** Its machine reported a fatal error (ports.fatal: a failed fsync) since the simulator last looked. */
  fatal: boolean;
}

/** A client write: retried (same request id) on another node until it has an answer. */
interface Proposal {
  readonly id: number;
  readonly command: ZkCommand;
  readonly key: string;
  readonly op: ZnodeOp;
  readonly historyId: number;
  state: "queued" | "inflight" | "acked";
  attempt: number;
  since: number;
  ackedSlot: number;
}

type Packet =
  | { readonly kind: "paxos"; readonly m: Message }
  | { readonly kind: "forward"; readonly from: NodeId; readonly to: NodeId; readonly fromIncarnation: number; readonly req: ForwardRequest; readonly done: (r: ForwardResponse | ZkError) => void }
  | { readonly kind: "reply"; readonly from: NodeId; readonly to: NodeId; readonly toIncarnation: number; readonly res: ForwardResponse; readonly done: (r: ForwardResponse | ZkError) => void };

interface InFlight {
  readonly p: Packet;
  readonly at: number;
}

/** A snapshot on its way from a leader to a follower (the shell streams it in chunks). */
interface Transfer {
  readonly from: NodeId;
  readonly fromIncarnation: number;
  readonly to: NodeId;
  readonly snap: SimSnapshot;
  /** The sender's executions up to the snapshot's slot (for the exactly-once check). */
  readonly executed: ReadonlyMap<string, number>;
  readonly at: number;
  readonly done: (ok: boolean) => void;
}

/** A session a simulated client opened. */
interface SimSession {
  readonly id: number;
  readonly client: SessionClient;
  /** When (global ms) the last keepalive that was acknowledged was sent (the open, at first). */
  lastAckedSend: number;
}

/** A client with a session that keeps it alive and runs the lock recipe. */
interface SessionClient {
  readonly name: string;
  state: "none" | "opening" | "live";
  session: SimSession | null;
  nextKeepalive: number;
  keepaliveInFlight: boolean;
  keepaliveAttempt: number;
  keepaliveDeadline: number;
  opInFlight: boolean;
  opDeadline: number;
  lock: "none" | "creating" | "waiting" | "holding" | "releasing";
  lockRid: string;
  lockPath: string;
  /** Global ms: belief in holding the lock since, and until when it holds it. */
  holdingSince: number;
  holdUntil: number;
  nextLockStep: number;
  attempt: number;
  nextRid: number;
  reopenAt: number;
}

const quietLog = pino({ level: "silent" });

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: SeededRng;
  private readonly nodes: SimNode[] = [];
  private readonly ids: NodeId[];
  private readonly faultTicks: number;
  private readonly healTicks: number;
  private readonly trace: ((line: string) => void) | undefined;

  // Fault parameters, drawn per seed.
  private readonly lossRate: number;
  private readonly dupRate: number;
  private readonly delayMaxTicks: number;
  private readonly crashRate: number;
  private readonly persistCrashRate: number;
  private readonly partitionRate: number;
  private readonly wipeRate: number;
  private readonly stallRate: number;
  private readonly diskFullRate: number;
  private readonly commitFullRng: SeededRng;
  private readonly longDelayRate: number;
  private blocked = new Set<string>(); // "from>to"

  private network: InFlight[] = [];
  private transfers: Transfer[] = [];
  /** Fsyncs in flight (SimDisk.flush), each completing at its tick unless its node went down first. */
  private syncs: { n: SimNode; incarnation: number; at: number; done: (err: Error | null) => void }[] = [];
  /** Work a machine put off to its next turn (ports.defer: a leader's transaction behind its Accepts). */
  private deferred: { n: SimNode; incarnation: number; at: number; fn: () => void }[] = [];
  /** When deferred work runs: its own PRNG, so the other streams stay as without it. */
  private readonly turnRng: SeededRng;
  /** Whether a crash kills the process rather than the power: its own PRNG, so the other streams stay as without it. */
  private readonly killRng: SeededRng;
  private snapshotsInstalled = 0;
  private commits = 0;
  private now = 0;
  private steps = 0;
  private delivered = 0;
  private elections = 0;
  private crashes = 0;
  private readonly faults: Record<FaultKind, number> = {
    loss: 0,
    duplicate: 0,
    reorder: 0,
    "symmetric-partition": 0,
    "asymmetric-partition": 0,
    "leader-isolation": 0,
    "crash-restart": 0,
    "crash-before-persist": 0,
    wipe: 0,
    stall: 0,
    "disk-full": 0,
    "disk-full-at-commit": 0,
    "long-delay": 0,
    "clock-drift": 0,
    "clock-skew": 0,
    "snapshot-transfer-broken": 0,
    "crash-mid-install": 0,
    "crash-before-flush": 0,
    "crash-after-accepts": 0,
    "process-kill": 0,
    "fsync-error": 0,
    "member-add": 0,
    "member-promote": 0,
    "member-remove": 0,
    "leader-transfer": 0,
    "member-retired": 0,
  };
  private readonly checks: Record<CheckKind, number> = {
    "one-value-per-slot": 0,
    "one-leader-per-ballot": 0,
    "linearizable-read": 0,
    "applied-in-order": 0,
    "acked-in-every-log": 0,
    "rebuilt-node-recovered": 0,
    "same-tree-at-same-index": 0,
    "applied-exactly-once": 0,
    "not-applied-is-true": 0,
    "linearizable-key-history": 0,
    "linearizable-key-history-undecided": 0,
    "live-session-not-expired": 0,
    "expired-only-through-log": 0,
    "lock-held-by-one": 0,
    "recovering-refuses-local-read": 0,
    "snapshot-installed-intact": 0,
    "membership-change-applied": 0,
    "applied-kept-by-kill": 0,
  };

  // What the checker knows.
  private readonly chosenLog = new Map<number, Command>();
  private readonly leaderOfBallot = new Map<string, string>(); // ballot -> node#incarnation
  private readonly proposals: Proposal[] = [];
  /** Write attempts a node answered OUTCOME_NOT_APPLIED ("requestId#nonce"), and who was told so when. */
  private readonly notApplied = new Map<string, string>();
  private nextProposalId = 1;
  private readonly history = new HistoryRecorder();
  /** The first replica's tree hash at each checked slot. */
  private readonly hashAt = new Map<number, string>();
  private readsServed = 0;
  private maxAckedSlot = 0;
  private readonly clients: SessionClient[] = [];
  private readonly sessions = new Map<number, SimSession>();
  /** Sessions the log expired or closed, with the global ms it first happened. */
  private readonly sessionsGone = new Map<number, number>();
  private sessionsOpened = 0;
  private sessionsExpired = 0;
  private locksHeld = 0;
  /** Membership changes: their own PRNG (the other streams stay as without them), and the next new id. */
  private readonly memberRng: SeededRng;
  private nextNodeNumber: number;
  private memberOpUntil = 0;
  /** The newest configuration any node applied (the cluster's), and no wipe before this tick (a change may be in flight). */
  private configLatest: { slot: number; config: ClusterConfig } | null = null;
  private noWipeUntil = 0;

  constructor(private readonly opts: SimOptions) {
    this.rng = new SeededRng(opts.seed * 2654435761 + 1);
    this.faultTicks = opts.faultTicks ?? 600;
    this.healTicks = opts.healTicks ?? 400;
    this.trace = opts.trace;
    this.ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.memberRng = new SeededRng(opts.seed * 40503 + 7);
    this.turnRng = new SeededRng(opts.seed * 69069 + 3);
    this.killRng = new SeededRng(opts.seed * 1103515245 + 12345);
    this.commitFullRng = new SeededRng(opts.seed * 22695477 + 1);
    this.nextNodeNumber = opts.nodes + 1;
    const calm = opts.faults === "demo";
    this.lossRate = calm ? 0 : this.rng.next() * 0.2;
    this.dupRate = calm ? 0 : this.rng.next() * 0.1;
    this.delayMaxTicks = calm ? 0 : 1 + this.rng.int(4);
    this.crashRate = calm ? 0 : this.rng.next() * 0.01;
    this.persistCrashRate = calm ? 0 : this.rng.next() * 0.003;
    this.partitionRate = calm ? 0 : this.rng.next() * 0.02;
    this.wipeRate = calm ? 0 : this.rng.next() * 0.004;
    this.stallRate = calm ? 0 : this.rng.next() * 0.006;
    this.diskFullRate = calm ? 0 : this.rng.next() * 0.004;
    this.longDelayRate = calm ? 0 : this.rng.next() * 0.01;
    for (const id of this.ids) this.addNode(id, false);
    const lockClients = calm ? 0 : 2 + this.rng.int(2);
    for (let i = 0; i < lockClients; i++) this.clients.push(newSessionClient(`c${i + 1}`));
  }

  /** A node and its disk, started: one of the cluster's first members, or a joiner (empty configuration). */
  private addNode(id: NodeId, joined: boolean): SimNode {
    const calm = this.opts.faults === "demo";
    const rng = joined ? this.memberRng : this.rng;
    {
      // A third of the seeds run every clock at its own rate, 0.7x to 1.3x; a third skew wall clocks.
      const drifting = !calm && rng.chance(1 / 3);
      const rate = drifting ? 2 - DRIFT_MAX + rng.next() * 2 * (DRIFT_MAX - 1) : 1;
      if (drifting) this.faults["clock-drift"]++;
      const skewed = !calm && rng.chance(1 / 3);
      const skewMs = skewed ? Math.round((rng.next() * 2 - 1) * SKEW_MS_MAX) : 0;
      if (skewed) this.faults["clock-skew"]++;
      const mem = this.newStore(false);
      const node: SimNode = {
        id,
        mem,
        disk: null as unknown as SimDisk,
        machine: null,
        incarnation: 0,
        storeIncarnation: 0,
        wipedAt: 0,
        restartAt: 0,
        stalledUntil: 0,
        diskFullUntil: 0,
        rate,
        tickDebt: 0,
        clockMs: 1000 * (1 + rng.int(1000)),
        skewMs,
        applied: [],
        executed: new Map(),
        joined,
        retireAt: 0,
        retireSlot: 0,
        retired: false,
        fatal: false,
      };
      node.disk = this.newDisk(node, mem, 0);
      this.nodes.push(node);
      if (this.nodes.length > NONCE_NODES_MAX) throw new Error(`zk: sim bug: more than ${NONCE_NODES_MAX} members share nonce ranges`);
      this.start(node);
      return node;
    }
  }

  /** The global clock in ms (clients run on it). */
  private get ms(): number {
    return this.now * TICK_MS;
  }

  run(): SimResult {
    let violation: Violation | null = null;
    try {
      const end = this.faultTicks + this.healTicks;
      for (this.now = 1; this.now <= end; this.now++) {
        const faulty = this.now <= this.faultTicks;
        if (this.now === this.faultTicks + 1) this.heal();
        if (faulty) this.injectFaults();
        this.restartDue();
        const clientsActive = faulty || this.now < this.faultTicks + this.healTicks / 2;
        this.sessionClients(clientsActive);
        if (clientsActive) this.clientWork();
        if (faulty && this.opts.membership) this.membershipWork();
        // A write keeps being retried until it has an answer, also once new work has stopped.
        for (const p of this.proposals) if (p.state === "queued") this.tryPropose(p);
        this.retryStuck();
        for (const n of this.nodes) {
          n.clockMs += n.rate * TICK_MS;
          if (!n.machine || this.stalled(n)) continue;
          n.tickDebt += n.rate;
          for (; n.tickDebt >= 1 && n.machine; n.tickDebt--) this.call(n, (m) => m.tick());
        }
        this.deliver();
        this.completeTransfers();
        this.drainReadies();
        if (!faulty && this.converged()) break;
      }
      this.checkLiveness();
      this.checkHistories();
    } catch (e) {
      if (e instanceof Violated) violation = { seed: this.opts.seed, tick: this.now, kind: e.kind, message: e.message };
      else throw e;
    }
    if (violation) this.log(`VIOLATION (${violation.kind}) at tick ${violation.tick}: ${violation.message}`);
    return {
      seed: this.opts.seed,
      ticks: this.now,
      steps: this.steps,
      elections: this.elections,
      chosen: this.chosenLog.size,
      proposals: this.proposals.length,
      acknowledged: this.proposals.filter((p) => p.state === "acked").length,
      crashes: this.crashes,
      messagesDelivered: this.delivered,
      readsServed: this.readsServed,
      sessionsOpened: this.sessionsOpened,
      sessionsExpired: this.sessionsExpired,
      locksHeld: this.locksHeld,
      snapshotsInstalled: this.snapshotsInstalled,
      commits: this.commits,
      faults: { ...this.faults },
      checks: { ...this.checks },
      violation,
    };
  }

  // ---- Nodes -------------------------------------------------------------------------------

  private start(n: SimNode): void {
    n.incarnation++;
    // A killed process kept all it committed, applies it had not reported yet among them (a
    // Ready waiting for its flush): those slots are applied, as its tables say.
    const kept: Applied[] = [];
    for (let s = n.applied.length + 1; s <= n.mem.applied(); s++) {
      const command = n.mem.entry(s)?.command ?? this.chosenLog.get(s);
      if (command === undefined) throw new Violated("safety", `${n.id} restarts applied to ${n.mem.applied()} with slot ${s} neither in its log nor chosen anywhere`);
      kept.push({ slot: s, command, outcome: null });
    }
    if (kept.length > 0) {
      this.checks["applied-kept-by-kill"] += kept.length;
      this.onApplied(n, kept);
      // Their outcomes are unknown, so a retry answered from the dedup table cannot be told
      // from a first application: a request id not seen on this node counts as executed here.
      for (const { slot, command } of kept) {
        if (command.length === 0 || isConfigCommand(command)) continue;
        const rid = decodeCommand(command).requestId;
        if (rid !== "" && !n.executed.has(rid)) n.executed.set(rid, slot);
      }
    }
    n.applied = n.applied.slice(0, n.mem.applied());
    // The tree is in the store's file: what the crash took from the applied index, it took
    // from the tree too.
    this.guard(n, () => n.disk.rollBackTo(n.applied.length, n.disk.tablesApplied, n.applied));
    n.executed = new Map([...n.executed].filter(([, s]) => s <= n.applied.length));
    n.disk.tablesApplied = n.applied.length;
    const opts: MachineOptions = {
      id: n.id,
      clusterId: "sim",
      members: [...new Set([...this.ids, ...this.nodes.map((x) => x.id)])].map((id) => ({ id, address: `${id}:1` })),
      tickMs: TICK_MS,
      electionTimeoutTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      dataBytesMax: 1024,
      seed: this.rng.int(2 ** 31),
      // Unique across nodes too (a node's own counter never repeats): the not-applied check
      // tells write attempts apart by request id and nonce.
      nonceBase: (n.incarnation * NONCE_NODES_MAX + this.nodes.indexOf(n)) * 2 ** 32,
      logMemorySlots: LOG_MEMORY_SLOTS,
      promoteLagSlots: 8,
      // Even seeds: the fsync off the event loop (--fsync-off-loop; flushes complete later, may
      // fail). Odd seeds: the default, each durable Ready fsynced inside its commit. Not drawn
      // from the seed's random stream, so that stream is the same for both.
      fsyncOffLoop: this.opts.seed % 2 === 0,
      treeInMemory: this.opts.treeInMemory === true,
      snapshotEntries: SNAPSHOT_ENTRIES,
      retainEntries: RETAIN_ENTRIES,
      core: {
        batchEntriesMax: 8,
        inflightBatchesMax: 3,
        plantedBugs: { skipPhase1Recovery: this.opts.bug === "skip-recovery", localReads: this.opts.bug === "local-read", staleReadRound: this.opts.bug === "stale-read-round" },
      },
      plantedBugs: { ignoreRequestIds: this.opts.bug === "double-apply", expireOnElection: this.opts.bug === "expire-on-election", sendBeforeFlush: this.opts.bug === "send-before-flush", expireBeforeElectionEvent: this.opts.bug === "expire-before-election-event", sendOnFlushError: this.opts.bug === "send-on-flush-error", keepApplyBacklog: this.opts.bug === "keep-apply-backlog", applyPastChosen: this.opts.bug === "apply-past-chosen", deposedNotApplied: this.opts.bug === "deposed-not-applied", treeNotUndone: this.opts.bug === "tree-not-undone", snapshotPointMidReady: this.opts.bug === "snapshot-point-mid-ready" },
    };
    const incarnation = n.incarnation;
    const live = () => n.machine !== null && n.incarnation === incarnation;
    n.machine = this.guard(n, () =>
      new NodeMachine(opts, n.disk, {
        clock: { now: () => n.clockMs, wallNow: () => Math.floor(1_700_000_000_000 + n.clockMs + n.skewMs) },
        log: quietLog,
        send: (messages) => {
          if (live()) for (const m of messages) this.send({ kind: "paxos", m }, m.from, m.to);
        },
        forward: (to, req, _timeoutMs, done) => {
          if (live()) this.send({ kind: "forward", from: n.id, to, fromIncarnation: incarnation, req: { id: 0, ...req } as ForwardRequest, done }, n.id, to);
        },
        cancelForwards: () => undefined,
        schedule: () => undefined,
        defer: (fn) => {
          // Mostly within the tick; sometimes messages, ticks and requests arrive first (the
          // real event loop polls for I/O between the turns).
          if (live()) this.deferred.push({ n, incarnation, at: this.now + (this.turnRng.chance(0.7) ? 0 : 1), fn });
        },
        fatal: () => {
          if (live()) n.fatal = true;
        },
        election: (ev) => live() && this.onElection(n, ev),
        applied: (outcomes) => live() && this.onApplied(n, outcomes),
        appliedEntry: (slot) => live() && this.onAppliedEntry(n, slot),
        sendSnapshot: (to, minSlot, done) => {
          if (!live()) return;
          const snap = n.disk.snapshot();
          if (snap.slot < minSlot) throw new Violated("safety", `${n.id} has applied ${snap.slot}, below its own discarded log (${minSlot})`);
          this.transfers.push({ from: n.id, fromIncarnation: incarnation, to, snap, executed: new Map([...n.executed].filter(([, s]) => s <= snap.slot)), at: this.now + TRANSFER_TICKS_MIN + this.rng.int(TRANSFER_TICKS_MIN + 1), done });
          this.log(`${n.id} sends ${to} a snapshot at slot ${snap.slot}`);
        },
      }),
    );
  }

  private newStore(rebuilt: boolean): MemAcceptorStore {
    // wiped-votes: the rebuilt store is taken for a fresh member that may vote at once.
    const recovering = rebuilt && this.opts.bug !== "wiped-votes";
    return new MemAcceptorStore({ recovering, ...(this.opts.bug === "forget-promise" ? { plantedBugs: { forgetPromiseOnRestart: true } } : {}) });
  }

  private newDisk(n: SimNode, mem: MemAcceptorStore, incarnation: number): SimDisk {
    return new SimDisk(
      mem,
      incarnation,
      n.id,
      {
        full: () => this.now < n.diskFullUntil,
        cutBeforeWrite: () => this.now <= this.faultTicks && this.rng.chance(this.persistCrashRate),
        // A stream of its own, drawn only with the tree in memory: the other runs replay as before.
        fullAtCommit: () => {
          if (!this.opts.treeInMemory || this.now > this.faultTicks || !this.commitFullRng.chance(0.002)) return false;
          this.faults["disk-full-at-commit"]++;
          this.log(`${n.id}'s disk fills up during a commit`);
          return true;
        },
        // Most fsyncs complete within the tick; some take one or two more (a slow disk).
        sync: (done) => this.syncs.push({ n, incarnation: n.incarnation, at: this.now + (this.rng.chance(0.7) ? 0 : 1 + this.rng.int(2)), done }),
        committed: () => void this.commits++,
      },
      // zk-node --join: a new member's store knows no configuration (it votes in nothing) until the log's.
      // zk-node --initial-cluster: the first members' stores hold the first configuration.
      incarnation !== 0 ? undefined : n.joined ? (db) => writeMembership(db, 0, UNKNOWN_CONFIG) : (db) => writeMembership(db, 0, initialConfig(this.ids.map((id) => ({ id, address: `${id}:1` })))),
    );
  }

  private stalled(n: SimNode): boolean {
    return n.stalledUntil > this.now;
  }

  /** Run `f` on the node's machine: counts a step, turns an invariant failure into a violation, a power cut into a crash. */
  private call(n: SimNode, f: (m: NodeMachine) => void): void {
    const m = n.machine;
    if (!m) return;
    try {
      this.guard(n, () => f(m));
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      this.faults["crash-before-persist"]++;
      this.crash(n, "the power went as it began to persist a Ready");
    }
  }

  private guard<T>(n: SimNode, f: () => T): T {
    if (++this.steps > STEPS_PER_SEED_MAX) {
      throw new Violated("liveness", `no progress: the step budget of ${STEPS_PER_SEED_MAX} ran out (a livelock?)`);
    }
    try {
      return f();
    } catch (e) {
      if (e instanceof InvariantError) throw new Violated("assertion", `${n.id}: ${e.message}`);
      throw e;
    }
  }

  /** The node's disk is gone: it comes back on an empty store under a new incarnation. */
  private wipe(n: SimNode, why = "its disk is wiped"): void {
    this.crash(n, why);
    n.disk.discard();
    n.mem = this.newStore(true);
    n.storeIncarnation = this.opts.bug === "wiped-votes" ? 0 : this.now;
    n.disk = this.newDisk(n, n.mem, n.storeIncarnation);
    n.applied = [];
    n.executed = new Map();
    n.wipedAt = this.now;
    if (why === "its disk is wiped") this.faults.wipe++;
  }

  private crash(n: SimNode, why: string, processOnly = false): void {
    if (!n.machine) return;
    n.machine = null;
    n.stalledUntil = 0;
    n.diskFullUntil = 0;
    n.mem.crash(processOnly);
    n.restartAt = this.now + 5 + this.rng.int(40);
    this.crashes++;
    this.log(`${n.id} crashes (${why}); restarts at tick ${n.restartAt}`);
  }

  private restartDue(): void {
    for (const n of this.nodes) {
      if (n.retireAt > 0 && n.retireAt <= this.now && !n.retired && this.removalSettled(n)) {
        this.crash(n, "it was removed from the cluster: its process stops for good");
        n.retired = true;
        this.faults["member-retired"]++;
      }
      if (!n.machine && !n.retired && n.restartAt <= this.now) {
        this.start(n);
        const core = n.machine!.core;
        this.log(`${n.id} restarts (promised ${formatBallot(core.promisedBallot)}, chosen ${core.chosen}, ${core.inMemoryEntries} entries in memory${core.isRecovering ? ", recovering" : ""})`);
      }
    }
  }

  // ---- What the machines report ---------------------------------------------------------------

  private onElection(n: SimNode, ev: ElectionEvent): void {
    this.log(`${n.id} ${ev.role} ballot ${formatBallot(ev.ballot)} leader ${ev.leader ?? "-"} (${ev.reason})`);
    if (ev.role !== "leader") return;
    this.elections++;
    const key = formatBallot(ev.ballot);
    const who = `${n.id}#${n.incarnation}`;
    const prev = this.leaderOfBallot.get(key);
    this.checks["one-leader-per-ballot"]++;
    if (prev !== undefined && prev !== who) throw new Violated("safety", `two leaders in ballot ${key}: ${prev} and ${who}`);
    this.leaderOfBallot.set(key, who);
  }

  /** Inside the apply transaction: the tables are at `slot`. */
  private onAppliedEntry(n: SimNode, slot: number): void {
    if (slot % HASH_EVERY_SLOTS !== 0) return;
    this.checks["same-tree-at-same-index"]++;
    const mem = n.machine?.memTables ?? null;
    const h = mem === null ? n.disk.hash(slot) : memTreeHash(mem, slot);
    const known = this.hashAt.get(slot);
    if (known === undefined) this.hashAt.set(slot, h);
    else if (known !== h) throw new Violated("safety", `${n.id}'s tree differs from another replica's at applied index ${slot}`);
  }

  /** A committed batch of applied entries. */
  private onApplied(n: SimNode, outcomes: readonly Applied[]): void {
    for (const { slot, command, outcome } of outcomes) {
      this.checks["applied-in-order"]++;
      this.checks["one-value-per-slot"]++;
      if (slot !== n.applied.length + 1) throw new Violated("safety", `${n.id} applied slot ${slot} after ${n.applied.length}`);
      const known = this.chosenLog.get(slot);
      if (known === undefined) {
        this.chosenLog.set(slot, command);
        this.log(`slot ${slot} chosen: ${describe(command)} (first learned by ${n.id})`);
      } else if (!commandsEqual(known, command)) {
        throw new Violated("safety", `slot ${slot} chosen twice: ${describe(known)} and ${describe(command)} (at ${n.id})`);
      }
      n.applied.push(command);
      // A tree in memory reaches the tables only at checkpoints (the disk's own transactions say when).
      if (!this.opts.treeInMemory) n.disk.tablesApplied = slot;
      if (isConfigCommand(command)) {
        this.checks["membership-change-applied"]++;
        const cfg = decodeConfig(command);
        if (this.configLatest === null || slot > this.configLatest.slot) this.configLatest = { slot, config: cfg };
        // A removed member's process stops a while later (its operator shuts it down).
        for (const id of cfg.removed) {
          const r = this.nodes.find((x) => x.id === id);
          if (r && r.retireAt === 0) {
            r.retireAt = this.now + 1 + this.memberRng.int(this.now <= this.faultTicks ? 100 : 10);
            r.retireSlot = slot;
          }
        }
      }
      if (command.length === 0 || outcome === null) continue;
      const cmd = decodeCommand(command);
      this.checks["applied-exactly-once"]++;
      this.checks["not-applied-is-true"]++;
      const told = this.notApplied.get(`${cmd.requestId}#${cmd.nonce}`);
      if (told !== undefined) throw new Violated("safety", `slot ${slot} holds ${describe(command)}, which was answered as not applied (${told})`);
      if (cmd.requestId !== "" && outcome.firstZxid === undefined) {
        const first = n.executed.get(cmd.requestId);
        if (first !== undefined) throw new Violated("safety", `${n.id} applied request ${cmd.requestId} twice: at slot ${first} and again at slot ${slot}`);
        n.executed.set(cmd.requestId, slot);
      }
      const op = cmd.op;
      if ((op?.$case === "expireSession" || op?.$case === "closeSession") && !("error" in outcome) && !this.sessionsGone.has(op.value.sessionId)) {
        this.sessionsGone.set(op.value.sessionId, this.ms);
        if (op.$case === "expireSession") {
          this.sessionsExpired++;
          this.checkNotLive(op.value.sessionId, this.ms);
        }
      }
    }
  }

  /** A session the log expired at `at` must have been silent (to the leader) for its TTL. */
  private checkNotLive(sessionId: number, at: number): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.checks["live-session-not-expired"]++;
    // The leader measures the TTL on its own clock from when it heard the keepalive (after
    // the client sent it), and no clock runs faster than DRIFT_MAX.
    const silent = at - s.lastAckedSend;
    if (silent < SESSION_TTL_MS / DRIFT_MAX - 2 * TICK_MS) {
      throw new Violated("safety", `session ${sessionId} (${s.client.name}) was expired ${silent} ms after a keepalive the leader acknowledged (TTL ${SESSION_TTL_MS} ms)`);
    }
  }

  private drainReadies(): void {
    for (let round = 0; ; round++) {
      if (round >= READY_ROUNDS_MAX) throw new Violated("liveness", "Ready loop did not settle");
      let any = this.completeSyncs();
      if (this.runDeferred()) any = true;
      for (const n of this.nodes) {
        const m = n.machine;
        if (!m || this.stalled(n) || !m.core.hasReady() || m.cannotPersist) continue;
        any = true;
        this.call(n, (x) => x.process());
      }
      if (!any) return;
    }
  }

  /** The next turn of each machine that put work off to it (a paused one waits); true when any ran. */
  private runDeferred(): boolean {
    const due = this.deferred.filter((x) => x.at <= this.now && !this.stalled(x.n));
    if (due.length === 0) return false;
    this.deferred = this.deferred.filter((x) => !due.includes(x));
    for (const x of due) {
      if (x.n.machine === null || x.n.incarnation !== x.incarnation) continue;
      // The power goes after a leader's Accepts left and before its own transaction ran.
      if (this.now <= this.faultTicks && this.turnRng.chance(this.persistCrashRate)) {
        this.faults["crash-after-accepts"]++;
        this.crash(x.n, "the power went after its Accepts left, before its own transaction");
        continue;
      }
      if (this.opts.kills && this.now <= this.faultTicks && this.killRng.chance(this.persistCrashRate)) {
        this.faults["process-kill"]++;
        this.crash(x.n, "its process was killed before its deferred turn (every commit survives)", true);
        continue;
      }
      this.call(x.n, () => x.fn());
    }
    return true;
  }

  /** Complete the fsyncs due by now (the power may go first); true when any completed. */
  private completeSyncs(): boolean {
    const due: typeof this.syncs = [];
    const later: typeof this.syncs = [];
    for (const x of this.syncs) (x.at <= this.now && !this.stalled(x.n) ? due : later).push(x);
    if (due.length === 0) return false;
    this.syncs = later;
    for (const x of due) {
      if (x.n.machine === null || x.n.incarnation !== x.incarnation) continue;
      if (this.now <= this.faultTicks && this.rng.chance(this.persistCrashRate)) {
        if (this.rng.chance(0.5)) {
          this.faults["fsync-error"]++;
          this.log(`${x.n.id}: a Ready's fsync fails (EIO)`);
          this.call(x.n, () => x.done(Object.assign(new Error("fsync of zk.db-wal failed: EIO: i/o error"), { code: "EIO" })));
          if (x.n.machine !== null && !x.n.machine.halted) throw new Violated("assertion", `${x.n.id} runs on after its fsync failed`);
          if (!x.n.fatal) throw new Violated("assertion", `${x.n.id} stopped after a failed fsync without saying so (ports.fatal)`);
          x.n.fatal = false;
          // What the log line says: a rebuilt store (only while the cluster can spare one more).
          // Or the machine went down with the disk, whose file then holds what it held before
          // the Ready: a restart on it sees the truth, and nothing of that Ready may be claimed.
          if (this.rng.chance(0.5) && this.mayRebuild(x.n)) this.wipe(x.n, "its fsync failed; the operator moves the store aside and restarts it with --rejoin");
          else this.crash(x.n, "its fsync failed and the machine went down: the disk holds what it held before that Ready");
          continue;
        }
        this.faults["crash-before-flush"]++;
        this.crash(x.n, "the power went while a Ready's fsync was in flight");
        continue;
      }
      if (this.opts.kills && this.now <= this.faultTicks && this.killRng.chance(this.persistCrashRate)) {
        // Its commit is in the page cache: it survives, though nothing of its Ready was sent or answered.
        this.faults["process-kill"]++;
        this.crash(x.n, "its process was killed while a Ready's fsync was in flight (every commit survives)", true);
        continue;
      }
      this.call(x.n, () => x.done(null));
    }
    return true;
  }

  // ---- Clients ------------------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    return this.nodes.filter((n) => n.machine && !this.stalled(n));
  }

  /** A request to a random live node, answered through `done` once (or never, if the node dies: the client times out). */
  private request(pick: SimNode | null, f: (m: NodeMachine, deadline: number, n: SimNode) => void): boolean {
    const n = pick ?? (this.liveNodes().length > 0 ? this.rng.pick(this.liveNodes()) : null);
    if (!n?.machine || this.stalled(n)) return false;
    // The deadline on the node's own clock.
    const deadline = n.clockMs + ATTEMPT_MS * n.rate;
    this.call(n, (m) => f(m, deadline, n));
    return true;
  }

  private clientWork(): void {
    if (this.rng.chance(0.15)) {
      const id = this.nextProposalId++;
      const key = this.rng.pick(KEYS);
      const { op, zop } = this.randomWrite(key, `v${id}`);
      // The request id is the deduplication key: every retry of this write carries it.
      const command: ZkCommand = { requestId: `r${id}`, timeMs: 0, nonce: 0, op };
      const historyId = this.history.invoke(key, zop, this.now, `p${id}`);
      this.proposals.push({ id, command, key, op: zop, historyId, state: "queued", attempt: 0, since: this.now, ackedSlot: 0 });
    }
    if (this.rng.chance(0.2)) this.tryRead(null);
    // Reads at every node that believes it leads: a deposed leader that still thinks it
    // leads is where a stale read would come from.
    for (const n of this.nodes) if (n.machine?.role === "leader" && this.rng.chance(0.15)) this.tryRead(n);
    if (this.rng.chance(0.05)) this.tryLocalRead();
  }

  private tryPropose(p: Proposal): void {
    const attempt = ++p.attempt;
    // A fresh copy per attempt: the machine stamps nonce and time into it.
    const command: ZkCommand = { ...p.command, nonce: 0 };
    const sent = this.request(null, (m, deadline, n) => {
      p.state = "inflight";
      p.since = this.now;
      this.log(`p${p.id} sent to ${n.id} (attempt ${attempt})`);
      m.write(command, deadline, false, (r) => {
        if (p.attempt !== attempt || p.state !== "inflight") return;
        if (r instanceof ZkError && !isDefinite(r)) {
          // The node says this attempt will never be applied: remember it by its nonce (the
          // machine stamped it into `command`) and fail the run if a slot ever holds it.
          if (r.extra.outcome === Outcome.NOT_APPLIED) this.notApplied.set(`${command.requestId}#${command.nonce}`, `p${p.id} attempt ${attempt}, told by ${n.id} at tick ${this.now}: ${r.message}`);
          return this.requeue(p, `${r.code}: ${r.message}`);
        }
        p.state = "acked";
        const result = resultOf(p.op, r);
        if (!(r instanceof ZkError)) {
          p.ackedSlot = r.zxid;
          this.maxAckedSlot = Math.max(this.maxAckedSlot, r.zxid);
        }
        this.history.complete(p.historyId, result, this.now);
        this.log(`p${p.id} answered by ${n.id}: ${JSON.stringify(result)}${r instanceof ZkError ? "" : ` at slot ${r.zxid}`}`);
      });
    });
    if (!sent) p.state = "queued";
  }

  private retryStuck(): void {
    for (const p of this.proposals) {
      if (p.state === "inflight" && (this.now - p.since) * TICK_MS > ATTEMPT_MS * DRIFT_MAX + 100) this.requeue(p, "no answer (its node died or stalled)");
    }
  }

  private requeue(p: Proposal, why: string): void {
    p.state = "queued";
    p.since = this.now;
    this.log(`p${p.id} retried: ${why}`);
  }

  private tryRead(pick: SimNode | null): void {
    const mustSee = this.maxAckedSlot;
    const key = this.rng.pick(KEYS);
    this.request(pick, (m, deadline, n) => {
      const historyId = this.history.invoke(key, { kind: "get" }, this.now, `read@${n.id}`);
      m.readBarrier(deadline, false, (r) => {
        if (r instanceof ZkError) return; // an unanswered read: pending forever in the history
        // Linearizability: every write acknowledged before the read began must be visible.
        this.checks["linearizable-read"]++;
        if (r < mustSee) throw new Violated("safety", `stale read at ${n.id}: read index ${r} misses a write acknowledged at slot ${mustSee}`);
        const z = m.tree.get(key);
        this.history.complete(historyId, z === null ? { type: "read", exists: false } : { type: "read", exists: true, version: z.stat!.version, data: new TextDecoder().decode(z.data) }, this.now);
        this.readsServed++;
      });
    });
  }

  /** A local read: served from the node's applied state, refused while it is recovering. */
  private tryLocalRead(): void {
    this.request(null, (m) => {
      const recovering = m.core.isRecovering;
      let refused = false;
      try {
        m.assertLocalReadable();
      } catch (e) {
        if (!(e instanceof ZkError) || e.code !== ErrorCode.UNAVAILABLE) throw e;
        refused = true;
      }
      if (recovering) {
        this.checks["recovering-refuses-local-read"]++;
        if (!refused) throw new Violated("safety", `${m.id} is recovering (partial tree) and served a local read`);
      }
      if (!refused) m.tree.get(this.rng.pick(KEYS));
    });
  }

  /** A create, set or delete of `key`, with a version that is sometimes right. */
  private randomWrite(key: string, data: string): { op: ZkCommand["op"]; zop: ZnodeOp } {
    const version = this.rng.chance(0.5) ? -1 : this.rng.int(3);
    const bytes = new TextEncoder().encode(data);
    const expectedVersion = version === -1 ? undefined : version;
    switch (this.rng.int(4)) {
      case 0:
        return { op: { $case: "create", value: { path: key, data: bytes, ephemeral: false, sequential: false, sessionId: 0 } }, zop: { kind: "create", data } };
      case 1:
        return { op: { $case: "set", value: { path: key, data: bytes, expectedVersion } }, zop: { kind: "set", data, expectedVersion: version } };
      case 2:
        // A one-key multi: check the version, then set unconditionally (the same as a versioned set).
        return {
          op: { $case: "multi", value: { ops: [...(expectedVersion === undefined ? [] : [{ op: { $case: "check" as const, value: { path: key, expectedVersion } } }]), { op: { $case: "set" as const, value: { path: key, data: bytes } } }] } },
          zop: { kind: "set", data, expectedVersion: version },
        };
      default:
        return { op: { $case: "delete", value: { path: key, expectedVersion } }, zop: { kind: "delete", expectedVersion: version } };
    }
  }

  // ---- Session clients and the lock recipe ----------------------------------------------------

  private sessionClients(active: boolean): void {
    // First, every holder that has gone too long without an acknowledged keepalive stops
    // believing it holds the lock (zk-cli lock's SIGTERM on suspension), at the moment it
    // should have.
    for (const c of this.clients) {
      if (c.state === "opening" && this.ms > c.opDeadline) this.dropSession(c, "no answer to open");
      if (c.state !== "live") continue;
      const silent = this.ms - c.session!.lastAckedSend;
      if (silent > SUSPEND_AFTER_MS) this.suspend(c);
      if (silent > SESSION_TTL_MS) this.dropSession(c, `session ${c.session!.id} lost (no keepalive acknowledged for a TTL)`);
      if (c.keepaliveInFlight && this.ms > c.keepaliveDeadline) c.keepaliveInFlight = false;
      if (c.opInFlight && this.ms > c.opDeadline) c.opInFlight = false;
    }
    for (const c of this.clients) {
      if (c.state === "none" && active && this.ms >= c.reopenAt) this.openSession(c);
      if (c.state !== "live") continue;
      if (!c.keepaliveInFlight && this.ms >= c.nextKeepalive) this.sendKeepalive(c);
      if (active && this.ms >= c.nextLockStep) this.lockStep(c);
    }
  }

  private openSession(c: SessionClient): void {
    c.state = "opening";
    const attempt = ++c.attempt;
    const sentAt = this.ms;
    c.opDeadline = this.ms + ATTEMPT_MS * DRIFT_MAX + 100;
    const sent = this.request(null, (m, deadline) =>
      m.openSession(SESSION_TTL_MS, deadline, (r) => {
        if (c.attempt !== attempt || c.state !== "opening") return;
        if (r instanceof ZkError) return this.dropSession(c, `open failed: ${r.message}`);
        const session: SimSession = { id: r.sessionId, client: c, lastAckedSend: sentAt };
        this.sessions.set(r.sessionId, session);
        c.session = session;
        c.state = "live";
        c.nextKeepalive = this.ms + KEEPALIVE_EVERY_MS;
        c.keepaliveInFlight = false;
        c.lock = "none";
        c.opInFlight = false;
        this.sessionsOpened++;
        this.log(`${c.name}: session ${r.sessionId} open`);
      }),
    );
    if (!sent) this.dropSession(c, "no node to open a session on");
  }

  private sendKeepalive(c: SessionClient): void {
    const s = c.session!;
    const sentAt = this.ms;
    const attempt = ++c.keepaliveAttempt;
    c.keepaliveInFlight = true;
    c.keepaliveDeadline = this.ms + ATTEMPT_MS * DRIFT_MAX + 100;
    const sent = this.request(null, (m, deadline, n) =>
      m.keepalive([s.id], deadline, false, (r) => {
        if (c.keepaliveAttempt !== attempt) return;
        c.keepaliveInFlight = false;
        c.nextKeepalive = this.ms + KEEPALIVE_EVERY_MS;
        if (r instanceof ZkError) {
          if (r.code !== ErrorCode.SESSION_EXPIRED) return;
          this.checks["expired-only-through-log"]++;
          if (!this.sessionsGone.has(s.id)) throw new Violated("safety", `${n.id} told ${c.name} that session ${s.id} expired, but the log never expired or closed it`);
          if (c.session === s) this.dropSession(c, `session ${s.id} expired (told by ${n.id})`);
          return;
        }
        const gone = this.sessionsGone.get(s.id);
        if (gone !== undefined && gone - sentAt < SESSION_TTL_MS / DRIFT_MAX - 2 * TICK_MS) {
          throw new Violated("safety", `${n.id} acknowledged a keepalive of session ${s.id} (${c.name}) sent ${gone - sentAt} ms before the log expired it`);
        }
        s.lastAckedSend = Math.max(s.lastAckedSend, sentAt);
      }),
    );
    if (!sent) {
      c.keepaliveInFlight = false;
      c.nextKeepalive = this.ms + 5 * TICK_MS;
    }
  }

  /** One step of the lock recipe: an ephemeral sequential child of LOCK_DIR; the lowest holds. */
  private lockStep(c: SessionClient): void {
    const s = c.session!;
    c.nextLockStep = this.ms + (2 + this.rng.int(6)) * TICK_MS;
    if (c.opInFlight) return;
    const connected = this.ms - s.lastAckedSend <= SUSPEND_AFTER_MS;
    if (c.lock === "none") {
      if (!connected || !this.rng.chance(0.3)) return;
      c.lockRid = `${c.name}-lock${c.nextRid++}`;
      c.lock = "creating";
    }
    if (c.lock === "holding") {
      if (this.ms < c.holdUntil) return;
      this.stopHolding(c, "releases the lock");
      c.lock = "releasing";
    }
    // A create whose outcome is unknown is retried with its request id once connected again
    // (deduplication returns the same node); a waiter that is not connected gives up its place.
    if (!connected && c.lock === "creating") return;
    if (!connected && c.lock === "waiting") c.lock = "releasing";
    const attempt = ++c.attempt;
    c.opInFlight = true;
    c.opDeadline = this.ms + ATTEMPT_MS * DRIFT_MAX + 100;
    const answered = (): boolean => {
      if (c.attempt !== attempt || c.session !== s) return false;
      c.opInFlight = false;
      return true;
    };
    const expired = (r: ZkError): boolean => {
      if (r.code !== ErrorCode.SESSION_EXPIRED) return false;
      this.dropSession(c, `session ${s.id} expired (${r.message})`);
      return true;
    };
    const lock = c.lock;
    const sent = this.request(null, (m, deadline) => {
      if (lock === "creating") {
        const command: ZkCommand = { requestId: c.lockRid, timeMs: 0, nonce: 0, op: { $case: "create", value: { path: `${LOCK_DIR}/c-`, data: new Uint8Array(), ephemeral: true, sequential: true, sessionId: s.id } } };
        m.write(command, deadline, false, (r) => {
          if (!answered()) return;
          if (r instanceof ZkError) {
            if (expired(r)) return;
            // The lock's parent does not exist yet: create it (another client may be first).
            if (r.code === ErrorCode.NO_NODE) this.ensureLockDir();
            return; // unknown outcome or parent missing: the same request id again next step
          }
          const res = r.result.result;
          if (res?.$case !== "create") throw new Error(`zk: sim bug: create answered ${res?.$case}`);
          c.lockPath = res.value.path;
          c.lock = "waiting";
        });
      } else if (lock === "waiting") {
        m.readBarrier(deadline, false, (r) => {
          if (!answered() || r instanceof ZkError) return;
          const children = (m.tree.list(LOCK_DIR)?.children ?? []).map((e) => `${LOCK_DIR}/${e.name}`).sort();
          if (!children.includes(c.lockPath)) {
            // Our node is gone: the session expired through the log.
            c.lock = "none";
            c.lockPath = "";
            return;
          }
          if (children[0] === c.lockPath && this.ms - s.lastAckedSend <= SUSPEND_AFTER_MS) this.startHolding(c);
        });
      } else if (lock === "releasing") {
        const command: ZkCommand = { requestId: `${c.lockRid}-release`, timeMs: 0, nonce: 0, op: { $case: "delete", value: { path: c.lockPath } } };
        m.write(command, deadline, false, (r) => {
          if (!answered()) return;
          if (r instanceof ZkError && !expired(r) && r.code !== ErrorCode.NO_NODE) return;
          if (c.session === s) {
            c.lock = "none";
            c.lockPath = "";
          }
        });
      }
    });
    if (!sent) c.opInFlight = false;
  }

  private ensureLockDir(): void {
    const rid = `lockdir${this.nextProposalId++}`;
    this.request(null, (m, deadline) => m.write({ requestId: rid, timeMs: 0, nonce: 0, op: { $case: "create", value: { path: LOCK_DIR, data: new Uint8Array(), ephemeral: false, sequential: false, sessionId: 0 } } }, deadline, false, () => undefined));
  }

  private startHolding(c: SessionClient): void {
    this.checks["lock-held-by-one"]++;
    const other = this.clients.find((d) => d !== c && d.lock === "holding");
    if (other) {
      throw new Violated("safety", `${c.name} (session ${c.session!.id}, ${c.lockPath}) and ${other.name} (session ${other.session?.id}, ${other.lockPath}, since ${other.holdingSince} ms) both believe they hold the lock`);
    }
    c.lock = "holding";
    c.holdingSince = this.ms;
    c.holdUntil = this.ms + (5 + this.rng.int(this.opts.bug === "lock-ignores-suspension" ? 400 : 25)) * TICK_MS;
    this.locksHeld++;
    this.log(`${c.name} holds the lock (${c.lockPath}, session ${c.session!.id})`);
  }

  private stopHolding(c: SessionClient, why: string): void {
    if (c.lock !== "holding") return;
    c.lock = "none";
    this.log(`${c.name} ${why} (${c.lockPath}, held ${this.ms - c.holdingSince} ms)`);
  }

  /** No keepalive acknowledged for SUSPEND_AFTER_MS: a holder stops at once, and gives the lock back. */
  private suspend(c: SessionClient): void {
    if (this.opts.bug === "lock-ignores-suspension") return;
    if (c.lock !== "holding" && c.lock !== "waiting") return;
    if (c.lock === "holding") this.stopHolding(c, "is suspended: stops holding the lock");
    c.lock = "releasing";
  }

  private dropSession(c: SessionClient, why: string): void {
    if (this.opts.bug === "lock-ignores-suspension" && c.lock === "holding" && this.ms < c.holdUntil) return;
    this.stopHolding(c, `lost its session (${why})`);
    if (c.state === "live") this.log(`${c.name}: ${why}`);
    c.state = "none";
    c.session = null;
    c.lock = "none";
    c.lockPath = "";
    c.opInFlight = false;
    c.keepaliveInFlight = false;
    c.reopenAt = this.ms + (5 + this.rng.int(20)) * TICK_MS;
  }

  /** Every key's client history is linearizable (writes acknowledged or pending, and reads). */
  private checkHistories(): void {
    const check = checkHistory(this.history.history(), { stepsPerKeyMax: LIN_CHECK_STEPS_PER_KEY_MAX });
    this.checks["linearizable-key-history"] += check.keys.length - check.unknown.length;
    this.checks["linearizable-key-history-undecided"] += check.unknown.length;
    if (check.verdict === "violation") {
      const v = check.violations[0]!;
      throw new Violated("safety", `history of ${v.path} is not linearizable: ${v.explanation.split("\n").slice(0, 6).join(" | ")}`);
    }
  }

  // ---- Network and faults ---------------------------------------------------------------

  private send(p: Packet, from: NodeId, to: NodeId): void {
    if (this.blocked.has(`${from}>${to}`)) return;
    if (this.now <= this.faultTicks && this.rng.chance(this.lossRate)) {
      this.faults.loss++;
      return;
    }
    const copies = this.now <= this.faultTicks && p.kind === "paxos" && this.rng.chance(this.dupRate) ? 2 : 1;
    if (copies === 2) this.faults.duplicate++;
    for (let i = 0; i < copies; i++) {
      let delay = this.now <= this.faultTicks ? this.rng.int(this.delayMaxTicks + 1) : 0;
      if (delay > 0) this.faults.reorder++;
      if (this.now <= this.faultTicks && this.rng.chance(this.longDelayRate)) {
        delay = LONG_DELAY_TICKS_MIN + this.rng.int(LONG_DELAY_TICKS_MIN);
        this.faults["long-delay"]++;
      }
      this.network.push({ p, at: this.now + delay });
    }
  }

  private deliver(): void {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    // A stalled node reads nothing: what is sent to it waits in its socket buffer.
    const stalledIds = new Set(this.nodes.filter((n) => this.stalled(n)).map((n) => n.id));
    for (const f of this.network) (f.at <= this.now && !stalledIds.has(packetTo(f.p)) ? due : later).push(f);
    this.network = later;
    // Shuffle what arrives in the same tick: the network promises no order.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const { p } of due) {
      const to = packetTo(p);
      const n = this.nodes.find((x) => x.id === to);
      if (!n?.machine || this.blocked.has(`${packetFrom(p)}>${to}`)) continue;
      this.delivered++;
      if (p.kind === "paxos") {
        this.call(n, (m) => m.receive([p.m]));
      } else if (p.kind === "forward") {
        const leader = n;
        this.call(n, (m) =>
          m.handleForward(p.req, leader.clockMs + 3 * ATTEMPT_MS, (res) => {
            const from = this.nodes.find((x) => x.id === p.from)!;
            this.send({ kind: "reply", from: leader.id, to: p.from, toIncarnation: p.fromIncarnation, res, done: p.done }, leader.id, from.id);
          }),
        );
      } else if (n.incarnation === p.toIncarnation) {
        // The reply reaches the process that forwarded (a restarted one has forgotten it).
        this.call(n, () => p.done(p.res));
      }
    }
  }

  /** Snapshot transfers that are due: installed on their follower, or broken. */
  private completeTransfers(): void {
    const due = this.transfers.filter((t) => t.at <= this.now);
    if (due.length === 0) return;
    this.transfers = this.transfers.filter((t) => t.at > this.now);
    for (const t of due) {
      const sender = this.nodes.find((x) => x.id === t.from)!;
      const senderLive = sender.machine !== null && sender.incarnation === t.fromIncarnation;
      const n = this.nodes.find((x) => x.id === t.to)!;
      if (!n.machine || this.stalled(n) || this.blocked.has(`${t.from}>${t.to}`) || !senderLive) {
        // A stalled receiver holds the stream open: the transfer waits for it.
        if (n.machine && this.stalled(n) && senderLive) {
          this.transfers.push({ ...t, at: n.stalledUntil });
          continue;
        }
        this.faults["snapshot-transfer-broken"]++;
        this.log(`snapshot ${t.from} -> ${t.to} at slot ${t.snap.slot} broke`);
        if (senderLive) this.call(sender, () => t.done(false));
        continue;
      }
      const cut = this.now <= this.faultTicks && this.rng.chance(0.1);
      let installed = false;
      this.call(n, (m) => {
        try {
          installed = n.disk.installSnapshot(t.snap, cut);
        } catch (e) {
          // A full disk refuses the install as it refuses any write; nothing of it stays.
          if ((e as { code?: string }).code !== "SQLITE_FULL") throw e;
        }
        if (!installed) return;
        // The checker's view of this node: every slot up to the snapshot is applied.
        this.checks["snapshot-installed-intact"]++;
        const h = n.disk.hash(t.snap.slot);
        if (h !== t.snap.hash) throw new Violated("safety", `${n.id}'s tree after installing ${t.from}'s snapshot at ${t.snap.slot} differs from it`);
        n.applied = [];
        for (let s = 1; s <= t.snap.slot; s++) {
          const c = this.chosenLog.get(s);
          if (c === undefined) throw new Violated("safety", `${t.from} sent a snapshot at slot ${t.snap.slot}, but slot ${s} was never chosen`);
          n.applied.push(c);
        }
        n.executed = new Map(t.executed);
        this.snapshotsInstalled++;
        this.log(`${n.id} installed ${t.from}'s snapshot at slot ${t.snap.slot}`);
        m.snapshotInstalled();
      });
      if (cut && !n.machine) this.faults["crash-mid-install"]++;
      if (senderLive && sender.machine) this.call(sender, () => t.done(installed));
    }
  }

  private injectFaults(): void {
    if (this.opts.faults === "demo") {
      const leader = this.nodes.find((n) => n.machine?.role === "leader");
      if (this.now === Math.floor(this.faultTicks / 2) && leader) this.crash(leader, "the demo kills the leader");
      return;
    }
    if (this.rng.chance(this.partitionRate)) {
      const kind = this.rng.int(4);
      this.blocked.clear();
      if (kind === 0) {
        this.log("partition healed");
      } else if (kind === 1) {
        const ids = this.nodes.map((n) => n.id);
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
        this.faults["symmetric-partition"]++;
        this.log(`partition {${[...side].join(",")}} | {${ids.filter((i) => !side.has(i)).join(",")}}`);
      } else if (kind === 2) {
        const cut: string[] = [];
        const ids = this.nodes.map((n) => n.id);
        for (const a of ids) for (const b of ids) if (a !== b && this.rng.chance(0.3)) cut.push(`${a}>${b}`);
        for (const c of cut) this.blocked.add(c);
        this.faults["asymmetric-partition"]++;
        this.log(`asymmetric partition: ${cut.join(" ") || "(none)"} dropped`);
      } else {
        const leader = this.nodes.find((n) => n.machine?.role === "leader");
        if (leader) {
          for (const { id: b } of this.nodes) if (b !== leader.id) this.blocked.add(`${leader.id}>${b}`).add(`${b}>${leader.id}`);
          this.faults["leader-isolation"]++;
          this.log(`leader ${leader.id} isolated`);
        }
      }
    }
    if (this.rng.chance(this.crashRate)) {
      const live = this.nodes.filter((n) => n.machine);
      if (live.length > 0) {
        this.faults["crash-restart"]++;
        this.crash(this.rng.pick(live), "crash-restart");
      }
    }
    // As often as a power cut, and on its own stream: a process killed (kill -9), its commits kept.
    if (this.opts.kills && this.killRng.chance(this.crashRate)) {
      const live = this.nodes.filter((n) => n.machine);
      if (live.length > 0) {
        this.faults["process-kill"]++;
        this.crash(live[this.killRng.int(live.length)]!, "its process was killed (kill -9: every commit survives)", true);
      }
    }
    if (this.rng.chance(this.wipeRate)) {
      // Losing more disks at once than the cluster can spare loses data by definition:
      // only wipe while every other rebuilt node has recovered... up to the spare count.
      // With membership changes, every configuration that may govern a slot must keep its spares
      // (the newest applied, and one proposed but not yet chosen).
      const spareOne = this.canSpareOne();
      const candidates = this.nodes.filter((n) => this.mayRebuild(n, spareOne));
      if (candidates.length > 0) this.wipe(this.rng.pick(candidates));
    }
    if (this.rng.chance(this.stallRate)) {
      const live = this.liveNodes();
      if (live.length > 0) {
        const n = this.rng.pick(live);
        // Now and then a stall longer than the leader's session check gap (the stall grace).
        const max = this.rng.chance(0.25) ? LONG_STALL_TICKS_MAX : STALL_TICKS_MAX;
        n.stalledUntil = this.now + 1 + this.rng.int(max);
        this.faults.stall++;
        this.log(`${n.id} stalls until tick ${n.stalledUntil}`);
      }
    }
    if (this.rng.chance(this.diskFullRate)) {
      const live = this.nodes.filter((n) => n.machine && n.diskFullUntil <= this.now);
      if (live.length > 0) {
        const n = this.rng.pick(live);
        n.diskFullUntil = this.now + 3 + this.rng.int(150);
        this.faults["disk-full"]++;
        this.log(`${n.id}'s disk is full until tick ${n.diskFullUntil}`);
      }
    }
  }

  /**
   * Whether `n` may lose its store now: it is not retired or rebuilding, and the cluster can
   * spare one more rebuilt member (`spareOne`, canSpareOne(): one reading per wipe decision).
   */
  private mayRebuild(n: SimNode, spareOne = this.canSpareOne()): boolean {
    return spareOne && !n.retired && !this.rebuilding(n);
  }

  /** Every configuration that may govern a slot (liveConfigs) keeps a quorum with one more member rebuilding. */
  private canSpareOne(): boolean {
    if (this.now < this.noWipeUntil) return false;
    const configs = this.opts.membership ? this.liveConfigs() : [this.ids];
    return configs.every((v) => this.spare(v) > 0);
  }

  /** How many more of these voters may stop voting with a quorum left: the majority's slack, less those rebuilding now. */
  private spare(voters: readonly NodeId[]): number {
    return voters.length - (Math.floor(voters.length / 2) + 1) - this.nodes.filter((n) => voters.includes(n.id) && this.rebuilding(n)).length;
  }

  /** Rebuilt after a wipe and not yet voting again (down or recovering). */
  private rebuilding(n: SimNode): boolean {
    if (n.wipedAt === 0) return false;
    // With wiped-votes the store never says so: count a wipe as recent for a while.
    if (this.opts.bug === "wiped-votes") return this.now - n.wipedAt < 150;
    return n.mem.durableHardState().recovering === true;
  }

  /**
   * The operator stops a removed member (as `zk-cli cluster remove-node` does) once a majority
   * of the voters that stay have applied its removal, or REMOVAL_SETTLE_TICKS after it meant to:
   * a removed leader that went quiet before any of them learned its removal was chosen would
   * leave them counting it in their quorums.
   */
  private removalSettled(n: SimNode): boolean {
    if (n.retireSlot === 0 || this.now >= n.retireAt + REMOVAL_SETTLE_TICKS) return true;
    const voters = this.newestConfig().members.filter((m) => m.voter).map((m) => m.id);
    const applied = this.nodes.filter((x) => x !== n && voters.includes(x.id) && x.machine && !this.stalled(x) && (this.opts.treeInMemory ? x.machine.appliedIndex : x.disk.tablesApplied) >= n.retireSlot).length;
    return applied >= Math.floor(voters.length / 2) + 1;
  }

  private heal(): void {
    this.blocked.clear();
    // Removed members stop now if they have not yet (once their removal is settled); nodes
    // that never became members stop; the others come back.
    const members = quorums(this.newestConfig()).all;
    for (const n of this.nodes) {
      if (this.opts.membership && !members.has(n.id) && !n.retired) {
        if (n.retireSlot > 0) {
          n.retireAt = Math.min(n.retireAt, this.now);
        } else {
          this.crash(n, "it is not a member: its process stops for good");
          n.retired = true;
        }
      }
      if (!n.machine) n.restartAt = this.now;
      n.stalledUntil = 0;
      n.diskFullUntil = 0;
    }
    this.log("faults stop: network healed, crashed nodes restart, disks have room");
  }

  // ---- Checks -----------------------------------------------------------------------------

  private converged(): boolean {
    const leaders = this.nodes.filter((n) => n.machine?.role === "leader");
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!;
    if (this.proposals.some((p) => p.state !== "acked")) return false;
    return this.members().every((n) => n.machine && !n.machine.core.isRecovering && !n.machine.cannotPersist && n.machine.leaderId === leader.id && n.applied.length === leader.applied.length && n.machine.core.chosen === leader.machine!.core.lastLogSlot);
  }

  /** The nodes that run (never retired): with membership changes, the members of the newest configuration. */
  private members(): SimNode[] {
    const cfg = this.opts.membership ? quorums(this.newestConfig()).all : null;
    return this.nodes.filter((n) => !n.retired && (cfg === null || cfg.has(n.id)));
  }

  /** The configuration applied furthest along (a running node's, the furthest applied). */
  private newestConfig(): ClusterConfig {
    return this.configLatest?.config ?? initialConfig(this.ids.map((id) => ({ id, address: `${id}:1` })));
  }

  /** The voters of the newest applied configuration and of every configuration any node holds unchosen. */
  private liveConfigs(): NodeId[][] {
    const out = [[...quorums(this.newestConfig()).voters]];
    for (const n of this.nodes) {
      if (n.machine) {
        const f = n.machine.core.configInFlight;
        if (f) out.push([...quorums(f.config).voters]);
        continue;
      }
      // A node that is down still holds what it accepted: a configuration there, not known
      // chosen, may yet govern (a candidate's Phase 1 finds it in that node's promise).
      if (n.retired) continue;
      const { hardState, entries } = n.mem.peek();
      for (const e of entries) if (e.slot > hardState.chosen && isConfigCommand(e.command)) out.push([...quorums(decodeConfig(e.command)).voters]);
    }
    return out;
  }

  // ---- Membership changes -------------------------------------------------------------------

  /** Now and then, one change asked of the leader (sometimes of another node, or a second while one runs). */
  private membershipWork(): void {
    const r = this.memberRng;
    if (!r.chance(this.now < this.memberOpUntil ? 0.002 : 0.03)) return;
    const leaders = this.nodes.filter((n) => n.machine?.role === "leader" && !this.stalled(n));
    if (leaders.length === 0) return;
    const target = r.chance(0.9) ? r.pick(leaders) : r.pick(this.liveNodes());
    const cfg = target.machine!.membership().config;
    const voters = cfg.members.filter((m) => m.voter).map((m) => m.id);
    const learners = cfg.members.filter((m) => !m.voter).map((m) => m.id);
    const maxMembers = this.ids.length + 2;
    const choices: (() => void)[] = [];
    if (cfg.members.length < maxMembers) {
      choices.push(() => {
        const id = `n${this.nextNodeNumber++}`;
        this.addNode(id, true);
        const learner = r.chance(0.6);
        this.faults["member-add"]++;
        this.askMember(target, `add ${id}${learner ? " (learner)" : ""}`, (m, d, done) => m.changeMembership({ kind: "add", id, address: `${id}:1`, learner }, d, done));
      });
    }
    if (learners.length > 0) {
      const id = r.pick(learners);
      choices.push(() => {
        this.faults["member-promote"]++;
        this.askMember(target, `promote ${id}`, (m, d, done) => m.changeMembership({ kind: "promote", id }, d, done));
      });
    }
    const removable = cfg.members.filter(({ id }) => {
      // A removal that leaves fewer voters than the rebuilt ones among them can spare is a
      // second fault on top of a lost disk (the leader may not know yet: a wiped node's last
      // heartbeat is recent): the operator's mistake, not a liveness bug. Not scheduled.
      return this.spare(voters.filter((v) => v !== id)) >= 0;
    });
    if (cfg.members.length > 1 && voters.length > 1 && removable.length > 0) {
      const id = r.pick(removable).id;
      // --force skips the liveness check: the operator takes the risk. Not when a voter that
      // stays is rebuilt and not yet voting: a forced removal can then leave a configuration
      // whose quorums need it, and it votes again only once a leader exists (a deadlock).
      const force = r.chance(0.2) && !this.nodes.some((n) => n.id !== id && voters.includes(n.id) && this.rebuilding(n));
      choices.push(() => {
        this.faults["member-remove"]++;
        this.askMember(target, `remove ${id}${force ? " --force" : ""}`, (m, d, done) => m.changeMembership({ kind: "remove", id, force }, d, (res) => {
          done(res);
        }));
      });
    }
    if (voters.length > 1) {
      const to = r.pick(voters);
      choices.push(() => {
        this.faults["leader-transfer"]++;
        this.askMember(target, `transfer leadership to ${to}`, (m, d, done) => m.transferLeadership(to, d, done));
      });
    }
    if (choices.length === 0) return;
    this.memberOpUntil = this.now + 100;
    // While a change may be in flight, its configuration's spares are not known: lose no disk.
    this.noWipeUntil = this.now + 300;
    r.pick(choices)();
  }

  private askMember<T>(n: SimNode, what: string, f: (m: NodeMachine, deadline: number, done: (r: T | ZkError) => void) => void): void {
    this.log(`operator asks ${n.id}: ${what}`);
    this.call(n, (m) =>
      f(m, n.clockMs + 20 * ATTEMPT_MS * n.rate, (res) => {
        this.log(`${n.id} answers "${what}": ${res instanceof ZkError ? `${ErrorCode[res.code]}: ${res.message}` : "done"}`);
      }),
    );
  }

  private checkLiveness(): void {
    const leaders = this.nodes.filter((n) => n.machine?.role === "leader");
    if (leaders.length !== 1) {
      throw new Violated("liveness", `${this.healTicks} ticks after the faults stopped there are ${leaders.length} leaders`);
    }
    const stuck = this.proposals.filter((p) => p.state !== "acked");
    if (stuck.length > 0) {
      throw new Violated("liveness", `${stuck.length} proposals never acknowledged after the faults stopped (first: p${stuck[0]!.id}, ${stuck[0]!.state})`);
    }
    const leader = leaders[0]!;
    for (const n of this.members()) {
      if (n.applied.length !== leader.applied.length) {
        const pr = leader.machine!.core.followerProgress().get(n.id);
        const next = n.machine!.core.entry(n.machine!.core.chosen + 1);
        throw new Violated(
          "liveness",
          `${n.id} applied ${n.applied.length} slots, leader ${leader.id} ${leader.applied.length}; ` +
            `leader's view of ${n.id}: ${JSON.stringify(pr)}; ${n.id}'s next entry: ${next ? `ballot ${formatBallot(next.ballot)}` : "none"}`,
        );
      }
    }
    for (const n of this.members()) {
      if (n.storeIncarnation === 0) continue;
      this.checks["rebuilt-node-recovered"]++;
      if (n.machine!.core.isRecovering) throw new Violated("liveness", `${n.id}, rebuilt after a wipe, is still recovering ${this.healTicks} ticks after the faults stopped`);
    }
    // Every acknowledged write is in every node's chosen log, where its answer said.
    for (const p of this.proposals) {
      if (p.ackedSlot === 0) continue;
      for (const n of this.members()) {
        this.checks["acked-in-every-log"]++;
        const c = n.applied[p.ackedSlot - 1];
        if (c === undefined || c.length === 0 || decodeCommand(c).requestId !== p.command.requestId) {
          throw new Violated("safety", `acknowledged p${p.id} (slot ${p.ackedSlot}) is missing from ${n.id}'s chosen log`);
        }
      }
    }
  }

  private log(line: string): void {
    this.trace?.(`t=${String(this.now).padStart(4)} ${line}`);
  }
}

/** The keys simulated clients write and read: few, so that their operations contend. */
const KEYS = ["/k0", "/k1", "/k2"];

function newSessionClient(name: string): SessionClient {
  return { name, state: "none", session: null, nextKeepalive: 0, keepaliveInFlight: false, keepaliveAttempt: 0, keepaliveDeadline: 0, opInFlight: false, opDeadline: 0, lock: "none", lockRid: "", lockPath: "", holdingSince: 0, holdUntil: 0, nextLockStep: 0, attempt: 0, nextRid: 1, reopenAt: 0 };
}

function packetTo(p: Packet): NodeId {
  return p.kind === "paxos" ? p.m.to : p.to;
}

function packetFrom(p: Packet): NodeId {
  return p.kind === "paxos" ? p.m.from : p.from;
}

/** An answer that settles a write: its own outcome, not "it may or may not have happened". */
function isDefinite(e: ZkError): boolean {
  return e.code === ErrorCode.NO_NODE || e.code === ErrorCode.NODE_EXISTS || e.code === ErrorCode.BAD_VERSION;
}

function describe(c: Command): string {
  if (c.length === 0) return "no-op";
  if (isConfigCommand(c)) {
    const cfg = decodeConfig(c);
    return `configuration v${cfg.version} (${cfg.change}): ${describeConfig(cfg)}`;
  }
  const cmd = decodeCommand(c);
  const op = cmd.op;
  if (op === undefined) return `${cmd.requestId}: (empty)`;
  const v = op.value as { path?: string; expectedVersion?: number; sessionId?: number };
  return `${cmd.requestId}: ${op.$case} ${v.path ?? ""}${v.expectedVersion !== undefined ? ` v=${v.expectedVersion}` : ""}${v.sessionId ? ` s=${v.sessionId}` : ""}`;
}

/** What the client of `op` saw, from the node's answer. */
function resultOf(op: ZnodeOp, r: { result: CommandResult } | ZkError): ZnodeResult {
  if (r instanceof ZkError) {
    if (r.code === ErrorCode.NO_NODE) return { type: "error", code: "NO_NODE" };
    if (r.code === ErrorCode.NODE_EXISTS) return { type: "error", code: "NODE_EXISTS" };
    if (r.code === ErrorCode.BAD_VERSION) return { type: "error", code: "BAD_VERSION" };
    throw new Error(`zk: sim bug: ${op.kind} failed with error code ${r.code}: ${r.message}`);
  }
  const res = r.result.result;
  if (res?.$case === "create") return { type: "ok", version: 0 };
  if (res?.$case === "set") return { type: "ok", version: res.value.stat!.version };
  if (res?.$case === "delete") return { type: "ok" };
  if (res?.$case === "multi") {
    const last = res.value.results.at(-1)?.result;
    if (last?.$case === "set") return { type: "ok", version: last.value.stat!.version };
  }
  throw new Error(`zk: sim bug: unexpected result ${res?.$case} for ${op.kind}`);
}
