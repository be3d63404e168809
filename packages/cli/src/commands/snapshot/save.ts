import * as Args from "@oclif/core/args";
import { ZkCommand, clientFlags } from "../../base.js";
import { resolveEndpoints } from "../../lib/endpoints.js";
import { printJsonLines, printTable } from "../../lib/output.js";
import { SNAPSHOT_COLUMNS } from "./status.js";

export default class SnapshotSave extends ZkCommand {
  static override summary = "Save a consistent snapshot of the running cluster to a file (a backup).";
  static override description =
    "Asks a member for its state machine (znodes, sessions, deduplication state) after a linearizable read barrier, so every write acknowledged before the command started is in the snapshot. " +
    "The snapshot streams in chunks into FILE.<pid>.tmp, which is fsynced, renamed to FILE and verified (footer, structure, sha256). " +
    "Prints the slot (applied index) it is at, its size and checksum. A member that cannot be reached or has no quorum is left for the next endpoint; " +
    "--timeout bounds the barrier and any wait for the next chunk, not the whole transfer. Exit 5 when no member can send one.";

  static override examples = ["<%= config.bin %> snapshot save backup.zks", "<%= config.bin %> snapshot save zk-$(date +%F).zks --json"];

  static override args = { file: Args.string({ description: "Where to write the snapshot (replaced if it exists).", required: true }) };

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotSave);
    const { saveSnapshot } = await import("../../lib/snapshot.js");
    const resolved = resolveEndpoints(flags);
    const client = await this.connect(flags, resolved);
    const r = await saveSnapshot(client, resolved.endpoints, args.file, { idleMs: flags.timeout });
    if (flags.json) printJsonLines([r]);
    else printTable([r], SNAPSHOT_COLUMNS);
  }
}
