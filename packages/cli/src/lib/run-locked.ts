// `zk-cli lock <name> -- <command>`: take the lock (lib/recipes.ts), run the command while
// holding it, release it when the command exits. The lock is only as good as the session:
// if the session is lost while the command runs, the command is told to stop (SIGTERM),
// because someone else may hold the lock from then on.
import { spawn } from "node:child_process";
import { constants, hostname } from "node:os";
import { CliError, EXIT_ERROR, EXIT_UNAVAILABLE } from "./errors.js";
import { acquireLock, lockHolder, whenLost, type LockHolder } from "./recipes.js";
import { CliSession, stopSignal } from "./session.js";

export interface RunLockedOptions {
  readonly endpoints: readonly string[];
  readonly name: string;
  readonly command: readonly string[];
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly lockTimeoutMs: number | undefined;
  readonly json: boolean;
}

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
  const cs = await CliSession.open(o.endpoints, o.ttlMs, o.timeoutMs);
  let acquired: { path: string; zxid: number };
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
  report("acquired", { path: acquired.path, zxid: acquired.zxid }, `acquired lock ${o.name} (${acquired.path})`);

  const child = spawn(o.command[0]!, o.command.slice(1), { stdio: "inherit" });
  const forward = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  const held = new AbortController();
  let lost: string | null = null;
  whenLost(cs, acquired.path, acquired.zxid + 1, held.signal).then(
    (why) => {
      lost = why;
      forward("SIGTERM");
    },
    () => undefined, // the command finished first
  );
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
  });
  held.abort("done");
  for (const sig of FORWARDED) process.off(sig, forward);
  await cs.closeAndReport([acquired.path]);
  report("released", { path: acquired.path }, `released lock ${o.name}`);
  if (lost !== null) throw new CliError(`lost lock ${o.name} while the command ran: ${lost}; sent it SIGTERM`, EXIT_ERROR);
  if ("error" in outcome) {
    const e = outcome.error;
    if (e.code === "ENOENT") throw new CliError(`cannot run ${o.command[0]}: command not found`, EXIT_NOT_FOUND_COMMAND);
    throw new CliError(`cannot run ${o.command[0]}: ${e.message}`, e.code === "EACCES" ? EXIT_CANNOT_EXECUTE : EXIT_ERROR);
  }
  return outcome.code ?? signalExit(outcome.signal ?? "");
}
