import { ZkCommand, clientFlags } from "../base.js";
import { usageError } from "../lib/errors.js";
import { nonUtf8Line, readStdin } from "../lib/values.js";
import { note, printJsonLines, printTable } from "../lib/output.js";
import { isZkError } from "../lib/znode.js";

export default class Txn extends ZkCommand {
  static override summary = "Run several ops from stdin as one all-or-nothing transaction (multi).";
  static override description = [
    'Reads the ops as JSON from stdin: one array, or one object per line. Each has "op" (check, create, set, put, delete) and "path"; create/set/put take "data" (text; with "encoding":"base64" bytes; another JSON value is stored as its JSON text); check/set/put/delete take "version" (the version the node must have); create takes "sequential". A check only asserts that the node exists (at "version" if given). Ops apply in order, later ones seeing earlier ones, all at one zxid, or none at all.',
    'Prints one line per op (index, op, path, resulting version, zxid); with --json one object per op {"index","op","path","zxid",...}. When an op fails nothing is applied: the error names the op (its index from 0) and the exit code is that op\'s (3 no node, 4 version conflict / exists / not empty).',
  ].join("\n\n");

  static override examples = [
    `echo '[{"op":"check","path":"/a","version":1},{"op":"create","path":"/b","data":"x"},{"op":"set","path":"/a","data":"y","version":1},{"op":"delete","path":"/c"}]' | <%= config.bin %> txn`,
    "<%= config.bin %> txn --json < ops.ndjson",
  ];

  static override flags = { ...clientFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Txn);
    const { parseTxn, txnResults } = await import("../lib/txn.js");
    if (process.stdin.isTTY) note("reading ops from stdin (a JSON array, or one object per line); end with Ctrl-D");
    const input = await readStdin();
    const bad = nonUtf8Line(input);
    if (bad !== null) throw usageError(`line ${bad} of stdin is not valid UTF-8; JSON is text: give binary data as base64 with "encoding":"base64"`);
    const ops = await parseTxn(input.toString("utf8"));
    const client = await this.connect(flags);
    let res;
    try {
      res = await client.multi(ops.map((o) => o.wire));
    } catch (e) {
      const i = isZkError(e) ? e.extra.opIndex : undefined;
      if (isZkError(e) && i !== undefined && ops[i]) {
        const why = e.message.replace(/^multi op \d+: /, "");
        e.message = `txn op ${i} (${ops[i]!.op} ${ops[i]!.path}) failed: ${why}; nothing was applied`;
      }
      throw e;
    }
    const rows = txnResults(ops, res);
    if (flags.json) printJsonLines(rows.map((r) => r.json));
    else
      printTable(rows, [
        { header: "#", get: (r) => r.index, right: true },
        { header: "OP", get: (r) => r.op },
        { header: "PATH", get: (r) => r.path },
        { header: "VERSION", get: (r) => r.version, right: true },
        { header: "ZXID", get: (r) => r.zxid, right: true },
      ]);
  }
}
