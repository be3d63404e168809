import { LoadBenchCommand } from "../../lib/bench-command.js";
import { consistencyFlag, loadFlags, readRatioFlag } from "../../lib/bench-flags.js";

export default class BenchMixed extends LoadBenchCommand {
  static override summary = "Measure a read/write mix: each operation is a get with probability --read-ratio, else a put.";
  static override description =
    "Writes every key of --keys first, then runs closed-loop clients whose operations are gets (with --read-ratio probability) or puts of random keys. Prints the whole mix and reads and writes apart; --json prints one object.";

  static override examples = ["<%= config.bin %> bench mixed --clients 32 --read-ratio 0.9 --duration 3000", "<%= config.bin %> bench mixed --read-ratio 0.5 --consistency local --duration 2000 --json"];

  static override flags = { ...loadFlags, ...consistencyFlag, ...readRatioFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchMixed);
    await this.bench("mixed", flags);
  }
}
