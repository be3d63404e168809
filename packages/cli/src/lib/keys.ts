// Keys as users type them, turned into znode paths: a key is relative to the root ("k" is the
// path "/k", "app/config" is "/app/config"), an absolute path is itself. The server validates paths too (the rules are
// part of the replicated state machine, packages/node/src/tree/paths.ts); checking here gives
// exit 2 even when no node is reachable, and only the rare unusual key pays for loading the
// authoritative rules.
import { usageError } from "./errors.js";

// Printable ASCII except "/" — every such character is valid in a path component.
const SIMPLE_COMPONENT = /^[\x20-\x2e\x30-\x7e]+$/;
const PATH_BYTES_MAX = 4096;

/** The path of a plain key (the common case) without a promise; null when it needs keyToPath. */
export function simpleKeyToPath(key: string): string | null {
  if (key === "") return null;
  const path = key.charCodeAt(0) === 0x2f ? key : `/${key}`;
  return isSimplePath(path) ? path : null;
}

export async function keyToPath(key: string): Promise<string> {
  if (key === "") throw usageError('invalid key "": a key must not be empty');
  const path = key.startsWith("/") ? key : `/${key}`;
  if (isSimplePath(path)) return path;
  const { validatePath } = await import("@zk/node/tree");
  const problem = validatePath(path);
  if (problem !== null) throw usageError(problem);
  return path;
}

function isSimplePath(path: string): boolean {
  if (path.length > PATH_BYTES_MAX) return false;
  if (path === "/") return true;
  const parts = path.slice(1).split("/");
  return parts.every((p) => p !== "." && p !== ".." && SIMPLE_COMPONENT.test(p));
}
