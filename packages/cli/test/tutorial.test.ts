// docs/tutorial.md, run: every ```sh block, every command, in order, in one bash (so jobs,
// %1 and `wait` work as in the reader's shell), with `zk-cli` (and `pnpm zk-cli`) the built CLI
// and the cluster on 127.0.0.1:17430-17432 in a temp dir. After a command, `# => line`
// comments are its expected output (stdout lines, then stderr lines; `*` matches anything
// within a line, a line `...` any number of lines) and `# exit N` its exit status (else 0).
// A command ending in `&` runs in the background; its `# =>` lines are the first lines it
// prints, and the next command waits for them. Processes are stopped by PID afterwards.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { CLI, destroyCluster, isRunning, tempClusterDir, waitUntil } from "./helpers.js";

const TUTORIAL = fileURLToPath(new URL("../../../docs/tutorial.md", import.meta.url));
const BASE_PORT = 17430;
const COMMAND_TIMEOUT_MS = 30_000;
const SENTINEL = "__zk_tutorial__";
// What an interactive bash does before each prompt: report finished jobs and forget them, so
// that job numbers (%1, %2) are reused as the reader's shell reuses them. A non-interactive
// bash keeps finished jobs until asked.
const PROMPT = "jobs >/dev/null 2>&1";

interface Step {
  readonly line: number;
  readonly command: string;
  readonly background: boolean;
  readonly expect: string[];
  exit: number;
}

/** The commands of every ```sh block, with their expectations. */
export function parseTutorial(text: string): Step[] {
  const steps: Step[] = [];
  const lines = text.split("\n");
  let inBlock = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const fence = /^```(\S*)\s*$/.exec(raw);
    if (fence) {
      if (!inBlock && fence[1] !== "sh") throw new Error(`${TUTORIAL}:${i + 1}: only \`\`\`sh blocks belong in the tutorial (each is run by this test); found \`\`\`${fence[1]}`);
      inBlock = !inBlock;
      continue;
    }
    if (!inBlock || raw.trim() === "") continue;
    const last = steps.at(-1);
    const expect = /^# => ?(.*)$/.exec(raw);
    const exit = /^# exit (\d+)$/.exec(raw);
    if (expect || exit) {
      if (!last) throw new Error(`${TUTORIAL}:${i + 1}: an expectation before any command`);
      if (expect) last.expect.push(expect[1]!);
      else last.exit = Number(exit![1]);
      continue;
    }
    if (raw.startsWith("#")) continue;
    let command = raw;
    const start = i + 1;
    while (command.endsWith("\\") && i + 1 < lines.length) command = command.slice(0, -1) + "\n" + lines[++i];
    const background = /&\s*$/.test(command) && !/&&\s*$/.test(command);
    steps.push({ line: start, command: command.replace(/&\s*$/, "").trim(), background, expect: [], exit: 0 });
  }
  if (inBlock) throw new Error(`${TUTORIAL}: a \`\`\`sh block is not closed`);
  return steps;
}

/** Whether `actual` lines match `expected` (`*` within a line, `...` for any lines); with `prefix`, more lines may follow. */
export function linesMatch(expected: readonly string[], actual: readonly string[], prefix = false): boolean {
  const re = expected.map((e) => (e === "..." ? null : new RegExp("^" + e.split("*").map(escapeRe).join(".*") + "$")));
  const go = (i: number, j: number): boolean => {
    if (i === re.length) return prefix || j === actual.length;
    const r = re[i] as RegExp | null;
    if (r === null) {
      for (let k = j; k <= actual.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    return j < actual.length && r.test(actual[j]!) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

function fileLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** One bash fed a command at a time; each answers with a sentinel line carrying $? or $!. */
class Shell {
  private readonly bash: ChildProcessWithoutNullStreams;
  private buffered = "";
  private waiter: ((line: string) => void) | null = null;
  readonly log: string[] = [];

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.bash = spawn("bash", ["--noprofile", "--norc"], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    this.bash.stdout.on("data", (b: Buffer) => {
      this.buffered += b.toString("utf8");
      for (let nl = this.buffered.indexOf("\n"); nl >= 0; nl = this.buffered.indexOf("\n")) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        if (line.startsWith(SENTINEL)) this.waiter?.(line.slice(SENTINEL.length + 1));
        else this.log.push(line);
      }
    });
    this.bash.stderr.on("data", (b: Buffer) => this.log.push(b.toString("utf8")));
  }

  get pid(): number {
    return this.bash.pid!;
  }

  /** Run `script` (ending by printing the sentinel) and return what follows the sentinel. */
  run(script: string, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${what} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (rest) => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(rest);
      };
      this.bash.stdin.write(script + "\n");
    });
  }

  close(): void {
    this.bash.stdin.end("exit\n");
  }
}

/** `pid`'s descendants (Linux /proc), for the cleanup of whatever a shell left behind. */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const e of existsSync("/proc") ? readdirSync("/proc") : []) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parentOf.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return out;
}

