// The Multi-Paxos protocol core: a deterministic state machine. Ticks, messages and
// proposals go in; a Ready (persist these, send these, these are now chosen, these things
// happened) comes out, and the driver acknowledges it with advance(). No timers, sockets,
// files, clocks or Math.random in here: that is what lets the simulator replay a seed.
//
// Every node is an acceptor. At most one node at a time believes it leads: it won Phase 1
// with a ballot (round, id) above every ballot it has seen, re-proposed in that ballot the
// highest-ballot value each acceptor of its quorum reported for every slot past its chosen
// index (holes become no-ops), and from then on runs Phase 2 alone, pipelining batches.
//
// Recovery (Paxos Made Live, section 5.1, made safe against stale messages). An acceptor
// that lost its disk has forgotten its promises and acceptances; counting it in a quorum
// could choose a second value for a slot. So a rebuilt store starts `recovering`, under a
// new, larger incarnation number, and the acceptor neither promises, grants pre-votes,
// campaigns, nor counts in any leader's quorum. It stores the entries a leader sends it
// and reports itself recovering; the leader, on learning of the new incarnation, runs a
// fresh Phase 1 whose Prepare carries it. The rebuilt acceptor votes again only once it
// holds, as chosen, every slot up to the election tail of a ballot whose Phase 1 began with
// its new incarnation known. Why that is safe:
//  - That ballot B's promise quorum excludes the rebuilt node, so B's leader re-proposes
//    every value that could have been chosen before the rebuild (the usual intersection,
//    among nodes that did not forget), and the rebuilt node holds them all before voting.
//  - A stale promise the node gave before its rebuild to some ballot P > B (still in
//    flight, or held by a paused candidate) would let P ignore what the node accepted in B.
//    But P's quorum needs another member z of B's quorum; z promised B before P (it could
//    not promise B after P), so it knew the new incarnation, and every promise carries the
//    promiser's incarnation view: P's candidate learns it and drops the stale promise.
//    Views are durable (persisted with the promise that depends on them).
//  - Ballots below B can choose nothing once B is established: B's quorum and the
//    recovered node (promised B) refuse them.
import { invariant } from "./invariant.js";
import { decodeConfig, initialConfig, isConfigCommand, quorums, votersAmong, type ClusterConfig } from "./config.js";
import {
  ballotEquals,
  formatBallot,
  commandsEqual,
  compareBallots,
  type AcceptMsg,
  type AcceptReplyMsg,
  type Ballot,
  type Command,
  type CoreConfig,
  type CoreEvent,
  type DurableState,
  type ElectionReason,
  type Entry,
  type HardState,
  type LogReader,
  type Message,
  type NodeId,
  type PrepareMsg,
  type PreVoteMsg,
  type PreVoteReplyMsg,
  type PromiseMsg,
  type ProposeResult,
  type Ready,
  type ReadState,
  type Role,
  type TimeoutNowMsg,
} from "./types.js";

export const DEFAULTS = {
  electionTimeoutTicks: 10,
  heartbeatTicks: 2,
  batchEntriesMax: 256,
  batchBytesMax: 4 * 1024 * 1024,
  inflightBatchesMax: 4,
  uncommittedEntriesMax: 8192,
} as const;

/** An acceptor ignores proposals for slots more than this far past its chosen index. */
export const ACCEPT_AHEAD_SLOTS_MAX = 1_000_000;

/** Heartbeat intervals without an answer to in-flight batches before they are resent. */
const STALLED_HEARTBEATS_MAX = 2;

/** What the leader knows of one follower. */
interface Progress {
  /** Next slot to send. */
  next: number;
  /** Highest slot the follower holds our values for with no gap. */
  match: number;
  /** Accept batches sent and not yet answered. */
  inflight: number;
  /**
   * Heartbeat intervals in a row with batches in flight and none of them answered; at
   * STALLED_HEARTBEATS_MAX the batches are presumed lost and resent from `match`.
   */
  stalledHeartbeats: number;
  /** The follower's own chosen index, as last reported. */
  chosen: number;
  /** The highest confirmation round this follower has answered in our ballot. */
  ackedSeq: number;
  /** The chosen index we last told this follower. */
  sentChosen: number;
  /** The follower's incarnation its replies carry; replies of an older one are stale. */
  incarnation: number;
  /**
   * An Accept with entries went to this follower since the last heartbeat round: the next
   * round sends it no heartbeat (it heard from us within the interval, and will answer).
   */
  sentEntriesSinceBeat?: boolean;
  /** False while the follower reports itself recovering: it counts toward nothing. */
  voter: boolean;
  /** A snapshot was asked for this follower (its next slot is below our log start) and is not done. */
  snapshotPending?: boolean;
  /**
   * A member a chosen configuration removed: it still gets our Accepts until it reports this
   * slot chosen (so it learns it was removed) or LEAVING_HEARTBEATS_MAX heartbeats pass; it
   * counts in nothing.
   */
  leavingAt?: number;
  leavingHeartbeats?: number;
}

/** Heartbeats a removed member is told of its removal at most. */
const LEAVING_HEARTBEATS_MAX = 20;

type StepHandler = (m: Message) => void;
type TickHandler = () => void;

export class PaxosCore {
  readonly id: NodeId;
  private readonly cfg: Required<Omit<CoreConfig, "plantedBugs" | "applied" | "logReader" | "incarnation" | "membership" | "members">> & {
    plantedBugs: NonNullable<CoreConfig["plantedBugs"]>;
  };

  // Durable acceptor state (mirrored in the store once a Ready is persisted).
  private promised: Ballot;
  private chosenIndex: number;
  /** Entries above `compactedTo`; older (chosen) ones are read through `logReader`. */
  private readonly log = new Map<number, Entry>();
  private compactedTo = 0;
  /** Entries up to this slot are gone from the store too (discarded after a snapshot). */
  private discardedTo = 0;
  /** Followers to send a snapshot to, for the next Ready. */
  private snapshotRequests: NodeId[] = [];
  private readonly logReader: LogReader | null;
  private lastSlot = 0;
  /**
   * The configuration of the slots after the chosen index (every chosen configuration
   * command applied), and the configuration commands in the log above the chosen index, by
   * slot: each governs the slots after its own (see config.ts).
   */
  private chosenConfig: ClusterConfig;
  private readonly pendingConfigs = new Map<number, ClusterConfig>();
  /** This store's incarnation, and whether it is still recovering (see "Recovery"). */
  private readonly incarnation: number;
  private recovering: boolean;
  /** The highest incarnation known for each other member (absent: 0). Durable. */
  private readonly known = new Map<NodeId, number>();
  /** Set when `recovering` or `known` changed: the next hard state carries them. */
  private recoveryDirty = false;

  // Volatile state.
  private roleName: Role = "follower";
  private stepRole: StepHandler;
  private tickRole: TickHandler;
  private leader: NodeId | null = null;
  private maxRoundSeen: number;
  private ticks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  // Pre-vote and Phase 1.
  private preVoteRound = 0;
  private readonly preVotes = new Map<NodeId, boolean>();
  private readonly promises = new Map<NodeId, PromiseMsg>();
  private phase1FromSlot = 0;
  /** `known` when our Phase 1 began: a recovering member may vote for us only if current there. */
  private phase1Known: ReadonlyMap<NodeId, number> = new Map();
  /** Who was sent our Prepare (configurations found in promises may add voters). */
  private readonly prepared = new Set<NodeId>();

