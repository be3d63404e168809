import { ZkCommand, clientFlags } from "../../base.js";
import { configLine, memberListJson, memberRows, MEMBER_LIST_COLUMNS } from "../../lib/membership.js";
import { note, printJsonLines, printTable } from "../../lib/output.js";

export default class MemberList extends ZkCommand {
  static override summary = "List the cluster's members: id, address, voter or learner, and (from the leader) whether each is caught up, its lag and when it was last heard.";
  static override description =
    "Asks the leader (any member when none can be reached: then CAUGHT-UP, LAG and LAST-HEARD are unknown, shown as -). LAG is how many slots a member's log is behind the leader's last slot; CAUGHT-UP says whether that is within the bound a learner must be within to be promoted. The configuration's version, the slot it was chosen at and any change in flight go to stderr. With --json, one object per member: {id, address, role, leader, caughtUp, lag, lastHeardMsAgo, configVersion, configSlot, changeInFlight}.";

  static override examples = ["<%= config.bin %> member list", "<%= config.bin %> member list --json"];

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(MemberList);
    const client = await this.connect(flags);
    const r = await client.memberList();
    const rows = memberRows(r.members, r.leaderId);
    if (flags.json) printJsonLines(rows.map((row) => memberListJson(r, row)));
    else {
      printTable(rows, MEMBER_LIST_COLUMNS);
      note(configLine(r));
    }
  }
}
