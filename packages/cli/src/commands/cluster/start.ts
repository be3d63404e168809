import * as Flags from "@oclif/core/flags";
import { ZkCommand } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { nodeArgs, startFlags } from "../../lib/node-command.js";
import { printLine } from "../../lib/output.js";

export default class ClusterStart extends ZkCommand {
  static override summary = "Start one member again, with its flags and data dir; waits until it serves.";
  static override description =
    "With --rejoin, a member whose store is gone (a lost disk, or a damaged store moved aside) is rebuilt from the others: zk-node --rejoin, for this start only. " +
    "It comes back as a recovering member that counts toward no quorum until a leader has caught it up, then votes again by itself (`zk-cli status` shows it); the cluster needs a majority of the other members up meanwhile. " +
    "Refused (by zk-node) when the member's store is there: a store that exists is never rebuilt over.";
  static override examples = ["<%= config.bin %> cluster start n1", "<%= config.bin %> cluster start n2 --rejoin   # n2 lost its disk"];
  static override args = nodeArgs;
  static override flags = {
    ...startFlags,
    rejoin: Flags.boolean({ description: "Rebuild the member from the others (zk-node --rejoin): its store must be gone.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterStart);
    const { startNode } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const client = await this.clientFor(m.nodes.map((n) => n.address), Math.min(flags.timeout, 1000));
    const probe = (address: string) => client.status(address).then(() => true, () => false);
    const r = await startNode(dir, m, args.node, probe, flags["wait-ms"], { rejoin: flags.rejoin });
    if (flags.json) printLine(JSON.stringify({ id: args.node, pid: r.pid, action: flags.rejoin ? "rejoined" : "started" }));
    else printLine(`${flags.rejoin ? "rejoined" : "started"} ${args.node} (pid ${r.pid})${flags.rejoin ? "; it votes again once caught up (zk-cli status shows its role)" : ""}`);
  }
}
