// How znodes look on the command line: a Stat as JSON fields and as readable lines, data as
// text (base64 only when it is not UTF-8), the small argument helpers the tree commands
// share (a path that may be a sequential prefix), and propose's upsert.
import { isUtf8 } from "node:buffer";
import type { ErrorCode, GetResponse, PutResponse, ZkError } from "@zk/node/client";
import { usageError } from "./errors.js";
import { keyToPath } from "./keys.js";

export type Stat = NonNullable<GetResponse["stat"]>;

/** The ErrorCodes the tree commands act on, named without loading the client at startup. */
export const CODE = { NO_NODE: 1, NODE_EXISTS: 2, BAD_VERSION: 3, NOT_EMPTY: 4 } as const satisfies {
  NO_NODE: ErrorCode.NO_NODE;
  NODE_EXISTS: ErrorCode.NODE_EXISTS;
  BAD_VERSION: ErrorCode.BAD_VERSION;
  NOT_EMPTY: ErrorCode.NOT_EMPTY;
};

export function isZkError(e: unknown, code?: number): e is ZkError {
  return (e as Error)?.name === "ZkError" && (code === undefined || (e as ZkError).code === code);
}

/** Add a hint to a ZkError of `code` (its message is what the user reads), then rethrow it. */
export function rethrowWithHint(e: unknown, code: number, hint: string): never {
  if (isZkError(e, code) && !e.message.includes(hint)) e.message += ` (${hint})`;
  throw e;
}

/** A Stat as flat JSON fields (the names `get --json` has always used). */
export interface StatJson {
  version: number;
  cversion: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctimeMs: number;
  mtimeMs: number;
  ephemeralOwner: number;
  numChildren: number;
  dataLength: number;
}

export function statJson(st: Stat | undefined): StatJson {
  return {
    version: st?.version ?? 0,
    cversion: st?.cversion ?? 0,
    czxid: st?.czxid ?? 0,
    mzxid: st?.mzxid ?? 0,
    pzxid: st?.pzxid ?? 0,
    ctimeMs: st?.ctimeMs ?? 0,
    mtimeMs: st?.mtimeMs ?? 0,
    ephemeralOwner: st?.ephemeralOwner ?? 0,
    numChildren: st?.numChildren ?? 0,
    dataLength: st?.dataLength ?? 0,
  };
}

/** A Stat as aligned "name  value" lines, ZooKeeper's `stat` order; times in ISO 8601 UTC. */
export function statLines(st: Stat | undefined): string[] {
  const s = statJson(st);
  const rows: [string, string | number][] = [
    ["version", s.version],
    ["cversion", s.cversion],
    ["czxid", s.czxid],
    ["mzxid", s.mzxid],
    ["pzxid", s.pzxid],
    ["ctime", isoTime(s.ctimeMs)],
    ["mtime", isoTime(s.mtimeMs)],
    ["ephemeralOwner", s.ephemeralOwner],
    ["numChildren", s.numChildren],
    ["dataLength", s.dataLength],
  ];
  return rows.map(([k, v]) => `${k.padEnd(14)}  ${v}`);
}

export function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : "-";
}

/** Data for JSON: text when it is UTF-8, else base64 with `encoding: "base64"`. */
export function dataJson(bytes: Uint8Array): { value: string; encoding?: "base64" } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(b) ? { value: b.toString("utf8") } : { value: b.toString("base64"), encoding: "base64" };
}

/**
 * A PATH argument for create: a key (app/config means /app/config) or absolute path; with
 * `sequential` it is the prefix of the name and may end with "/" ("/q/" makes "/q/0000000007").
 */
export async function createPathArg(key: string, sequential: boolean): Promise<string> {
  if (sequential && key.length > 1 && key.endsWith("/")) return (await keyToPath(key + "x")).slice(0, -1);
  return keyToPath(key);
}

/** A name that must be one path component (`lock <name>`, `elect <name>`). */
export function componentArg(what: string, name: string): string {
  if (name === "" || name.includes("/") || name === "." || name === "..") {
    throw usageError(`invalid ${what} name ${JSON.stringify(name)}: it must be one path component (no "/")`);
  }
  return name;
}

/** The parent of an absolute path ("/" for a top-level node). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export function joinPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** For create's `.catch`: a node that exists already is fine. */
export function ignoreExists(e: unknown): void {
  if (!isZkError(e, CODE.NODE_EXISTS)) throw e;
}

/** Where an upsert writes: a ZkClient, or a session stream with the client behind it. */
export interface UpsertTarget {
  put(path: string, data: Uint8Array): Promise<PutResponse>;
  create(path: string, data: Uint8Array): Promise<unknown>;
}

/**
 * `propose`'s write: create the node or replace its data, creating missing ancestors as empty
 * persistent nodes (as `create --parents` does). The common case, a parent that exists, costs
 * one put; only a put that failed for a missing parent creates the ancestors and tries again.
 */
export async function upsert(target: UpsertTarget, path: string, data: Uint8Array, made = new Map<string, Promise<void>>()): Promise<PutResponse> {
  try {
    return await target.put(path, data);
  } catch (e) {
    if (!isZkError(e, CODE.NO_NODE) || parentOf(path) === "/") throw e;
  }
  // `made` is shared by the writes of one `propose --stdin`: many lines below one new parent
  // create it once. A failed creation is forgotten, so a later line tries again.
  for (const a of ancestors(path)) {
    let p = made.get(a);
    if (p === undefined) {
      p = target.create(a, new Uint8Array(0)).then(() => undefined, ignoreExists);
      made.set(a, p);
      p.catch(() => made.delete(a));
    }
    await p;
  }
  return target.put(path, data);
}

/** Every proper ancestor of `path` except "/", outermost first: /a/b/c -> /a, /a/b. */
export function ancestors(path: string): string[] {
  const parts = path.split("/").filter(Boolean);
  return parts.slice(0, -1).map((_, i) => "/" + parts.slice(0, i + 1).join("/"));
}
