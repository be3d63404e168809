// Long-running zk-cli processes for the tests of watch, create --ephemeral, lock and elect:
// started with their output collected line by line, waited on with bounds, and stopped by
// PID (every one started is remembered, so an after() hook can SIGKILL what is left).
import { spawn, type ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import { CLI, isRunning, waitUntil } from "./helpers.js";

export interface LiveCli {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Complete stdout lines so far. */
  readonly out: string[];
  /** Complete stderr lines so far. */
  readonly err: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait until stdout has at least `n` lines; returns them. */
  lines(n: number, timeoutMs?: number): Promise<string[]>;
  /** Wait until a stderr line matches. */
  stderrMatching(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Send a signal and wait for the exit. */
  stop(sig?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started = new Set<LiveCli>();

/** Start zk-cli `args` in the background (no ZK_* from the developer's environment). */
export function startCli(args: readonly string[], opts: { env?: Record<string, string>; stdin?: "ignore" | "pipe"; cwd?: string } = {}): LiveCli {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];
  Object.assign(env, opts.env ?? {});
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? tmpdir(), env, stdio: [opts.stdin ?? "ignore", "pipe", "pipe"] });
  const out: string[] = [];
  const err: string[] = [];
  const collect = (into: string[]) => {
    let partial = "";
    return (b: Buffer) => {
      const parts = (partial + b.toString("utf8")).split("\n");
      partial = parts.pop()!;
      into.push(...parts);
    };
  };
  child.stdout!.on("data", collect(out));
  child.stderr!.on("data", collect(err));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const what = `zk-cli ${args.join(" ")}`;
  const live: LiveCli = {
    child,
    pid: child.pid!,
    out,
    err,
    exited,
    lines: (n, timeoutMs = 20_000) => waitUntil(() => (out.length >= n ? out.slice() : null), timeoutMs, `${n} stdout lines from ${what} (have ${JSON.stringify(out)}; stderr ${JSON.stringify(err)})`, 20),
    stderrMatching: (re, timeoutMs = 20_000) => waitUntil(() => err.find((l) => re.test(l)) ?? null, timeoutMs, `stderr ${re} from ${what} (have ${JSON.stringify(err)})`, 20),
    stop: async (sig = "SIGTERM", timeoutMs = 15_000) => {
      if (isRunning(live.pid)) process.kill(live.pid, sig);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not exit within ${timeoutMs} ms of ${sig}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
  started.add(live);
  void exited.then(() => started.delete(live));
  return live;
}

/** SIGKILL every process startCli started that is still running (for after() hooks). */
export async function killAllStarted(): Promise<void> {
  const left = [...started];
  for (const l of left) {
    if (isRunning(l.pid)) {
      try {
        process.kill(l.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
  await Promise.all(left.map((l) => l.exited));
}

/** Parse NDJSON lines. */
export function parseLines<T = Record<string, unknown>>(lines: readonly string[]): T[] {
  return lines.filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as T);
}
