// `zk-cli txn`: ops as JSON (one array, or one object per line) turned into one multi, and
// its results back into lines. Parsing is strict (an unknown field is an error, not ignored):
// a typo in "version" must not turn a compare-and-set into a blind write.
import type { MultiResponse, Op } from "@zk/node/client";
import { usageError } from "./errors.js";
import { keyToPath } from "./keys.js";
import { checkValueSize, decodeBase64 } from "./values.js";
import { statJson } from "./znode.js";

export type TxnOpName = "check" | "create" | "set" | "delete" | "put";

export interface TxnOp {
  readonly op: TxnOpName;
  readonly path: string;
  readonly wire: Op;
}

const FIELDS: Record<TxnOpName, readonly string[]> = {
  check: ["op", "path", "version"],
  create: ["op", "path", "data", "encoding", "sequential"],
  set: ["op", "path", "data", "encoding", "version"],
  put: ["op", "path", "data", "encoding", "version"],
  delete: ["op", "path", "version"],
};

/** The ops of a txn from its input text: a JSON array, or NDJSON (one object per line). */
export async function parseTxn(text: string): Promise<TxnOp[]> {
  const trimmed = text.trim();
  if (trimmed === "") throw usageError('no ops on stdin; expected a JSON array like [{"op":"create","path":"/a","data":"x"}] or one object per line');
  let items: { value: unknown; where: string }[];
  if (trimmed.startsWith("[")) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch (e) {
      throw usageError(`stdin is not valid JSON: ${(e as Error).message}`);
    }
    items = (arr as unknown[]).map((value, i) => ({ value, where: `op ${i}` }));
  } else {
    items = [];
    const lines = text.split("\n");
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!.trim();
      if (line === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw usageError(`line ${n + 1} is not valid JSON: ${(e as Error).message}`);
      }
      items.push({ value, where: `op ${items.length} (line ${n + 1})` });
    }
  }
  if (items.length === 0) throw usageError("no ops on stdin: the array is empty");
  const ops: TxnOp[] = [];
  for (const { value, where } of items) ops.push(await parseOp(value, where));
  return ops;
}

async function parseOp(value: unknown, where: string): Promise<TxnOp> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw usageError(`${where}: expected an object like {"op":"set","path":"/a","data":"x"}`);
  const o = value as Record<string, unknown>;
  const op = o.op;
  if (typeof op !== "string" || !(op in FIELDS)) throw usageError(`${where}: "op" must be one of ${Object.keys(FIELDS).join(", ")}`);
  const name = op as TxnOpName;
  if (o.ephemeral !== undefined) throw usageError(`${where}: txn cannot create ephemeral nodes (its session ends with the command); use zk-cli create --ephemeral`);
  for (const k of Object.keys(o)) {
    if (!FIELDS[name].includes(k)) throw usageError(`${where}: unknown field ${JSON.stringify(k)} for ${name} (fields: ${FIELDS[name].join(", ")})`);
  }
  if (typeof o.path !== "string") throw usageError(`${where}: "path" must be a string`);
  let path: string;
  try {
    path = await keyToPath(o.path);
  } catch (e) {
    throw usageError(`${where}: ${(e as Error).message}`);
  }
  const version = o.version;
  if (version !== undefined && (typeof version !== "number" || !Number.isInteger(version) || version < -1)) {
    throw usageError(`${where}: "version" must be an integer >= 0 (or -1: any)`);
  }
  const expectedVersion = version as number | undefined;
  const data = () => dataOf(o, where);
  let wire: Op;
  switch (name) {
    case "check":
      wire = { op: { $case: "check", value: { path, expectedVersion } } };
      break;
    case "create":
      if (o.sequential !== undefined && typeof o.sequential !== "boolean") throw usageError(`${where}: "sequential" must be true or false`);
      wire = { op: { $case: "create", value: { path, data: data(), ephemeral: false, sequential: o.sequential === true, sessionId: 0 } } };
      break;
    case "set":
      wire = { op: { $case: "set", value: { path, data: data(), expectedVersion } } };
      break;
    case "put":
      wire = { op: { $case: "put", value: { path, data: data(), expectedVersion } } };
      break;
    case "delete":
      wire = { op: { $case: "delete", value: { path, expectedVersion } } };
      break;
  }
  return { op: name, path, wire };
}

function dataOf(o: Record<string, unknown>, where: string): Buffer {
  const { data, encoding } = o;
  if (data === undefined) return Buffer.alloc(0);
  if (encoding === "base64") {
    if (typeof data !== "string") throw usageError(`${where}: with "encoding":"base64" the "data" must be a string`);
    const bytes = decodeBase64(data);
    if (bytes === null) throw usageError(`${where}: "data" is not valid base64 (standard alphabet A-Z a-z 0-9 + /, padded with =); nothing was applied`);
    return checkValueSize(bytes);
  }
  if (encoding !== undefined && encoding !== "utf8") throw usageError(`${where}: unknown "encoding" ${JSON.stringify(encoding)}: use "utf8" or "base64"`);
  // A non-string value is stored as its JSON text.
  return checkValueSize(Buffer.from(typeof data === "string" ? data : JSON.stringify(data), "utf8"));
}

export interface TxnResultRow {
  readonly index: number;
  readonly op: TxnOpName;
  readonly path: string;
  readonly zxid: number;
  /** The node's version after the op (absent for delete and check). */
  readonly version?: number;
  readonly created?: boolean;
  readonly json: Record<string, unknown>;
}

export function txnResults(ops: readonly TxnOp[], res: MultiResponse): TxnResultRow[] {
  return ops.map((op, index) => {
    const r = res.results[index]?.result;
    const base = { index, op: op.op, path: op.path, zxid: res.zxid };
    switch (r?.$case) {
      case "create":
        return { ...base, path: r.value.path, version: 0, json: { ...base, path: r.value.path, ...statJson(r.value.stat) } };
      case "set":
        return { ...base, version: r.value.stat?.version ?? 0, json: { ...base, ...statJson(r.value.stat) } };
      case "put":
        return { ...base, version: r.value.version, created: r.value.created, json: { ...base, version: r.value.version, created: r.value.created } };
      default:
        return { ...base, json: base };
    }
  });
}
