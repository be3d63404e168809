import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../../base.js";
import { usageError } from "../../lib/errors.js";
import { keyToPath } from "../../lib/keys.js";
import { printLine } from "../../lib/output.js";
import { CODE, rethrowWithHint } from "../../lib/znode.js";

export default class AclSet extends ZkCommand {
  static override summary = "Replace a znode's ACL (zkCli.sh's setAcl syntax).";
  static override description =
    'ACL is comma-separated scheme:id:perms entries, as zkCli.sh\'s setAcl: world:anyone:r, digest:USER:HASH:cdrwa (HASH = base64(sha1("USER:PASSWORD"))), ip:10.0.0.0/8:rw, auth::cdrwa (every user of --auth). Needs ADMIN on the node. Prints "<path> zxid=<zxid> aversion=<new ACL version>"; with --json {"path","zxid","aversion"}. With --version N it applies only if the ACL\'s version is N (exit 4 otherwise). Exit 2 for a malformed ACL, 3 when the node does not exist, 8 when the credentials may not change it.';

  static override examples = [
    "<%= config.bin %> acl set /shared 'world:anyone:r,auth::cdrwa' --auth bob:secret",
    "<%= config.bin %> acl set /shared 'digest:bob:fyVmFCwVbTJYrznoSu1koqYEYF0=:cdrwa' --version 1 --auth bob:secret",
  ];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config)", required: true }),
    acl: Args.string({ ignoreStdin: true, description: "The new ACL: scheme:id:perms[,scheme:id:perms...]", required: true }),
  };

  static override flags = {
    ...clientFlags,
    version: Flags.integer({ description: "The ACL version (aversion) the node must have (see acl get --json).", min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AclSet);
    const path = await keyToPath(args.path);
    const { parseAclText } = await import("@zk/node/client");
    let acl;
    try {
      acl = parseAclText(args.acl);
    } catch (e) {
      throw usageError((e as Error).message);
    }
    const client = await this.connect(flags);
    const res = await client
      .setAcl(path, acl, { expectedAversion: flags.version })
      .catch((e: unknown) => rethrowWithHint(e, CODE.BAD_VERSION, "nothing was changed; read the current aversion with zk-cli acl get --json"));
    printLine(flags.json ? JSON.stringify({ path, zxid: res.zxid, aversion: res.aversion }) : `${path} zxid=${res.zxid} aversion=${res.aversion}`);
  }
}
