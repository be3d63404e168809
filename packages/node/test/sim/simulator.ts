// A deterministic whole-cluster simulator. Real protocol cores and in-memory stores run in
// one process; the network, the disks and every fault are driven by one seeded PRNG, so a
// seed replays a failure exactly. After every step the cluster is checked for the safety
// properties of consensus; after the faults stop it must make progress (liveness).
import {
  InvariantError,
  PaxosCore,
  SeededRng,
  commandsEqual,
  formatBallot,
  type Command,
  type CoreConfig,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
} from "../../src/paxos/index.js";
import { MemAcceptorStore } from "../../src/storage/mem-store.js";
import { mustSync } from "../../src/storage/store.js";
import { ErrorCode, type Command as ZkCommand } from "../../src/gen/zk/v1/types.js";
import { decodeCommand, encodeCommand, type ApplyOutcome } from "../../src/tree/index.js";
import { HistoryRecorder, checkHistory, type ZnodeOp, type ZnodeResult } from "./linearizability.js";
import { HASH_EVERY_SLOTS, SimReplica } from "./replica.js";

export type PlantedBug = "forget-promise" | "skip-recovery" | "local-read" | "wiped-votes" | "stale-read-round" | "double-apply";

export const PLANTED_BUGS: readonly PlantedBug[] = ["forget-promise", "skip-recovery", "local-read", "wiped-votes", "stale-read-round", "double-apply"];

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
  /** Keys whose client history was checked linearizable (Wing-Gong search). */
  | "linearizable-key-history"
  /** Keys whose history search ran out of its step budget (neither proven nor refuted). */
  | "linearizable-key-history-undecided";

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
  /** A persist fails (disk full): the node drops the Ready and reloads from its store. */
  | "disk-full"
  /** A message delayed past the election timeout. */
  | "long-delay"
  /** A node whose clock runs fast or slow (its ticks are not in lock-step). */
  | "clock-drift";

const READY_ROUNDS_MAX = 1000;
/** Protocol steps one seed may take; a livelock fails the seed instead of hanging the run. */
const STEPS_PER_SEED_MAX = 150_000;
/** Search steps per key's history: a few seeds' histories (long-retried writes) cost more. */
const LIN_CHECK_STEPS_PER_KEY_MAX = 50_000;
/** Ticks a stall lasts at most: beyond the longest election timeout. */
const STALL_TICKS_MAX = 45;
/** A long delay is at least this (above the longest election timeout) and at most twice it. */
const LONG_DELAY_TICKS_MIN = 25;
/** Applied entries a simulated core keeps in memory (small, so the store-read path is exercised). */
const LOG_MEMORY_SLOTS = 16;
const PENDING_RETRY_TICKS = 60;

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
  store: MemAcceptorStore;
  core: PaxosCore | null;
  /** Process starts, to tell a node's leaderships apart across restarts. */
  incarnation: number;
  /** The store's incarnation (0, or the tick of the rebuild that created it). */
  storeIncarnation: number;
  /** The tick of the last wipe (0: never). */
  wipedAt: number;
  restartAt: number;
  /** The node runs no tick, message or Ready before this tick (a stall). */
  stalledUntil: number;
  /** Ticks per simulated tick (clock drift), and the fraction owed. */
  readonly rate: number;
  tickDebt: number;
  /** The chosen log as applied, slot by slot. */
  applied: Command[];
  /** The state machine: the real znode tree on in-memory SQLite. */
  replica: SimReplica;
  /** Linearizable reads confirmed at an index this node has not applied yet. */
  waitingReads: { ctx: number; index: number }[];
}

interface Proposal {
  readonly id: number;
  readonly command: Command;
  readonly key: string;
  readonly op: ZnodeOp;
  /** Its op in the client history. */
  readonly historyId: number;
  state: "queued" | "inflight" | "acked";
  via: NodeId | null;
  slot: number;
  since: number;
  ackedSlot: number;
}

