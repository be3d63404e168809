import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import { READY_WAIT_MS } from "../../lib/cluster-defaults.js";
import { clusterDir, requireManifest } from "../../lib/manifest.js";
import { checkMemberId } from "../../lib/membership.js";
import { printLine } from "../../lib/output.js";

export default class ClusterRemoveNode extends ZkCommand {
  static override summary = "Shrink the local cluster by one member: remove it through consensus, then stop its process and wait for it to exit.";
  static override description =
    "Removing the leader first hands leadership to another voter. Refused (exit 4) when the live voters left could not form a quorum, unless --force. cluster.json forgets the member (its id is never reused); its data dir and log are left where they are. Each step is printed (one JSON object per step with --json): removed, stopped. An id that is not a member of the local cluster exits 2.";

  static override examples = ["<%= config.bin %> cluster remove-node n3"];

  static override args = {
    node: Args.string({ ignoreStdin: true, description: "Member id, e.g. n3", required: true }),
  };

  static override flags = {
    ...commonFlags,
    force: Flags.boolean({ description: "Remove it even if the live voters left could not form a quorum.", default: false }),
    "wait-ms": Flags.integer({ description: "How long to wait for its process to exit (SIGKILL after).", default: READY_WAIT_MS, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ClusterRemoveNode);
    const id = checkMemberId(args.node);
    const { removeNode } = await import("../../lib/cluster-members.js");
    const { runningNodes } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const m = requireManifest(dir);
    // The member being removed last: it may be the leader, but the others are who stay.
    const nodes = [...runningNodes(m)].sort((a, b) => Number(a.id === id) - Number(b.id === id));
    const client = await this.clientFor((nodes.length > 0 ? nodes : m.nodes).map((n) => n.address), flags.timeout);
    await removeNode({ dir, manifest: m, client, id, force: flags.force, waitMs: flags["wait-ms"], onStep: (s) => printLine(flags.json ? JSON.stringify({ ...s, text: undefined }) : s.text) });
  }
}
