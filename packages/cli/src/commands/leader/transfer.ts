import * as Args from "@oclif/core/args";
import { ZkCommand, clientFlags } from "../../base.js";
import { checkMemberId } from "../../lib/membership.js";
import { printLine } from "../../lib/output.js";

export default class LeaderTransfer extends ZkCommand {
  static override summary = "Hand leadership to a caught-up voter, with no write lost.";
  static override description =
    "The leader stops taking writes, catches ID up to its last slot and tells it to campaign at once; writes wait (they are not refused) for the gap, which is reported (elapsedMs in --json). Already the leader: nothing to do, exit 0. An unknown id exits 2; a learner or a voter not caught up exits 4.";

  static override examples = ["<%= config.bin %> leader transfer n2", "<%= config.bin %> leader transfer n1 --json"];

  static override args = {
    id: Args.string({ ignoreStdin: true, description: "The voter to hand leadership to", required: true }),
  };

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LeaderTransfer);
    const id = checkMemberId(args.id);
    const client = await this.connect(flags);
    const before = await client.memberList();
    if (before.leaderId === id) {
      if (flags.json) printLine(JSON.stringify({ leader: id, ballot: null, elapsedMs: 0, transferred: false }));
      else printLine(`${id} already leads`);
      return;
    }
    const r = await client.leaderTransfer(id);
    const ballot = r.ballot ? { round: r.ballot.round, nodeId: r.ballot.nodeId } : null;
    if (flags.json) printLine(JSON.stringify({ leader: r.leaderId, ballot, elapsedMs: r.elapsedMs, transferred: true, from: before.leaderId || null }));
    else printLine(`${r.leaderId} leads (ballot ${ballot ? `${ballot.round}.${ballot.nodeId}` : "-"}), ${r.elapsedMs} ms after the request${before.leaderId ? ` (was ${before.leaderId})` : ""}`);
  }
}
