import { join } from "node:path";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../base.js";
import { CliError, EXIT_NOT_FOUND, usageError } from "../lib/errors.js";
import { clusterDir, readManifest, requireManifest, type Manifest } from "../lib/manifest.js";
import { printJsonLines } from "../lib/output.js";

export default class Inspect extends ZkCommand {
  static override summary = "Show a node's acceptor state and accepted log, read from its SQLite file.";
  static override description =
    "Opens the node's database (<data-dir>/zk.db) read-only: safe while the node runs. Prints its node and cluster id, schema version, " +
    "promised ballot, chosen and applied index, compaction point, file sizes, and its accepted entries (slot, ballot, chosen or only " +
    "accepted, the command in one line), by default the last 20. --diff lines up the accepted logs of every member of the local cluster " +
    "and marks where they differ: ballots or values differing per slot, entries not yet known chosen, holes, nodes behind. " +
    "A file that is not a zk database fails with exit 1.";

  static override examples = [
    "<%= config.bin %> inspect --node n1",
    "<%= config.bin %> inspect --db .zk-cluster/n1 --from 1 --limit 100",
    "<%= config.bin %> inspect --diff",
    "<%= config.bin %> inspect --node n2 --json | jq -c 'select(.type == \"entry\") | [.slot, .command]'",
  ];

  static override flags = {
    ...commonFlags,
    node: Flags.string({ description: "Member id of the local cluster (its data dir's zk.db).", exclusive: ["db"] }),
    db: Flags.string({ description: "A zk.db file, or a data dir holding one.", exclusive: ["node"] }),
    diff: Flags.boolean({ description: "Line up the accepted logs of every member of the local cluster.", default: false, exclusive: ["node", "db"] }),
    from: Flags.integer({ description: "First slot to show.", min: 1 }),
    to: Flags.integer({ description: "Last slot to show.", min: 1 }),
    limit: Flags.integer({ description: "Most entries (slots, with --diff) to show [default: 20; without --from, the last ones]", min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Inspect);
    const lib = await import("../lib/inspect.js");
    const print = await import("../lib/inspect-print.js");
    const range = { from: flags.from, to: flags.to, limit: flags.limit };

    if (flags.diff) {
      const dir = clusterDir(flags.dir);
      const m = requireManifest(dir);
      const { isAlive } = await import("../lib/processes.js");
      const opened = await Promise.all(
        m.nodes.map(async (n) => {
          const file = join(n.dataDir, lib.DB_FILE);
          try {
            return { id: n.id, file, running: isAlive(n.pid), db: await lib.openDb(file), error: null };
          } catch (e) {
            return { id: n.id, file, running: isAlive(n.pid), db: null, error: (e as Error).message };
          }
        }),
      );
      try {
        const lastSlot = Math.max(0, ...opened.map((o) => o.db?.report.lastSlot ?? 0));
        const window = lib.slotWindow(range, lastSlot);
        const nodes = opened.map((o) => ({ id: o.id, file: o.file, running: o.running, report: o.db?.report ?? null, error: o.error }));
        const d = lib.diffLogs(nodes, opened.map((o) => o.db?.entries(window) ?? []), window);
        if (flags.json) printJsonLines(print.diffJson(d));
        else process.stdout.write(print.formatDiff(d));
      } finally {
        for (const o of opened) o.db?.close();
      }
      return;
    }

    const file = flags.db !== undefined ? lib.dbFileOf(flags.db) : dbOfNode(clusterDir(flags.dir), flags.node, lib.DB_FILE);
    const db = await lib.openDb(file);
    try {
      const window = lib.slotWindow(range, db.report.lastSlot);
      const entries = db.entries(window);
      if (flags.json) printJsonLines([print.reportJson(db.report), ...entries.map(print.entryJson)]);
      else process.stdout.write(print.formatInspect(db.report, entries, window));
    } finally {
      db.close();
    }
  }
}

/** --node's database; without --node, the only member of a 1-node cluster. */
function dbOfNode(dir: string, id: string | undefined, dbFile: string): string {
  const m: Manifest | null = id === undefined ? readManifest(dir) : requireManifest(dir);
  if (id === undefined) {
    if (m && m.nodes.length === 1) return join(m.nodes[0]!.dataDir, dbFile);
    const members = m ? ` (members: ${m.nodes.map((n) => n.id).join(", ")})` : "";
    throw usageError(`pass --node <id>${members}, --db <file or data dir>, or --diff`);
  }
  const n = m!.nodes.find((x) => x.id === id);
  if (!n) throw new CliError(`no node "${id}" in the cluster in ${dir} (members: ${m!.nodes.map((x) => x.id).join(", ")})`, EXIT_NOT_FOUND);
  return join(n.dataDir, dbFile);
}
