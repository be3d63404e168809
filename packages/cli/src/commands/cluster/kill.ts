import { ZkCommand, commonFlags } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { nodeArgs } from "../../lib/node-command.js";
import { printLine } from "../../lib/output.js";

export default class ClusterKill extends ZkCommand {
  static override summary = "SIGKILL one member (a crash, as kill -9).";
  static override examples = ["<%= config.bin %> cluster kill n1"];
  static override args = nodeArgs;
  static override flags = { ...commonFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterKill);
    const { killNode } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const r = await killNode(dir, requireManifest(dir), args.node);
    if (flags.json) printLine(JSON.stringify({ id: args.node, pid: r.pid || null, action: "killed", wasRunning: r.wasRunning }));
    else printLine(r.wasRunning ? `killed ${args.node} (pid ${r.pid})` : `${args.node} was not running`);
  }
}
