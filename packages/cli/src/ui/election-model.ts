// What `zk-cli elections watch` knows about the cluster: one row per watched node, a timeline
// of election events across the cluster, and who leads since when. A pure reducer over the
// updates of every node's WatchElections stream (election-feed.ts), plus a tiny store that
// both views (the ink TUI and the NDJSON printer) read. No ink and no gRPC here: the NDJSON
// path and the tests load it without either.
import type { ElectionUpdate, NodeStatus } from "@zk/node/client";

/** Timeline entries kept in memory; older ones scroll away. */
export const TIMELINE_ENTRIES_MAX = 500;

/** A node's state before its stream has said anything. */
export const CONNECTING = "connecting";

export type RoleName = "unknown" | "follower" | "precandidate" | "candidate" | "leader" | "recovering" | "learner";

// cluster.proto's Role by number (kept here so no generated code is loaded for a name).
const ROLE_NAMES: Record<number, RoleName> = { 0: "unknown", 1: "follower", 2: "precandidate", 3: "candidate", 4: "leader", 5: "recovering", 6: "learner" };

export function roleName(role: number): RoleName {
  return ROLE_NAMES[role] ?? "unknown";
}

export interface BallotView {
  readonly round: number;
  readonly nodeId: string;
}

export type ElectionEventMessage = Extract<NonNullable<ElectionUpdate["update"]>, { $case: "event" }>["value"];

/** What a node's stream told the watcher, or that the stream was lost. `key` is the endpoint. */
export type FeedUpdate =
  | { readonly kind: "status"; readonly key: string; readonly atMs: number; readonly status: NodeStatus }
  | { readonly kind: "event"; readonly key: string; readonly atMs: number; readonly event: ElectionEventMessage }
  | { readonly kind: "down"; readonly key: string; readonly atMs: number; readonly reason: string }
  /** Something the operator did from the TUI (kill, restart, pause), for the timeline. */
  | { readonly kind: "action"; readonly key: string; readonly atMs: number; readonly text: string };

export interface NodeView {
  /** The endpoint watched; a row's identity. */
  readonly key: string;
  /** The node id: from the manifest or its first status; the address until known. */
  readonly id: string;
  readonly address: string;
  readonly up: boolean;
  /** Whether the watcher ever heard from it. */
  readonly seen: boolean;
  readonly role: RoleName | null;
  readonly ballot: BallotView | null;
  readonly leader: string | null;
  readonly chosen: number | null;
  readonly applied: number | null;
  /** From its last status: on a follower, since it heard the leader; on a leader, since a majority acked. */
  readonly heartbeatMsAgo: number | null;
  /** The watcher's clock when the last update from it arrived. */
  readonly lastUpdateMs: number | null;
  /** Why it is shown down. */
  readonly downReason: string | null;
  /** When it became leader (its event's time), or when the watcher first saw it lead. */
  readonly leaderSinceMs: number | null;
  /** False when leaderSinceMs is only when the watcher first saw it lead (it led before). */
  readonly leaderSinceExact: boolean;
  /** What the node reports wrong with itself (disk alarm, refused peers), one line each. */
  readonly alarms: readonly string[];
  /** Snapshot transfers in progress ("sending slot 4000 to n3 (5.1 MB)"), one line each. */
  readonly transfers: readonly string[];
}

export type TimelineKind = "event" | "watch" | "action";

export interface TimelineEntry {
  readonly unixMs: number;
  readonly nodeId: string;
  /** event: the node's own role change; watch: the watcher lost or regained it; action: the operator's key. */
  readonly kind: TimelineKind;
  readonly role: RoleName | null;
  readonly ballot: BallotView | null;
  readonly leader: string | null;
  /** The event's reason ("promise-quorum", ...), or the watch/action text. */
  readonly reason: string;
}

/** A member of the configuration, as the leader's status lists it. */
export interface ConfigMemberView {
  readonly id: string;
  readonly address: string;
  readonly learner: boolean;
}

export interface ElectionState {
  readonly nodes: readonly NodeView[];
  readonly timeline: readonly TimelineEntry[];
  /**
   * The configuration's members as the latest leader status listed them (null until one
   * did): a change to it is a timeline line, and a member not yet watched gets a row.
   */
  readonly members?: readonly ConfigMemberView[] | null;
}

export interface Tenure {
  readonly leaderId: string;
  readonly ballot: BallotView | null;
  /** Null when the leader is only known from its followers. */
  readonly sinceMs: number | null;
  readonly exact: boolean;
}

export interface WatchTarget {
  readonly address: string;
  readonly id?: string | undefined;
}

export function initialState(targets: readonly WatchTarget[]): ElectionState {
  return {
    nodes: targets.map(unseenNode),
    timeline: [],
  };
}

