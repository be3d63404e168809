// `zk-cli cluster add-node` and `cluster remove-node`: membership changes of the local cluster,
// each one through consensus (the client's memberAdd/memberPromote/memberRemove), with the
// processes and the manifest kept in step: a new member is started (zk-node --join), added as
// a learner, waited for until it is caught up, then promoted; a removed one is stopped by PID
// once the cluster has removed it. Every step is reported as it happens (onStep).
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { MemberChangeResponse, ZkClient } from "@zk/node/client";
import { describeExit, manifestNodeFor, peerArgs, spawnNode, zkNodeBin, ZK_PORT_OFFSET } from "./cluster.js";
import { HOST } from "./cluster-defaults.js";
import { CliError, EXIT_CONFLICT, EXIT_UNAVAILABLE, usageError } from "./errors.js";
import { dirFlag, shellWord, writeManifest, type Manifest, type ManifestNode } from "./manifest.js";
import { isAlive, stopPids } from "./processes.js";

const POLL_MS = 200;
/** A catching-up learner's lag is reported at most this often. */
const PROGRESS_EVERY_MS = 1000;

/** zk-node flags copied from the cluster's first member to a new one (its tuning). */
const TUNING_FLAGS = ["--tick-ms", "--election-ticks", "--heartbeat-ticks", "--log-level"];

export type StepSink = (step: { readonly step: string; readonly id: string; readonly text: string; readonly [k: string]: unknown }) => void;

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/**
 * The next member of a local cluster: an id past every id it had (ids are never reused: the
 * manifest's, `taken`'s and those the log `retired`), the port past every port.
 */
export function nextMember(m: Manifest, taken: readonly { id: string; address: string }[] = [], retired: readonly string[] = []): { id: string; address: string } {
  const all = [...m.nodes, ...(m.removed ?? []), ...taken];
  const n = Math.max(0, ...[...all.map((x) => x.id), ...retired].map((id) => /^n(\d+)$/.exec(id)).map((r) => (r ? Number(r[1]) : 0)));
  const port = Math.max(m.basePort - 1, ...all.map((x) => portOf(x.address))) + 1;
  if (port + ZK_PORT_OFFSET > 65535) throw usageError(`no port left for a new member: the next one, ${port}, and its ZooKeeper port ${port + ZK_PORT_OFFSET} must be below 65536`);
  return { id: `n${n + 1}`, address: `${HOST}:${port}` };
}

function tuningOf(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length - 1; i++) if (TUNING_FLAGS.includes(args[i]!)) out.push(args[i]!, args[i + 1]!);
  return out;
}

/** A node's flags with --peers and --zk-peers for `members` (what it would be started with now). */
function withPeers(n: ManifestNode, members: readonly { id: string; address: string }[]): ManifestNode {
  const args = [...n.args];
  const [, peers, , zkPeers] = peerArgs(members);
  for (const [flag, value] of [["--peers", peers], ["--zk-peers", zkPeers]] as const) {
    const i = args.indexOf(flag);
    if (i >= 0) args[i + 1] = value!;
  }
  return { ...n, args };
}

/** Every manifest node's flags brought up to date with the cluster's members. */
function syncPeers(m: Manifest, members: readonly { id: string; address: string }[]): void {
  for (let i = 0; i < m.nodes.length; i++) m.nodes[i] = withPeers(m.nodes[i]!, members);
}

export interface AddNodeResult {
  readonly node: ManifestNode;
  readonly added: MemberChangeResponse;
  readonly promoted: MemberChangeResponse | null;
}

/**
 * Start a new member, add it as a learner, wait until it is caught up and (unless
 * `learnerOnly`) promote it. If it cannot be added, its process is stopped and what was
 * made for it (data dir, manifest entry) removed; once added it stays a member whatever
 * happens next (the error says how to go on).
 */
