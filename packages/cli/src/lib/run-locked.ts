// `zk-cli lock <name> -- <command>`: take the lock (lib/recipes.ts), run the command while
// holding it, release it when the command exits. The lock is only as good as the session:
// when the session is suspended (keepalives not acknowledged: it may be about to expire) the
// command is stopped before the cluster could expire the session and hand the lock to
// someone else; when it is lost, the command is killed at once. The command gets the lock
// node's zxid as a fencing token (ZK_LOCK_ZXID) for resources that can check it.
import { spawn } from "node:child_process";
import { constants, hostname } from "node:os";
import { CliError, EXIT_ERROR, EXIT_LOCK_LOST, EXIT_UNAVAILABLE } from "./errors.js";
import { acquireLock, lockHolder, whenLost, type Acquired, type LockHolder } from "./recipes.js";
import { CliSession, stopSignal } from "./session.js";

export interface RunLockedOptions {
  readonly endpoints: readonly string[];
  /** Credentials USER:PASSWORD the session acts as (--auth). */
  readonly auth?: readonly string[];
  readonly name: string;
  readonly command: readonly string[];
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly lockTimeoutMs: number | undefined;
  readonly json: boolean;
  /** What to do to the command when the session is suspended (the lock may be about to go). */
  readonly onSuspend: OnSuspend;
}

export const ON_SUSPEND = ["term", "stop", "ignore"] as const;
export type OnSuspend = (typeof ON_SUSPEND)[number];

/**
 * With --on-suspend term, SIGKILL follows SIGTERM after this fraction of the time the session
 * still has at the suspension (at least a third of the TTL): the command is dead well before
 * the cluster could expire the session and give the lock to someone else.
 */
const SUSPEND_KILL_FRACTION = 0.5;

const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** Exit status of a command that could not be started (as shells report it). */
const EXIT_NOT_FOUND_COMMAND = 127;
const EXIT_CANNOT_EXECUTE = 126;

function signalExit(sig: string): number {
  return 128 + ((constants.signals as Record<string, number>)[sig] ?? 0);
}

