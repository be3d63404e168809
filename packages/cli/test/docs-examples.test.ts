// Every example in README.md (each line of its ```sh blocks) and in every command's --help
// (oclif's examples, as the manifest holds them) run as written, after the README's own install
// step, against a live local cluster.
//
// As written, except for what a test on a shared machine must change: ports 7001-7005,
// 7101-7105 and 7201-7205 become 21001-21005, 21101-21105 and 21201-21205 (and `cluster up`
// gets --base-port 21001; a cluster's ZooKeeper ports are its ports + 100),
// /tmp/zk5 and /var/lib/zk live in the test's temp dir, and `npm install -g` installs into a
// temp prefix (NPM_CONFIG_PREFIX) whose bin directory is then first on PATH: the `zk-cli` of
// every example is the one the install step put there. Setting up the machine (`npm i -g
// pnpm`, `pnpm install`, `pnpm test`: what runs this test) is not repeated. Files an example
// reads are the reader's own (config.json, ops.ndjson, deploy.sh, a Makefile): the test writes
// small ones. An example may need state the one before left (a node at version 3): SETUP
// gives it, in zk-cli commands. A command that runs until Ctrl-C (watch, elect, create
// --ephemeral, a zk-node) must still be running after LONG_RUN_MS, then gets SIGINT.
// An example passes when it exits with status 0 and,
// exiting 0, prints no `zk-cli: ` error line; one that runs until interrupted, when it is
// still running after LONG_RUN_MS (what it says while it stops is not checked).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { destroyCluster, isRunning, pidsMentioning, tempClusterDir } from "./helpers.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const LONG_RUN_MS = 2500;
const COMMAND_TIMEOUT_MS = 120_000;
/** npm's extras that would reach the network (the install itself is a local link). */
const NPM_QUIET = { NPM_CONFIG_AUDIT: "false", NPM_CONFIG_FUND: "false", NPM_CONFIG_UPDATE_NOTIFIER: "false" };
const STOP_TIMEOUT_MS = 15_000;

