// The vocabulary of the protocol core: ballots, log entries, messages, and the Ready batch
// the core hands to its driver. Nothing here does I/O.

import type { ClusterConfig } from "./config.js";

export type NodeId = string;

/** A Paxos ballot. Ordered by round, then by node id; (0, "") is below every real ballot. */
export interface Ballot {
  readonly round: number;
  readonly nodeId: NodeId;
}

export const ZERO_BALLOT: Ballot = Object.freeze({ round: 0, nodeId: "" });

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.nodeId === b.nodeId) return 0;
  return a.nodeId < b.nodeId ? -1 : 1;
}

export function ballotEquals(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.nodeId === b.nodeId;
}

export function formatBallot(b: Ballot): string {
  return `${b.round}.${b.nodeId || "-"}`;
}

/**
 * A command is opaque bytes to the core. The empty command is the no-op a new leader
 * uses to fill holes in the log; the layers above never propose an empty command.
 */
export type Command = Uint8Array;

export const NOOP: Command = new Uint8Array(0);

export function isNoop(c: Command): boolean {
  return c.length === 0;
}

export function commandsEqual(a: Command, b: Command): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An accepted log entry: slot `slot` holds `command`, accepted at `ballot`. Slots start at 1. */
export interface Entry {
  readonly slot: number;
  readonly ballot: Ballot;
  readonly command: Command;
}

/** The durable acceptor state besides the entries. */
export interface HardState {
  /** The highest ballot this node has promised (or used as its own). */
  readonly promised: Ballot;
  /** Every slot up to and including this one is chosen and known to this node. */
  readonly chosen: number;
  /**
   * True while this acceptor is rebuilding after losing its disk: it neither promises nor
   * votes (see "Recovery" in core.ts). Absent means false.
   */
  readonly recovering?: boolean;
  /**
   * The highest incarnation this node knows for each member (itself included), where it
   * differs from 0. Durable, because a promise must never be given by a node that forgot
   * that a member was rebuilt (see "Recovery" in core.ts).
   */
  readonly incarnations?: Readonly<Record<NodeId, number>>;
}

/** What a node loads from its store on start. */
export interface DurableState {
  readonly hardState: HardState;
  /** Accepted entries from `entriesFrom` on, ascending by slot, no duplicates. */
  readonly entries: readonly Entry[];
  /**
   * The first slot `entries` covers (default 1). Older entries stay in the store, where the
   * core reads them through its LogReader when it needs them (a follower far behind).
   */
  readonly entriesFrom?: number;
  /**
   * Entries up to this slot were discarded after a snapshot (log compaction): they exist
   * nowhere in this store, and the state machine is past them (default 0).
   */
  readonly discardedTo?: number;
}

/**
 * Synchronous reads of the durable log, for slots the core no longer keeps in memory. The
 * core only asks for chosen slots this way, whose stored values are final.
 */
export interface LogReader {
  entry(slot: number): Entry | undefined;
  /** Entries with from <= slot <= to, ascending. */
  entries(from: number, to: number): Entry[];
}

// ---- Messages ----------------------------------------------------------------------------

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
}

/** "Would you accept a new leader at `round`?" Changes no state on either side. */
export interface PreVoteMsg extends Envelope {
  readonly type: "preVote";
  readonly round: number;
  /** The candidate's chosen index; voters refuse candidates behind themselves. */
  readonly chosen: number;
}

export interface PreVoteReplyMsg extends Envelope {
  readonly type: "preVoteReply";
  readonly round: number;
  readonly granted: boolean;
  /** The voter's promised round, so a candidate that fell behind learns how far. */
  readonly promisedRound: number;
}

/** Each member's highest known incarnation (members absent from the record: 0). */
export type IncarnationView = Readonly<Record<NodeId, number>>;

/** Phase 1a: promise `ballot` and tell me what you accepted from `fromSlot` on. */
export interface PrepareMsg extends Envelope {
  readonly type: "prepare";
  readonly ballot: Ballot;
  readonly fromSlot: number;
  /** The candidate's incarnation view; an acceptor learns it before it promises. */
  readonly incarnations: IncarnationView;
}

/** Phase 1b. When `ok` is false, `promised` is the higher ballot that refused it. */
export interface PromiseMsg extends Envelope {
  readonly type: "promise";
  readonly ballot: Ballot;
  readonly ok: boolean;
  readonly promised: Ballot;
  /** Accepted entries with slot >= the Prepare's fromSlot (only when ok). */
  readonly entries: readonly Entry[];
  readonly chosen: number;
  /** The acceptor's own incarnation: a promise of an older incarnation of it is void. */
  readonly incarnation: number;
  /** The acceptor's incarnation view when it answered. */
  readonly incarnations: IncarnationView;
  /** The acceptor is recovering and refuses to promise (ok is false). */
  readonly recovering: boolean;
  /**
   * The acceptor's log begins here (1 unless it discarded entries after a snapshot). It
   * refuses (ok false) a Prepare whose fromSlot is below: it cannot report what it accepted
   * there, and a promise that hides accepted values would be unsafe.
   */
  readonly logStart: number;
}

