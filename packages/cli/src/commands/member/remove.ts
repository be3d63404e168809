import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../../base.js";
import { changeJson, changeText, checkMemberId } from "../../lib/membership.js";
import { printLine } from "../../lib/output.js";

export default class MemberRemove extends ZkCommand {
  static override summary = "Remove a member through consensus (its process keeps running: stop it yourself, or use `zk-cli cluster remove-node`).";
  static override description =
    "Removing the leader first hands leadership to another voter. A removal after which the live voters left could not form a quorum is refused (exit 4) unless --force. An unknown id exits 2; a change while another is in flight exits 4. The id is never reused: a machine that comes back (say, with a wiped disk) joins under a new id.";

  static override examples = ["<%= config.bin %> member remove n3"];

  static override args = {
    id: Args.string({ ignoreStdin: true, description: "The member's id", required: true }),
  };

  static override flags = {
    ...clientFlags,
    force: Flags.boolean({ description: "Remove it even if the live voters left could not form a quorum.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MemberRemove);
    const id = checkMemberId(args.id);
    const client = await this.connect(flags);
    const r = await client.memberRemove(id, { force: flags.force });
    if (flags.json) printLine(JSON.stringify(changeJson("remove", id, r, { force: flags.force })));
    else printLine(`removed ${id}: ${changeText(r)}; leader ${r.leaderId || "unknown"}`);
  }
}