/** Commands that run until interrupted (unless told to stop after a count or a duration). */
const RUNS_UNTIL_INTERRUPTED = [/\bwatch\b(?!.*--(count|duration))/, /\belect\b(?!.*--count)/, /--ephemeral/, /zk-node\.js/, /\bcluster up\b(?!.*--detach)/];
/** Machine setup, which the test's own run has done: skipped in a `&&` chain. */
const MACHINE_SETUP = [/^npm i -g pnpm@\S+$/, /^pnpm install$/, /^pnpm test$/];
/** Examples not run, and why. */
const NOT_RUN: [RegExp, string][] = [
  [/^pnpm sim --seeds \d+/, "many seeds take tens of seconds to minutes of CPU; packages/node/test/sim.test.ts runs the simulator, its checks and its planted bugs (`pnpm sim --seed 42 --trace` below runs as written)"],
];
/** What an example expects to find, as zk-cli commands run before it (failures ignored). */
const SETUP: Record<string, string[]> = {
  // README: each block starts from what its first line needs.
  "zk-cli cluster up --detach": ["zk-cli cluster down --purge"],
  "zk-cli create /app/config '{\"debug\":false}' --parents": ["zk-cli cluster down --purge", "zk-cli cluster up --detach"],
  "node packages/node/bin/zk-node.js --id n1 --listen 127.0.0.1:7001 \\\n  --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir /var/lib/zk/n1 --cluster-id prod \\\n  --initial-cluster": [
    "zk-cli cluster down",
  ],
  // --help: in the manifest's order of commands, from a fresh cluster.
  "zk-cli propose app/config '{\"debug\":true}'": ["zk-cli cluster down --purge", "zk-cli cluster up --detach"],
  "zk-cli delete /app/config --version 3": ["zk-cli propose /app/config v0", "zk-cli set /app/config v1", "zk-cli set /app/config v2", "zk-cli set /app/config v3"],
  "zk-cli create /app/config 'color=blue'": ["zk-cli create /app"],
  "zk-cli create /workers/w1 host-a:8080 --ephemeral &": ["zk-cli create /workers"],
  // The README's ACL block follows "Running zk-node", whose example left the cluster down.
  "zk-cli create /shared ''": ["zk-cli cluster up --detach", "zk-cli delete /shared --auth bob:secret"],
  "zk-cli acl get /shared": ["zk-cli create /shared"],
  [`echo '[{"op":"check","path":"/a","version":1},{"op":"create","path":"/b","data":"x"},{"op":"set","path":"/a","data":"y","version":1},{"op":"delete","path":"/c"}]' | zk-cli txn`]: [
    "zk-cli create /a x",
    "zk-cli set /a x1",
    "zk-cli create /c z",
  ],
  "zk-cli cluster down": ["zk-cli cluster down --dir /tmp/zk5 --purge", "zk-cli cluster up --detach"],
  "zk-cli cluster down --purge": ["zk-cli cluster up --detach"],
  "zk-cli cluster status": ["zk-cli cluster up --detach"],
  "zk-cli cluster start n1": ["zk-cli cluster kill n1"],
  // A member whose disk is gone: killed, its data dir deleted.
  "zk-cli cluster start n2 --rejoin": ["zk-cli cluster kill n2", "rm -rf .zk-cluster/n2"],
  "zk-cli cluster restart n3": ["zk-cli cluster start n2"],
  "zk-cli snapshot save backup.zks": ["zk-cli cluster up --detach"],
  // Membership (README and --help): from a fresh 3-node cluster; a learner to promote is a
  // real caught-up node (n4, started by cluster add-node --learner).
  "zk-cli cluster add-node": ["zk-cli cluster down --purge", "zk-cli cluster up --detach"],
  "zk-cli member add n4 127.0.0.1:7004 --learner": ["zk-cli cluster down --purge", "zk-cli cluster up --detach"],
  "zk-cli member promote n4": ["zk-cli cluster down --purge", "zk-cli cluster up --detach", "zk-cli cluster add-node --learner"],
  // After the membership examples (members removed, a removed n3 still running): a fresh cluster again.
  "zk-cli elections watch": ["zk-cli cluster down --purge", "zk-cli cluster up --detach"],
  "zk-cli snapshot restore backup.zks --dir /tmp/zk5 --nodes 5 --base-port 7201": ["zk-cli cluster down --dir /tmp/zk5 --purge", "zk-cli snapshot save backup.zks"],
};
/** The reader's own files that examples read. */
const FIXTURES: Record<string, string> = {
  "config.json": '{"debug":true}\n',
  "ops.ndjson": '{"op":"put","path":"/ops-demo","data":"one"}\n{"op":"put","path":"/ops-demo","data":"two"}\n',
  "deploy.sh": '#!/bin/sh\necho "deploying ${1:-everything}"\n',
  Makefile: "backup:\n\t@echo backing up\n",
};

/** An example as SETUP names it: without its trailing comment. */
const keyOf = (command: string) => command.replace(/\s+#\s.*$/, "");

interface Example {
  readonly source: string;
  readonly command: string;
}

/** Each command line of README.md's ```sh blocks (a trailing "\" joins the next line). */
export function readmeExamples(text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split("\n");
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)/.exec(lines[i]!);
    if (fence) {
      inSh = !inSh && fence[1] === "sh";
      continue;
    }
    if (!inSh || lines[i]!.trim() === "" || lines[i]!.startsWith("#")) continue;
    const start = i + 1;
    let command = lines[i]!;
    while (command.endsWith("\\") && i + 1 < lines.length) command += "\n" + lines[++i];
    out.push({ source: `README.md:${start}`, command });
  }
  return out;
}

/** Every command's --help examples, with the bin name in place. */
function helpExamples(): Example[] {
  const manifest = JSON.parse(readFileSync(join(REPO, "packages/cli/oclif.manifest.json"), "utf8")) as { commands: Record<string, { examples?: string[] }> };
  return Object.entries(manifest.commands).flatMap(([id, c]) =>
    (c.examples ?? []).map((e) => ({ source: `zk-cli ${id.replaceAll(":", " ")} --help`, command: e.replaceAll("<%= config.bin %>", "zk-cli") })),
  );
}