/**
 * Phase 2a, and the heartbeat when `commands` is empty. `commands[i]` is proposed for
 * slot `firstSlot + i` at `ballot`. `chosen` is the leader's chosen index: every slot up to
 * it is chosen with the value the leader proposes for it.
 */
export interface AcceptMsg extends Envelope {
  readonly type: "accept";
  readonly ballot: Ballot;
  readonly firstSlot: number;
  readonly commands: readonly Command[];
  readonly chosen: number;
  /** The leader's confirmation round, echoed in the reply; it confirms reads (read-index). */
  readonly seq: number;
  /**
   * The receiver's incarnation as the leader knew it when its Phase 1 began: a recovering
   * receiver may vote in this ballot only if it is its current one.
   */
  readonly yourIncarnation: number;
  /** The last slot the leader recovered in its Phase 1 (its election tail). */
  readonly electionTail: number;
  /**
   * A notice of a new chosen index only (no commands, sent as soon as a slot is chosen): the
   * receiver answers only if it refuses it or its promise or recovery changed. Heartbeats
   * and read confirmations are never quiet, so check-quorum, reads and the leader's view of
   * a follower's log (a leaving member's chosen index among it) still get their replies; a
   * quiet notice saves the leader a wake-up and two messages a write at low load. Absent
   * (an older leader): answered.
   */
  readonly quiet?: boolean;
}

/**
 * Phase 2b. `match` is the highest slot up to which the acceptor holds the leader's values
 * with no gap (chosen, or accepted at `ballot`); `lastSlot` echoes the Accept's last slot
 * (0 for a heartbeat) so the leader can tell a gap from a batch still in flight.
 */
export interface AcceptReplyMsg extends Envelope {
  readonly type: "acceptReply";
  readonly ballot: Ballot;
  readonly ok: boolean;
  readonly promised: Ballot;
  readonly match: number;
  readonly lastSlot: number;
  readonly chosen: number;
  /** The `seq` of the Accept this answers. */
  readonly seq: number;
  /** The acceptor's own incarnation. */
  readonly incarnation: number;
  /**
   * The acceptor is recovering: it stored the entries (so it catches up) but its reply must
   * not count toward any quorum, confirmation or check-quorum.
   */
  readonly recovering: boolean;
}

/**
 * Leader transfer: the leader has caught the target up to its last slot and takes no more
 * proposals; the target, if it still follows `ballot`, starts Phase 1 at once.
 */
export interface TimeoutNowMsg extends Envelope {
  readonly type: "timeoutNow";
  readonly ballot: Ballot;
}

export type Message =
  | PreVoteMsg
  | PreVoteReplyMsg
  | PrepareMsg
  | PromiseMsg
  | AcceptMsg
  | AcceptReplyMsg
  | TimeoutNowMsg;

export type MessageType = Message["type"];

// ---- Roles and events ---------------------------------------------------------------------

/** learner: not a voter in the configuration this node knows (it only receives the log). */
export type Role = "follower" | "precandidate" | "candidate" | "leader" | "recovering" | "learner";

export type ElectionReason =
  | "start"
  | "election-timeout"
  | "pre-vote-won"
  | "pre-vote-lost"
  | "promise-quorum"
  | "higher-ballot"
  | "check-quorum-lost"
  | "leader-heard"
  | "step-down"
  /** A leader re-runs Phase 1 so that a rebuilt member can rejoin the quorums. */
  | "member-rebuilt"
  /** A rebuilt acceptor has caught up in a ballot begun after its rebuild and votes again. */
  | "recovered"
  /** The leader handed leadership over (TimeoutNow): the target campaigns at once. */
  | "leader-transfer"
  /** A configuration made this node a voter. */
  | "promoted"
  /** A configuration made this node a learner, or removed it. */
  | "demoted"
  | "removed"
  /** Not a role change: a node applied a configuration (the shell reports it on the elections stream). */
  | `configuration v${number}: ${string}`;

export interface RoleChangeEvent {
  readonly type: "role";
  readonly role: Role;
  readonly ballot: Ballot;
  /** The leader this node now follows, if known. */
  readonly leader: NodeId | null;
  readonly reason: ElectionReason;
  /** The tick count of this core when it happened (the driver maps ticks to wall time). */
  readonly tick: number;
}

export type CoreEvent = RoleChangeEvent;

