// What the membership commands (member list|add|promote|remove, leader transfer, cluster
// add-node|remove-node) print, and the checks of their arguments: one row per member of the
// configuration, from the leader's view when it was reachable (lag, caught up, last heard).
import type { Member, MemberChangeResponse, MembersResponse } from "@zk/node/client";
import { usageError } from "./errors.js";
import type { Column } from "./output.js";
import { parseEndpoints } from "./endpoints.js";

/** zk-node's --id (packages/node/src/config.ts). */
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkMemberId(id: string): string {
  if (!NODE_ID.test(id)) throw usageError(`invalid member id "${id}": use 1-64 letters, digits, '.', '_' or '-'`);
  return id;
}

export function checkMemberAddress(address: string): string {
  if (address.includes(",")) throw usageError(`invalid address "${address}": one HOST:PORT, e.g. 127.0.0.1:7004`);
  return parseEndpoints(address, "ADDRESS")[0]!;
}

export interface MemberRowView {
  readonly id: string;
  readonly address: string;
  readonly role: "voter" | "learner";
  readonly leader: boolean;
  /** Null when the view is not the leader's (it alone knows each member's progress). */
  readonly caughtUp: boolean | null;
  readonly lag: number | null;
  readonly lastHeardMsAgo: number | null;
}

export function memberRows(members: readonly Member[], leaderId: string): MemberRowView[] {
  return members.map((m) => ({
    id: m.id,
    address: m.address,
    role: m.learner ? "learner" : "voter",
    leader: m.id === leaderId,
    caughtUp: m.hasProgress ? m.caughtUp : null,
    lag: m.hasProgress ? m.lag : null,
    lastHeardMsAgo: m.hasProgress && m.heard ? m.lastHeardMsAgo : null,
  }));
}

export const MEMBER_LIST_COLUMNS: readonly Column<MemberRowView>[] = [
  { header: "ID", get: (r) => r.id },
  { header: "ADDRESS", get: (r) => r.address },
  { header: "ROLE", get: (r) => r.role },
  { header: "LEADER", get: (r) => (r.leader ? "*" : "") },
  { header: "CAUGHT-UP", get: (r) => r.caughtUp },
  { header: "LAG", get: (r) => r.lag, right: true },
  { header: "LAST-HEARD", get: (r) => (r.lastHeardMsAgo === null || r.leader ? null : `${r.lastHeardMsAgo} ms`), right: true },
];

/** "config v3 at slot 120; leader n1" plus the change in flight, if any (a diagnostic line). */
export function configLine(r: Pick<MembersResponse, "configVersion" | "configSlot" | "leaderId" | "changeInFlight">): string {
  const flight = r.changeInFlight ? `; change in flight: ${r.changeInFlight}` : "";
  return `config v${r.configVersion} at slot ${r.configSlot}; leader ${r.leaderId || "unknown"}${flight}`;
}

export function memberListJson(r: MembersResponse, row: MemberRowView): Record<string, unknown> {
  return { ...row, configVersion: r.configVersion, configSlot: r.configSlot, changeInFlight: r.changeInFlight || null };
}

/** A change's result as one JSON object. */
export function changeJson(action: string, id: string, r: MemberChangeResponse, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { action, id, ...extra, configVersion: r.configVersion, configSlot: r.configSlot, leader: r.leaderId || null, members: memberRows(r.members, r.leaderId) };
}

/** "config v4 at slot 130 (n1, n2, n3, n4 learner)". */
export function changeText(r: MemberChangeResponse): string {
  return `config v${r.configVersion} at slot ${r.configSlot} (${r.members.map((m) => (m.learner ? `${m.id} learner` : m.id)).join(", ")})`;
}
