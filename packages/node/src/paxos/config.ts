// The cluster's configuration (its members, voters and learners) as a command in the log.
//
// A configuration command is chosen like any other; it governs the slots AFTER its own (the
// slot holding it is governed by the configuration before it), and a leader proposes nothing
// past an unchosen configuration command (so it always knows the configuration of every slot
// it proposes). Phase 2 quorums are majorities of the voters of the slot's configuration;
// Phase 1 needs a majority of every configuration that may govern a slot from the
// candidate's chosen index on (docs/design.md "Membership").
//
// Encoding: one marker byte that no protobuf message can start with (0xFF: field 31 with
// wire type 7, which does not exist), then the configuration as UTF-8 JSON. The core
// recognises configurations by that byte without decoding other commands.
import type { Command, NodeId } from "./types.js";

export interface ConfigMember {
  readonly id: NodeId;
  readonly address: string;
  /** A voter counts in quorums; a learner only receives the log. */
  readonly voter: boolean;
}

export interface ClusterConfig {
  /** 1 for the cluster's first configuration, +1 per change. */
  readonly version: number;
  /** Sorted by id. */
  readonly members: readonly ConfigMember[];
  /** Ids that were members once: never reused (a stale message of the old one could count). */
  readonly removed: readonly NodeId[];
  /** What this configuration changed, e.g. "add n4 (learner)"; "" for the first. */
  readonly change: string;
}

const MARKER = 0xff;

export function isConfigCommand(c: Command): boolean {
  return c.length > 0 && c[0] === MARKER;
}

export function encodeConfig(cfg: ClusterConfig, nonce = 0): Command {
  const json = Buffer.from(JSON.stringify({ ...cfg, nonce }), "utf8");
  const out = new Uint8Array(json.length + 1);
  out[0] = MARKER;
  out.set(json, 1);
  return out;
}

export function decodeConfig(c: Command): ClusterConfig {
  if (!isConfigCommand(c)) throw new Error("zk: bug: not a configuration command");
  const raw = JSON.parse(Buffer.from(c.buffer, c.byteOffset + 1, c.length - 1).toString("utf8")) as ClusterConfig & { nonce?: number };
  return normalizeConfig(raw);
}

/** A configuration with its members sorted and nothing but its own fields. */
export function normalizeConfig(c: ClusterConfig): ClusterConfig {
  return {
    version: c.version,
    members: [...c.members].map((m) => ({ id: m.id, address: m.address, voter: m.voter })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    removed: [...(c.removed ?? [])].sort(),
    change: c.change ?? "",
  };
}

/** The first configuration of a cluster: every listed member a voter. */
export function initialConfig(members: readonly { id: NodeId; address: string }[]): ClusterConfig {
  return normalizeConfig({ version: 1, members: members.map((m) => ({ id: m.id, address: m.address, voter: true })), removed: [], change: "" });
}

/** A configuration of no one: a new member that has not yet learnt the cluster's from the log. */
export const UNKNOWN_CONFIG: ClusterConfig = { version: 0, members: [], removed: [], change: "" };

/** What the core needs of a configuration, computed once per configuration. */
export interface Quorums {
  readonly voters: ReadonlySet<NodeId>;
  readonly all: ReadonlySet<NodeId>;
  /** Votes needed: a majority of the voters. */
  readonly majority: number;
}

const cache = new WeakMap<ClusterConfig, Quorums>();

export function quorums(cfg: ClusterConfig): Quorums {
  let q = cache.get(cfg);
  if (q === undefined) {
    const voters = new Set(cfg.members.filter((m) => m.voter).map((m) => m.id));
    q = { voters, all: new Set(cfg.members.map((m) => m.id)), majority: Math.floor(voters.size / 2) + 1 };
    cache.set(cfg, q);
  }
  return q;
}

/** How many of `ids` are voters of `cfg`. */
export function votersAmong(cfg: ClusterConfig, ids: Iterable<NodeId>): number {
  const v = quorums(cfg).voters;
  let n = 0;
  for (const id of ids) if (v.has(id)) n++;
  return n;
}

export function describeConfig(cfg: ClusterConfig): string {
  return cfg.members.map((m) => (m.voter ? m.id : `${m.id}(learner)`)).join(",");
}
