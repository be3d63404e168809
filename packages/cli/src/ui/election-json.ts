// `zk-cli elections watch --json` (or with stdout not a terminal): the same feed as the TUI,
// printed as one JSON object per line: {"type":"event",...} for each role change a node
// reports, {"type":"status",...} whenever a node's role, ballot, leader, indexes or
// reachability change (not for every 250 ms heartbeat of an unchanged node), and
// {"type":"membership",...} when the leader's member list changes.
import { ballotText, lagOf, membershipChange, reduce, type ElectionState, type FeedUpdate, type NodeView } from "./election-model.js";

export interface JsonPrinter {
  /** Reduce one update into the state and print what it changed. */
  readonly feed: (u: FeedUpdate) => void;
  readonly state: () => ElectionState;
}

export function jsonPrinter(initial: ElectionState, write: (line: string) => void): JsonPrinter {
  let state = initial;
  const printed = new Map<string, string>();
  return {
    state: () => state,
    feed: (u) => {
      const before = state.members;
      state = reduce(state, u);
      if (before && state.members && before !== state.members) {
        const change = membershipChange(before, state.members);
        const by = state.nodes.find((n) => n.key === u.key)?.id ?? u.key;
        write(JSON.stringify({ type: "membership", node: by, change, members: state.members, unixMs: u.atMs, time: new Date(u.atMs).toISOString() }));
      }
      if (u.kind === "event") {
        const e = u.event;
        write(
          JSON.stringify({
            type: "event",
            node: e.nodeId,
            address: u.key,
            role: state.nodes.find((n) => n.key === u.key)?.role ?? null,
            ballot: e.ballot ? { round: e.ballot.round, nodeId: e.ballot.nodeId } : null,
            leader: e.leaderId || null,
            reason: e.reason,
            unixMs: e.unixMs,
            time: new Date(e.unixMs).toISOString(),
          }),
        );
      }
      if (u.kind === "action") return;
      const n = state.nodes.find((x) => x.key === u.key);
      if (!n) return;
      const sig = signature(n);
      if (printed.get(n.key) === sig) return;
      printed.set(n.key, sig);
      write(JSON.stringify(statusJson(state, n, u.atMs)));
    },
  };
}

function signature(n: NodeView): string {
  return n.up ? `up ${n.role} ${ballotText(n.ballot)} ${n.leader} ${n.chosen} ${n.applied} ${n.alarms.join("|")}` : "down";
}

export function statusJson(state: ElectionState, n: NodeView, atMs: number): Record<string, unknown> {
  return {
    type: "status",
    node: n.id,
    address: n.address,
    up: n.up,
    role: n.up ? n.role : null,
    ballot: n.up ? n.ballot : null,
    leader: n.up ? n.leader : null,
    chosen: n.up ? n.chosen : null,
    applied: n.up ? n.applied : null,
    lag: n.up ? lagOf(state, n) : null,
    lastHeartbeatMsAgo: n.up ? n.heartbeatMsAgo : null,
    alarms: n.up ? n.alarms : [],
    snapshotTransfers: n.up ? n.transfers : [],
    ...(n.up ? {} : { error: n.downReason }),
    unixMs: atMs,
  };
}
