import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { usageError } from "../lib/errors.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { CODE, rethrowWithHint } from "../lib/znode.js";

export default class Delete extends ZkCommand {
  static override summary = "Delete a znode (or, with --recursive, its whole subtree).";
  static override description = [
    'Prints "<path> deleted zxid=<zxid>"; with --json {"path","zxid"} (and "deleted", the node count, with --recursive). Exit 3 when the node does not exist; exit 4 when --version does not match, or when the node has children and --recursive is not given.',
    "--recursive deletes the subtree children-first. A subtree of up to 1000 nodes goes in one multi (all or nothing); a larger one in batches of 1000, each of which checks --version. With --version only the top node's version is checked. A child created meanwhile makes the walk start again (a few times at most).",
  ].join("\n\n");

  static override examples = ["<%= config.bin %> delete app/config", "<%= config.bin %> delete /app/config --version 3", "<%= config.bin %> delete /app --recursive"];

  static override args = {
    key: Args.string({ ignoreStdin: true, description: "Key (app/config means /app/config) or absolute path", required: true }),
  };

  static override flags = {
    ...clientFlags,
    version: Flags.integer({ description: "The version the node must have.", min: 0 }),
    recursive: Flags.boolean({ char: "r", description: "Delete the node's descendants too.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Delete);
    const path = await keyToPath(args.key);
    const client = await this.connect(flags);
    if (!flags.recursive) {
      const res = await client.delete(path, { expectedVersion: flags.version }).catch((e: unknown) => rethrowWithHint(e, CODE.NOT_EMPTY, "--recursive deletes the subtree"));
      printLine(flags.json ? JSON.stringify({ path, zxid: res.zxid }) : `${path} deleted zxid=${res.zxid}`);
      return;
    }
    if (path === "/") throw usageError("cannot delete /; delete its children one by one");
    const { deleteSubtree } = await import("../lib/delete-subtree.js");
    const res = await deleteSubtree(client, path, flags.version);
    printLine(flags.json ? JSON.stringify({ path, zxid: res.zxid, deleted: res.deleted }) : `${path} deleted zxid=${res.zxid}${res.deleted > 1 ? ` (${res.deleted} nodes)` : ""}`);
  }
}
