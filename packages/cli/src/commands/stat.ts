import { ZkCommand, pathArgs, readFlags } from "../base.js";
import { CliError, EXIT_NOT_FOUND } from "../lib/errors.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { statJson, statLines } from "../lib/znode.js";

export default class Stat extends ZkCommand {
  static override summary = "Print a znode's Stat: versions, zxids, times, owner, children, size.";
  static override description =
    'One "name  value" line per field: version (data changes), cversion (child changes), czxid (created), mzxid (last data change), pzxid (last child change), ctime, mtime (ISO 8601, UTC), ephemeralOwner (the owning session, 0 if persistent), numChildren, dataLength. With --json {"path","zxid",...stat} with times in ms (ctimeMs, mtimeMs); zxid is the index the read was served at. Exit 3 when the node does not exist.';

  static override examples = ["<%= config.bin %> stat /app/config", "<%= config.bin %> stat /app/config --json"];

  static override args = pathArgs;

  static override flags = readFlags;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Stat);
    const path = await keyToPath(args.path);
    const client = await this.connect(flags);
    const res = await client.exists(path, { consistency: flags.consistency });
    if (!res.exists) throw new CliError(`node ${path} does not exist`, EXIT_NOT_FOUND);
    if (flags.json) printLine(JSON.stringify({ path, zxid: res.zxid, ...statJson(res.stat) }));
    else printLine(statLines(res.stat).join("\n"));
  }
}
