import { LoadBenchCommand } from "../../lib/bench-command.js";
import { loadFlags } from "../../lib/bench-flags.js";

export default class BenchPut extends LoadBenchCommand {
  static override summary = "Measure write throughput and latency: closed-loop clients putting random keys.";
  static override description =
    "Each of --clients clients keeps one put in flight on one of --conns connections (ZkSession streams by default, --transport unary for one RPC per put), writing --value-size bytes to a random key of --keys under --prefix. After --warmup ms it measures for --duration ms and prints ops/s and latency percentiles (HDR histogram) and errors by code; --json prints one object. A live progress line goes to stderr on a terminal; Ctrl-C stops early and reports what was measured.";

  static override examples = [
    "<%= config.bin %> bench put --clients 64 --duration 3000",
    "<%= config.bin %> bench put --clients 1 --duration 2000 --json",
    "<%= config.bin %> bench put --clients 64 --conns 4 --transport unary --duration 2000 --endpoints 127.0.0.1:7001,127.0.0.1:7002",
  ];

  static override flags = { ...loadFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchPut);
    await this.bench("put", flags);
  }
}
