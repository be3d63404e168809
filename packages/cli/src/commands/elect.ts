import { hostname } from "node:os";
import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, authOf, clientFlags } from "../base.js";
import { resolveEndpoints } from "../lib/endpoints.js";
import { CliError, EXIT_LOCK_LOST, usageError } from "../lib/errors.js";
import type { LeaderView } from "../lib/recipes.js";
import { printLine } from "../lib/output.js";
import { componentArg } from "../lib/znode.js";

export default class Elect extends ZkCommand {
  static override summary = "Campaign in a leader election (or watch one) and print the leader whenever it changes.";
  static override description = [
    "ZooKeeper's election recipe: each candidate creates the ephemeral sequential node /elections/<name>/candidate-<seq> holding its name; the lowest sequence is the leader. Prints \"leader: <candidate>\" for the leader first seen and at every change, \"leader: <candidate> (this process)\" when it is this process, and \"no leader\" when nobody campaigns; with --json one object per change {\"leader\",\"path\",\"zxid\",\"self\"} (leader and path null when there is none; zxid is that of the read that saw the change).",
    "Runs until SIGINT/SIGTERM: then it resigns (deletes its node at once, so the next candidate takes over) and exits 0. A candidate killed without that (kill -9) is replaced when its session's TTL (--ttl) runs out.",
    "When no keepalive has been acknowledged for a third of the TTL (the session is suspended: the node we talk to is hung or cut off) it prints \"leadership uncertain: ...\" (\"leader uncertain: ...\" when another candidate leads; with --json the last leader object with \"state\":\"uncertain\"): a leader must stop acting as one until it prints its leader line again (\"state\":\"known\"). If the session is lost (the TTL passed without an acknowledged keepalive, or the cluster expired it) or its node is deleted, it prints \"leadership lost: ...\" (\"state\":\"lost\") and exits 7.",
    "--listen only watches: it creates nothing.",
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> elect scheduler host-a",
    "<%= config.bin %> elect scheduler --listen",
    "<%= config.bin %> elect scheduler --listen --json --count 1",
  ];

  static override args = {
    name: Args.string({ ignoreStdin: true, description: "Election name (one path component: /elections/<name>)", required: true }),
    candidate: Args.string({ ignoreStdin: true, description: "This candidate's name [default: <hostname> pid <pid>]", required: false }),
  };

  static override flags = {
    ...clientFlags,
    listen: Flags.boolean({ description: "Only watch the election; do not campaign.", default: false }),
    ttl: Flags.integer({ description: "Session TTL in milliseconds: how long a dead leader keeps leading.", default: 5000, min: 1000 }),
    count: Flags.integer({ description: "Exit 0 after printing this many leader lines (resigning first).", min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Elect);
    const name = componentArg("election", args.name);
    if (flags.listen && args.candidate !== undefined) throw usageError("--listen watches without campaigning: it takes no CANDIDATE");
    const candidate = flags.listen ? null : (args.candidate ?? `${hostname()} pid ${process.pid}`);
    const { endpoints } = resolveEndpoints(flags);
    const { CliSession, stopSignal, hasCode } = await import("../lib/session.js");
    const { ErrorCode } = await import("@zk/node/client");
    const { followElection } = await import("../lib/recipes.js");
    const stop = stopSignal();
    const cs = await CliSession.open(endpoints, flags.ttl, flags.timeout, authOf(flags));
    let ours: string | null = null;
    let printed = 0;
    let last: LeaderView | null = null;
    const show = (v: LeaderView, state: "known" | "uncertain" | "lost", why = "") => {
      if (flags.json) printLine(JSON.stringify({ leader: v.leader, path: v.path, zxid: v.zxid, self: v.self, state }));
      else if (state === "known") printLine(v.leader === null ? "no leader" : `leader: ${v.leader}${v.self ? " (this process)" : ""}`);
      else printLine(`${v.self ? "leadership" : "leader"} ${state}: ${why}`);
    };
    const onSuspended = (info: { sinceAckMs: number; remainingMs: number; endpoint: string }) => {
      if (last) show(last, "uncertain", `no keepalive acknowledged for ${Math.round(info.sinceAckMs)} ms through ${info.endpoint}; the session may expire within ${Math.round(info.remainingMs)} ms`);
    };
    const onReconnected = () => {
      if (last && cs.session.state === "connected") show(last, "known");
    };
    cs.session.on("suspended", onSuspended);
    cs.session.on("reconnected", onReconnected);
    try {
      await followElection(
        cs,
        name,
        candidate,
        stop.signal,
        (v) => {
          last = v;
          show(v, "known");
          if (flags.count !== undefined && ++printed >= flags.count) stop.abort("count");
        },
        (path) => (ours = path),
      );
    } catch (e) {
      if (!hasCode(e, ErrorCode.SESSION_EXPIRED)) throw e;
      const why = (e as Error).message;
      // Assigned in the callbacks above (TypeScript does not follow that).
      const seen = last as LeaderView | null;
      show(seen ?? { leader: null, path: null, zxid: 0, self: false }, "lost", why);
      throw new CliError(`${seen?.self ? "leadership" : "election"} ${name} lost: ${why}`, EXIT_LOCK_LOST);
    } finally {
      cs.session.off("suspended", onSuspended);
      cs.session.off("reconnected", onReconnected);
      stop.dispose();
      await cs.closeAndReport(ours ? [ours] : []);
    }
  }
}
