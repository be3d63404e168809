// zk-cli's entry point: runs oclif, then turns whatever went wrong into one line on stderr,
// `zk-cli: <message>`, and a stable exit code (DESIGN.md): 0 ok, 1 error, 2 usage,
// 3 not found, 4 version conflict / exists, 5 unavailable, 6 cannot persist; 141 when stdout's
// reader went away.
// It exits only once stdout and stderr have drained: a pipe takes 64 KiB at a time, and
// process.exit() drops whatever the reader has not taken yet.
import { Config } from "@oclif/core/config";
import { run } from "@oclif/core/run";
import { EXIT_ERROR, EXIT_OK, EXIT_PIPE_CLOSED, EXIT_USAGE, oneLine, zkExitCode } from "./lib/errors.js";

/**
 * Run zk-cli and exit. `commands`, when given (the bundle), are handed to oclif up front;
 * otherwise oclif imports dist/commands.js itself.
 */
export async function main(argv: string[], root: string, commands?: Record<string, unknown>): Promise<never> {
  // A closed pipe (zk-cli get k | head -c1) is the reader's choice: nothing more can be
  // written, so stop at once, without a message, with the code a shell gives `cat` there.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT_PIPE_CLOSED);
    throw e;
  });
  process.stderr.on("error", () => undefined);
  let code: number = EXIT_OK;
  try {
    const config = await Config.load(root);
    // oclif's explicit discovery caches the loaded command table on the root plugin; filling
    // it keeps the bundle from importing the compiled commands a second time.
    const plugin = config.plugins.get(config.name) as unknown as { commandCache?: Record<string, unknown> } | undefined;
    if (commands && plugin && "commandCache" in plugin && plugin.commandCache === undefined) plugin.commandCache = commands;
    await run(argv, config);
    code = typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (e) {
    code = await report(e);
  }
  // Exit once the output is out, rather than wait for gRPC channels and timers to wind down.
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** Resolves when everything written to `stream` so far has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write("", () => resolve());
    stream.once("close", resolve);
  });
}

async function report(e: unknown): Promise<number> {
  const err = e as Error & { oclif?: { exit?: number }; exitCode?: unknown; code?: unknown };
  if (err?.oclif?.exit === 0) return EXIT_OK; // this.exit(0)
  let code = EXIT_ERROR;
  // By name, not instanceof: a hook runs from the compiled tree even when zk-cli runs bundled.
  if (err?.name === "CliError" && typeof err.exitCode === "number") {
    code = err.exitCode;
  } else if (err?.name === "ZkError") {
    code = zkExitCode(await import("@zk/node/client"), err as Parameters<typeof zkExitCode>[1]);
  } else if (typeof err?.oclif?.exit === "number") {
    code = err.oclif.exit;
  }
  let message = err instanceof Error ? err.message : String(e);
  const unknown = /^command (.+) not found$/.exec(message);
  if (unknown) {
    code = EXIT_USAGE;
    message = `unknown command "${unknown[1]!.replaceAll(":", " ")}"; see zk-cli --help`;
  }
  // oclif adds a note to usage errors when a command has a `multiple` flag (--auth) that
  // would take the arguments after it; --auth takes one value per use (multipleNonGreedy),
  // so the note is wrong here and breaks the one-line error.
  message = message.replace(/\n?Note: --\S+ allows multiple values\.[^\n]*(\n?Alternatively, you can use "--"[^\n]*)?/g, "");
  const debug = Boolean(process.env.ZK_CLI_DEBUG);
  process.stderr.write(`zk-cli: ${debug && err instanceof Error && err.stack ? err.stack : oneLine(message)}\n`);
  return code;
}