describe("docs/tutorial.md, run as written", { timeout: 120_000 }, () => {
  const work = tempClusterDir("tutorial");
  const bin = join(work, "bin");
  const steps = parseTutorial(readFileSync(TUTORIAL, "utf8"));
  const backgroundPids: number[] = [];
  let shell: Shell | null = null;

  before(() => {
    mkdirSync(bin);
    // `zk-cli` is this wrapper: the built CLI, exec'd (so $! and %1 are the CLI
    // itself), with the test's ports for `cluster up`.
    const wrapper = [
      "#!/bin/sh",
      `if [ "$1" = cluster ] && [ "$2" = up ]; then exec "${process.execPath}" "${CLI}" "$@" --base-port ${BASE_PORT}; fi`,
      `exec "${process.execPath}" "${CLI}" "$@"`,
      "",
    ].join("\n");
    writeFileSync(join(bin, "zk-cli"), wrapper);
    chmodSync(join(bin, "zk-cli"), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
    for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];
    shell = new Shell(work, env);
  });

  after(async () => {
    // Collected before anything is killed: an orphan is no longer anyone's descendant.
    const leftovers = [...backgroundPids, ...backgroundPids.flatMap(descendantsOf), ...(shell ? descendantsOf(shell.pid) : [])];
    for (const pid of leftovers) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    shell?.close();
    await destroyCluster(join(work, ".zk-cluster"));
    await destroyCluster(work);
  });

  it("every command exits and prints as the tutorial says", async () => {
    assert.ok(steps.length >= 20 && steps.some((s) => s.background) && steps.some((s) => s.exit !== 0), `found ${steps.length} commands`);
    // On a failure, what the background jobs printed tells most of the story.
    const jobs = () =>
      steps
        .map((s, i) => (s.background ? `\n  [${s.command}]:\n    ${fileLines(join(work, `bg.${i}`)).join("\n    ")}` : ""))
        .join("");
    for (const [i, step] of steps.entries()) {
      const command = step.command.replace(/\bpnpm zk-cli\b/g, "zk-cli");
      const where = `docs/tutorial.md:${step.line}: ${step.command}`;
      if (step.background) {
        const out = join(work, `bg.${i}`);
        // The reader sees what the job prints on the terminal; so does the check, except
        // what the command itself sends elsewhere (e.g. `> file`).
        const redirect = /(^|[^0-9&])>/.test(command) ? `2>>${out}` : `>>${out} 2>&1`;
        const pid = Number(await shell!.run(`${PROMPT}\n${command} </dev/null ${redirect} &\necho "${SENTINEL} $!"`, COMMAND_TIMEOUT_MS, where));
        backgroundPids.push(pid);
        if (step.expect.length > 0) {
          await waitUntil(() => linesMatch(step.expect, fileLines(out), true), COMMAND_TIMEOUT_MS, `${where}\n  to print:\n    ${step.expect.join("\n    ")}\n  so far:\n    ${fileLines(out).join("\n    ")}`, 50);
        }
        continue;
      }
      const out = join(work, `out.${i}`);
      const err = join(work, `err.${i}`);
      const status = Number(await shell!.run(`${PROMPT}\n{ ${command}\n} </dev/null >${out} 2>${err}; echo "${SENTINEL} $?"`, COMMAND_TIMEOUT_MS, where));
      // bash's own report of a job killed by a signal is not the command's output (a terminal
      // shows it as "[2]+ Killed ...", which the tutorial leaves out).
      const jobReport = /^bash: line \d+: +\d+ (Killed|Terminated|Done)\b/;
      const printed = [...fileLines(out), ...fileLines(err).filter((l) => !jobReport.test(l))];
      assert.equal(status, step.exit, `${where}\n  exited ${status}, the tutorial says ${step.exit}; it printed:\n    ${printed.join("\n    ")}${jobs()}`);
      if (step.expect.length > 0) {
        assert.ok(linesMatch(step.expect, printed), `${where}\n  printed:\n    ${printed.join("\n    ")}\n  the tutorial says:\n    ${step.expect.join("\n    ")}${jobs()}`);
      }
    }
  });
});

describe("the tutorial's expectation syntax", () => {
  it("parses commands, background jobs, output and exit expectations", () => {
    const steps = parseTutorial(["text", "```sh", "a one", "# => x*", "# exit 3", "b two &", "# a comment", "c && d", "```", "more"].join("\n"));
    assert.deepEqual(
      steps.map((s) => [s.command, s.background, s.expect, s.exit]),
      [
        ["a one", false, ["x*"], 3],
        ["b two", true, [], 0],
        ["c && d", false, [], 0],
      ],
    );
    assert.throws(() => parseTutorial("```bash\nls\n```\n"), /only ```sh blocks/);
  });

  it("matches globs and ... lines", () => {
    assert.ok(linesMatch(["a *", "...", "z"], ["a 1", "b", "c", "z"]));
    assert.ok(linesMatch(["a *", "...", "z"], ["a 1", "z"]));
    assert.ok(!linesMatch(["a *"], ["a 1", "b"]));
    assert.ok(linesMatch(["a *"], ["a 1", "b"], true));
    assert.ok(!linesMatch(["a (x)"], ["a x"]));
    assert.ok(linesMatch(["{\"v\":*}"], ['{"v":1}']));
  });
});
