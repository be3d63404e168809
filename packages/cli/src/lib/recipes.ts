// ZooKeeper's lock and leader-election recipes on ephemeral sequential nodes, over one
// CliSession. Both rest on the same facts: sequence numbers only grow, so the order of the
// children is the order of arrival; an ephemeral node lives exactly as long as its session.
// Every wait is a watch resumed from the zxid of the listing it follows (fromZxid = that
// zxid + 1), so a deletion between the listing and the watch is replayed, never missed.
import { ErrorCode, EventType, ZkError, type ListResponse } from "@zk/node/client";
import { hasCode, isTransient, sequenceOf, type CliSession } from "./session.js";
import { joinPath, type Stat } from "./znode.js";

export const LOCKS_ROOT = "/locks";
export const ELECTIONS_ROOT = "/elections";
export const LOCK_PREFIX = "lock-";
export const CANDIDATE_PREFIX = "candidate-";

interface Member {
  readonly name: string;
  readonly path: string;
  readonly stat: Stat | undefined;
}

/** The children named `prefix` + sequence, in sequence order. */
function members(list: ListResponse, dir: string, prefix: string): Member[] {
  return list.children
    .filter((c) => c.name.startsWith(prefix) && !Number.isNaN(sequenceOf(c.name)))
    .map((c) => ({ name: c.name, path: joinPath(dir, c.name), stat: c.stat }))
    .sort((a, b) => sequenceOf(a.name) - sequenceOf(b.name));
}

/**
 * Our member in a listing: the lowest node our session owns. Any other node it owns is the
 * twin of a create whose answer was lost and then sent again; it is deleted (best effort).
 */
async function ours(cs: CliSession, all: readonly Member[], what: string): Promise<Member> {
  const mine = all.filter((m) => m.stat?.ephemeralOwner === cs.sessionId);
  if (mine.length === 0) {
    throw new ZkError(ErrorCode.SESSION_EXPIRED, `our ${what} node is gone (its session expired or someone deleted it)`);
  }
  for (const extra of mine.slice(1)) await cs.session.delete(extra.path).catch(() => undefined);
  return mine[0]!;
}

/**
 * Create our ephemeral sequential node `dir/prefix<seq>`. A create whose answer was lost
 * (the stream broke) may have been applied: before creating again we look for a node our
 * session owns.
 */
async function join(cs: CliSession, dir: string, prefix: string, data: Uint8Array): Promise<void> {
  const deadline = Date.now() + cs.retryWindowMs;
  for (;;) {
    try {
      await cs.session.create(joinPath(dir, prefix), data, { ephemeral: true, sequential: true });
      return;
    } catch (e) {
      if (cs.expired) throw cs.expired;
      if (!isTransient(e) || Date.now() >= deadline) throw e;
    }
    const list = await cs.retrying((s) => s.list(dir, { includeStats: true }), deadline);
    if (members(list, dir, prefix).some((m) => m.stat?.ephemeralOwner === cs.sessionId)) return;
  }
}

export interface LockHolder {
  readonly path: string;
  readonly data: string;
}

export interface Acquired {
  /** Our lock node. */
  readonly path: string;
  /** The zxid of the listing that showed our node first. */
  readonly zxid: number;
  /**
   * The zxid that created our lock node (its czxid): the fencing token. Every later holder's
   * is larger, so a resource that remembers the largest token it has seen can refuse a
   * holder that lost the lock without knowing it (docs/sessions.md).
   */
  readonly lockZxid: number;
}

/**
 * Take the lock `name`: create /locks/<name>/lock-<seq>, and until ours is the lowest, wait
 * for the deletion of the node just below ours (only that one: no herd of waiters wakes when
 * the holder leaves). `onWaiting` is told who is ahead each time we start waiting.
 */
export async function acquireLock(
  cs: CliSession,
  name: string,
  data: Uint8Array,
  abort: AbortSignal,
  onWaiting: (ahead: LockHolder, queued: number) => void = () => undefined,
): Promise<Acquired> {
  const dir = joinPath(LOCKS_ROOT, name);
  await cs.ensurePath(dir);
  await join(cs, dir, LOCK_PREFIX, data);
  for (;;) {
    // `abort` only ends a wait: a free lock is taken even with a timeout of 0.
    const list = await cs.retrying((s) => s.list(dir, { includeStats: true }));
    const all = members(list, dir, LOCK_PREFIX);
    const me = await ours(cs, all, "lock");
    const i = all.indexOf(me);
    if (i === 0) return { path: me.path, zxid: list.zxid, lockZxid: me.stat?.czxid ?? 0 };
    const ahead = all[i - 1]!;
    const holder = await dataOf(cs, all[0]!.path);
    onWaiting({ path: all[0]!.path, data: holder ?? "" }, i);
    await cs.waitForEvent(ahead.path, list.zxid + 1, (ev) => ev.type === EventType.DELETED, abort);
  }
}

