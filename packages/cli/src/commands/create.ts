import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, authOf, clientFlags } from "../base.js";
import { resolveEndpoints } from "../lib/endpoints.js";
import { CliError, EXIT_ERROR } from "../lib/errors.js";
import { note, printLine } from "../lib/output.js";
import { valueArg } from "../lib/values.js";
import { ancestors, CODE, createPathArg, ignoreExists, rethrowWithHint, statJson, type Stat } from "../lib/znode.js";

export default class Create extends ZkCommand {
  static override summary = "Create a znode; print its path (with the sequence suffix) and zxid.";
  static override description = [
    'Prints "<path> zxid=<zxid>"; with --json {"path","zxid",...stat}. DATA is stored as given (its bytes); "-" reads the whole of stdin, --file FILE the bytes of a file. Exit 3 when the parent does not exist (--parents creates missing ancestors as empty persistent nodes), 4 when the node exists.',
    "--sequential appends a 10-digit counter to the name (the parent's child-change count): create /q/item- --sequential makes /q/item-0000000003.",
    "--ephemeral ties the node to a session of this process, so the command keeps running: it prints the path, then holds the session (renewing it) until SIGINT/SIGTERM or, when stdin is a pipe, until stdin closes; then it deletes the node and exits 0. If the process dies without that (kill -9), the node goes when the session's TTL (--ttl) runs out. Run it in the background (&) to keep the node while you do other things.",
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> create /app/config 'color=blue'",
    "<%= config.bin %> create /queue/job- --sequential --parents",
    "<%= config.bin %> create /workers/w1 host-a:8080 --ephemeral &",
  ];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config); with --sequential the name's prefix", required: true }),
    data: Args.string({ ignoreStdin: true, description: 'Data (default empty), or "-" to read it from stdin', required: false }),
  };

  static override flags = {
    ...clientFlags,
    ephemeral: Flags.boolean({ description: "Delete the node when this process's session ends (the command keeps running).", default: false }),
    sequential: Flags.boolean({ description: "Append a monotonically increasing 10-digit counter to the name.", default: false }),
    parents: Flags.boolean({ char: "p", description: "Create missing ancestors as empty persistent nodes.", default: false }),
    file: Flags.string({ description: "Read the data from this file (its bytes, untouched) instead of DATA." }),
    ttl: Flags.integer({ description: "With --ephemeral: the session's TTL in milliseconds.", default: 5000, min: 1000 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Create);
    const path = await createPathArg(args.path, flags.sequential);
    const data = await valueArg(args.data, flags.file);
    const print = (r: { path: string; zxid: number; stat?: Stat | undefined }) =>
      printLine(flags.json ? JSON.stringify({ path: r.path, zxid: r.zxid, ...statJson(r.stat) }) : `${r.path} zxid=${r.zxid}`);

    if (!flags.ephemeral) {
      const client = await this.connect(flags);
      if (flags.parents) {
        for (const a of ancestors(flags.sequential ? path + "x" : path)) await client.create(a, new Uint8Array(0)).catch(ignoreExists);
      }
      print(await client.create(path, data, { sequential: flags.sequential }).catch(hintParents));
      return;
    }

    const { endpoints } = resolveEndpoints(flags);
    const { CliSession, stopSignal } = await import("../lib/session.js");
    const { whenLost } = await import("../lib/recipes.js");
    // Signals from now on end the command cleanly, even while the session is being opened.
    const stop = stopSignal({ stdinEof: true });
    const cs = await CliSession.open(endpoints, flags.ttl, flags.timeout, authOf(flags));
    let created: string | null = null;
    try {
      if (flags.parents) {
        for (const a of ancestors(flags.sequential ? path + "x" : path)) await cs.ensurePath(a);
      }
      if (stop.signal.aborted) return;
      const r = await cs.session.create(path, data, { ephemeral: true, sequential: flags.sequential }).catch(hintParents);
      created = r.path;
      print(r);
      if (process.stderr.isTTY) note(`holding ${r.path} (session ${cs.sessionId}, ttl ${cs.session.ttlMs} ms); Ctrl-C deletes it and exits`);
      let lost: string | null = null;
      try {
        lost = await whenLost(cs, r.path, r.zxid + 1, stop.signal);
      } catch (e) {
        if (!stop.signal.aborted) throw e;
      }
      if (lost !== null) throw new CliError(`${r.path} is gone: ${lost}`, EXIT_ERROR);
    } finally {
      stop.dispose();
      await cs.closeAndReport(created ? [created] : []);
    }
  }
}

/** NO_NODE from create is about the parent. */
function hintParents(e: unknown): never {
  rethrowWithHint(e, CODE.NO_NODE, "--parents creates missing ancestors");
}
