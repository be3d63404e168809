// The shared body of `zk-cli bench put|get|mixed`: flags -> options, the run with a progress
// line and Ctrl-C handling, and one printer per format (STYLE.md 12).
import { ZkCommand } from "../base.js";
import type { Workload } from "./bench.js";
import type { LoadFlagValues } from "./bench-flags.js";
import { resolveEndpoints } from "./endpoints.js";
import { CliError, EXIT_UNAVAILABLE } from "./errors.js";
import { printLine } from "./output.js";

/** How long the leader probe before a run may take. */
const PROBE_TIMEOUT_MS = 1000;

export type LoadCommandFlags = LoadFlagValues & { json: boolean; endpoints?: string | undefined; dir?: string | undefined };

export abstract class LoadBenchCommand extends ZkCommand {
  protected async bench(workload: Workload, flags: LoadCommandFlags): Promise<void> {
    const { benchOptions } = await import("./bench-flags.js");
    const { runBench } = await import("./bench.js");
    const { ProgressLine, benchJson, formatBenchTable, errorsText } = await import("./bench-print.js");
    const { endpoints } = resolveEndpoints(flags);
    const opts = benchOptions(workload, flags, endpoints);
    const probe = await this.clientFor(endpoints, Math.min(flags.timeout, PROBE_TIMEOUT_MS));
    const progress = new ProgressLine(`bench ${workload}:`);
    // Ctrl-C ends the measurement early; what was measured is still reported.
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.on("SIGINT", onSigint);
    let result;
    try {
      result = await runBench(opts, probe, { onProgress: (p) => progress.load(p), onPhase: (what) => progress.show(what), signal: abort.signal });
    } finally {
      progress.clear();
      process.off("SIGINT", onSigint);
    }
    if (flags.json) printLine(JSON.stringify(benchJson(result)));
    else process.stdout.write(formatBenchTable(result));
    if (result.ops === 0 && result.errorCount > 0) {
      throw new CliError(`no operation succeeded (errors: ${errorsText(result.errors)})`, EXIT_UNAVAILABLE);
    }
  }
}
