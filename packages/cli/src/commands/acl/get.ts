import { ZkCommand, pathArgs, readFlags } from "../../base.js";
import { keyToPath } from "../../lib/keys.js";
import { printLine } from "../../lib/output.js";

export default class AclGet extends ZkCommand {
  static override summary = "Print a znode's ACL, one scheme:id:perms entry per line.";
  static override description =
    'Entries are in zkCli.sh\'s syntax (the output of acl get is an ACL acl set takes, joined with commas): scheme world, digest (id USER:base64(sha1(USER:PASSWORD))), ip (an address or address/bits); perms letters of cdrwa (create children, delete children, read, write, admin). Needs READ or ADMIN on the node; without ADMIN a digest\'s hash shows as "x", as in ZooKeeper. With --json {"path","acl":[{"scheme","id","perms"}],"aversion","zxid"}, aversion being the ACL\'s version (acl set --version). Exit 3 when the node does not exist, 8 when the credentials (--auth) may not read it.';

  static override examples = ["<%= config.bin %> acl get /shared", "<%= config.bin %> acl get /shared --auth bob:secret --json"];

  static override args = pathArgs;

  static override flags = readFlags;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AclGet);
    const path = await keyToPath(args.path);
    const client = await this.connect(flags);
    const { permsText } = await import("@zk/node/client");
    const res = await client.getAcl(path, { consistency: flags.consistency });
    const entries = res.acl.map((a) => ({ scheme: a.scheme, id: a.id, perms: permsText(a.perms) }));
    if (flags.json) printLine(JSON.stringify({ path, acl: entries, aversion: res.aversion, zxid: res.zxid }));
    else printLine(entries.map((e) => `${e.scheme}:${e.id}:${e.perms}`).join("\n"));
  }
}
