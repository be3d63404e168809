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
/** lock/elect: the lock or the leadership was lost, or became uncertain (session suspended or lost). */
export const EXIT_LOCK_LOST = 7;

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

/** The first line of an error's message, for the one-line `zk-cli: ...` report. */
export function oneLine(message: string): string {
  const line = message.split("\n").find((l) => l.trim() !== "") ?? message;
  return line.trim();
}
