// `zk-cli cluster up` in the foreground: streams each node's log readable and prefixed with
// its id, and stops the whole cluster when it gets SIGTERM (as on Ctrl-C). Port 17300.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, describe, it } from "node:test";
import { readManifest } from "../src/lib/manifest.js";
import { CLI, destroyCluster, isRunning, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 17300;

describe("cluster up in the foreground", { timeout: 60_000 }, () => {
  const dir = tempClusterDir("fg");
  let child: ChildProcess | null = null;

  after(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
    await destroyCluster(dir);
  });

  it("streams prefixed, readable logs and stops every node on SIGTERM", async () => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("ZK_")) delete env[k];
    const c = spawn(process.execPath, [CLI, "cluster", "up", "--nodes", "3", "--base-port", String(BASE_PORT), "--dir", dir], { env, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    let stdout = "";
    let stderr = "";
    c.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    c.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => c.on("exit", (code) => resolve(code)));

    await waitUntil(() => /^ID\s+ADDRESS\s+ZK-ADDRESS\s+ROLE/m.test(stdout), 20_000, `the members table (stderr: ${stderr})`);
    assert.match(stdout, /^n[123] \d\d:\d\d:\d\d\.\d{3} INFO  became leader /m);
    assert.doesNotMatch(stdout, /^\{"level"/m, "log lines are readable, not raw JSON");
    assert.match(stdout, /^n\d\s+127\.0\.0\.1:1730\d\s+127\.0\.0\.1:1740\d\s+leader\s/m);
    const pids = readManifest(dir)!.nodes.map((n) => n.pid);
    for (const pid of pids) assert.ok(isRunning(pid));

    process.kill(c.pid!, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 20_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `exit code (stderr: ${stderr})`);
    for (const pid of pids) assert.equal(isRunning(pid), false, `node pid ${pid} stopped`);
    assert.deepEqual(
      readManifest(dir)!.nodes.map((n) => n.state),
      ["stopped", "stopped", "stopped"],
    );
    assert.match(stdout, /^n\d .* INFO  stopped$/m);
  });
});
