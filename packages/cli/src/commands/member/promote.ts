import * as Args from "@oclif/core/args";
import { ZkCommand, clientFlags } from "../../base.js";
import { changeJson, changeText, checkMemberId } from "../../lib/membership.js";
import { printLine } from "../../lib/output.js";

export default class MemberPromote extends ZkCommand {
  static override summary = "Make a learner a voter, through consensus; refused (exit 4) unless it is caught up.";
  static override description = "`zk-cli member list` shows whether a learner is caught up (CAUGHT-UP, LAG). An unknown id exits 2; a learner not caught up, or a change while another is in flight, exits 4.";

  static override examples = ["<%= config.bin %> member promote n4"];

  static override args = {
    id: Args.string({ ignoreStdin: true, description: "The learner's id", required: true }),
  };

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MemberPromote);
    const id = checkMemberId(args.id);
    const client = await this.connect(flags);
    const r = await client.memberPromote(id);
    if (flags.json) printLine(JSON.stringify(changeJson("promote", id, r)));
    else printLine(`promoted ${id} to voter: ${changeText(r)}`);
  }
}