function unseenNode(t: WatchTarget): NodeView {
  return {
      key: t.address,
      id: t.id ?? t.address,
      address: t.address,
      up: false,
      seen: false,
      role: null,
      ballot: null,
      leader: null,
      chosen: null,
      applied: null,
      heartbeatMsAgo: null,
      lastUpdateMs: null,
      downReason: CONNECTING,
      leaderSinceMs: null,
      leaderSinceExact: false,
      alarms: [],
      transfers: [],
  };
}

export function compareBallots(a: BallotView | null, b: BallotView | null): number {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  if (a.round !== b.round) return a.round - b.round;
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

export function ballotText(b: BallotView | null): string {
  if (!b || (b.round === 0 && b.nodeId === "")) return "-";
  return `${b.round}.${b.nodeId || "-"}`;
}

function ballotOf(b: { round: number; nodeId: string } | undefined): BallotView | null {
  return b ? { round: b.round, nodeId: b.nodeId } : null;
}

/** The state after one update. Unknown keys are ignored (a stream of a node no longer shown). */
export function reduce(state: ElectionState, u: FeedUpdate): ElectionState {
  const i = state.nodes.findIndex((n) => n.key === u.key);
  if (i < 0) return state;
  const prev = state.nodes[i]!;
  let next: NodeView = prev;
  let timeline = state.timeline;
  switch (u.kind) {
    case "status": {
      const s = u.status;
      const role = roleName(s.role);
      const becameLeader = role === "leader" && (prev.role !== "leader" || !prev.up);
      const transfers = (s.snapshotTransfers ?? []).map((t) => `${t.direction} slot ${t.slot} ${t.direction === "sending" ? "to" : "from"} ${t.peer} (${(t.totalBytes / 1e6).toFixed(1)} MB)`);
      next = {
        ...prev,
        id: s.nodeId || prev.id,
        up: true,
        seen: true,
        role,
        ballot: ballotOf(s.ballot),
        leader: s.leaderId || null,
        chosen: s.chosenIndex,
        applied: s.appliedIndex,
        heartbeatMsAgo: s.lastHeartbeatMsAgo,
        lastUpdateMs: u.atMs,
        downReason: null,
        // A leader first seen by its status led before the watcher came (or before its stream
        // came back): the event that made it leader, if it arrives, corrects the time.
        leaderSinceMs: role !== "leader" ? null : becameLeader ? u.atMs : prev.leaderSinceMs,
        leaderSinceExact: role !== "leader" ? false : becameLeader ? false : prev.leaderSinceExact,
        alarms: sameLines(prev.alarms, s.alarms) ? prev.alarms : [...s.alarms],
        transfers: sameLines(prev.transfers, transfers) ? prev.transfers : transfers,
      };
      // A transfer is one line in the timeline when it starts and one when it ends.
      for (const t of transfers) if (!prev.transfers.includes(t)) timeline = addEntry(timeline, watchEntry(u.atMs, next.id, `snapshot: ${t}`));
      for (const t of prev.transfers) if (!transfers.includes(t)) timeline = addEntry(timeline, watchEntry(u.atMs, next.id, `snapshot done or stopped: ${t}`));
      if (!prev.up && prev.seen) timeline = addEntry(timeline, watchEntry(u.atMs, next.id, "reachable again"));
      if (role === "leader" && (s.members ?? []).length > 0) {
        const members = (s.members ?? []).map((m) => ({ id: m.id, address: m.address, learner: m.learner ?? false }));
        const change = state.members ? membershipChange(state.members, members) : "";
        if (state.members === undefined || state.members === null || change !== "") {
          if (change !== "") timeline = addEntry(timeline, watchEntry(u.atMs, next.id, `membership: ${change}`));
          // Rows for members the watcher was not told of (added since it started).
          const known = state.nodes.map((n, j) => (j === i ? next : n));
          const extra = members.filter((m) => !known.some((n) => n.key === m.address || n.id === m.id)).map((m) => unseenNode({ address: m.address, id: m.id }));
          return { nodes: [...known, ...extra], timeline, members };
        }
      }
      for (const a of s.alarms) if (!prev.alarms.includes(a)) timeline = addEntry(timeline, watchEntry(u.atMs, next.id, `ALARM ${a}`));
      for (const a of prev.alarms) if (!s.alarms.includes(a)) timeline = addEntry(timeline, watchEntry(u.atMs, next.id, `alarm cleared: ${a}`));
      break;
    }
    case "event": {
      const e = u.event;
      const role = roleName(e.role);
      next = {
        ...prev,
        id: e.nodeId || prev.id,
        up: true,
        seen: true,
        role,
        ballot: ballotOf(e.ballot),
        leader: e.leaderId || null,
        lastUpdateMs: u.atMs,
        downReason: null,
        leaderSinceMs: role === "leader" ? e.unixMs : null,
        leaderSinceExact: role === "leader",
      };
      timeline = addEntry(timeline, {
        unixMs: e.unixMs,
        nodeId: next.id,
        kind: "event",
        role,
        ballot: ballotOf(e.ballot),
        leader: e.leaderId || null,
        reason: e.reason,
      });
      break;
    }
    case "down": {
      // Everything else stays as last known (shown dimmed): where it was when it went away.
      next = { ...prev, up: false, downReason: u.reason, leaderSinceMs: null, leaderSinceExact: false };
      if (prev.up) timeline = addEntry(timeline, watchEntry(u.atMs, prev.id, `unreachable: ${u.reason}`));
      break;
    }
    case "action":
      timeline = addEntry(timeline, { unixMs: u.atMs, nodeId: prev.id, kind: "action", role: null, ballot: null, leader: null, reason: u.text });
      break;
  }
  if (next === prev && timeline === state.timeline) return state;
  const nodes = next === prev ? state.nodes : state.nodes.map((n, j) => (j === i ? next : n));
  return { ...state, nodes, timeline };
}

/** "n4 added (learner)", "n4 promoted to voter", "n3 removed", "; "-joined; "" when the same. */
export function membershipChange(before: readonly ConfigMemberView[], after: readonly ConfigMemberView[]): string {
  const out: string[] = [];
  for (const m of after) {
    const was = before.find((b) => b.id === m.id);
    if (!was) out.push(`${m.id} added${m.learner ? " (learner)" : ""} at ${m.address}`);
    else if (was.learner && !m.learner) out.push(`${m.id} promoted to voter`);
    else if (!was.learner && m.learner) out.push(`${m.id} demoted to learner`);
    else if (was.address !== m.address) out.push(`${m.id} moved to ${m.address}`);
  }
  for (const b of before) if (!after.some((m) => m.id === b.id)) out.push(`${b.id} removed`);
  return out.join("; ");
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function watchEntry(unixMs: number, nodeId: string, text: string): TimelineEntry {
  return { unixMs, nodeId, kind: "watch", role: null, ballot: null, leader: null, reason: text };
}

/** Insert in time order (streams of different nodes arrive interleaved), bounded. */
function addEntry(timeline: readonly TimelineEntry[], e: TimelineEntry): TimelineEntry[] {
  let at = timeline.length;
  while (at > 0 && timeline[at - 1]!.unixMs > e.unixMs) at--;
  const next = [...timeline.slice(0, at), e, ...timeline.slice(at)];
  return next.length > TIMELINE_ENTRIES_MAX ? next.slice(next.length - TIMELINE_ENTRIES_MAX) : next;
}

/**
 * Who leads: the reachable node that says it leads (the highest ballot if, for a moment, two
 * do: a paused old leader that has not yet heard of its successor); else the leader most
 * reachable nodes follow (a leader the watcher does not watch).
 */
export function currentTenure(state: ElectionState): Tenure | null {
  let best: NodeView | null = null;
  for (const n of state.nodes) {
    if (n.up && n.role === "leader" && (best === null || compareBallots(n.ballot, best.ballot) > 0)) best = n;
  }
  if (best) return { leaderId: best.id, ballot: best.ballot, sinceMs: best.leaderSinceMs, exact: best.leaderSinceExact };
  const votes = new Map<string, number>();
  for (const n of state.nodes) if (n.up && n.leader) votes.set(n.leader, (votes.get(n.leader) ?? 0) + 1);
  let followed: string | null = null;
  for (const [id, count] of votes) if (followed === null || count > votes.get(followed)!) followed = id;
  return followed === null ? null : { leaderId: followed, ballot: null, sinceMs: null, exact: false };
}

/**
 * How many slots a node is behind the leader's chosen index: what it still has to learn. The
 * leader's own view when it is watched and reachable, else the highest chosen index seen.
 */
export function lagOf(state: ElectionState, n: NodeView): number | null {
  if (n.chosen === null) return null;
  const tenure = currentTenure(state);
  const leader = tenure ? state.nodes.find((x) => x.id === tenure.leaderId && x.up) : undefined;
  let reference = leader?.chosen ?? null;
  if (reference === null) {
    for (const x of state.nodes) if (x.up && x.chosen !== null) reference = Math.max(reference ?? 0, x.chosen);
  }
  return reference === null ? null : Math.max(0, reference - n.chosen);
}

/** Holds the state for the views; listeners hear of every change. */
export class ElectionStore {
  private state: ElectionState;
  private readonly listeners = new Set<() => void>();

  constructor(targets: readonly WatchTarget[]) {
    this.state = initialState(targets);
  }

  getState = (): ElectionState => this.state;

  dispatch = (u: FeedUpdate): void => {
    const next = reduce(this.state, u);
    if (next === this.state) return;
    this.state = next;
    for (const l of this.listeners) l();
  };

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}
