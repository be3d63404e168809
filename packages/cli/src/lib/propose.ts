// `zk-cli propose --stdin`: many writes from a pipeline. Lines are parsed as they arrive and
// written with a bounded window of requests in flight; results come out in input order, so
// the window also bounds how many finished results wait for a slow one ahead of them.
import { isUtf8 } from "node:buffer";
import type { PutResponse, ZkError } from "@zk/node/client";
import { CliError, EXIT_ERROR, EXIT_OK, EXIT_USAGE, oneLine, zkExitCode } from "./errors.js";
import { keyToPath, simpleKeyToPath } from "./keys.js";
import { putResultJson, putResultLine } from "./put-result.js";
import { checkValueSize, decodeBase64 } from "./values.js";
import { WriteWindow } from "./write-window.js";
import { upsert, type UpsertTarget } from "./znode.js";


interface Slot {
  readonly line: number;
  done: boolean;
  /** The stdout line, without its newline (null: nothing for stdout). */
  out: string | null;
  /** The error to report, without "zk-cli: " (null: success). */
  error: string | null;
  code: number;
}

/**
 * One input line (its bytes, without the newline) as a put, or why it is not one. A JSON line
 * may carry any bytes as base64 ("encoding":"base64"); a "key value" line is text and must be
 * UTF-8, so that no byte is silently replaced.
 */
export function parseLine(bytes: Buffer): { key: string; value: Buffer } | { error: string } {
  if (!isUtf8(bytes)) {
    return { error: 'not valid UTF-8; send binary values as NDJSON {"key":"k","value":"<base64>","encoding":"base64"}' };
  }
  if (bytes[0] === 0x7b) {
    const text = bytes.toString("utf8");
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (e) {
      return { error: `not valid JSON: ${(e as Error).message}` };
    }
    const obj = o as { key?: unknown; value?: unknown; encoding?: unknown };
    if (typeof obj !== "object" || obj === null || typeof obj.key !== "string") return { error: 'a JSON line needs a string "key"' };
    if (obj.value === undefined) return { error: 'a JSON line needs a "value"' };
    if (obj.encoding === "base64") {
      if (typeof obj.value !== "string") return { error: 'with "encoding":"base64" the "value" must be a string' };
      const value = decodeBase64(obj.value);
      if (value === null) return { error: '"value" is not valid base64 (standard alphabet A-Z a-z 0-9 + /, padded with =)' };
      return { key: obj.key, value };
    }
    if (obj.encoding !== undefined && obj.encoding !== "utf8") return { error: `unknown "encoding" ${JSON.stringify(obj.encoding)}: use "utf8" or "base64"` };
    // A non-string value is stored as its JSON text.
    return { key: obj.key, value: Buffer.from(typeof obj.value === "string" ? obj.value : JSON.stringify(obj.value), "utf8") };
  }
  const sp = bytes.indexOf(0x20);
  if (sp <= 0) return { error: 'expected "key value" (the first space splits) or a JSON object {"key","value"}' };
  return { key: bytes.toString("utf8", 0, sp), value: bytes.subarray(sp + 1) };
}

/**
 * Write every line of `input`; returns the exit code: 0, or the code of the first failing
 * line in input order. A summary (count, seconds, ops/s) goes to stderr.
 */
/** How many printed slots may pile up at the queue's front before it is compacted. */
const QUEUE_COMPACT_AT = 8192;

/** What proposeStream writes through: a ZkClient (unary calls) or a ZkSession (one stream). */
export type PutTarget = UpsertTarget;

export interface ProposeStreamOptions {
  readonly json: boolean;
  /** The most writes in flight (--window); fewer while answers are slow (WriteWindow). */
  readonly window: number;
  /** Each write's deadline (--timeout): answers slower than a quarter of it shrink the window. */
  readonly timeoutMs: number;
  /** Where results and errors go (tests); stdout and stderr by default. */
  readonly write?: (to: "out" | "err", text: string) => void;
}

