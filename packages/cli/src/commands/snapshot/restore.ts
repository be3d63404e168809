import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import { DEFAULT_BASE_PORT, NODE_COUNTS } from "../../lib/cluster-defaults.js";
import { clusterDir } from "../../lib/manifest.js";
import { note, printJsonLines, printTable } from "../../lib/output.js";

export default class SnapshotRestore extends ZkCommand {
  static override summary = "Build a new local cluster from a snapshot file (start it with `cluster up`).";
  static override description =
    "Checks FILE first (a truncated or corrupted snapshot exits 2, nothing is created). Then plans a cluster like `cluster up` does — --nodes members n1.., ports from --base-port — " +
    "with a NEW cluster id, builds every member's store in <dir>/<id>/zk.db from the snapshot (each one in a temp file, then renamed), and writes <dir>/cluster.json with every member stopped. " +
    "`zk-cli cluster up --dir DIR` then starts it with the snapshot's data: znodes, sessions (which expire unless their clients come back) and deduplication state, the log beginning after the snapshot's slot. " +
    "A dir that already holds a cluster or node data is refused with exit 4 and nothing in it touched.";

  static override examples = ["<%= config.bin %> snapshot restore backup.zks --dir /tmp/zk5 --nodes 5 --base-port 7201"];

  static override args = { file: Args.string({ description: "The snapshot file (zk-cli snapshot save).", required: true }) };

  static override flags = {
    ...commonFlags,
    nodes: Flags.integer({ description: "Number of members (1, 3 or 5).", default: 3, options: NODE_COUNTS.map(String) }),
    "base-port": Flags.integer({ description: "Port of n1; n2 gets the next one, and so on.", default: DEFAULT_BASE_PORT, min: 1, max: 65535 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotRestore);
    const { restoreSnapshot } = await import("../../lib/snapshot.js");
    const dir = clusterDir(flags.dir);
    const { manifest, snapshot } = await restoreSnapshot({ file: args.file, dir, count: flags.nodes, basePort: flags["base-port"], tuning: {} });
    const rows = manifest.nodes.map((n) => ({ id: n.id, address: n.address, dataDir: n.dataDir, slot: snapshot.slot }));
    if (flags.json) printJsonLines(rows.map((r) => ({ clusterId: manifest.clusterId, ...r, sha256: snapshot.sha256, treeHash: snapshot.treeHash })));
    else {
      printTable(rows, [
        { header: "ID", get: (r) => r.id },
        { header: "ADDRESS", get: (r) => r.address },
        { header: "SLOT", get: (r) => r.slot, right: true },
        { header: "DATA", get: (r) => r.dataDir },
      ]);
      note(`cluster ${manifest.clusterId} restored from ${args.file} (slot ${snapshot.slot}, from cluster ${snapshot.clusterId}) in ${dir}; start it with \`zk-cli cluster up --dir ${dir}\``);
    }
  }
}
