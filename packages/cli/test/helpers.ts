// Shared by the CLI tests: run the real zk-cli (bin/run.js, built) as a process, with a bound
// on how long it may take; make a temp cluster dir; and clean up every zk-node a test started,
// by PID (from the manifest, plus any process whose command line names the test's own temp
// dir, in case a failed `cluster up` lost track of one). Nothing is ever killed by name.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { readManifest, type Manifest } from "../src/lib/manifest.js";

export const CLI = fileURLToPath(new URL("../bin/run.js", import.meta.url));
export const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run zk-cli with `args`; never inherits the developer's ZK_* settings. */
export function cli(args: readonly string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];
  Object.assign(env, opts.env ?? {});
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? tmpdir(), env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (child.pid) process.kill(child.pid, "SIGKILL");
      reject(new Error(`zk-cli ${args.join(" ")} did not finish within ${opts.timeoutMs ?? CLI_TIMEOUT_MS} ms`));
    }, opts.timeoutMs ?? CLI_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => undefined); // the CLI may exit before reading all of it
    child.stdin.end(opts.input ?? "");
  });
}

/** One JSON object per stdout line. */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

export function tempClusterDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `zk-cli-${name}-`));
}

export function isRunning(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** PIDs of processes whose command line mentions `dir` (our unique temp dir): Linux only. */
export function pidsMentioning(dir: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(dir) && isRunning(Number(e))) pids.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** SIGKILL every zk-node this test's cluster dir knows of, wait for them, remove the dir. */
export async function destroyCluster(dir: string): Promise<void> {
  let m: Manifest | null = null;
  try {
    m = readManifest(dir);
  } catch {
    // a broken manifest: the /proc scan below still finds the processes
  }
  const pids = new Set([...(m?.nodes.map((n) => n.pid) ?? []), ...pidsMentioning(dir)]);
  for (const pid of pids) {
    if (isRunning(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  await waitUntil(() => [...pids].every((p) => !isRunning(p)), 5_000, "test cluster processes to exit");
  rmSync(dir, { recursive: true, force: true });
}

/** Poll `f` until it returns a truthy value; fail after `timeoutMs`. */
export async function waitUntil<T>(f: () => T | Promise<T>, timeoutMs: number, what: string, pollMs = 100): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v) return v as NonNullable<Awaited<T>>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(pollMs);
  }
}

/** A stderr that is exactly one `zk-cli: ...` line. */
export function oneErrorLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  if (lines.length !== 1 || !lines[0]!.startsWith("zk-cli: ")) throw new Error(`expected one "zk-cli: ..." line on stderr, got: ${JSON.stringify(stderr)}`);
  return lines[0]!;
}

/** zk-cli against the cluster in `dir`: `zk` runs it, `ok` runs it and asserts exit 0, returning stdout. */
export function clusterCli(dir: string): {
  env: { ZK_CLUSTER_DIR: string };
  zk: (args: string[], input?: string) => Promise<CliResult>;
  ok: (args: string[], input?: string) => Promise<string>;
} {
  const env = { ZK_CLUSTER_DIR: dir };
  const zk = (args: string[], input?: string) => cli(args, { env, input });
  const ok = async (args: string[], input?: string) => {
    const r = await zk(args, input);
    if (r.code !== 0) throw new Error(`zk-cli ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  return { env, zk, ok };
}
