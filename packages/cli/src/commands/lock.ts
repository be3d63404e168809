import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, authOf, clientFlags } from "../base.js";
import { resolveEndpoints } from "../lib/endpoints.js";
import { usageError } from "../lib/errors.js";
import { componentArg } from "../lib/znode.js";
import type { OnSuspend } from "../lib/run-locked.js";

export default class Lock extends ZkCommand {
  static override summary = "Run a command while holding a cluster-wide lock.";
  static override description = [
    "ZooKeeper's lock recipe: creates the ephemeral sequential node /locks/<name>/lock-<seq> (creating /locks/<name> if needed); the lowest sequence holds the lock; every other waiter watches only the node just before its own, so a release wakes one process, not all of them.",
    "While holding the lock it runs the command (stdin, stdout and stderr inherited; SIGINT and SIGTERM forwarded to it) with ZK_LOCK_ZXID set to the zxid that created the lock node: a fencing token that only grows from holder to holder, for resources that can refuse a stale holder (docs/sessions.md). When the command exits the lock is released and zk-cli exits with the command's exit code (128 + signal number if a signal ended it). If zk-cli itself dies (kill -9), the lock goes when its session's TTL (--ttl) runs out.",
    "While the command runs, the session is watched: when no keepalive has been acknowledged for a third of the TTL (suspended: the node we talk to is hung or cut off, and the cluster may expire the session soon) --on-suspend decides: term (default) sends the command SIGTERM, then SIGKILL halfway to the earliest moment the session could expire, and zk-cli exits 7; stop sends SIGSTOP and SIGCONT once the session is acknowledged again; ignore lets it run. If the session is lost (the TTL passed without an acknowledged keepalive, or the cluster expired it) or the lock node is deleted, the command is killed at once (SIGKILL) and zk-cli exits 7.",
    "--lock-timeout gives up waiting after that many milliseconds: exit 5, naming who holds the lock. Interrupted while waiting (SIGINT/SIGTERM), it leaves the queue and exits 128 + the signal number. On a terminal, waiting, acquiring, suspension and release are reported on stderr (with --json always, as JSON lines on stderr); with --json, stdout starts with one line {\"event\":\"acquired\",\"lock\",\"path\",\"lockZxid\"} before the command's output.",
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> lock deploy -- ./deploy.sh production",
    "<%= config.bin %> lock nightly --lock-timeout 1000 -- sh -c 'make backup'",
    "<%= config.bin %> lock deploy --on-suspend stop -- sh -c 'echo token $ZK_LOCK_ZXID'",
  ];

  static override usage = "<%= command.id %> NAME [--ttl MS] [--lock-timeout MS] [--on-suspend term|stop|ignore] [--endpoints host:port,...] -- COMMAND [ARGS...]";

  static override args = {
    name: Args.string({ ignoreStdin: true, description: "Lock name (one path component: /locks/<name>)", required: true }),
  };

  static override flags = {
    ...clientFlags,
    ttl: Flags.integer({ description: "Session TTL in milliseconds: how long a dead holder keeps the lock.", default: 5000, min: 1000 }),
    "on-suspend": Flags.string({
      description: "When the session is suspended (no keepalive acknowledged for a third of --ttl): term = SIGTERM then SIGKILL before the TTL could pass, exit 7; stop = SIGSTOP until acknowledged again; ignore.",
      options: ["term", "stop", "ignore"],
      default: "term",
    }),
    "lock-timeout": Flags.integer({ aliases: ["timeout-lock"], description: "Give up waiting for the lock after this many milliseconds (exit 5). Default: wait forever.", min: 0 }),
  };

  async run(): Promise<void> {
    // The command is everything after the first "--", verbatim: only what comes before it is
    // zk-cli's to parse (oclif's own pass-through reorders repeated words).
    const dashdash = this.argv.indexOf("--");
    const command = dashdash < 0 ? [] : this.argv.slice(dashdash + 1);
    const { args, flags } = await this.parse(Lock, dashdash < 0 ? this.argv : this.argv.slice(0, dashdash)).catch((e: Error) => {
      if (dashdash < 0 && /^Unexpected argument/.test(e.message)) throw usageError(`lock needs "--" before the command: zk-cli lock <name> -- <command> [args...]`);
      throw e;
    });
    const name = componentArg("lock", args.name);
    if (command.length === 0) throw usageError("lock needs a command after --: zk-cli lock <name> -- <command> [args...]");
    const { endpoints } = resolveEndpoints(flags);
    const { runLocked } = await import("../lib/run-locked.js");
    process.exitCode = await runLocked({
      endpoints,
      auth: authOf(flags),
      name,
      command,
      ttlMs: flags.ttl,
      timeoutMs: flags.timeout,
      lockTimeoutMs: flags["lock-timeout"],
      json: flags.json,
      onSuspend: flags["on-suspend"] as OnSuspend,
    });
  }
}
