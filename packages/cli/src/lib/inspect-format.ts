// One readable line per replicated command, for `zk-cli inspect`: `put /a "value" v=any`,
// `create /locks/l- "" ephemeral session=0x1f sequential`, `multi [set /a "x" v=3; delete /b v=any]`,
// `no-op`. Values are shown as quoted text when they are printable UTF-8, else as hex, and
// cut to a few dozen characters with their full size.
import { isUtf8 } from "node:buffer";
import type { decodeCommand } from "@zk/node/tree";
import { aclText } from "@zk/node/tree";

export type Command = ReturnType<typeof decodeCommand>;
type Op = NonNullable<Command["op"]>;
type MultiOp = Extract<Op, { $case: "multi" }>["value"]["ops"][number];

/** Characters of a value shown before it is cut. */
export const VALUE_CHARS_SHOWN = 40;
/** Bytes of a binary value shown (as hex) before it is cut. */
const BINARY_BYTES_SHOWN = 16;

export function describeCommand(cmd: Command): string {
  const op = cmd.op;
  if (!op) return "empty command";
  switch (op.$case) {
    case "put":
      return `put ${op.value.path} ${describeData(op.value.data)} v=${version(op.value.expectedVersion)}`;
    case "create": {
      const c = op.value;
      const kind = c.options?.container ? " container" : (c.options?.ttlMs ?? 0) > 0 ? ` ttl=${c.options!.ttlMs}ms` : "";
      const acl = c.options && c.options.acl.length > 0 ? ` acl=${aclText(c.options.acl)}` : "";
      return `create ${c.path} ${describeData(c.data)}${c.ephemeral ? ` ephemeral session=${sessionId(c.sessionId)}` : ""}${c.sequential ? " sequential" : ""}${kind}${acl}`;
    }
    case "set":
      return `set ${op.value.path} ${describeData(op.value.data)} v=${version(op.value.expectedVersion)}`;
    case "delete":
      return `delete ${op.value.path} v=${version(op.value.expectedVersion)}`;
    case "multi":
      return `multi [${op.value.ops.map(describeMultiOp).join("; ")}]`;
    case "openSession":
      return `open-session ${sessionId(op.value.sessionId)} ttl=${op.value.ttlMs}ms`;
    case "closeSession":
      return `close-session ${sessionId(op.value.sessionId)}`;
    case "expireSession":
      return `expire-session ${sessionId(op.value.sessionId)}`;
    case "noop":
      return "no-op";
    case "setAcl":
      return `set-acl ${op.value.path} ${aclText(op.value.acl)} aversion=${version(op.value.expectedAversion)}`;
    case "reapNode":
      return `reap ${op.value.path}`;
    default:
      return `unknown op ${(op as { $case: string }).$case}`;
  }
}

function describeMultiOp(o: MultiOp): string {
  const op = o.op;
  if (!op) return "empty op";
  switch (op.$case) {
    case "put":
    case "create":
    case "set":
    case "delete":
      return describeCommand({ requestId: "", timeMs: 0, nonce: 0, op });
    case "check":
      return `check ${op.value.path} v=${version(op.value.expectedVersion)}`;
    default:
      return `unknown op ${(op as { $case: string }).$case}`;
  }
}

/** The op's name and path, for --json. */
export function opSummary(cmd: Command): { op: string; path: string | null } {
  const op = cmd.op;
  if (!op) return { op: "empty", path: null };
  const names: Partial<Record<string, string>> = { openSession: "open-session", closeSession: "close-session", expireSession: "expire-session", noop: "no-op", setAcl: "set-acl", reapNode: "reap" };
  const name = names[op.$case] ?? op.$case;
  const path = "path" in op.value && typeof op.value.path === "string" ? op.value.path : null;
  return { op: name, path };
}

function version(v: number | undefined): string {
  return v === undefined || v === -1 ? "any" : String(v);
}

function sessionId(id: number): string {
  return `0x${id.toString(16)}`;
}

export function describeData(data: Uint8Array): string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (isUtf8(buf)) {
    const text = buf.toString("utf8");
    if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) {
      const chars = [...text];
      if (chars.length <= VALUE_CHARS_SHOWN) return JSON.stringify(text);
      return `${JSON.stringify(chars.slice(0, VALUE_CHARS_SHOWN).join(""))}... (${buf.length} bytes)`;
    }
  }
  const hex = buf.subarray(0, BINARY_BYTES_SHOWN).toString("hex");
  return `0x${hex}${buf.length > BINARY_BYTES_SHOWN ? "..." : ""} (${buf.length} bytes)`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