export async function addNode(opts: {
  dir: string;
  manifest: Manifest;
  client: ZkClient;
  probe: (address: string) => Promise<boolean>;
  learnerOnly: boolean;
  waitMs: number;
  onStep: StepSink;
}): Promise<AddNodeResult> {
  const { dir, manifest: m, client, onStep } = opts;
  const deadline = Date.now() + opts.waitMs;
  const before = await client.memberList();
  // Ids the cluster removed through the log (`member remove`, not only `cluster remove-node`) are never reused either.
  const next = nextMember(m, before.members, before.removed);
  const members = [...before.members.map((x) => ({ id: x.id, address: x.address })), next];
  const template = m.nodes[0];
  const node = manifestNodeFor(dir, m.clusterId, members, next, template ? tuningOf(template.args) : []);
  if (existsSync(node.dataDir)) throw new CliError(`${node.dataDir} already exists; move it aside before adding ${next.id}`, EXIT_CONFLICT);
  mkdirSync(node.dataDir, { recursive: true });
  const s = spawnNode(node, { detached: true, extraArgs: ["--join"] });
  node.pid = s.child.pid ?? 0;
  node.state = "running";
  m.nodes.push(node);
  writeManifest(dir, m);
  let exited: string | null = null;
  void s.exited.then((r) => (exited ??= describeExit(next.id, r)));

  const undo = async (e: unknown): Promise<never> => {
    await stopPids([node.pid]);
    rmSync(node.dataDir, { recursive: true, force: true });
    m.nodes.splice(m.nodes.indexOf(node), 1);
    writeManifest(dir, m);
    throw e;
  };

  onStep({ step: "started", id: next.id, text: `started ${next.id} (pid ${node.pid}) at ${next.address}, waiting to be added`, address: next.address, pid: node.pid });
  while (!(await opts.probe(next.address))) {
    if (exited) return undo(new CliError(exited));
    if (Date.now() > deadline) return undo(new CliError(`${next.id} did not start serving within ${Math.round(opts.waitMs / 1000)} s; see ${node.logFile}`, EXIT_UNAVAILABLE));
    await sleep(POLL_MS);
  }

  let added: MemberChangeResponse;
  try {
    added = await client.memberAdd(next.id, next.address, { learner: true });
  } catch (e) {
    return undo(e);
  }
  syncPeers(m, added.members);
  writeManifest(dir, m);
  onStep({ step: "added", id: next.id, text: `added ${next.id} as a learner: config v${added.configVersion} at slot ${added.configSlot}`, configVersion: added.configVersion, configSlot: added.configSlot });

  const d = dirFlag(dir);
  const stays = `${next.id} stays a learner; \`zk-cli member list${d}\` shows its progress, \`zk-cli member promote ${next.id}${d}\` promotes it, \`zk-cli cluster remove-node ${next.id}${d}\` removes it`;
  let lastReport = 0;
  for (;;) {
    if (exited) throw new CliError(`${exited}; ${stays}`);
    const view = await client.memberList().catch(() => null);
    const me = view?.members.find((x) => x.id === next.id);
    if (me?.hasProgress && me.caughtUp) {
      onStep({ step: "caught-up", id: next.id, text: `${next.id} caught up (lag ${me.lag})`, lag: me.lag });
      break;
    }
    if (Date.now() > deadline) throw new CliError(`${next.id} did not catch up within ${Math.round(opts.waitMs / 1000)} s${me?.hasProgress ? ` (lag ${me.lag})` : ""}; ${stays}`, EXIT_UNAVAILABLE);
    if (me?.hasProgress && Date.now() - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = Date.now();
      onStep({ step: "catching-up", id: next.id, text: `${next.id} catching up: lag ${me.lag}`, lag: me.lag });
    }
    await sleep(POLL_MS);
  }
  if (opts.learnerOnly) return { node, added, promoted: null };

  const promoted = await retryConflicts(() => client.memberPromote(next.id), deadline);
  syncPeers(m, promoted.members);
  writeManifest(dir, m);
  onStep({ step: "promoted", id: next.id, text: `promoted ${next.id} to voter: config v${promoted.configVersion} at slot ${promoted.configSlot}`, configVersion: promoted.configVersion, configSlot: promoted.configSlot });
  return { node, added, promoted };
}

/**
 * A change refused as a conflict (the learner slipped back past the bound, the previous change
 * still in flight) is tried again until the deadline: both clear by themselves.
 */
async function retryConflicts<T>(f: () => Promise<T>, deadline: number): Promise<T> {
  const { ErrorCode } = await import("@zk/node/client");
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if ((e as { code?: unknown }).code !== ErrorCode.MEMBERSHIP_CONFLICT || Date.now() > deadline) throw e;
      await sleep(POLL_MS);
    }
  }
}

