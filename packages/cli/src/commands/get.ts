import { isUtf8 } from "node:buffer";
import { writeFileSync } from "node:fs";
import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import type { GetResponse } from "@zk/node/client";
import { ZkCommand, readFlags } from "../base.js";
import { keyToPath } from "../lib/keys.js";
import { printLine } from "../lib/output.js";
import { statJson, statLines } from "../lib/znode.js";

export default class Get extends ZkCommand {
  static override summary = "Read a key's value.";
  static override description =
    "Prints the value's raw bytes (a newline follows only on a terminal; never with --raw); --output-file FILE writes them to FILE instead, untouched; --stat adds a newline and the node's Stat, one \"name  value\" line per field (version, cversion, czxid, mzxid, pzxid, ctime, mtime, ephemeralOwner, numChildren, dataLength). With --json prints {\"path\",\"value\",\"version\",\"zxid\",...stat}; a value that is not valid UTF-8 is base64 with \"encoding\":\"base64\". Linearizable by default; --consistency local reads the answering node's applied state (it may be stale). Exit 3 when the key does not exist.";

  static override examples = ["<%= config.bin %> get app/config", "<%= config.bin %> get /app/config --raw > config.bin", "<%= config.bin %> get /app/config --stat", "<%= config.bin %> get /app/config --consistency local --endpoints 127.0.0.1:7002 --json"];

  static override args = {
    key: Args.string({ ignoreStdin: true, description: "Key (app/config means /app/config) or absolute path", required: true }),
  };

  static override flags = {
    ...readFlags,
    stat: Flags.boolean({ description: "Also print the node's Stat (in --json it is always there).", default: false, exclusive: ["raw"] }),
    raw: Flags.boolean({ description: "Print exactly the stored bytes, with no newline even on a terminal.", default: false, exclusive: ["json", "stat"] }),
    "output-file": Flags.string({ char: "o", description: "Write the stored bytes to this file (created or replaced) instead of stdout.", exclusive: ["json"] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Get);
    const path = await keyToPath(args.key);
    const client = await this.connect(flags);
    const res = await client.get(path, { consistency: flags.consistency });
    if (flags.json) {
      printLine(JSON.stringify(getResultJson(res)));
      return;
    }
    if (flags["output-file"] !== undefined) {
      writeFileSync(flags["output-file"], res.data);
      if (flags.stat) printLine(statLines(res.stat).join("\n"));
      return;
    }
    process.stdout.write(res.data);
    if (flags.raw) return;
    if (flags.stat) {
      const endsWithNewline = res.data.length > 0 && res.data[res.data.length - 1] === 0x0a;
      process.stdout.write((endsWithNewline ? "" : "\n") + statLines(res.stat).join("\n") + "\n");
    } else if (process.stdout.isTTY) process.stdout.write("\n");
  }
}

export function getResultJson(res: GetResponse): Record<string, unknown> {
  const data = Buffer.from(res.data.buffer, res.data.byteOffset, res.data.byteLength);
  const utf8 = isUtf8(data);
  const { version, ...stat } = statJson(res.stat);
  return {
    path: res.path,
    value: utf8 ? data.toString("utf8") : data.toString("base64"),
    ...(utf8 ? {} : { encoding: "base64" }),
    version,
    zxid: res.zxid,
    ...stat,
    dataLength: res.stat ? stat.dataLength : data.length,
  };
}
