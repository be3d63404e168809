// Real zk-node processes on 127.0.0.1 for end-to-end tests. Every process started here is
// remembered by PID and stopped by PID; nothing is ever killed by name.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Role, ZkClient } from "../../src/client/index.js";

export const ZK_NODE = fileURLToPath(new URL("../../bin/zk-node.js", import.meta.url));

export interface TestNode {
  readonly id: string;
  readonly address: string;
  readonly dataDir: string;
  proc: ChildProcess | null;
  output: string;
  /** Started before: later starts must not pass --initial-cluster (the store exists). */
  started: boolean;
}

export class TestCluster {
  readonly nodes: TestNode[];
  readonly dir: string;
  readonly peers: string;

  constructor(
    size: number,
    basePort: number,
    readonly clusterId = `test-${basePort}`,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "zk-e2e-"));
    this.nodes = Array.from({ length: size }, (_, i) => ({
      id: `n${i + 1}`,
      address: `127.0.0.1:${basePort + i}`,
      dataDir: join(this.dir, `n${i + 1}`),
      proc: null,
      output: "",
      started: false,
    }));
    this.peers = this.nodes.map((n) => `${n.id}=${n.address}`).join(",");
  }

  /** Start a node; with `logFile` its stdout and stderr go to that file (read into output on exit). */
  start(id: string, extra: string[] = [], opts: { logFile?: string } = {}): TestNode {
    const n = this.node(id);
    if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`${id} already running`);
    // The first start of a node of a new cluster creates its store; later ones must find it.
    const first = n.started ? [] : ["--initial-cluster"];
    n.started = true;
    const fd = opts.logFile ? openSync(opts.logFile, "a") : null;
    const proc = spawn(process.execPath, [ZK_NODE, "--id", n.id, "--listen", n.address, "--peers", this.peers, "--data-dir", n.dataDir, "--cluster-id", this.clusterId, "--log-level", "warn", ...first, ...extra], {
      stdio: fd === null ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
    });
    n.output = "";
    if (fd !== null) {
      closeSync(fd);
      const file = opts.logFile!;
      proc.once("exit", () => (n.output = readFileSync(file, "utf8")));
    } else {
      proc.stdout!.on("data", (d: Buffer) => (n.output += d.toString()));
      proc.stderr!.on("data", (d: Buffer) => (n.output += d.toString()));
    }
    n.proc = proc;
    return n;
  }

  startAll(extra: string[] = []): void {
    for (const n of this.nodes) this.start(n.id, extra);
  }

  node(id: string): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** SIGKILL (default) or SIGTERM one node and wait for it to exit. */
  async stop(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await exited;
    }
  }

  async stopAll(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stop(n.id, signal)));
  }

  client(ids: string[] = this.nodes.map((n) => n.id), timeoutMs = 5000): ZkClient {
    return new ZkClient({ endpoints: ids.map((id) => this.node(id).address), timeoutMs });
  }

  /** Wait (bounded) until the given nodes agree on one leader; returns its id. */
  async waitForLeader(ids: string[] = this.nodes.map((n) => n.id), timeoutMs = 15_000): Promise<string> {
    const c = this.client(ids, 1000);
    const until = Date.now() + timeoutMs;
    try {
      while (Date.now() < until) {
        const all = await c.statusAll();
        const leaders = new Set(all.map((s) => s.status?.leaderId ?? ""));
        const leader = [...leaders][0];
        const leaderIsUp = all.some((s) => s.status?.nodeId === leader && s.status?.role === Role.LEADER);
        if (leaders.size === 1 && leader && leaderIsUp && all.every((s) => s.status)) return leader;
        await sleep(50);
      }
    } finally {
      c.close();
    }
    throw new Error(`no agreed leader among ${ids.join(",")} within ${timeoutMs} ms`);
  }

  async cleanup(): Promise<void> {
    await this.stopAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run zk-node to completion (for startup errors). */
export function runZkNode(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [ZK_NODE, ...args], { encoding: "utf8", timeout: 15_000, env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}
