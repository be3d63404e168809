// Member status rows, shared by `zk-cli status`, `cluster status` and `cluster up`: one row
// per node, from its Status RPC, or marked unreachable with the reason.
import type { NodeStatus, ZkClient } from "@zk/node/client";
import type { Column } from "./output.js";

export interface MemberRow {
  id: string;
  address: string;
  role: string;
  ballot: { round: number; nodeId: string } | null;
  leader: string;
  chosen: number | null;
  applied: number | null;
  reachable: boolean;
  lastHeartbeatMsAgo: number | null;
  /** What the node reports wrong with itself (disk alarm, refused peers), one line each. */
  alarms: string[];
  /** The first slot its log holds (entries below were discarded after a snapshot point). */
  logStart: number | null;
  /** Snapshots it is sending (a leader) or receiving (a follower behind the leader's log start). */
  snapshotTransfers: { peer: string; direction: string; slot: number; bytesDone: number; totalBytes: number }[];
  error: string | null;
}

// Role enum values of cluster.proto, by number (kept here so a table needs no proto import).
const ROLE_NAMES: Record<number, string> = { 0: "unknown", 1: "follower", 2: "precandidate", 3: "candidate", 4: "leader", 5: "recovering", 6: "learner" };

export interface Target {
  readonly id?: string | undefined;
  readonly address: string;
}

export function rowFromStatus(s: NodeStatus, address: string): MemberRow {
  return {
    id: s.nodeId,
    address: s.address || address,
    role: ROLE_NAMES[s.role] ?? "unknown",
    ballot: s.ballot ? { round: s.ballot.round, nodeId: s.ballot.nodeId } : null,
    leader: s.leaderId,
    chosen: s.chosenIndex,
    applied: s.appliedIndex,
    reachable: true,
    lastHeartbeatMsAgo: s.lastHeartbeatMsAgo,
    alarms: [...s.alarms],
    logStart: s.logStart || 1,
    snapshotTransfers: s.snapshotTransfers.map((t) => ({ peer: t.peer, direction: t.direction, slot: t.slot, bytesDone: t.bytesDone, totalBytes: t.totalBytes })),
    error: null,
  };
}

export function unreachableRow(t: Target, error: string): MemberRow {
  return { id: t.id ?? "", address: t.address, role: "", ballot: null, leader: "", chosen: null, applied: null, reachable: false, lastHeartbeatMsAgo: null, alarms: [], logStart: null, snapshotTransfers: [], error };
}

/** Every target's status, in target order; a node that cannot be asked becomes an unreachable row. */
export async function fetchRows(client: ZkClient, targets: readonly Target[]): Promise<MemberRow[]> {
  return Promise.all(
    targets.map((t) =>
      client.status(t.address).then(
        (s) => rowFromStatus(s, t.address),
        (e: Error) => unreachableRow(t, e.message),
      ),
    ),
  );
}

export function ballotText(b: MemberRow["ballot"]): string {
  if (!b) return "";
  return `${b.round}.${b.nodeId || "-"}`;
}

export const MEMBER_COLUMNS: readonly Column<MemberRow>[] = [
  { header: "ID", get: (r) => r.id },
  { header: "ADDRESS", get: (r) => r.address },
  { header: "ROLE", get: (r) => (r.reachable ? r.role : "") },
  { header: "BALLOT", get: (r) => ballotText(r.ballot) },
  { header: "LEADER", get: (r) => r.leader },
  { header: "CHOSEN", get: (r) => r.chosen, right: true },
  { header: "APPLIED", get: (r) => r.applied, right: true },
];

export const REACHABLE_COLUMN: Column<MemberRow> = { header: "REACHABLE", get: (r) => r.reachable };

export function rowJson(r: MemberRow): Record<string, unknown> {
  return {
    id: r.id || null,
    address: r.address,
    reachable: r.reachable,
    role: r.reachable ? r.role : null,
    ballot: r.ballot,
    leader: r.leader || null,
    chosen: r.chosen,
    applied: r.applied,
    lastHeartbeatMsAgo: r.lastHeartbeatMsAgo,
    alarms: r.alarms,
    logStart: r.logStart,
    snapshotTransfers: r.snapshotTransfers,
    ...(r.error ? { error: r.error } : {}),
  };
}

/** Snapshot transfers in progress, one line each ("n1: sending a snapshot at slot 4000 to n3: 2.0 of 5.1 MB"). */
export function transferLines(rows: readonly MemberRow[]): string[] {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  return rows.flatMap((r) =>
    r.snapshotTransfers.map((t) => `${r.id}: ${t.direction} a snapshot at slot ${t.slot} ${t.direction === "sending" ? "to" : "from"} ${t.peer}: ${mb(t.bytesDone)} of ${mb(t.totalBytes)} MB`),
  );
}

/** Every alarm the rows report, one line each ("n2: disk full at ..., writes refused"). */
export function alarmLines(rows: readonly MemberRow[]): string[] {
  return rows.flatMap((r) => r.alarms.map((a) => (a.startsWith(`${r.id}:`) ? a : `${r.id}: ${a}`)));
}

/**
 * Null when the contacted nodes have a leader (one leads, or a reachable one follows one);
 * else why not, in one line: "no leader among n1..n3 (n1 follower, n2 candidate; n3 unreachable)".
 */
export function noLeaderReason(rows: readonly MemberRow[]): string | null {
  const up = rows.filter((r) => r.reachable);
  if (up.some((r) => r.role === "leader" || r.leader !== "")) return null;
  const name = (r: MemberRow) => r.id || r.address;
  const down = rows.filter((r) => !r.reachable);
  const parts = [up.map((r) => `${name(r)} ${r.role}`).join(", "), down.length > 0 ? `${down.map(name).join(", ")} unreachable` : ""].filter(Boolean);
  return `no leader among ${rows.map(name).join(", ")} (${parts.join("; ")}); is a majority of the cluster up, connected and able to write? (see alarms above)`;
}
