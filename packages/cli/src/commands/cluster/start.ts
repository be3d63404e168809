import { ZkCommand } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { nodeArgs, startFlags } from "../../lib/node-command.js";
import { printLine } from "../../lib/output.js";

export default class ClusterStart extends ZkCommand {
  static override summary = "Start one member again, with its flags and data dir; waits until it serves.";
  static override examples = ["<%= config.bin %> cluster start n1"];
  static override args = nodeArgs;
  static override flags = startFlags;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterStart);
    const { startNode } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const client = await this.clientFor(m.nodes.map((n) => n.address), Math.min(flags.timeout, 1000));
    const probe = (address: string) => client.status(address).then(() => true, () => false);
    const r = await startNode(dir, m, args.node, probe, flags["wait-ms"]);
    if (flags.json) printLine(JSON.stringify({ id: args.node, pid: r.pid, action: "started" }));
    else printLine(`started ${args.node} (pid ${r.pid})`);
  }
}