// ---- Ready ----------------------------------------------------------------------------------

/**
 * Everything the core wants done since the last advance(). The driver must, in this order:
 * 1. persist `hardState` (if set) and `entries` in one durable transaction;
 * 2. send `messages`;
 * 3. apply `committed` to the state machine and answer the clients waiting on them;
 * then call advance(). No promise, acceptance or vote may leave before step 1 is durable:
 * that is what makes a promise a promise and an acceptance an acceptance. A leader's own
 * Accept messages are the one exception: they claim nothing about the sender's disk (the
 * leader counts its own acceptance only after advance()), so a driver may send them first.
 */
export interface Ready {
  readonly hardState: HardState | null;
  /** Entries accepted by this node, to persist (they replace any entry of the same slot). */
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  /** Newly chosen entries, ascending and contiguous, to apply. */
  readonly committed: readonly Entry[];
  readonly events: readonly CoreEvent[];
  /**
   * Linearizable reads whose leadership was confirmed by a quorum after they were asked:
   * each may be served once the state machine has applied up to `index`.
   */
  readonly readStates: readonly ReadState[];
  /**
   * Followers whose next slot lies below this leader's log start: the driver sends each a
   * snapshot of the state machine, then calls snapshotSent(peer, ok).
   */
  readonly snapshotsNeeded: readonly NodeId[];
}

export interface ReadState {
  /** The caller's token from readIndex(). */
  readonly ctx: number;
  readonly index: number;
}

export type ProposeResult =
  | { readonly ok: true; readonly firstSlot: number; readonly ballot: Ballot }
  | {
      readonly ok: false;
      /** not-leader: ask `leaderHint`; busy: too many proposals not yet chosen, retry later. */
      readonly reason: "not-leader" | "busy";
      readonly leaderHint: NodeId | null;
    };

// ---- Configuration --------------------------------------------------------------------------

/** A seeded source of randomness; the core never calls Math.random. */
export interface Rng {
  /** An integer in [0, n). */
  int(n: number): number;
}

export interface CoreConfig {
  readonly id: NodeId;
  /**
   * The configuration in force after the applied index (src/paxos/config.ts); chosen
   * configuration commands in the log after it are applied on top. Without it: `members`,
   * every one a voter.
   */
  readonly membership?: ClusterConfig;
  /** Every member's id, this node included (when `membership` is not given). */
  readonly members?: readonly NodeId[];
  readonly rng: Rng;
  /** Election timeout is randomized in [electionTimeoutTicks, 2 * electionTimeoutTicks). */
  readonly electionTimeoutTicks?: number;
  readonly heartbeatTicks?: number;
  /** Commands per Accept message. */
  readonly batchEntriesMax?: number;
  /** Bytes of commands per Accept message (a single larger command still goes alone). */
  readonly batchBytesMax?: number;
  /** Accept batches in flight per follower before the leader waits for replies. */
  readonly inflightBatchesMax?: number;
  /** Commands a leader holds proposed but not yet chosen before it refuses more. */
  readonly uncommittedEntriesMax?: number;
  /** The slot up to which the state machine has applied; committed starts after it. */
  readonly applied?: number;
  /** Reads of the durable log below the in-memory window (required to use compact()). */
  readonly logReader?: LogReader;
  /**
   * This node's incarnation: 0 for a store created with the cluster, a larger number (e.g.
   * the rebuild's wall-clock ms) for each store rebuilt after a lost disk. Fixed per store.
   */
  readonly incarnation?: number;
  /**
   * Deliberate protocol bugs, for proving the simulator catches them. Never set outside
   * tests.
   */
  readonly plantedBugs?: {
    /** A new leader re-proposes no-ops instead of the values Phase 1 found. */
    readonly skipPhase1Recovery?: boolean;
    /** readIndex answers at once on any node from its own chosen index, leader or not. */
    readonly localReads?: boolean;
    /** Read confirmation counts acks from the confirmation round before the read's. */
    readonly staleReadRound?: boolean;
    /** Phase 1 counts a majority of the candidate's chosen configuration only, not of those its promises report. */
    readonly phase1ChosenConfigOnly?: boolean;
    /** A member that is no voter refuses a pre-vote to a candidate that knows less of the chosen log (a liveness bug). */
    readonly removedPreVoteNeedsChosen?: boolean;
    /** A member ignores a campaign of a node its configurations do not know, even one that knows chosen slots it does not (a liveness bug: a voter added after all it knows may be the only electable one). */
    readonly strangerBehindBlocks?: boolean;
    /** Whether a node may campaign counts its chosen configuration only, not every one it holds (a member removed by one it holds but does not know chosen duels the staying voters' candidates for ever). */
    readonly preVoteChosenConfigOnly?: boolean;
  };
}
