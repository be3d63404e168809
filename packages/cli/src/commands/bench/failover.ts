import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import { CLIENTS_MAX, VALUE_SIZE_MAX } from "../../lib/bench-flags.js";
import { CliError, usageError } from "../../lib/errors.js";
import { clusterDir } from "../../lib/manifest.js";
import { printLine } from "../../lib/output.js";

export default class BenchFailover extends ZkCommand {
  static override summary = "Kill the local cluster's leader (SIGKILL) under write load; measure the write gap and election time, and check that no acknowledged write was lost.";
  static override description = [
    "Runs --clients writers (each with one put in flight, every put to its own key) for --before ms, kills the leader with SIGKILL, polls the survivors until one reports itself leader (the election time), writes for --after ms more, then reads back every acknowledged write with a linearizable get. Reports the longest time without an acknowledged write, the election time, the writes that failed (outcome unknown) and the read-back. Finally starts the killed node again (unless --no-restart).",
    "Exit 1 if any acknowledged write is missing or wrong, if no new leader was seen within --election-wait ms, or if the killed node did not come back. Local cluster only (the manifest in --dir).",
  ].join("\n\n");

  static override examples = ["<%= config.bin %> bench failover", "<%= config.bin %> bench failover --clients 16 --before 3000 --after 3000 --json"];

  static override flags = {
    ...commonFlags,
    clients: Flags.integer({ description: "Writers, each with one put in flight.", default: 8, min: 1, max: CLIENTS_MAX }),
    conns: Flags.integer({ description: "Connections the writers share [default: --clients].", min: 1, max: CLIENTS_MAX }),
    "value-size": Flags.integer({ description: "Bytes per value.", default: 100, min: 0, max: VALUE_SIZE_MAX }),
    before: Flags.integer({ description: "Milliseconds of writing before the kill.", default: 2000, min: 0 }),
    after: Flags.integer({ description: "Milliseconds of writing after the new leader is seen.", default: 2000, min: 0 }),
    "election-wait": Flags.integer({ description: "How long to wait for a new leader, in milliseconds.", default: 15_000, min: 1 }),
    transport: Flags.option({ options: ["session", "unary"] as const, description: "session streams (default) or one unary RPC per write.", default: "session" as const })(),
    connect: Flags.option({ options: ["spread", "leader"] as const, description: "spread: writers' connections start at every member in turn (as real clients do); leader: all start at the leader.", default: "spread" as const })(),
    prefix: Flags.string({ description: "Parent znode; each run writes below <prefix>/failover-<run id>.", default: "/bench" }),
    restart: Flags.boolean({ description: "Start the killed node again at the end.", default: true, allowNo: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchFailover);
    const conns = flags.conns ?? flags.clients;
    if (conns > flags.clients) throw usageError(`--conns ${conns} is more than --clients ${flags.clients}: every connection needs a writer`);
    const prefix = flags.prefix.replace(/\/+$/, "");
    if (!prefix.startsWith("/")) throw usageError(`--prefix "${flags.prefix}" must be an absolute path below the root, e.g. /bench`);
    const { runFailover } = await import("../../lib/bench-failover.js");
    const { ProgressLine, failoverJson, formatFailover } = await import("../../lib/bench-print.js");
    const progress = new ProgressLine("bench failover:");
    let r;
    try {
      r = await runFailover(
        {
          dir: clusterDir(flags.dir),
          clients: flags.clients,
          conns,
          valueSize: flags["value-size"],
          beforeMs: flags.before,
          afterMs: flags.after,
          electionWaitMs: flags["election-wait"],
          transport: flags.transport,
          connect: flags.connect,
          prefix,
          timeoutMs: flags.timeout,
          restart: flags.restart,
        },
        (endpoints, timeoutMs) => this.clientFor(endpoints, timeoutMs),
        { status: (text) => progress.show(text) },
      );
    } finally {
      progress.clear();
    }
    if (flags.json) printLine(JSON.stringify(failoverJson(r)));
    else process.stdout.write(formatFailover(r));
    if (!r.ok) {
      const why = [
        r.newLeader === null ? `no new leader within ${flags["election-wait"]} ms` : "",
        r.missing + r.wrong > 0 ? `${r.missing + r.wrong} acknowledged write(s) lost (${r.lost.join(", ")})` : "",
        r.unverified > 0 ? `${r.unverified} acknowledged write(s) could not be read back${r.verifyError ? ` (${r.verifyError})` : ""}` : "",
        r.restartError ? `restarting ${r.killed.id} failed: ${r.restartError}` : "",
      ].filter(Boolean);
      throw new CliError(`failover check failed: ${why.join("; ")}`);
    }
  }
}
