import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { usageError } from "../lib/errors.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { valueArg } from "../lib/values.js";
import { CODE, rethrowWithHint, statJson } from "../lib/znode.js";

export default class SetCommand extends ZkCommand {
  static override summary = "Replace the data of an existing znode, optionally only at an expected version.";
  static override description =
    'Prints "<path> zxid=<zxid> version=<new version>"; with --json {"path","zxid",...stat}. DATA is stored as given (its bytes); "-" reads the whole of stdin, --file FILE the bytes of a file. With --version N the set applies only if the node\'s version is N (compare-and-set); otherwise it fails with exit 4 and changes nothing. Exit 3 when the node does not exist (create makes it; propose upserts).';

  static override examples = ["<%= config.bin %> set /app/config 'color=green'", "<%= config.bin %> set /app/config 'color=red' --version 1"];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config)", required: true }),
    data: Args.string({ ignoreStdin: true, description: 'New data, or "-" to read it from stdin (or --file)', required: false }),
  };

  static override flags = {
    ...clientFlags,
    file: Flags.string({ description: "Read the new data from this file (its bytes, untouched) instead of DATA." }),
    version: Flags.integer({ description: "The version the node must have (see stat).", min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SetCommand);
    const path = await keyToPath(args.path);
    if (args.data === undefined && flags.file === undefined) throw usageError("set needs DATA (or --file FILE, or - for stdin); e.g. zk-cli set /app/config 'color=green'");
    const data = await valueArg(args.data, flags.file);
    const client = await this.connect(flags);
    const res = await client
      .set(path, data, { expectedVersion: flags.version })
      .catch((e: unknown) => rethrowWithHint(e, CODE.BAD_VERSION, "nothing was changed; read the current version with zk-cli stat"));
    const st = statJson(res.stat);
    printLine(flags.json ? JSON.stringify({ path: res.path, zxid: res.zxid, ...st }) : `${res.path} zxid=${res.zxid} version=${st.version}`);
  }
}
