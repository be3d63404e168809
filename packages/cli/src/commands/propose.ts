import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { ZkCommand, clientFlags } from "../base.js";
import { usageError } from "../lib/errors.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { putResultJson, putResultLine, WINDOW_DEFAULT, WINDOW_MAX } from "../lib/put-result.js";

export default class Propose extends ZkCommand {
  static override summary = "Write a value: create the key or replace its value.";
  static override description = [
    'A bare key k means the path /k; a key containing "/" must be an absolute path. VALUE "-" reads the whole of stdin as the value.',
    'With --stdin, reads lines "key value" (the first space splits) or NDJSON {"key","value"} and writes them over one session stream with up to --window writes in flight, printing one result per line in input order and a summary (count, seconds, ops/s) on stderr. A failing line is reported on stderr and the rest go on; the exit code is that of the first failing line.',
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> propose app/config '{\"debug\":true}'",
    "<%= config.bin %> propose /app/config - < config.json",
    "seq 1 1000 | sed 's/.*/k& v&/' | <%= config.bin %> propose --stdin --json",
  ];

  static override args = {
    key: Args.string({ ignoreStdin: true, description: "Key (k means /k) or absolute path", required: false }),
    value: Args.string({ ignoreStdin: true, description: 'Value, or "-" to read it from stdin', required: false }),
  };

  static override flags = {
    ...clientFlags,
    stdin: Flags.boolean({ description: "Read many \"key value\" lines or NDJSON objects from stdin.", default: false }),
    window: Flags.integer({ description: "With --stdin: the most writes in flight at once.", default: WINDOW_DEFAULT, min: 1, max: WINDOW_MAX }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Propose);
    if (flags.stdin) {
      if (args.key !== undefined) throw usageError("--stdin takes no KEY or VALUE arguments; each stdin line is `key value` or a JSON object");
      const { proposeStream } = await import("../lib/propose.js");
      const { openBulkTarget } = await import("../lib/put-target.js");
      const client = await this.connectLeaderFirst(flags);
      const bulk = await openBulkTarget(client, flags.timeout);
      try {
        process.exitCode = await proposeStream(bulk.target, process.stdin, { json: flags.json, window: flags.window });
      } finally {
        await bulk.close();
      }
      return;
    }
    if (args.key === undefined || args.value === undefined) {
      throw usageError(`propose needs KEY and VALUE (or --stdin); e.g. zk-cli propose app/config value`);
    }
    const path = await keyToPath(args.key);
    const data = args.value === "-" ? await readAll(process.stdin) : Buffer.from(args.value, "utf8");
    const client = await this.connect(flags);
    const res = await client.put(path, data);
    printLine(flags.json ? JSON.stringify(putResultJson(res)) : putResultLine(res));
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
