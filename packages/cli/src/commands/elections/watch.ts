import * as Flags from "@oclif/core/flags";
import type { ZkClient } from "@zk/node/client";
import { ZkCommand, clientFlags } from "../../base.js";
import { resolveEndpoints } from "../../lib/endpoints.js";
import { clusterDir, readManifest } from "../../lib/manifest.js";
import { note } from "../../lib/output.js";
import type { WatchTarget } from "../../ui/election-model.js";

export default class ElectionsWatch extends ZkCommand {
  static override summary = "Watch elections live: every node's role, ballot, leader and indexes, and a timeline of election events.";
  static override description =
    "Opens one WatchElections stream per node (reopened with backoff while a node is down) and draws a live view: a row per node " +
    "(role, ballot, leader, chosen and applied index, lag behind the leader, time since the last heartbeat, up/down), the current " +
    "leader's tenure, and a timeline of role changes across the cluster with their reasons. On a local cluster (zk-cli cluster up), " +
    "keys act on the selected node: up/down select, k kills it (SIGKILL), r restarts it, p pauses/resumes it (SIGSTOP/SIGCONT), q quits " +
    "(nodes it paused are resumed). When stdout is not a terminal, or with --json, prints one JSON object per line instead: " +
    '{"type":"event",...} per role change, {"type":"status",...} per change of a node\'s role, ballot, leader, indexes or reachability. ' +
    "Runs until Ctrl-C / SIGTERM, or for --duration milliseconds.";

  static override examples = [
    "<%= config.bin %> elections watch",
    "<%= config.bin %> elections watch --json --duration 3000 | jq -c 'select(.type == \"event\")'",
  ];

  static override flags = {
    ...clientFlags,
    duration: Flags.integer({ description: "Stop after this many milliseconds (for scripts).", min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ElectionsWatch);
    const resolved = resolveEndpoints(flags);
    const dir = clusterDir(flags.dir);
    const targets: WatchTarget[] = resolved.endpoints.map((address) => ({ address, id: resolved.idsByAddress.get(address) }));
    // Targets in member order (n1, n2, ...) rather than running-first, so rows do not move.
    const order = (t: WatchTarget) => t.id ?? `~${t.address}`;
    targets.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
    const client = await this.clientFor(resolved.endpoints, flags.timeout);

    if (flags.json || !process.stdout.isTTY) {
      await this.printJson(client, targets, flags.duration);
      return;
    }
    // k/r/p act on processes by the manifest's PIDs: only when every watched node is one of its members.
    const local = targets.every((t) => t.id !== undefined) && readManifest(dir) !== null;
    const { loadElectionsTui } = await import("../../ui/load.js");
    const { runElectionsTui } = await loadElectionsTui();
    const resumed = await runElectionsTui({
      client,
      targets,
      clusterDir: local ? dir : null,
      title: `zk elections: ${targets.length} node${targets.length === 1 ? "" : "s"}${local ? ` of the local cluster in ${dir}` : ""}`,
      durationMs: flags.duration,
    });
    if (resumed.length > 0) note(`resumed ${resumed.join(", ")} (paused from the view)`);
  }

  private async printJson(client: ZkClient, targets: WatchTarget[], durationMs: number | undefined): Promise<void> {
    const { ElectionFeed } = await import("../../ui/election-feed.js");
    const { initialState } = await import("../../ui/election-model.js");
    const { jsonPrinter } = await import("../../ui/election-json.js");
    const printer = jsonPrinter(initialState(targets), (line) => process.stdout.write(line + "\n"));
    // Members added while it runs get rows (the reducer adds them) and streams (here).
    const feed: InstanceType<typeof ElectionFeed> = new ElectionFeed(client, targets.map((t) => t.address), (u) => {
      printer.feed(u);
      for (const n of printer.state().nodes) feed.watch(n.key);
    });
    await new Promise<void>((resolve) => {
      const done = () => {
        process.off("SIGINT", done);
        process.off("SIGTERM", done);
        if (timer) clearTimeout(timer);
        resolve();
      };
      process.once("SIGINT", done);
      process.once("SIGTERM", done);
      const timer = durationMs !== undefined ? setTimeout(done, durationMs) : null;
      feed.start();
    });
    feed.stop();
  }
}