  // Leader.
  private readonly progress = new Map<NodeId, Progress>();
  private readonly heardSinceCheck = new Set<NodeId>();
  /** The leader's own accepted-and-persisted run: it counts toward quorums only once durable. */
  private stableSlot = 0;
  private replicationPending = false;
  /** The last slot recovered in Phase 1: reads must wait until it is chosen and applied. */
  private electionTailSlot = 0;
  /** Confirmation rounds: every Accept carries `seq`; a read asked at seq r is confirmed by a quorum of replies with seq >= r. */
  private seq = 0;
  private confirmPending = false;
  private readonly pendingReads: { ctx: number; index: number; seq: number }[] = [];
  /** A leader transfer in progress: no proposals meanwhile; TimeoutNow once the target has our whole log. */
  private transfer: { to: NodeId; ticksLeft: number; sent: boolean } | null = null;

  // The Ready being accumulated.
  private hardStateDirty = false;
  private unstable: Entry[] = [];
  private outbox: Message[] = [];
  private events: CoreEvent[] = [];
  private readStates: ReadState[] = [];
  /** Highest slot already handed to the driver in `committed`. */
  private committedCursor: number;
  private readyOut: { lastUnstableSlot: number; committedTo: number } | null = null;

  constructor(config: CoreConfig, durable: DurableState) {
    this.id = config.id;
    const membership = config.membership ?? initialConfig((config.members ?? [config.id]).map((id) => ({ id, address: "" })));
    invariant(new Set(membership.members.map((m) => m.id)).size === membership.members.length, "duplicate member ids");
    this.chosenConfig = membership;
    this.cfg = {
      id: config.id,
      rng: config.rng,
      electionTimeoutTicks: config.electionTimeoutTicks ?? DEFAULTS.electionTimeoutTicks,
      heartbeatTicks: config.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
      batchEntriesMax: config.batchEntriesMax ?? DEFAULTS.batchEntriesMax,
      batchBytesMax: config.batchBytesMax ?? DEFAULTS.batchBytesMax,
      inflightBatchesMax: config.inflightBatchesMax ?? DEFAULTS.inflightBatchesMax,
      uncommittedEntriesMax: config.uncommittedEntriesMax ?? DEFAULTS.uncommittedEntriesMax,
      plantedBugs: config.plantedBugs ?? {},
    };
    invariant(this.cfg.heartbeatTicks < this.cfg.electionTimeoutTicks, "heartbeat must be shorter than the election timeout");

    this.promised = durable.hardState.promised;
    this.chosenIndex = durable.hardState.chosen;
    this.incarnation = config.incarnation ?? 0;
    invariant(Number.isSafeInteger(this.incarnation) && this.incarnation >= 0, `incarnation ${this.incarnation} is not a number`);
    this.recovering = durable.hardState.recovering === true;
    for (const [id, inc] of Object.entries(durable.hardState.incarnations ?? {})) if (id !== this.id) this.known.set(id, inc);
    this.logReader = config.logReader ?? null;
    this.discardedTo = durable.discardedTo ?? 0;
    this.compactedTo = Math.max((durable.entriesFrom ?? 1) - 1, this.discardedTo);
    invariant(this.compactedTo === 0 || this.logReader !== null, "a partial log needs a logReader");
    invariant(this.compactedTo <= this.chosenIndex, `entries loaded from ${this.compactedTo + 1}, past the chosen index ${this.chosenIndex}`);
    this.lastSlot = this.compactedTo;
    for (const e of durable.entries) {
      invariant(e.slot > this.compactedTo, `entry ${e.slot} below the loaded window`);
      this.log.set(e.slot, e);
      if (e.slot > this.lastSlot) this.lastSlot = e.slot;
    }
    for (let s = this.compactedTo + 1; s <= this.chosenIndex; s++) {
      invariant(this.log.has(s), `chosen slot ${s} is missing from the stored log`);
    }
    const applied = config.applied ?? 0;
    invariant(applied <= this.chosenIndex, `applied index ${applied} is past the chosen index ${this.chosenIndex}`);
    invariant(this.discardedTo <= applied, `entries discarded to ${this.discardedTo}, past the applied index ${applied}`);
    this.committedCursor = applied;
    // `membership` is the configuration at the applied index; chosen ones after it apply on top.
    for (let s = applied + 1; s <= this.chosenIndex; s++) {
      const e = this.entryAt(s);
      if (e !== undefined && isConfigCommand(e.command)) this.chosenConfig = decodeConfig(e.command);
    }
    for (const e of this.log.values()) if (e.slot > this.chosenIndex && isConfigCommand(e.command)) this.pendingConfigs.set(e.slot, decodeConfig(e.command));
    this.maxRoundSeen = this.promised.round;
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    if (!this.isVoter(this.id)) {
      this.roleName = "learner";
      this.tickRole = this.tickLearner;
    }
    if (this.recovering) {
      this.roleName = "recovering";
      this.stepRole = this.stepRecovering;
      this.tickRole = this.tickRecovering;
    }
    this.resetElectionTimer();
    this.emitRole("start");
  }

  // ---- Observers -------------------------------------------------------------------------

  get role(): Role {
    return this.roleName;
  }
  /** The configuration in force after the chosen index. */
  get config(): ClusterConfig {
    return this.chosenConfig;
  }
  /** The ids of that configuration's members (voters and learners). */
  get members(): readonly NodeId[] {
    return this.chosenConfig.members.map((m) => m.id);
  }
  /** A configuration command in the log and not yet chosen (at most one on a leader). */
  get configInFlight(): { readonly slot: number; readonly config: ClusterConfig } | null {
    let best: { slot: number; config: ClusterConfig } | null = null;
    for (const [slot, config] of this.pendingConfigs) if (best === null || slot < best.slot) best = { slot, config };
    return best;
  }
  /** Whether `id` votes in the configuration in force after the chosen index. */
  isVoter(id: NodeId): boolean {
    return quorums(this.chosenConfig).voters.has(id);
  }

  /**
   * A voter of every configuration we hold that governs or may govern slots (the chosen one
   * and those accepted but not known chosen): whether we may campaign, and must insist on
   * candidates that know as much of the chosen log as we do.
   */
  private votesInWindow(id: NodeId): boolean {
    return this.windowConfigs().every((c) => quorums(c).voters.has(id));
  }

  /** votesInWindow for ourselves (the planted bug counts the chosen configuration only). */
  private selfVotesInWindow(): boolean {
    return this.cfg.plantedBugs.preVoteChosenConfigOnly ? this.isVoter(this.id) : this.votesInWindow(this.id);
  }
  /**
   * A candidate that knows more of the chosen log than we do may have been made a voter by a
   * configuration in it that we have not learnt: a member that fell far behind (its log
   * restored from an old snapshot, or never caught up) must not block its election for ever by
   * not knowing it, when it is the one that knows most (the others refuse whoever is behind
   * them). A member removed at or below our chosen index is no such candidate: knowing chosen
   * slots past ours, it knows its removal and does not campaign.
   */
  private aheadOfUs(m: PrepareMsg | PreVoteMsg): boolean {
    if (this.cfg.plantedBugs.strangerBehindBlocks) return false;
    return (m.type === "prepare" ? m.fromSlot - 1 : m.chosen) > this.chosenIndex;
  }

  private knowsMember(id: NodeId): boolean {
    if (this.chosenConfig.members.length === 0) return true;
    return this.windowConfigs().some((c) => quorums(c).all.has(id));
  }

