// zk-node processes for tests that need what `zk-cli cluster up` does not do (a node started
// with --rejoin, flags per node, kill -9 at a chosen moment): started with spawn, stopped by
// PID, their output kept for assertions.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zkNodeBin } from "../src/lib/cluster.js";
import { cli, jsonLines, waitUntil } from "./helpers.js";

export interface Proc {
  readonly id: string;
  readonly address: string;
  readonly dataDir: string;
  proc: ChildProcess | null;
  output: string;
}

/** Three zk-node processes started directly (not through `cluster up`), stopped by PID. */
export class NodeProcs {
  readonly dir: string;
  readonly nodes: Proc[];
  private readonly peers: string;

  constructor(
    private readonly name: string,
    basePort: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `zk-${name}-`));
    this.nodes = [1, 2, 3].map((i) => ({ id: `n${i}`, address: `127.0.0.1:${basePort + i - 1}`, dataDir: join(this.dir, `n${i}`), proc: null, output: "" }));
    this.peers = this.nodes.map((n) => `${n.id}=${n.address}`).join(",");
  }

  node(id: string): Proc {
    return this.nodes.find((n) => n.id === id)!;
  }

  start(id: string, extra: string[] = []): Proc {
    const n = this.node(id);
    const args = [zkNodeBin(), "--id", id, "--listen", n.address, "--peers", this.peers, "--data-dir", n.dataDir, "--cluster-id", this.name, "--log-level", "warn", ...extra];
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    n.output = "";
    p.stdout!.on("data", (d: Buffer) => (n.output += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (n.output += d.toString()));
    n.proc = p;
    return n;
  }

  async stop(id: string): Promise<void> {
    const p = this.node(id).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    process.kill(p.pid!, "SIGCONT");
    p.kill("SIGKILL");
    await exited;
  }

  async cleanup(): Promise<void> {
    for (const n of this.nodes) await this.stop(n.id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The leader every listed node's status names, once they agree. */
export async function agreedLeader(endpoints: string[]): Promise<string> {
  return waitUntil(async () => {
    const s = await cli(["status", "--json", ...endpoints]);
    const rows = jsonLines<{ role?: string; leader?: string; leaderId?: string; id?: string; nodeId?: string }>(s.stdout);
    const leader = rows.find((r) => r.role === "leader");
    return leader && rows.every((r) => (r.leader ?? r.leaderId) === (leader.id ?? leader.nodeId)) ? (leader.id ?? leader.nodeId)! : null;
  }, 30_000, "an agreed leader");
}

