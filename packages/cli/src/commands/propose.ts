import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { usageError } from "../lib/errors.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { valueArg } from "../lib/values.js";
import { upsert } from "../lib/znode.js";
import { putResultJson, putResultLine, WINDOW_DEFAULT, WINDOW_MAX } from "../lib/put-result.js";

export default class Propose extends ZkCommand {
  static override summary = "Write a value: create the key or replace its value.";
  static override description = [
    'KEY is relative to the root (app/config means /app/config) or an absolute path; missing parents are created as empty persistent nodes (like create --parents). VALUE is stored as given (its bytes); "-" reads the whole of stdin as the value, --file FILE the bytes of a file.',
    'With --stdin, reads lines "key value" (the first space splits) or NDJSON {"key","value"} and writes them over one session stream with up to --window writes in flight (it starts at 64, grows while answers come back within an eighth of --timeout, and halves when one takes longer than a quarter, so that a slow cluster is not sent more than it answers in time), printing one result per line in input order and a summary (count, seconds, ops/s) on stderr. A failing line is reported on stderr and the rest go on; the exit code is that of the first failing line. A "key value" line must be UTF-8 (one that is not fails with exit 2, naming its line); binary values go as NDJSON with "encoding":"base64" (strict base64: anything else fails with exit 2).',
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> propose app/config '{\"debug\":true}'",
    "<%= config.bin %> propose /app/config - < config.json",
    "seq 1 1000 | sed 's/.*/k& v&/' | <%= config.bin %> propose --stdin --json",
  ];

  static override args = {
    key: Args.string({ ignoreStdin: true, description: "Key (app/config means /app/config) or absolute path", required: false }),
    value: Args.string({ ignoreStdin: true, description: 'Value, or "-" to read it from stdin', required: false }),
  };

  static override flags = {
    ...clientFlags,
    stdin: Flags.boolean({ description: "Read many \"key value\" lines or NDJSON objects from stdin.", default: false }),
    file: Flags.string({ description: "Read the value from this file (its bytes, untouched) instead of VALUE." }),
    window: Flags.integer({ description: "With --stdin: the most writes in flight at once (fewer while answers are slow).", default: WINDOW_DEFAULT, min: 1, max: WINDOW_MAX }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Propose);
    if (flags.stdin) {
      if (args.key !== undefined || flags.file !== undefined) throw usageError("--stdin takes no KEY or VALUE arguments; each stdin line is `key value` or a JSON object");
      const { proposeStream } = await import("../lib/propose.js");
      const { openBulkTarget } = await import("../lib/put-target.js");
      const client = await this.connectLeaderFirst(flags);
      const bulk = await openBulkTarget(client, flags.timeout);
      try {
        process.exitCode = await proposeStream(bulk.target, process.stdin, { json: flags.json, window: flags.window, timeoutMs: flags.timeout });
      } finally {
        await bulk.close();
      }
      return;
    }
    if (args.key === undefined || (args.value === undefined && flags.file === undefined)) {
      throw usageError(`propose needs KEY and VALUE (or --stdin); e.g. zk-cli propose app/config value`);
    }
    const path = await keyToPath(args.key);
    const data = await valueArg(args.value, flags.file, "VALUE");
    const client = await this.connect(flags);
    const res = await upsert(client, path, data);
    printLine(flags.json ? JSON.stringify(putResultJson(res)) : putResultLine(res));
  }
}
