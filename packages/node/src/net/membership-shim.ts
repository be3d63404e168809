// TEMPORARY (branch mcli): the membership API node.ts is getting on branch `member`, typed
// here so the server compiles before it lands. Removed once `member` is merged.
import type { ClusterConfig } from "../paxos/config.js";
import type { Ballot, NodeId } from "../paxos/types.js";

export type MembershipChange =
  | { kind: "add"; id: string; address: string; learner: boolean }
  | { kind: "promote"; id: string }
  | { kind: "remove"; id: string; force: boolean };

export interface MembershipNode {
  membership(): { config: ClusterConfig; slot: number; inFlight: { slot: number; config: ClusterConfig } | null };
  memberProgress(): ReadonlyMap<NodeId, { lag: number; caughtUp: boolean; msSinceHeard: number | null }>;
  changeMembership(change: MembershipChange, deadlineMs: number): Promise<{ config: ClusterConfig; slot: number; leaderId: NodeId | null }>;
  transferLeadership(to: NodeId, deadlineMs: number): Promise<{ leaderId: NodeId; ballot: Ballot; elapsedMs: number }>;
}