/** A shared machine's changes to a command: the test's ports and directories. */
function localize(command: string, work: string): string {
  return command
    .replace(/\bcluster up\b(?![^&|;]*--base-port)/g, "cluster up --base-port 21001")
    .replace(/(?<=127\.0\.0\.1:|--base-port )7([012])0([1-5])\b/g, (_, hundred: string, n: string) => `21${hundred}0${n}`)
    .replaceAll("/tmp/zk5", join(work, "zk5"))
    .replaceAll("/var/lib/zk", join(work, "var/lib/zk"));
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Still running after LONG_RUN_MS (and then interrupted). */
  readonly interrupted: boolean;
}

/** Run `command` in bash, in its own process group; with `untilInterrupted`, SIGINT it after LONG_RUN_MS. */
function runInBash(command: string, cwd: string, env: NodeJS.ProcessEnv, untilInterrupted: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    let interrupted = false;
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is gone
      }
    };
    const timers: NodeJS.Timeout[] = [];
    if (untilInterrupted) {
      timers.push(
        setTimeout(() => {
          interrupted = true;
          group("SIGINT");
          timers.push(setTimeout(() => group("SIGKILL"), STOP_TIMEOUT_MS));
        }, LONG_RUN_MS),
      );
    }
    timers.push(
      setTimeout(() => {
        err.push(Buffer.from(`\n(the test killed it: not finished within ${COMMAND_TIMEOUT_MS} ms)`));
        group("SIGKILL");
      }, COMMAND_TIMEOUT_MS),
    );
    child.on("error", reject);
    child.on("close", (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), interrupted });
    });
  });
}

