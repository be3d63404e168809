import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { keyToPath } from "../lib/keys.js";
import { printJsonLines, printLine, printTable, type Column } from "../lib/output.js";
import { isoTime, joinPath, statJson, type Stat } from "../lib/znode.js";

interface Row {
  readonly name: string;
  readonly path: string;
  readonly stat: Stat | undefined;
}

const STAT_COLUMNS: Column<Row>[] = [
  { header: "VERSION", get: (r) => r.stat?.version ?? 0, right: true },
  { header: "CVERSION", get: (r) => r.stat?.cversion ?? 0, right: true },
  { header: "CHILDREN", get: (r) => r.stat?.numChildren ?? 0, right: true },
  { header: "BYTES", get: (r) => r.stat?.dataLength ?? 0, right: true },
  { header: "MZXID", get: (r) => r.stat?.mzxid ?? 0, right: true },
  { header: "EPHEMERAL_OWNER", get: (r) => (r.stat?.ephemeralOwner ? r.stat.ephemeralOwner : "-"), right: true },
  { header: "MTIME", get: (r) => isoTime(r.stat?.mtimeMs ?? 0) },
];

export default class Ls extends ZkCommand {
  static override summary = "List a znode's children, sorted.";
  static override description = [
    'Prints one child name per line; with --recursive the full path of the node and of every descendant, depth-first (a node before its children, siblings sorted). --stat prints a table with each one\'s version, cversion, children, bytes, mzxid, ephemeral owner and mtime. With --json one object per line: {"name","path"} (and the stat fields with --stat). Exit 3 when the node does not exist.',
    "--recursive lists node by node: each listing is linearizable, the whole is not a snapshot (a node deleted meanwhile is left out).",
  ].join("\n\n");

  static override examples = ["<%= config.bin %> ls /", "<%= config.bin %> ls /app --stat", "<%= config.bin %> ls /app --recursive --json"];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config)", required: false, default: "/" }),
  };

  static override flags = {
    ...clientFlags,
    recursive: Flags.boolean({ char: "R", description: "List the whole subtree, full paths, depth-first.", default: false }),
    stat: Flags.boolean({ char: "s", description: "Show each node's stat.", default: false }),
    consistency: Flags.option({ options: ["linearizable", "local"] as const, description: "Read consistency.", default: "linearizable" as const })(),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Ls);
    const path = await keyToPath(args.path);
    const client = await this.connect(flags);
    let rows: Row[];
    if (flags.recursive) {
      const { walkTree, preOrder } = await import("../lib/tree-walk.js");
      const walk = await walkTree(client, path, { includeStats: flags.stat, consistency: flags.consistency });
      rows = preOrder(walk).map((n) => ({ name: n.path === "/" ? "/" : n.path.slice(n.path.lastIndexOf("/") + 1), path: n.path, stat: n.stat }));
    } else {
      const res = await client.list(path, { includeStats: flags.stat, consistency: flags.consistency });
      rows = res.children.map((c) => ({ name: c.name, path: joinPath(path, c.name), stat: c.stat }));
    }
    if (flags.json) {
      printJsonLines(rows.map((r) => ({ name: r.name, path: r.path, ...(flags.stat ? statJson(r.stat) : {}) })));
      return;
    }
    const key: Column<Row> = flags.recursive ? { header: "PATH", get: (r) => r.path } : { header: "NAME", get: (r) => r.name };
    if (flags.stat) printTable(rows, [key, ...STAT_COLUMNS]);
    else if (rows.length > 0) printLine(rows.map((r) => String(key.get(r))).join("\n"));
  }
}