/** Returns the exit code: the command's, or 128 + signal if interrupted while waiting. */
export async function runLocked(o: RunLockedOptions): Promise<number> {
  const report = (event: string, fields: Record<string, unknown>, line: string) => {
    if (o.json) process.stderr.write(JSON.stringify({ event, lock: o.name, ...fields }) + "\n");
    else if (process.stderr.isTTY) process.stderr.write(line + "\n");
  };
  const stop = stopSignal();
  const waiting = new AbortController();
  stop.signal.addEventListener("abort", () => waiting.abort(stop.signal.reason), { once: true });
  const timer = o.lockTimeoutMs === undefined ? null : setTimeout(() => waiting.abort("timeout"), o.lockTimeoutMs);
  // Opening the session is part of waiting for the lock: --lock-timeout bounds it too.
  const openMs = o.lockTimeoutMs === undefined ? o.timeoutMs : Math.min(o.timeoutMs, o.lockTimeoutMs);
  let cs: CliSession;
  try {
    cs = await CliSession.open(o.endpoints, o.ttlMs, openMs, o.auth);
  } catch (e) {
    if (timer) clearTimeout(timer);
    stop.dispose();
    throw e;
  }
  let acquired: Acquired;
  try {
    let lastHolder: LockHolder | null = null;
    acquired = await acquireLock(cs, o.name, Buffer.from(`${hostname()} pid ${process.pid}`), waiting.signal, (holder, queued) => {
      if (holder.path === lastHolder?.path) return;
      lastHolder = holder;
      report("waiting", { holder: holder.data, holderPath: holder.path, queued }, `waiting for lock ${o.name}: held by ${holder.data || "?"} (${holder.path}), ${queued} ahead of us`);
    });
  } catch (e) {
    const reason: unknown = waiting.signal.reason;
    if (!waiting.signal.aborted) {
      await cs.close();
      throw e;
    }
    if (reason === "timeout") {
      const holder = await lockHolder(cs, o.name);
      await cs.close();
      const by = holder ? `; held by ${holder.data || "?"} (${holder.path})` : "";
      throw new CliError(`timed out after ${o.lockTimeoutMs} ms waiting for lock ${o.name}${by}`, EXIT_UNAVAILABLE);
    }
    await cs.close();
    return signalExit(String(reason));
  } finally {
    if (timer) clearTimeout(timer);
    stop.dispose();
  }
  if (stop.signal.aborted) {
    await cs.closeAndReport([acquired.path]);
    return signalExit(String(stop.signal.reason));
  }
  report("acquired", { path: acquired.path, zxid: acquired.zxid, lockZxid: acquired.lockZxid }, `acquired lock ${o.name} (${acquired.path}, fencing token ZK_LOCK_ZXID=${acquired.lockZxid})`);
  // On stdout too, before the command's first byte: a wrapper can read the fencing token there.
  if (o.json) await writeStdout(JSON.stringify({ event: "acquired", lock: o.name, path: acquired.path, lockZxid: acquired.lockZxid }) + "\n");

  const child = spawn(o.command[0]!, o.command.slice(1), {
    stdio: "inherit",
    env: { ...process.env, ZK_LOCK_ZXID: String(acquired.lockZxid), ZK_LOCK_PATH: acquired.path, ZK_LOCK_SESSION: String(cs.sessionId) },
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const signal = (sig: NodeJS.Signals) => {
    if (running()) child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, signal);
  const guard = guardChild(cs, o, signal, report);
  const held = new AbortController();
  let lost: string | null = null;
  whenLost(cs, acquired.path, acquired.zxid + 1, held.signal).then(
    (why) => {
      lost = why;
      // Someone else may hold the lock from now on: the command must not run another instant.
      guard.lost();
    },
    () => undefined, // the command finished first
  );
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException }>((resolve) => {
    child.once("exit", (code, sig) => resolve({ code, signal: sig }));
    child.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
  });
  held.abort("done");
  guard.dispose();
  for (const sig of FORWARDED) process.off(sig, signal);
  await cs.closeAndReport([acquired.path]);
  report("released", { path: acquired.path }, `released lock ${o.name}`);
  if (lost !== null) throw new CliError(`lost lock ${o.name} while the command ran: ${lost}; the command was killed`, EXIT_LOCK_LOST);
  if (guard.interrupted !== null) throw new CliError(`lock ${o.name} became uncertain while the command ran (${guard.interrupted}); the command was stopped (--on-suspend ${o.onSuspend})`, EXIT_LOCK_LOST);
  if ("error" in outcome) {
    const e = outcome.error;
    if (e.code === "ENOENT") throw new CliError(`cannot run ${o.command[0]}: command not found`, EXIT_NOT_FOUND_COMMAND);
    throw new CliError(`cannot run ${o.command[0]}: ${e.message}`, e.code === "EACCES" ? EXIT_CANNOT_EXECUTE : EXIT_ERROR);
  }
  return outcome.code ?? signalExit(outcome.signal ?? "");
}

type Report = (event: string, fields: Record<string, unknown>, line: string) => void;

/**
 * Act on the session's state while the command runs (docs/sessions.md):
 * - suspended (no keepalive acknowledged for a third of the TTL; the session may expire
 *   within `remainingMs`): `term` sends SIGTERM, then SIGKILL halfway to the earliest moment
 *   the cluster could expire the session, so the command is dead before anyone else can get
 *   the lock; `stop` sends SIGSTOP and, if the session is acknowledged again, SIGCONT;
 *   `ignore` does nothing.
 * - lost (the TTL passed, or the cluster expired the session): SIGKILL, whatever the mode.
 */
function guardChild(cs: CliSession, o: RunLockedOptions, signal: (sig: NodeJS.Signals) => void, report: Report) {
  const session = cs.session;
  let killTimer: NodeJS.Timeout | null = null;
  let paused = false;
  const state = { interrupted: null as string | null };
  const onSuspended = (info: { sinceAckMs: number; remainingMs: number; endpoint: string }) => {
    const why = `no keepalive acknowledged for ${Math.round(info.sinceAckMs)} ms through ${info.endpoint}`;
    report("suspended", { sinceAckMs: Math.round(info.sinceAckMs), remainingMs: Math.round(info.remainingMs), onSuspend: o.onSuspend }, `lock ${o.name} uncertain: ${why}; the session may expire within ${Math.round(info.remainingMs)} ms`);
    if (o.onSuspend === "ignore") return;
    if (o.onSuspend === "stop") {
      paused = true;
      signal("SIGSTOP");
      return;
    }
    state.interrupted ??= `session suspended: ${why}`;
    signal("SIGTERM");
    if (killTimer === null) {
      killTimer = setTimeout(() => signal("SIGKILL"), Math.max(0, Math.floor(info.remainingMs * SUSPEND_KILL_FRACTION)));
    }
  };
  const onReconnected = (endpoint: string) => {
    report("reconnected", { endpoint }, `lock ${o.name} confirmed again through ${endpoint}`);
    if (paused) {
      paused = false;
      signal("SIGCONT");
    }
  };
  session.on("suspended", onSuspended);
  session.on("reconnected", onReconnected);
  return {
    get interrupted() {
      return state.interrupted;
    },
    lost: () => {
      signal("SIGKILL");
      // A stopped process dies of SIGKILL too; SIGCONT lets a stopped shell reap it at once.
      if (paused) signal("SIGCONT");
    },
    dispose: () => {
      session.off("suspended", onSuspended);
      session.off("reconnected", onReconnected);
      if (killTimer) clearTimeout(killTimer);
    },
  };
}

/** Write to stdout and wait until it is handed to the OS (so it precedes the child's output). */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}
