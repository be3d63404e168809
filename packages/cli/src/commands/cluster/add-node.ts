import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { printLine } from "../../lib/output.js";

/** A learner catching up from a snapshot of a large state can take a while. */
const ADD_WAIT_MS = 60_000;

export default class ClusterAddNode extends ZkCommand {
  static override summary = "Grow the local cluster by one member: start a new zk-node, add it as a learner, wait until it is caught up, promote it.";
  static override description =
    "The new member gets the next id (never one the cluster had before) and the next port, data in <dir>/<id> and its log in <dir>/<id>.log; it is started with --join, so it votes in no quorum until the log makes it a voter. Each step is printed as it happens (one JSON object per step with --json): started, added (as a learner), catching-up (its lag, about once a second), caught-up, promoted. cluster.json records it, so `cluster stop|start|restart|status` know it. With --learner it stays a learner (promote it with `zk-cli member promote ID`). If it cannot be added its process is stopped and its data dir removed; once added, it stays a member whatever happens next (the error says how to go on).";

  static override examples = ["<%= config.bin %> cluster add-node", "<%= config.bin %> cluster add-node --learner --json"];

  static override flags = {
    ...commonFlags,
    learner: Flags.boolean({ description: "Leave it a learner once it has caught up (do not promote it).", default: false }),
    "wait-ms": Flags.integer({ description: "How long to wait for it to serve and catch up.", default: ADD_WAIT_MS, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ClusterAddNode);
    const { addNode } = await import("../../lib/cluster-members.js");
    const { runningNodes } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    const running = runningNodes(m);
    const client = await this.clientFor((running.length > 0 ? running : m.nodes).map((n) => n.address), flags.timeout);
    const probe = (address: string) => client.status(address).then(() => true, () => false);
    const r = await addNode({
      dir,
      manifest: m,
      client,
      probe,
      learnerOnly: flags.learner,
      waitMs: flags["wait-ms"],
      onStep: (s) => printLine(flags.json ? JSON.stringify({ ...s, text: undefined }) : s.text),
    });
    if (!flags.json) printLine(`${r.node.id} is a ${r.promoted ? "voter" : "learner"} of cluster ${m.clusterId}`);
  }
}
