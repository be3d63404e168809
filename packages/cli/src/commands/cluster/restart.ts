import { ZkCommand } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { nodeArgs, startFlags } from "../../lib/node-command.js";
import { printLine } from "../../lib/output.js";

export default class ClusterRestart extends ZkCommand {
  static override summary = "Stop one member cleanly and start it again.";
  static override examples = ["<%= config.bin %> cluster restart n3"];
  static override args = nodeArgs;
  static override flags = startFlags;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterRestart);
    const { startNode, stopNode } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const stopped = await stopNode(dir, m, args.node, flags["wait-ms"]);
    const client = await this.clientFor(m.nodes.map((n) => n.address), Math.min(flags.timeout, 1000));
    const probe = (address: string) => client.status(address).then(() => true, () => false);
    const r = await startNode(dir, m, args.node, probe, flags["wait-ms"]);
    if (flags.json) printLine(JSON.stringify({ id: args.node, pid: r.pid, previousPid: stopped.pid || null, action: "restarted" }));
    else printLine(`restarted ${args.node} (pid ${stopped.pid} -> ${r.pid})`);
  }
}