  /** The voter a leader transfer is handing leadership to, while it runs. */
  get transferTarget(): NodeId | null {
    return this.transfer?.to ?? null;
  }
  get leaderId(): NodeId | null {
    return this.leader;
  }
  get promisedBallot(): Ballot {
    return this.promised;
  }
  get chosen(): number {
    return this.chosenIndex;
  }
  get lastLogSlot(): number {
    return this.lastSlot;
  }
  get tickCount(): number {
    return this.ticks;
  }
  /** True while this rebuilt acceptor may not vote (see "Recovery"). */
  get isRecovering(): boolean {
    return this.recovering;
  }
  get incarnationNumber(): number {
    return this.incarnation;
  }
  /** Ticks since a follower last heard its leader (0 on the leader). */
  get ticksSinceLeaderHeard(): number {
    return this.roleName === "leader" ? 0 : this.electionElapsed;
  }
  /** The entry stored at `slot`, if any (for tests and inspection). */
  entry(slot: number): Entry | undefined {
    return this.entryAt(slot);
  }

  /**
   * Drop chosen-and-applied entries up to `upTo` from memory; they stay in the store and are
   * read back through the LogReader if a lagging follower needs them.
   */
  compact(upTo: number): void {
    invariant(this.logReader !== null, "compact() needs a logReader");
    invariant(upTo <= this.committedCursor, `cannot compact to ${upTo}: only ${this.committedCursor} applied`);
    for (let s = this.compactedTo + 1; s <= upTo; s++) this.log.delete(s);
    if (upTo > this.compactedTo) this.compactedTo = upTo;
  }

  /**
   * The store discarded entries up to `upTo` (a snapshot point minus the retained tail): the
   * core never reads them again, refuses Prepares that would need them, and catches up a
   * follower that needs them with a snapshot (Ready.snapshotsNeeded).
   */
  discardLog(upTo: number): void {
    invariant(upTo <= this.committedCursor, `cannot discard to ${upTo}: only ${this.committedCursor} applied`);
    if (upTo <= this.discardedTo) return;
    if (upTo > this.compactedTo) this.compact(upTo);
    this.discardedTo = upTo;
  }

  /** A Ready is out (ready() called, advance() not yet): its committed entries do not count as handed out until advance(). */
  get readyOutstanding(): boolean {
    return this.readyOut !== null;
  }

  /** The first slot this node's log holds (1 unless entries were discarded). */
  get logStart(): number {
    return this.discardedTo + 1;
  }

  /**
   * The driver finished or gave up on a snapshot for `peer`. Either way the follower's
   * replies decide what comes next: a follower still below the log start is asked for again.
   */
  snapshotSent(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (pr) pr.snapshotPending = false;
  }

  /** Entries up to this slot live only in the store. */
  get compactedIndex(): number {
    return this.compactedTo;
  }

  /** Entries kept in memory (for tests and metrics). */
  get inMemoryEntries(): number {
    return this.log.size;
  }

  /** Every accepted entry with slot >= `from`, ascending (the log may have holes). */
  private acceptedFrom(from: number): Entry[] {
    // A promise must report every accepted entry from `from` on: none of them may be discarded.
    invariant(from > this.discardedTo, `accepted entries asked from ${from}, but entries up to ${this.discardedTo} are discarded`);
    const stored = from <= this.compactedTo ? this.logReader!.entries(Math.max(1, from), this.compactedTo) : [];
    const recent: Entry[] = [];
    for (const e of this.log.values()) if (e.slot >= from) recent.push(e);
    recent.sort((a, b) => a.slot - b.slot);
    return stored.concat(recent);
  }

  private entryAt(slot: number): Entry | undefined {
    if (slot > this.compactedTo) return this.log.get(slot);
    return slot >= 1 ? this.logReader?.entry(slot) : undefined;
  }
  /** What the leader knows of each follower (empty unless leading). */
  followerProgress(): ReadonlyMap<NodeId, Readonly<Progress>> {
    return this.progress;
  }