/** The lock's holder now, for a message (null if there is none). */
export async function lockHolder(cs: CliSession, name: string): Promise<LockHolder | null> {
  const dir = joinPath(LOCKS_ROOT, name);
  try {
    const list = await cs.retrying((s) => s.list(dir, { includeStats: true }), Date.now() + 2000);
    const first = members(list, dir, LOCK_PREFIX)[0];
    if (!first) return null;
    return { path: first.path, data: (await dataOf(cs, first.path)) ?? "" };
  } catch {
    return null;
  }
}

/**
 * Resolves when our node at `path` is deleted by anyone but us (so we no longer hold what it
 * stood for); rejects with the session's error when the session is gone; never settles
 * otherwise until `abort` fires (then it rejects with the abort's reason).
 */
export async function whenLost(cs: CliSession, path: string, fromZxid: number, abort: AbortSignal): Promise<string> {
  const expiry = cs.idle(abort).then(() => {
    throw abort.reason;
  });
  const deleted = cs.waitForEvent(path, fromZxid, (ev) => ev.type === EventType.DELETED, abort).then((ev) => `${path} was deleted at zxid ${ev.zxid}`);
  try {
    return await Promise.race([deleted, expiry]);
  } catch (e) {
    if (abort.aborted) throw abort.reason;
    if (cs.expired) return cs.expired.message;
    throw e;
  }
}

export interface LeaderView {
  /** The leader's candidate name (its node's data); null when there is no candidate. */
  readonly leader: string | null;
  /** The leader's node; null when there is none. */
  readonly path: string | null;
  /** The zxid of the read that saw this leader. */
  readonly zxid: number;
  /** True when the leader is this process. */
  readonly self: boolean;
}

/**
 * Follow the election `name` until `abort` fires, calling `onLeader` with the first leader
 * seen and at every change. With `candidate` we campaign: our node
 * /elections/<name>/candidate-<seq> holds the candidate's name, and the lowest node leads.
 * Without it we only watch. Each follower waits for the current leader's node to go (the one
 * event that changes the leader: sequence numbers only grow, so a newcomer never jumps ahead).
 * Rejects when the session is gone or our node is deleted by someone else.
 */
export async function followElection(
  cs: CliSession,
  name: string,
  candidate: string | null,
  abort: AbortSignal,
  onLeader: (v: LeaderView) => void,
  onJoined: (path: string) => void = () => undefined,
): Promise<void> {
  const dir = joinPath(ELECTIONS_ROOT, name);
  if (candidate !== null) {
    await cs.ensurePath(dir);
    await join(cs, dir, CANDIDATE_PREFIX, Buffer.from(candidate, "utf8"));
  }
  let shown: string | null | undefined; // the leader's path last reported; undefined: none yet
  const report = (v: LeaderView) => {
    if (v.path === shown) return;
    shown = v.path;
    onLeader(v);
  };
  let joined = false;
  for (;;) {
    if (abort.aborted) return;
    let list: ListResponse;
    try {
      list = await cs.retrying((s) => s.list(dir, { includeStats: true }));
    } catch (e) {
      if (!hasCode(e, ErrorCode.NO_NODE) || candidate !== null) throw e;
      // Only watching, and nobody has ever run this election: wait for its node to appear.
      const ex = await cs.retrying((s) => s.exists(dir));
      if (ex.exists) continue;
      report({ leader: null, path: null, zxid: ex.zxid, self: false });
      if (!(await waitOrStop(cs.waitForEvent(dir, ex.zxid + 1, () => true, abort), abort))) return;
      continue;
    }
    const all = members(list, dir, CANDIDATE_PREFIX);
    const me = candidate !== null ? await ours(cs, all, "candidate") : null;
    if (me && !joined) {
      joined = true;
      onJoined(me.path);
    }
    const first = all[0];
    if (!first) {
      report({ leader: null, path: null, zxid: list.zxid, self: false });
      const changed = cs.waitForEvent(dir, list.zxid + 1, (ev) => ev.type === EventType.CHILDREN_CHANGED || ev.type === EventType.DELETED, abort);
      if (!(await waitOrStop(changed, abort))) return;
      continue;
    }
    const leader = first === me ? candidate : await dataOf(cs, first.path);
    if (leader === null) continue; // it went away meanwhile
    report({ leader, path: first.path, zxid: list.zxid, self: first === me });
    // Leading: nothing can come before us; only losing our node (or the session) ends it.
    // Following: the leader's node going away is the only change to wait for.
    const gone = cs.waitForEvent(first.path, list.zxid + 1, (ev) => ev.type === EventType.DELETED, abort);
    if (!(await waitOrStop(gone, abort))) return;
    if (first === me) throw new ZkError(ErrorCode.SESSION_EXPIRED, `our candidate node ${me.path} was deleted by someone else`);
  }
}

/** True when `p` settled normally, false when `abort` fired; other failures are thrown. */
async function waitOrStop(p: Promise<unknown>, abort: AbortSignal): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (e) {
    if (abort.aborted) return false;
    throw e;
  }
}

/** A node's data as text; null when it no longer exists. */
async function dataOf(cs: CliSession, path: string): Promise<string | null> {
  try {
    const r = await cs.retrying((s) => s.get(path));
    return Buffer.from(r.data).toString("utf8");
  } catch (e) {
    if (hasCode(e, ErrorCode.NO_NODE)) return null;
    throw e;
  }
}
