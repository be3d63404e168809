import type * as Client from "@zk/node/client";

// The CLI's one table of exit codes (DESIGN.md "zk-cli") and the error every command throws
// for a failure it can name. The entry point prints `zk-cli: <message>` (one line, no stack)
// and exits with the code; errors from the cluster arrive as ZkError and map through
// exitCodeFor in @zk/node/client, so the table lives in one place per side.

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_FOUND = 3;
export const EXIT_CONFLICT = 4;
export const EXIT_UNAVAILABLE = 5;
/** The node cannot persist (disk full or a write error): it refuses writes until its disk recovers. */
export const EXIT_CANNOT_PERSIST = 6;

/** The exit code of an error from the cluster: the client library's table, plus the codes it predates. */
export function zkExitCode(client: Pick<typeof Client, "exitCodeFor" | "ErrorCode">, e: Client.ZkError): number {
  if (e.code === client.ErrorCode.CANNOT_PERSIST) return EXIT_CANNOT_PERSIST;
  return client.exitCodeFor(e);
}
/**
 * stdout was closed by its reader (`zk-cli ls / | head -1`): what a shell reports for a
 * process killed by SIGPIPE (128 + 13), as for `cat`, `seq` or `yes` in the same place.
 * Node ignores SIGPIPE, so zk-cli exits with this code itself, quietly.
 */
export const EXIT_PIPE_CLOSED = 141;
/** lock/elect: the lock or the leadership was lost, or became uncertain (session suspended or lost). */
export const EXIT_LOCK_LOST = 7;
/** Permission denied: the znode's ACL grants the credentials (--auth) no such right (ZooKeeper's NoAuth). Mapped in exitCodeFor. */
export const EXIT_NO_AUTH = 8;

export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/**
 * An error's message as one line, for the `zk-cli: ...` report. A multi-line message (oclif's
 * parse errors: "Missing 1 required arg:" then "key  Key ..."; "Parsing --timeout" then
 * "Expected an integer ...") keeps every line's content: its first line, then the others
 * joined with "; ", an "arg  description" line as "arg (description)".
 */
export function oneLine(message: string): string {
  const lines = message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => (l === "See more help with --help" ? "see --help" : l.replace(/^(\S+)\s{2,}(\S.*)$/, "$1 ($2)")));
  if (lines.length === 0) return message.trim();
  const [first, ...rest] = lines;
  if (rest.length === 0) return first!;
  return `${first!}${first!.endsWith(":") ? " " : ": "}${rest.join("; ")}`.replace(/\s+/g, " ");
}
