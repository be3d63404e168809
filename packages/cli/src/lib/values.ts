// Values as bytes, exactly as the user gave them: from an argument, a file (--file) or stdin.
// Nothing is re-encoded on the way in: an argument that is not UTF-8 is taken from the raw
// command line, base64 is decoded strictly (a typo is an error, not shorter data), and a value
// no node can accept is refused before it is sent.
import { readFileSync } from "node:fs";
import { isUtf8 } from "node:buffer";
import { usageError } from "./errors.js";

/**
 * The most --data-bytes-max allows a node (packages/node/src/config.ts): a larger value cannot
 * be stored by any cluster, and above the client's message limit gRPC would only say so in
 * its own words.
 */
export const VALUE_BYTES_MAX = 16 * 1024 * 1024;

/** A value argument: its text, "-" for the whole of stdin, `file` for a file's bytes, neither for empty. */
export async function valueArg(arg: string | undefined, file: string | undefined, what = "DATA"): Promise<Buffer> {
  if (file !== undefined) {
    if (arg !== undefined) throw usageError(`pass the value either as ${what} or with --file, not both`);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw usageError(`cannot read --file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return checkValueSize(bytes);
  }
  if (arg === undefined) return Buffer.alloc(0);
  if (arg === "-") return checkValueSize(await readStdin());
  return checkValueSize(argBytes(arg));
}

export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** Refuse a value larger than any node stores (exit 2, not gRPC's "message too large"). */
export function checkValueSize(bytes: Buffer): Buffer {
  if (bytes.length > VALUE_BYTES_MAX) {
    throw usageError(`data is ${bytes.length} bytes; the limit is ${VALUE_BYTES_MAX} bytes at most (zk-node --data-bytes-max, default 1048576)`);
  }
  return bytes;
}

/**
 * The bytes of a command-line argument. Node decodes argv as UTF-8, turning bytes that are not
 * into U+FFFD; such an argument is looked up in the raw command line (Linux /proc) so that its
 * bytes are stored as given. Where the raw bytes cannot be read, it is refused.
 */
export function argBytes(arg: string, rawArgv: () => Buffer[] = procCmdline): Buffer {
  if (!arg.includes("\uFFFD")) return Buffer.from(arg, "utf8");
  const raw = rawArgv();
  const matches = raw.filter((r) => !isUtf8(r) && r.toString("utf8") === arg);
  const first = matches[0];
  if (first !== undefined && matches.every((m) => m.equals(first))) return first;
  if (raw.length > 0 && matches.length === 0) return Buffer.from(arg, "utf8"); // a real U+FFFD, typed as UTF-8
  throw usageError("an argument is not valid UTF-8 and could not be read as bytes; pass binary data with --file or on stdin (-)");
}

function procCmdline(): Buffer[] {
  try {
    const raw = readFileSync("/proc/self/cmdline");
    const out: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === 0) {
        out.push(raw.subarray(start, i));
        start = i + 1;
      }
    }
    return out;
  } catch {
    return [];
  }
}

/** The number (from 1) of the first line of `bytes` that is not UTF-8; null when all are. */
export function nonUtf8Line(bytes: Buffer): number | null {
  if (isUtf8(bytes)) return null;
  let line = 1;
  let from = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, from);
    const end = nl < 0 ? bytes.length : nl;
    if (!isUtf8(bytes.subarray(from, end))) return line;
    if (nl < 0) return null;
    from = nl + 1;
    line++;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (padded, no whitespace); null when `text` is not. */
export function decodeBase64(text: string): Buffer | null {
  return BASE64.test(text) ? Buffer.from(text, "base64") : null;
}
