import * as Args from "@oclif/core/args";
import { ZkCommand, commonFlags } from "../../base.js";
import { CliError } from "../../lib/errors.js";
import { printJsonLines, printLine, printTable, type Column } from "../../lib/output.js";
import type { SnapshotReport } from "../../lib/snapshot.js";

export const SNAPSHOT_COLUMNS: readonly Column<SnapshotReport>[] = [
  { header: "FILE", get: (r) => r.file },
  { header: "SLOT", get: (r) => r.slot, right: true },
  { header: "BYTES", get: (r) => r.bytes, right: true },
  { header: "CLUSTER", get: (r) => r.clusterId },
  { header: "ZNODES", get: (r) => r.znodes, right: true },
  { header: "SHA256", get: (r) => r.sha256 },
];

export default class SnapshotStatus extends ZkCommand {
  static override summary = "Check a snapshot file offline and describe it.";
  static override description =
    "Reads FILE whole: its footer (length), structure and sha256. Prints the slot it is at, its size, checksum, the cluster it was taken from and its znode count " +
    "(--json adds the tree hash, sessions, the member it was read from and when). A valid file exits 0; a missing one 3; a truncated, corrupted or foreign one exits 2 with the one-line reason.";

  static override examples = ["<%= config.bin %> snapshot status backup.zks", "<%= config.bin %> snapshot status backup.zks --json | jq .slot"];

  static override args = { file: Args.string({ description: "The snapshot file.", required: true }) };

  static override flags = { ...commonFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotStatus);
    const { snapshotStatus } = await import("../../lib/snapshot.js");
    let r: SnapshotReport;
    try {
      r = await snapshotStatus(args.file);
    } catch (e) {
      // Data for a pipeline (valid: false and why); the one line and the exit code from main.
      if (e instanceof CliError && flags.json) printJsonLines([{ file: args.file, valid: false, error: e.message }]);
      else if (e instanceof CliError) printLine(`${args.file}: not valid`);
      throw e;
    }
    if (flags.json) printJsonLines([{ ...r, valid: true }]);
    else printTable([r], SNAPSHOT_COLUMNS);
  }
}