describe("README.md and --help examples, run as written", { timeout: 900_000 }, () => {
  const work = tempClusterDir("examples");
  const prefix = join(work, "npm-global");
  const env: NodeJS.ProcessEnv = { ...process.env, ...NPM_QUIET, NPM_CONFIG_PREFIX: prefix, PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}` };
  for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];
  // The machine is shared with other work: a request may wait longer than the default 5 s
  // (`propose --stdin` keeps 2,048 in flight). Still every example's own flags, as written.
  env.ZK_TIMEOUT = "30000";

  before(() => {
    for (const [name, text] of Object.entries(FIXTURES)) writeFileSync(join(work, name), text);
    chmodSync(join(work, "deploy.sh"), 0o755);
    mkdirSync(join(work, "var/lib/zk"), { recursive: true });
  });

  after(async () => {
    for (const pid of pidsMentioning(work)) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    await destroyCluster(join(work, "zk5"));
    await destroyCluster(join(work, ".zk-cluster"));
    await destroyCluster(work);
  });

  it("every example exits as documented", async () => {
    const readme = readmeExamples(readFileSync(join(REPO, "README.md"), "utf8"));
    const help = helpExamples();
    assert.ok(readme.length >= 20 && help.length >= 40, `found ${readme.length} README and ${help.length} --help examples`);
    assert.ok(readme[0]!.command.includes("npm install -g ./packages/cli"), "the README's first command installs zk-cli");
    const failures: string[] = [];
    let ran = 0;
    // From the repository (the README's relative paths), or the test's dir (the cluster's).
    const cwdOf = (part: string) => (/^(npm |pnpm |node packages\/)/.test(part) ? REPO : work);
    const setup = async (command: string) => {
      for (const s of SETUP[keyOf(command)] ?? []) await runInBash(localize(s, work), work, env, false);
    };
    for (const ex of [...readme, ...help]) {
      if (NOT_RUN.some(([re]) => re.test(ex.command))) continue;
      await setup(ex.command);
      // A README line chaining the machine's setup runs its other parts, in order, each where it belongs.
      const parts = ex.command.includes(" && ") && ex.source.startsWith("README") ? ex.command.split(" && ") : [ex.command];
      for (const part of parts) {
        if (MACHINE_SETUP.some((re) => re.test(part.trim()))) continue;
        const command = localize(part.replace(/\s*&\s*$/, ""), work);
        const long = RUNS_UNTIL_INTERRUPTED.some((re) => re.test(keyOf(part)));
        const t0 = Date.now();
        const r = await runInBash(command, cwdOf(part), env, long);
        if (process.env.ZK_TEST_VERBOSE) process.stderr.write(`${Date.now() - t0} ms ${r.code} ${command}\n`);
        ran++;
        const errors = r.stderr.split("\n").filter((l) => l.startsWith("zk-cli: "));
        const what = `${ex.source}: ${part}`;
        if (long && !r.interrupted && r.code !== 0) failures.push(`${what}\n    exited ${r.code ?? r.signal} before ${LONG_RUN_MS} ms: ${r.stderr.trim()}`);
        else if (!long && r.code !== 0) failures.push(`${what}\n    exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-600)}`);
        else if (!r.interrupted && errors.length > 0) failures.push(`${what}\n    printed errors: ${errors.join(" | ")}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${ran} examples failed:\n  ${failures.join("\n  ")}`);
  });
});

describe("zk-cli as installed: a job's signals reach zk-cli itself", { timeout: 120_000 }, () => {
  const work = tempClusterDir("installed");
  const prefix = join(work, "npm-global");
  const env: NodeJS.ProcessEnv = { ...process.env, ...NPM_QUIET, NPM_CONFIG_PREFIX: prefix, PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}` };
  for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];

  after(async () => {
    for (const pid of pidsMentioning(work)) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    await destroyCluster(join(work, ".zk-cluster"));
    await destroyCluster(work);
  });

  it("kill %1 ends `zk-cli create --ephemeral ... &` cleanly: the job is zk-cli, and its node goes at once", async () => {
    const install = await runInBash("npm install -g ./packages/cli", REPO, env, false);
    assert.equal(install.code, 0, install.stderr);
    const script = [
      "set -m",
      "zk-cli cluster up --detach --base-port 21020 >/dev/null || exit 10",
      "zk-cli create /held v --ephemeral --ttl 60000 > held.out &",
      "for i in $(seq 100); do [ -s held.out ] && break; sleep 0.1; done",
      'echo "job: $(tr "\\0" " " < /proc/$!/cmdline)"',
      "kill %1",
      'wait %1; echo "exit $?"',
      // The node is deleted by zk-cli on the signal, long before the session's 60 s TTL.
      "zk-cli stat /held >/dev/null 2>&1; echo \"stat $?\"",
    ].join("\n");
    const r = await runInBash(script, work, env, false);
    const out = r.stdout.split("\n");
    assert.match(out.find((l) => l.startsWith("job: ")) ?? "", /^job: \S*node \S*npm-global\/bin\/zk-cli create \/held /, r.stdout + r.stderr);
    assert.ok(out.includes("exit 0"), r.stdout + r.stderr);
    assert.ok(out.includes("stat 3"), r.stdout + r.stderr);
  });
});

describe("README examples: parsing", () => {
  it("takes the lines of ```sh blocks, joins continued lines, skips comments and other blocks", () => {
    const text = ["```sh", "a one  # note", "# comment", "b \\", "  two", "```", "```", "not this", "```", "```sh", "c", "```"].join("\n");
    assert.deepEqual(
      readmeExamples(text).map((e) => e.command),
      ["a one  # note", "b \\\n  two", "c"],
    );
  });

  it("localizes ports and directories only", () => {
    assert.equal(localize("zk-cli cluster up --detach && zk-cli get x --endpoints 127.0.0.1:7002", "/w"), "zk-cli cluster up --base-port 21001 --detach && zk-cli get x --endpoints 127.0.0.1:21002");
    assert.equal(localize("zk-cli cluster up --nodes 5 --base-port 7201 --dir /tmp/zk5", "/w"), "zk-cli cluster up --nodes 5 --base-port 21201 --dir /w/zk5");
  });
});