export interface RemoveNodeResult {
  readonly removed: MemberChangeResponse | null;
  readonly pid: number;
  readonly wasRunning: boolean;
  readonly killed: boolean;
}

/** How long remove-node waits for the staying members to apply a removal before it stops the removed node anyway. */
const REMOVAL_SETTLE_MS = 10_000;

/** Until `need` of `addresses` have applied `slot`, or `waitMs` passed; how many have. */
async function untilApplied(client: ZkClient, addresses: readonly string[], need: number, slot: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  const done = new Set<string>();
  while (done.size < need && Date.now() < deadline) {
    await Promise.all([...addresses].filter((a) => !done.has(a)).map((a) => client.status(a).then((s) => s.appliedIndex >= slot && done.add(a), () => false)));
    if (done.size < need) await new Promise((r) => setTimeout(r, 100));
  }
  return done.size;
}

/** Remove a member through consensus, then stop its process by PID and forget it in the manifest (its data dir stays). */
export async function removeNode(opts: { dir: string; manifest: Manifest; client: ZkClient; id: string; force: boolean; waitMs: number; onStep: StepSink }): Promise<RemoveNodeResult> {
  const { dir, manifest: m, client, id, onStep } = opts;
  const node = m.nodes.find((n) => n.id === id);
  if (!node) throw usageError(`no node "${id}" in this cluster (members: ${m.nodes.map((x) => x.id).join(", ")})`);
  const view = await client.memberList();
  let removed: MemberChangeResponse | null = null;
  let members: readonly { id: string; address: string }[] = view.members;
  if (view.members.some((x) => x.id === id)) {
    removed = await client.memberRemove(id, { force: opts.force });
    members = removed.members;
    onStep({ step: "removed", id, text: `removed ${id}: config v${removed.configVersion} at slot ${removed.configSlot}; leader ${removed.leaderId || "unknown"}`, configVersion: removed.configVersion, configSlot: removed.configSlot, leader: removed.leaderId || null });
  } else {
    onStep({ step: "removed", id, text: `${id} is no longer a member (config v${view.configVersion}); stopping it`, configVersion: view.configVersion, configSlot: view.configSlot, leader: view.leaderId || null });
  }
  // Stop it only once a majority of the voters that stay have applied its removal (they can
  // then elect a leader without it): a removed leader that went quiet before they learned the
  // change is chosen would leave them counting it in their quorums.
  let lagging: string | null = null;
  if (removed !== null) {
    const voters = removed.members.filter((x) => x.id !== id && !x.learner).map((x) => x.address);
    const need = Math.floor(voters.length / 2) + 1;
    const applied = await untilApplied(client, voters, need, removed.configSlot, Math.min(opts.waitMs, REMOVAL_SETTLE_MS));
    if (applied < need) {
      lagging = `warning: ${id} is stopped, but only ${applied} of the ${voters.length} staying voters had applied its removal (config v${removed.configVersion}) within ${Math.round(Math.min(opts.waitMs, REMOVAL_SETTLE_MS) / 1000)} s; if \`zk-cli status${dirFlag(dir)}\` then shows no leader, start it again until they have (\`${[process.execPath, zkNodeBin(), ...node.args].map(shellWord).join(" ")}\`; its data is left in ${node.dataDir})\n`;
    }
  }
  const wasRunning = isAlive(node.pid);
  const killed = wasRunning ? (await stopPids([node.pid], opts.waitMs)).length > 0 : false;
  // Said once it is true: the node has exited.
  if (lagging !== null) process.stderr.write(lagging);
  onStep({ step: "stopped", id, text: wasRunning ? `stopped ${id} (pid ${node.pid})${killed ? " with SIGKILL" : ""}; its data is left in ${node.dataDir}` : `${id} was not running; its data is left in ${node.dataDir}`, pid: node.pid || null, wasRunning, killed });
  m.nodes.splice(m.nodes.indexOf(node), 1);
  m.removed = [...(m.removed ?? []), { id, address: node.address }];
  syncPeers(m, members.filter((x) => x.id !== id));
  writeManifest(dir, m);
  return { removed, pid: node.pid, wasRunning, killed };
}
