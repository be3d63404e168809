import { ZkCommand } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { nodeArgs, startFlags } from "../../lib/node-command.js";
import { printLine } from "../../lib/output.js";

export default class ClusterStop extends ZkCommand {
  static override summary = "Stop one member cleanly (SIGTERM, wait; SIGKILL after --wait-ms).";
  static override examples = ["<%= config.bin %> cluster stop n2"];
  static override args = nodeArgs;
  static override flags = startFlags;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterStop);
    const { stopNode } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const r = await stopNode(dir, requireManifest(dir), args.node, flags["wait-ms"]);
    if (flags.json) printLine(JSON.stringify({ id: args.node, pid: r.pid || null, action: "stopped", wasRunning: r.wasRunning, killed: r.killed }));
    else printLine(r.wasRunning ? `stopped ${args.node} (pid ${r.pid})${r.killed ? " with SIGKILL" : ""}` : `${args.node} was not running`);
  }
}
