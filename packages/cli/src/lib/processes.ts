// Processes by PID, never by name. A PID from a manifest may have been reused by an unrelated
// process after ours exited, so "alive" also asks Linux's /proc whether it is still a zk-node
// (elsewhere kill(pid, 0) alone decides); a zombie counts as gone.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export const STOP_WAIT_MS = 10_000;
const POLL_MS = 25;

/** Whether `pid` is (still) a running zk-node. */
export function isAlive(pid: number): boolean {
  return probe(pid) === "zk-node";
}

/**
 * What `pid` is now: gone (no such process, or a zombie), "exiting" (its memory is already
 * released, so its command line reads empty), "zk-node", or "other" (the PID was reused).
 */
function probe(pid: number): "gone" | "exiting" | "zk-node" | "other" {
  if (!Number.isInteger(pid) || pid <= 0) return "gone";
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return "gone";
  }
  if (process.platform !== "linux") return "zk-node";
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return "gone";
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmdline === "") return "exiting";
    return cmdline.includes("zk-node") ? "zk-node" : "other";
  } catch {
    return "gone"; // gone between the checks
  }
}

/** Whether `pid` has finished exiting (or is no longer a zk-node at all). */
export function hasExited(pid: number): boolean {
  const p = probe(pid);
  return p === "gone" || p === "other";
}

/** Send `signal` to `pid` if it is (still) a zk-node; false when it was not alive. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  if (!isAlive(pid)) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Wait until every pid has exited or `timeoutMs` passed; returns the ones still alive. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter((p) => !hasExited(p));
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS);
    alive = alive.filter((p) => !hasExited(p));
  }
  return alive;
}

/**
 * SIGTERM every pid, wait (bounded) for a clean shutdown, SIGKILL the stragglers.
 * Returns the pids that needed SIGKILL.
 */
export async function stopPids(pids: readonly number[], timeoutMs = STOP_WAIT_MS): Promise<number[]> {
  const signalled = pids.filter((p) => signal(p, "SIGTERM"));
  const stragglers = await waitForExit(signalled, timeoutMs);
  for (const p of stragglers) signal(p, "SIGKILL");
  await waitForExit(stragglers, 2_000);
  return stragglers;
}
