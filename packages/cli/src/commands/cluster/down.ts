import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { printJsonLines, printLine } from "../../lib/output.js";

export default class ClusterDown extends ZkCommand {
  static override summary = "Stop every node of the local cluster.";
  static override description =
    "Sends SIGTERM to each member by PID (from the manifest), waits for them to exit, SIGKILLs any still running after --wait-ms, and marks them stopped. Data is kept unless --purge, which removes the cluster dir.";

  static override examples = ["<%= config.bin %> cluster down", "<%= config.bin %> cluster down --purge"];

  static override flags = {
    ...commonFlags,
    purge: Flags.boolean({ description: "Also remove the cluster dir (data, logs, manifest).", default: false }),
    "wait-ms": Flags.integer({ description: "How long to wait for a clean shutdown before SIGKILL.", default: 10_000, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ClusterDown);
    const { clusterDown } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const res = await clusterDown(dir, m, { purge: flags.purge, waitMs: flags["wait-ms"] });
    if (flags.json) {
      printJsonLines(m.nodes.map((n) => ({ id: n.id, pid: n.pid || null, stopped: res.stopped.includes(n.id), killed: res.killed.includes(n.id) })));
      return;
    }
    const what = res.stopped.length === 0 ? "nothing was running" : `stopped ${res.stopped.join(", ")}`;
    const killed = res.killed.length > 0 ? ` (SIGKILL: ${res.killed.join(", ")})` : "";
    printLine(`${what}${killed}; ${flags.purge ? `removed ${dir}` : `data kept in ${dir}`}`);
  }
}