export async function proposeStream(client: PutTarget, input: NodeJS.ReadableStream, opts: ProposeStreamOptions): Promise<number> {
  const clientModule = await import("@zk/node/client");
  const { errorCodeName } = clientModule;
  const started = process.hrtime.bigint();
  const write = opts.write ?? ((to: "out" | "err", text: string) => void (to === "out" ? process.stdout : process.stderr).write(text));
  const window = WriteWindow.forTimeout(opts.window, opts.timeoutMs);
  const queue: Slot[] = [];
  const parentsMade = new Map<string, Promise<void>>();
  let head = 0;
  let firstCode = EXIT_OK;
  let ok = 0;
  let failed = 0;
  let wake: (() => void) | null = null;

  const flush = () => {
    let out = "";
    let err = "";
    while (head < queue.length && queue[head]!.done) {
      const s = queue[head]!;
      queue[head++] = undefined as unknown as Slot; // let it be collected
      if (s.out !== null) out += s.out + "\n";
      if (s.error !== null) {
        err += `zk-cli: line ${s.line}: ${s.error}\n`;
        failed++;
        if (firstCode === EXIT_OK) firstCode = s.code;
      } else {
        ok++;
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head >= QUEUE_COMPACT_AT && head * 2 >= queue.length) {
      // Never empty under a steady stream: drop the printed prefix now and then.
      queue.splice(0, head);
      head = 0;
    }
    if (out) write("out", out);
    if (err) write("err", err);
  };

  const settle = () => {
    flush();
    wake?.();
  };

  const fail = (s: Slot, error: string, code: number, key: string | null, label = codeName(code)) => {
    s.done = true;
    s.error = error;
    s.code = code;
    if (opts.json) s.out = JSON.stringify({ line: s.line, key, error: { code: label, message: error } });
  };

  const finish = (s: Slot, res: PutResponse) => {
    s.done = true;
    s.out = opts.json ? JSON.stringify(putResultJson(res)) : putResultLine(res);
  };
  const failWith = (s: Slot, key: string, e: unknown) => {
    const err = e as Error;
    const zk = err.name === "ZkError" ? (err as ZkError) : null;
    const code = err instanceof CliError ? err.exitCode : zk ? zkExitCode(clientModule, zk) : EXIT_ERROR;
    fail(s, `${key}: ${oneLine(err.message)}`, code, key, zk ? errorCodeName(zk.code) : codeName(code));
  };

  const start = (s: Slot, text: Buffer): Promise<void> => {
    const parsed = parseLine(text);
    if ("error" in parsed) {
      fail(s, parsed.error, EXIT_USAGE, null);
      return Promise.resolve();
    }
    try {
      checkValueSize(parsed.value);
    } catch (e) {
      failWith(s, parsed.key, e);
      return Promise.resolve();
    }
    const put = (path: string) => upsert(client, path, parsed.value, parentsMade).then((res) => finish(s, res), (e: unknown) => failWith(s, parsed.key, e));
    // Most keys are plain: no promise for the path check (CPU spent here is taken from the
    // nodes when they share the machine).
    const path = simpleKeyToPath(parsed.key);
    if (path !== null) return put(path);
    return keyToPath(parsed.key).then(put, (e: unknown) => failWith(s, parsed.key, e));
  };

  // Lines are taken as they come while fewer than `window` are unfinished; past that the
  // input is paused, and the rest of the current chunk's lines wait in `backlog` (bounded by
  // one chunk). Lines are split as bytes (on "\n", a "\r" before it dropped) and only then
  // decoded, so that bytes that are not UTF-8 are seen, not replaced.
  let lineNo = 0;
  let inputDone = false;
  const backlog: { line: number; text: Buffer }[] = [];
  let paused = false;
  const inFlight = () => queue.length - head;
  const launch = (line: number, text: Buffer) => {
    const s: Slot = { line, done: false, out: null, error: null, code: EXIT_OK };
    queue.push(s);
    const ticket = window.launch();
    const sent = performance.now();
    void start(s, text).then(() => {
      window.answered(ticket, performance.now() - sent);
      settle();
    });
  };
  const pump = () => {
    while (backlog.length > 0 && inFlight() < window.limit) {
      const b = backlog.shift()!;
      launch(b.line, b.text);
    }
    if (paused && backlog.length === 0 && inFlight() < window.limit) {
      paused = false;
      input.resume();
    }
  };
  const onLine = (raw: Buffer) => {
    lineNo++;
    const text = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, -1) : raw;
    if (isBlank(text)) return;
    if (backlog.length > 0 || inFlight() >= window.limit) {
      backlog.push({ line: lineNo, text });
      if (!paused) {
        paused = true;
        input.pause();
      }
      return;
    }
    launch(lineNo, text);
  };
  await new Promise<void>((resolve, reject) => {
    const maybeDone = () => {
      if (inputDone && backlog.length === 0 && inFlight() === 0) resolve();
    };
    wake = () => {
      pump();
      maybeDone();
    };
    // The start of a line whose newline has not arrived yet (a long line spans chunks).
    let partial: Buffer[] = [];
    input.on("data", (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      let from = 0;
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, from)) {
        const piece = buf.subarray(from, nl);
        onLine(partial.length > 0 ? Buffer.concat([...partial, piece]) : piece);
        partial = [];
        from = nl + 1;
      }
      if (from < buf.length) partial.push(buf.subarray(from));
    });
    input.on("end", () => {
      if (partial.length > 0) onLine(Buffer.concat(partial));
      partial = [];
      inputDone = true;
      pump();
      maybeDone();
    });
    input.on("error", reject);
  });

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const total = ok + failed;
  const rate = seconds > 0 ? Math.round(total / seconds) : total;
  write("err", `proposed ${ok} of ${total} in ${seconds.toFixed(2)} s (${rate} ops/s)${failed ? `, ${failed} failed` : ""}\n`);
  return firstCode;
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) return false;
  return true;
}

function codeName(exit: number): string {
  return ["ok", "error", "usage", "not_found", "conflict", "unavailable"][exit] ?? "error";
}
