import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { CODE, dataArg, rethrowWithHint, statJson } from "../lib/znode.js";

export default class SetCommand extends ZkCommand {
  static override summary = "Replace the data of an existing znode, optionally only at an expected version.";
  static override description =
    'Prints "<path> zxid=<zxid> version=<new version>"; with --json {"path","zxid",...stat}. DATA "-" reads the whole of stdin. With --version N the set applies only if the node\'s version is N (compare-and-set); otherwise it fails with exit 4 and changes nothing. Exit 3 when the node does not exist (create makes it; propose upserts).';

  static override examples = ["<%= config.bin %> set /app/config 'color=green'", "<%= config.bin %> set /app/config 'color=red' --version 1"];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (k means /k)", required: true }),
    data: Args.string({ ignoreStdin: true, description: 'New data, or "-" to read it from stdin', required: true }),
  };

  static override flags = {
    ...clientFlags,
    version: Flags.integer({ description: "The version the node must have (see stat).", min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SetCommand);
    const path = await keyToPath(args.path);
    const data = await dataArg(args.data);
    const client = await this.connect(flags);
    const res = await client
      .set(path, data, { expectedVersion: flags.version })
      .catch((e: unknown) => rethrowWithHint(e, CODE.BAD_VERSION, "nothing was changed; read the current version with zk-cli stat"));
    const st = statJson(res.stat);
    printLine(flags.json ? JSON.stringify({ path: res.path, zxid: res.zxid, ...st }) : `${res.path} zxid=${res.zxid} version=${st.version}`);
  }
}