interface InFlight {
  readonly m: Message;
  readonly at: number;
}

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
  private readonly longDelayRate: number;
  private blocked = new Set<string>(); // "from>to"

  private network: InFlight[] = [];
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
    "long-delay": 0,
    "clock-drift": 0,
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
    "linearizable-key-history": 0,
    "linearizable-key-history-undecided": 0,
  };

  // What the checker knows.
  private readonly chosenLog = new Map<number, Command>();
  private readonly leaderOfBallot = new Map<string, string>(); // ballot -> node#incarnation
  private readonly proposals: Proposal[] = [];
  private nextProposalId = 1;
  /** Linearizable reads asked and not answered: ctx -> the highest slot acknowledged before it was asked. */
  private readonly reads = new Map<number, { node: NodeId; mustSee: number; key: string; historyId: number }>();
  private readonly history = new HistoryRecorder();
  /** The first replica's tree hash at each checkpoint slot. */
  private readonly hashAt = new Map<number, string>();
  private nextReadCtx = 1;
  private readsServed = 0;
  private maxAckedSlot = 0;

  constructor(private readonly opts: SimOptions) {
    this.rng = new SeededRng(opts.seed * 2654435761 + 1);
    this.faultTicks = opts.faultTicks ?? 600;
    this.healTicks = opts.healTicks ?? 400;
    this.trace = opts.trace;
    this.ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    const calm = opts.faults === "demo";
    this.lossRate = calm ? 0 : this.rng.next() * 0.2;
    this.dupRate = calm ? 0 : this.rng.next() * 0.1;
    this.delayMaxTicks = calm ? 0 : 1 + this.rng.int(4);
    this.crashRate = calm ? 0 : this.rng.next() * 0.01;
    this.persistCrashRate = calm ? 0 : this.rng.next() * 0.01;
    this.partitionRate = calm ? 0 : this.rng.next() * 0.02;
    this.wipeRate = calm ? 0 : this.rng.next() * 0.004;
    this.stallRate = calm ? 0 : this.rng.next() * 0.006;
    this.diskFullRate = calm ? 0 : this.rng.next() * 0.004;
    this.longDelayRate = calm ? 0 : this.rng.next() * 0.01;
    for (const id of this.ids) {
      // A third of the seeds run every clock at its own rate, 0.7x to 1.3x.
      const drifting = !calm && this.rng.chance(1 / 3);
      const rate = drifting ? 0.7 + this.rng.next() * 0.6 : 1;
      if (drifting) this.faults["clock-drift"]++;
      const node: SimNode = { id, store: this.newStore(false), core: null, incarnation: 0, storeIncarnation: 0, wipedAt: 0, restartAt: 0, stalledUntil: 0, rate, tickDebt: 0, applied: [], replica: this.newReplica(), waitingReads: [] };
      this.nodes.push(node);
      this.start(node);
    }
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
        if (faulty || this.now < this.faultTicks + this.healTicks / 2) this.clientWork();
        this.retryStuck();
        for (const n of this.nodes) {
          if (!n.core || this.stalled(n)) continue;
          n.tickDebt += n.rate;
          for (; n.tickDebt >= 1; n.tickDebt--) this.guard(n, () => n.core!.tick());
        }
        this.deliver();
        this.drainReadies(faulty);
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
      faults: { ...this.faults },
      checks: { ...this.checks },
      violation,
    };
  }

  // ---- Nodes -------------------------------------------------------------------------------

  private start(n: SimNode): void {
    n.incarnation++;
    // Restart with only the recent log in memory, as the real node does, so catch-up reads
    // older entries back through the store.
    const applied = n.store.applied();
    const durable = n.store.load({ entriesFrom: Math.max(1, applied - LOG_MEMORY_SLOTS + 1) });
    const config: CoreConfig = {
      id: n.id,
      members: this.ids,
      rng: new SeededRng(this.rng.int(2 ** 31)),
      electionTimeoutTicks: 10,
      heartbeatTicks: 2,
      batchEntriesMax: 8,
      inflightBatchesMax: 3,
      applied,
      logReader: n.store,
      incarnation: n.storeIncarnation,
      plantedBugs: { skipPhase1Recovery: this.opts.bug === "skip-recovery", localReads: this.opts.bug === "local-read", staleReadRound: this.opts.bug === "stale-read-round" },
    };
    n.applied = n.applied.slice(0, n.store.applied());
    // The tree is in the store's file: what the crash took from the applied index, it took
    // from the tree too.
    if (n.replica.applied > n.applied.length) n.replica.rollBackTo(n.applied.length, n.applied);
    n.core = this.guard(n, () => new PaxosCore(config, durable));
  }

  private newStore(rebuilt: boolean): MemAcceptorStore {
    // wiped-votes: the rebuilt store is taken for a fresh member that may vote at once.
    const recovering = rebuilt && this.opts.bug !== "wiped-votes";
    return new MemAcceptorStore({ recovering, ...(this.opts.bug === "forget-promise" ? { plantedBugs: { forgetPromiseOnRestart: true } } : {}) });
  }

  private newReplica(): SimReplica {
    return new SimReplica({ ignoreRequestIds: this.opts.bug === "double-apply" });
  }

  private stalled(n: SimNode): boolean {
    return n.stalledUntil > this.now;
  }

  /** The node's disk is gone: it comes back on an empty store under a new incarnation. */
  private wipe(n: SimNode): void {
    this.crash(n, "its disk is wiped");
    n.store = this.newStore(true);
    n.storeIncarnation = this.opts.bug === "wiped-votes" ? 0 : this.now;
    n.applied = [];
    n.replica.close();
    n.replica = this.newReplica();
    n.wipedAt = this.now;
    this.faults.wipe++;
  }

  private crash(n: SimNode, why: string): void {
    if (!n.core) return;
    n.core = null;
    n.stalledUntil = 0;
    n.store.crash();
    n.restartAt = this.now + 5 + this.rng.int(40);
    this.crashes++;
    this.log(`${n.id} crashes (${why}); restarts at tick ${n.restartAt}`);
    for (const p of this.proposals) {
      if (p.state === "inflight" && p.via === n.id) this.requeue(p, `${n.id} crashed`);
    }
    for (const [ctx, r] of this.reads) if (r.node === n.id) this.reads.delete(ctx);
    n.waitingReads = [];
  }

  private restartDue(): void {
    for (const n of this.nodes) {
      if (!n.core && n.restartAt <= this.now) {
        this.start(n);
        this.log(`${n.id} restarts (promised ${formatBallot(n.core!.promisedBallot)}, chosen ${n.core!.chosen}, ${n.core!.inMemoryEntries} entries in memory)`);
      }
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

  // ---- Readies: persist, send, apply -----------------------------------------------------

  private drainReadies(faulty: boolean): void {
    for (let round = 0; ; round++) {
      if (round >= READY_ROUNDS_MAX) throw new Violated("liveness", "Ready loop did not settle");
      let any = false;
      for (const n of this.nodes) {
        const core = n.core;
        if (!core || this.stalled(n) || !core.hasReady()) continue;
        any = true;
        const rd = this.guard(n, () => core.ready());
        if (faulty && this.rng.chance(this.persistCrashRate)) {
          // Power cut between deciding and persisting. The driver sends a leader's Accepts
          // before its own write, so those may be out already; nothing else happened.
          if (this.rng.chance(0.5)) for (const m of rd.messages) if (m.type === "accept") this.send(m);
          this.faults["crash-before-persist"]++;
          this.crash(n, "before persisting its Ready");
          continue;
        }
        if (faulty && this.rng.chance(this.diskFullRate)) {
          // The write fails (disk full): nothing of the Ready leaves, the transaction rolled
          // back, and the node reloads its core from the store and waits for space. Unlike a
          // crash, its non-fsynced commits survive.
          this.faults["disk-full"]++;
          if (this.rng.chance(0.5)) for (const m of rd.messages) if (m.type === "accept") this.send(m);
          this.dropCore(n, 3 + this.rng.int(20), "its disk is full");
          continue;
        }
        this.handleReady(n, core, rd);
      }
      if (!any) return;
    }
  }

  private handleReady(n: SimNode, core: PaxosCore, rd: Ready): void {
    const before = n.store.durableHardState();
    if (rd.hardState) {
      if (rd.hardState.chosen < before.chosen) throw new Violated("safety", `${n.id} persisted chosen ${rd.hardState.chosen} below ${before.chosen}`);
      if (rd.hardState.recovering === false && before.recovering === true) this.log(`${n.id} recovered: it votes again (chosen ${rd.hardState.chosen})`);
    }
    // As the driver does: one transaction, fsynced only when it records a promise or entries;
    // a crash loses the others (the chosen and applied indexes roll back).
    n.store.transaction(() => {
      n.store.save(rd.hardState, rd.entries);
      for (const e of rd.committed) this.apply(n, e);
      if (rd.committed.length > 0) n.store.setApplied(rd.committed[rd.committed.length - 1]!.slot);
    }, { durable: mustSync(rd.hardState, rd.entries, before.promised) });
    for (const ev of rd.events) {
      this.log(`${n.id} ${ev.role} ballot ${formatBallot(ev.ballot)} leader ${ev.leader ?? "-"} (${ev.reason})`);
      if (ev.role === "leader") {
        this.elections++;
        const key = formatBallot(ev.ballot);
        const who = `${n.id}#${n.incarnation}`;
        const prev = this.leaderOfBallot.get(key);
        this.checks["one-leader-per-ballot"]++;
        if (prev !== undefined && prev !== who) throw new Violated("safety", `two leaders in ballot ${key}: ${prev} and ${who}`);
        this.leaderOfBallot.set(key, who);
      }
    }
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (!r || r.node !== n.id) throw new Violated("safety", `${n.id} answered a read it was never asked (ctx ${rs.ctx})`);
      // Linearizability: every write acknowledged before the read began must be visible.
      this.checks["linearizable-read"]++;
      if (rs.index < r.mustSee) throw new Violated("safety", `stale read at ${n.id}: read index ${rs.index} misses a write acknowledged at slot ${r.mustSee}`);
      n.waitingReads.push({ ctx: rs.ctx, index: rs.index });
    }
    this.serveReads(n);
    for (const ev of rd.events) if (ev.role !== "leader") for (const [ctx, r] of this.reads) if (r.node === n.id && !n.waitingReads.some((w) => w.ctx === ctx)) this.reads.delete(ctx);
    for (const m of rd.messages) this.send(m);
    this.guard(n, () => core.advance());
    const last = rd.committed.at(-1)?.slot ?? 0;
    if (last - core.compactedIndex >= 2 * LOG_MEMORY_SLOTS) this.guard(n, () => core.compact(last - LOG_MEMORY_SLOTS));
  }

  private apply(n: SimNode, e: Entry): void {
    this.checks["applied-in-order"]++;
    this.checks["one-value-per-slot"]++;
    if (e.slot !== n.applied.length + 1) throw new Violated("safety", `${n.id} applied slot ${e.slot} after ${n.applied.length}`);
    const known = this.chosenLog.get(e.slot);
    if (known === undefined) {
      this.chosenLog.set(e.slot, e.command);
      this.log(`slot ${e.slot} chosen: ${describe(e.command)} (first learned by ${n.id})`);
    } else if (!commandsEqual(known, e.command)) {
      throw new Violated("safety", `slot ${e.slot} chosen twice: ${describe(known)} and ${describe(e.command)} (at ${n.id})`);
    }
    n.applied.push(e.command);
    this.checks["applied-exactly-once"]++;
    const outcome = n.replica.apply(e.slot, e.command, (rid, first) => {
      throw new Violated("safety", `${n.id} applied request ${rid} twice: at slot ${first} and again at slot ${e.slot}`);
    });
    if (e.slot % HASH_EVERY_SLOTS === 0) {
      this.checks["same-tree-at-same-index"]++;
      const h = n.replica.hash();
      const known = this.hashAt.get(e.slot);
      if (known === undefined) this.hashAt.set(e.slot, h);
      else if (known !== h) throw new Violated("safety", `${n.id}'s tree differs from another replica's at applied index ${e.slot}`);
    }
    // The client that proposed through this node hears back now.
    for (const p of this.proposals) {
      if (p.state === "inflight" && p.via === n.id && p.slot === e.slot) {
        if (commandsEqual(p.command, e.command)) {
          p.state = "acked";
          p.ackedSlot = e.slot;
          this.history.complete(p.historyId, resultOf(p.op, outcome), this.now);
          this.maxAckedSlot = Math.max(this.maxAckedSlot, e.slot);
          this.log(`p${p.id} acknowledged by ${n.id} at slot ${e.slot}`);
        } else {
          this.requeue(p, `slot ${e.slot} went to ${describe(e.command)}`);
        }
      }
    }
  }

  // ---- Clients ------------------------------------------------------------------------------

  private clientWork(): void {
    if (this.rng.chance(0.15)) {
      const id = this.nextProposalId++;
      const key = this.rng.pick(KEYS);
      const { op, zop } = this.randomWrite(key, `v${id}`);
      // The request id is the deduplication key: every retry of this write carries it.
      const command = encodeCommand({ requestId: `r${id}`, timeMs: this.now, nonce: 0, op });
      const historyId = this.history.invoke(key, zop, this.now, `p${id}`);
      this.proposals.push({ id, command, key, op: zop, historyId, state: "queued", via: null, slot: 0, since: this.now, ackedSlot: 0 });
    }
    for (const p of this.proposals) if (p.state === "queued") this.tryPropose(p);
    if (this.rng.chance(0.2)) this.tryRead(this.rng.pick(this.nodes));
    // Reads at every node that believes it leads: a deposed leader that still thinks it
    // leads is where a stale read would come from.
    for (const n of this.nodes) if (n.core?.role === "leader" && this.rng.chance(0.15)) this.tryRead(n);
  }

  private tryRead(n: SimNode): void {
    if (!n.core || this.stalled(n)) return;
    const ctx = this.nextReadCtx++;
    const mustSee = this.maxAckedSlot;
    const key = this.rng.pick(KEYS);
    if (this.guard(n, () => n.core!.readIndex(ctx))) this.reads.set(ctx, { node: n.id, mustSee, key, historyId: this.history.invoke(key, { kind: "get" }, this.now, `read@${n.id}`) });
  }

  /** Answer the confirmed reads whose index this node has applied, from its tree. */
  private serveReads(n: SimNode): void {
    if (n.waitingReads.length === 0) return;
    const ready = n.waitingReads.filter((w) => w.index <= n.replica.applied);
    n.waitingReads = n.waitingReads.filter((w) => w.index > n.replica.applied);
    for (const w of ready) {
      const r = this.reads.get(w.ctx)!;
      this.reads.delete(w.ctx);
      const z = n.replica.znodes.get(r.key);
      this.history.complete(r.historyId, z === null ? { type: "read", exists: false } : { type: "read", exists: true, version: z.stat!.version, data: new TextDecoder().decode(z.data) }, this.now);
      this.readsServed++;
    }
  }

  /** A create, set or delete of `key`, with a version that is sometimes right. */
  private randomWrite(key: string, data: string): { op: ZkCommand["op"]; zop: ZnodeOp } {
    const version = this.rng.chance(0.5) ? -1 : this.rng.int(3);
    const bytes = new TextEncoder().encode(data);
    const expectedVersion = version === -1 ? undefined : version;
    switch (this.rng.int(3)) {
      case 0:
        return { op: { $case: "create", value: { path: key, data: bytes, ephemeral: false, sequential: false, sessionId: 0 } }, zop: { kind: "create", data } };
      case 1:
        return { op: { $case: "set", value: { path: key, data: bytes, expectedVersion } }, zop: { kind: "set", data, expectedVersion: version } };
      default:
        return { op: { $case: "delete", value: { path: key, expectedVersion } }, zop: { kind: "delete", expectedVersion: version } };
    }
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

  private tryPropose(p: Proposal): void {
    const live = this.nodes.filter((n) => n.core && !this.stalled(n));
    if (live.length === 0) return;
    // Clients ask a random node and follow its leader hint, as the real client does.
    let target = this.rng.pick(live);
    for (let hop = 0; hop < 2; hop++) {
      const r = this.guard(target, () => target.core!.propose([p.command]));
      if (r.ok) {
        p.state = "inflight";
        p.via = target.id;
        p.slot = r.firstSlot;
        p.since = this.now;
        this.log(`p${p.id} proposed via ${target.id} at slot ${r.firstSlot}`);
        return;
      }
      const hinted = this.nodes.find((n) => n.id === r.leaderHint && n.core && !this.stalled(n));
      if (!hinted || hinted === target) return;
      target = hinted;
    }
  }

  private retryStuck(): void {
    for (const p of this.proposals) {
      if (p.state === "inflight" && this.now - p.since > PENDING_RETRY_TICKS) this.requeue(p, "timed out");
    }
  }

  private requeue(p: Proposal, why: string): void {
    p.state = "queued";
    p.via = null;
    p.since = this.now;
    this.log(`p${p.id} retried: ${why}`);
  }

  // ---- Network and faults ---------------------------------------------------------------

  private send(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    if (this.now <= this.faultTicks && this.rng.chance(this.lossRate)) {
      this.faults.loss++;
      return;
    }
    const copies = this.now <= this.faultTicks && this.rng.chance(this.dupRate) ? 2 : 1;
    if (copies === 2) this.faults.duplicate++;
    for (let i = 0; i < copies; i++) {
      let delay = this.now <= this.faultTicks ? this.rng.int(this.delayMaxTicks + 1) : 0;
      if (delay > 0) this.faults.reorder++;
      if (this.now <= this.faultTicks && this.rng.chance(this.longDelayRate)) {
        delay = LONG_DELAY_TICKS_MIN + this.rng.int(LONG_DELAY_TICKS_MIN);
        this.faults["long-delay"]++;
      }
      this.network.push({ m, at: this.now + delay });
    }
  }

  private deliver(): void {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    // A stalled node reads nothing: what is sent to it waits in its socket buffer.
    const stalledIds = new Set(this.nodes.filter((n) => this.stalled(n)).map((n) => n.id));
    for (const f of this.network) (f.at <= this.now && !stalledIds.has(f.m.to) ? due : later).push(f);
    this.network = later;
    // Shuffle what arrives in the same tick: the network promises no order.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const { m } of due) {
      const n = this.nodes.find((x) => x.id === m.to);
      if (!n?.core || this.blocked.has(`${m.from}>${m.to}`)) continue;
      this.delivered++;
      this.guard(n, () => n.core!.step(m));
    }
  }

  private injectFaults(): void {
    if (this.opts.faults === "demo") {
      const leader = this.nodes.find((n) => n.core?.role === "leader");
      if (this.now === Math.floor(this.faultTicks / 2) && leader) this.crash(leader, "the demo kills the leader");
      return;
    }
    if (this.rng.chance(this.partitionRate)) {
      const kind = this.rng.int(4);
      this.blocked.clear();
      if (kind === 0) {
        this.log("partition healed");
      } else if (kind === 1) {
        const side = new Set(this.ids.filter(() => this.rng.chance(0.5)));
        for (const a of this.ids) for (const b of this.ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
        this.faults["symmetric-partition"]++;
        this.log(`partition {${[...side].join(",")}} | {${this.ids.filter((i) => !side.has(i)).join(",")}}`);
      } else if (kind === 2) {
        const cut: string[] = [];
        for (const a of this.ids) for (const b of this.ids) if (a !== b && this.rng.chance(0.3)) cut.push(`${a}>${b}`);
        for (const c of cut) this.blocked.add(c);
        this.faults["asymmetric-partition"]++;
        this.log(`asymmetric partition: ${cut.join(" ") || "(none)"} dropped`);
      } else {
        const leader = this.nodes.find((n) => n.core?.role === "leader");
        if (leader) {
          for (const b of this.ids) if (b !== leader.id) this.blocked.add(`${leader.id}>${b}`).add(`${b}>${leader.id}`);
          this.faults["leader-isolation"]++;
          this.log(`leader ${leader.id} isolated`);
        }
      }
    }
    if (this.rng.chance(this.crashRate)) {
      const live = this.nodes.filter((n) => n.core);
      if (live.length > 0) {
        this.faults["crash-restart"]++;
        this.crash(this.rng.pick(live), "crash-restart");
      }
    }
    if (this.rng.chance(this.wipeRate)) {
      // Losing more disks at once than the cluster can spare loses data by definition:
      // only wipe while every other rebuilt node has recovered... up to the spare count.
      const quorum = Math.floor(this.ids.length / 2) + 1;
      const rebuilding = this.nodes.filter((n) => this.rebuilding(n)).length;
      const candidates = this.nodes.filter((n) => !this.rebuilding(n));
      if (rebuilding < this.ids.length - quorum && candidates.length > 0) this.wipe(this.rng.pick(candidates));
    }
    if (this.rng.chance(this.stallRate)) {
      const live = this.nodes.filter((n) => n.core && !this.stalled(n));
      if (live.length > 0) {
        const n = this.rng.pick(live);
        n.stalledUntil = this.now + 1 + this.rng.int(STALL_TICKS_MAX);
        this.faults.stall++;
        this.log(`${n.id} stalls until tick ${n.stalledUntil}`);
      }
    }
  }

  /** Rebuilt after a wipe and not yet voting again (down or recovering). */
  private rebuilding(n: SimNode): boolean {
    if (n.wipedAt === 0) return false;
    // With wiped-votes the store never says so: count a wipe as recent for a while.
    if (this.opts.bug === "wiped-votes") return this.now - n.wipedAt < 150;
    return n.store.durableHardState().recovering === true;
  }

  /** Drop the node's core and reload it from its store later, without a crash's losses. */
  private dropCore(n: SimNode, ticks: number, why: string): void {
    n.core = null;
    n.store.close();
    n.restartAt = this.now + ticks;
    this.log(`${n.id} stops: ${why}; reloads at tick ${n.restartAt}`);
    for (const p of this.proposals) if (p.state === "inflight" && p.via === n.id) this.requeue(p, `${n.id} stopped`);
    for (const [ctx, r] of this.reads) if (r.node === n.id) this.reads.delete(ctx);
    n.waitingReads = [];
  }

  private heal(): void {
    this.blocked.clear();
    for (const n of this.nodes) {
      if (!n.core) n.restartAt = this.now;
      n.stalledUntil = 0;
    }
    this.log("faults stop: network healed, crashed nodes restart");
  }

  // ---- Checks -----------------------------------------------------------------------------

  private converged(): boolean {
    const leaders = this.nodes.filter((n) => n.core?.role === "leader");
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!;
    if (this.proposals.some((p) => p.state !== "acked")) return false;
    return this.nodes.every((n) => n.core && !n.core.isRecovering && n.core.leaderId === leader.id && n.applied.length === leader.applied.length && n.core.chosen === leader.core!.lastLogSlot);
  }

  private checkLiveness(): void {
    const leaders = this.nodes.filter((n) => n.core?.role === "leader");
    if (leaders.length !== 1) {
      throw new Violated("liveness", `${this.healTicks} ticks after the faults stopped there are ${leaders.length} leaders`);
    }
    const stuck = this.proposals.filter((p) => p.state !== "acked");
    if (stuck.length > 0) {
      throw new Violated("liveness", `${stuck.length} proposals never acknowledged after the faults stopped (first: p${stuck[0]!.id}, ${stuck[0]!.state})`);
    }
    const leader = leaders[0]!;
    for (const n of this.nodes) {
      if (n.applied.length !== leader.applied.length) {
        const pr = leader.core!.followerProgress().get(n.id);
        const next = n.core!.entry(n.core!.chosen + 1);
        throw new Violated(
          "liveness",
          `${n.id} applied ${n.applied.length} slots, leader ${leader.id} ${leader.applied.length}; ` +
            `leader's view of ${n.id}: ${JSON.stringify(pr)}; ${n.id}'s next entry: ${next ? `ballot ${formatBallot(next.ballot)}` : "none"}`,
        );
      }
    }
    for (const n of this.nodes) {
      if (n.storeIncarnation === 0) continue;
      this.checks["rebuilt-node-recovered"]++;
      if (n.core!.isRecovering) throw new Violated("liveness", `${n.id}, rebuilt after a wipe, is still recovering ${this.healTicks} ticks after the faults stopped`);
    }
    // Every acknowledged proposal is in every node's chosen log.
    for (const p of this.proposals) {
      for (const n of this.nodes) {
        this.checks["acked-in-every-log"]++;
        const c = n.applied[p.ackedSlot - 1];
        if (c === undefined || !commandsEqual(c, p.command)) {
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

function describe(c: Command): string {
  if (c.length === 0) return "no-op";
  const cmd = decodeCommand(c);
  const op = cmd.op;
  if (op === undefined) return `${cmd.requestId}: (empty)`;
  const v = op.value as { path?: string; expectedVersion?: number };
  return `${cmd.requestId}: ${op.$case} ${v.path ?? ""}${v.expectedVersion !== undefined ? ` v=${v.expectedVersion}` : ""}`;
}

/** What the client of `op` saw, from the tree's outcome (its first application's, if a retry). */
function resultOf(op: ZnodeOp, outcome: ApplyOutcome | null): ZnodeResult {
  if (outcome === null) throw new Error("zk: sim bug: a client write was applied as a no-op");
  if ("error" in outcome) {
    const code = outcome.error.code;
    if (code === ErrorCode.NO_NODE) return { type: "error", code: "NO_NODE" };
    if (code === ErrorCode.NODE_EXISTS) return { type: "error", code: "NODE_EXISTS" };
    if (code === ErrorCode.BAD_VERSION) return { type: "error", code: "BAD_VERSION" };
    throw new Error(`zk: sim bug: ${op.kind} failed with error code ${code}: ${outcome.error.message}`);
  }
  const r = outcome.result.result;
  if (r?.$case === "create") return { type: "ok", version: 0 };
  if (r?.$case === "set") return { type: "ok", version: r.value.stat!.version };
  if (r?.$case === "delete") return { type: "ok" };
  throw new Error(`zk: sim bug: unexpected result ${r?.$case} for ${op.kind}`);
}
