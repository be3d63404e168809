import { LoadBenchCommand } from "../../lib/bench-command.js";
import { consistencyFlag, loadFlags } from "../../lib/bench-flags.js";

export default class BenchGet extends LoadBenchCommand {
  static override summary = "Measure read throughput and latency: closed-loop clients getting random keys.";
  static override description =
    "Writes every key of --keys first (--value-size bytes each), then each of --clients clients keeps one get in flight (linearizable by default; --consistency local reads the answering node's applied state). Prints ops/s, latency percentiles and errors by code; --json prints one object.";

  static override examples = ["<%= config.bin %> bench get --clients 64 --duration 3000", "<%= config.bin %> bench get --consistency local --connect spread --duration 2000 --json"];

  static override flags = { ...loadFlags, ...consistencyFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchGet);
    await this.bench("get", flags);
  }
}