  // ---- Inputs ----------------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    this.tickRole();
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    // Only a member of a configuration we know may ask for our vote (a stranger's or a removed
    // member's Prepare would raise our promise and stall the real leader). Anyone may send us
    // Accepts and replies: ballots guard those, and a leader added after what we know must be
    // able to catch us up. A node that knows no configuration yet (just joined) hears everyone,
    // and so do we a candidate that knows chosen slots we do not (aheadOfUs).
    if ((m.type === "prepare" || m.type === "preVote") && !this.knowsMember(m.from) && !this.aheadOfUs(m)) return;
    if (!wellFormed(m)) return;
    this.observeRound(m);
    this.observeIncarnations(m);
    switch (m.type) {
      case "preVote":
        return this.handlePreVote(m);
      case "prepare":
        return this.handlePrepare(m);
      case "accept":
        return this.handleAccept(m);
      case "timeoutNow":
        return this.handleTimeoutNow(m);
      default:
        return this.stepRole(m);
    }
  }

  /** Propose commands; only a leader that finished Phase 1 takes them. */
  propose(commands: readonly Command[]): ProposeResult {
    if (this.roleName !== "leader") {
      return { ok: false, reason: "not-leader", leaderHint: this.leader };
    }
    // Nothing past an unchosen configuration (its slots' quorums are not settled yet), nor
    // during a leader transfer: the caller queues and retries.
    if (this.lastSlot - this.chosenIndex + commands.length > this.cfg.uncommittedEntriesMax || this.pendingConfigs.size > 0 || this.transfer !== null) {
      return { ok: false, reason: "busy", leaderHint: this.id };
    }
    for (const c of commands) {
      invariant(c.length > 0, "the empty command is reserved for no-ops");
      invariant(!isConfigCommand(c), "configuration changes go through proposeConfig()");
    }
    const firstSlot = this.lastSlot + 1;
    for (const command of commands) this.appendOwn(command);
    this.replicationPending = true;
    return { ok: true, firstSlot, ballot: this.promised };
  }

  /**
   * Propose a configuration command (config.ts's encodeConfig): it governs the slots after
   * its own once chosen, and nothing else is proposed until it is. Refused when another
   * change is in flight (the caller names it) or a leader transfer runs.
   */
  proposeConfig(command: Command): { ok: true; slot: number } | { ok: false; reason: "not-leader" | "in-flight" | "transfer" } {
    invariant(isConfigCommand(command), "not a configuration command");
    invariant(quorums(decodeConfig(command)).voters.size > 0, "a configuration must keep at least one voter");
    if (this.roleName !== "leader") return { ok: false, reason: "not-leader" };
    if (this.pendingConfigs.size > 0) return { ok: false, reason: "in-flight" };
    if (this.transfer !== null) return { ok: false, reason: "transfer" };
    const slot = this.lastSlot + 1;
    this.appendOwn(command);
    this.syncProgress();
    this.replicationPending = true;
    return { ok: true, slot };
  }

  /**
   * Hand leadership to `to`, a voter: take no proposals, catch it up to our last slot, then
   * tell it to campaign (TimeoutNow). Gives up after two election timeouts; the caller
   * watches `transferTarget` and the role events.
   */
  transferLeadership(to: NodeId): { ok: true } | { ok: false; reason: string } {
    if (this.roleName !== "leader") return { ok: false, reason: "not-leader" };
    if (to === this.id) return { ok: false, reason: "already-leader" };
    const pr = this.progress.get(to);
    if (!this.votesInWindow(to) || pr === undefined) return { ok: false, reason: "not-a-voter" };
    if (!pr.voter) return { ok: false, reason: "recovering" };
    this.transfer = { to, ticksLeft: 2 * this.cfg.electionTimeoutTicks, sent: false };
    this.maybeSendTimeoutNow();
    return { ok: true };
  }

  /**
   * Ask for a linearizable read point (read-index). The answer comes in a later Ready's
   * `readStates` once a quorum has confirmed, after this call, that we still lead; false
   * (ask the leader) when we do not lead.
   */
  readIndex(ctx: number): boolean {
    if (this.cfg.plantedBugs.localReads) {
      this.readStates.push({ ctx, index: this.chosenIndex });
      return true;
    }
    if (this.roleName !== "leader") return false;
    // Entries recovered in Phase 1 may predate our reads' writes: wait for them too.
    const index = Math.max(this.chosenIndex, this.electionTailSlot);
    if (this.quorumOf([this.id])) {
      this.readStates.push({ ctx, index });
      return true;
    }
    if (!this.confirmPending) {
      this.seq++;
      this.confirmPending = true;
    }
    this.pendingReads.push({ ctx, index, seq: this.seq });
    // Planted bug: acks already in hand (from the round before this read) confirm it.
    if (this.cfg.plantedBugs.staleReadRound) this.confirmReads();
    return true;
  }

  /** Give up leadership (operator request); another node will campaign. */
  stepDown(): void {
    if (this.roleName === "leader") this.becomeFollower(null, "step-down");
  }

  // ---- Ready / advance ---------------------------------------------------------------------

  hasReady(): boolean {
    if (this.readyOut !== null) return false;
    return (
      this.hardStateDirty ||
      this.unstable.length > 0 ||
      this.outbox.length > 0 ||
      this.events.length > 0 ||
      this.replicationPending ||
      this.confirmPending ||
      this.readStates.length > 0 ||
      this.snapshotRequests.length > 0 ||
      this.followersBehindChosen() ||
      this.committedCursor < this.chosenIndex
    );
  }

  private followersBehindChosen(): boolean {
    if (this.roleName !== "leader") return false;
    for (const pr of this.progress.values()) if (pr.sentChosen < this.chosenIndex && pr.match >= pr.sentChosen + 1) return true;
    return false;
  }

  ready(): Ready {
    invariant(this.readyOut === null, "ready() called again before advance()");
    if (this.confirmPending) {
      // One heartbeat round confirms every read asked since the last one.
      this.confirmPending = false;
      this.replicationPending = false;
      if (this.roleName === "leader") for (const p of this.progress.keys()) if (!this.replicate(p)) this.sendAccept(p, this.progress.get(p)!.next, []);
    }
    if (this.replicationPending) {
      this.replicationPending = false;
      if (this.roleName === "leader") for (const p of this.progress.keys()) this.replicate(p);
    }
    if (this.roleName === "leader") {
      // Tell followers about a new chosen index now rather than at the next heartbeat, so
      // they apply (and serve reads) promptly. Under load it rides on the next batch instead.
      for (const [p, pr] of this.progress) {
        // Quiet: unanswered (the next heartbeat's answer reports what the follower learned).
        if (pr.sentChosen < this.chosenIndex && pr.match >= pr.sentChosen + 1) this.sendAccept(p, pr.next, [], true);
      }
    }
    const committed: Entry[] = [];
    for (let s = this.committedCursor + 1; s <= this.chosenIndex; s++) {
      const e = this.entryAt(s);
      invariant(e !== undefined, `chosen slot ${s} has no entry`);
      committed.push(e);
    }
    const hardState: HardState | null = this.hardStateDirty
      ? this.recoveryDirty
        ? { promised: this.promised, chosen: this.chosenIndex, recovering: this.recovering, incarnations: Object.fromEntries(this.known) }
        : { promised: this.promised, chosen: this.chosenIndex }
      : null;
    const rd: Ready = {
      hardState,
      entries: this.unstable,
      messages: this.outbox,
      committed,
      events: this.events,
      readStates: this.readStates,
      snapshotsNeeded: this.snapshotRequests,
    };
    const lastUnstable = this.unstable.length > 0 ? this.unstable[this.unstable.length - 1]!.slot : 0;
    this.readyOut = { lastUnstableSlot: lastUnstable, committedTo: this.chosenIndex };
    this.hardStateDirty = false;
    this.recoveryDirty = false;
    this.unstable = [];
    this.outbox = [];
    this.events = [];
    this.readStates = [];
    this.snapshotRequests = [];
    return rd;
  }

  /**
   * The driver persisted, sent and applied the last Ready. `entriesDurable: false` (a leader
   * whose write of its own entries is committed but not yet fsynced): the next Ready may be
   * cut, and the entries count toward quorums only once persisted() says they are durable.
   */
  advance(entriesDurable = true): void {
    const out = this.readyOut;
    invariant(out !== null, "advance() without a ready()");
    this.readyOut = null;
    this.committedCursor = Math.max(this.committedCursor, out.committedTo);
    if (entriesDurable && this.roleName === "leader" && out.lastUnstableSlot > this.stableSlot) {
      // Our own acceptances are durable now; they may complete a quorum.
      this.stableSlot = out.lastUnstableSlot;
      this.maybeCommit();
    }
  }

  /**
   * A leader's own entries up to `slot`, written while it led under `ballot`, are durable
   * (their fsync completed). Ignored once it leads no more under that ballot: a later term
   * may have rewritten those slots after the write this fsync covered.
   */
  persisted(ballot: Ballot, slot: number): void {
    if (this.roleName !== "leader" || !ballotEquals(ballot, this.promised) || slot <= this.stableSlot) return;
    // Within its ballot a leader only appends: the slot it wrote is still in its log, at that
    // ballot (unless chosen, applied and compacted out of memory meanwhile).
    const e = slot > this.compactedTo ? this.log.get(slot) : undefined;
    invariant(slot <= this.lastSlot && (slot <= this.compactedTo || (e !== undefined && ballotEquals(e.ballot, ballot))), `leader ${formatBallot(ballot)} told slot ${slot} is durable, which its log does not hold at that ballot (last slot ${this.lastSlot})`);
    this.stableSlot = slot;
    this.maybeCommit();
    if (this.roleName === "leader") this.maybeSendTimeoutNow();
  }

  // ---- Acceptor: every node, whatever its role -----------------------------------------------

  private handlePrepare(m: PrepareMsg): void {
    const cmp = compareBallots(m.ballot, this.promised);
    // A repeated Prepare of the ballot we promised gets the same answer: promising again is idempotent.
    // A recovering acceptor promises nothing: it forgot what it promised before.
    // Nor does one whose log starts above the candidate's chosen index: it discarded entries
    // it may have accepted there, and a promise that hides them could lose a chosen value.
    if (this.recovering || cmp < 0 || (cmp === 0 && m.ballot.nodeId !== m.from) || m.fromSlot <= this.discardedTo) {
      this.send(this.promiseReply(m, false));
      return;
    }
    if (cmp > 0) {
      this.setPromised(m.ballot);
      if (this.roleName !== this.passiveRole()) this.becomeFollower(null, "higher-ballot");
      else this.leader = null;
      // Give the candidate we promised time to finish Phase 1 before we campaign ourselves.
      this.resetElectionTimer();
    }
    this.send(this.promiseReply(m, true));
  }

  private promiseReply(m: PrepareMsg, ok: boolean): PromiseMsg {
    return {
      type: "promise",
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      ok,
      promised: this.promised,
      entries: ok ? this.acceptedFrom(m.fromSlot) : [],
      chosen: this.chosenIndex,
      incarnation: this.incarnation,
      incarnations: this.view(),
      recovering: this.recovering,
      logStart: this.discardedTo + 1,
    };
  }

  private handleAccept(m: AcceptMsg): void {
    const cmp = compareBallots(m.ballot, this.promised);
    if (cmp < 0) {
      this.send(this.acceptReply(m, false));
      return;
    }
    if (cmp > 0) this.setPromised(m.ballot);
    // A quiet notice of the chosen index is answered only when the leader has something to
    // learn from the answer: a new promise here, or recovery (its vote counts from then on).
    // One with commands (no leader of ours sends it) is answered: entries need their answers.
    const answer = !m.quiet || m.commands.length > 0 || cmp > 0 || this.recovering;
    if (this.recovering) {
      // Follow the leader to catch up, without voting.
      if (this.leader !== m.from) {
        this.leader = m.from;
        this.emitRole("leader-heard");
      }
    } else if (this.roleName !== this.passiveRole() || this.leader !== m.from) {
      this.becomeFollower(m.from, "leader-heard");
    }
    this.electionElapsed = 0;

    for (let i = 0; i < m.commands.length; i++) {
      const slot = m.firstSlot + i;
      // No honest leader proposes this far past our chosen index (it resends from our match):
      // refuse to hold entries so far ahead that the log's bookkeeping could blow up.
      if (slot > this.chosenIndex + ACCEPT_AHEAD_SLOTS_MAX) break;
      const command = m.commands[i]!;
      // Discarded after a snapshot: chosen and applied long ago, nothing left to compare.
      if (slot <= this.discardedTo) continue;
      const have = this.entryAt(slot);
      if (slot <= this.chosenIndex) {
        // Already chosen here: Paxos guarantees every later ballot proposes the same value.
        invariant(have !== undefined && commandsEqual(have.command, command), `slot ${slot} is chosen here with another value than ${m.from} proposes at ${m.ballot.round}.${m.ballot.nodeId}`);
        continue;
      }
      if (have !== undefined && ballotEquals(have.ballot, m.ballot)) {
        invariant(commandsEqual(have.command, command), `ballot ${m.ballot.round}.${m.ballot.nodeId} proposed two values for slot ${slot}`);
        continue;
      }
      this.acceptEntry({ slot, ballot: m.ballot, command });
    }
    this.learnChosen(m.ballot, m.chosen);
    if (this.recovering && m.yourIncarnation === this.incarnation && this.chosenIndex >= m.electionTail) {
      // This ballot's Phase 1 began with our rebuild known, and we hold everything it
      // recovered as chosen: our promises and acceptances are trustworthy again.
      this.recovering = false;
      this.recoveryDirty = true;
      this.hardStateDirty = true;
      this.becomeFollower(m.from, "recovered");
    }
    if (answer) this.send(this.acceptReply(m, true));
  }

  private acceptReply(m: AcceptMsg, ok: boolean): AcceptReplyMsg {
    return {
      type: "acceptReply",
      from: this.id,
      to: m.from,
      ballot: m.ballot,
      ok,
      promised: this.promised,
      match: ok ? this.matchFor(m.ballot) : 0,
      lastSlot: m.commands.length > 0 ? m.firstSlot + m.commands.length - 1 : 0,
      chosen: this.chosenIndex,
      seq: m.seq,
      incarnation: this.incarnation,
      recovering: this.recovering,
    };
  }

  /** Highest slot up to which we hold `ballot`'s values with no gap (chosen slots count). */
  private matchFor(ballot: Ballot): number {
    let s = this.chosenIndex;
    for (;;) {
      const e = this.entryAt(s + 1);
      if (e === undefined || !ballotEquals(e.ballot, ballot)) return s;
      s++;
    }
  }

  /**
   * The leader of `ballot` says slots up to `leaderChosen` are chosen. A slot we hold at that
   * same ballot holds exactly the leader's value, so it is chosen; a slot we hold at an older
   * ballot might not be, and waits for the leader to resend it.
   */
  private learnChosen(ballot: Ballot, leaderChosen: number): void {
    let c = this.chosenIndex;
    while (c < leaderChosen) {
      const e = this.entryAt(c + 1);
      if (e === undefined || !ballotEquals(e.ballot, ballot)) break;
      c++;
    }
    if (c > this.chosenIndex) {
      this.chosenIndex = c;
      this.hardStateDirty = true;
      this.settleChosenConfigs();
    }
  }

  private handleTimeoutNow(m: TimeoutNowMsg): void {
    // Only from the leader we follow, in the ballot we follow it in, and only if we may lead.
    if (this.recovering || this.roleName !== "follower" || m.from !== this.leader || !ballotEquals(m.ballot, this.promised)) return;
    this.preVoteRound = 0;
    this.startPhase1("leader-transfer");
  }

  private handlePreVote(m: PreVoteMsg): void {
    // Grant only if we have not heard from a live leader lately (so a partitioned node
    // rejoining cannot disrupt a healthy one), the round could win, and the candidate
    // knows at least as much of the chosen log as we do.
    const leaderAlive =
      this.roleName === "leader" ||
      (this.leader !== null && this.electionElapsed < this.cfg.electionTimeoutTicks);
    // The candidate must be a voter of the configuration we know (or know chosen slots we do
    // not: aheadOfUs): a learner, or a removed member that has not heard of its removal,
    // cannot disturb the cluster. We grant even if
    // we are no voter ourselves: a candidate that has not learnt of our removal still counts
    // us, and refusing could leave it without a quorum for ever.
    // Nor do we, when no voter, hold out for a candidate that knows as much as we do: we cannot
    // lead, and we may be the only one that knows the last chosen slot (the configuration that
    // removed us), which the candidate's Phase 1 then learns from our promise.
    const upToDate = m.chosen >= this.chosenIndex || (!this.selfVotesInWindow() && !this.cfg.plantedBugs.removedPreVoteNeedsChosen);
    // (A candidate that a configuration we hold, not known chosen, would remove still gets our
    // pre-vote: it may be the one that knows most of the chosen log, and refusing it could leave
    // no candidate we and it would both accept. It does not campaign if it holds that
    // configuration itself: tickElection.)
    const granted = !this.recovering && !leaderAlive && m.round > this.promised.round && upToDate && (this.isVoter(m.from) || this.aheadOfUs(m));
    this.send({ type: "preVoteReply", from: this.id, to: m.from, round: m.round, granted, promisedRound: this.promised.round });
  }

  // ---- Follower and pre-candidate ----------------------------------------------------------

  /** A follower has nothing of its own in flight: replies reaching it are stale, and ignored. */
  private stepFollower = (_m: Message): void => undefined;

  /** Neither does a recovering acceptor. */
  private stepRecovering = (_m: Message): void => undefined;

  /** Nor does a learner: it is not a voter of the configuration it knows. */
  private tickLearner = (): void => {
    this.electionElapsed++;
  };

  /** A recovering acceptor never campaigns: it waits for a leader to catch it up. */
  private tickRecovering = (): void => {
    this.electionElapsed++;
  };

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.electionElapsed < this.randomizedElectionTimeout) return;
    // A voter that holds a configuration removing it (not known chosen) waits: if it is chosen
    // our campaign cannot win, and the others need no duel with us to elect a leader.
    if (!this.selfVotesInWindow()) return this.resetElectionTimer();
    this.startPreVote();
  };

  private startPreVote(): void {
    this.roleName = "precandidate";
    this.stepRole = this.stepPreCandidate;
    this.tickRole = this.tickElection;
    this.leader = null;
    this.resetElectionTimer();
    this.preVoteRound = Math.max(this.maxRoundSeen, this.promised.round) + 1;
    this.preVotes.clear();
    this.preVotes.set(this.id, true);
    this.emitRole("election-timeout");
    if (this.preVotesGranted() >= quorums(this.chosenConfig).majority) return this.startPhase1();
    for (const p of quorums(this.chosenConfig).voters) {
      if (p !== this.id) this.send({ type: "preVote", from: this.id, to: p, round: this.preVoteRound, chosen: this.chosenIndex });
    }
  }

  private stepPreCandidate = (m: Message): void => {
    if (m.type !== "preVoteReply") return;
    this.onPreVoteReply(m);
  };

  private onPreVoteReply(m: PreVoteReplyMsg): void {
    if (m.round !== this.preVoteRound) return;
    const q = quorums(this.chosenConfig);
    if (!q.voters.has(m.from)) return;
    this.preVotes.set(m.from, m.granted);
    if (this.preVotesGranted() >= q.majority) {
      this.startPhase1();
    } else if (this.preVotes.size - this.preVotesGranted() > q.voters.size - q.majority) {
      this.becomeFollower(null, "pre-vote-lost");
    }
  }

  private preVotesGranted(): number {
    let n = 0;
    for (const g of this.preVotes.values()) if (g) n++;
    return n;
  }

  // ---- Candidate: Phase 1 --------------------------------------------------------------------

  private startPhase1(reason: ElectionReason = "pre-vote-won"): void {
    invariant(!this.recovering, "a recovering acceptor never campaigns");
    const ballot: Ballot = { round: Math.max(this.preVoteRound, this.maxRoundSeen + 1), nodeId: this.id };
    this.roleName = "candidate";
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.leader = null;
    this.progress.clear();
    this.replicationPending = false;
    this.confirmPending = false;
    this.pendingReads.length = 0;
    this.resetElectionTimer();
    this.setPromised(ballot);
    this.emitRole(reason);
    this.phase1FromSlot = this.chosenIndex + 1;
    this.phase1Known = new Map(this.known);
    this.promises.clear();
    // We are an acceptor too: our own promise carries our own accepted entries.
    this.promises.set(this.id, { type: "promise", from: this.id, to: this.id, ballot, ok: true, promised: ballot, entries: this.acceptedFrom(this.phase1FromSlot), chosen: this.chosenIndex, incarnation: this.incarnation, incarnations: this.view(), recovering: false, logStart: this.discardedTo + 1 });
    this.prepared.clear();
    this.checkPhase1();
  }

  /**
   * Phase 1 is won with promises from a majority of every configuration that may govern a
   * slot from our chosen index on: ours (chosen), then each configuration command among the
   * highest-ballot values the promises report, in slot order (the value we will re-propose
   * there). Voters of a configuration found that way that we did not ask yet get our
   * Prepare now. Why that suffices: docs/design.md "Membership".
   */
  private checkPhase1(): void {
    const recovered = this.recoveredValues();
    let won = true;
    let cfg = this.chosenConfig;
    const chain = [cfg];
    if (!this.cfg.plantedBugs.phase1ChosenConfigOnly) for (const slot of [...recovered.configSlots].sort((a, b) => a - b)) chain.push((cfg = decodeConfig(recovered.values.get(slot)!.command)));
    const ballot = this.promised;
    const incarnations = this.view();
    for (const c of chain) {
      if (votersAmong(c, this.promises.keys()) < quorums(c).majority) won = false;
      for (const p of quorums(c).voters) {
        if (p === this.id || this.prepared.has(p)) continue;
        this.prepared.add(p);
        this.send({ type: "prepare", from: this.id, to: p, ballot, fromSlot: this.phase1FromSlot, incarnations });
      }
    }
    if (won) this.becomeLeader(recovered.values, recovered.maxSlot);
  }

  /** For each slot past our chosen index, the highest-ballot value the promises report. */
  private recoveredValues(): { values: Map<number, Entry>; maxSlot: number; configSlots: Set<number> } {
    const values = new Map<number, Entry>();
    const configSlots = new Set<number>();
    let maxSlot = this.chosenIndex;
    for (const p of this.promises.values()) {
      for (const e of p.entries) {
        if (e.slot < this.phase1FromSlot) continue;
        const cur = values.get(e.slot);
        if (cur === undefined || compareBallots(e.ballot, cur.ballot) > 0) {
          values.set(e.slot, e);
          if (isConfigCommand(e.command)) configSlots.add(e.slot);
          else configSlots.delete(e.slot);
        }
        if (e.slot > maxSlot) maxSlot = e.slot;
      }
    }
    return { values, maxSlot, configSlots };
  }

  private stepCandidate = (m: Message): void => {
    if (m.type !== "promise" || !ballotEquals(m.ballot, this.promised)) return;
    if (!m.ok) {
      // A higher ballot exists; observeRound already noted it. Let that proposer lead.
      if (compareBallots(m.promised, this.promised) > 0) this.becomeFollower(null, "higher-ballot");
      return;
    }
    this.promises.set(m.from, m);
    // A promise given by an incarnation that has since been rebuilt is void: that node
    // forgot it (observeIncarnations has merged this promise's view already).
    for (const [id, p] of this.promises) if (id !== this.id && p.incarnation < (this.known.get(id) ?? 0)) this.promises.delete(id);
    this.checkPhase1();
  };

  /**
   * Phase 1 succeeded. For each slot past our chosen index, the quorum's highest-ballot
   * accepted value is the only value that may have been chosen there; re-propose it at our
   * ballot, and a no-op where nobody accepted anything.
   */
  private becomeLeader(recovered: ReadonlyMap<number, Entry>, maxSlot: number): void {
    invariant(!this.recovering, "a recovering acceptor never leads");
    const ballot = this.promised;
    this.promises.clear();
    this.prepared.clear();
    this.roleName = "leader";
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickLeader;
    this.leader = this.id;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.heardSinceCheck.clear();
    this.stableSlot = this.chosenIndex;
    for (let s = this.chosenIndex + 1; s <= maxSlot; s++) {
      const prior = recovered.get(s);
      const command = prior !== undefined && !this.cfg.plantedBugs.skipPhase1Recovery ? prior.command : new Uint8Array(0);
      this.acceptEntry({ slot: s, ballot, command });
    }
    // Our own promise reported our whole tail, so nothing of ours lies above maxSlot.
    invariant(this.lastSlot === maxSlot, `leader log ends at ${this.lastSlot}, recovery at ${maxSlot}`);
    this.progress.clear();
    this.syncProgress();
    this.electionTailSlot = maxSlot;
    this.emitRole("promise-quorum");
    this.replicationPending = true;
    this.maybeCommit();
  }

  /** The configurations of the slots past the chosen index: the chosen one, then each pending. */
  private windowConfigs(): ClusterConfig[] {
    const out = [this.chosenConfig];
    for (const slot of [...this.pendingConfigs.keys()].sort((a, b) => a - b)) out.push(this.pendingConfigs.get(slot)!);
    return out;
  }

  /** Leader: track every member of every configuration in the window (voters and learners). */
  private syncProgress(): void {
    const want = new Set<NodeId>();
    for (const c of this.windowConfigs()) for (const id of quorums(c).all) if (id !== this.id) want.add(id);
    for (const [id, pr] of this.progress) {
      if (want.has(id) || pr.leavingAt !== undefined) continue;
      pr.leavingAt = this.chosenIndex;
      pr.leavingHeartbeats = 0;
    }
    for (const id of want) {
      if (!this.progress.has(id)) this.progress.set(id, { next: this.chosenIndex + 1, match: 0, inflight: 0, stalledHeartbeats: 0, chosen: 0, ackedSeq: 0, sentChosen: 0, incarnation: this.known.get(id) ?? 0, voter: true });
    }
  }

  /** A removed member that holds its removal (or never answers) is dropped. */
  private dropIfLeft(id: NodeId, pr: Progress): boolean {
    if (pr.leavingAt === undefined || (pr.chosen < pr.leavingAt && (pr.leavingHeartbeats ?? 0) < LEAVING_HEARTBEATS_MAX)) return false;
    this.progress.delete(id);
    return true;
  }

  /** Whether `ids` (votes in hand) hold a majority of every configuration in the window. */
  private quorumOf(ids: Iterable<NodeId>): boolean {
    const set = new Set(ids);
    return this.windowConfigs().every((c) => votersAmong(c, set) >= quorums(c).majority);
  }

  /**
   * The chosen index moved: chosen configuration commands take effect. A leader tracks the
   * new members and steps down if it is no longer a voter; a voter made learner (or removed)
   * stops campaigning, a learner made voter starts.
   */
  private settleChosenConfigs(): void {
    let changed = false;
    for (const slot of [...this.pendingConfigs.keys()].sort((a, b) => a - b)) {
      if (slot > this.chosenIndex) continue;
      this.chosenConfig = this.pendingConfigs.get(slot)!;
      this.pendingConfigs.delete(slot);
      changed = true;
    }
    if (!changed) return;
    const voter = this.isVoter(this.id);
    if (this.roleName === "leader") {
      if (!voter) {
        // Tell the others the configuration that removed us is chosen before we go quiet: a
        // voter that did not learn it would count us in its quorums.
        for (const [p, pr] of this.progress) this.sendAccept(p, pr.next, []);
        this.becomeFollower(null, "removed");
        return;
      }
      this.syncProgress();
    } else if (!this.recovering && this.roleName !== this.passiveRole()) {
      this.becomeFollower(this.leader, voter ? "promoted" : quorums(this.chosenConfig).all.has(this.id) ? "demoted" : "removed");
    }
  }

  /** follower for a voter, learner otherwise. */
  private passiveRole(): Role {
    return this.isVoter(this.id) ? "follower" : "learner";
  }

  private maybeSendTimeoutNow(): void {
    const t = this.transfer;
    if (t === null || t.sent) return;
    const pr = this.progress.get(t.to);
    if (pr === undefined || pr.match < this.lastSlot || this.stableSlot < this.lastSlot) return;
    t.sent = true;
    this.send({ type: "timeoutNow", from: this.id, to: t.to, ballot: this.promised });
  }

  // ---- Leader: Phase 2 ------------------------------------------------------------------------

  private stepLeader = (m: Message): void => {
    if (m.type !== "acceptReply" || !ballotEquals(m.ballot, this.promised)) return;
    const pr = this.progress.get(m.from);
    if (pr === undefined) return; // a member no configuration in our window has (removed)
    if (m.incarnation < pr.incarnation) return; // from before the follower's rebuild
    if (m.incarnation > pr.incarnation) {
      // The follower lost its disk and was rebuilt: what we knew of its log is void.
      Object.assign(pr, { next: 1, match: 0, inflight: 0, stalledHeartbeats: 0, chosen: 0, ackedSeq: 0, sentChosen: 0, incarnation: m.incarnation });
    }
    if (!m.ok) {
      if (compareBallots(m.promised, this.promised) > 0) this.becomeFollower(null, "higher-ballot");
      return;
    }
    pr.voter = !m.recovering;
    if (m.recovering && (this.phase1Known.get(m.from) ?? 0) !== m.incarnation) {
      // It can vote again only in a ballot whose Phase 1 began with its rebuild known.
      this.startPhase1("member-rebuilt");
      return;
    }
    if (pr.voter) {
      if (m.seq > pr.ackedSeq) {
        pr.ackedSeq = m.seq;
        this.confirmReads();
      }
      this.heardSinceCheck.add(m.from);
    }
    pr.chosen = Math.max(pr.chosen, m.chosen);
    if (m.match > pr.match) pr.match = m.match;
    else if (m.match < pr.match && m.lastSlot === 0 && pr.inflight === 0) {
      // The follower holds less than we believed (it lost un-fsynced chosen state, or our
      // view is from a reply it no longer stands by): catch it up from what it reports.
      pr.match = m.match;
      pr.next = Math.min(pr.next, m.match + 1);
    }
    if (m.lastSlot > 0) {
      if (m.match < m.lastSlot) {
        // The follower has a gap below this batch (an earlier batch was lost or is late):
        // go back and resend from its match.
        pr.next = pr.match + 1;
        pr.inflight = 0;
      } else {
        pr.inflight = Math.max(0, pr.inflight - 1);
      }
      pr.stalledHeartbeats = 0;
    } else if (pr.inflight === 0 && pr.match + 1 < pr.next) {
      pr.next = pr.match + 1;
    }
    if (pr.next <= pr.match) pr.next = pr.match + 1;
    this.maybeCommit();
    if (this.roleName !== "leader") return; // the configuration just chosen removed us
    this.maybeSendTimeoutNow();
    if (this.progress.has(m.from) && !this.dropIfLeft(m.from, pr)) this.replicate(m.from);
  };

  private tickLeader = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      // Check-quorum: a leader cut off from a majority must stop acting as one.
      if (!this.quorumOf([this.id, ...this.heardSinceCheck])) {
        this.becomeFollower(null, "check-quorum-lost");
        return;
      }
      this.heardSinceCheck.clear();
    }
    if (this.transfer !== null && --this.transfer.ticksLeft <= 0) this.transfer = null; // the target did not take over: lead on
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      for (const [p, pr] of this.progress) {
        if (pr.leavingAt !== undefined) {
          pr.leavingHeartbeats = (pr.leavingHeartbeats ?? 0) + 1;
          if (this.dropIfLeft(p, pr)) continue;
        }
        // Entries sent within the interval told the follower all a heartbeat would (their
        // answers count for check-quorum): under load no heartbeat goes out at all.
        let heard = pr.sentEntriesSinceBeat === true;
        pr.sentEntriesSinceBeat = false;
        if (pr.inflight > 0 && ++pr.stalledHeartbeats >= STALLED_HEARTBEATS_MAX) {
          pr.next = pr.match + 1;
          pr.inflight = 0;
          pr.stalledHeartbeats = 0;
          heard = false;
        }
        if (heard) continue;
        if (!this.replicate(p)) this.sendAccept(p, pr.next, []);
      }
    }
  };

  /** Send as many batches as the follower's window allows; true if any was sent. */
  private replicate(peer: NodeId): boolean {
    const pr = this.progress.get(peer)!;
    let sent = false;
    if (pr.next <= this.discardedTo) {
      // What it needs next is gone from our log: it catches up from a snapshot.
      if (!pr.snapshotPending) {
        pr.snapshotPending = true;
        this.snapshotRequests.push(peer);
      }
      return false;
    }
    while (pr.inflight < this.cfg.inflightBatchesMax && pr.next <= this.lastSlot) {
      const commands = this.batchFrom(pr.next);
      this.sendAccept(peer, pr.next, commands);
      pr.next += commands.length;
      pr.inflight++;
      sent = true;
    }
    return sent;
  }

  /** The commands of one batch from `first`: up to batchEntriesMax and batchBytesMax (at least one). */
  private batchFrom(first: number): Command[] {
    const last = Math.min(this.lastSlot, first + this.cfg.batchEntriesMax - 1);
    // A far-behind follower needs entries that live only in the store: one range read.
    const stored = first <= this.compactedTo ? this.logReader!.entries(first, Math.min(last, this.compactedTo)) : [];
    const commands: Command[] = [];
    let bytes = 0;
    for (let s = first; s <= last; s++) {
      const e = s <= this.compactedTo ? stored[s - first] : this.log.get(s);
      invariant(e !== undefined && e.slot === s, `leader has no entry for slot ${s}`);
      if (commands.length > 0 && bytes + e.command.length > this.cfg.batchBytesMax) break;
      bytes += e.command.length;
      commands.push(e.command);
    }
    return commands;
  }

  private sendAccept(peer: NodeId, firstSlot: number, commands: Command[], quiet = false): void {
    // Entries always want an answer: the leader counts them chosen from the answers.
    invariant(!quiet || commands.length === 0, `a quiet Accept to ${peer} carries ${commands.length} commands`);
    this.send({ type: "accept", from: this.id, to: peer, ballot: this.promised, firstSlot, commands, chosen: this.chosenIndex, seq: this.seq, yourIncarnation: this.phase1Known.get(peer) ?? 0, electionTail: this.electionTailSlot, quiet });
    const pr = this.progress.get(peer)!;
    pr.sentChosen = this.chosenIndex;
    if (commands.length > 0) pr.sentEntriesSinceBeat = true;
  }

  private confirmReads(): void {
    while (this.pendingReads.length > 0) {
      const r = this.pendingReads[0]!;
      const acks = [this.id];
      const round = this.cfg.plantedBugs.staleReadRound ? r.seq - 1 : r.seq;
      for (const [id, pr] of this.progress) if (pr.voter && pr.ackedSeq >= round) acks.push(id);
      if (!this.quorumOf(acks)) return;
      this.pendingReads.shift();
      this.readStates.push({ ctx: r.ctx, index: r.index });
    }
  }

  /**
   * A slot is chosen once a majority of its configuration's voters (us included, once
   * durable) holds our value for it. The window past the chosen index is cut into runs of
   * one configuration each at the pending configuration commands; a run counts only once
   * every run before it is chosen whole.
   */
  private maybeCommit(): void {
    let n = this.chosenIndex;
    let cfg = this.chosenConfig;
    const bounds = [...this.pendingConfigs.keys()].sort((a, b) => a - b);
    for (let i = 0; ; i++) {
      const end = i < bounds.length ? bounds[i]! : this.lastSlot;
      const held = Math.min(this.majorityMatch(cfg), end);
      if (held > n) n = held;
      if (held < end || i >= bounds.length) break;
      cfg = this.pendingConfigs.get(end)!;
    }
    if (n > this.chosenIndex) {
      // Everything a leader counts as chosen past its old chosen index is its own proposal,
      // at its own ballot: recovered in Phase 1 or appended since.
      for (let s = this.chosenIndex + 1; s <= n; s++) {
        const e = this.log.get(s);
        invariant(e !== undefined && ballotEquals(e.ballot, this.promised), `leader ${formatBallot(this.promised)} would choose slot ${s} holding ${e ? formatBallot(e.ballot) : "nothing"}`);
      }
      this.chosenIndex = n;
      this.hardStateDirty = true;
      // Followers learn it from the notification ready() sends (or the next batch).
      this.settleChosenConfigs();
    }
  }

  /** The highest slot a majority of `cfg`'s voters holds our values up to. */
  private majorityMatch(cfg: ClusterConfig): number {
    const q = quorums(cfg);
    const matches: number[] = [];
    for (const id of q.voters) {
      if (id === this.id) matches.push(this.stableSlot);
      else {
        const pr = this.progress.get(id);
        matches.push(pr !== undefined && pr.voter ? pr.match : 0);
      }
    }
    matches.sort((a, b) => b - a);
    return matches[q.majority - 1] ?? 0;
  }

  private appendOwn(command: Command): void {
    this.acceptEntry({ slot: this.lastSlot + 1, ballot: this.promised, command });
  }

  // ---- Transitions and helpers ------------------------------------------------------------

  private becomeFollower(leader: NodeId | null, reason: ElectionReason): void {
    this.roleName = this.passiveRole();
    this.stepRole = this.stepFollower;
    this.tickRole = this.roleName === "learner" ? this.tickLearner : this.tickElection;
    this.leader = leader;
    this.transfer = null;
    this.prepared.clear();
    this.progress.clear();
    this.promises.clear();
    this.preVotes.clear();
    this.replicationPending = false;
    this.confirmPending = false;
    // Reads waiting for confirmation are dropped; the driver fails them on this event.
    this.pendingReads.length = 0;
    this.resetElectionTimer();
    this.emitRole(reason);
  }

  private acceptEntry(e: Entry): void {
    invariant(e.slot > this.chosenIndex, `slot ${e.slot} is already chosen`);
    if (isConfigCommand(e.command)) this.pendingConfigs.set(e.slot, decodeConfig(e.command));
    else if (this.pendingConfigs.size > 0) this.pendingConfigs.delete(e.slot);
    this.log.set(e.slot, e);
    if (e.slot > this.lastSlot) this.lastSlot = e.slot;
    this.unstable.push(e);
  }

  private setPromised(b: Ballot): void {
    invariant(compareBallots(b, this.promised) >= 0, "a promise never goes backwards");
    this.promised = b;
    if (b.round > this.maxRoundSeen) this.maxRoundSeen = b.round;
    this.hardStateDirty = true;
  }

  private observeRound(m: Message): void {
    let r = 0;
    if (m.type === "prepare" || m.type === "accept") r = m.ballot.round;
    else if (m.type === "promise" || m.type === "acceptReply") r = m.promised.round;
    else if (m.type === "preVoteReply") r = m.promisedRound;
    if (r > this.maxRoundSeen) this.maxRoundSeen = r;
  }

  /** Learn members' incarnations from a message (its sender's own, and its view). */
  private observeIncarnations(m: Message): void {
    if (m.type === "promise" || m.type === "acceptReply") this.learnIncarnation(m.from, m.incarnation);
    if (m.type === "prepare" || m.type === "promise") for (const [id, inc] of Object.entries(m.incarnations)) this.learnIncarnation(id, inc);
  }

  private learnIncarnation(id: NodeId, inc: number): void {
    if (id === this.id || !Number.isSafeInteger(inc) || inc <= (this.known.get(id) ?? 0)) return;
    this.known.set(id, inc);
    this.recoveryDirty = true;
    this.hardStateDirty = true;
  }

  /** Our incarnation view, ourselves included. */
  private view(): Record<NodeId, number> {
    const v: Record<NodeId, number> = Object.fromEntries(this.known);
    if (this.incarnation > 0) v[this.id] = this.incarnation;
    return v;
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    const base = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeout = base + this.cfg.rng.int(base);
  }

  private send(m: Message): void {
    // What makes recovery safe: a rebuilt acceptor says nothing a quorum could count.
    invariant(!this.recovering || !((m.type === "promise" && m.ok) || (m.type === "preVoteReply" && m.granted) || (m.type === "acceptReply" && !m.recovering)), `recovering ${this.id} would send a vote (${m.type})`);
    this.outbox.push(m);
  }

  private emitRole(reason: ElectionReason): void {
    this.events.push({ type: "role", role: this.roleName, ballot: this.promised, leader: this.leader, reason, tick: this.ticks });
  }
}

function wellFormed(m: Message): boolean {
  switch (m.type) {
    case "preVote":
    case "preVoteReply":
      return Number.isSafeInteger(m.round) && m.round > 0;
    // A ballot is only ever used by the node it names.
    case "prepare":
      return m.ballot.round > 0 && m.ballot.nodeId === m.from && Number.isSafeInteger(m.fromSlot) && m.fromSlot >= 1 && typeof m.incarnations === "object" && m.incarnations !== null;
    case "accept":
      return m.ballot.round > 0 && m.ballot.nodeId === m.from && Number.isSafeInteger(m.firstSlot) && (m.commands.length === 0 || m.firstSlot >= 1) && Number.isSafeInteger(m.chosen) && m.chosen >= 0 && Number.isSafeInteger(m.seq) && m.seq >= 0;
    case "promise":
      return Number.isSafeInteger(m.incarnation) && typeof m.incarnations === "object" && m.incarnations !== null;
    case "acceptReply":
      return Number.isSafeInteger(m.incarnation);
    case "timeoutNow":
      return m.ballot.round > 0 && m.ballot.nodeId === m.from;
  }
}
