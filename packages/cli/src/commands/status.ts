import { ZkCommand, clientFlags } from "../base.js";
import { resolveEndpoints } from "../lib/endpoints.js";
import { CliError, EXIT_UNAVAILABLE } from "../lib/errors.js";
import { printJsonLines, printLine, printTable } from "../lib/output.js";
import { alarmLines, transferLines, fetchRows, MEMBER_COLUMNS, noLeaderReason, REACHABLE_COLUMN, rowJson } from "../lib/status.js";

export default class Status extends ZkCommand {
  static override summary = "Show every node's role, ballot, leader and indexes.";
  static override description =
    "Asks each endpoint for its status. Nodes that cannot be reached are listed as unreachable; a node's alarms (disk full, refused peers) are printed below the table (`alarms` in --json). Exit 0 when the contacted nodes have a leader; exit 5 when none can be reached or none leads or follows a leader.";

  static override examples = ["<%= config.bin %> status", "<%= config.bin %> status --endpoints 127.0.0.1:7001,127.0.0.1:7002 --json"];

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const resolved = resolveEndpoints(flags);
    const client = await this.connect(flags, resolved);
    const rows = await fetchRows(
      client,
      resolved.endpoints.map((address) => ({ address, id: resolved.idsByAddress.get(address) })),
    );
    if (flags.json) printJsonLines(rows.map(rowJson));
    else {
      printTable(rows, [...MEMBER_COLUMNS, REACHABLE_COLUMN]);
      for (const a of alarmLines(rows)) printLine(`ALARM ${a}`);
      for (const t of transferLines(rows)) printLine(`SNAPSHOT ${t}`);
    }
    if (rows.every((r) => !r.reachable)) {
      throw new CliError(`no zk node reachable at ${resolved.endpoints.join(", ")}; is the cluster up? (zk-cli cluster status)`, EXIT_UNAVAILABLE);
    }
    const noLeader = noLeaderReason(rows);
    if (noLeader) throw new CliError(noLeader, EXIT_UNAVAILABLE);
  }
}
