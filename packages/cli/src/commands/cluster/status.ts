import { ZkCommand, commonFlags } from "../../base.js";
import { clusterRowJson, CLUSTER_COLUMNS, joinManifest } from "../../lib/cluster-view.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { printJsonLines, printLine, printTable } from "../../lib/output.js";
import { alarmLines, transferLines, fetchRows } from "../../lib/status.js";

export default class ClusterStatus extends ZkCommand {
  static override summary = "Show the local cluster's members: role, ballot, indexes, PID, alive, reachable.";

  static override examples = ["<%= config.bin %> cluster status", "<%= config.bin %> cluster status --json"];

  static override flags = { ...commonFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(ClusterStatus);
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const client = await this.clientFor(m.nodes.map((n) => n.address), flags.timeout);
    const rows = joinManifest(m, await fetchRows(client, m.nodes));
    if (flags.json) printJsonLines(rows.map((r) => ({ clusterId: m.clusterId, ...clusterRowJson(r) })));
    else {
      printTable(rows, CLUSTER_COLUMNS);
      for (const a of alarmLines(rows)) printLine(`ALARM ${a}`);
      for (const t of transferLines(rows)) printLine(`SNAPSHOT ${t}`);
    }
  }
}
