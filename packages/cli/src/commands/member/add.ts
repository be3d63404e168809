import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../../base.js";
import { changeJson, changeText, checkMemberAddress, checkMemberId } from "../../lib/membership.js";
import { printLine } from "../../lib/output.js";

export default class MemberAdd extends ZkCommand {
  static override summary = "Add a member through consensus: a voter, or with --learner a learner (receives the log, votes in no quorum).";
  static override description =
    "The new member's zk-node must be started with --join (an empty data dir, --cluster-id, and --peers listing the current members and itself); it votes only once the log makes it a voter. A new or wiped machine is safest added with --learner, then promoted (`zk-cli member promote ID`) once `zk-cli member list` shows it caught up: a voter that cannot keep up counts in every quorum. An id that is or was a member's, or an address that is a member's, exits 4; so does a change while another is in flight (the message names it). A malformed id or address exits 2.";

  static override examples = ["<%= config.bin %> member add n4 127.0.0.1:7004 --learner"];

  static override args = {
    id: Args.string({ ignoreStdin: true, description: "The new member's id (never one a member had before), e.g. n4", required: true }),
    address: Args.string({ ignoreStdin: true, description: "Its HOST:PORT, e.g. 127.0.0.1:7004", required: true }),
  };

  static override flags = {
    ...clientFlags,
    learner: Flags.boolean({ description: "Add it as a learner (promote it later); without this it is a voter at once.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MemberAdd);
    const id = checkMemberId(args.id);
    const address = checkMemberAddress(args.address);
    const client = await this.connect(flags);
    const r = await client.memberAdd(id, address, { learner: flags.learner });
    if (flags.json) printLine(JSON.stringify(changeJson("add", id, r, { address, learner: flags.learner })));
    else printLine(`added ${id} at ${address} as a ${flags.learner ? "learner" : "voter"}: ${changeText(r)}`);
  }
}
