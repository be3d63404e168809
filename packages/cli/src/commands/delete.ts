import * as Args from "@oclif/core/args";
import { ZkCommand, clientFlags } from "../base.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";

export default class Delete extends ZkCommand {
  static override summary = "Delete a key. Exit 3 when it does not exist.";

  static override examples = ["<%= config.bin %> delete app/config"];

  static override args = {
    key: Args.string({ ignoreStdin: true, description: "Key (k means /k) or absolute path", required: true }),
  };

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Delete);
    const path = await keyToPath(args.key);
    const client = await this.connect(flags);
    const res = await client.delete(path);
    printLine(flags.json ? JSON.stringify({ path, zxid: res.zxid }) : `${path} deleted zxid=${res.zxid}`);
  }
}
